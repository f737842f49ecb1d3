// SPDX-License-Identifier: Apache-2.0
//
// few: the "100,000 goroutines in a few stacks" parse-speed input
// (docs/benchmarks.md, "Parse speed"). Starts N goroutines (default 100,000)
// spread over five realistic blocking shapes (a worker pool waiting on a
// channel, connection handlers in select, lock waiters, sleepers, a fan-in
// pipeline), each a few calls deep, then writes the process's own goroutine
// dump:
//
//	OUT.debug2.txt  runtime.Stack(all=true), i.e. goroutine ?debug=2 without
//	                the 64 MiB cap of the pprof handler
//	OUT.debug1.txt  pprof.Lookup("goroutine").WriteTo(debug=1)
//
// Usage: few -n 100000 -o /tmp/dir/few
package main

import (
	"flag"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

type pool struct{ jobs chan int }

func (p *pool) worker(id int, ready *sync.WaitGroup) {
	ready.Done()
	p.loop(id)
}

func (p *pool) loop(id int) {
	for j := range p.jobs {
		_ = j + id
	}
}

type conn struct {
	in, out chan []byte
	quit    chan struct{}
}

func (c *conn) serve(ready *sync.WaitGroup) {
	ready.Done()
	c.readLoop()
}

func (c *conn) readLoop() {
	for {
		select {
		case b := <-c.in:
			c.out <- b
		case <-c.quit:
			return
		}
	}
}

type cache struct {
	mu sync.Mutex
	m  map[int]int
}

func (c *cache) get(k int, ready *sync.WaitGroup) int {
	ready.Done()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k]
}

func sleeper(d time.Duration, ready *sync.WaitGroup) {
	ready.Done()
	retryWithBackoff(d)
}

func retryWithBackoff(d time.Duration) {
	time.Sleep(d)
}

func stage(in <-chan int, out chan<- int, ready *sync.WaitGroup) {
	ready.Done()
	forward(in, out)
}

func forward(in <-chan int, out chan<- int) {
	for v := range in {
		out <- v
	}
}

// Two middleware layers in front of every shape, as in a real server, so
// each goroutine has a realistic depth. noinline keeps them as frames.
type server struct{}

//go:noinline
func (s *server) withRecover(i int, f func()) { s.withTracing(i, f) }

//go:noinline
func (s *server) withTracing(i int, f func()) { f() }

func main() {
	n := flag.Int("n", 100000, "goroutines")
	out := flag.String("o", "few", "output path prefix")
	flag.Parse()

	var ready sync.WaitGroup
	srv := &server{}
	p := &pool{jobs: make(chan int)}
	c := &cache{m: map[int]int{}}
	c.mu.Lock() // every get() blocks
	quit := make(chan struct{})
	src := make(chan int)
	for i := 0; i < *n; i++ {
		ready.Add(1)
		switch i % 5 {
		case 0:
			go srv.withRecover(i, func() { p.worker(i, &ready) })
		case 1:
			cn := &conn{in: make(chan []byte), out: make(chan []byte), quit: quit}
			go srv.withRecover(i, func() { cn.serve(&ready) })
		case 2:
			go srv.withRecover(i, func() { c.get(i, &ready) })
		case 3:
			go srv.withRecover(i, func() { sleeper(time.Hour, &ready) })
		case 4:
			next := make(chan int)
			go srv.withRecover(i, func() { stage(src, next, &ready) })
		}
	}
	ready.Wait()
	time.Sleep(200 * time.Millisecond) // let every goroutine reach its blocking point

	buf := make([]byte, 512<<20)
	k := runtime.Stack(buf, true)
	if err := os.WriteFile(*out+".debug2.txt", buf[:k], 0o644); err != nil {
		panic(err)
	}
	f, err := os.Create(*out + ".debug1.txt")
	if err != nil {
		panic(err)
	}
	if err := pprof.Lookup("goroutine").WriteTo(f, 1); err != nil {
		panic(err)
	}
	f.Close()
}
