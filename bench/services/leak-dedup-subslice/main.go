// SPDX-License-Identifier: Apache-2.0

// leak-dedup-subslice: a heap-only leak through sub-slice aliasing. A
// webhook receiver ingests deliveries from payment and shipping providers
// (POST /hooks/<provider>, JSON bodies of 3-15 KiB). Providers deliver
// at least once and retry for days, so every delivery id is remembered in
// a deduplication LRU sized for ~3 days of traffic (500,000 ids): the
// author budgeted ~80 bytes per id, ~40 MiB in all, and the LRU is indeed
// bounded by count.
//
// The bug: the hot path avoids copies. deliveryID scans the raw body for
// the "delivery_id" field and returns a sub-slice of the body, and the LRU
// entry keeps that []byte (it needs the id to delete the map key on
// eviction). A 36-byte sub-slice keeps its whole backing array reachable,
// so every remembered id pins the entire request body, allocated in
// main.(*receiver).readBody: ~10 KiB per delivery instead of ~80 bytes.
// The LRU would only start evicting after 500,000 deliveries, i.e. after
// ~5 GiB; long before that the container is OOM-killed. Goroutines are
// flat (a fixed worker pool and short requests); only the heap grows, at
// the delivery rate (which follows the diurnal curve), and the profile
// points at the allocation of the bodies, not at the LRU.
// Fix: copy the id (string(id) / bytes.Clone) before storing it.
package main

import (
	"bytes"
	"container/list"
	"encoding/json"
	"flag"
	"fmt"
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

const dedupCapacity = 500000

type dedupEntry struct {
	id   []byte // BUG: aliases the request body
	seen time.Time
}

// dedup is an LRU of recently seen delivery ids, bounded by count.
type dedup struct {
	mu    sync.Mutex
	ll    *list.List
	index map[string]*list.Element
}

// Seen reports whether id was seen before, and remembers it.
func (d *dedup) Seen(id []byte, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if el, ok := d.index[string(id)]; ok {
		d.ll.MoveToFront(el)
		el.Value.(*dedupEntry).seen = now
		return true
	}
	d.index[string(id)] = d.ll.PushFront(&dedupEntry{id: id, seen: now})
	for d.ll.Len() > dedupCapacity {
		old := d.ll.Back()
		d.ll.Remove(old)
		delete(d.index, string(old.Value.(*dedupEntry).id))
	}
	return false
}

func (d *dedup) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ll.Len()
}

type event struct {
	DeliveryID string          `json:"delivery_id"`
	Type       string          `json:"type"`
	Account    string          `json:"account"`
	Amount     int64           `json:"amount"`
	Created    int64           `json:"created"`
	Data       json.RawMessage `json:"data"`
}

type receiver struct {
	seen     dedup
	work     chan *event
	received int64
	dups     int64
	applied  int64
	bad      int64

	mu       sync.Mutex
	balances map[string]int64
}

var idKey = []byte(`"delivery_id":"`)

// deliveryID finds the delivery id in the raw body without decoding it.
func deliveryID(body []byte) []byte {
	i := bytes.Index(body, idKey)
	if i < 0 {
		return nil
	}
	rest := body[i+len(idKey):]
	j := bytes.IndexByte(rest, '"')
	if j <= 0 || j > 64 {
		return nil
	}
	return rest[:j:j]
}

// readBody reads a request body of known length.
func (rc *receiver) readBody(r *http.Request) ([]byte, error) {
	if r.ContentLength <= 0 || r.ContentLength > 1<<20 {
		return nil, fmt.Errorf("bad content length %d", r.ContentLength)
	}
	body := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(r.Body, body); err != nil {
		return nil, err
	}
	return body, nil
}

