// SPDX-License-Identifier: Apache-2.0

// leak-retry-goroutines: a retry goroutine per failed send, with no limit
// on attempts, age or count. An analytics ingest gateway accepts batches
// of NDJSON events from customers' SDKs (POST /v1/events?tenant=...),
// answers 202 Accepted at once, and forwards each batch to the leader of
// its tenant's partition in a small log cluster (six partitions, one
// broker each, a length-prefixed produce protocol with an offset ack).
// Delivery is "at least once": when the synchronous send fails, the
// producer hands the batch to a background goroutine,
// `go p.retry(part, recs)`, which encodes its own retry frame and retries
// with exponential backoff (capped at 20 s) until the broker acks it.
//
// The bug: nothing bounds the retries. When partition 4's broker is
// decommissioned half a minute into the run (replication factor 1, so the
// partition stays offline and its metadata keeps pointing at the dead
// address), every batch for its tenants, about a third of the traffic
// because the largest tenant hashes there, spawns a retry goroutine that
// never succeeds and never gives up. Each one sits in a select on its
// backoff timer in main.(*producer).retry holding the encoded frame
// (~100 KiB, allocated by main.(*producer).encode called from retry). The
// goroutine count and the heap climb with the ingest rate, which follows
// the customers' day, until the container is OOM-killed. No fds leak: the
// dials are refused at once. Fix: a delivery timeout (give up and
// dead-letter after N minutes) and a cap on the bytes awaiting retry, as
// Kafka's delivery.timeout.ms and buffer.memory do.
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"io"
	"math/rand"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"lwbench/lwload"
)

const (
	numPartitions = 6
	bigTenant     = "acme-retail"
	maxBackoff    = 20 * time.Second
	flagRetry     = 1
)

func partitionOf(tenant string) int {
	h := fnv.New32a()
	h.Write([]byte(tenant))
	return int(h.Sum32() % numPartitions)
}

type broker struct {
	addr string
	mu   sync.Mutex
	conn net.Conn
	br   *bufio.Reader
}

type producer struct {
	brokers []*broker
	closing chan struct{}

	sent     int64
	failed   int64
	retrying int64
	retried  int64
}

// encode builds one produce request: length, partition, flags, record
// count, CRC of the records, then each record with a uvarint length.
func (p *producer) encode(part int, recs [][]byte, flags byte) []byte {
	size := 16
	for _, r := range recs {
		size += binary.MaxVarintLen32 + len(r)
	}
	b := make([]byte, 16, size)
	for _, r := range recs {
		b = binary.AppendUvarint(b, uint64(len(r)))
		b = append(b, r...)
	}
	binary.BigEndian.PutUint32(b[0:], uint32(len(b)-4))
	binary.BigEndian.PutUint16(b[4:], uint16(part))
	b[6] = flags
	b[7] = 0
	binary.BigEndian.PutUint32(b[8:], uint32(len(recs)))
	binary.BigEndian.PutUint32(b[12:], crc32.ChecksumIEEE(b[16:]))
	return b
}

// send writes one frame to the partition leader and waits for its ack.
func (p *producer) send(part int, frame []byte) error {
	b := p.brokers[part]
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn == nil {
		c, err := net.DialTimeout("tcp", b.addr, 2*time.Second)
		if err != nil {
			return err
		}
		b.conn, b.br = c, bufio.NewReaderSize(c, 512)
	}
	_ = b.conn.SetDeadline(time.Now().Add(5 * time.Second))
	var ack [8]byte
	_, err := b.conn.Write(frame)
	if err == nil {
		_, err = io.ReadFull(b.br, ack[:])
	}
	if err != nil {
		b.conn.Close()
		b.conn, b.br = nil, nil
		return err
	}
	return nil
}

func (p *producer) produce(part int, recs [][]byte) {
	if err := p.send(part, p.encode(part, recs, 0)); err != nil {
		atomic.AddInt64(&p.failed, 1)
		go p.retry(part, recs) // BUG: unbounded in number, attempts and age
		return
	}
	atomic.AddInt64(&p.sent, 1)
}

// retry re-sends the batch with exponential backoff until it is acked.
func (p *producer) retry(part int, recs [][]byte) {
	atomic.AddInt64(&p.retrying, 1)
	defer atomic.AddInt64(&p.retrying, -1)
	frame := p.encode(part, recs, flagRetry)
	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		wait := backoff/2 + time.Duration(rand.Int63n(int64(backoff)))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-p.closing:
			t.Stop()
			return
		}
		frame[7] = byte(attempt)
		if err := p.send(part, frame); err == nil {
			atomic.AddInt64(&p.retried, 1)
			return
		}
		if backoff *= 2; backoff > maxBackoff {
			backoff = maxBackoff
		}
	}
}

var errEmpty = errors.New("empty batch")

// splitRecords validates the NDJSON body and returns its lines.
func splitRecords(body []byte) ([][]byte, error) {
	var recs [][]byte
	for len(body) > 0 {
		i := 0
		for i < len(body) && body[i] != '\n' {
			i++
		}
		line := body[:i]
		if i < len(body) {
			i++
		}
		body = body[i:]
		if len(line) == 0 {
			continue
		}
		if line[0] != '{' || line[len(line)-1] != '}' {
			return nil, fmt.Errorf("record %d is not a JSON object", len(recs))
		}
		recs = append(recs, line)
	}
	if len(recs) == 0 {
		return nil, errEmpty
	}
	return recs, nil
}

