// SPDX-License-Identifier: Apache-2.0

// ok-retry-outage: healthy control, background retries during a broker
// outage. The same analytics ingest gateway as leak-retry-goroutines:
// POST /v1/events?tenant=... answers 202 at once and forwards each NDJSON
// batch to its tenant's partition leader (six partitions, one broker
// each); when the synchronous send fails the producer hands the batch to
// a background goroutine, main.(*producer).retry, which encodes its own
// retry frame and retries with exponential backoff (capped at 20 s).
// Here the retries are bounded the way Kafka's producer bounds them: a
// delivery timeout (a batch that is not acked within 4 minutes is
// dead-lettered and its goroutine returns) and a cap on the bytes
// awaiting retry (48 MiB, buffer.memory; past it a failed batch is
// dead-lettered at once instead of getting a goroutine).
//
// Why it looks like a leak: the broker of the partition that carries the
// largest tenant (about a third of the traffic) goes down for five and a
// half minutes starting 75 s into the run, and for three and a half
// minutes again around minute 12. During an outage the retry goroutines
// and their ~100 KiB frames pile up at the ingest rate for four minutes,
// all parked in the same select in main.(*producer).retry and allocated
// by main.(*producer).encode under retry, exactly like the leak; then the
// delivery timeout (and, at the daily peak, the byte cap) holds them at a
// plateau of a few hundred goroutines and ~40-48 MiB of frames, and when
// the broker comes back every pending retry succeeds on its next attempt
// (within 20 s) and the population drops to zero. The working set stays
// far below the limit. Nothing leaks.
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

	deliveryTimeout = 4 * time.Minute
	retryBufferMax  = 48 << 20
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

	sent       int64
	failed     int64
	retrying   int64
	retried    int64
	retryBytes int64
	deadLetter int64
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
	frame := p.encode(part, recs, 0)
	if err := p.send(part, frame); err != nil {
		atomic.AddInt64(&p.failed, 1)
		size := int64(len(frame))
		if atomic.AddInt64(&p.retryBytes, size) > retryBufferMax {
			atomic.AddInt64(&p.retryBytes, -size)
			atomic.AddInt64(&p.deadLetter, 1) // buffer.memory exhausted
			return
		}
		go p.retry(part, recs, size, time.Now().Add(deliveryTimeout))
		return
	}
	atomic.AddInt64(&p.sent, 1)
}

// retry re-sends the batch with exponential backoff until it is acked or
// its delivery deadline passes.
func (p *producer) retry(part int, recs [][]byte, size int64, deadline time.Time) {
	atomic.AddInt64(&p.retrying, 1)
	defer atomic.AddInt64(&p.retrying, -1)
	defer atomic.AddInt64(&p.retryBytes, -size)
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
		if time.Now().After(deadline) {
			atomic.AddInt64(&p.deadLetter, 1) // delivery.timeout.ms
			return
		}
		if backoff *= 2; backoff > maxBackoff {
			backoff = maxBackoff
		}
		if rest := time.Until(deadline); backoff > rest {
			backoff = rest + time.Millisecond
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
	lwStart := time.Now().Add(-lwload.Elapsed())
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
	// Partition `dead`'s only broker has two outages: 75-405 s (a disk
	// replaced) and 720-930 s (a kernel upgrade). It comes back on the
	// same address.
	go func() {
		addr := lns[dead].Addr().String()
		for _, o := range [][2]int{{75, 405}, {720, 930}} {
			time.Sleep(time.Until(lwStart.Add(time.Duration(o[0]) * time.Second)))
			lns[dead].Close()
			mus[dead].Lock()
			for c := range conns[dead] {
				c.Close()
			}
			mus[dead].Unlock()
			time.Sleep(time.Until(lwStart.Add(time.Duration(o[1]) * time.Second)))
			var err error
			for i := 0; i < 50; i++ {
				if lns[dead], err = net.Listen("tcp", addr); err == nil {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			if err != nil {
				lwload.Fatalf("broker %d: relisten %s: %v", dead, addr, err)
			}
			go serveBroker(lns[dead], mus[dead], conns[dead])
		}
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
		fmt.Printf("batches %d, sent %d, failed %d, retrying %d (%d KiB), retried ok %d, dead-lettered %d\n",
			atomic.LoadInt64(&in.batches), atomic.LoadInt64(&p.sent), atomic.LoadInt64(&p.failed), atomic.LoadInt64(&p.retrying),
			atomic.LoadInt64(&p.retryBytes)>>10, atomic.LoadInt64(&p.retried), atomic.LoadInt64(&p.deadLetter))
	}
}
