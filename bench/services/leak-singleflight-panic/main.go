// SPDX-License-Identifier: Apache-2.0

// leak-singleflight-panic: a hand-rolled singleflight whose leader panics.
// An avatar service (GET /avatar/<user>?s=32|48|64) serves thumbnails of
// user pictures: an LRU cache of rendered thumbnails in front, and on a
// miss the handler takes a 256 KiB decode buffer from a sync.Pool, then
// collapses concurrent misses for the same key with its own flightGroup
// (a copy of golang.org/x/sync/singleflight from before it handled
// panics): the first caller (the leader) fetches the original from the
// object store, decodes it and resamples it; the others wait on the
// call's done channel.
//
// The bug: about 3% of the originals are truncated uploads (an old mobile
// client cut them off; the header still declares the full size), and the
// resampler indexes past the end of the data and panics. net/http's
// per-connection recover catches the panic, logs it and closes that
// connection, so the service looks fine, but the leader never reaches
// `delete(g.m, key); close(c.done)`: the call stays in the map, and every
// later request for that key (the broken avatars of the most popular
// profiles are requested all day) blocks forever in
// main.(*flightGroup).Do on `<-c.done`, which does not watch the
// request's context. Each stuck handler goroutine keeps its decode buffer
// from the pool (so the pool allocates a new one for the next request),
// its connection (fd, bufio buffers) and its stack; the client gave up
// after 5 s. Stuck goroutines accumulate in proportion to the request rate
// (~2% of requests) until the container is OOM-killed; a few hundred fds.
// Stack of the leak: runtime.chanrecv1 <- main.(*flightGroup).Do <-
// main.(*avatarServer).serveAvatar <- net/http...(*conn).serve; heap: the
// pool's New (main.newAvatarServer.funcN) <- sync.(*Pool).Get <-
// main.(*avatarServer).serveAvatar.
// Fix: `defer` the cleanup in Do (and turn a panic into an error, as
// x/sync/singleflight does now), and select on ctx.Done() while waiting.
package main

import (
	"container/list"
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
func (g *flightGroup) Do(key string, fn func() ([]byte, error)) ([]byte, error) {
	g.mu.Lock()
	if g.m == nil {
		g.m = make(map[string]*call)
	}
	if c, ok := g.m[key]; ok {
		g.mu.Unlock()
		<-c.done
		return c.val, c.err
	}
	c := &call{done: make(chan struct{})}
	g.m[key] = c
	g.mu.Unlock()

	c.val, c.err = fn() // BUG: a panic in fn skips the cleanup below

	g.mu.Lock()
	delete(g.m, key)
	g.mu.Unlock()
	close(c.done)
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
	key string
	val []byte
}

func (c *lru) get(k string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*lruEntry).val, true
	}
	return nil, false
}

func (c *lru) add(k string, v []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok {
		e.Value.(*lruEntry).val = v
		c.ll.MoveToFront(e)
		return
	}
	c.m[k] = c.ll.PushFront(&lruEntry{k, v})
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
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
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
	thumb, err := s.flight.Do(key, func() ([]byte, error) { return s.render(user, size, *scratch) })
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

// serveOriginal returns a generated picture; ~3% of them are truncated.
func serveOriginal(w http.ResponseWriter, r *http.Request) {
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
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
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
