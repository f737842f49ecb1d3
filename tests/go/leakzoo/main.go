// SPDX-License-Identifier: Apache-2.0

// leakzoo is a zoo of real Go goroutine/memory leaks and healthy controls.
//
// Why: leakwatch's parsers and analysis are tested on profiles produced by
// real Go programs, never on hand-typed text. Each -scenario reproduces one
// leak pattern (or a healthy pattern) with its own in-process load, and the
// program serves net/http/pprof so scripts/gen-fixtures.sh can fetch the
// goroutine and heap profiles. Everything stays on loopback.
//
// Build (GOPATH mode, Debian libraries, works with go1.19 and go1.23):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o leakzoo ./tests/go/leakzoo
//
// Example:
//
//	leakzoo -scenario backend -backend-http 127.0.0.1:7001 &
//	leakzoo -scenario http-transport -target 127.0.0.1:7001 -pprof 127.0.0.1:6060 -rate 5 -max 100
//	curl 'http://127.0.0.1:6060/debug/pprof/goroutine?debug=2'
package main

import (
	"flag"
	"fmt"
	"io/ioutil"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/ on http.DefaultServeMux
	"os"
	"sort"
	"strings"
	"time"
)

var (
	flagScenario = flag.String("scenario", "", "scenario to run (see -list)")
	flagList     = flag.Bool("list", false, "list scenarios and exit")
	flagPprof    = flag.String("pprof", "127.0.0.1:0", "loopback address for the pprof server")
	flagAddrFile = flag.String("addr-file", "", "write the pprof server's actual address to this file once it listens")
	flagTarget   = flag.String("target", "", "host:port of a '-scenario backend' server (HTTP, gRPC or silent TCP, as the scenario needs); empty starts one in-process")
	flagRate     = flag.Float64("rate", 20, "leaking operations (requests, dials, ...) per second")
	flagMax      = flag.Int("max", 200, "stop leaking after this many leaked units (0 = no limit)")
	flagDuration = flag.Duration("duration", 0, "exit after this long (0 = run until killed)")

	// backend
	flagBackendHTTP   = flag.String("backend-http", "", "backend: serve HTTP/1.1 keep-alive on this loopback address")
	flagBackendGRPC   = flag.String("backend-grpc", "", "backend: serve gRPC (health service) on this loopback address")
	flagBackendSilent = flag.String("backend-silent", "", "backend: accept TCP on this loopback address and never write (stalls SSH handshakes)")

	// healthy / burst / warmup
	flagWorkers  = flag.Int("workers", 8, "healthy/burst/warmup: bounded worker count")
	flagBurstAt  = flag.Duration("burst-at", 150*time.Second, "burst: when the burst starts")
	flagBurstLen = flag.Duration("burst-len", 30*time.Second, "burst: how long burst goroutines live")
	flagBurstN   = flag.Int("burst-n", 300, "burst: extra goroutines during the burst")
	flagWarmup   = flag.Duration("warmup", 90*time.Second, "warmup: time for the pool and cache to fill")

	// heap-map
	flagEntrySize = flag.Int("entry-size", 16<<10, "heap-map/warmup: bytes per cache entry")

	// huge
	flagN = flag.Int("n", 100000, "huge: number of parked goroutines")
)

type scenario struct {
	help string
	run  func()
}

