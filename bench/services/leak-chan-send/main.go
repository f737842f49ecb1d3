// SPDX-License-Identifier: Apache-2.0

// leak-chan-send: the "timeout leak" of the LeakProf catalogue. A quote API
// asks a pricing engine for a quote in a goroutine and waits at most 80 ms
// for the answer on an UNBUFFERED channel. When the engine is slower the
// handler returns 504 and nobody ever receives: the worker blocks forever
// in "chan send", keeping its quote (a few KiB) alive. Engine latency
// follows a heavy-tailed distribution, so a steady share of requests leaks.
// Fix: make(chan quote, 1) (or select on ctx.Done() in the sender).
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand"
	"net/http"
	"time"

	"lwbench/lwload"
)

type quote struct {
	Symbol string
	Bids   []float64
	Asks   []float64
	Notes  []byte
}

// price computes a quote; latency is log-normal (median ~30 ms, long tail).
func price(sym string) *quote {
	time.Sleep(time.Duration(math.Exp(rand.NormFloat64()*0.9+math.Log(30))) * time.Millisecond)
	q := &quote{Symbol: sym, Bids: make([]float64, 256), Asks: make([]float64, 256), Notes: lwload.Payload(2048 + rand.Intn(4096))}
	for i := range q.Bids {
		q.Bids[i] = 100 + rand.Float64()
		q.Asks[i] = 101 + rand.Float64()
	}
	return q
}

// fetchQuote BUG: unbuffered channel; the sender leaks when we time out.
func fetchQuote(sym string, timeout time.Duration) (*quote, error) {
	ch := make(chan *quote)
	go func() {
		ch <- price(sym)
	}()
	select {
	case q := <-ch:
		return q, nil
	case <-time.After(timeout):
		return nil, fmt.Errorf("pricing engine timed out")
	}
}

func main() {
	lwload.Init()
	api := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/quote", func(w http.ResponseWriter, r *http.Request) {
		q, err := fetchQuote(r.URL.Query().Get("sym"), 80*time.Millisecond)
		if err != nil {
			http.Error(w, err.Error(), http.StatusGatewayTimeout)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]interface{}{"sym": q.Symbol, "bid": q.Bids[0], "ask": q.Asks[0]})
	})
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(api) }()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	url := "http://" + api.Addr().String() + "/quote?sym="
	lwload.Drive(lwload.Diurnal(40, 0.35, 4*time.Minute), 128, func() {
		resp, err := client.Get(url + fmt.Sprintf("S%03d", rand.Intn(500)))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
