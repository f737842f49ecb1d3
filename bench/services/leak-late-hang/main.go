// SPDX-License-Identifier: Apache-2.0

// leak-late-hang: a goroutine leak that only starts after minutes of
// healthy operation. An order API checks each order against the tenant's
// quota before accepting it: the handler reads the order (8-32 KiB of
// JSON), then asks the quota service (the peer, a small TCP line protocol,
// "TAKE tenant n" -> "OK remaining") through a home-grown client with a
// pool of connections. The client sets a dial timeout ("we have a
// timeout") but no read deadline, and the handler does not pass its
// request context down.
//
// For the first ~2.5 minutes everything is fine: the quota service answers
// in 1-3 ms, the pool holds a handful of connections and memory is flat.
// Then the quota service wedges (its database failed over and the
// connection-holding goroutine waits on a lock that is never released): it
// still accepts connections and reads commands, but never answers again.
// From then on every order takes a connection (a new one: the pooled ones
// are all stuck), writes its command and blocks in IO wait in
// main.(*quotaClient).Take forever. The callers time out after 3 s and go
// away; the handler goroutines, their orders, their server connections and
// their quota connections stay. Goroutines and heap grow with the request
// rate until the container is OOM-killed, ~minutes after the dependency
// hung, with no error in the logs.
// Fix: c.SetReadDeadline before reading the reply (or derive it from the
// request context), and cap the connections of the pool.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"lwbench/lwload"
)

const hangAfter = 150 * time.Second

type qconn struct {
	c net.Conn
	r *bufio.Reader
}

type quotaClient struct {
	addr   string
	idle   chan *qconn
	dialed int64
	stuck  int64
}

func (q *quotaClient) get() (*qconn, error) {
	select {
	case c := <-q.idle:
		return c, nil
	default:
	}
	c, err := net.DialTimeout("tcp", q.addr, 500*time.Millisecond)
	if err != nil {
		return nil, err
	}
	atomic.AddInt64(&q.dialed, 1)
	return &qconn{c: c, r: bufio.NewReaderSize(c, 4<<10)}, nil
}

func (q *quotaClient) put(c *qconn) {
	select {
	case q.idle <- c:
	default:
		c.c.Close()
	}
}

// Take consumes n units of the tenant's quota and returns what remains.
// BUG: no read deadline; if the quota service never answers, Take never
// returns.
func (q *quotaClient) Take(tenant string, n int) (int64, error) {
	c, err := q.get()
	if err != nil {
		return 0, err
	}
	if _, err := fmt.Fprintf(c.c, "TAKE %s %d\n", tenant, n); err != nil {
		c.c.Close()
		return 0, err
	}
	atomic.AddInt64(&q.stuck, 1)
	line, err := c.r.ReadString('\n')
	atomic.AddInt64(&q.stuck, -1)
	if err != nil {
		c.c.Close()
		return 0, err
	}
	q.put(c)
	f := strings.Fields(line)
	if len(f) != 2 || f[0] != "OK" {
		return 0, fmt.Errorf("quota: %q", line)
	}
	return strconv.ParseInt(f[1], 10, 64)
}

type api struct {
	quota    *quotaClient
	accepted int64
}

func (a *api) order(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	lines := bytes.Count(body, []byte("\"sku\""))
	left, err := a.quota.Take(r.URL.Query().Get("tenant"), lines)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	if left < 0 {
		http.Error(w, "quota exceeded", http.StatusTooManyRequests)
		return
	}
	atomic.AddInt64(&a.accepted, 1)
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, "{\"lines\":%d,\"bytes\":%d,\"quota_left\":%d}\n", lines, len(body), left)
}

// wedged is closed never: once hung, the quota service waits on it forever.
var wedged = make(chan struct{})

// peer is the quota service: healthy for hangAfter, then it keeps reading
// commands but never answers again.
func peer() {
	ln := lwload.Listen()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			go func(c net.Conn) {
				defer c.Close()
				r := bufio.NewReader(c)
				left := int64(1 << 40)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if lwload.Elapsed() > hangAfter {
						<-wedged
					}
					f := strings.Fields(line)
					if len(f) == 3 {
						n, _ := strconv.ParseInt(f[2], 10, 64)
						left -= n
					}
					time.Sleep(time.Duration(500+rand.Intn(2500)) * time.Microsecond)
					fmt.Fprintf(c, "OK %d\n", left)
				}
			}(c)
		}
	}()
	lwload.PeerAddr("quota", ln.Addr().String())
	lwload.PeerReady()
}

func main() {
	lwload.Init()
	if *lwload.Role == "peer" {
		peer()
	}
	a := &api{quota: &quotaClient{addr: lwload.StartPeer()["quota"], idle: make(chan *qconn, 16)}}
	ln := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/orders", a.order)
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(ln) }()
	go func() {
		for {
			time.Sleep(30 * time.Second)
			fmt.Printf("accepted %d, quota conns dialed %d, waiting on quota %d\n",
				atomic.LoadInt64(&a.accepted), atomic.LoadInt64(&a.quota.dialed), atomic.LoadInt64(&a.quota.stuck))
		}
	}()

	// The callers: storefront and partner integrations (3 s timeout).
	var item bytes.Buffer
	for i := 0; item.Len() < 40<<10; i++ {
		fmt.Fprintf(&item, "{\"sku\":\"SKU-%06d\",\"qty\":%d,\"price\":\"%d.99\",\"note\":\"%s\"},", i*7919%1000000, 1+i%5, 3+i%90, strings.Repeat("x", 40+i%80))
	}
	items := item.Bytes()
	client := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	base := "http://" + ln.Addr().String() + "/orders?tenant="
	lwload.Drive(lwload.Diurnal(6, 0.35, 4*time.Minute), 512, func() {
		n := (8 + rand.Intn(25)) << 10
		body := make([]byte, 0, n+32)
		body = append(body, "{\"items\":["...)
		body = append(body, items[:n]...)
		body = append(body, "]}"...)
		resp, err := client.Post(base+fmt.Sprintf("t%03d", rand.Intn(200)), "application/json", bytes.NewReader(body))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
