// SPDX-License-Identifier: Apache-2.0

// leak-grpc-dial: seed incident 2. A stock-check API calls an inventory
// backend over gRPC. When a call fails it "reconnects" by calling grpc.Dial
// again and drops the old *grpc.ClientConn without Close. The backend
// (peer) fails a share of calls (overload, slow replies past the deadline),
// so every failure leaks a whole client connection: its transport reader,
// loopy writer, balancer and resolver goroutines and the 32 KiB buffers
// from transport.newBufWriter and bufio.NewReaderSize. Fix: dial once,
// let gRPC reconnect, Close any connection you replace.
package main

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"lwbench/lwload"
)

// inventory is the peer's gRPC service (the health API stands in for a
// real one: no generated code needed). It fails ~12% of calls.
type inventory struct {
	healthpb.UnimplementedHealthServer
}

func (inventory) Check(ctx context.Context, in *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	switch p := rand.Float64(); {
	case p < 0.06:
		return nil, status.Error(codes.Unavailable, "inventory overloaded")
	case p < 0.12:
		select { // slower than the client's deadline
		case <-time.After(400 * time.Millisecond):
		case <-ctx.Done():
		}
		return nil, ctx.Err()
	}
	time.Sleep(time.Duration(rand.Intn(3)) * time.Millisecond)
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func peer() {
	ln := lwload.Listen()
	s := grpc.NewServer()
	healthpb.RegisterHealthServer(s, inventory{})
	go func() { _ = s.Serve(ln) }()
	lwload.PeerAddr("inventory", ln.Addr().String())
	lwload.PeerReady()
}

type stockClient struct {
	addr string
	mu   sync.Mutex
	cc   *grpc.ClientConn
}

func (c *stockClient) conn() (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cc == nil {
		cc, err := grpc.Dial(c.addr, grpc.WithInsecure())
		if err != nil {
			return nil, err
		}
		c.cc = cc
	}
	return c.cc, nil
}

// redial replaces the connection after a failure. BUG (incident 2): the
// old ClientConn is dropped without Close.
func (c *stockClient) redial(old *grpc.ClientConn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cc != old {
		return
	}
	cc, err := grpc.Dial(c.addr, grpc.WithInsecure())
	if err == nil {
		c.cc = cc
	}
}

func (c *stockClient) check(item string) error {
	cc, err := c.conn()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{Service: item})
	if err != nil {
		c.redial(cc)
	}
	return err
}

func main() {
	lwload.Init()
	if *lwload.Role == "peer" {
		peer()
	}
	sc := &stockClient{addr: lwload.StartPeer()["inventory"]}

	api := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/stock", func(w http.ResponseWriter, r *http.Request) {
		if err := sc.check(r.URL.Query().Get("item")); err != nil {
			http.Error(w, "inventory: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "in stock")
	})
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(api) }()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	url := "http://" + api.Addr().String() + "/stock?item="
	lwload.Drive(lwload.Diurnal(25, 0.35, 4*time.Minute), 64, func() {
		resp, err := client.Get(url + fmt.Sprintf("sku-%d", rand.Intn(1000)))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
