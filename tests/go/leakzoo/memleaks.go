// SPDX-License-Identifier: Apache-2.0

// In-process leaks that need no network: goroutines stuck on channels
// after their caller gave up, tickers never stopped, and a cache map that
// never evicts (a heap-only leak, the goroutine count stays flat).

package main

import (
	"fmt"
	"log"
	"math/rand"
	"sync"
	"time"
)

type lookupResult struct {
	key   string
	value []byte
}

func runChanSend() {
	go leakLoop(func(i int) {
		key := fmt.Sprintf("user-%d", i)
		if _, err := lookupWithTimeout(key, 5*time.Millisecond); err != nil && i%100 == 0 {
			log.Printf("lookup %s: %v", key, err)
		}
		switch i % 4 {
		case 1:
			subscribe(key)
		case 3:
			watchUntilDone(key)
		}
	})
}

// lookupWithTimeout: the worker sends on an unbuffered channel; when the
// caller has already returned on the timeout, nobody will ever receive and
// the worker is stuck in "chan send" forever.
func lookupWithTimeout(key string, timeout time.Duration) (*lookupResult, error) {
	ch := make(chan *lookupResult) // BUG: should be buffered (cap 1)
	go func() {
		ch <- slowLookup(key)
	}()
	select {
	case r := <-ch:
		return r, nil
	case <-time.After(timeout):
		return nil, fmt.Errorf("lookup %s: timeout after %v", key, timeout)
	}
}

//go:noinline
func slowLookup(key string) *lookupResult {
	time.Sleep(20 * time.Millisecond)
	return &lookupResult{key: key, value: make([]byte, 256)}
}

// subscribe starts a listener on a channel that no one will ever send on
// or close (the publisher forgot it): stuck in "chan receive".
func subscribe(key string) {
	events := make(chan string)
	go func() {
		for ev := range events {
			log.Printf("%s: %s", key, ev)
		}
	}()
}

// watchUntilDone waits in a select for an update or a done signal; the
// caller never closes done: stuck in "select".
func watchUntilDone(key string) {
	updates := make(chan []byte)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case u := <-updates:
				_ = append([]byte(key), u...)
			case <-done:
				return
			}
		}
	}()
}

func runTicker() {
	go leakLoop(func(i int) {
		startPoller(fmt.Sprintf("job-%d", i))
		if i%2 == 0 {
			startHeartbeat(fmt.Sprintf("job-%d", i))
		}
	})
}

// startPoller: a per-request poller whose ticker is never stopped and
// whose loop never exits.
func startPoller(job string) {
	go func() {
		t := time.NewTicker(2 * time.Second) // BUG: never stopped, loop never ends
		polls := 0
		for range t.C {
			polls++
			_ = fmt.Sprintf("%s poll %d", job, polls)
		}
	}()
}

// startHeartbeat: time.Tick inside a select loop makes a new ticker on
// each iteration (never collected before Go 1.23).
func startHeartbeat(job string) {
	stop := make(chan struct{})
	go func() {
		beats := 0
		for {
			select {
			case <-time.Tick(3 * time.Second): // BUG: new ticker per iteration
				beats++
			case <-stop:
				return
			}
		}
	}()
}

var (
	sessionMu    sync.Mutex
	sessionCache = map[string][]byte{}
)

func runHeapMap() {
	jobs := make(chan int, 64)
	for w := 0; w < 4; w++ {
		go sessionWorker(jobs)
	}
	go leakLoop(func(i int) { jobs <- i })
}

func sessionWorker(jobs <-chan int) {
	for i := range jobs {
		rememberSession(fmt.Sprintf("session-%08d", i))
	}
}

// rememberSession caches every session forever: nothing evicts (heap-only
// leak, constant goroutines).
func rememberSession(id string) {
	buf := make([]byte, *flagEntrySize)
	for j := range buf {
		buf[j] = byte(j + len(id))
	}
	sessionMu.Lock()
	sessionCache[id] = buf // BUG: no eviction, no TTL
	sessionMu.Unlock()
}

var (
	visitMu sync.Mutex
	visits  = map[int][]byte{}
)

// runRampLeak is a heap leak under rising traffic: arrivals triple over
// -warmup, each one handled by its own goroutine that records the visit in
// a map nothing ever evicts, then works for 100-300 ms before returning.
// The handlers in flight follow the load and each one is renewed, like the
// streams of "streamhold"; but what they allocate outlives them.
func runRampLeak() {
	go func() {
		start := time.Now()
		for i := 0; ; i++ {
			go recordVisit(i)
			rampPause(start)
		}
	}()
}

// recordVisit keeps a 2 KiB record of every visit forever (BUG: no
// eviction), then does its 100-300 ms of work.
func recordVisit(i int) {
	rec := make([]byte, 2048)
	for j := range rec {
		rec[j] = byte(i + j)
	}
	visitMu.Lock()
	visits[i] = rec
	visitMu.Unlock()
	time.Sleep(time.Duration(100+rand.Intn(200)) * time.Millisecond)
}
