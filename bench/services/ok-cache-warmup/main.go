// SPDX-License-Identifier: Apache-2.0

// ok-cache-warmup: healthy control, the post-deploy warm-up that fools a
// straight-line extrapolation (sapcc/helm-charts#808). A catalog API puts
// every product it loads into a bounded LRU cache (40,000 entries of ~1 KiB)
// over a catalog of 200,000 products. For the first ~3 minutes nearly every
// request misses and fills the cache, so memory climbs steeply; at capacity
// each insert evicts the least recently used entry: memory flattens for good.
// (The first version, 60,000 products at 150 req/s, took ~7.5 of the 10
// observed minutes to fill: see docs/evaluation.md.)
package main

import (
	"container/list"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"sync"
	"time"

	"lwbench/lwload"
)

const (
	capacity = 40000
	universe = 200000
)

type product struct {
	SKU   int
	Title string
	Desc  []byte
}

type lru struct {
	mu sync.Mutex
	ll *list.List
	m  map[int]*list.Element
}

func (c *lru) get(k int) (*product, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*product), true
	}
	return nil, false
}

func (c *lru) put(p *product) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[p.SKU]; ok {
		return
	}
	c.m[p.SKU] = c.ll.PushFront(p)
	if c.ll.Len() > capacity {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.m, old.Value.(*product).SKU)
	}
}

// load stands in for the database: a few ms and a fresh ~1 KiB record.
func load(sku int) *product {
	time.Sleep(time.Duration(2+rand.Intn(4)) * time.Millisecond)
	return &product{SKU: sku, Title: fmt.Sprintf("Product %d", sku), Desc: lwload.Payload(700 + rand.Intn(600))}
}

func main() {
	lwload.Init()
	cache := &lru{ll: list.New(), m: make(map[int]*list.Element)}
	api := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/product", func(w http.ResponseWriter, r *http.Request) {
		var sku int
		fmt.Sscanf(r.URL.Query().Get("sku"), "%d", &sku)
		p, ok := cache.get(sku)
		if !ok {
			p = load(sku)
			cache.put(p)
		}
		fmt.Fprintf(w, "%d %s %d\n", p.SKU, p.Title, len(p.Desc))
	})
	go func() {
		_ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}).Serve(api)
	}()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	url := "http://" + api.Addr().String() + "/product?sku="
	lwload.Drive(lwload.Diurnal(250, 0.35, 4*time.Minute), 128, func() {
		resp, err := client.Get(url + fmt.Sprint(rand.Intn(universe)))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
