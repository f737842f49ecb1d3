// SPDX-License-Identifier: Apache-2.0

// leak-sub-backlog: a heap-only leak in a fan-out hub. A market-data
// gateway receives price updates (order-book snapshots of 0.6-2.5 KiB) and
// streams them to its subscribers over server-sent events (/stream?symbols=
// ...): trading UIs, risk dashboards and an audit archiver. To make sure a
// slow subscriber can never stall the feed, Publish does not write to the
// connections: it formats each event for each matching subscriber (its own
// event id, its own field selection) and appends the frame to that
// subscriber's pending list; the subscriber's handler goroutine swaps the
// list out and writes it.
//
// The bug: the pending list is unbounded and there is no slow-consumer
// policy (no cap, no drop, no disconnect). Two subscribers of the whole feed
// (the audit archivers of the peer fleet) stopped reading a while ago: their
// processes are wedged, but their TCP connections stay open. Their handler
// goroutines are blocked in a write that never completes (the socket
// buffers are full), which looks like any other idle stream, and their
// pending lists grow by every event published. Goroutines stay flat (the
// healthy subscribers come and go, 20-60 s each); the heap grows with the
// publish rate until the container is OOM-killed. The retained bytes are
// allocated in main.(*subscriber).enqueue (the frames and the pending
// slice).
// Fix: bound the per-subscriber backlog (drop oldest / drop the subscriber
// when it is exceeded) and set a write deadline on stream connections.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"lwbench/lwload"
)

type event struct {
	symbol string
	seq    uint64
	bids   []byte
	asks   []byte
}

type subscriber struct {
	id      uint64
	symbols map[string]bool // nil = everything
	mu      sync.Mutex
	pending [][]byte
	nextID  uint64
	wake    chan struct{}
}

// enqueue formats ev for this subscriber and appends it to its backlog.
// BUG: the backlog has no bound; a subscriber that stopped reading keeps
// every frame published since.
func (s *subscriber) enqueue(ev *event) {
	s.mu.Lock()
	s.nextID++
	frame := make([]byte, 0, len(ev.bids)+len(ev.asks)+96)
	frame = append(frame, "id: "...)
	frame = appendUint(frame, s.nextID)
	frame = append(frame, "\nevent: book\ndata: {\"s\":\""...)
	frame = append(frame, ev.symbol...)
	frame = append(frame, "\",\"seq\":"...)
	frame = appendUint(frame, ev.seq)
	frame = append(frame, ",\"bids\":\""...)
	frame = append(frame, ev.bids...)
	frame = append(frame, "\",\"asks\":\""...)
	frame = append(frame, ev.asks...)
	frame = append(frame, "\"}\n\n"...)
	s.pending = append(s.pending, frame)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func appendUint(b []byte, v uint64) []byte {
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}

func (s *subscriber) take() [][]byte {
	s.mu.Lock()
	p := s.pending
	s.pending = nil
	s.mu.Unlock()
	return p
}

type hub struct {
	mu        sync.RWMutex
	subs      map[uint64]*subscriber
	seq       uint64
	published int64
}

func (h *hub) add(s *subscriber) {
	h.mu.Lock()
	h.subs[s.id] = s
	h.mu.Unlock()
}

func (h *hub) remove(s *subscriber) {
	h.mu.Lock()
	delete(h.subs, s.id)
	h.mu.Unlock()
}

// Publish hands ev to every matching subscriber without ever blocking.
func (h *hub) Publish(ev *event) {
	atomic.AddInt64(&h.published, 1)
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, s := range h.subs {
		if s.symbols == nil || s.symbols[ev.symbol] {
			s.enqueue(ev)
		}
	}
}

func (h *hub) backlog() (subs, frames int) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, s := range h.subs {
		s.mu.Lock()
		frames += len(s.pending)
		s.mu.Unlock()
	}
	return len(h.subs), frames
}