var scenarios = map[string]scenario{
	"backend":        {"servers other scenarios talk to (-backend-http/-grpc/-silent)", runBackend},
	"http-transport": {"new http.Transport per request, bodies closed: idle persistConn readLoop/writeLoop pile up", runHTTPTransport},
	"http-body":      {"shared client, response bodies never closed: readLoop waits for the body", runHTTPBody},
	"grpc-dial":      {"grpc.Dial again after each failed call, old ClientConn never closed", runGRPCDial},
	"ssh-handshake":  {"ssh.Dial with Timeout to a server that never sends its version", runSSHHandshake},
	"server-idle":    {"http.Server without ReadHeaderTimeout/IdleTimeout, clients hold idle connections", runServerIdle},
	"chan-send":      {"worker sends on an unbuffered channel after the caller timed out (+ receive/select variants)", runChanSend},
	"ticker":         {"per-request poller with time.NewTicker never stopped (+ time.Tick in select)", runTicker},
	"heap-map":       {"map cache that never evicts (heap-only leak)", runHeapMap},
	"healthy":        {"steady churn: shared client, bounded workers", runHealthy},
	"burst":          {"healthy plus a burst of extra goroutines that ends", runBurst},
	"warmup":         {"pool and cache fill during -warmup then stay flat", runWarmup},
	"ramp":           {"traffic triples over -warmup; fixed workers hold each item's buffer only while its batch is in flight", runRamp},
	"poolramp":       {"traffic triples over -warmup; a goroutine per call through one pooled Transport to a slow upstream: the pool follows the load", runPoolRamp},
	"streamramp":     {"arrivals of 15-45 s streams triple over -warmup: the open streams follow the load, each one ends", runStreamRamp},
	"streamhold":     {"streamramp with a 256 KiB resume window per stream: the heap the open streams hold follows the load, each one ends", runStreamHold},
	"longpoll":       {"a fleet of watchers boots over -warmup, each parking a blocking query on its own keep-alive connection, then half of it is scaled in: rises like a leak, then falls", runLongPoll},
	"rampleak":       {"arrivals triple over -warmup; each short-lived handler keeps a 2 KiB record in a map nothing evicts (heap leak under a ramp)", runRampLeak},
	"workerramp":     {"traffic triples over -warmup; 64 fixed workers call a slow upstream: the busy share follows the load", runWorkerRamp},
	"huge":           {"-n parked goroutines with mixed stacks, labels and deep recursion", runHuge},
}

func main() {
	flag.Parse()
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	log.SetPrefix("leakzoo[" + *flagScenario + "] ")
	if *flagList {
		names := make([]string, 0, len(scenarios))
		for n := range scenarios {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Printf("%-15s %s\n", n, scenarios[n].help)
		}
		return
	}
	sc, ok := scenarios[*flagScenario]
	if !ok {
		log.Fatalf("unknown -scenario %q (use -list)", *flagScenario)
	}
	mustLoopback("-pprof", *flagPprof)
	if *flagTarget != "" {
		mustLoopback("-target", *flagTarget)
	}
	startPprof()
	if *flagDuration > 0 {
		time.AfterFunc(*flagDuration, func() {
			log.Printf("duration %v elapsed, exiting", *flagDuration)
			os.Exit(0)
		})
	}
	sc.run()
	select {} // scenarios return once their load is started
}

// mustLoopback refuses any address that is not on the loopback interface:
// the zoo must never talk to the outside world.
func mustLoopback(what, addr string) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		log.Fatalf("%s %q: %v", what, addr, err)
	}
	if host == "localhost" {
		return
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		log.Fatalf("%s %q: only loopback addresses are allowed", what, addr)
	}
}

func listenLoopback(what, addr string) net.Listener {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	mustLoopback(what, addr)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatalf("%s: %v", what, err)
	}
	return ln
}

func startPprof() {
	ln := listenLoopback("-pprof", *flagPprof)
	addr := ln.Addr().String()
	go func() {
		// http.DefaultServeMux carries the /debug/pprof/ handlers.
		log.Fatal(http.Serve(ln, nil))
	}()
	if *flagAddrFile != "" {
		writeAddrFile(*flagAddrFile, addr)
	}
	log.Printf("pprof on http://%s/debug/pprof/", addr)
}

// writeAddrFile writes atomically so a polling script never sees half a line.
func writeAddrFile(path, addr string) {
	tmp := path + ".tmp"
	if err := ioutil.WriteFile(tmp, []byte(addr+"\n"), 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		log.Fatal(err)
	}
}

// leakLoop calls op(i) at -rate per second until -max units were leaked,
// then returns (the leaked goroutines and memory stay).
func leakLoop(op func(i int)) {
	interval := time.Duration(float64(time.Second) / *flagRate)
	for i := 0; *flagMax == 0 || i < *flagMax; i++ {
		op(i)
		time.Sleep(interval)
	}
	log.Printf("leaked %d units, now holding", *flagMax)
}

// targetOr returns -target, or starts an in-process server with start and
// returns its address.
func targetOr(start func() string) string {
	if *flagTarget != "" {
		return *flagTarget
	}
	return start()
}

// payload builds a small JSON-ish body so responses look like a real API.
func payload(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"items":[`)
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"name":"item-%d"}`, i, i)
	}
	b.WriteString("]}\n")
	return []byte(b.String())
}
