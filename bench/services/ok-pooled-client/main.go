// SPDX-License-Identifier: Apache-2.0

// ok-pooled-client: healthy control, the fixed version of incidents 1 and 4
// under heavy traffic. One shared http.Transport (100 idle connections per
// host, 20 s idle timeout), every body drained and closed, 150-350
// requests/s to a backend peer with a diurnal swing. The connection pool
// (persistConn readLoop/writeLoop pairs) grows at the peak and shrinks in
// the trough, but is bounded: nothing leaks.
package main

import (
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"time"

	"lwbench/lwload"
)

func peer() {
	ln := lwload.Listen()
	go func() {
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(time.Duration(rand.Intn(40)) * time.Millisecond)
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"user":%q,"tier":%d,"flags":%q}`+"\n", r.URL.Query().Get("u"), rand.Intn(4), lwload.Payload(200+rand.Intn(800)))
		}))
	}()
	lwload.PeerAddr("profiles", ln.Addr().String())
	lwload.PeerReady()
}

func main() {
	lwload.Init()
	if *lwload.Role == "peer" {
		peer()
	}
	backend := lwload.StartPeer()["profiles"]
	shared := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        200,
		MaxIdleConnsPerHost: 100,
		IdleConnTimeout:     20 * time.Second,
	}}
	lwload.Drive(lwload.Diurnal(250, 0.4, 4*time.Minute), 400, func() {
		resp, err := shared.Get("http://" + backend + "/v1/profile?u=" + fmt.Sprint(rand.Intn(1e6)))
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	})
}
