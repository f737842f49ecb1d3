// SPDX-License-Identifier: Apache-2.0

// leak-mutex-pileup: a lock held forever. An API gateway meters every
// request: the handler answers from a local quota cache and fires
// `go meter.report(rec)` so that billing never adds latency. report sends
// the usage record (request metadata plus a few KiB of attributes) over
// ONE shared connection to the ledger service, so it serializes on a
// sync.Mutex taken around the whole write-then-read-ack exchange, with no
// deadline. After a while the ledger goes silent on that connection (a
// failover leaves it half-open: no RST, no keepalive), so the goroutine
// holding the lock waits for the ack forever. Every later reporter piles
// up in sync.(*Mutex).Lock (state "semacquire") holding its record, while
// the handlers keep answering normally. Goroutines and heap grow with the
// request rate until the container is OOM-killed.
// Fix: SetDeadline on the connection (or a context with timeout) before
// the exchange, and a bounded queue with one sender instead of one
// goroutine per record.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"lwbench/lwload"
)

// peer is the ledger: one line-based exchange per record; after a few
// hundred records it stops answering on the connection for good.
func peer() {
	ln := lwload.Listen()
	silentAfter := 300 + rand.Intn(300)
	var n int
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				rd := bufio.NewReader(c)
				for {
					hdr, err := rd.ReadString('\n')
					if err != nil {
						c.Close()
						return
					}
					size, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(hdr, "USAGE ")))
					if _, err := io.CopyN(io.Discard, rd, int64(size)); err != nil {
						c.Close()
						return
					}
					mu.Lock()
					n++
					silent := n >= silentAfter
					mu.Unlock()
					if silent {
						select {} // half-open: never answers, never closes
					}
					time.Sleep(time.Duration(1+rand.Intn(4)) * time.Millisecond)
					fmt.Fprintf(c, "ACK %d\n", n)
				}
			}(c)
		}
	}()
	lwload.PeerAddr("ledger", ln.Addr().String())
	lwload.PeerReady()
}

type usage struct {
	Tenant  string            `json:"tenant"`
	Route   string            `json:"route"`
	Status  int               `json:"status"`
	Units   int               `json:"units"`
	At      time.Time         `json:"at"`
	Headers map[string]string `json:"headers"`
	Attrs   []byte            `json:"attrs"` // request attributes kept for billing disputes
}

type meterClient struct {
	addr string
	mu   sync.Mutex // guards conn and rd: one exchange at a time
	conn net.Conn
	rd   *bufio.Reader
}

// report sends one record and waits for the ledger's ACK.
// BUG: no deadline on the exchange while holding m.mu.
func (m *meterClient) report(u *usage) error {
	body, err := json.Marshal(u)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conn == nil {
		c, err := net.Dial("tcp", m.addr)
		if err != nil {
			return err
		}
		m.conn, m.rd = c, bufio.NewReader(c)
	}
	if _, err := fmt.Fprintf(m.conn, "USAGE %d\n%s", len(body), body); err != nil {
		m.conn.Close()
		m.conn = nil
		return err
	}
	if _, err := m.rd.ReadString('\n'); err != nil { // blocks forever once the ledger is silent
		m.conn.Close()
		m.conn = nil
		return err
	}
	return nil
}

type quotaCache struct {
	mu sync.RWMutex
	m  map[string]int
}

func (q *quotaCache) allow(tenant string) bool {
	q.mu.RLock()
	left, ok := q.m[tenant]
	q.mu.RUnlock()
	return !ok || left > 0
}

func main() {
	lwload.Init()
	if *lwload.Role == "peer" {
		peer()
	}
	meter := &meterClient{addr: lwload.StartPeer()["ledger"]}
	quota := &quotaCache{m: map[string]int{"t0": 1 << 30}}

	api := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		tenant := r.Header.Get("X-Tenant")
		if !quota.allow(tenant) {
			http.Error(w, "quota exceeded", http.StatusTooManyRequests)
			return
		}
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, `{"ok":true,"route":%q,"n":%d}`+"\n", r.URL.Path, len(body))
		rec := &usage{Tenant: tenant, Route: r.URL.Path, Status: 200, Units: 1 + len(body)/1024, At: time.Now(),
			Headers: map[string]string{"user-agent": r.UserAgent(), "x-request-id": r.Header.Get("X-Request-Id")},
			Attrs:   append([]byte(nil), body...)}
		go meter.report(rec) // fire and forget: billing must not add latency
	})
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(api) }()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	base := "http://" + api.Addr().String() + "/api/v1/"
	routes := []string{"orders", "search", "cart", "profile", "inventory"}
	lwload.Drive(lwload.Diurnal(12, 0.35, 4*time.Minute), 128, func() {
		req, _ := http.NewRequest("POST", base+routes[rand.Intn(len(routes))],
			strings.NewReader(string(lwload.Payload(2048+rand.Intn(4096)))))
		req.Header.Set("X-Tenant", fmt.Sprintf("t%d", rand.Intn(50)))
		req.Header.Set("X-Request-Id", fmt.Sprintf("%016x", rand.Int63()))
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
