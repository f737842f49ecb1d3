// SPDX-License-Identifier: Apache-2.0

// ok-hub-slow-clients: healthy control, a websocket hub with slow
// consumers and a growing audience. The same brokerage push service as
// leak-hub-unregister: one hub goroutine renders, five times a second,
// every connected user's personalized watchlist frame into that client's
// 256-frame send queue (skipping clients whose queue is full), a
// writePump per client copies the queue to the socket, and a readPump per
// client reads the app's heartbeats with a 30 s read deadline. Here
// readPump always unregisters (defer), so a client that misses its
// heartbeats is dropped from the hub and its queue is freed.
//
// Why it looks like a leak: the audience ramps up from a few dozen to
// ~480 connected apps over the first eight minutes (market open), dips to
// ~40% around minute 14 and comes back; one app in six is on a slow
// network and drains its socket at ~60% of the frame rate, so (with the
// small kernel send buffer this service sets) its queue fills up over two
// to three minutes and then stays full (~0.6 MiB of rendered frames),
// until its session ends. For the first eight minutes
// the heap grows steadily, all of it in frames allocated by
// main.(*client).render under main.(*hub).run, exactly where the leak's
// heap grows; apps in the background miss heartbeats and are dropped
// after 30 s, as in the leak. But every queue is capped, every session
// ends and unregisters, and the total follows the audience: it plateaus
// and then falls with it. Nothing leaks.
package main

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"lwbench/lwload"
)

const (
	sendQueue  = 256
	tickEvery  = 200 * time.Millisecond
	pongWait   = 30 * time.Second
	writeWait  = 10 * time.Second
	maxMessage = 4096
	numSymbols = 600

	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

var wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// ---- market data -------------------------------------------------------

type snapshot struct {
	seq    uint64
	at     time.Time
	prices []int64 // 1/10000 of the currency unit
	open   []int64
}

var symbols = func() []string {
	r := rand.New(rand.NewSource(42))
	s := make([]string, numSymbols)
	for i := range s {
		n := 2 + r.Intn(3)
		b := make([]byte, n)
		for j := range b {
			b[j] = 'A' + byte(r.Intn(26))
		}
		s[i] = string(b) + "." + []string{"N", "O", "L", "P"}[r.Intn(4)]
	}
	return s
}()

// market random-walks the prices and publishes a snapshot every tick.
func market(out chan<- *snapshot) {
	prices := make([]int64, numSymbols)
	for i := range prices {
		prices[i] = int64(5+rand.Intn(500)) * 10000
	}
	open := append([]int64(nil), prices...)
	var seq uint64
	t := time.NewTicker(tickEvery)
	for now := range t.C {
		for i := range prices {
			if rand.Intn(3) == 0 {
				prices[i] += int64(rand.NormFloat64() * float64(prices[i]) / 2000)
				if prices[i] < 100 {
					prices[i] = 100
				}
			}
		}
		seq++
		out <- &snapshot{seq: seq, at: now, prices: append([]int64(nil), prices...), open: open}
	}
}

// ---- hub and clients ---------------------------------------------------

type client struct {
	hub  *hub
	conn net.Conn
	br   *bufio.Reader
	user string
	syms []int   // watchlist: indexes into symbols
	qty  []int64 // position sizes
	send chan []byte
}

type hub struct {
	clients    map[*client]bool
	register   chan *client
	unregister chan *client
	ticks      chan *snapshot

	registered int64
	skipped    int64
	timedOut   int64
	closed     int64
}

func newHub() *hub {
	return &hub{
		clients:    make(map[*client]bool),
		register:   make(chan *client),
		unregister: make(chan *client),
		ticks:      make(chan *snapshot, 4),
	}
}

func (h *hub) run() {
	for {
		select {
		case c := <-h.register:
			h.clients[c] = true
			atomic.StoreInt64(&h.registered, int64(len(h.clients)))
		case c := <-h.unregister:
			if _, ok := h.clients[c]; ok {
				delete(h.clients, c)
				close(c.send)
			}
			atomic.StoreInt64(&h.registered, int64(len(h.clients)))
		case s := <-h.ticks:
			for c := range h.clients {
				if len(c.send) == cap(c.send) {
					// Slow consumer: skip this tick, it catches up later.
					atomic.AddInt64(&h.skipped, 1)
					continue
				}
				c.send <- c.render(s)
			}
		}
	}
}

func appendPrice(b []byte, v int64) []byte {
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	b = strconv.AppendInt(b, v/10000, 10)
	b = append(b, '.')
	f := v % 10000
	b = append(b, byte('0'+f/1000), byte('0'+f/100%10), byte('0'+f/10%10), byte('0'+f%10))
	return b
}

// render builds the client's websocket text frame for one snapshot.
func (c *client) render(s *snapshot) []byte {
	b := make([]byte, 4, 4+96+len(c.syms)*96)
	b = append(b, `{"type":"portfolio","user":"`...)
	b = append(b, c.user...)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, s.seq, 10)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, s.at.UnixNano()/1e6, 10)
	b = append(b, `,"positions":[`...)
	var total int64
	for i, k := range c.syms {
		if i > 0 {
			b = append(b, ',')
		}
		px, op := s.prices[k], s.open[k]
		val := px * c.qty[i]
		total += val
		b = append(b, `{"sym":"`...)
		b = append(b, symbols[k]...)
		b = append(b, `","px":`...)
		b = appendPrice(b, px)
		b = append(b, `,"chg":`...)
		b = appendPrice(b, px-op)
		b = append(b, `,"chgPct":`...)
		b = appendPrice(b, (px-op)*1000000/op)
		b = append(b, `,"qty":`...)
		b = strconv.AppendInt(b, c.qty[i], 10)
		b = append(b, `,"val":`...)
		b = appendPrice(b, val)
		b = append(b, '}')
	}
	b = append(b, `],"total":`...)
	b = appendPrice(b, total)
	b = append(b, '}')
	n := len(b) - 4
	b[0], b[1], b[2], b[3] = 0x80|opText, 126, byte(n>>8), byte(n)
	return b
}

