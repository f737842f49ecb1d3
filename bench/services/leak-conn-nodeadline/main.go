// SPDX-License-Identifier: Apache-2.0

// leak-conn-nodeadline: a connection leak in a custom TCP protocol server.
// A metrics ingest speaks a line protocol ("name value unix-ms\n", like
// Graphite/Influx line ingest): it accepts TCP connections and serves each
// in its own goroutine, (*ingest).handle, which reads lines through a
// 32 KiB bufio.Reader and folds them into per-series aggregates.
//
// The client fleet (the peer: agents on many hosts) opens a connection,
// sends a short batch and normally closes it. A share of the agents,
// though, sits behind NAT gateways and stateful firewalls that drop idle
// flows: the agent host is rebooted or the mapping expires, no FIN or RST
// ever reaches the server, and the connection is half-open forever.
//
// The bug: handle reads with no read deadline (and no TCP keepalive
// tuned to fire), so every half-open connection parks its goroutine in IO
// wait in net.(*conn).Read under (*ingest).handle indefinitely, holding its
// read buffer, goroutine stack and socket. Goroutines and heap grow with
// the number of silent clients until the container is OOM-killed.
// Fix: conn.SetReadDeadline(time.Now().Add(idleTimeout)) before every read
// (and close the connection when it fires), plus a cap on connections.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"math/rand"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"lwbench/lwload"
)

type series struct {
	count int64
	sum   float64
	last  int64
}

type ingest struct {
	mu     sync.Mutex
	series map[string]*series
	open   int64
	lines  int64
}

// serve accepts connections and hands each to its own goroutine.
func (in *ingest) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go in.handle(c)
	}
}

// handle reads lines until the client closes the connection.
// BUG: no read deadline; a half-open client keeps this goroutine forever.
func (in *ingest) handle(c net.Conn) {
	atomic.AddInt64(&in.open, 1)
	defer atomic.AddInt64(&in.open, -1)
	defer c.Close()
	r := bufio.NewReaderSize(c, 32<<10)
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return
		}
		in.apply(line)
	}
}

// apply parses "name value ts" and updates the series.
func (in *ingest) apply(line []byte) {
	f := bytes.Fields(line)
	if len(f) != 3 {
		return
	}
	v, err := strconv.ParseFloat(string(f[1]), 64)
	if err != nil {
		return
	}
	ts, _ := strconv.ParseInt(string(f[2]), 10, 64)
	atomic.AddInt64(&in.lines, 1)
	in.mu.Lock()
	s := in.series[string(f[0])]
	if s == nil {
		s = &series{}
		in.series[string(f[0])] = s
	}
	s.count++
	s.sum += v
	s.last = ts
	in.mu.Unlock()
}

// peer is the agent fleet: Poisson connection arrivals on a diurnal curve;
// each agent sends a batch of lines; most close, ~30% go silent forever
// (the connection stays open on the agent side, nothing more is sent).
func peer(addr string) {
	var silent []net.Conn
	var mu sync.Mutex
	go lwload.Drive(lwload.Diurnal(12, 0.3, 4*time.Minute), 256, func() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		host := fmt.Sprintf("host%04d", rand.Intn(5000))
		w := bufio.NewWriter(c)
		n := 5 + rand.Intn(40)
		for i := 0; i < n; i++ {
			fmt.Fprintf(w, "%s.cpu.%d %.3f %d\n", host, i%8, rand.Float64()*100, time.Now().UnixNano()/1e6)
		}
		_ = w.Flush()
		if rand.Float64() < 0.3 {
			mu.Lock()
			silent = append(silent, c) // NAT dropped the flow: never closed
			mu.Unlock()
			return
		}
		time.Sleep(time.Duration(rand.Intn(200)) * time.Millisecond)
		c.Close()
	})
	lwload.PeerReady()
}

func main() {
	lwload.Init()
	if *lwload.Role == "peer" {
		if len(flag.Args()) < 1 {
			lwload.Fatalf("peer: need the ingest address")
		}
		peer(flag.Args()[0])
	}
	in := &ingest{series: make(map[string]*series)}
	ln := lwload.Listen()
	go in.serve(ln)
	lwload.StartPeer(ln.Addr().String())
	for {
		time.Sleep(30 * time.Second)
		fmt.Printf("open connections %d, lines %d\n", atomic.LoadInt64(&in.open), atomic.LoadInt64(&in.lines))
	}
}
