// SPDX-License-Identifier: Apache-2.0

// leak-transport-per-request: seed incident 1. A routing API resolves each
// request's target through a service registry (a consul-like peer) with a
// NEW http.Transport per lookup. The body is read and closed, but each
// Transport keeps its idle keep-alive connection, so one
// net/http.(*persistConn).readLoop (IO wait) and one writeLoop (select),
// created by net/http.(*Transport).dialConn, pile up per request until the
// container is OOM-killed. Fix: one Transport for the process.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"time"

	"lwbench/lwload"
)

type endpoint struct {
	Node    string            `json:"Node"`
	Address string            `json:"Address"`
	Port    int               `json:"Port"`
	Tags    []string          `json:"Tags"`
	Meta    map[string]string `json:"Meta"`
}

func peer() {
	// The registry: answers health queries, keeps connections open forever
	// (no IdleTimeout), like a registry that trusts its clients.
	ln := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/health/service/", func(w http.ResponseWriter, r *http.Request) {
		n := 2 + rand.Intn(4)
		eps := make([]endpoint, n)
		for i := range eps {
			eps[i] = endpoint{Node: fmt.Sprintf("node-%d", rand.Intn(50)), Address: fmt.Sprintf("10.0.%d.%d", rand.Intn(8), rand.Intn(250)),
				Port: 8000 + rand.Intn(100), Tags: []string{"v1", "primary"}, Meta: map[string]string{"zone": "a"}}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(eps)
	})
	go func() { _ = http.Serve(ln, mux) }()
	lwload.PeerAddr("registry", ln.Addr().String())
	lwload.PeerReady()
}

var registry string

// lookup resolves a service. BUG (incident 1): a Transport per call.
func lookup(svc string) ([]endpoint, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: 4, ResponseHeaderTimeout: 3 * time.Second}
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + registry + "/v1/health/service/" + svc)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var eps []endpoint
	err = json.Unmarshal(body, &eps)
	return eps, err
}

func main() {
	lwload.Init()
	if *lwload.Role == "peer" {
		peer()
	}
	registry = lwload.StartPeer()["registry"]

	api := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/route", func(w http.ResponseWriter, r *http.Request) {
		eps, err := lookup(r.URL.Query().Get("svc"))
		if err != nil || len(eps) == 0 {
			http.Error(w, "no upstream", http.StatusBadGateway)
			return
		}
		ep := eps[rand.Intn(len(eps))]
		fmt.Fprintf(w, "%s:%d\n", ep.Address, ep.Port)
	})
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(api) }()

	// Load: callers of the routing API, through one pooled client.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	url := "http://" + api.Addr().String() + "/route?svc="
	lwload.Drive(lwload.Diurnal(10, 0.35, 4*time.Minute), 64, func() {
		resp, err := client.Get(url + fmt.Sprintf("svc-%d", rand.Intn(40)))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
