// SPDX-License-Identifier: Apache-2.0

// leak-listener-registry: a heap-only leak. A configuration service offers
// a long-poll endpoint (/watch?keys=...): "answer as soon as one of these
// keys changes, or after ~2 s with 304". The handler registers a listener
// on the process-wide event bus that the config store publishes changes on.
// Each listener is a closure over the request's watch state (keys, client
// identity, a reply channel) plus the bus's own per-listener bookkeeping: a
// copy of the topics and a replay buffer of the last events delivered (for
// Last-Event-ID resumption), allocated by (*eventBus).Subscribe.
//
// The bug: Subscribe returns an unsubscribe func, but the handler only calls
// it on the error path (the reply could not be written: client gone). On the
// normal paths (change delivered, or long-poll timeout) it just returns, so
// the listener stays on the bus forever, with everything it captured.
// Goroutines stay flat (the handler returns); the heap grows with every
// watch request until the container is OOM-killed. The growth is attributed
// to the allocation site main.(*eventBus).Subscribe (listener, replay buffer,
// registry map growth) and, less, to the handler's closure state.
// Fix: defer unsubscribe() right after Subscribe (or key listeners by the
// request context and drop them when it is done).
package main

import (
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"lwbench/lwload"
)

// Event is one change published on the bus.
type Event struct {
	Seq   uint64
	Topic string
	Key   string
	Rev   int64
	Data  []byte
}

const replayLen = 32 // events kept per listener for Last-Event-ID resumption

type listener struct {
	id      uint64
	topics  []string
	fn      func(Event)
	created time.Time
	replay  []Event // ring of the last replayLen events delivered
}

type eventBus struct {
	mu        sync.RWMutex
	next      uint64
	listeners map[uint64]*listener // BUG (by use): entries are only removed by unsubscribe
	seq       uint64
}

func newBus() *eventBus { return &eventBus{listeners: make(map[uint64]*listener)} }

// Subscribe registers fn for events on any of topics and returns the func
// that removes it again.
func (b *eventBus) Subscribe(topics []string, fn func(Event)) (unsubscribe func()) {
	l := &listener{
		topics:  make([]string, 0, len(topics)),
		fn:      fn,
		created: time.Now(),
		replay:  make([]Event, 0, replayLen),
	}
	for _, t := range topics {
		l.topics = append(l.topics, strings.ToLower(t))
	}
	b.mu.Lock()
	b.next++
	l.id = b.next
	b.listeners[l.id] = l
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		delete(b.listeners, l.id)
		b.mu.Unlock()
	}
}

// Publish delivers ev to every listener subscribed to its topic.
func (b *eventBus) Publish(ev Event) int {
	ev.Seq = atomic.AddUint64(&b.seq, 1)
	n := 0
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, l := range b.listeners {
		for _, t := range l.topics {
			if t == ev.Topic {
				if len(l.replay) == cap(l.replay) {
					copy(l.replay, l.replay[1:])
					l.replay = l.replay[:len(l.replay)-1]
				}
				l.replay = append(l.replay, ev)
				l.fn(ev)
				n++
				break
			}
		}
	}
	return n
}

// Listeners is reported on /debug/bus.
func (b *eventBus) Listeners() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.listeners)
}

var bus = newBus()

// watchState is what the handler's listener closure captures.
type watchState struct {
	keys      []string
	client    string
	userAgent string
	since     int64
	reply     chan Event
	dropped   int
	note      [256]byte // request fingerprint for the access log
}

func watch(w http.ResponseWriter, r *http.Request) {
	st := &watchState{
		keys:      strings.Split(r.URL.Query().Get("keys"), ","),
		client:    r.RemoteAddr,
		userAgent: r.UserAgent(),
		reply:     make(chan Event, 1),
	}
	fmt.Sscanf(r.URL.Query().Get("since"), "%d", &st.since)
	copy(st.note[:], r.URL.RawQuery)
	unsubscribe := bus.Subscribe(st.keys, func(ev Event) {
		select {
		case st.reply <- ev:
		default:
			st.dropped++
		}
	})
	// BUG: no defer unsubscribe(); only the write-error path below cleans up.
	timeout := time.Duration(1500+rand.Intn(1000)) * time.Millisecond
	select {
	case ev := <-st.reply:
		if _, err := fmt.Fprintf(w, "%d %s %s %d\n", ev.Seq, ev.Topic, ev.Key, ev.Rev); err != nil {
			unsubscribe()
		}
	case <-time.After(timeout):
		w.WriteHeader(http.StatusNotModified)
	}
}

// publisher stands in for the config store: a change every ~200 ms on one
// of 2,000 keys.
func publisher() {
	for rev := int64(1); ; rev++ {
		time.Sleep(time.Duration(100+rand.Intn(200)) * time.Millisecond)
		k := fmt.Sprintf("key%04d", rand.Intn(2000))
		bus.Publish(Event{Topic: k, Key: k, Rev: rev, Data: lwload.Payload(64)})
	}
}

func main() {
	lwload.Init()
	go publisher()
	api := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/watch", watch)
	mux.HandleFunc("/debug/bus", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "listeners %d\n", bus.Listeners())
	})
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(api) }()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	url := "http://" + api.Addr().String() + "/watch?keys="
	lwload.Drive(lwload.Diurnal(35, 0.3, 4*time.Minute), 256, func() {
		keys := make([]string, 1+rand.Intn(6))
		for i := range keys {
			keys[i] = fmt.Sprintf("key%04d", rand.Intn(2000))
		}
		resp, err := client.Get(url + strings.Join(keys, ",") + fmt.Sprintf("&since=%d", rand.Intn(1e6)))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
