// SPDX-License-Identifier: Apache-2.0

// ok-load-ramp: healthy control, a traffic ramp. A media API answers each
// request by fetching the original object (256 KiB - 2 MiB) from a blob
// store (the peer) into memory, asking the policy service (same peer,
// 50 ms to ~1.5 s, log-normal) whether it may be served while holding it,
// then hashing and summarizing it. Traffic triples over ~5 minutes (a
// deploy shifting traffic onto this replica, or the morning peak) and then
// holds steady with small wobbles, so in-flight requests, their goroutines,
// pooled connections and buffers, and the heap all rise with the load for
// the first half of the window and then flatten. Nothing leaks: every
// request releases what it holds when it returns.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"math/rand"
	"net/http"
	"strconv"
	"time"

	"lwbench/lwload"
)

// peer is the blob store (fast) and the policy service (log-normal latency,
// median ~250 ms).
func peer() {
	ln := lwload.Listen()
	blob := lwload.Payload(2 << 20)
	mux := http.NewServeMux()
	mux.HandleFunc("/blobs/", func(w http.ResponseWriter, r *http.Request) {
		size, _ := strconv.Atoi(r.URL.Query().Get("size"))
		if size <= 0 || size > len(blob) {
			size = len(blob)
		}
		time.Sleep(time.Duration(5+rand.Intn(20)) * time.Millisecond)
		w.Header().Set("Content-Length", strconv.Itoa(size))
		_, _ = w.Write(blob[:size])
	})
	mux.HandleFunc("/policy", func(w http.ResponseWriter, r *http.Request) {
		d := time.Duration(math.Exp(rand.NormFloat64()*0.6+math.Log(250))) * time.Millisecond
		if d > 1500*time.Millisecond {
			d = 1500 * time.Millisecond
		}
		time.Sleep(d)
		fmt.Fprintln(w, `{"allow":true}`)
	})
	go func() { _ = http.Serve(ln, mux) }()
	lwload.PeerAddr("blobs", ln.Addr().String())
	lwload.PeerReady()
}

var (
	blobs   string
	backend = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
)

// describe fetches the object, checks the policy and returns a summary.
func describe(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	size := (256 + rand.Intn(1792)) << 10
	resp, err := backend.Get(fmt.Sprintf("http://%s/blobs/%s?size=%d", blobs, id, size))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if resp.ContentLength < 0 || resp.ContentLength > 8<<20 {
		resp.Body.Close()
		http.Error(w, "bad object size", http.StatusBadGateway)
		return
	}
	data := make([]byte, resp.ContentLength)
	_, err = io.ReadFull(resp.Body, data)
	resp.Body.Close()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	pol, err := backend.Get(fmt.Sprintf("http://%s/policy?id=%s&size=%d", blobs, id, len(data)))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	_, _ = io.Copy(io.Discard, pol.Body)
	pol.Body.Close()
	sum := sha256.Sum256(data)
	var hist [16]int
	for _, b := range data {
		hist[b&15]++
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":%q,"size":%d,"sha256":%q,"hist":%v}`+"\n", id, len(data), hex.EncodeToString(sum[:]), hist)
}

// ramp scales a rate function from 1x to 3x between 30 s and 330 s after
// start (smoothstep), then holds.
func ramp(rate func() float64) func() float64 {
	return func() float64 {
		x := (lwload.Elapsed().Seconds() - 30) / 300
		if x < 0 {
			x = 0
		} else if x > 1 {
			x = 1
		}
		return rate() * (1 + 2*x*x*(3-2*x))
	}
}

func main() {
	lwload.Init()
	if *lwload.Role == "peer" {
		peer()
	}
	blobs = lwload.StartPeer()["blobs"]
	api := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/describe", describe)
	go func() {
		_ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}).Serve(api)
	}()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	url := "http://" + api.Addr().String() + "/describe?id="
	lwload.Drive(ramp(lwload.Diurnal(15, 0.1, 4*time.Minute)), 512, func() {
		resp, err := client.Get(url + fmt.Sprintf("obj-%06d", rand.Intn(1e6)))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
