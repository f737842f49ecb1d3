// SPDX-License-Identifier: Apache-2.0

// leak-chan-recv: a goroutine leak on the receive side (fan-out/fan-in). A
// product-search API splits each query over 8 index shards. The handler
// starts the 8 shard workers first (each allocates its scratch buffer and
// then waits on the jobs channel), then asks the query planner (the peer,
// log-normal latency) for the per-shard plan with a 120 ms budget, then
// feeds the plan to the workers and closes the channel.
//
// The bug: when the planner fails or exceeds its budget, search returns the
// error straight away, without close(jobs). The 8 workers of that request
// stay blocked forever in "chan receive" (for job := range jobs), each
// holding its scratch buffer and its stack. A steady share of requests hits
// the planner's latency tail, so goroutines and memory grow until the
// container is OOM-killed. The leaked goroutines are parked in
// main.(*searcher).shardWorker, created by main.(*searcher).search.
// Fix: defer close(jobs) right after creating it (or start the workers only
// once the plan is known, or select on ctx.Done() in the workers).
package main

import (
	"bufio"
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"lwbench/lwload"
)

const shards = 8

// peer is the query planner: it answers with one line per shard (the term
// ranges to scan), after a log-normal delay (median ~35 ms, long tail).
func peer() {
	ln := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/plan", func(w http.ResponseWriter, r *http.Request) {
		d := time.Duration(math.Exp(rand.NormFloat64()*0.8+math.Log(35))) * time.Millisecond
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
		q := r.URL.Query().Get("q")
		for s := 0; s < shards; s++ {
			fmt.Fprintf(w, "%d %s %d %d\n", s, q, rand.Intn(1000), 50+rand.Intn(200))
		}
	})
	go func() { _ = http.Serve(ln, mux) }()
	lwload.PeerAddr("planner", ln.Addr().String())
	lwload.PeerReady()
}

type shardJob struct {
	Shard int
	Query string
	From  int
	Limit int
}

type hit struct {
	Doc   uint64
	Score float64
}

type shardResult struct {
	Shard int
	Hits  []hit
}

type searcher struct {
	planner string
	client  *http.Client
}

// shardWorker scans one shard for each job it receives.
func (s *searcher) shardWorker(jobs <-chan shardJob, out chan<- shardResult) {
	scratch := make([]byte, 0, 6<<10) // decode buffer for posting blocks
	for job := range jobs {
		scratch = scratch[:0]
		h := fnv.New64a()
		var hits []hit
		for i := 0; i < job.Limit; i++ {
			start := len(scratch)
			scratch = strconv.AppendInt(scratch, int64(job.From+i), 10)
			h.Reset()
			h.Write(scratch[start:])
			if sum := h.Sum64(); sum%7 == 0 {
				hits = append(hits, hit{Doc: sum, Score: float64(sum%1000) / 1000})
			}
		}
		time.Sleep(time.Duration(1+rand.Intn(5)) * time.Millisecond)
		out <- shardResult{Shard: job.Shard, Hits: hits}
	}
}

// plan asks the planner for the per-shard jobs.
func (s *searcher) plan(ctx context.Context, q string) ([]shardJob, error) {
	ctx, cancel := context.WithTimeout(ctx, 120*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+s.planner+"/plan?q="+q, nil)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("planner: %w", err)
	}
	defer resp.Body.Close()
	var jobs []shardJob
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var j shardJob
		if _, err := fmt.Sscanf(sc.Text(), "%d %s %d %d", &j.Shard, &j.Query, &j.From, &j.Limit); err == nil {
			jobs = append(jobs, j)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("planner: %w", err)
	}
	return jobs, nil
}

// search fans the query out over the shards and merges the top hits.
func (s *searcher) search(ctx context.Context, q string) ([]hit, error) {
	jobs := make(chan shardJob)
	out := make(chan shardResult, shards)
	for i := 0; i < shards; i++ {
		go s.shardWorker(jobs, out)
	}
	plan, err := s.plan(ctx, q)
	if err != nil {
		return nil, err // BUG: the workers wait on jobs forever
	}
	for _, j := range plan {
		jobs <- j
	}
	close(jobs)
	var all []hit
	for range plan {
		r := <-out
		all = append(all, r.Hits...)
	}
	sort.Slice(all, func(a, b int) bool { return all[a].Score > all[b].Score })
	if len(all) > 10 {
		all = all[:10]
	}
	return all, nil
}

func main() {
	lwload.Init()
	if *lwload.Role == "peer" {
		peer()
	}
	s := &searcher{
		planner: lwload.StartPeer()["planner"],
		client:  &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}},
	}
	api := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/search", func(w http.ResponseWriter, r *http.Request) {
		hits, err := s.search(r.Context(), strings.ReplaceAll(r.URL.Query().Get("q"), " ", "+"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		for _, h := range hits {
			fmt.Fprintf(w, "%d %.3f\n", h.Doc, h.Score)
		}
	})
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(api) }()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	url := "http://" + api.Addr().String() + "/search?q="
	lwload.Drive(lwload.Diurnal(20, 0.3, 4*time.Minute), 128, func() {
		resp, err := client.Get(url + fmt.Sprintf("term%d", rand.Intn(5000)))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
