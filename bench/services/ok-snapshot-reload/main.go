// SPDX-License-Identifier: Apache-2.0

// ok-snapshot-reload: healthy control, a large double-buffered snapshot.
// An edge authorization service answers "may this API key call this
// route?" from an in-memory snapshot of the policy database: ~70,000 API
// keys, each with its tenant, plan, scopes and per-route limits (a map of
// pointer-rich records, ~30 MiB live). Every 60-120 s it downloads a fresh
// export from the policy service (the peer), builds a complete new
// snapshot next to the one that is serving, swaps an atomic pointer and
// lets the old one go.
//
// During each rebuild, two snapshots are live at once and the download
// and parse add their own garbage, so the heap goal roughly doubles; after
// the swap the old snapshot is garbage, but the runtime hands the freed
// pages back to the OS only gradually. The working set therefore climbs
// steeply over the first minutes (initial load, then the first rebuild, on
// top of the ordinary request churn) to a high plateau, about 3-4x the
// snapshot, and then stays there, stepping a little up and down at each
// reload. Goroutines stay flat. Nothing leaks: the snapshot is replaced,
// never accumulated (its size wobbles by a few per cent from one export
// to the next).
package main

import (
	"bufio"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"lwbench/lwload"
)

type routeLimit struct {
	route string
	rps   int
	burst int
}

type grant struct {
	key    string
	tenant string
	plan   string
	scopes []string
	limits []routeLimit
	note   string
}

type snapshot struct {
	version int
	grants  map[string]*grant
	loaded  time.Time
}

type authz struct {
	cur     atomic.Value // *snapshot
	source  string
	client  *http.Client
	checks  int64
	allowed int64
}

// reload downloads the export and builds a new snapshot beside the old one.
func (a *authz) reload(version int) error {
	resp, err := a.client.Get(a.source + "/export?v=" + strconv.Itoa(version))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	next := &snapshot{version: version, grants: make(map[string]*grant, 72000), loaded: time.Now()}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// key tenant plan scope,scope,... route:rps:burst;... note
		f := strings.SplitN(sc.Text(), " ", 6)
		if len(f) != 6 {
			continue
		}
		g := &grant{key: f[0], tenant: f[1], plan: f[2], scopes: strings.Split(f[3], ","), note: f[5]}
		for _, rl := range strings.Split(f[4], ";") {
			p := strings.Split(rl, ":")
			if len(p) == 3 {
				rps, _ := strconv.Atoi(p[1])
				burst, _ := strconv.Atoi(p[2])
				g.limits = append(g.limits, routeLimit{route: p[0], rps: rps, burst: burst})
			}
		}
		next.grants[g.key] = g
	}
	if err := sc.Err(); err != nil {
		return err
	}
	a.cur.Store(next) // the previous snapshot becomes garbage
	return nil
}

func (a *authz) check(key, route string) bool {
	atomic.AddInt64(&a.checks, 1)
	s := a.cur.Load().(*snapshot)
	g := s.grants[key]
	if g == nil {
		return false
	}
	for _, l := range g.limits {
		if strings.HasPrefix(route, l.route) {
			atomic.AddInt64(&a.allowed, 1)
			return true
		}
	}
	return false
}

var routes = []string{"/v1/orders", "/v1/customers", "/v1/invoices", "/v1/payments", "/v2/search", "/v2/catalog", "/v1/webhooks", "/v1/reports"}
var scopes = []string{"read", "write", "admin", "billing", "export", "audit", "support"}

func keyName(i int) string { return fmt.Sprintf("ak_%08x", uint32(i)*2654435761) }

// peer is the policy service: /export streams the whole table (~70,000
// keys, the count wobbling by a few per cent between exports).
func peer() {
	ln := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/export", func(w http.ResponseWriter, r *http.Request) {
		v, _ := strconv.Atoi(r.URL.Query().Get("v"))
		n := 68000 + rand.Intn(4000)
		bw := bufio.NewWriterSize(w, 64<<10)
		for i := 0; i < n; i++ {
			h := fnv.New32a()
			fmt.Fprintf(h, "%d/%d", i, v)
			x := int(h.Sum32())
			fmt.Fprintf(bw, "%s tenant-%05d %s ", keyName(i), x%20000, []string{"free", "team", "business", "enterprise"}[x%4])
			for j := 0; j < 1+x%4; j++ {
				if j > 0 {
					bw.WriteByte(',')
				}
				bw.WriteString(scopes[(x>>j)%len(scopes)])
			}
			bw.WriteByte(' ')
			for j := 0; j < 1+(x>>3)%3; j++ {
				if j > 0 {
					bw.WriteByte(';')
				}
				fmt.Fprintf(bw, "%s:%d:%d", routes[(x>>(j+5))%len(routes)], 10+x%90, 20+x%200)
			}
			fmt.Fprintf(bw, " rotated-%d-by-ops\n", v)
		}
		_ = bw.Flush()
	})
	go func() { _ = http.Serve(ln, mux) }()
	lwload.PeerAddr("policy", ln.Addr().String())
	lwload.PeerReady()
}

func main() {
	lwload.Init()
	if *lwload.Role == "peer" {
		peer()
	}
	a := &authz{source: "http://" + lwload.StartPeer()["policy"], client: &http.Client{Timeout: 60 * time.Second}}
	if err := a.reload(1); err != nil {
		lwload.Fatalf("initial load: %v", err)
	}
	go func() {
		for v := 2; ; v++ {
			time.Sleep(time.Duration(60+rand.Intn(61)) * time.Second)
			t0 := time.Now()
			if err := a.reload(v); err != nil {
				fmt.Printf("reload %d: %v (keeping the current snapshot)\n", v, err)
				continue
			}
			s := a.cur.Load().(*snapshot)
			fmt.Printf("snapshot v%d: %d keys in %v; checks %d, allowed %d\n", v, len(s.grants), time.Since(t0).Round(time.Millisecond),
				atomic.LoadInt64(&a.checks), atomic.LoadInt64(&a.allowed))
		}
	}()

	api := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/authorize", func(w http.ResponseWriter, r *http.Request) {
		if a.check(r.Header.Get("X-Api-Key"), r.URL.Query().Get("route")) {
			fmt.Fprintln(w, "allow")
			return
		}
		http.Error(w, "deny", http.StatusForbidden)
	})
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(api) }()

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	base := "http://" + api.Addr().String() + "/authorize?route="
	lwload.Drive(lwload.Diurnal(80, 0.4, 4*time.Minute), 256, func() {
		req, _ := http.NewRequest("GET", base+routes[rand.Intn(len(routes))]+"/"+strconv.Itoa(rand.Intn(1e6)), nil)
		req.Header.Set("X-Api-Key", keyName(rand.Intn(75000)))
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
