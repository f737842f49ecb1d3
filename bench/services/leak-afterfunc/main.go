// SPDX-License-Identifier: Apache-2.0

// leak-afterfunc: a heap-only leak through timers. A webhook relay accepts
// deliveries (/deliver, a JSON body of 2-8 KiB), forwards them downstream
// and, in case the downstream acknowledgment never arrives, arms a
// "delayed retry / cleanup" one hour later with time.AfterFunc. The
// closure captures the delivery (its body bytes, headers and bookkeeping)
// so the retry can resend it.
//
// The bug: when the acknowledgment does arrive (almost always, right
// away), the handler forgets to Stop the timer; the *time.Timer is not even
// kept. The runtime's timer heap holds every pending timer, each timer
// holds its closure, and each closure holds its delivery for an hour, so
// the heap grows with the request rate; goroutines stay flat (AfterFunc
// only starts a goroutine when the timer fires). The retained bytes are
// the delivery bodies allocated in (*relay).deliver.
// Fix: keep the *time.Timer and t.Stop() it once the delivery is
// acknowledged (or track pending retries in a bounded structure).
package main

import (
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"lwbench/lwload"
)

type delivery struct {
	id       uint64
	tenant   string
	hook     string
	body     []byte
	headers  map[string]string
	received time.Time
	attempts int
}

type relay struct {
	seq      uint64
	acked    int64
	retried  int64
	pendingN int64
}

// forward stands in for the downstream call; it acknowledges at once.
func (rl *relay) forward(d *delivery) bool {
	var sum byte
	for _, b := range d.body {
		sum ^= b
	}
	_ = sum
	return rand.Intn(1000) != 0
}

func (rl *relay) deliver(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.Header.Get("Content-Length"))
	if err != nil || n <= 0 || n > 1<<20 {
		http.Error(w, "length required", http.StatusLengthRequired)
		return
	}
	d := &delivery{
		id:       atomic.AddUint64(&rl.seq, 1),
		tenant:   r.URL.Query().Get("tenant"),
		hook:     r.URL.Query().Get("hook"),
		body:     make([]byte, n),
		headers:  map[string]string{"content-type": r.Header.Get("Content-Type"), "user-agent": r.UserAgent()},
		received: time.Now(),
	}
	if _, err := io.ReadFull(r.Body, d.body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// Arm the delayed retry in case the ack is lost.
	// BUG: the timer is never stopped once the ack arrives.
	atomic.AddInt64(&rl.pendingN, 1)
	time.AfterFunc(1*time.Hour, func() {
		atomic.AddInt64(&rl.pendingN, -1)
		d.attempts++
		atomic.AddInt64(&rl.retried, 1)
		rl.forward(d)
	})
	if rl.forward(d) {
		atomic.AddInt64(&rl.acked, 1)
		fmt.Fprintf(w, `{"id":%d,"status":"delivered"}`+"\n", d.id)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func main() {
	lwload.Init()
	rl := &relay{}
	api := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/deliver", rl.deliver)
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(api) }()
	go func() {
		for {
			time.Sleep(30 * time.Second)
			fmt.Printf("pending retry timers %d, acked %d\n", atomic.LoadInt64(&rl.pendingN), atomic.LoadInt64(&rl.acked))
		}
	}()

	body := lwload.Payload(8 << 10)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	url := "http://" + api.Addr().String() + "/deliver?hook=order.created&tenant="
	lwload.Drive(lwload.Diurnal(25, 0.3, 4*time.Minute), 128, func() {
		n := 2048 + rand.Intn(6144)
		req, err := http.NewRequest("POST", url+fmt.Sprintf("t%03d", rand.Intn(300)), bytes.NewReader(body[:n]))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