type ingester struct {
	p       *producer
	batches int64
}

func (in *ingester) handle(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	tenant := r.URL.Query().Get("tenant")
	if tenant == "" {
		http.Error(w, "no tenant", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	recs, err := splitRecords(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	atomic.AddInt64(&in.batches, 1)
	in.p.produce(partitionOf(tenant), recs)
	w.WriteHeader(http.StatusAccepted)
}

// ---- peer: the brokers and the customers' SDKs -------------------------

func serveBroker(ln net.Listener, mu *sync.Mutex, conns map[net.Conn]bool) {
	var offset uint64
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		mu.Lock()
		conns[c] = true
		mu.Unlock()
		go func() {
			defer func() { mu.Lock(); delete(conns, c); mu.Unlock(); c.Close() }()
			br := bufio.NewReaderSize(c, 64<<10)
			var hdr [4]byte
			for {
				if _, err := io.ReadFull(br, hdr[:]); err != nil {
					return
				}
				if _, err := io.CopyN(io.Discard, br, int64(binary.BigEndian.Uint32(hdr[:]))); err != nil {
					return
				}
				var ack [8]byte
				binary.BigEndian.PutUint64(ack[:], atomic.AddUint64(&offset, 1))
				if _, err := c.Write(ack[:]); err != nil {
					return
				}
			}
		}()
	}
}

var eventTypes = []string{"page_view", "add_to_cart", "checkout_started", "purchase", "search", "product_view", "login", "signup"}

func eventLine(b []byte, tenant string, rnd *rand.Rand) []byte {
	b = append(b, `{"tenant":"`...)
	b = append(b, tenant...)
	b = append(b, `","type":"`...)
	b = append(b, eventTypes[rnd.Intn(len(eventTypes))]...)
	b = append(b, `","anon_id":"`...)
	b = strconv.AppendUint(b, rnd.Uint64(), 36)
	b = append(b, `","ts":`...)
	b = strconv.AppendInt(b, time.Now().UnixNano()/1e6-rnd.Int63n(60000), 10)
	b = append(b, `,"url":"https://shop.example/p/`...)
	b = strconv.AppendInt(b, rnd.Int63n(1e7), 10)
	b = append(b, `","ua":"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148","props":{"sku":"`...)
	b = strconv.AppendInt(b, rnd.Int63n(1e6), 16)
	b = append(b, `","price":`...)
	b = strconv.AppendInt(b, rnd.Int63n(20000), 10)
	b = append(b, `,"session":"`...)
	b = strconv.AppendUint(b, rnd.Uint64(), 36)
	b = append(b, `"}}`...)
	return append(b, '\n')
}

func peer(addr string) {
	dead := partitionOf(bigTenant)
	var lns []net.Listener
	var mus []*sync.Mutex
	var conns []map[net.Conn]bool
	for i := 0; i < numPartitions; i++ {
		ln := lwload.Listen()
		mu, cs := &sync.Mutex{}, map[net.Conn]bool{}
		lns, mus, conns = append(lns, ln), append(mus, mu), append(conns, cs)
		go serveBroker(ln, mu, cs)
		lwload.PeerAddr("broker"+strconv.Itoa(i), ln.Addr().String())
	}
	// Partition `dead`'s only broker is decommissioned after 30 s.
	go func() {
		time.Sleep(30 * time.Second)
		lns[dead].Close()
		mus[dead].Lock()
		for c := range conns[dead] {
			c.Close()
		}
		mus[dead].Unlock()
	}()
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	var seq int64
	go lwload.Drive(lwload.Diurnal(7.5, 0.4, 5*time.Minute), 32, func() {
		rnd := rand.New(rand.NewSource(atomic.AddInt64(&seq, 1) + *lwload.Seed))
		tenant := bigTenant
		if rnd.Intn(5) != 0 {
			tenant = "t" + strconv.Itoa(rnd.Intn(400))
		}
		n := 150 + rnd.Intn(450)
		body := make([]byte, 0, n*330)
		for i := 0; i < n; i++ {
			body = eventLine(body, tenant, rnd)
		}
		resp, err := client.Post("http://"+addr+"/v1/events?tenant="+tenant, "application/x-ndjson", bytes.NewReader(body))
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
			lwload.Fatalf("peer: need the service address")
		}
		peer(flag.Args()[0])
	}
	ln := lwload.Listen()
	p := &producer{closing: make(chan struct{})}
	in := &ingester{p: p}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/events", in.handle)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second}
	addrs := lwload.StartPeer(ln.Addr().String())
	for i := 0; i < numPartitions; i++ {
		a, ok := addrs["broker"+strconv.Itoa(i)]
		if !ok {
			lwload.Fatalf("peer did not announce broker%d", i)
		}
		p.brokers = append(p.brokers, &broker{addr: a})
	}
	go func() { _ = srv.Serve(ln) }() // the SDKs' first requests wait in the backlog
	for {
		time.Sleep(30 * time.Second)
		fmt.Printf("batches %d, sent %d, failed %d, retrying %d, retried ok %d\n", atomic.LoadInt64(&in.batches),
			atomic.LoadInt64(&p.sent), atomic.LoadInt64(&p.failed), atomic.LoadInt64(&p.retrying), atomic.LoadInt64(&p.retried))
	}
}
