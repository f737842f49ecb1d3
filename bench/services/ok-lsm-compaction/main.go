// SPDX-License-Identifier: Apache-2.0

// ok-lsm-compaction: healthy control, a retention window that fills up,
// with flushes and compactions on top. A small in-memory metrics store
// (the hot tier of a monitoring pipeline) ingests samples from collectors
// (POST /write, line protocol: `metric,host=..,core=.. value timestamp`,
// ~250 lines per batch) and serves dashboards (GET /query). Samples go to
// a memtable (per-series slices); at 200,000 samples the memtable is
// frozen and flushed into an immutable sorted segment (level 0); every
// four level-0 segments are merged into one level-1 segment by a k-way
// merge, and segments older than the retention (3 minutes here, the last
// hours in production) are dropped whole.
//
// Why it looks like a leak: for the first five minutes or so nothing is
// ever dropped, so the heap climbs steadily with the ingest rate (like an
// append-only log), with sawteeth from flushes (the frozen memtable and
// the new segment coexist) and larger ones from compactions (four segments
// plus the merged one). Allocation is heavy all the time: request bodies,
// per-series appends, segment building, query scans. But the data is
// bounded by rate x retention: once the window is full, every compaction
// is followed by whole level-1 segments expiring, and memory oscillates
// around a plateau that follows the diurnal ingest rate. The series
// registry is bounded too (a fixed fleet of hosts). Nothing leaks.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"lwbench/lwload"
)

const (
	memtableLimit = 200000
	mergeFanIn    = 4
	retention     = 3 * time.Minute
)

type sample struct {
	ts int64
	v  float64
}

// segment is an immutable run of samples sorted by (series, ts).
type segment struct {
	level        int
	minTs, maxTs int64
	series       []uint32
	ts           []int64
	vals         []float64
}

func (s *segment) len() int { return len(s.ts) }

// find returns the index range of series id.
func (s *segment) find(id uint32) (int, int) {
	lo := sort.Search(len(s.series), func(i int) bool { return s.series[i] >= id })
	hi := sort.Search(len(s.series), func(i int) bool { return s.series[i] > id })
	return lo, hi
}

type db struct {
	mu       sync.RWMutex
	seriesID map[string]uint32
	names    []string
	mem      map[uint32][]sample
	memN     int
	l0, l1   []*segment

	flushes, compactions, expired int64
	ingested, queries             int64
}

func newDB() *db {
	return &db{seriesID: make(map[string]uint32), mem: make(map[uint32][]sample)}
}

// ingest parses one line-protocol batch into the memtable.
func (d *db) ingest(body []byte) (int, error) {
	n := 0
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		sp := bytes.IndexByte(line, ' ')
		sp2 := bytes.LastIndexByte(line, ' ')
		if sp <= 0 || sp2 <= sp {
			continue
		}
		v, err1 := strconv.ParseFloat(string(line[sp+1:sp2]), 64)
		ts, err2 := strconv.ParseInt(string(line[sp2+1:]), 10, 64)
		if err1 != nil || err2 != nil {
			return n, fmt.Errorf("bad line %q", line)
		}
		id, ok := d.seriesID[string(line[:sp])]
		if !ok {
			id = uint32(len(d.names))
			name := string(line[:sp])
			d.seriesID[name] = id
			d.names = append(d.names, name)
		}
		d.mem[id] = append(d.mem[id], sample{ts, v})
		d.memN++
		n++
	}
	atomic.AddInt64(&d.ingested, int64(n))
	if d.memN >= memtableLimit {
		frozen := d.mem
		d.mem = make(map[uint32][]sample, len(frozen))
		d.memN = 0
		d.l0 = append(d.l0, flush(frozen))
		atomic.AddInt64(&d.flushes, 1)
	}
	return n, nil
}

