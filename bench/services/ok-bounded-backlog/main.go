// SPDX-License-Identifier: Apache-2.0

// ok-bounded-backlog: healthy control, a bounded queue that fills up and
// stays full. A checkout API is instrumented with tracing: every request
// records 6-10 spans (name, ids, timings and a dozen attributes, 1-4 KiB
// each) and hands them to a batch span processor, the OpenTelemetry
// design: a bounded queue (12,000 spans), drop-on-full, and one exporter
// goroutine that sends batches of up to 512 spans to the collector (the
// peer).
//
// About a minute after start the collector degrades (its storage backend
// throttles it): each export now takes 3-5 s, so the exporter drains far
// fewer spans than the API produces. The queue fills steadily for ~1.5-2
// minutes, memory climbing like a leak, and then reaches its capacity:
// from then on new spans are dropped (and counted), the queue holds the
// same number of spans (old ones exported, new ones admitted as room
// frees), and memory stays flat at its high level. Goroutines stay flat
// throughout. Nothing leaks: the backlog is bounded by design.
package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"lwbench/lwload"
)

const (
	queueSize = 12000
	batchSize = 512
)

type attr struct {
	key, value string
}

type span struct {
	traceID [16]byte
	spanID  [8]byte
	parent  [8]byte
	name    string
	start   int64
	end     int64
	attrs   []attr
}

type processor struct {
	queue    chan *span
	dropped  int64
	exported int64
	endpoint string
	client   *http.Client
}

// onEnd is called for every finished span: never blocks, drops when full.
func (p *processor) onEnd(s *span) {
	select {
	case p.queue <- s:
	default:
		atomic.AddInt64(&p.dropped, 1)
	}
}

// export drains the queue in batches (up to batchSize, or what is there
// after 1 s) and sends them to the collector, one request at a time.
func (p *processor) export() {
	batch := make([]*span, 0, batchSize)
	var buf bytes.Buffer
	for {
		deadline := time.NewTimer(time.Second)
	fill:
		for len(batch) < batchSize {
			select {
			case s := <-p.queue:
				batch = append(batch, s)
			case <-deadline.C:
				break fill
			}
		}
		deadline.Stop()
		if len(batch) == 0 {
			continue
		}
		buf.Reset()
		for _, s := range batch {
			buf.Write(s.traceID[:])
			buf.Write(s.spanID[:])
			buf.WriteString(s.name)
			for _, a := range s.attrs {
				buf.WriteString(a.key)
				buf.WriteByte('=')
				buf.WriteString(a.value)
			}
		}
		resp, err := p.client.Post(p.endpoint, "application/x-protobuf", bytes.NewReader(buf.Bytes()))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		atomic.AddInt64(&p.exported, int64(len(batch)))
		for i := range batch {
			batch[i] = nil
		}
		batch = batch[:0]
	}
}

var spanNames = []string{"HTTP POST /checkout", "cart.Load", "pricing.Quote", "inventory.Reserve", "payments.Authorize", "db.Query", "cache.Get", "events.Publish", "tax.Compute", "fraud.Score"}

// handle simulates one checkout request and records its spans.
func handle(p *processor, filler string) {
	n := 6 + rand.Intn(5)
	var trace [16]byte
	binary.LittleEndian.PutUint64(trace[:], rand.Uint64())
	binary.LittleEndian.PutUint64(trace[8:], rand.Uint64())
	t0 := time.Now().UnixNano()
	for i := 0; i < n; i++ {
		s := &span{traceID: trace, name: spanNames[rand.Intn(len(spanNames))], start: t0, end: t0 + int64(rand.Intn(5e7))}
		binary.LittleEndian.PutUint64(s.spanID[:], rand.Uint64())
		na := 8 + rand.Intn(8)
		s.attrs = make([]attr, 0, na)
		for j := 0; j < na; j++ {
			l := 60 + rand.Intn(200)
			off := rand.Intn(len(filler) - l)
			// attribute values are copies (request headers, SQL text, ids)
			v := string(append([]byte(nil), filler[off:off+l]...))
			s.attrs = append(s.attrs, attr{key: "attr." + strconv.Itoa(j), value: v})
		}
		p.onEnd(s)
	}
	time.Sleep(time.Duration(5+rand.Intn(30)) * time.Millisecond)
}

// peer is the trace collector: fast at first, then throttled by its
// storage backend (3-5 s per export request) from ~60 s on.
func peer() {
	ln := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/traces", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		d := time.Duration(5+rand.Intn(20)) * time.Millisecond
		if lwload.Elapsed() > 60*time.Second {
			d = time.Duration(3000+rand.Intn(2000)) * time.Millisecond
		}
		time.Sleep(d)
		w.WriteHeader(http.StatusOK)
	})
	go func() { _ = http.Serve(ln, mux) }()
	lwload.PeerAddr("collector", ln.Addr().String())
	lwload.PeerReady()
}

func main() {
	lwload.Init()
	if *lwload.Role == "peer" {
		peer()
	}
	p := &processor{
		queue:    make(chan *span, queueSize),
		endpoint: "http://" + lwload.StartPeer()["collector"] + "/v1/traces",
		client:   &http.Client{Timeout: 30 * time.Second},
	}
	go p.export()
	go func() {
		for {
			time.Sleep(30 * time.Second)
			fmt.Printf("queue %d/%d, exported %d, dropped %d\n", len(p.queue), queueSize,
				atomic.LoadInt64(&p.exported), atomic.LoadInt64(&p.dropped))
		}
	}()
	filler := string(lwload.Payload(8 << 10))
	lwload.Drive(lwload.Diurnal(40, 0.35, 4*time.Minute), 256, func() { handle(p, filler) })
}
