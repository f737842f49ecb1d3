// SPDX-License-Identifier: Apache-2.0

// Healthy controls: what a correctly written service looks like under
// load. A detector must not call these leaks. "healthy" is steady churn
// with a shared, pooled client and a bounded worker pool; "burst" adds a
// temporary burst of goroutines that all finish; "warmup" fills a pool and
// a bounded cache during -warmup and then stays flat; "ramp" triples its
// traffic over -warmup, holding each item's buffer only while in flight;
// "poolramp" triples its calls through a pooled client over -warmup;
// "streamramp" triples its arrivals of long-lived streams over -warmup.

package main

import (
	"container/list"
	"context"
	"fmt"
	"io"
	"log"
	"math/rand"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// pooledClient is shared by every worker and reuses its connections.
var pooledClient = &http.Client{
	Transport: &http.Transport{MaxIdleConnsPerHost: 32, IdleConnTimeout: 90 * time.Second},
	Timeout:   5 * time.Second,
}

func runHealthy() { startHealthyLoad() }

func startHealthyLoad() {
	url := "http://" + targetOr(func() string { return startHTTPBackend("") }) + "/items"
	jobs := make(chan int, *flagWorkers)
	for w := 0; w < *flagWorkers; w++ {
		go healthyWorker(url, jobs)
	}
	go func() {
		interval := time.Duration(float64(time.Second) / *flagRate)
		for i := 0; ; i++ {
			jobs <- i
			time.Sleep(interval)
		}
	}()
}

func healthyWorker(url string, jobs <-chan int) {
	for i := range jobs {
		if err := fetchAndSummarize(url, i); err != nil {
			log.Printf("job %d: %v", i, err)
		}
	}
}

// fetchAndSummarize does the request right (body drained and closed) and
// allocates some short-lived garbage, like real request handling.
func fetchAndSummarize(url string, i int) error {
	resp, err := pooledClient.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	scratch := make([]byte, 32<<10)
	copy(scratch, data)
	_ = fmt.Sprintf("job %d: %d bytes", i, len(data))
	return nil
}

func runBurst() {
	startHealthyLoad()
	time.AfterFunc(*flagBurstAt, func() {
		log.Printf("burst: %d goroutines for %v", *flagBurstN, *flagBurstLen)
		var wg sync.WaitGroup
		for b := 0; b < *flagBurstN; b++ {
			wg.Add(1)
			go burstWorker(b, time.Now().Add(*flagBurstLen), &wg)
		}
		wg.Wait()
		log.Printf("burst over")
	})
}

// burstWorker is a short-lived batch job: it works until its deadline and
// then returns.
func burstWorker(id int, until time.Time, wg *sync.WaitGroup) {
	defer wg.Done()
	for n := 0; time.Now().Before(until); n++ {
		buf := make([]byte, 16<<10)
		buf[n%len(buf)] = byte(id)
		time.Sleep(200 * time.Millisecond)
	}
}

// lruCache is a bounded cache: past its capacity it evicts the oldest entry.
type lruCache struct {
	mu    sync.Mutex
	cap   int
	order *list.List
	items map[string]*list.Element
}

type lruEntry struct {
	key string
	val []byte
}

func (c *lruCache) put(key string, val []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		e.Value.(*lruEntry).val = val
		c.order.MoveToFront(e)
		return
	}
	c.items[key] = c.order.PushFront(&lruEntry{key, val})
	if c.order.Len() > c.cap {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.items, old.Value.(*lruEntry).key)
	}
}