func (rc *receiver) hook(w http.ResponseWriter, r *http.Request) {
	atomic.AddInt64(&rc.received, 1)
	body, err := rc.readBody(r)
	if err != nil {
		atomic.AddInt64(&rc.bad, 1)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id := deliveryID(body)
	if id == nil {
		atomic.AddInt64(&rc.bad, 1)
		http.Error(w, "no delivery_id", http.StatusBadRequest)
		return
	}
	if rc.seen.Seen(id, time.Now()) {
		atomic.AddInt64(&rc.dups, 1)
		w.WriteHeader(http.StatusOK) // already processed: ack again
		return
	}
	ev := new(event)
	if err := json.Unmarshal(body, ev); err != nil {
		atomic.AddInt64(&rc.bad, 1)
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	select {
	case rc.work <- ev:
		w.WriteHeader(http.StatusAccepted)
	case <-time.After(2 * time.Second):
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}
}

// apply is the processing side: a small worker pool that updates the
// account ledger.
func (rc *receiver) apply() {
	for ev := range rc.work {
		var fields map[string]interface{}
		_ = json.Unmarshal(ev.Data, &fields)
		rc.mu.Lock()
		switch {
		case strings.HasSuffix(ev.Type, ".paid"):
			rc.balances[ev.Account] += ev.Amount
		case strings.HasSuffix(ev.Type, ".refunded"):
			rc.balances[ev.Account] -= ev.Amount
		}
		rc.mu.Unlock()
		atomic.AddInt64(&rc.applied, 1)
		time.Sleep(time.Duration(1+rand.Intn(4)) * time.Millisecond)
	}
}

var (
	providers = []string{"stripe", "adyen", "paypal", "shippo", "easypost"}
	types     = []string{"invoice.paid", "invoice.refunded", "charge.paid", "shipment.updated", "label.created", "dispute.opened"}
)

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// peer is the provider side: deliveries on a diurnal curve, ~6% of them
// retries of recent deliveries (the provider did not see our ack in time).
func peer(addr string) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var recentMu sync.Mutex
	recent := make([][]byte, 0, 512)
	filler := lwload.Payload(32 << 10)
	go lwload.Drive(lwload.Diurnal(16, 0.3, 5*time.Minute), 64, func() {
		var body []byte
		recentMu.Lock()
		if len(recent) > 0 && rand.Intn(100) < 6 {
			body = recent[rand.Intn(len(recent))]
		}
		recentMu.Unlock()
		prov := providers[rand.Intn(len(providers))]
		if body == nil {
			var b bytes.Buffer
			n := 3<<10 + rand.Intn(12<<10)
			off := rand.Intn(len(filler) - n)
			fmt.Fprintf(&b, `{"delivery_id":"%s","type":"%s","account":"acct_%d","amount":%d,"created":%d,"data":{"object":"%s","lines":[`,
				newID(), types[rand.Intn(len(types))], rand.Intn(5000), 100+rand.Intn(50000), time.Now().Unix(), prov)
			for k := 0; n > 0; k++ {
				m := 200 + rand.Intn(400)
				if m > n {
					m = n
				}
				if k > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `{"n":%d,"sku":"%s"}`, k, filler[off:off+m])
				off += m
				n -= m
			}
			b.WriteString(`]}}`)
			body = b.Bytes()
			recentMu.Lock()
			if len(recent) < cap(recent) {
				recent = append(recent, body)
			} else {
				recent[rand.Intn(len(recent))] = body
			}
			recentMu.Unlock()
		}
		resp, err := client.Post("http://"+addr+"/hooks/"+prov, "application/json", bytes.NewReader(body))
		if err != nil {
			time.Sleep(time.Second)
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
			lwload.Fatalf("peer: need the receiver address")
		}
		peer(flag.Args()[0])
	}
	rc := &receiver{
		seen:     dedup{ll: list.New(), index: make(map[string]*list.Element)},
		work:     make(chan *event, 256),
		balances: make(map[string]int64),
	}
	for i := 0; i < 4; i++ {
		go rc.apply()
	}
	ln := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/hooks/", rc.hook)
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(ln) }()
	lwload.StartPeer(ln.Addr().String())
	for {
		time.Sleep(30 * time.Second)
		fmt.Printf("received %d, duplicates %d, applied %d, rejected %d, ids remembered %s\n",
			atomic.LoadInt64(&rc.received), atomic.LoadInt64(&rc.dups), atomic.LoadInt64(&rc.applied),
			atomic.LoadInt64(&rc.bad), strconv.Itoa(rc.seen.Len()))
	}
}
