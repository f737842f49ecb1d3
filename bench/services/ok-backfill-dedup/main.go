// SPDX-License-Identifier: Apache-2.0

// ok-backfill-dedup: healthy control, a large one-time job. A search
// indexer keeps a search cluster in sync with a product database (both
// played by the peer): the database pushes change events (POST /changes,
// ~15 docs per batch), the indexer tokenizes each document and sends it
// to the cluster in bulk requests (/_bulk), flushing every second.
//
// One to two minutes into the run an operator starts a full reindex
// (POST /admin/backfill, after a mapping change). The backfill pages
// through the whole table (560,000 documents) with a cursor, rate-limited
// to ~2,000 docs/s to protect the database, through a pipeline: one page
// reader, eight tokenizer workers, four bulk senders, each with its own
// connections. While it runs, the live stream keeps indexing, so the
// indexer remembers the version of every document it has indexed
// (map[id]version) to never overwrite a newer version with an older page;
// documents the cluster rejects (429, version conflicts: ~2%) are kept,
// whole, in a retry queue that is replayed at the end.
//
// Why it looks like a leak: for ~5 minutes the version map and the retry
// queue grow steadily (tens of MiB) with no plateau, the goroutine count
// jumps and stays up, and the allocation rate is high. But the job is
// finite: when the cursor is exhausted the retry queue is replayed, the
// pipeline goroutines exit and the version map and queue are dropped;
// memory falls back to the live-stream baseline for the rest of the run.
// Nothing leaks.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"lwbench/lwload"
)

const (
	totalDocs    = 560000
	pageSize     = 500
	backfillRate = 2000 // docs per second
)

type doc struct {
	ID      uint64   `json:"id"`
	Version uint64   `json:"version"`
	Title   string   `json:"title"`
	Body    string   `json:"body"`
	Tags    []string `json:"tags"`
	Price   int      `json:"price_cents"`
}

type indexDoc struct {
	ID      uint64   `json:"id"`
	Version uint64   `json:"version"`
	Title   string   `json:"title"`
	Terms   []string `json:"terms"`
	Tags    []string `json:"tags"`
	Price   int      `json:"price_cents"`
}

// tokenize builds the indexed form of a document.
func tokenize(d *doc) *indexDoc {
	seen := make(map[string]bool, 64)
	var terms []string
	for _, f := range strings.Fields(strings.ToLower(d.Title + " " + d.Body)) {
		f = strings.Trim(f, ".,;:!?\"'()")
		if len(f) < 3 || seen[f] {
			continue
		}
		seen[f] = true
		terms = append(terms, f)
	}
	return &indexDoc{ID: d.ID, Version: d.Version, Title: d.Title, Terms: terms, Tags: d.Tags, Price: d.Price}
}

type bulkResult struct {
	Items []struct {
		ID     uint64 `json:"id"`
		Status int    `json:"status"`
	} `json:"items"`
}

type indexer struct {
	src, dst string
	client   *http.Client

	live   chan *doc
	liveN  int64
	bulkN  int64
	failed int64

	bfMu      sync.Mutex
	versions  map[uint64]uint64 // set while a backfill runs
	retry     []*doc
	bfRunning int32
	bfDocs    int64
	bfSkipped int64
}

// sendBulk posts index docs to the search cluster and returns the ids it
// rejected.
func (ix *indexer) sendBulk(docs []*indexDoc) (map[uint64]bool, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, d := range docs {
		fmt.Fprintf(&b, "{\"index\":{\"_id\":%d,\"version\":%d}}\n", d.ID, d.Version)
		_ = enc.Encode(d)
	}
	resp, err := ix.client.Post("http://"+ix.dst+"/_bulk", "application/x-ndjson", &b)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var res bulkResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return nil, err
	}
	atomic.AddInt64(&ix.bulkN, 1)
	rejected := map[uint64]bool{}
	for _, it := range res.Items {
		if it.Status >= 300 {
			rejected[it.ID] = true
		}
	}
	return rejected, nil
}

// newer records d's version during a backfill and reports whether it is
// newer than what was already indexed.
func (ix *indexer) newer(d *doc) bool {
	ix.bfMu.Lock()
	defer ix.bfMu.Unlock()
	if ix.versions == nil {
		return true
	}
	if v, ok := ix.versions[d.ID]; ok && v >= d.Version {
		return false
	}
	ix.versions[d.ID] = d.Version
	return true
}

// liveLoop indexes the change stream, one bulk per second.
func (ix *indexer) liveLoop() {
	tick := time.NewTicker(time.Second)
	var batch []*indexDoc
	for {
		select {
		case d := <-ix.live:
			if ix.newer(d) {
				batch = append(batch, tokenize(d))
			}
			continue
		case <-tick.C:
		}
		if len(batch) == 0 {
			continue
		}
		if _, err := ix.sendBulk(batch); err != nil {
			atomic.AddInt64(&ix.failed, int64(len(batch)))
		}
		atomic.AddInt64(&ix.liveN, int64(len(batch)))
		batch = nil
	}
}