func runWarmup() {
	const poolSize = 64
	const cacheCap = 2000
	cache := &lruCache{cap: cacheCap, order: list.New(), items: map[string]*list.Element{}}
	jobs := make(chan int, poolSize)

	// The pool grows by one worker every warmup/poolSize until it is full.
	go func() {
		step := *flagWarmup / poolSize
		for w := 0; w < poolSize; w++ {
			go warmupWorker(cache, jobs)
			time.Sleep(step)
		}
		log.Printf("warmup: pool full (%d workers)", poolSize)
	}()
	// Inserts at a constant rate that fills the cache exactly during warmup;
	// afterwards the same rate only replaces entries.
	go func() {
		interval := *flagWarmup / cacheCap
		for i := 0; ; i++ {
			jobs <- i
			time.Sleep(interval)
		}
	}()
}

func warmupWorker(cache *lruCache, jobs <-chan int) {
	for i := range jobs {
		val := make([]byte, *flagEntrySize/2)
		val[0] = byte(i)
		cache.put(fmt.Sprintf("k%07d", i), val)
	}
}

// runRamp is a healthy service whose traffic triples over -warmup: a fixed
// pool of 8 workers drains a queue in batches (as an indexer or a log
// shipper does), holding 256 KiB per queued item while the batch is
// processed (~250 ms) and dropping it after. The faster items arrive, the
// bigger the batches: the bytes in flight, their allocation site's in-use
// bytes and the resident set all rise with the load while the goroutines
// stay flat, yet nothing is retained: the site frees almost everything it
// allocates.
func runRamp() {
	queue := make(chan int, 4096)
	for w := 0; w < 8; w++ {
		go batchWorker(queue)
	}
	go func() {
		start := time.Now()
		for i := 0; ; i++ {
			queue <- i
			rampPause(start)
		}
	}()
}

// batchWorker takes what is queued (at least one item) and processes it.
func batchWorker(queue <-chan int) {
	for first := range queue {
		batch := []int{first}
	drain:
		for len(batch) < 256 {
			select {
			case i := <-queue:
				batch = append(batch, i)
			default:
				break drain
			}
		}
		processBatch(batch)
	}
}

// processBatch holds 256 KiB per item while the batch is "processed".
func processBatch(batch []int) {
	bufs := make([][]byte, len(batch))
	for k, i := range batch {
		bufs[k] = make([]byte, 256<<10)
		for j := 0; j < len(bufs[k]); j += 4096 {
			bufs[k][j] = byte(i + j)
		}
	}
	time.Sleep(time.Duration(200+rand.Intn(100)) * time.Millisecond)
	var sum byte
	for _, b := range bufs {
		for j := 0; j < len(b); j += 4096 {
			sum += b[j]
		}
	}
	rampSink.Add(uint64(sum))
}

var rampSink atomic.Uint64

// runPoolRamp is a healthy API gateway whose traffic triples over -warmup:
// every call is a goroutine (as every inbound request is) that asks a slow
// upstream (150-350 ms, served in-process) through one shared, pooled
// Transport and closes the body. The connections in use follow the
// concurrency, rate x latency, so the Transport's persistConn readLoop and
// writeLoop goroutines and the upstream's conn.serve goroutines grow with
// the load: by Little's law, not by a leak. Nothing is retained; every
// connection is reused.
func runPoolRamp() {
	url := startSlowUpstream("poolramp") + "/quote"
	client := &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second},
		Timeout:   5 * time.Second,
	}
	go func() {
		start := time.Now()
		for {
			go gatewayCall(client, url)
			rampPause(start)
		}
	}()
}

