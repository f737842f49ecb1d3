// SPDX-License-Identifier: Apache-2.0

// leak-body-unclosed: seed incident 4. An order service forwards each order
// as an event with http.Post to an ingest service (the peer), checks the
// status code and never closes resp.Body. The Transport is shared (the
// default client), but a response whose body is neither read to EOF nor
// closed pins its connection: the persistConn's readLoop waits forever for
// the body to be consumed, its writeLoop waits in select, and the next
// request dials a new connection. Sockets, buffers and goroutines pile up
// until the container is killed. Fix: always close resp.Body.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"time"

	"lwbench/lwload"
)

func peer() {
	ln := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/events", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"accepted":true,"id":"%016x","queue_depth":%d}`+"\n", rand.Int63(), rand.Intn(500))
	})
	go func() { _ = http.Serve(ln, mux) }()
	lwload.PeerAddr("ingest", ln.Addr().String())
	lwload.PeerReady()
}

type order struct {
	ID       int64    `json:"id"`
	Customer string   `json:"customer"`
	Items    []string `json:"items"`
	Total    float64  `json:"total"`
	Created  string   `json:"created"`
}

var ingest string

// publish sends the order event. BUG (incident 4): resp.Body is never closed.
func publish(o *order) error {
	b, _ := json.Marshal(o)
	resp, err := http.Post("http://"+ingest+"/v1/events", "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ingest: %s", resp.Status)
	}
	return nil
}

func main() {
	lwload.Init()
	if *lwload.Role == "peer" {
		peer()
	}
	ingest = lwload.StartPeer()["ingest"]

	api := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/orders", func(w http.ResponseWriter, r *http.Request) {
		var o order
		if err := json.NewDecoder(r.Body).Decode(&o); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		o.ID = rand.Int63()
		o.Created = time.Now().UTC().Format(time.RFC3339)
		if err := publish(&o); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(&o)
	})
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(api) }()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	url := "http://" + api.Addr().String() + "/orders"
	lwload.Drive(lwload.Diurnal(8, 0.35, 4*time.Minute), 64, func() {
		o := order{Customer: fmt.Sprintf("cust-%d", rand.Intn(10000)), Total: float64(rand.Intn(50000)) / 100}
		for i := 0; i < 1+rand.Intn(5); i++ {
			o.Items = append(o.Items, fmt.Sprintf("sku-%d", rand.Intn(1000)))
		}
		b, _ := json.Marshal(&o)
		resp, err := client.Post(url, "application/json", bytes.NewReader(b))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