func (ix *indexer) changes(w http.ResponseWriter, r *http.Request) {
	var docs []*doc
	if err := json.NewDecoder(r.Body).Decode(&docs); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for _, d := range docs {
		ix.live <- d
	}
	w.WriteHeader(http.StatusAccepted)
}

// backfill reindexes the whole table once.
func (ix *indexer) backfill() {
	start := time.Now()
	ix.bfMu.Lock()
	ix.versions = make(map[uint64]uint64)
	ix.retry = nil
	ix.bfMu.Unlock()

	pages := make(chan []*doc, 8)
	tokens := make(chan []*indexDoc, 8)
	byID := sync.Map{} // id -> *doc for the docs in flight (to queue rejects)
	var wgTok, wgSend sync.WaitGroup
	for i := 0; i < 8; i++ {
		wgTok.Add(1)
		go func() {
			defer wgTok.Done()
			for page := range pages {
				out := make([]*indexDoc, 0, len(page))
				for _, d := range page {
					if !ix.newer(d) {
						atomic.AddInt64(&ix.bfSkipped, 1)
						continue
					}
					byID.Store(d.ID, d)
					out = append(out, tokenize(d))
				}
				tokens <- out
			}
		}()
	}
	for i := 0; i < 4; i++ {
		wgSend.Add(1)
		go func() {
			defer wgSend.Done()
			for batch := range tokens {
				rejected, err := ix.sendBulk(batch)
				ix.bfMu.Lock()
				for _, d := range batch {
					v, _ := byID.LoadAndDelete(d.ID)
					if err != nil || rejected[d.ID] {
						ix.retry = append(ix.retry, v.(*doc))
					}
				}
				ix.bfMu.Unlock()
				atomic.AddInt64(&ix.bfDocs, int64(len(batch)))
			}
		}()
	}
	// The page reader: a cursor over the table, rate-limited.
	var after uint64
	next := time.Now()
	for {
		resp, err := ix.client.Get("http://" + ix.src + "/docs?after=" + strconv.FormatUint(after, 10) + "&limit=" + strconv.Itoa(pageSize))
		if err != nil {
			time.Sleep(time.Second)
			continue
		}
		var page []*doc
		err = json.NewDecoder(bufio.NewReader(resp.Body)).Decode(&page)
		resp.Body.Close()
		if err != nil {
			time.Sleep(time.Second)
			continue
		}
		if len(page) == 0 {
			break
		}
		after = page[len(page)-1].ID
		pages <- page
		next = next.Add(time.Duration(len(page)) * time.Second / backfillRate)
		time.Sleep(time.Until(next))
	}
	close(pages)
	wgTok.Wait()
	close(tokens)
	wgSend.Wait()

	// Replay the rejects, 200 at a time.
	ix.bfMu.Lock()
	retry := ix.retry
	ix.retry = nil
	ix.bfMu.Unlock()
	for len(retry) > 0 {
		n := 200
		if n > len(retry) {
			n = len(retry)
		}
		batch := make([]*indexDoc, 0, n)
		for _, d := range retry[:n] {
			batch = append(batch, tokenize(d))
		}
		if _, err := ix.sendBulk(batch); err != nil {
			atomic.AddInt64(&ix.failed, int64(n))
		}
		retry = retry[n:]
	}
	ix.bfMu.Lock()
	entries := len(ix.versions)
	ix.versions = nil
	ix.bfMu.Unlock()
	fmt.Printf("backfill done in %s: %d docs, %d skipped as older, version map had %d entries\n",
		time.Since(start).Round(time.Second), atomic.LoadInt64(&ix.bfDocs), atomic.LoadInt64(&ix.bfSkipped), entries)
	ix.client.Transport.(*http.Transport).CloseIdleConnections()
}

func (ix *indexer) admin(w http.ResponseWriter, r *http.Request) {
	if !atomic.CompareAndSwapInt32(&ix.bfRunning, 0, 1) {
		http.Error(w, "backfill already running", http.StatusConflict)
		return
	}
	go func() {
		defer atomic.StoreInt32(&ix.bfRunning, 0)
		ix.backfill()
	}()
	w.WriteHeader(http.StatusAccepted)
}

func (ix *indexer) status() string {
	ix.bfMu.Lock()
	v, q := len(ix.versions), len(ix.retry)
	ix.bfMu.Unlock()
	return fmt.Sprintf("live %d, bulks %d, failed %d, backfill running %d: %d docs, version map %d, retry queue %d",
		atomic.LoadInt64(&ix.liveN), atomic.LoadInt64(&ix.bulkN), atomic.LoadInt64(&ix.failed),
		atomic.LoadInt32(&ix.bfRunning), atomic.LoadInt64(&ix.bfDocs), v, q)
}

