// SPDX-License-Identifier: Apache-2.0

// ok-blocking-query: healthy control, long-poll watches (consul-style
// blocking queries). A configuration store serves keys over HTTP
// (/v1/kv/<key>); its clients, a fleet of service agents (the peer), each
// watch one key with a blocking query: GET /v1/kv/<key>?index=N&wait=300s
// returns as soon as the key's modify index passes N, or when the wait
// (plus up to 1/16 jitter) runs out, and the agent immediately asks again
// with the new index. Deploy tooling writes ~2 keys per second, almost all
// of them a handful of hot feature-flag keys; most agents watch their own
// service's config, which hardly ever changes, so their queries run the
// full wait (5 minutes for most agents, 1-2 minutes for older ones).
//
// Why it looks like a leak: the fleet boots over the first ~3 minutes, and
// every agent parks one handler goroutine (plus net/http's background
// reader) in a select on the key's watch channel for up to five minutes.
// The number of parked goroutines and the memory they hold (stacks,
// connection buffers, timers) climb steadily for the first several
// minutes, and the goroutines at the top of the profile are minutes old
// and all sit in the same place. But the population is bounded by the
// fleet size: each wait ends (timeout, change, or the agent being scaled
// in and its connection closed), and the fleet follows a diurnal curve
// between ~55% and 100% of its 1,100 agents. Twice or so per run the store
// loses leadership for a few seconds and fails every pending query at
// once, after which the agents come back within seconds. Nothing leaks.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"lwbench/lwload"
)

const (
	numKeys   = 400
	hotKeys   = 12
	fleetSize = 1100
	maxWait   = 10 * time.Minute
)

type entry struct {
	mu      sync.Mutex
	index   uint64
	value   []byte
	changed chan struct{} // closed and replaced on every write
}

type store struct {
	mu      sync.RWMutex
	keys    map[string]*entry
	raftIdx uint64

	leaderMu sync.Mutex
	lost     chan struct{} // closed while there is no leader

	waiting  int64
	served   int64
	timeouts int64
	woken    int64
	writes   int64
}

func keyName(i int) string {
	if i < hotKeys {
		return "flags/" + strconv.Itoa(i)
	}
	return "config/svc-" + strconv.Itoa(i) + "/runtime"
}

func (s *store) put(key string, val []byte) uint64 {
	s.mu.RLock()
	e := s.keys[key]
	s.mu.RUnlock()
	if e == nil {
		return 0
	}
	idx := atomic.AddUint64(&s.raftIdx, 1)
	e.mu.Lock()
	e.index = idx
	e.value = val
	close(e.changed)
	e.changed = make(chan struct{})
	e.mu.Unlock()
	atomic.AddInt64(&s.writes, 1)
	return idx
}

func (s *store) leaderLost() chan struct{} {
	s.leaderMu.Lock()
	defer s.leaderMu.Unlock()
	return s.lost
}

// stepDown fails every pending blocking query, as a leader election does.
func (s *store) stepDown(d time.Duration) {
	s.leaderMu.Lock()
	close(s.lost)
	s.leaderMu.Unlock()
	time.Sleep(d)
	s.leaderMu.Lock()
	s.lost = make(chan struct{})
	s.leaderMu.Unlock()
}

func parseWait(v string) time.Duration {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 5 * time.Minute
	}
	if d > maxWait {
		d = maxWait
	}
	return d
}

// get serves a read, blocking while the key is not newer than ?index.
func (s *store) get(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.URL.Path, "/v1/kv/")
	if r.Method == http.MethodPut {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		idx := s.put(key, body)
		if idx == 0 {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "{\"index\":%d}\n", idx)
		return
	}
	s.mu.RLock()
	e := s.keys[key]
	s.mu.RUnlock()
	if e == nil {
		http.NotFound(w, r)
		return
	}
	atomic.AddInt64(&s.served, 1)
	min, _ := strconv.ParseUint(r.URL.Query().Get("index"), 10, 64)
	e.mu.Lock()
	idx, val, ch := e.index, e.value, e.changed
	e.mu.Unlock()
	if min > 0 && idx <= min {
		wait := parseWait(r.URL.Query().Get("wait"))
		wait += time.Duration(rand.Int63n(int64(wait) / 16))
		timer := time.NewTimer(wait)
		lost := s.leaderLost()
		atomic.AddInt64(&s.waiting, 1)
		select {
		case <-ch:
			atomic.AddInt64(&s.woken, 1)
		case <-timer.C:
			atomic.AddInt64(&s.timeouts, 1)
		case <-lost:
			timer.Stop()
			atomic.AddInt64(&s.waiting, -1)
			http.Error(w, "No cluster leader", http.StatusInternalServerError)
			return
		case <-r.Context().Done():
		}
		timer.Stop()
		atomic.AddInt64(&s.waiting, -1)
		e.mu.Lock()
		idx, val = e.index, e.value
		e.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Consul-Index", strconv.FormatUint(idx, 10))
	_, _ = w.Write(val)
}

// ---- peer: the agent fleet and the deploy tooling ----------------------

type agent struct {
	id   int
	mu   sync.Mutex
	conn net.Conn
}

