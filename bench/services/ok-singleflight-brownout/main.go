// SPDX-License-Identifier: Apache-2.0

// ok-singleflight-brownout: healthy control, request coalescing during an
// origin brownout. The same avatar service as leak-singleflight-panic
// (GET /avatar/<user>?s=32|48|64): an LRU of rendered thumbnails (here
// with a 60 s TTL, so that new profile pictures show up within a minute),
// and on a miss the handler takes a 256 KiB decode buffer from a
// sync.Pool and collapses concurrent misses for the same key with its
// flightGroup. Here the flightGroup is the fixed one: the leader's
// cleanup is deferred (a panic on a truncated upload becomes an error for
// every caller) and the waiters select on the request's context.
//
// Why it looks like a leak: the object store has brownouts (a rebalancing
// storage node): its latency creeps up from ~30 ms to ~6 s over five
// minutes starting at 90 s, stays there for a minute and recovers at once;
// a second, smaller one ramps up to ~5 s between minutes 13 and 16. While
// the latency climbs, every miss waits longer, so the number of handler
// goroutines parked in main.(*flightGroup).Do under
// main.(*avatarServer).serveAvatar, each holding its decode buffer and its
// connection, climbs for minutes, exactly where the leak's goroutines
// sit, and the heap grows with them (buffers allocated by the pool's New
// under serveAvatar). But each wait ends when the origin answers (or the
// client's 20 s timeout cancels it), so the population is bounded by
// rate x latency and drains within seconds when the origin recovers. The
// working set peaks at about half the limit (the GC goal set at the peak
// keeps it there for a minute or two) and comes back down. Nothing leaks.
package main

import (
	"container/list"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"lwbench/lwload"
)

const (
	scratchSize  = 256 << 10
	cacheEntries = 1500
	hotUsers     = 1000
	tailUsers    = 60000
)

// ---- singleflight ------------------------------------------------------

type call struct {
	done chan struct{}
	val  []byte
	err  error
}

type flightGroup struct {
	mu sync.Mutex
	m  map[string]*call
}

// Do runs fn once per key at a time; concurrent callers share the result.
// A caller whose context ends stops waiting; a panic in fn becomes an error.
func (g *flightGroup) Do(ctx context.Context, key string, fn func() ([]byte, error)) (v []byte, err error) {
	g.mu.Lock()
	if g.m == nil {
		g.m = make(map[string]*call)
	}
	if c, ok := g.m[key]; ok {
		g.mu.Unlock()
		select {
		case <-c.done:
			return c.val, c.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c := &call{done: make(chan struct{})}
	g.m[key] = c
	g.mu.Unlock()

	defer func() {
		if r := recover(); r != nil {
			c.val, c.err = nil, fmt.Errorf("render %s: panic: %v", key, r)
			v, err = c.val, c.err
		}
		g.mu.Lock()
		delete(g.m, key)
		g.mu.Unlock()
		close(c.done)
	}()
	c.val, c.err = fn()
	return c.val, c.err
}

func (g *flightGroup) pending() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.m)
}

// ---- thumbnail cache ---------------------------------------------------

type lru struct {
	mu  sync.Mutex
	max int
	ll  *list.List
	m   map[string]*list.Element
}

type lruEntry struct {
	key     string
	val     []byte
	expires time.Time
}

const cacheTTL = 60 * time.Second

func (c *lru) get(k string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok {
		ent := e.Value.(*lruEntry)
		if time.Now().After(ent.expires) {
			c.ll.Remove(e)
			delete(c.m, k)
			return nil, false
		}
		c.ll.MoveToFront(e)
		return ent.val, true
	}
	return nil, false
}

func (c *lru) add(k string, v []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok {
		e.Value.(*lruEntry).val = v
		e.Value.(*lruEntry).expires = time.Now().Add(cacheTTL)
		c.ll.MoveToFront(e)
		return
	}
	c.m[k] = c.ll.PushFront(&lruEntry{k, v, time.Now().Add(cacheTTL)})
	for c.ll.Len() > c.max {
		e := c.ll.Back()
		c.ll.Remove(e)
		delete(c.m, e.Value.(*lruEntry).key)
	}
}

// ---- the service -------------------------------------------------------

type avatarServer struct {
	origin string
	client *http.Client
	cache  *lru
	flight flightGroup
	bufs   sync.Pool

	requests int64
	hits     int64
	renders  int64
	errors   int64
}

func newAvatarServer(origin string) *avatarServer {
	s := &avatarServer{
		origin: origin,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		cache:  &lru{max: cacheEntries, ll: list.New(), m: make(map[string]*list.Element)},
	}
	s.bufs.New = func() interface{} {
		b := make([]byte, scratchSize)
		return &b
	}
	return s
}

var errNotFound = errors.New("no such avatar")

