// SPDX-License-Identifier: Apache-2.0

// fleet: a fleet simulator for leakwatch's footprint benchmark and soak
// (issue 5 points 2 and 6). One process serves net/http/pprof-shaped
// endpoints for N simulated pods on loopback, each pod on its own IP
// (127.1.x.y; Linux routes all of 127.0.0.0/8 to lo) and port 6060, so the
// controller's "only the pod's own IP" rule holds.
//
// Every body is a REAL recorded profile: the traces in tests/fixtures/traces/
// and bench/results/raw/<service>/ (files <unix-seconds>-<kind>, recorded from
// real Go programs). A pod plays one trace: at any moment it serves the trace
// sample of its current time step (one step per -step of wall time, starting
// at a random offset, wrapping at the end), so leaking pods grow and healthy
// pods stay flat. goroutine?debug=1, goroutine?debug=2 and heap?debug=1 come
// from the latest recorded sample at or before the current step (debug=2 and
// heap1 were recorded less often); goroutineleak answers 404 "Unknown
// profile" as go1.19 does.
//
// A control API on 127.0.0.1 (-ctl) lists the pods and lets a driver reset a
// pod's trace (a container restart), switch its trace (a new pod on an old
// IP) or read the counters. Build: GO111MODULE=off go build -o fleet fleet.go
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type step struct {
	t          int64
	goroutine1 string // path, always set
	goroutine2 string // latest at or before this step
	heap1      string // latest at or before this step
	heapPB     string // latest at or before this step
}

type trace struct {
	Name       string `json:"name"`
	Dir        string `json:"dir"`
	Leak       bool   `json:"leak"`
	LimitBytes int64  `json:"limit_bytes"`
	Steps      int    `json:"steps"`
	steps      []step
}

type pod struct {
	Name   string `json:"name"`
	IP     string `json:"ip"`
	Port   int    `json:"port"`
	mu     sync.Mutex
	tr     *trace
	lastG1 time.Time
	start  time.Time
	offset int
}

type counters struct {
	g1, g2, heap1, heapPB, leak404, other, errs, bytes int64
}

// Time between two goroutine?debug=1 requests to the same pod, in 0.5 s
// buckets up to 120 s: shows whether every pod is scraped on schedule.
const gapBuckets = 241

var (
	gapMu   sync.Mutex
	gapHist [gapBuckets]int64
)

func recordGap(p *pod) {
	now := time.Now()
	p.mu.Lock()
	last := p.lastG1
	p.lastG1 = now
	p.mu.Unlock()
	if last.IsZero() {
		return
	}
	b := int(now.Sub(last) / (500 * time.Millisecond))
	if b >= gapBuckets {
		b = gapBuckets - 1
	}
	gapMu.Lock()
	gapHist[b]++
	gapMu.Unlock()
}

// gapPercentiles returns the 50/90/99/max gaps in seconds (bucket upper
// bounds) and how many gaps were seen.
func gapPercentiles() map[string]float64 {
	gapMu.Lock()
	h := gapHist
	gapMu.Unlock()
	var n int64
	for _, c := range h {
		n += c
	}
	out := map[string]float64{"count": float64(n)}
	if n == 0 {
		return out
	}
	for _, q := range []struct {
		k string
		f float64
	}{{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"max", 1.0}} {
		want := int64(q.f*float64(n) + 0.999999)
		var acc int64
		for i, c := range h {
			acc += c
			if acc >= want {
				out[q.k] = float64(i+1) * 0.5
				break
			}
		}
	}
	return out
}

var (
	stepDur time.Duration
	traces  []*trace
	byName  = map[string]*trace{}
	podsMu  sync.RWMutex
	pods    []*pod
	byIP    = map[string]*pod{}
	cnt     counters
)

// knownLeaks classifies the fixture traces, which have no meta.json.
var knownLeaks = map[string]bool{"chan-send": true, "http-transport": true, "heap-map": true}

