// SPDX-License-Identifier: Apache-2.0

// longpoll.go: a healthy control whose goroutines rise like a leak's and then
// fall. A fleet of watchers keeps one keep-alive connection each to a
// configuration store and asks it again and again with a blocking query
// (consul/etcd style): the store's handler parks in a select until its wait
// runs out. The fleet boots over -warmup; then it is scaled in (newest
// watchers first) at the rate it booted, down to half. A connection's
// server goroutine lives as long as its watcher, so during the boot every
// parked handler survives from one dump to the next, as leaked goroutines
// do; what tells them apart is that they go when the fleet shrinks.
package main

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"math/rand"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// watcher is one member of the fleet: its id is its boot order.
type watcher struct {
	id   int
	wait time.Duration
	mu   sync.Mutex
	conn net.Conn
}

func runLongPoll() {
	ln := listenLoopback("longpoll store", "")
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/watch", blockingQuery)
	go func() {
		log.Fatal((&http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}).Serve(ln))
	}()
	addr := ln.Addr().String()
	n := *flagMax
	if n <= 0 {
		n = 400
	}
	var target int64
	fleet := make([]*watcher, n)
	for i := range fleet {
		fleet[i] = &watcher{id: i, wait: time.Duration(60+rand.Intn(61)) * time.Second}
		go fleet[i].run(addr, &target)
	}
	go func() {
		start := time.Now()
		for {
			want := fleetSize(time.Since(start), n)
			atomic.StoreInt64(&target, int64(want))
			for i := want; i < n; i++ {
				fleet[i].hangUp()
			}
			time.Sleep(time.Second)
		}
	}()
}

// fleetSize: linear boot from 0 to n over -warmup, then scale-in at the
// same rate down to n/2.
func fleetSize(el time.Duration, n int) int {
	x := float64(el) / float64(*flagWarmup)
	if x <= 1 {
		return int(x * float64(n))
	}
	f := 1 - (x - 1)
	if f < 0.5 {
		f = 0.5
	}
	return int(f * float64(n))
}

// blockingQuery answers when its ?wait runs out or the watcher hangs up.
func blockingQuery(w http.ResponseWriter, r *http.Request) {
	wait, err := time.ParseDuration(r.URL.Query().Get("wait"))
	if err != nil || wait <= 0 || wait > 10*time.Minute {
		wait = 5 * time.Minute
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-r.Context().Done():
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, "{\"index\":%d}\n", time.Now().UnixNano())
}

func (a *watcher) hangUp() {
	a.mu.Lock()
	if a.conn != nil {
		a.conn.Close()
		a.conn = nil
	}
	a.mu.Unlock()
}

// run keeps the watcher connected and asking while the fleet includes it.
func (a *watcher) run(addr string, target *int64) {
	for {
		if int64(a.id) >= atomic.LoadInt64(target) {
			time.Sleep(time.Duration(500+rand.Intn(1000)) * time.Millisecond)
			continue
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			time.Sleep(time.Second)
			continue
		}
		a.mu.Lock()
		a.conn = c
		a.mu.Unlock()
		br := bufio.NewReader(c)
		for int64(a.id) < atomic.LoadInt64(target) {
			fmt.Fprintf(c, "GET /v1/watch?wait=%s HTTP/1.1\r\nHost: store\r\n\r\n", a.wait)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				break
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		a.hangUp()
	}
}
