// SPDX-License-Identifier: Apache-2.0

// ok-index-warmup: healthy control, a start-up backfill. A help-center
// search service keeps its whole full-text index in memory: a document
// store plus an inverted index (term -> sorted posting list of doc ids).
// At start-up it backfills the index from the content API (the peer), page
// by page, throttled so the backfill does not hammer the content database:
// the ~32,000 articles take ~3 minutes to arrive. Meanwhile it already
// serves (light) search traffic on whatever is indexed so far. While the
// backfill runs, the heap climbs steadily and everything that
// main.(*index).add allocates is retained, exactly like a leak; once the
// last page is in, the index is complete and memory stays flat for good
// (queries allocate only short-lived garbage). Nothing leaks.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"lwbench/lwload"
)

const (
	totalDocs = 32000
	pageSize  = 200
	vocab     = 4000
)

func word(i int) string { return "w" + strconv.Itoa(i) }

// peer is the content API: /articles?page=N returns pageSize articles, one
// per line "id<TAB>title<TAB>body", generated deterministically per page.
func peer() {
	ln := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/articles", func(w http.ResponseWriter, r *http.Request) {
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		rng := rand.New(rand.NewSource(int64(page) + 1))
		time.Sleep(time.Duration(30+rng.Intn(80)) * time.Millisecond)
		bw := bufio.NewWriter(w)
		for i := page * pageSize; i < (page+1)*pageSize && i < totalDocs; i++ {
			fmt.Fprintf(bw, "%d\tHow to %s the %s %s\t", i, word(rng.Intn(vocab)), word(rng.Intn(vocab)), word(rng.Intn(vocab)))
			n := 60 + rng.Intn(60)
			for j := 0; j < n; j++ {
				// Zipf-ish term distribution: common words are common.
				bw.WriteString(word(int(float64(vocab) * rng.Float64() * rng.Float64())))
				bw.WriteByte(' ')
			}
			bw.WriteByte('\n')
		}
		_ = bw.Flush()
	})
	go func() { _ = http.Serve(ln, mux) }()
	lwload.PeerAddr("content", ln.Addr().String())
	lwload.PeerReady()
}

type article struct {
	ID    uint32
	Title string
	Body  string
	Terms int
}

type index struct {
	mu       sync.RWMutex
	docs     map[uint32]*article
	postings map[string][]uint32
	pages    int
	complete bool
}

// add parses one "id<TAB>title<TAB>body" line into the store and the
// inverted index.
func (ix *index) add(line []byte) {
	f := bytes.SplitN(line, []byte{'\t'}, 3)
	if len(f) != 3 {
		return
	}
	id, err := strconv.ParseUint(string(f[0]), 10, 32)
	if err != nil {
		return
	}
	a := &article{ID: uint32(id), Title: string(f[1]), Body: string(f[2])}
	seen := map[string]bool{}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, t := range strings.Fields(a.Body) {
		if seen[t] {
			continue
		}
		seen[t] = true
		ix.postings[t] = append(ix.postings[t], a.ID)
		a.Terms++
	}
	ix.docs[a.ID] = a
}

// search intersects the posting lists of the query terms.
func (ix *index) search(terms []string) []*article {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var cur []uint32
	for i, t := range terms {
		p := ix.postings[t]
		if i == 0 {
			cur = append([]uint32(nil), p...)
			continue
		}
		next := cur[:0]
		for _, id := range cur {
			j := sort.Search(len(p), func(k int) bool { return p[k] >= id })
			if j < len(p) && p[j] == id {
				next = append(next, id)
			}
		}
		cur = next
	}
	var out []*article
	for _, id := range cur {
		if len(out) == 10 {
			break
		}
		out = append(out, ix.docs[id])
	}
	return out
}

// backfill loads every page once, throttled to about one page per second.
func (ix *index) backfill(content string) {
	client := &http.Client{Timeout: 30 * time.Second}
	started := time.Now()
	for page := 0; page*pageSize < totalDocs; {
		resp, err := client.Get(fmt.Sprintf("http://%s/articles?page=%d", content, page))
		if err != nil {
			time.Sleep(time.Second)
			continue
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			ix.add(sc.Bytes())
		}
		resp.Body.Close()
		page++
		ix.mu.Lock()
		ix.pages = page
		ix.mu.Unlock()
		time.Sleep(time.Duration(900+rand.Intn(300)) * time.Millisecond)
	}
	ix.mu.Lock()
	ix.complete = true
	ix.mu.Unlock()
	fmt.Printf("backfill complete: %d articles in %s\n", totalDocs, time.Since(started).Round(time.Second))
}

func main() {
	lwload.Init()
	if *lwload.Role == "peer" {
		peer()
	}
	content := lwload.StartPeer()["content"]
	ix := &index{docs: make(map[uint32]*article), postings: make(map[string][]uint32)}
	go ix.backfill(content)

	api := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/search", func(w http.ResponseWriter, r *http.Request) {
		for _, a := range ix.search(strings.Fields(r.URL.Query().Get("q"))) {
			fmt.Fprintf(w, "%d\t%s\n", a.ID, a.Title)
		}
	})
	go func() {
		_ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}).Serve(api)
	}()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	url := "http://" + api.Addr().String() + "/search?q="
	lwload.Drive(lwload.Diurnal(15, 0.3, 4*time.Minute), 64, func() {
		q := word(rand.Intn(vocab/4)) + "+" + word(rand.Intn(vocab/4))
		resp, err := client.Get(url + q)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