func loadTrace(dir string) (*trace, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	byT := map[int64]map[string]string{}
	for _, e := range ents {
		n := e.Name()
		i := strings.IndexByte(n, '-')
		if i <= 0 {
			continue
		}
		t, err := strconv.ParseInt(n[:i], 10, 64)
		if err != nil {
			continue
		}
		if byT[t] == nil {
			byT[t] = map[string]string{}
		}
		byT[t][n[i+1:]] = filepath.Join(dir, n)
	}
	ts := make([]int64, 0, len(byT))
	for t, m := range byT {
		if m["goroutine.txt"] != "" {
			ts = append(ts, t)
		}
	}
	sort.Slice(ts, func(a, b int) bool { return ts[a] < ts[b] })
	tr := &trace{Name: filepath.Base(dir), Dir: dir, LimitBytes: 256 << 20}
	var g2, h1, hp string
	for _, t := range ts {
		m := byT[t]
		if m["goroutine2.txt"] != "" {
			g2 = m["goroutine2.txt"]
		}
		if m["heap1.txt"] != "" {
			h1 = m["heap1.txt"]
		}
		if m["heap.pb.gz"] != "" {
			hp = m["heap.pb.gz"]
		}
		tr.steps = append(tr.steps, step{t: t, goroutine1: m["goroutine.txt"], goroutine2: g2, heap1: h1, heapPB: hp})
	}
	if len(tr.steps) < 2 {
		return nil, fmt.Errorf("%s: fewer than 2 goroutine samples", dir)
	}
	// The first samples may lack heap1/debug=2 (recorded less often): fill
	// them from the first one recorded so every step answers.
	for i := len(tr.steps) - 2; i >= 0; i-- {
		s, n := &tr.steps[i], tr.steps[i+1]
		if s.goroutine2 == "" {
			s.goroutine2 = n.goroutine2
		}
		if s.heap1 == "" {
			s.heap1 = n.heap1
		}
		if s.heapPB == "" {
			s.heapPB = n.heapPB
		}
	}
	tr.Steps = len(tr.steps)
	tr.Leak = knownLeaks[tr.Name] || strings.HasPrefix(tr.Name, "leak-")
	if b, err := os.ReadFile(filepath.Join(dir, "meta.json")); err == nil {
		var meta struct {
			Kind       string `json:"kind"`
			LimitBytes int64  `json:"limit_bytes"`
		}
		if json.Unmarshal(b, &meta) == nil {
			tr.Leak = meta.Kind == "leak"
			if meta.LimitBytes > 0 {
				tr.LimitBytes = meta.LimitBytes
			}
		}
	}
	return tr, nil
}

// findTraces returns every directory under the roots that holds a trace.
func findTraces(roots []string) []string {
	var dirs []string
	for _, r := range roots {
		ents, err := os.ReadDir(r)
		if err != nil {
			log.Printf("fleet: %v", err)
			continue
		}
		for _, e := range ents {
			if !e.IsDir() || strings.HasPrefix(e.Name(), "_") {
				continue
			}
			d := filepath.Join(r, e.Name())
			if m, _ := filepath.Glob(filepath.Join(d, "*-goroutine.txt")); len(m) >= 2 {
				dirs = append(dirs, d)
			}
		}
	}
	return dirs
}

func podIP(base net.IP, i int) string {
	// 250 pods per /24 (host bytes 1..250), then the next third octet.
	ip := base.To4()
	third := int(ip[2]) + i/250
	return fmt.Sprintf("%d.%d.%d.%d", ip[0], ip[1]+byte(third/256), third%256, 1+i%250)
}

func (p *pod) current() (*trace, step, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	el := int(time.Since(p.start) / stepDur)
	i := (p.offset + el) % len(p.tr.steps)
	return p.tr, p.tr.steps[i], i
}

