// SPDX-License-Identifier: Apache-2.0
//
// The google/pprof side of the debug=1 and proto parse benchmarks
// (bench/parse/run.sh): parse one profile with github.com/google/pprof/profile
// (the parser behind `go tool pprof`, Debian golang-github-google-pprof-dev,
// built in GOPATH mode), RUNS times. profile.Parse sniffs gzip, proto and the
// legacy text formats itself (its debug=1 reader keeps the PCs and skips the
// frame comment lines).
//
// Prints one line: RESULT side=pprof bytes=N plain=P runs=R best_s=.. mean_s=..
// cpu_s=.. maxrss_kb=.. samples=S locations=L
package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/google/pprof/profile"
)

func cpu() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func plainSize(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		return int64(len(b))
	}
	z, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return int64(len(b))
	}
	n, _ := io.Copy(io.Discard, z)
	return n
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: pprof-bench FILE [runs]")
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
	best, sum := 1e9, 0.0
	c0 := cpu()
	var ns, nl int
	for r := 0; r < runs; r++ {
		f, err := os.Open(os.Args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		t0 := time.Now()
		p, err := profile.Parse(f)
		dt := time.Since(t0).Seconds()
		f.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, "parse:", err)
			os.Exit(1)
		}
		ns, nl = len(p.Sample), len(p.Location)
		if dt < best {
			best = dt
		}
		sum += dt
	}
	c1 := cpu()
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Printf("RESULT side=pprof bytes=%d plain=%d runs=%d best_s=%.6f mean_s=%.6f cpu_s=%.3f maxrss_kb=%d samples=%d locations=%d\n",
		st.Size(), plainSize(os.Args[1]), runs, best, sum/float64(runs), (c1-c0)/float64(runs), ru.Maxrss, ns, nl)
}
