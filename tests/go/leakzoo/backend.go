// SPDX-License-Identifier: Apache-2.0

// Servers that the client-side leak scenarios talk to. Running them in a
// separate "-scenario backend" process keeps the leaking process's profile
// about the client side only (as in the real incidents, where the server
// was another service); each scenario can also start them in-process.

package main

import (
	"log"
	"net"
	"net/http"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func runBackend() {
	if *flagBackendHTTP == "" && *flagBackendGRPC == "" && *flagBackendSilent == "" {
		log.Fatal("backend: give at least one of -backend-http, -backend-grpc, -backend-silent")
	}
	if *flagBackendHTTP != "" {
		publish("http", startHTTPBackend(*flagBackendHTTP))
	}
	if *flagBackendGRPC != "" {
		publish("grpc", startGRPCBackend(*flagBackendGRPC))
	}
	if *flagBackendSilent != "" {
		publish("silent", startSilentBackend(*flagBackendSilent))
	}
}

// publish logs a backend address and, with -addr-file F, also writes it to
// F.<kind> so scripts can use port 0.
func publish(kind, addr string) {
	log.Printf("backend %s on %s", kind, addr)
	if *flagAddrFile != "" {
		writeAddrFile(*flagAddrFile+"."+kind, addr)
	}
}

// startHTTPBackend serves a small JSON document with keep-alive and no
// idle timeout, so client connections stay open as long as the client
// keeps them.
func startHTTPBackend(addr string) string {
	ln := listenLoopback("backend http", addr)
	body := payload(2048)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	srv := &http.Server{Handler: mux}
	go func() { log.Fatal(srv.Serve(ln)) }()
	return ln.Addr().String()
}

// startGRPCBackend serves the standard gRPC health service. Only the
// service "leakzoo" is known; checks for anything else fail with NotFound,
// which is what drives grpc-dial's "redial after failure" bug.
func startGRPCBackend(addr string) string {
	ln := listenLoopback("backend grpc", addr)
	s := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("leakzoo", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, hs)
	go func() { log.Fatal(s.Serve(ln)) }()
	return ln.Addr().String()
}

// startSilentBackend accepts TCP connections and never writes a byte, like
// a wedged SSH daemon: clients stall waiting for the server version line.
func startSilentBackend(addr string) string {
	ln := listenLoopback("backend silent", addr)
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				log.Fatal(err)
			}
			mu.Lock()
			held = append(held, c) // keep it open, never read or write
			mu.Unlock()
		}
	}()
	return ln.Addr().String()
}
