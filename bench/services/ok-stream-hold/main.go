// SPDX-License-Identifier: Apache-2.0

// ok-stream-hold: healthy control, long-lived streams that are constantly
// renewed. A live-scores service pushes match events to apps and web
// pages over server-sent events (/live). Clients (the peer: a fleet of
// devices on a diurnal curve) connect, hold their stream for 20-60 s (the
// app goes to the background, the page is closed, a mobile network
// changes) and reconnect later, so a population of ~200-350 streams is
// always open, each one for tens of seconds.
//
// Each stream costs a handler goroutine parked in select, net/http's
// background reader, a 32 KiB write buffer and a resume window (the last
// 192 events, for Last-Event-ID) allocated when it opens; a broadcaster
// fans events out to the streams through bounded per-stream channels
// (a stream that falls behind loses events, it never blocks the others).
// The number of open streams, goroutines and memory follow the connection
// rate (diurnal), and the goroutines are old, 20-60 s, but they are
// renewed all the time: every stream ends when its client leaves, and its
// goroutines and buffers go with it. Nothing leaks.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"lwbench/lwload"
)

const window = 192

type stream struct {
	id     uint64
	events chan []byte
	ring   [][]byte // resume window
	buf    []byte   // preallocated ring storage
	next   int
}

type broadcaster struct {
	mu      sync.RWMutex
	streams map[uint64]*stream
	seq     uint64
	open    int64
	served  int64
	lost    int64
}

func (b *broadcaster) publish(ev []byte) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, s := range b.streams {
		select {
		case s.events <- ev:
		default:
			atomic.AddInt64(&b.lost, 1)
		}
	}
}

// live serves one stream until its client goes away.
func (b *broadcaster) live(w http.ResponseWriter, r *http.Request) {
	s := &stream{id: atomic.AddUint64(&b.seq, 1), events: make(chan []byte, 32),
		ring: make([][]byte, window), buf: make([]byte, window*512)}
	b.mu.Lock()
	b.streams[s.id] = s
	b.mu.Unlock()
	atomic.AddInt64(&b.open, 1)
	atomic.AddInt64(&b.served, 1)
	defer func() {
		b.mu.Lock()
		delete(b.streams, s.id)
		b.mu.Unlock()
		atomic.AddInt64(&b.open, -1)
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	fl := w.(http.Flusher)
	bw := bufio.NewWriterSize(w, 32<<10)
	heartbeat := time.NewTicker(10 * time.Second)
	defer heartbeat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case ev := <-s.events:
			slot := s.buf[(s.next%window)*512 : (s.next%window+1)*512]
			s.ring[s.next%window] = slot[:copy(slot, ev)]
			s.next++
			fmt.Fprintf(bw, "id: %d\nevent: score\ndata: %s\n\n", s.next, ev)
		case <-heartbeat.C:
			bw.WriteString(": keep-alive\n\n")
		}
		if bw.Flush() != nil {
			return
		}
		fl.Flush()
	}
}

// peer is the device fleet: connections arrive on a diurnal curve and each
// holds its stream for 20-60 s, reading everything, then closes.
func peer(addr string) {
	go lwload.Drive(lwload.Diurnal(7, 0.4, 4*time.Minute), 2000, func() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /live?match=%d HTTP/1.1\r\nHost: live\r\nAccept: text/event-stream\r\n\r\n", rand.Intn(40))
		_ = c.SetDeadline(time.Now().Add(time.Duration(20+rand.Intn(41)) * time.Second))
		_, _ = io.Copy(io.Discard, c)
	})
	lwload.PeerReady()
}

func main() {
	lwload.Init()
	if *lwload.Role == "peer" {
		if len(flag.Args()) < 1 {
			lwload.Fatalf("peer: need the service address")
		}
		peer(flag.Args()[0])
	}
	b := &broadcaster{streams: make(map[uint64]*stream)}
	ln := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/live", b.live)
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(ln) }()
	lwload.StartPeer(ln.Addr().String())
	go func() {
		for {
			time.Sleep(30 * time.Second)
			fmt.Printf("open streams %d, served %d, events lost %d\n", atomic.LoadInt64(&b.open), atomic.LoadInt64(&b.served), atomic.LoadInt64(&b.lost))
		}
	}()

	// Match events: goals, cards, substitutions, odds updates (2-4 per second).
	var n int64
	for {
		time.Sleep(time.Duration(250+rand.Intn(250)) * time.Millisecond)
		n++
		ev := []byte("{\"match\":" + strconv.Itoa(rand.Intn(40)) + ",\"seq\":" + strconv.FormatInt(n, 10) +
			",\"minute\":" + strconv.Itoa(rand.Intn(90)) + ",\"type\":\"odds\",\"home\":" + strconv.Itoa(rand.Intn(5)) +
			",\"away\":" + strconv.Itoa(rand.Intn(5)) + ",\"odds\":[" + strconv.Itoa(100+rand.Intn(900)) + "," +
			strconv.Itoa(100+rand.Intn(900)) + "," + strconv.Itoa(100+rand.Intn(900)) + "]}")
		b.publish(ev)
	}
}