// stream serves one SSE subscriber until it disconnects.
func (h *hub) stream(w http.ResponseWriter, r *http.Request) {
	s := &subscriber{wake: make(chan struct{}, 1)}
	if q := r.URL.Query().Get("symbols"); q != "" && q != "*" {
		s.symbols = map[string]bool{}
		for _, sym := range strings.Split(q, ",") {
			s.symbols[sym] = true
		}
	}
	s.id = atomic.AddUint64(&h.seq, 1)
	h.add(s)
	defer h.remove(s)
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	fl := w.(http.Flusher)
	fl.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.wake:
		}
		for _, f := range s.take() {
			if _, err := w.Write(f); err != nil {
				return
			}
		}
		fl.Flush()
	}
}

// stuck holds the archivers' connections (package level, so that the
// finalizer of an unreachable conn can never close them).
var stuck []net.Conn

var symbols = []string{"AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "META", "TSLA", "ASML", "SAP", "NESN", "SHEL", "TTE", "SIE", "ALV", "BNP", "SAN"}

// peer is the subscriber fleet: ~20 trading UIs that stream a few symbols
// for 20-60 s and reconnect, plus two audit archivers that subscribed to
// everything and then stopped reading (their connections stay open).
func peer(addr string) {
	dialStream := func(syms string) (net.Conn, *bufio.Reader, error) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return nil, nil, err
		}
		fmt.Fprintf(c, "GET /stream?symbols=%s HTTP/1.1\r\nHost: gw\r\nAccept: text/event-stream\r\n\r\n", syms)
		return c, bufio.NewReaderSize(c, 16<<10), nil
	}
	for i := 0; i < 2; i++ {
		c, br, err := dialStream("*")
		if err != nil {
			lwload.Fatalf("peer: %v", err)
		}
		_, _ = br.ReadString('\n') // the status line, then nothing more is ever read
		stuck = append(stuck, c)   // kept reachable: never closed
	}
	ui := func() {
		n := 2 + rand.Intn(4)
		var pick []string
		for i := 0; i < n; i++ {
			pick = append(pick, symbols[rand.Intn(len(symbols))])
		}
		c, br, err := dialStream(strings.Join(pick, ","))
		if err != nil {
			time.Sleep(time.Second)
			return
		}
		hold := time.Duration(20+rand.Intn(41)) * time.Second
		_ = c.SetDeadline(time.Now().Add(hold))
		_, _ = io.Copy(io.Discard, br)
		c.Close()
	}
	for i := 0; i < 20; i++ {
		go func() {
			time.Sleep(time.Duration(rand.Intn(3000)) * time.Millisecond)
			for {
				ui()
			}
		}()
	}
	lwload.PeerReady()
}

func main() {
	lwload.Init()
	if *lwload.Role == "peer" {
		if len(flag.Args()) < 1 {
			lwload.Fatalf("peer: need the gateway address")
		}
		peer(flag.Args()[0])
	}
	h := &hub{subs: make(map[uint64]*subscriber)}
	ln := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/stream", h.stream)
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(ln) }()
	lwload.StartPeer(ln.Addr().String())
	go func() {
		for {
			time.Sleep(30 * time.Second)
			subs, frames := h.backlog()
			fmt.Printf("subscribers %d, pending frames %d, published %d\n", subs, frames, atomic.LoadInt64(&h.published))
		}
	}()

	// The feed: book updates from the exchange adapters.
	var seq uint64
	book := lwload.Payload(2600)
	lwload.Drive(lwload.Diurnal(50, 0.35, 4*time.Minute), 64, func() {
		n := 300 + rand.Intn(950)
		off := rand.Intn(len(book) - 2*n)
		h.Publish(&event{
			symbol: symbols[rand.Intn(len(symbols))],
			seq:    atomic.AddUint64(&seq, 1),
			bids:   book[off : off+n],
			asks:   book[off+n : off+2*n],
		})
	})
}
