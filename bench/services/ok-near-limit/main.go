// SPDX-License-Identifier: Apache-2.0

// ok-near-limit: healthy control. A geo-lookup service holds a big
// in-memory table (~165 MiB, pointer-free) in a container limited to
// 256 MiB, refreshes slices of it all the time and serves requests that
// allocate; GOMEMLIMIT (debug.SetMemoryLimit, 210 MiB) keeps the GC cycle
// under the limit. The working set saws between ~70% and ~85% of the limit
// forever: close to the limit, but flat.
package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"lwbench/lwload"
)

const (
	chunk  = 1 << 20
	chunks = 165
)

type table struct {
	mu     sync.RWMutex
	chunks [][]byte
}

func (t *table) refresh(i int) {
	c := make([]byte, chunk)
	rand.Read(c)
	t.mu.Lock()
	t.chunks[i] = c
	t.mu.Unlock()
}

func (t *table) lookup(k uint32) uint64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	c := t.chunks[int(k)%chunks]
	off := int(k>>8) % (chunk - 8)
	return binary.LittleEndian.Uint64(c[off:])
}

func main() {
	lwload.Init()
	debug.SetMemoryLimit(210 << 20)
	t := &table{chunks: make([][]byte, chunks)}
	for i := range t.chunks {
		t.refresh(i)
	}
	go func() { // background refresh: ~2 MiB/s of replaced table data
		for {
			time.Sleep(time.Duration(300+rand.Intn(400)) * time.Millisecond)
			t.refresh(rand.Intn(chunks))
		}
	}()
	api := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/geo", func(w http.ResponseWriter, r *http.Request) {
		var ip uint32
		fmt.Sscanf(r.URL.Query().Get("ip"), "%d", &ip)
		scratch := make([]byte, 8192+rand.Intn(32768)) // per-request churn
		scratch[0] = byte(t.lookup(ip))
		fmt.Fprintf(w, "%d %d\n", ip, scratch[0])
	})
	go func() {
		_ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}).Serve(api)
	}()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	url := "http://" + api.Addr().String() + "/geo?ip="
	lwload.Drive(lwload.Diurnal(80, 0.4, 4*time.Minute), 64, func() {
		resp, err := client.Get(url + fmt.Sprint(rand.Uint32()))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