func serveFile(w http.ResponseWriter, path, ctype string) {
	b, err := os.ReadFile(path)
	if err != nil {
		atomic.AddInt64(&cnt.errs, 1)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	n, _ := w.Write(b)
	atomic.AddInt64(&cnt.bytes, int64(n))
}

func podHandler(w http.ResponseWriter, r *http.Request) {
	la, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	host := ""
	if la != nil {
		host, _, _ = net.SplitHostPort(la.String())
	}
	podsMu.RLock()
	p := byIP[host]
	podsMu.RUnlock()
	if p == nil {
		atomic.AddInt64(&cnt.other, 1)
		http.NotFound(w, r)
		return
	}
	_, s, _ := p.current()
	debug := r.URL.Query().Get("debug")
	const text = "text/plain; charset=utf-8"
	switch r.URL.Path {
	case "/debug/pprof/goroutine":
		switch debug {
		case "1":
			atomic.AddInt64(&cnt.g1, 1)
			recordGap(p)
			serveFile(w, s.goroutine1, text)
		case "2":
			atomic.AddInt64(&cnt.g2, 1)
			serveFile(w, s.goroutine2, text)
		default:
			atomic.AddInt64(&cnt.other, 1)
			http.Error(w, "fleet: goroutine proto was not recorded", http.StatusNotImplemented)
		}
	case "/debug/pprof/heap":
		if debug == "1" {
			atomic.AddInt64(&cnt.heap1, 1)
			serveFile(w, s.heap1, text)
		} else {
			atomic.AddInt64(&cnt.heapPB, 1)
			w.Header().Set("Content-Disposition", `attachment; filename="heap"`)
			serveFile(w, s.heapPB, "application/octet-stream")
		}
	case "/debug/pprof/goroutineleak":
		// go1.19's net/http/pprof for a profile it does not know
		atomic.AddInt64(&cnt.leak404, 1)
		w.Header().Set("Content-Type", text)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, "Unknown profile\n")
	default:
		atomic.AddInt64(&cnt.other, 1)
		http.NotFound(w, r)
	}
}

func podJSON(p *pod) map[string]interface{} {
	tr, _, i := p.current()
	return map[string]interface{}{"name": p.Name, "ip": p.IP, "port": p.Port, "trace": tr.Name,
		"leak": tr.Leak, "limit_bytes": tr.LimitBytes, "step": i, "steps": len(tr.steps)}
}

func ctlHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	q := r.URL.Query()
	lookup := func() *pod {
		podsMu.RLock()
		defer podsMu.RUnlock()
		return byIP[q.Get("ip")]
	}
	switch r.URL.Path {
	case "/pods":
		podsMu.RLock()
		out := make([]map[string]interface{}, 0, len(pods))
		for _, p := range pods {
			out = append(out, podJSON(p))
		}
		podsMu.RUnlock()
		enc.Encode(out)
	case "/traces":
		enc.Encode(traces)
	case "/stats":
		enc.Encode(map[string]int64{"goroutine1": atomic.LoadInt64(&cnt.g1),
			"goroutine2": atomic.LoadInt64(&cnt.g2), "heap1": atomic.LoadInt64(&cnt.heap1),
			"heap_pb": atomic.LoadInt64(&cnt.heapPB), "goroutineleak_404": atomic.LoadInt64(&cnt.leak404),
			"other": atomic.LoadInt64(&cnt.other), "errors": atomic.LoadInt64(&cnt.errs),
			"bytes": atomic.LoadInt64(&cnt.bytes)})
	case "/gaps":
		enc.Encode(gapPercentiles())
	case "/reset", "/set":
		// POST /reset?ip=X: the container restarted: its trace starts over.
		// POST /set?ip=X&trace=NAME[&offset=K]: another workload on this IP.
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		p := lookup()
		if p == nil {
			http.Error(w, `{"error":"no such pod ip"}`, http.StatusNotFound)
			return
		}
		p.mu.Lock()
		if r.URL.Path == "/set" {
			tr := byName[q.Get("trace")]
			if tr == nil {
				p.mu.Unlock()
				http.Error(w, `{"error":"no such trace"}`, http.StatusNotFound)
				return
			}
			p.tr = tr
		}
		p.start = time.Now()
		p.lastG1 = time.Time{}
		p.offset, _ = strconv.Atoi(q.Get("offset"))
		if p.offset < 0 || p.offset >= len(p.tr.steps) {
			p.offset = 0
		}
		p.mu.Unlock()
		enc.Encode(podJSON(p))
	default:
		http.NotFound(w, r)
	}
}