func (a *agent) setConn(c net.Conn) {
	a.mu.Lock()
	a.conn = c
	a.mu.Unlock()
}

// kill closes the agent's connection (its pod is scaled in).
func (a *agent) kill() {
	a.mu.Lock()
	if a.conn != nil {
		a.conn.Close()
		a.conn = nil
	}
	a.mu.Unlock()
}

func (a *agent) run(addr string, target *int64) {
	rnd := rand.New(rand.NewSource(int64(a.id) * 7919))
	key := keyName(hotKeys + rnd.Intn(numKeys-hotKeys))
	if rnd.Intn(10) < 3 {
		key = keyName(rnd.Intn(hotKeys))
	}
	wait := "300s"
	switch rnd.Intn(20) {
	case 0, 1, 2:
		wait = "60s"
	case 3, 4, 5, 6:
		wait = "120s"
	}
	for {
		if int64(a.id) >= atomic.LoadInt64(target) {
			time.Sleep(time.Duration(1000+rand.Intn(2000)) * time.Millisecond)
			continue
		}
		time.Sleep(time.Duration(rand.Intn(3000)) * time.Millisecond) // boot
		c, err := net.Dial("tcp", addr)
		if err != nil {
			time.Sleep(2 * time.Second)
			continue
		}
		a.setConn(c)
		br := bufio.NewReaderSize(c, 2048)
		var index uint64
		for int64(a.id) < atomic.LoadInt64(target) {
			fmt.Fprintf(c, "GET /v1/kv/%s?index=%d&wait=%s HTTP/1.1\r\nHost: kv\r\nUser-Agent: agent/%d\r\n\r\n", key, index, wait, a.id)
			_ = c.SetReadDeadline(time.Now().Add(maxWait + time.Minute))
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				break
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				time.Sleep(time.Duration(1000+rand.Intn(4000)) * time.Millisecond)
				continue
			}
			if v, err := strconv.ParseUint(resp.Header.Get("X-Consul-Index"), 10, 64); err == nil {
				index = v
			}
		}
		a.kill()
	}
}

func peer(addr string) {
	var target int64
	agents := make([]*agent, fleetSize)
	for i := range agents {
		agents[i] = &agent{id: i}
		go agents[i].run(addr, &target)
	}
	// Fleet size: boots over ~3 minutes, then follows a diurnal curve
	// between ~55% and 100% of fleetSize; scaled-in agents are killed.
	go func() {
		phase := rand.Float64() * 2 * math.Pi
		for {
			t := lwload.Elapsed().Seconds()
			boot := math.Min(1, t/180)
			f := boot * (0.775 + 0.225*math.Sin(2*math.Pi*t/420+phase))
			n := int64(f * fleetSize)
			atomic.StoreInt64(&target, n)
			for i := int(n); i < fleetSize; i++ {
				agents[i].kill()
			}
			time.Sleep(2 * time.Second)
		}
	}()
	// Deploy tooling: ~2 writes per second, 90% of them to hot flags.
	client := &http.Client{Timeout: 10 * time.Second}
	go lwload.Drive(lwload.Diurnal(2, 0.3, 5*time.Minute), 8, func() {
		k := rand.Intn(hotKeys)
		if rand.Intn(10) == 0 {
			k = hotKeys + rand.Intn(numKeys-hotKeys)
		}
		val := fmt.Sprintf("{\"rev\":%d,\"payload\":\"%s\"}", time.Now().UnixNano(), lwload.Payload(100+rand.Intn(1500)))
		req, _ := http.NewRequest(http.MethodPut, "http://"+addr+"/v1/kv/"+keyName(k), strings.NewReader(val))
		resp, err := client.Do(req)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	})
	lwload.PeerReady()
}

func main() {
	lwload.Init()
	if *lwload.Role == "peer" {
		if len(flag.Args()) < 1 {
			lwload.Fatalf("peer: need the store address")
		}
		peer(flag.Args()[0])
	}
	s := &store{keys: make(map[string]*entry), lost: make(chan struct{})}
	for i := 0; i < numKeys; i++ {
		s.keys[keyName(i)] = &entry{changed: make(chan struct{})}
		s.put(keyName(i), []byte(fmt.Sprintf("{\"rev\":0,\"payload\":\"%s\"}", lwload.Payload(200+rand.Intn(1500)))))
	}
	ln := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/kv/", s.get)
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(ln) }()
	lwload.StartPeer(ln.Addr().String())
	// Leader elections: every 3-6 minutes, 2-5 s without a leader.
	go func() {
		for {
			time.Sleep(time.Duration(180+rand.Intn(180)) * time.Second)
			s.stepDown(time.Duration(2+rand.Intn(4)) * time.Second)
		}
	}()
	for {
		time.Sleep(30 * time.Second)
		fmt.Printf("waiting %d, served %d, woken %d, timed out %d, writes %d\n", atomic.LoadInt64(&s.waiting),
			atomic.LoadInt64(&s.served), atomic.LoadInt64(&s.woken), atomic.LoadInt64(&s.timeouts), atomic.LoadInt64(&s.writes))
	}
}
