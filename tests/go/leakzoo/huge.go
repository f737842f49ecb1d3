// SPDX-License-Identifier: Apache-2.0

// The "huge" scenario parks -n goroutines (default 100,000) with a mix of
// stacks, for the big-dump fixtures that test parser speed and memory:
// chan receive, select, sleep, mutex/WaitGroup waits, deep recursion past
// the 100-frame traceback limit (elided frames), goroutines created by
// other goroutines, and goroutines carrying pprof labels (pprof.Do).

package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"runtime/pprof"
	"sync"
	"time"
)

var (
	hugeNever   = make(chan int)      // never sent on, never closed
	hugeNever2  = make(chan struct{}) // never sent on, never closed
	hugeMu      sync.Mutex            // held forever
	hugeWG      sync.WaitGroup        // never reaches zero
	hugeStarted sync.WaitGroup
	hugeCond    = sync.NewCond(&sync.Mutex{}) // never signalled
	hugeResults = make(chan int)              // never received from
	hugeLn      net.Listener
	hugeHeld    []net.Conn // server ends of socketReader connections
)

func runHuge() {
	n := *flagN
	hugeLn = listenLoopback("huge", "")
	go acceptAndHold(hugeLn, n/100)
	hugeMu.Lock()
	hugeWG.Add(1)
	start := time.Now()
	for i := 0; i < n; i++ {
		hugeStarted.Add(1)
		switch k := i % 100; {
		case k < 33:
			go queueConsumer(i)
		case k < 53:
			go eventLoop(i)
		case k < 63:
			go backoffSleeper(i)
		case k < 67:
			go lockWaiter(i)
		case k < 69:
			go barrierWaiter(i)
		case k < 70:
			go condWaiter(i)
		case k < 71:
			go resultSender(i)
		case k < 72:
			go nilReceiver(i)
		case k < 73:
			go recurse(i, 120+i%40) // 120..159 frames: past the traceback limit
		case k < 74:
			go recurse(i, 30+i%20) // deep but under the limit
		case k < 75:
			go socketReader(i, hugeLn.Addr().String())
		case k < 85:
			if i%1000 == 75 {
				// one spawner per 1000 stands for itself and 99 children
				go spawner(i, 100) // 1 + 99 children
			} else {
				hugeStarted.Done()
			}
		default: // 85..99: labelled workers
			tenant := fmt.Sprintf("tenant-%d", i%7)
			shard := fmt.Sprintf("%d", i%3)
			pprof.Do(context.Background(), pprof.Labels("tenant", tenant, "shard", shard), func(ctx context.Context) {
				go labelledWorker(ctx, i) // inherits the labels
			})
		}
	}
	hugeStarted.Wait()
	log.Printf("huge: %d goroutines parked in %v", n, time.Since(start))
}

//go:noinline
func queueConsumer(id int) {
	hugeStarted.Done()
	for v := range hugeNever {
		_ = v + id
	}
}

//go:noinline
func eventLoop(id int) {
	hugeStarted.Done()
	tick := make(chan int)
	for {
		select {
		case v := <-hugeNever:
			_ = v + id
		case <-tick:
		case <-hugeNever2:
			return
		}
	}
}

//go:noinline
func backoffSleeper(id int) {
	hugeStarted.Done()
	for attempt := 1; ; attempt++ {
		time.Sleep(time.Duration(10+id%5) * time.Hour)
	}
}

//go:noinline
func lockWaiter(id int) {
	hugeStarted.Done()
	hugeMu.Lock()
	defer hugeMu.Unlock()
	_ = id
}

//go:noinline
func barrierWaiter(id int) {
	hugeStarted.Done()
	hugeWG.Wait()
	_ = id
}

//go:noinline
func recurse(id, depth int) int {
	if depth == 0 {
		hugeStarted.Done()
		return <-hugeNever + id
	}
	return recurse(id, depth-1) + 1
}

//go:noinline
func spawner(id, children int) {
	for c := 0; c < children-1; c++ {
		hugeStarted.Add(1)
		go child(id*1000 + c)
	}
	hugeStarted.Done()
	<-hugeNever2
}

//go:noinline
func child(id int) {
	hugeStarted.Done()
	select {
	case <-hugeNever2:
	case v := <-hugeNever:
		_ = v + id
	}
}

//go:noinline
func labelledWorker(ctx context.Context, id int) {
	hugeStarted.Done()
	select {
	case <-ctx.Done():
	case v := <-hugeNever:
		_ = v + id
	}
}

//go:noinline
func condWaiter(id int) {
	hugeCond.L.Lock()
	hugeStarted.Done()
	for id >= 0 {
		hugeCond.Wait()
	}
	hugeCond.L.Unlock()
}

//go:noinline
func resultSender(id int) {
	hugeStarted.Done()
	hugeResults <- id
}

//go:noinline
func nilReceiver(id int) {
	var pending chan int // never made: receive blocks forever
	hugeStarted.Done()
	_ = <-pending + id
}

// acceptAndHold accepts n connections and keeps them open without reading
// or writing, so socketReader goroutines stay in IO wait.
func acceptAndHold(ln net.Listener, n int) {
	for i := 0; i < n; i++ {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		hugeHeld = append(hugeHeld, c)
	}
}

//go:noinline
func socketReader(id int, addr string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		log.Fatalf("huge: dial %d: %v", id, err)
	}
	hugeStarted.Done()
	buf := make([]byte, 512)
	c.Read(buf) // the peer never writes
}