// ---- peer: the product database, the search cluster, the operator ------

var words = strings.Fields("organic cotton shirt slim fit blue red green black white wool jacket waterproof hiking boots leather " +
	"wallet ceramic mug espresso grinder stainless steel bottle kids toy wooden puzzle garden hose lamp desk chair ergonomic " +
	"laptop sleeve phone case charger cable wireless headphones speaker portable camping tent sleeping bag lantern")

func makeDoc(id, version uint64) *doc {
	rnd := rand.New(rand.NewSource(int64(id*31 + version)))
	var title, body strings.Builder
	for i := 0; i < 3+rnd.Intn(5); i++ {
		title.WriteString(words[rnd.Intn(len(words))])
		title.WriteByte(' ')
	}
	n := 150 + rnd.Intn(300)
	for i := 0; i < n; i++ {
		body.WriteString(words[rnd.Intn(len(words))])
		if rnd.Intn(9) == 0 {
			body.WriteString(strconv.Itoa(rnd.Intn(1000)))
		}
		body.WriteByte(' ')
	}
	return &doc{ID: id, Version: version, Title: title.String(), Body: body.String(),
		Tags: []string{words[rnd.Intn(len(words))], words[rnd.Intn(len(words))]}, Price: 100 + rnd.Intn(50000)}
}

func peer(addr string) {
	mux := http.NewServeMux()
	var version uint64 = 1
	mux.HandleFunc("/docs", func(w http.ResponseWriter, r *http.Request) {
		after, _ := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		page := []*doc{}
		for id := after + 1; id <= totalDocs && len(page) < limit; id++ {
			page = append(page, makeDoc(id, 1))
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(page)
	})
	mux.HandleFunc("/_bulk", func(w http.ResponseWriter, r *http.Request) {
		sc := bufio.NewScanner(r.Body)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		var out bytes.Buffer
		out.WriteString("{\"items\":[")
		n := 0
		for sc.Scan() {
			line := sc.Bytes()
			if !bytes.HasPrefix(line, []byte("{\"index\"")) {
				continue
			}
			var meta struct {
				Index struct {
					ID uint64 `json:"_id"`
				} `json:"index"`
			}
			_ = json.Unmarshal(line, &meta)
			status := 201
			if rand.Intn(50) == 0 {
				status = 429
			}
			if n > 0 {
				out.WriteByte(',')
			}
			fmt.Fprintf(&out, "{\"id\":%d,\"status\":%d}", meta.Index.ID, status)
			n++
		}
		out.WriteString("]}")
		time.Sleep(time.Duration(5+rand.Intn(30)) * time.Millisecond)
		_, _ = w.Write(out.Bytes())
	})
	ln := lwload.Listen()
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(ln) }()
	lwload.PeerAddr("db", ln.Addr().String())
	lwload.PeerAddr("search", ln.Addr().String())

	// Change events for the live stream.
	client := &http.Client{Timeout: 10 * time.Second}
	if addr != "" { // the indexer's address (its listener is open before the peer starts)
		go lwload.Drive(lwload.Diurnal(8, 0.4, 4*time.Minute), 16, func() {
			v := atomic.AddUint64(&version, 1)
			var docs []*doc
			for i := 0; i < 5+rand.Intn(20); i++ {
				docs = append(docs, makeDoc(1+uint64(rand.Intn(totalDocs)), v))
			}
			body, _ := json.Marshal(docs)
			resp, err := client.Post("http://"+addr+"/changes", "application/json", bytes.NewReader(body))
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		})
		// The operator starts the reindex 60-120 s into the run.
		go func() {
			time.Sleep(time.Duration(60+rand.Intn(61)) * time.Second)
			resp, err := client.Post("http://"+addr+"/admin/backfill", "text/plain", nil)
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	lwload.PeerReady()
}

func main() {
	lwload.Init()
	if *lwload.Role == "peer" {
		peer(flag.Arg(0))
	}
	ln := lwload.Listen()
	// One peer process: database + search cluster + change feed + operator.
	addrs := lwload.StartPeer(ln.Addr().String())
	ix := &indexer{src: addrs["db"], dst: addrs["search"], live: make(chan *doc, 1024),
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}}
	go ix.liveLoop()
	mux := http.NewServeMux()
	mux.HandleFunc("/changes", ix.changes)
	mux.HandleFunc("/admin/backfill", ix.admin)
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(ln) }()
	for {
		time.Sleep(30 * time.Second)
		fmt.Println(ix.status())
	}
}
