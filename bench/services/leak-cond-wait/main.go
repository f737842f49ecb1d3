// SPDX-License-Identifier: Apache-2.0

// leak-cond-wait: goroutines parked forever in sync.Cond.Wait. A
// notification service renders transactional e-mails (/send: the handler
// reads the request, renders the HTML message, 24-64 KiB) and puts them in
// an in-memory outbox: a bounded queue (128 messages) built on a mutex and
// two sync.Conds, so that when the mail relay is slow, back-pressure slows
// the callers down instead of dropping mail. One dispatcher goroutine pops
// messages, finishes them (per-locale footer) and hands them to the relay
// (the peer).
//
// The bug: dispatch protects itself with a deferred recover around the
// WHOLE loop, "so that a bad message cannot crash the service". About 45 s
// after start a campaign begins sending to a locale that has no footer
// template: the footer lookup panics (nil map entry), the recover logs one
// line and dispatch returns. Nothing restarts it. The outbox fills up in
// seconds and from then on every (*outbox).Put waits on notFull forever:
// sync.Cond.Wait cannot watch the request context, so the callers time out
// and go away while each handler goroutine stays parked in
// sync.runtime_notifyListWait under main.(*outbox).Put, holding its
// rendered message, its request and its connection. The service still
// answers /healthz, goroutines and heap grow with the request rate until
// the container is OOM-killed.
// Fix: recover per message inside the loop (or restart the dispatcher, or
// crash), and make Put honour a context/deadline (a buffered channel with
// select on ctx.Done() instead of sync.Cond).
package main

import (
	"bytes"
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

type message struct {
	id     uint64
	to     string
	locale string
	html   []byte
}

// outbox is a bounded FIFO: Put blocks while it is full, Pop while empty.
type outbox struct {
	mu       sync.Mutex
	notFull  *sync.Cond
	notEmpty *sync.Cond
	items    []*message
	max      int
	waiting  int64
}

func newOutbox(max int) *outbox {
	o := &outbox{max: max}
	o.notFull = sync.NewCond(&o.mu)
	o.notEmpty = sync.NewCond(&o.mu)
	return o
}

// Put appends m, waiting for room while the outbox is full.
// BUG (with dispatch): no deadline, no context; if nobody pops, it waits forever.
func (o *outbox) Put(m *message) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for len(o.items) >= o.max {
		atomic.AddInt64(&o.waiting, 1)
		o.notFull.Wait()
		atomic.AddInt64(&o.waiting, -1)
	}
	o.items = append(o.items, m)
	o.notEmpty.Signal()
}

// Pop removes the oldest message, waiting while the outbox is empty.
func (o *outbox) Pop() *message {
	o.mu.Lock()
	defer o.mu.Unlock()
	for len(o.items) == 0 {
		o.notEmpty.Wait()
	}
	m := o.items[0]
	o.items[0] = nil
	o.items = o.items[1:]
	o.notFull.Signal()
	return m
}

func (o *outbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.items)
}

type service struct {
	out     *outbox
	relay   string
	client  *http.Client
	footers map[string]*footer
	sent    int64
	seq     uint64
	alive   int32
}

type footer struct {
	unsubscribe string
	legal       string
}

// dispatch delivers the outbox to the relay.
// BUG: the recover is around the whole loop: one panic ends the dispatcher.
func (s *service) dispatch() {
	atomic.StoreInt32(&s.alive, 1)
	defer func() {
		if r := recover(); r != nil {
			atomic.StoreInt32(&s.alive, 0)
			fmt.Printf("dispatcher: recovered from panic: %v (after %d messages)\n", r, atomic.LoadInt64(&s.sent))
		}
	}()
	for {
		m := s.out.Pop()
		f := s.footers[m.locale]
		m.html = append(m.html, f.unsubscribe...) // nil *footer for an unknown locale: panic
		m.html = append(m.html, f.legal...)
		req, _ := http.NewRequest("POST", "http://"+s.relay+"/relay?to="+m.to, bytes.NewReader(m.html))
		resp, err := s.client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		atomic.AddInt64(&s.sent, 1)
	}
}