// render fetches the original into scratch, decodes its header (magic,
// width, height, then RGB rows) and resamples it to size x size.
func (s *avatarServer) render(user string, size int, scratch []byte) ([]byte, error) {
	atomic.AddInt64(&s.renders, 1)
	resp, err := s.client.Get(s.origin + "/orig/" + user)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, errNotFound
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("origin: %s", resp.Status)
	}
	n, err := io.ReadFull(resp.Body, scratch)
	if err != nil && err != io.ErrUnexpectedEOF {
		return nil, err
	}
	src := scratch[:n]
	if n < 8 || string(src[:4]) != "AVI1" {
		return nil, fmt.Errorf("bad original for %s", user)
	}
	w, h := int(binary.BigEndian.Uint16(src[4:])), int(binary.BigEndian.Uint16(src[6:]))
	if w == 0 || h == 0 {
		return nil, fmt.Errorf("empty original for %s", user)
	}
	out := make([]byte, 8+size*size*3)
	copy(out, "AVI1")
	binary.BigEndian.PutUint16(out[4:], uint16(size))
	binary.BigEndian.PutUint16(out[6:], uint16(size))
	px := src[8:]
	for y := 0; y < size; y++ {
		sy := y * h / size
		for x := 0; x < size; x++ {
			sx := x * w / size
			i := (sy*w + sx) * 3 // trusts the header: panics on a truncated upload
			o := 8 + (y*size+x)*3
			out[o], out[o+1], out[o+2] = px[i], px[i+1], px[i+2]
		}
	}
	return out, nil
}

func (s *avatarServer) serveAvatar(w http.ResponseWriter, r *http.Request) {
	atomic.AddInt64(&s.requests, 1)
	user := strings.TrimPrefix(r.URL.Path, "/avatar/")
	size, _ := strconv.Atoi(r.URL.Query().Get("s"))
	if user == "" || (size != 32 && size != 48 && size != 64) {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	key := user + "@" + strconv.Itoa(size)
	if b, ok := s.cache.get(key); ok {
		atomic.AddInt64(&s.hits, 1)
		w.Header().Set("Content-Type", "image/x-avi")
		_, _ = w.Write(b)
		return
	}
	scratch := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(scratch)
	thumb, err := s.flight.Do(r.Context(), key, func() ([]byte, error) { return s.render(user, size, *scratch) })
	if err != nil {
		atomic.AddInt64(&s.errors, 1)
		if err == errNotFound {
			http.NotFound(w, r)
			return
		}
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	s.cache.add(key, thumb)
	w.Header().Set("Content-Type", "image/x-avi")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(thumb)
}

// ---- peer: the object store and the web/app clients --------------------

func userHash(user string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(user))
	return h.Sum32()
}

// originLatency is the object store's latency at t seconds: two
// brownouts that creep up over minutes and end at once.
func originLatency(t float64) time.Duration {
	base := 0.03
	switch {
	case t >= 90 && t < 390:
		base += 6 * (t - 90) / 300
	case t >= 390 && t < 450:
		base += 6
	case t >= 780 && t < 960:
		base += 5 * (t - 780) / 180
	case t >= 960 && t < 1020:
		base += 5
	}
	return time.Duration(base * (0.7 + 0.6*rand.Float64()) * float64(time.Second))
}

// serveOriginal returns a generated picture; ~3% of them are truncated.
func serveOriginal(w http.ResponseWriter, r *http.Request) {
	time.Sleep(originLatency(lwload.Elapsed().Seconds()))
	user := strings.TrimPrefix(r.URL.Path, "/orig/")
	hv := userHash(user)
	if hv%50 == 7 {
		http.NotFound(w, r)
		return
	}
	dim := 96 + int(hv>>8)%160
	b := make([]byte, 8+dim*dim*3)
	copy(b, "AVI1")
	binary.BigEndian.PutUint16(b[4:], uint16(dim))
	binary.BigEndian.PutUint16(b[6:], uint16(dim))
	c := byte(hv)
	for i := 8; i < len(b); i++ {
		b[i] = c + byte(i/97)
	}
	if (hv>>4)%33 == 0 { // truncated upload: header says dim x dim
		b = b[:8+len(b)/3]
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(b)
}

func peer(addr string) {
	ln := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/orig/", serveOriginal)
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(ln) }()
	lwload.PeerAddr("origin", ln.Addr().String())
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	go lwload.Drive(lwload.Diurnal(35, 0.4, 5*time.Minute), 600, func() {
		user := "u" + strconv.Itoa(rand.Intn(hotUsers))
		if rand.Intn(10) < 3 {
			user = "u" + strconv.Itoa(hotUsers+rand.Intn(tailUsers))
		}
		size := []int{32, 48, 48, 48, 64}[rand.Intn(5)]
		resp, err := client.Get("http://" + addr + "/avatar/" + user + "?s=" + strconv.Itoa(size))
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
			lwload.Fatalf("peer: need the service address")
		}
		peer(flag.Args()[0])
	}
	ln := lwload.Listen()
	addrs := lwload.StartPeer(ln.Addr().String())
	s := newAvatarServer("http://" + addrs["origin"])
	mux := http.NewServeMux()
	mux.HandleFunc("/avatar/", s.serveAvatar)
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(ln) }()
	for {
		time.Sleep(30 * time.Second)
		fmt.Printf("requests %d, cache hits %d, renders %d, errors %d, pending flights %d\n", atomic.LoadInt64(&s.requests),
			atomic.LoadInt64(&s.hits), atomic.LoadInt64(&s.renders), atomic.LoadInt64(&s.errors), s.flight.pending())
	}
}
