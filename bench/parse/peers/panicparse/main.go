// SPDX-License-Identifier: Apache-2.0
//
// The panicparse side of the debug=2 parse benchmark (bench/parse/run.sh):
// parse one goroutine dump with github.com/maruel/panicparse/v2/stack (the
// Debian golang-github-maruel-panicparse-dev package, built in GOPATH mode)
// and bucket it, RUNS times, streaming the file into ScanSnapshot.
//
// Options are the cheapest panicparse offers, so the comparison is fair to it:
// NameArguments, GuessPaths and AnalyzeSources off; buckets with AnyValue
// (same function, file and line, any argument values), as leakwatch buckets.
//
// Prints one line: RESULT side=panicparse bytes=N runs=R best_s=.. mean_s=..
// cpu_s=.. maxrss_kb=.. goroutines=G buckets=B
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/maruel/panicparse/v2/stack"
)

func cpu() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: panicparse-bench FILE [runs]")
		os.Exit(2)
	}
	runs := 1
	if len(os.Args) > 2 {
		runs, _ = strconv.Atoi(os.Args[2])
	}
	st, err := os.Stat(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	opts := &stack.Opts{}
	best, sum := 1e9, 0.0
	c0 := cpu()
	var g, nb int
	for r := 0; r < runs; r++ {
		f, err := os.Open(os.Args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		t0 := time.Now()
		snap, _, err := stack.ScanSnapshot(bufio.NewReaderSize(f, 1<<20), io.Discard, opts)
		if err != nil && err != io.EOF {
			fmt.Fprintln(os.Stderr, "scan:", err)
			os.Exit(1)
		}
		agg := snap.Aggregate(stack.AnyValue)
		dt := time.Since(t0).Seconds()
		f.Close()
		g, nb = len(snap.Goroutines), len(agg.Buckets)
		if dt < best {
			best = dt
		}
		sum += dt
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Printf("RESULT side=panicparse bytes=%d runs=%d best_s=%.6f mean_s=%.6f cpu_s=%.3f maxrss_kb=%d goroutines=%d buckets=%d\n",
		st.Size(), runs, best, sum/float64(runs), (cpu()-c0)/float64(runs), ru.Maxrss, g, nb)
}
