// SPDX-License-Identifier: Apache-2.0

// leak-ticker-sub: a notification hub with a long-poll "subscribe" API (the
// same shape as a websocket or SSE hub). Subscribe registers a subscription
// and starts one goroutine per subscription that loops on a time.NewTicker,
// queueing a heartbeat (with the subscriber's cursor) every few seconds,
// and exits only when the subscription's done channel is closed. Clients
// poll for a few seconds and then unsubscribe (or their connection drops,
// which the hub maps to the same path). BUG: unsubscribe removes the
// subscription from the hub's map but never closes s.done (the close lives
// in a Close method meant for hub shutdown, which nothing calls), so the
// keepalive goroutine, its ticker and the subscription's state (a replay
// buffer and a queue, a few KiB) live forever, parked in select. Goroutines and heap
// grow with every subscription until the container is OOM-killed.
// Fix: close(s.done) (and t.Stop via the defer) in unsubscribe, e.g. call
// s.Close() there, or tie the loop to the request/connection context.
package main

import (
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"lwbench/lwload"
)

type event struct {
	Seq   uint64
	Kind  string
	Topic string
	Data  []byte
}

type subscription struct {
	id     uint64
	topic  string
	filter map[string]bool
	replay []byte     // last frames sent, for resume-after-reconnect
	out    chan event // pending frames for the next poll
	cursor uint64     // last sequence delivered
	done   chan struct{}
}

type hub struct {
	mu   sync.Mutex
	next uint64
	subs map[uint64]*subscription
}

// keepalive queues a heartbeat every interval until s.done is closed.
func (s *subscription) keepalive(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			ev := event{Seq: atomic.LoadUint64(&s.cursor), Kind: "heartbeat", Topic: s.topic, Data: []byte(now.Format(time.RFC3339))}
			select {
			case s.out <- ev:
			default: // queue full: the client is slow, drop the heartbeat
			}
		case <-s.done:
			return
		}
	}
}

// Close stops the keepalive loop (meant for hub shutdown; nothing calls it).
func (s *subscription) Close() { close(s.done) }

// Subscribe registers a subscription and starts its keepalive goroutine.
func (h *hub) Subscribe(topic string) *subscription {
	s := &subscription{
		topic:  topic,
		filter: map[string]bool{"heartbeat": true, "update": true, "delete": rand.Intn(2) == 0},
		replay: make([]byte, 2048+rand.Intn(3072)),
		out:    make(chan event, 16),
		done:   make(chan struct{}),
	}
	h.mu.Lock()
	h.next++
	s.id = h.next
	h.subs[s.id] = s
	h.mu.Unlock()
	go s.keepalive(time.Duration(3000+rand.Intn(2000)) * time.Millisecond)
	return s
}

// Unsubscribe BUG: forgets the subscription but never calls s.Close().
func (h *hub) Unsubscribe(id uint64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[id]; !ok {
		return false
	}
	delete(h.subs, id)
	return true
}

func (h *hub) get(id uint64) *subscription {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.subs[id]
}

// publish fans an update out to the subscribers of a topic.
func (h *hub) publish(topic string, data []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.subs {
		if s.topic != topic {
			continue
		}
		select {
		case s.out <- event{Kind: "update", Topic: topic, Data: data}:
		default:
		}
	}
}

func main() {
	lwload.Init()
	h := &hub{subs: make(map[uint64]*subscription)}
	api := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/subscribe", func(w http.ResponseWriter, r *http.Request) {
		s := h.Subscribe(r.URL.Query().Get("topic"))
		fmt.Fprintln(w, s.id)
	})
	mux.HandleFunc("/poll", func(w http.ResponseWriter, r *http.Request) {
		id, _ := strconv.ParseUint(r.URL.Query().Get("id"), 10, 64)
		s := h.get(id)
		if s == nil {
			http.Error(w, "no such subscription", http.StatusNotFound)
			return
		}
		timeout := time.NewTimer(500 * time.Millisecond) // long poll
		defer timeout.Stop()
		for n := 0; n < 8; n++ {
			select {
			case ev := <-s.out:
				atomic.StoreUint64(&s.cursor, ev.Seq)
				copy(s.replay, ev.Data)
				fmt.Fprintf(w, "%d %s %s %d\n", ev.Seq, ev.Kind, ev.Topic, len(ev.Data))
			case <-timeout.C:
				return
			}
		}
	})
	mux.HandleFunc("/unsubscribe", func(w http.ResponseWriter, r *http.Request) {
		id, _ := strconv.ParseUint(r.URL.Query().Get("id"), 10, 64)
		if !h.Unsubscribe(id) {
			http.Error(w, "no such subscription", http.StatusNotFound)
		}
	})
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(api) }()

	// Upstream updates for a few hot topics.
	go func() {
		for {
			time.Sleep(time.Duration(50+rand.Intn(100)) * time.Millisecond)
			h.publish(fmt.Sprintf("t%d", rand.Intn(200)), lwload.Payload(64+rand.Intn(256)))
		}
	}()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	base := "http://" + api.Addr().String()
	get := func(path string) string {
		resp, err := client.Get(base + path)
		if err != nil {
			return ""
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(b)
	}
	lwload.Drive(lwload.Diurnal(16, 0.35, 4*time.Minute), 256, func() {
		id := get(fmt.Sprintf("/subscribe?topic=t%d", rand.Intn(200)))
		if id == "" {
			return
		}
		id = id[:len(id)-1]
		for i := 0; i < 1+rand.Intn(4); i++ { // a client watches for a few seconds
			get("/poll?id=" + id)
		}
		get("/unsubscribe?id=" + id)
	})
}
