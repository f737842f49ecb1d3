// SPDX-License-Identifier: Apache-2.0

// ok-ttl-cache: healthy control, an expiring cache. A pricing API caches
// rendered price sheets (2-8 KiB each) per (customer, catalogue page) in a
// plain map under a mutex, with a 90 s TTL: a lookup that finds a fresh
// entry serves it, otherwise the sheet is rendered and inserted. A
// background sweeper deletes expired entries every 5 s. New keys arrive at
// a steady (diurnal) rate, so the cache, and the heap, grow for about one
// TTL after start and then hold a steady state that follows the traffic
// curve; nothing is retained past its TTL.
package main

import (
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"sync"
	"time"

	"lwbench/lwload"
)

const ttl = 90 * time.Second

type entry struct {
	sheet   []byte
	expires time.Time
}

type ttlCache struct {
	mu      sync.Mutex
	entries map[string]*entry
	hits    int64
	misses  int64
}

func (c *ttlCache) get(k string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[k]
	if e == nil || time.Now().After(e.expires) {
		c.misses++
		return nil
	}
	c.hits++
	return e.sheet
}

func (c *ttlCache) put(k string, v []byte) {
	c.mu.Lock()
	c.entries[k] = &entry{sheet: v, expires: time.Now().Add(ttl)}
	c.mu.Unlock()
}

// sweep removes expired entries every 5 s.
func (c *ttlCache) sweep() {
	for {
		time.Sleep(5 * time.Second)
		now := time.Now()
		c.mu.Lock()
		for k, e := range c.entries {
			if now.After(e.expires) {
				delete(c.entries, k)
			}
		}
		n := len(c.entries)
		c.mu.Unlock()
		_ = n
	}
}

func (c *ttlCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// render builds a price sheet for the page.
func render(customer, page string) []byte {
	n := 2048 + rand.Intn(6144)
	b := make([]byte, n)
	x := uint64(len(customer)*31+len(page)) | 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = '0' + byte(x%10)
	}
	time.Sleep(time.Duration(5+rand.Intn(20)) * time.Millisecond)
	return b
}

func main() {
	lwload.Init()
	cache := &ttlCache{entries: make(map[string]*entry)}
	go cache.sweep()
	api := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/prices", func(w http.ResponseWriter, r *http.Request) {
		cust, page := r.URL.Query().Get("customer"), r.URL.Query().Get("page")
		k := cust + "/" + page
		sheet := cache.get(k)
		if sheet == nil {
			sheet = render(cust, page)
			cache.put(k, sheet)
		}
		_, _ = w.Write(sheet[:64])
	})
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(api) }()
	go func() {
		for {
			time.Sleep(30 * time.Second)
			fmt.Printf("cache entries %d\n", cache.size())
		}
	}()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	url := "http://" + api.Addr().String() + "/prices"
	// Customers come and go: the key space drifts, most lookups are misses
	// on new keys, some repeat within the TTL.
	lwload.Drive(lwload.Diurnal(40, 0.3, 4*time.Minute), 128, func() {
		t := int(lwload.Elapsed().Seconds())
		cust := fmt.Sprintf("c%06d", t/2*7+rand.Intn(40))
		resp, err := client.Get(fmt.Sprintf("%s?customer=%s&page=%d", url, cust, rand.Intn(20)))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
