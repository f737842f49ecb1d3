// SPDX-License-Identifier: Apache-2.0

// leak-reload-healthcheck: a mixed goroutine + heap leak that grows in
// irregular steps. An edge router (API gateway) gets its routing table
// from a control plane (the peer): it polls /v1/routes every 3 s and, when
// the version changed, compiles a new table (one regexp matcher and one
// latency histogram per route, 600 routes at first and more with every
// service added) and starts one active health checker goroutine per
// upstream cluster, which probes the cluster's endpoints every 15 s and
// marks them up or down in the table.
// Requests are routed with the current table (an atomic.Value).
//
// The bug: on reload the new table is swapped in and the old one is simply
// dropped, on the assumption that the GC frees it once in-flight requests
// are done with it. But the old table's health checkers are never stopped
// (table.close exists, but nothing on the swap path calls it), and each
// checker holds its table to write health into it. So every config change leaks ~20-30
// checker goroutines, parked in main.(*healthChecker).run between probes
// and created by main.(*router).apply, plus the whole compiled table
// allocated in main.(*router).apply (several MiB of regexps and
// histograms). Config changes come in bursts (deploy trains) with quiet
// gaps of a minute or two, and the table grows as services are added, so
// memory and goroutines climb in uneven steps, not a line; the probe load
// on the upstreams grows with every reload too. The container is
// OOM-killed after a dozen or so reloads.
// Fix: old := r.current.Swap(t); old.close() (after a drain delay).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"lwbench/lwload"
)

// ---- control-plane API -------------------------------------------------

type routeSpec struct {
	Name    string   `json:"name"`
	Prefix  string   `json:"prefix"`
	Pattern string   `json:"pattern"`
	Methods []string `json:"methods"`
	Cluster string   `json:"cluster"`
	Timeout int      `json:"timeout_ms"`
}

type clusterSpec struct {
	Name      string   `json:"name"`
	Endpoints []string `json:"endpoints"`
}

type config struct {
	Version  int           `json:"version"`
	Clusters []clusterSpec `json:"clusters"`
	Routes   []routeSpec   `json:"routes"`
}

// ---- the router -----------------------------------------------------------

type route struct {
	spec    routeSpec
	re      *regexp.Regexp
	cluster *cluster
	hist    []uint64 // latency histogram, 1 ms .. 10 s log buckets
	hits    uint64
	errors  uint64
}

type cluster struct {
	name      string
	endpoints []string
	mu        sync.Mutex
	healthy   map[string]bool
	lastProbe time.Time
}

type table struct {
	version  int
	byPrefix map[string][]*route
	clusters map[string]*cluster
	checkers []*healthChecker
}

func (t *table) close() {
	for _, hc := range t.checkers {
		close(hc.stop)
	}
}

type healthChecker struct {
	t       *table
	c       *cluster
	every   time.Duration
	stop    chan struct{}
	client  *http.Client
	cpAddr  string
	results []bool // recent probe results, for flap damping
}

var probes int64

// run probes the cluster's endpoints until stopped.
func (hc *healthChecker) run() {
	tick := time.NewTicker(hc.every)
	defer tick.Stop()
	for {
		select {
		case <-hc.stop:
			return
		case <-tick.C:
		}
		for _, ep := range hc.c.endpoints {
			ok := false
			resp, err := hc.client.Get("http://" + hc.cpAddr + "/healthz?ep=" + ep)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				ok = resp.StatusCode == http.StatusOK
			}
			atomic.AddInt64(&probes, 1)
			if len(hc.results) == cap(hc.results) {
				hc.results = append(hc.results[:0], hc.results[len(hc.results)/2:]...)
			}
			hc.results = append(hc.results, ok)
			hc.c.mu.Lock()
			hc.c.healthy[ep] = ok
			hc.c.lastProbe = time.Now()
			hc.c.mu.Unlock()
		}
	}
}

type router struct {
	current  atomic.Value // *table
	client   *http.Client
	cpAddr   string
	reloads  int64
	routed   int64
	notFound int64
}

