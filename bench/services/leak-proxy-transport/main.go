// SPDX-License-Identifier: Apache-2.0

// leak-proxy-transport: seed incident 5. A routing reverse proxy (like the
// Caddy "idproxy" plugin) picks an upstream per request and builds a fresh
// httputil.NewSingleHostReverseProxy with its own http.Transport every
// time, and its http.Server has no ReadHeaderTimeout/IdleTimeout. Its
// clients (the peer: a fleet of callers that each open a connection, make a
// few requests and then hold it idle, never closing it) leave one
// net/http.(*conn).serve goroutine per connection waiting in readRequest,
// plus the per-request Transports' buffers, until the proxy is OOM-killed.
// The upstream backends close idle connections after 1 s, so the proxy's
// own per-request Transport connections come and go. Fix: cache one
// ReverseProxy per upstream, and set ReadHeaderTimeout/IdleTimeout.
package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"lwbench/lwload"
)

func peer(proxyAddr string, rate func() float64) {
	// Holders of idle keep-alive connections to the proxy: each caller gets
	// its own Transport, does 1-4 requests and then keeps the connection.
	var mu sync.Mutex
	var keep []*http.Transport
	target := "http://" + proxyAddr + "/api/"
	lwload.Drive(rate, 64, func() {
		tr := &http.Transport{MaxIdleConnsPerHost: 1}
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		for i := 0; i < 1+rand.Intn(4); i++ {
			resp, err := c.Get(target + fmt.Sprintf("%d/items?id=%d", rand.Intn(8), rand.Intn(1e6)))
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			time.Sleep(time.Duration(rand.Intn(50)) * time.Millisecond)
		}
		mu.Lock()
		keep = append(keep, tr)
		mu.Unlock()
	})
}

func backend() string {
	ln := lwload.Listen()
	srv := &http.Server{IdleTimeout: time.Second, ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":%q,"price":%d,"stock":%d}`+"\n", r.URL.Query().Get("id"), rand.Intn(10000), rand.Intn(90))
		})}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String()
}

var upstreams []string

// proxyFor builds the proxy for one request's upstream. BUG (incident 5):
// a new ReverseProxy and Transport every time instead of one per upstream.
func proxyFor(id int) http.Handler {
	u, _ := url.Parse("http://" + upstreams[id%len(upstreams)])
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     90 * time.Second,
	}
	return rp
}

func main() {
	lwload.Init()
	rate := lwload.Diurnal(6, 0.35, 4*time.Minute)
	if *lwload.Role == "peer" {
		// The peer is both the upstream backends and the proxy's callers.
		// It learns the proxy address from its own argument.
		if len(flag.Args()) < 1 {
			lwload.Fatalf("peer needs the proxy address")
		}
		for i := 0; i < 3; i++ {
			lwload.PeerAddr(fmt.Sprintf("backend%d", i), backend())
		}
		go peer(flag.Args()[0], rate)
		lwload.PeerReady()
	}
	ln := lwload.Listen()
	addrs := lwload.StartPeer(ln.Addr().String())
	for i := 0; i < 3; i++ {
		upstreams = append(upstreams, addrs[fmt.Sprintf("backend%d", i)])
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		var id int
		fmt.Sscanf(r.URL.Path, "/api/%d/", &id)
		proxyFor(id).ServeHTTP(w, r)
	})
	// BUG (incident 5, part 2): no ReadHeaderTimeout / IdleTimeout.
	_ = (&http.Server{Handler: mux}).Serve(ln)
}
