// SPDX-License-Identifier: Apache-2.0

// ok-periodic-batch: healthy control, a big periodic sawtooth. A ledger
// service runs a fixed pool of 8 workers. Between batches the pool serves
// light API traffic (balance look-ups). Every 60-120 s a reconciliation job
// loads the latest window of ledger entries (~200,000 entries, ~75 MiB live,
// page by page as from a database), fans the pages out to the same pool to
// aggregate per-account totals and flag mismatches, publishes the report,
// and drops the whole snapshot, handing the memory back to the OS at once
// (debug.FreeOSMemory, as the service shares its node with others). Memory
// climbs steeply to a large fraction of the limit during each batch and
// falls back after it; goroutines stay flat. Nothing leaks: the only state
// kept between batches is the bounded per-account summary.
package main

import (
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"lwbench/lwload"
)

const (
	workers  = 8
	accounts = 5000
	pageSize = 1000
)

type entry struct {
	ID      int64
	Account int
	Amount  int64
	At      time.Time
	Ref     string
	Memo    []byte
}

type summary struct {
	Total    int64
	Count    int
	Mismatch int
}

type task func()

var (
	pool = make(chan task) // the fixed worker pool

	sumMu  sync.RWMutex
	totals = make([]summary, accounts) // bounded state kept between batches
)

func worker() {
	for t := range pool {
		t()
	}
}

// loadPage stands in for one paged query against the ledger database.
func loadPage(page int) []entry {
	time.Sleep(time.Duration(30+rand.Intn(30)) * time.Millisecond)
	es := make([]entry, pageSize)
	for i := range es {
		es[i] = entry{ID: int64(page*pageSize + i), Account: rand.Intn(accounts), Amount: rand.Int63n(1e6) - 5e5,
			At: time.Now(), Ref: fmt.Sprintf("tx-%d-%08x", page, rand.Uint32()), Memo: make([]byte, 128+rand.Intn(256))}
		rand.Read(es[i].Memo)
	}
	return es
}

// reconcile loads the whole window, aggregates it on the pool, then drops it.
func reconcile(pages int) {
	t0 := time.Now()
	snapshot := make([][]entry, 0, pages)
	for p := 0; p < pages; p++ {
		snapshot = append(snapshot, loadPage(p))
	}
	loaded := time.Since(t0)
	partial := make([][]summary, len(snapshot))
	var wg sync.WaitGroup
	for i := range snapshot {
		i := i
		wg.Add(1)
		pool <- func() {
			defer wg.Done()
			s := make([]summary, accounts)
			page := snapshot[i]
			idx := make([]int, len(page))
			for j := range idx {
				idx[j] = j
			}
			sort.Slice(idx, func(a, b int) bool { return page[idx[a]].Account < page[idx[b]].Account })
			for _, j := range idx {
				e := &page[j]
				s[e.Account].Total += e.Amount
				s[e.Account].Count++
				if e.Memo[0] == 0 && e.Amount > 0 {
					s[e.Account].Mismatch++
				}
			}
			partial[i] = s
		}
	}
	wg.Wait()
	next := make([]summary, accounts)
	mism := 0
	for _, s := range partial {
		for a := range s {
			next[a].Total += s[a].Total
			next[a].Count += s[a].Count
			next[a].Mismatch += s[a].Mismatch
			mism += s[a].Mismatch
		}
	}
	sumMu.Lock()
	totals = next
	sumMu.Unlock()
	fmt.Printf("reconcile: %d entries, %d mismatches, load %v, total %v\n",
		pages*pageSize, mism, loaded.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
}

func balance(w http.ResponseWriter, r *http.Request) {
	var acct int
	fmt.Sscanf(r.URL.Query().Get("account"), "%d", &acct)
	if acct < 0 || acct >= accounts {
		http.Error(w, "no such account", http.StatusNotFound)
		return
	}
	done := make(chan summary, 1)
	pool <- func() {
		time.Sleep(time.Duration(2+rand.Intn(8)) * time.Millisecond) // a point query
		sumMu.RLock()
		done <- totals[acct]
		sumMu.RUnlock()
	}
	s := <-done
	fmt.Fprintf(w, `{"account":%d,"total":%d,"count":%d,"mismatch":%d}`+"\n", acct, s.Total, s.Count, s.Mismatch)
}

func main() {
	lwload.Init()
	for i := 0; i < workers; i++ {
		go worker()
	}
	go func() {
		for {
			time.Sleep(time.Duration(60+rand.Intn(60)) * time.Second)
			reconcile(180 + rand.Intn(40))
			debug.FreeOSMemory() // the snapshot is garbage now: return it to the OS
		}
	}()
	api := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/balance", balance)
	go func() {
		_ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}).Serve(api)
	}()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	url := "http://" + api.Addr().String() + "/balance?account="
	lwload.Drive(lwload.Diurnal(10, 0.35, 4*time.Minute), 64, func() {
		resp, err := client.Get(url + fmt.Sprint(rand.Intn(accounts)))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