// apply compiles cfg into a new table, starts its health checkers and
// makes it current.
func (r *router) apply(cfg *config) error {
	t := &table{version: cfg.Version, byPrefix: make(map[string][]*route), clusters: make(map[string]*cluster)}
	for _, cs := range cfg.Clusters {
		t.clusters[cs.Name] = &cluster{name: cs.Name, endpoints: cs.Endpoints, healthy: make(map[string]bool)}
	}
	for _, rs := range cfg.Routes {
		re, err := regexp.Compile(rs.Pattern)
		if err != nil {
			return fmt.Errorf("route %s: %v", rs.Name, err)
		}
		c := t.clusters[rs.Cluster]
		if c == nil {
			return fmt.Errorf("route %s: unknown cluster %s", rs.Name, rs.Cluster)
		}
		rt := &route{spec: rs, re: re, cluster: c, hist: make([]uint64, 160)}
		t.byPrefix[rs.Prefix] = append(t.byPrefix[rs.Prefix], rt)
	}
	for _, c := range t.clusters {
		hc := &healthChecker{t: t, c: c, every: 15 * time.Second, stop: make(chan struct{}),
			client: r.client, cpAddr: r.cpAddr, results: make([]bool, 0, 64)}
		t.checkers = append(t.checkers, hc)
		go hc.run()
	}
	// BUG: the previous table's checkers are never stopped; they keep it
	// (and themselves) alive forever.
	r.current.Store(t)
	atomic.AddInt64(&r.reloads, 1)
	return nil
}