// flush turns a frozen memtable into a level-0 segment.
func flush(m map[uint32][]sample) *segment {
	ids := make([]uint32, 0, len(m))
	total := 0
	for id, ss := range m {
		ids = append(ids, id)
		total += len(ss)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	s := &segment{series: make([]uint32, 0, total), ts: make([]int64, 0, total), vals: make([]float64, 0, total),
		minTs: 1<<63 - 1}
	for _, id := range ids {
		ss := m[id]
		sort.Slice(ss, func(i, j int) bool { return ss[i].ts < ss[j].ts })
		for _, x := range ss {
			s.series = append(s.series, id)
			s.ts = append(s.ts, x.ts)
			s.vals = append(s.vals, x.v)
			if x.ts < s.minTs {
				s.minTs = x.ts
			}
			if x.ts > s.maxTs {
				s.maxTs = x.ts
			}
		}
	}
	return s
}

// merge k-way merges sorted segments into one of the next level.
func merge(in []*segment, level int) *segment {
	total := 0
	out := &segment{level: level, minTs: 1<<63 - 1}
	for _, s := range in {
		total += s.len()
		if s.minTs < out.minTs {
			out.minTs = s.minTs
		}
		if s.maxTs > out.maxTs {
			out.maxTs = s.maxTs
		}
	}
	out.series = make([]uint32, 0, total)
	out.ts = make([]int64, 0, total)
	out.vals = make([]float64, 0, total)
	pos := make([]int, len(in))
	for {
		best := -1
		for k, s := range in {
			if pos[k] >= s.len() {
				continue
			}
			if best < 0 {
				best = k
				continue
			}
			b := in[best]
			if s.series[pos[k]] < b.series[pos[best]] ||
				(s.series[pos[k]] == b.series[pos[best]] && s.ts[pos[k]] < b.ts[pos[best]]) {
				best = k
			}
		}
		if best < 0 {
			return out
		}
		s, i := in[best], pos[best]
		out.series = append(out.series, s.series[i])
		out.ts = append(out.ts, s.ts[i])
		out.vals = append(out.vals, s.vals[i])
		pos[best]++
	}
}

// maintain compacts level 0 and applies the retention, every few seconds.
func (d *db) maintain() {
	for {
		time.Sleep(3 * time.Second)
		d.mu.RLock()
		var in []*segment
		if len(d.l0) >= mergeFanIn {
			in = append(in, d.l0[:mergeFanIn]...)
		}
		d.mu.RUnlock()
		if in != nil {
			out := merge(in, 1) // outside the lock: ingest goes on
			d.mu.Lock()
			d.l0 = append(d.l0[:0], d.l0[mergeFanIn:]...)
			d.l1 = append(d.l1, out)
			d.mu.Unlock()
			atomic.AddInt64(&d.compactions, 1)
		}
		cutoff := time.Now().Add(-retention).UnixNano() / 1e6
		d.mu.Lock()
		keep := d.l1[:0]
		for _, s := range d.l1 {
			if s.maxTs < cutoff {
				atomic.AddInt64(&d.expired, 1)
				continue
			}
			keep = append(keep, s)
		}
		for i := len(keep); i < len(d.l1); i++ {
			d.l1[i] = nil
		}
		d.l1 = keep
		d.mu.Unlock()
	}
}

// query returns count/avg/max of one series over the last `from` ms.
func (d *db) query(name string, from int64) (int, float64, float64) {
	atomic.AddInt64(&d.queries, 1)
	d.mu.RLock()
	defer d.mu.RUnlock()
	id, ok := d.seriesID[name]
	if !ok {
		return 0, 0, 0
	}
	var pts []float64 // copied out, as a response builder would
	for _, segs := range [][]*segment{d.l1, d.l0} {
		for _, s := range segs {
			if s.maxTs < from {
				continue
			}
			lo, hi := s.find(id)
			for i := lo; i < hi; i++ {
				if s.ts[i] >= from {
					pts = append(pts, s.vals[i])
				}
			}
		}
	}
	for _, x := range d.mem[id] {
		if x.ts >= from {
			pts = append(pts, x.v)
		}
	}
	if len(pts) == 0 {
		return 0, 0, 0
	}
	sum, max := 0.0, pts[0]
	for _, v := range pts {
		sum += v
		if v > max {
			max = v
		}
	}
	return len(pts), sum / float64(len(pts)), max
}

func (d *db) stats() (l0, l1, samples int) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, s := range d.l0 {
		samples += s.len()
	}
	for _, s := range d.l1 {
		samples += s.len()
	}
	return len(d.l0), len(d.l1), samples + d.memN
}

func (d *db) handleWrite(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	n, err := d.ingest(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fmt.Fprintf(w, "{\"written\":%d}\n", n)
}

func (d *db) handleQuery(w http.ResponseWriter, r *http.Request) {
	mins, _ := strconv.Atoi(r.URL.Query().Get("minutes"))
	from := time.Now().Add(-time.Duration(mins)*time.Minute).UnixNano() / 1e6
	n, avg, max := d.query(r.URL.Query().Get("series"), from)
	fmt.Fprintf(w, "{\"points\":%d,\"avg\":%g,\"max\":%g}\n", n, avg, max)
}

var metrics = []string{"cpu_usage", "cpu_steal", "mem_used", "mem_cached", "disk_read", "disk_write", "net_rx", "net_tx", "load1", "procs"}

func seriesName(host, m, core int) string {
	return metrics[m] + ",host=h" + strconv.Itoa(host) + ",core=" + strconv.Itoa(core)
}

// peer: 1,200 hosts' collectors pushing batches on a diurnal curve, and
// dashboards querying random series.
func peer(addr string) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	go lwload.Drive(lwload.Diurnal(20, 0.35, 4*time.Minute), 32, func() {
		host := rand.Intn(1200)
		var b bytes.Buffer
		now := time.Now().UnixNano() / 1e6
		for i := 0; i < 250; i++ {
			b.WriteString(seriesName(host, rand.Intn(len(metrics)), rand.Intn(4)))
			b.WriteByte(' ')
			b.WriteString(strconv.FormatFloat(rand.Float64()*100, 'f', 3, 64))
			b.WriteByte(' ')
			b.WriteString(strconv.FormatInt(now-int64(rand.Intn(2000)), 10))
			b.WriteByte('\n')
		}
		resp, err := client.Post("http://"+addr+"/write", "text/plain", &b)
		if err != nil {
			time.Sleep(time.Second)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	})
	go lwload.Drive(lwload.Diurnal(4, 0.3, 4*time.Minute), 16, func() {
		s := seriesName(rand.Intn(1200), rand.Intn(len(metrics)), rand.Intn(4))
		resp, err := client.Get("http://" + addr + "/query?minutes=" + strconv.Itoa(1+rand.Intn(5)) + "&series=" + s)
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
	d := newDB()
	go d.maintain()
	ln := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/write", d.handleWrite)
	mux.HandleFunc("/query", d.handleQuery)
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(ln) }()
	lwload.StartPeer(ln.Addr().String())
	for {
		time.Sleep(30 * time.Second)
		l0, l1, n := d.stats()
		fmt.Printf("samples %d (l0 %d, l1 %d segments), ingested %d, flushes %d, compactions %d, expired %d, queries %d\n",
			n, l0, l1, atomic.LoadInt64(&d.ingested), atomic.LoadInt64(&d.flushes),
			atomic.LoadInt64(&d.compactions), atomic.LoadInt64(&d.expired), atomic.LoadInt64(&d.queries))
	}
}