var errTooBig = errors.New("websocket: message too big")

// readFrame reads one client frame (masked, as RFC 6455 requires).
func readFrame(br *bufio.Reader) (byte, []byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return 0, nil, err
	}
	op := hdr[0] & 0x0f
	n := int64(hdr[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(br, ext[:]); err != nil {
			return 0, nil, err
		}
		n = int64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(br, ext[:]); err != nil {
			return 0, nil, err
		}
		n = int64(binary.BigEndian.Uint64(ext[:]))
	}
	if n > maxMessage {
		return 0, nil, errTooBig
	}
	var mask [4]byte
	if hdr[1]&0x80 != 0 {
		if _, err := io.ReadFull(br, mask[:]); err != nil {
			return 0, nil, err
		}
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		return 0, nil, err
	}
	for i := range p {
		p[i] ^= mask[i&3]
	}
	return op, p, nil
}

func (c *client) readPump() {
	defer func() {
		c.hub.unregister <- c
		c.conn.Close()
	}()
	for {
		_ = c.conn.SetReadDeadline(time.Now().Add(pongWait))
		op, _, err := readFrame(c.br)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Missed heartbeats: the app was backgrounded. Drop the
				// socket so the device can reconnect cleanly later.
				atomic.AddInt64(&c.hub.timedOut, 1)
				return
			}
			atomic.AddInt64(&c.hub.closed, 1)
			return
		}
		if op == opClose {
			atomic.AddInt64(&c.hub.closed, 1)
			return
		}
		// heartbeats (text {"type":"hb"} or ping frames) only refresh the deadline
	}
}

func (c *client) writePump() {
	defer c.conn.Close()
	for frame := range c.send {
		_ = c.conn.SetWriteDeadline(time.Now().Add(writeWait))
		if _, err := c.conn.Write(frame); err != nil {
			return
		}
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.conn.Write([]byte{0x80 | opClose, 0})
}

// watchlist stands in for the portfolio service: 20-40 positions per user.
func watchlist(user string) ([]int, []int64) {
	h := fnv.New64a()
	h.Write([]byte(user))
	r := rand.New(rand.NewSource(int64(h.Sum64())))
	n := 20 + r.Intn(21)
	syms := make([]int, n)
	qty := make([]int64, n)
	for i := range syms {
		syms[i] = r.Intn(numSymbols)
		qty[i] = int64(1 + r.Intn(400))
	}
	return syms, qty
}

func (h *hub) serveStream(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || r.Header.Get("Sec-WebSocket-Key") == "" {
		http.Error(w, "websocket upgrade required", http.StatusBadRequest)
		return
	}
	user := r.URL.Query().Get("user")
	if user == "" {
		http.Error(w, "no user", http.StatusUnauthorized)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "no hijack", http.StatusInternalServerError)
		return
	}
	sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + wsGUID))
	conn, brw, err := hj.Hijack()
	if err != nil {
		return
	}
	_ = conn.SetDeadline(time.Time{})
	if tc, ok := conn.(*net.TCPConn); ok {
		// Tens of thousands of sockets per node in production: keep the
		// kernel's send buffer per connection small; the queue is ours.
		_ = tc.SetWriteBuffer(32 << 10)
	}
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n")
	if err := brw.Flush(); err != nil {
		conn.Close()
		return
	}
	syms, qty := watchlist(user)
	c := &client{hub: h, conn: conn, br: brw.Reader, user: user, syms: syms, qty: qty, send: make(chan []byte, sendQueue)}
	h.register <- c
	go c.writePump()
	go c.readPump()
}

// ---- peer: the app fleet -----------------------------------------------