// render builds the HTML body of one message (24-64 KiB: inline styles,
// table layout and a base64 logo, as transactional mail really is).
func (s *service) render(to, locale, tmpl string, vars []byte) *message {
	n := (24 + rand.Intn(41)) << 10
	var b bytes.Buffer
	b.Grow(n + 4096)
	fmt.Fprintf(&b, "<html><head><style>/* %s */</style></head><body><p>Hello %s,</p>", tmpl, to)
	for b.Len() < n {
		b.WriteString("<tr><td style=\"padding:4px;font-family:Arial\">")
		l := 64 + rand.Intn(len(vars)-64)
		if l > 2048 {
			l = 2048
		}
		b.Write(vars[:l])
		b.WriteString("</td></tr>\n")
	}
	b.WriteString("</body></html>")
	return &message{id: atomic.AddUint64(&s.seq, 1), to: to, locale: locale, html: b.Bytes()}
}

func (s *service) handleSend(w http.ResponseWriter, r *http.Request) {
	vars, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil || len(vars) < 128 {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	q := r.URL.Query()
	m := s.render(q.Get("to"), q.Get("locale"), q.Get("template"), vars)
	s.out.Put(m) // parks forever once the dispatcher is gone
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, "queued %d\n", m.id)
}

// peer is the mail relay: it accepts a message after 2-20 ms.
func peer() {
	ln := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/relay", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		time.Sleep(time.Duration(2+rand.Intn(18)) * time.Millisecond)
		fmt.Fprintln(w, "250 OK")
	})
	go func() { _ = http.Serve(ln, mux) }()
	lwload.PeerAddr("relay", ln.Addr().String())
	lwload.PeerReady()
}

func main() {
	lwload.Init()
	if *lwload.Role == "peer" {
		peer()
	}
	s := &service{
		out:    newOutbox(128),
		relay:  lwload.StartPeer()["relay"],
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}},
		footers: map[string]*footer{
			"en-US": {unsubscribe: "<a href=\"/u\">Unsubscribe</a>", legal: "<small>ACME Inc.</small>"},
			"de-DE": {unsubscribe: "<a href=\"/u\">Abbestellen</a>", legal: "<small>ACME GmbH</small>"},
			"fr-FR": {unsubscribe: "<a href=\"/u\">Se désabonner</a>", legal: "<small>ACME SAS</small>"},
			"es-ES": {unsubscribe: "<a href=\"/u\">Darse de baja</a>", legal: "<small>ACME S.L.</small>"},
		},
	}
	go s.dispatch()

	api := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/send", s.handleSend)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(api) }()
	go func() {
		for {
			time.Sleep(30 * time.Second)
			fmt.Printf("outbox %d, waiting producers %d, sent %d, dispatcher alive %d\n",
				s.out.Len(), atomic.LoadInt64(&s.out.waiting), atomic.LoadInt64(&s.sent), atomic.LoadInt32(&s.alive))
		}
	}()

	// The callers: order, billing and account services (5 s timeout).
	// From ~45 s on, a marketing campaign adds pt-BR recipients.
	locales := []string{"en-US", "en-US", "en-US", "de-DE", "fr-FR", "es-ES"}
	templates := []string{"receipt", "password-reset", "shipping-update", "invoice"}
	vars := []byte(strings.Repeat("order line: 1x widget, 19.99 EUR; ", 400))
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	base := "http://" + api.Addr().String() + "/send"
	lwload.Drive(lwload.Diurnal(5, 0.4, 4*time.Minute), 512, func() {
		loc := locales[rand.Intn(len(locales))]
		if lwload.Elapsed() > 45*time.Second && rand.Intn(40) == 0 {
			loc = "pt-BR"
		}
		u := fmt.Sprintf("%s?to=user%d@example.com&locale=%s&template=%s", base, rand.Intn(1e6), loc, templates[rand.Intn(len(templates))])
		resp, err := client.Post(u, "application/json", bytes.NewReader(vars[:1024+rand.Intn(len(vars)-1024)]))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
