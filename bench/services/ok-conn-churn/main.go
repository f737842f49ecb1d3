// SPDX-License-Identifier: Apache-2.0

// ok-conn-churn: healthy control, connection churn. A webhook relay sits
// between a fleet of callers that do not keep connections alive (one TCP
// connection per call, Connection: close) and a legacy backend (the peer)
// that closes every connection after one response. Each relayed call thus
// costs two fresh connections: the inbound one (a server conn goroutine,
// plus the in-process caller's transport goroutines) and the outbound one
// (the relay's transport read/write loops), all of which live only as long
// as the call. The backend takes 50 ms to ~1 s, so the number of goroutines
// in flight swings widely with the (diurnal, bursty) load, from tens to
// hundreds, and so do the connection buffers; but every connection is
// closed and every goroutine exits when its call ends. Nothing is retained.
package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"math/rand"
	"net/http"
	"time"

	"lwbench/lwload"
)

// peer is the legacy backend: keep-alives off, log-normal latency.
func peer() {
	ln := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		d := time.Duration(math.Exp(rand.NormFloat64()*0.7+math.Log(180))) * time.Millisecond
		if d > time.Second {
			d = time.Second
		}
		time.Sleep(d)
		fmt.Fprintf(w, `{"received":%d,"status":"queued"}`+"\n", n)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	srv.SetKeepAlivesEnabled(false)
	go func() { _ = srv.Serve(ln) }()
	lwload.PeerAddr("backend", ln.Addr().String())
	lwload.PeerReady()
}

var (
	backendURL string
	outbound   = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
)

func relay(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 256<<10))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req, _ := http.NewRequestWithContext(r.Context(), "POST", backendURL, bytes.NewReader(body))
	req.Header.Set("Content-Type", r.Header.Get("Content-Type"))
	req.Header.Set("X-Hook-Source", r.RemoteAddr)
	resp, err := outbound.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// bursty adds short traffic bursts (a caller retrying a batch) on top of
// the diurnal rate.
func bursty(rate func() float64) func() float64 {
	return func() float64 {
		r := rate()
		if int(lwload.Elapsed().Seconds())%47 < 6 {
			r *= 1.8
		}
		return r
	}
}

func main() {
	lwload.Init()
	if *lwload.Role == "peer" {
		peer()
	}
	backendURL = "http://" + lwload.StartPeer()["backend"] + "/hook"
	api := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/relay", relay)
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(api) }()

	callers := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	url := "http://" + api.Addr().String() + "/relay"
	lwload.Drive(bursty(lwload.Diurnal(110, 0.4, 4*time.Minute)), 1024, func() {
		body := lwload.Payload(512 + rand.Intn(8<<10))
		resp, err := callers.Post(url, "application/json", bytes.NewReader(body))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