// gatewayCall is one request done right: body drained and closed.
func gatewayCall(client *http.Client, url string) {
	resp, err := client.Get(url)
	if err != nil {
		log.Printf("gateway: %v", err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// runWorkerRamp is a healthy job runner whose traffic triples over
// -warmup: a fixed pool of 64 workers takes jobs from a queue, each a call
// to a slow in-process upstream (150-350 ms) through one pooled client.
// The busy workers follow the load (rate x latency) and the idle ones
// shrink by as many: goroutines move between two stacks, none is created.
func runWorkerRamp() {
	url := startSlowUpstream("workerramp") + "/job"
	client := &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second},
		Timeout:   5 * time.Second,
	}
	jobs := make(chan int, 1024)
	for w := 0; w < 64; w++ {
		go jobWorker(client, url, jobs)
	}
	go func() {
		start := time.Now()
		for i := 0; ; i++ {
			jobs <- i
			rampPause(start)
		}
	}()
}

func jobWorker(client *http.Client, url string, jobs <-chan int) {
	for range jobs {
		gatewayCall(client, url)
	}
}

// rampPause sleeps until the next arrival of a Poisson stream whose rate
// rises linearly from -rate to 3 x -rate over -warmup after start.
func rampPause(start time.Time) {
	x := float64(time.Since(start)) / float64(*flagWarmup)
	if x > 1 {
		x = 1
	}
	rate := *flagRate * (1 + 2*x)
	time.Sleep(time.Duration(rand.ExpFloat64() / rate * float64(time.Second)))
}

// startSlowUpstream serves, in-process, an upstream that answers every
// request in 150-350 ms; returns its base URL.
func startSlowUpstream(name string) string {
	ln := listenLoopback(name+" upstream", "")
	body := payload(1024)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(150+rand.Intn(200)) * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	go func() { log.Fatal((&http.Server{Handler: mux}).Serve(ln)) }()
	return "http://" + ln.Addr().String()
}

// runStreamRamp is a healthy live-updates service whose clients arrive
// three times as often by the end of -warmup: each opens a stream
// (server-sent events, served in-process), reads an event a second for
// 15-45 s and leaves. The streams open at once follow the load (arrival
// rate x hold time), so the handler and client goroutines grow with it,
// and many of them outlive one debug=2 interval; but each one ends, none
// is kept.
func runStreamRamp() { runStreams("streamramp", streamEvents) }

// runStreams serves `handler` as an in-process server-sent-events stream
// and sends it clients arriving as rampPause says, each staying 15-45 s.
func runStreams(name string, handler http.HandlerFunc) {
	ln := listenLoopback(name+" events", "")
	mux := http.NewServeMux()
	mux.HandleFunc("/events", handler)
	go func() { log.Fatal((&http.Server{Handler: mux}).Serve(ln)) }()
	url := "http://" + ln.Addr().String() + "/events"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}}
	go func() {
		start := time.Now()
		for {
			go followStream(client, url, time.Duration(15000+rand.Intn(30000))*time.Millisecond)
			rampPause(start)
		}
	}()
}

// streamEvents writes one small event a second until the client leaves.
func streamEvents(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	fl, _ := w.(http.Flusher)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	ev := payload(256)
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			if _, err := w.Write(ev); err != nil {
				return
			}
			if fl != nil {
				fl.Flush()
			}
		}
	}
}

// followStream reads one stream for `hold`, then leaves.
func followStream(client *http.Client, url string, hold time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), hold)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := client.Do(req)
	if err != nil {
		log.Printf("stream: %v", err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// runStreamHold is runStreamRamp with a resume window per stream: each
// stream's handler keeps the last events it sent in a 256 KiB buffer (for
// clients that reconnect with Last-Event-ID) for as long as its client
// stays, 15-45 s. The open streams follow the load, and so does the heap
// the handlers hold: a heap site that grows for the whole ramp, held by
// goroutines that all end and give it back.
func runStreamHold() { runStreams("streamhold", holdStream) }

// holdStream writes an event a second into the stream and into its resume
// window until the client leaves; the window goes with the handler.
func holdStream(w http.ResponseWriter, r *http.Request) {
	const slot = 512
	window := make([]byte, 512*slot)
	w.Header().Set("Content-Type", "text/event-stream")
	fl, _ := w.(http.Flusher)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	ev := payload(256)
	for n := 0; ; n++ {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			copy(window[(n%512)*slot:], ev)
			if _, err := w.Write(ev); err != nil {
				return
			}
			if fl != nil {
				fl.Flush()
			}
		}
	}
}
