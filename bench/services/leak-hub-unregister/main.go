// SPDX-License-Identifier: Apache-2.0

// leak-hub-unregister: a websocket hub whose unregister is skipped on one
// error path. A brokerage's push service streams each logged-in user a
// live view of their watchlist (price, change, quantity, value of 20-40
// positions) over a websocket (/stream?user=...). It is built the way the
// gorilla/websocket chat example is: one hub goroutine owns the set of
// clients and, five times a second, renders every client's personalized
// frame into that client's buffered send channel (256 frames); a writePump
// goroutine per client copies the channel to the socket, and a readPump
// goroutine per client reads heartbeats (the app sends one every 10 s;
// the read deadline is 30 s). Slow consumers are not kicked: when a
// client's queue is full the hub just skips it (mobile clients on bad
// networks catch up later), so the hub never closes anything on its own.
//
// The bug: readPump unregisters the client from the hub only at the end
// of its loop (clean close frame, EOF, reset). A missed heartbeat is
// handled separately, added later for the mobile app: the iOS app stops
// sending heartbeats when it is backgrounded but keeps the socket, so on a
// read timeout readPump closes the socket and returns early, without
// `hub.unregister <- c`. writePump's next write fails and it returns. The
// client stays in hub.clients forever and the hub keeps rendering frames
// for it until its 256-slot queue is full: ~0.5 MiB of rendered JSON per
// dead client, pinned by the hub's map. No goroutine and no fd leaks; the
// heap grows in the frames allocated by main.(*client).render called from
// main.(*hub).run, in proportion to the number of app sessions that end
// in the background (about a quarter), so it follows the daily load.
// Fix: `defer func() { c.hub.unregister <- c }()` at the top of readPump.
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
	for {
		_ = c.conn.SetReadDeadline(time.Now().Add(pongWait))
		op, _, err := readFrame(c.br)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Missed heartbeats: the app was backgrounded. Drop the
				// socket so the device can reconnect cleanly later.
				atomic.AddInt64(&c.hub.timedOut, 1)
				c.conn.Close()
				return // BUG: returns without unregistering from the hub
			}
			break
		}
		if op == opClose {
			break
		}
		// heartbeats (text {"type":"hb"} or ping frames) only refresh the deadline
	}
	atomic.AddInt64(&c.hub.closed, 1)
	c.hub.unregister <- c
	c.conn.Close()
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

// session is one app session: connect, heartbeat every 10 s for 20-150 s,
// then either close cleanly (foreground logout, navigation) or, one time
// in four, go to the background: heartbeats stop, the socket stays open
// until the server drops it.
func session(addr string) {
	user := "u" + strconv.Itoa(rand.Intn(200000))
	dur := time.Duration(20+rand.Intn(130)) * time.Second
	background := rand.Intn(4) == 0
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		time.Sleep(time.Second)
		return
	}
	defer c.Close()
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
		_, _ = io.Copy(io.Discard, br)
		close(done)
	}()
	hb := time.NewTicker(10 * time.Second)
	defer hb.Stop()
	end := time.NewTimer(dur)
	defer end.Stop()
	for {
		select {
		case <-hb.C:
			if writeMasked(c, opText, []byte(`{"type":"hb"}`)) != nil {
				return
			}
		case <-done:
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

func peer(addr string) {
	go lwload.Drive(lwload.Diurnal(2.2, 0.45, 5*time.Minute), 3000, func() { session(addr) })
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
