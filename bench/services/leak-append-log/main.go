// SPDX-License-Identifier: Apache-2.0

// leak-append-log: a heap-only leak. An account-settings API keeps an
// in-memory audit trail: every mutating request appends one or more
// records (who, what, when, the diff of the changed settings, a few hundred
// bytes to a few KiB) to a global log made of fixed-size segments, so that
// an admin endpoint can show "recent changes" and a shipper can forward
// them. The shipper was removed when auditing moved to the database, but
// Append was never taken out and nothing ever trims the log: segments
// accumulate forever. Goroutines stay flat; the heap grows with every
// request until the container is OOM-killed. The growth is attributed to
// the allocation site main.(*auditLog).Append (record copies and segments).
// Fix: drop the in-memory log, or make it a ring buffer (keep the last N
// records / the last hour).
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"sync"
	"time"

	"lwbench/lwload"
)

const segmentSize = 512

type record struct {
	Seq    uint64
	At     time.Time
	Actor  string
	Action string
	Target string
	Diff   []byte
}

type auditLog struct {
	mu   sync.Mutex
	seq  uint64
	segs [][]record // BUG: only ever appended to
}

// Append copies the record into the log (callers reuse their buffers).
func (l *auditLog) Append(actor, action, target string, diff []byte) uint64 {
	rec := record{At: time.Now(), Actor: actor, Action: action, Target: target, Diff: make([]byte, len(diff))}
	copy(rec.Diff, diff)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	n := len(l.segs)
	if n == 0 || len(l.segs[n-1]) == segmentSize {
		l.segs = append(l.segs, make([]record, 0, segmentSize))
		n++
	}
	rec.Seq = l.seq
	l.segs[n-1] = append(l.segs[n-1], rec)
	return l.seq
}

// Recent returns up to n of the latest records (admin endpoint).
func (l *auditLog) Recent(n int) []record {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []record
	for i := len(l.segs) - 1; i >= 0 && len(out) < n; i-- {
		s := l.segs[i]
		for j := len(s) - 1; j >= 0 && len(out) < n; j-- {
			out = append(out, s[j])
		}
	}
	return out
}

var audit = &auditLog{}

type settings map[string]interface{}

var (
	storeMu sync.Mutex
	store   = map[string]settings{} // bounded: 500 accounts x 40 preferences
)

func update(w http.ResponseWriter, r *http.Request) {
	acct := r.URL.Query().Get("account")
	var patch settings
	if err := json.NewDecoder(r.Body).Decode(&patch); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	storeMu.Lock()
	cur := store[acct]
	if cur == nil {
		cur = settings{}
		store[acct] = cur
	}
	var diff bytes.Buffer
	for k, v := range patch {
		fmt.Fprintf(&diff, "%s: %v -> %v\n", k, cur[k], v)
		cur[k] = v
	}
	storeMu.Unlock()
	actor := r.Header.Get("X-User")
	seq := audit.Append(actor, "settings.update", acct, diff.Bytes())
	if diff.Len() > 2048 { // big changes also log the full request for compliance
		audit.Append(actor, "settings.update.request", acct, []byte(fmt.Sprintf("%v %s %v", r.Method, r.URL, r.Header)))
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"ok":true,"audit_seq":%d}`+"\n", seq)
}

func main() {
	lwload.Init()
	api := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/settings", update)
	mux.HandleFunc("/admin/audit", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(audit.Recent(50))
	})
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(api) }()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	base := "http://" + api.Addr().String()
	lwload.Drive(lwload.Diurnal(30, 0.35, 4*time.Minute), 64, func() {
		patch := map[string]interface{}{}
		for i := 0; i < 2+rand.Intn(14); i++ {
			patch[fmt.Sprintf("pref.%d", rand.Intn(40))] = string(lwload.Payload(40 + rand.Intn(320)))
		}
		b, _ := json.Marshal(patch)
		req, _ := http.NewRequest("POST", fmt.Sprintf("%s/settings?account=a%d", base, rand.Intn(500)), bytes.NewReader(b))
		req.Header.Set("X-User", fmt.Sprintf("user-%d", rand.Intn(5000)))
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if rand.Intn(200) == 0 {
			if resp, err := client.Get(base + "/admin/audit"); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	})
}