func main() {
	n := flag.Int("n", 1000, "number of pods")
	baseS := flag.String("base", "127.1.0.0", "pod i gets base + /24 i/250, host byte 1+i%250")
	port := flag.Int("port", 6060, "pprof port on every pod IP")
	roots := flag.String("traces", "tests/fixtures/traces,bench/results/raw", "comma-separated roots holding trace directories")
	leakFrac := flag.Float64("leak-frac", 0.1, "fraction of pods playing a leaking trace")
	flag.DurationVar(&stepDur, "step", 30*time.Second, "wall time per recorded sample")
	seed := flag.Int64("seed", 1, "random seed (trace choice, start offsets)")
	ctl := flag.String("ctl", "127.0.0.1:0", "control API address")
	ctlFile := flag.String("ctl-file", "", "write the control API address here once listening")
	statsEvery := flag.Duration("stats-every", 60*time.Second, "log counters this often (0 = never)")
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.LUTC)
	if stepDur <= 0 || *n <= 0 || *n > 60000 {
		log.Fatal("fleet: bad -step or -n")
	}
	base := net.ParseIP(*baseS)
	if base == nil || base.To4() == nil || base.To4()[0] != 127 {
		log.Fatal("fleet: -base must be an IPv4 loopback address")
	}
	var leaks, flats []*trace
	for _, d := range findTraces(strings.Split(*roots, ",")) {
		tr, err := loadTrace(d)
		if err != nil {
			log.Printf("fleet: skip %v", err)
			continue
		}
		if byName[tr.Name] != nil {
			continue
		}
		traces = append(traces, tr)
		byName[tr.Name] = tr
		if tr.Leak {
			leaks = append(leaks, tr)
		} else {
			flats = append(flats, tr)
		}
	}
	if len(leaks) == 0 || len(flats) == 0 {
		log.Fatal("fleet: need at least one leaking and one flat trace")
	}
	rng := rand.New(rand.NewSource(*seed))
	nleak := int(float64(*n)**leakFrac + 0.5)
	perm := rng.Perm(*n)
	isLeak := make([]bool, *n)
	for _, i := range perm[:nleak] {
		isLeak[i] = true
	}
	now := time.Now()
	for i := 0; i < *n; i++ {
		var tr *trace
		if isLeak[i] {
			tr = leaks[rng.Intn(len(leaks))]
		} else {
			tr = flats[rng.Intn(len(flats))]
		}
		p := &pod{Name: fmt.Sprintf("fleet-%05d", i), IP: podIP(base, i), Port: *port, tr: tr,
			start: now, offset: rng.Intn(len(tr.steps))}
		pods = append(pods, p)
		byIP[p.IP] = p
	}
	srv := &http.Server{Handler: http.HandlerFunc(podHandler), ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout: 90 * time.Second, ErrorLog: log.New(os.Stderr, "fleet-http: ", log.LstdFlags|log.LUTC)}
	for _, p := range pods {
		l, err := net.Listen("tcp4", net.JoinHostPort(p.IP, strconv.Itoa(p.Port)))
		if err != nil {
			log.Fatalf("fleet: listen %s: %v", p.IP, err)
		}
		go func() {
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Printf("fleet: serve: %v", err)
			}
		}()
	}
	cl, err := net.Listen("tcp4", *ctl)
	if err != nil {
		log.Fatalf("fleet: control listen: %v", err)
	}
	if *ctlFile != "" {
		tmp := *ctlFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(cl.Addr().String()+"\n"), 0o644); err != nil {
			log.Fatal(err)
		}
		if err := os.Rename(tmp, *ctlFile); err != nil {
			log.Fatal(err)
		}
	}
	log.Printf("fleet: %d pods (%d leaking) on %s..%s:%d, %d traces (%d leaking), step %v, control %s",
		*n, nleak, pods[0].IP, pods[len(pods)-1].IP, *port, len(traces), len(leaks), stepDur, cl.Addr())
	if *statsEvery > 0 {
		go func() {
			for range time.Tick(*statsEvery) {
				log.Printf("fleet: served goroutine1=%d goroutine2=%d heap1=%d heap_pb=%d goroutineleak_404=%d other=%d errors=%d bytes=%d",
					atomic.LoadInt64(&cnt.g1), atomic.LoadInt64(&cnt.g2), atomic.LoadInt64(&cnt.heap1),
					atomic.LoadInt64(&cnt.heapPB), atomic.LoadInt64(&cnt.leak404), atomic.LoadInt64(&cnt.other),
					atomic.LoadInt64(&cnt.errs), atomic.LoadInt64(&cnt.bytes))
			}
		}()
	}
	log.Fatal(http.Serve(cl, http.HandlerFunc(ctlHandler)))
}