// poll fetches the routing config whenever its version changes.
func (r *router) poll() {
	version := 0
	for {
		resp, err := r.client.Get("http://" + r.cpAddr + "/v1/routes?version=" + strconv.Itoa(version))
		if err == nil {
			if resp.StatusCode == http.StatusOK {
				cfg := new(config)
				if err := json.NewDecoder(resp.Body).Decode(cfg); err == nil {
					if err := r.apply(cfg); err != nil {
						fmt.Printf("reload %d rejected: %v\n", cfg.Version, err)
					} else {
						version = cfg.Version
					}
				}
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		time.Sleep(3 * time.Second)
	}
}

func (r *router) serve(w http.ResponseWriter, req *http.Request) {
	t, _ := r.current.Load().(*table)
	if t == nil {
		http.Error(w, "no routes yet", http.StatusServiceUnavailable)
		return
	}
	start := time.Now()
	p := req.URL.Path
	prefix := p
	if i := strings.IndexByte(p[1:], '/'); i >= 0 {
		if j := strings.IndexByte(p[i+2:], '/'); j >= 0 {
			prefix = p[:i+2+j]
		}
	}
	for _, rt := range t.byPrefix[prefix] {
		if !rt.re.MatchString(p) {
			continue
		}
		rt.cluster.mu.Lock()
		up := 0
		for _, ok := range rt.cluster.healthy {
			if ok {
				up++
			}
		}
		rt.cluster.mu.Unlock()
		atomic.AddUint64(&rt.hits, 1)
		atomic.AddInt64(&r.routed, 1)
		fmt.Fprintf(w, "{\"route\":%q,\"cluster\":%q,\"healthy_endpoints\":%d}\n", rt.spec.Name, rt.cluster.name, up)
		us := time.Since(start).Microseconds()
		b := 0
		for us > 1 && b < len(rt.hist)-1 {
			us >>= 1
			b++
		}
		atomic.AddUint64(&rt.hist[b], 1)
		return
	}
	atomic.AddInt64(&r.notFound, 1)
	http.NotFound(w, req)
}

// ---- peer: control plane + upstream health + client traffic -------------

var resources = []string{"orders", "items", "users", "carts", "invoices", "payments", "shipments", "reviews", "coupons", "stock", "prices", "images"}

type controlPlane struct {
	mu  sync.Mutex
	cfg *config
	raw []byte
}

func (cp *controlPlane) publish() {
	raw, _ := json.Marshal(cp.cfg)
	cp.raw = raw
}

// mutate makes the next config version: new services and routes are added
// (the table only grows over a run), some routes are changed.
func (cp *controlPlane) mutate() {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	c := cp.cfg
	c.Version++
	if rand.Intn(3) == 0 || len(c.Clusters) < 20 {
		name := "svc-" + strconv.Itoa(len(c.Clusters))
		var eps []string
		for i := 0; i < 2+rand.Intn(3); i++ {
			eps = append(eps, name+"-"+strconv.Itoa(i)+":8080")
		}
		c.Clusters = append(c.Clusters, clusterSpec{Name: name, Endpoints: eps})
	}
	add := 20 + rand.Intn(41)
	for i := 0; i < add; i++ {
		c.Routes = append(c.Routes, newRoute(len(c.Routes), c.Clusters[rand.Intn(len(c.Clusters))].Name))
	}
	for i := 0; i < 20; i++ {
		k := rand.Intn(len(c.Routes))
		c.Routes[k].Timeout = 100 + rand.Intn(5000)
	}
	cp.publish()
}

func newRoute(n int, cluster string) routeSpec {
	res := resources[n%len(resources)]
	api := "/api" + strconv.Itoa(n/len(resources)%40)
	prefix := api + "/" + res
	pattern := "^" + prefix + "/v[1-3]/[0-9a-f]+(/(items|lines|events|notes|history)(/[0-9]+)?)?$"
	return routeSpec{Name: "r" + strconv.Itoa(n), Prefix: prefix, Pattern: pattern,
		Methods: []string{"GET", "POST"}, Cluster: cluster, Timeout: 2000}
}

func peer() {
	cp := &controlPlane{cfg: &config{Version: 1}}
	for i := 0; i < 20; i++ {
		cp.cfg.Clusters = append(cp.cfg.Clusters, clusterSpec{Name: "svc-" + strconv.Itoa(i),
			Endpoints: []string{"svc-" + strconv.Itoa(i) + "-0:8080", "svc-" + strconv.Itoa(i) + "-1:8080"}})
	}
	for i := 0; i < 600; i++ {
		cp.cfg.Routes = append(cp.cfg.Routes, newRoute(i, cp.cfg.Clusters[rand.Intn(20)].Name))
	}
	cp.publish()

	mux := http.NewServeMux()
	mux.HandleFunc("/v1/routes", func(w http.ResponseWriter, req *http.Request) {
		v, _ := strconv.Atoi(req.URL.Query().Get("version"))
		cp.mu.Lock()
		cur, raw := cp.cfg.Version, cp.raw
		cp.mu.Unlock()
		if v == cur {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(raw)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, req *http.Request) {
		if rand.Intn(50) == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	ln := lwload.Listen()
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(ln) }()
	lwload.PeerAddr("cp", ln.Addr().String())

	// Deploy trains: two or three config changes 8-30 s apart, then a
	// quiet gap of 40-110 s.
	go func() {
		for {
			n := 2 + rand.Intn(2)
			for i := 0; i < n; i++ {
				time.Sleep(time.Duration(8+rand.Intn(23)) * time.Second)
				cp.mutate()
			}
			time.Sleep(time.Duration(40+rand.Intn(71)) * time.Second)
		}
	}()
	lwload.PeerReady()
}

// traffic is the client side of the router (run by the peer once the
// router's address is known).
func traffic(addr string) {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	go lwload.Drive(lwload.Diurnal(40, 0.4, 4*time.Minute), 64, func() {
		n := rand.Intn(600)
		res := resources[n%len(resources)]
		path := "/api" + strconv.Itoa(n/len(resources)%40) + "/" + res + "/v2/" + fmt.Sprintf("%010x", rand.Int63n(1<<40))
		if rand.Intn(2) == 0 {
			path += "/items/" + strconv.Itoa(rand.Intn(100000))
		}
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			time.Sleep(time.Second)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	})
}

func main() {
	lwload.Init()
	if *lwload.Role == "peer" {
		if len(flag.Args()) > 0 {
			traffic(flag.Args()[0])
			lwload.PeerReady()
		}
		peer()
	}
	ln := lwload.Listen()
	addrs := lwload.StartPeer()
	r := &router{cpAddr: addrs["cp"], client: &http.Client{Timeout: 5 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 16}}}
	mux := http.NewServeMux()
	mux.HandleFunc("/", r.serve)
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(ln) }()
	go r.poll()
	lwload.StartPeer(ln.Addr().String())
	for {
		time.Sleep(30 * time.Second)
		t, _ := r.current.Load().(*table)
		v := 0
		if t != nil {
			v = t.version
		}
		fmt.Printf("config version %d, reloads %d, routed %d, not found %d, probes %d\n", v,
			atomic.LoadInt64(&r.reloads), atomic.LoadInt64(&r.routed), atomic.LoadInt64(&r.notFound), atomic.LoadInt64(&probes))
	}
}