func writeMasked(c net.Conn, op byte, p []byte) error {
	f := make([]byte, 0, 6+len(p))
	f = append(f, 0x80|op, 0x80|byte(len(p)))
	var m [4]byte
	rand.Read(m[:])
	f = append(f, m[:]...)
	for i, x := range p {
		f = append(f, x^m[i&3])
	}
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Write(f)
	return err
}

// slowReader drains the socket at about bytesPerSec (a phone on a bad
// network).
type slowReader struct {
	r           io.Reader
	bytesPerSec int
}

func (s slowReader) drain() {
	buf := make([]byte, 2048)
	tick := time.Duration(float64(time.Second) * float64(len(buf)) / float64(s.bytesPerSec))
	for {
		if _, err := io.ReadFull(s.r, buf); err != nil {
			return
		}
		time.Sleep(tick)
	}
}

// session is one app session: connect, heartbeat every 10 s for 1-6
// minutes (or until the slot is scaled in), then either close cleanly or,
// one time in five, go to the background: heartbeats stop, the socket
// stays open until the server drops it.
func session(addr string, id int, target *int64) {
	user := "u" + strconv.Itoa(rand.Intn(200000))
	dur := time.Duration(60+rand.Intn(300)) * time.Second
	background := rand.Intn(5) == 0
	slow := rand.Intn(6) == 0
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		time.Sleep(time.Second)
		return
	}
	defer c.Close()
	if tc, ok := c.(*net.TCPConn); ok && slow {
		_ = tc.SetReadBuffer(24 << 10) // a thin mobile link: small window
	}
	var k [16]byte
	rand.Read(k[:])
	fmt.Fprintf(c, "GET /stream?user=%s HTTP/1.1\r\nHost: push.internal\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nUser-Agent: app/7.14\r\n\r\n", user, base64.StdEncoding.EncodeToString(k[:]))
	br := bufio.NewReaderSize(c, 16<<10)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	done := make(chan struct{})
	go func() { // the app renders (here: discards) every frame
		if slow {
			slowReader{br, 8 << 10}.drain()
		} else {
			_, _ = io.Copy(io.Discard, br)
		}
		close(done)
	}()
	hb := time.NewTicker(10 * time.Second)
	defer hb.Stop()
	end := time.NewTimer(dur)
	defer end.Stop()
	check := time.NewTicker(2 * time.Second)
	defer check.Stop()
	for {
		select {
		case <-hb.C:
			if writeMasked(c, opText, []byte(`{"type":"hb"}`)) != nil {
				return
			}
		case <-done:
			return
		case <-check.C:
			if int64(id) < atomic.LoadInt64(target) {
				continue
			}
			_ = writeMasked(c, opClose, []byte{0x03, 0xe8})
			return
		case <-end.C:
			if background {
				select { // socket kept, nothing sent, until the server drops it
				case <-done:
				case <-time.After(3 * time.Minute):
				}
				return
			}
			_ = writeMasked(c, opClose, []byte{0x03, 0xe8})
			return
		}
	}
}

const fleetSize = 480

// audience is the fraction of the fleet connected at time t: market open
// over the first eight minutes, then a midday dip to ~40% around minute
// 14 and back up.
func audience(t float64) float64 {
	if t < 480 {
		return 0.08 + 0.92*(1-math.Cos(math.Pi*t/480))/2
	}
	return 0.7 + 0.3*math.Cos(2*math.Pi*(t-480)/720)
}

func peer(addr string) {
	var target int64
	for i := 0; i < fleetSize; i++ {
		go func(id int) {
			time.Sleep(time.Duration(rand.Intn(5000)) * time.Millisecond)
			for {
				if int64(id) >= atomic.LoadInt64(&target) {
					time.Sleep(time.Duration(1000+rand.Intn(2000)) * time.Millisecond)
					continue
				}
				session(addr, id, &target)
				time.Sleep(time.Duration(500+rand.Intn(5000)) * time.Millisecond) // app reopened later
			}
		}(i)
	}
	go func() {
		for {
			f := audience(lwload.Elapsed().Seconds()) * (0.95 + 0.1*rand.Float64()) * *lwload.Speed
			if f > 1 {
				f = 1
			}
			atomic.StoreInt64(&target, int64(f*fleetSize))
			time.Sleep(2 * time.Second)
		}
	}()
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
	h := newHub()
	go h.run()
	go market(h.ticks)
	ln := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/stream", h.serveStream)
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(ln) }()
	lwload.StartPeer(ln.Addr().String())
	for {
		time.Sleep(30 * time.Second)
		fmt.Printf("registered %d, timed out %d, closed %d, skipped frames %d\n", atomic.LoadInt64(&h.registered),
			atomic.LoadInt64(&h.timedOut), atomic.LoadInt64(&h.closed), atomic.LoadInt64(&h.skipped))
	}
}
