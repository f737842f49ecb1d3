// SPDX-License-Identifier: Apache-2.0

// Network connection leaks: the patterns behind the seed incidents
// (new http.Transport per request, unclosed response bodies, grpc.Dial
// without Close, SSH handshakes without a deadline, an http.Server
// without timeouts). Each function below contains the bug on purpose.

package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func runHTTPTransport() {
	url := "http://" + targetOr(func() string { return startHTTPBackend("") }) + "/items"
	go leakLoop(func(i int) {
		if err := fetchWithNewTransport(url); err != nil {
			log.Printf("request %d: %v", i, err)
		}
	})
}

// fetchWithNewTransport is the incident-1 bug: a Transport (and its idle
// connection pool) per call. The body is read and closed, so the
// connection goes back to a pool nobody will ever use again; its
// readLoop/writeLoop goroutines and socket stay forever.
func fetchWithNewTransport(url string) error {
	client := &http.Client{Transport: &http.Transport{}}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return err
}

var sharedClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}

func runHTTPBody() {
	url := "http://" + targetOr(func() string { return startHTTPBackend("") }) + "/items"
	go leakLoop(func(i int) {
		code, err := statusOf(url)
		if err != nil {
			log.Printf("request %d: %v", i, err)
		} else if code != http.StatusOK {
			log.Printf("request %d: status %d", i, code)
		}
	})
}

// statusOf is the incident-4 bug: it only looks at the status code and
// never closes resp.Body, so the connection cannot be reused and its
// readLoop waits for the body to be consumed forever.
func statusOf(url string) (int, error) {
	resp, err := sharedClient.Get(url)
	if err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

func runGRPCDial() {
	target := targetOr(func() string { return startGRPCBackend("") })
	go leakLoop(func(i int) {
		if err := checkWithRedial(target); err != nil && i%50 == 0 {
			log.Printf("check %d: %v", i, err)
		}
	})
}

var grpcConn *grpc.ClientConn

// checkWithRedial is the incident-2 bug: after a failed call it dials a
// fresh ClientConn and drops the old one without Close. The health check
// asks for an unknown service, so every call fails and redials.
func checkWithRedial(target string) error {
	if grpcConn == nil {
		if err := redial(target); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := healthpb.NewHealthClient(grpcConn).Check(ctx, &healthpb.HealthCheckRequest{Service: "leakzoo.orders"})
	if err != nil {
		// BUG: the old connection is replaced but never closed.
		if rerr := redial(target); rerr != nil {
			return rerr
		}
	}
	return err
}

func redial(target string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := grpc.DialContext(ctx, target, grpc.WithInsecure(), grpc.WithBlock())
	if err != nil {
		return err
	}
	grpcConn = conn
	return nil
}

func runSSHHandshake() {
	target := targetOr(func() string { return startSilentBackend("") })
	go leakLoop(func(i int) {
		go runRemoteCommand(target, fmt.Sprintf("uptime #%d", i))
	})
}

// runRemoteCommand is the incident-3 bug: ClientConfig.Timeout covers only
// the TCP connect, not the SSH version exchange, so a server that accepts
// and then says nothing blocks this goroutine forever.
func runRemoteCommand(target, cmd string) {
	cfg := &ssh.ClientConfig{
		User:            "leakzoo",
		Auth:            []ssh.AuthMethod{ssh.Password("not-a-secret")},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         3 * time.Second,
	}
	client, err := ssh.Dial("tcp", target, cfg)
	if err != nil {
		log.Printf("ssh %s: %v", cmd, err)
		return
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		return
	}
	defer sess.Close()
	sess.Run(cmd)
}

// runServerIdle starts an http.Server with no ReadHeaderTimeout,
// ReadTimeout or IdleTimeout (the incident-5 server side) and opens client
// connections that never finish: some send nothing, some a partial header,
// some a whole keep-alive request and then idle. Each one parks a
// net/http.(*conn).serve goroutine in readRequest. The client side holds
// raw sockets without goroutines, so the profile shows the server only.
func runServerIdle() {
	ln := listenLoopback("server-idle", "")
	mux := http.NewServeMux()
	body := payload(512)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	srv := &http.Server{Handler: mux} // BUG: no timeouts at all
	go func() { log.Fatal(srv.Serve(ln)) }()
	addr := ln.Addr().String()

	go leakLoop(func(i int) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			log.Printf("dial %d: %v", i, err)
			return
		}
		switch i % 3 {
		case 0: // connect and send nothing
		case 1: // partial header, never finished
			io.WriteString(c, "GET /items HTTP/1.1\r\nHost: leakzoo\r\nUser-Agent: slow")
		case 2: // one complete keep-alive request, then silence
			io.WriteString(c, "GET /items HTTP/1.1\r\nHost: leakzoo\r\n\r\n")
		}
		idleMu.Lock()
		idleConns = append(idleConns, c)
		idleMu.Unlock()
	})
}

// idleConns keeps the client sockets reachable: an unreachable net.Conn is
// closed by its finalizer at the next GC, which would end the leak.
var (
	idleMu    sync.Mutex
	idleConns []net.Conn
)
