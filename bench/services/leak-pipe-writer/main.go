// SPDX-License-Identifier: Apache-2.0

// leak-pipe-writer: a goroutine leak through io.Pipe. An order-history
// service lets merchants download their orders as a gzip'd CSV file
// (/export?account=...&days=...). To stream large exports without
// building the file in memory, the handler opens an io.Pipe: a producer
// goroutine runs the query, encodes the rows with encoding/csv through a
// gzip.Writer into the PipeWriter, and the handler copies the PipeReader to
// the response in 32 KiB chunks.
//
// The bug: accounts on the free plan are capped at 96 KiB per export.
// When the cap is reached the handler stops copying, marks the download as
// truncated and returns, but it never closes the PipeReader
// (pr.CloseWithError). An io.Pipe has no buffer, so the producer goroutine
// is left blocked forever in io.(*pipe).write under
// main.(*exporter).produce, holding the whole query result (the []order
// slice, a few thousand rows) and its gzip/flate compressor (~0.8 MiB of
// hash tables and window). The same happens when a client disconnects in
// the middle of a download. Only the large exports of free accounts are
// affected (one export in twenty or so), so the goroutine count climbs
// slowly, one goroutine every ten to twenty seconds, and the heap climbs
// ~1.5-2 MiB with each, until the container is OOM-killed.
// Fix: defer pr.CloseWithError(errAborted) in the handler (the producer's
// Write then fails and it returns).
package main

import (
	"compress/gzip"
	"encoding/csv"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"lwbench/lwload"
)

const freePlanCap = 96 << 10

type order struct {
	ID       int64
	Account  string
	SKU      string
	Qty      int
	Cents    int64
	Currency string
	Status   string
	Ship     string
	Note     string
	Created  time.Time
}

var (
	skus     = []string{"TSHIRT-BLK-M", "TSHIRT-WHT-L", "MUG-12OZ", "POSTER-A2", "STICKER-PACK", "HOODIE-GRY-XL", "CAP-NVY", "TOTE-NAT", "SOCKS-3PK", "PIN-ENAMEL"}
	statuses = []string{"paid", "shipped", "delivered", "refunded", "cancelled", "on_hold"}
	carriers = []string{"dhl:", "ups:", "fedex:", "usps:", "laposte:", "royalmail:"}
)

// store stands in for the orders database: rows are generated on demand,
// deterministically per account, and returned as one materialized slice
// (the repository layer has no cursor API).
type store struct{}

func (store) query(account string, days int) []order {
	h := fnv.New64a()
	h.Write([]byte(account))
	rnd := rand.New(rand.NewSource(int64(h.Sum64())))
	perDay := 15 + rnd.Intn(60)
	n := perDay * days
	rows := make([]order, 0, n)
	now := time.Now()
	for i := 0; i < n; i++ {
		note := make([]byte, 10+rnd.Intn(70))
		for j := range note {
			note[j] = 'a' + byte(rnd.Intn(26))
			if rnd.Intn(7) == 0 {
				note[j] = ' '
			}
		}
		rows = append(rows, order{
			ID:       int64(h.Sum64()>>20) + int64(i),
			Account:  account,
			SKU:      skus[rnd.Intn(len(skus))],
			Qty:      1 + rnd.Intn(5),
			Cents:    int64(500 + rnd.Intn(20000)),
			Currency: "EUR",
			Status:   statuses[rnd.Intn(len(statuses))],
			Ship:     carriers[rnd.Intn(len(carriers))] + strconv.FormatInt(rnd.Int63(), 36),
			Note:     string(note),
			Created:  now.Add(-time.Duration(rnd.Int63n(int64(days) * int64(24*time.Hour)))),
		})
	}
	return rows
}

type exporter struct {
	db        store
	exports   int64
	truncated int64
	producing int64
}

// produce runs the query and streams it as gzip'd CSV into pw. It returns
// when the whole file was written or when a write to the pipe fails.
func (e *exporter) produce(pw *io.PipeWriter, account string, days int) {
	atomic.AddInt64(&e.producing, 1)
	defer atomic.AddInt64(&e.producing, -1)
	rows := e.db.query(account, days)
	zw, _ := gzip.NewWriterLevel(pw, gzip.DefaultCompression)
	cw := csv.NewWriter(zw)
	rec := make([]string, 10)
	_ = cw.Write([]string{"id", "account", "sku", "qty", "amount", "currency", "status", "tracking", "note", "created"})
	for i := range rows {
		o := &rows[i]
		rec[0] = strconv.FormatInt(o.ID, 10)
		rec[1] = o.Account
		rec[2] = o.SKU
		rec[3] = strconv.Itoa(o.Qty)
		rec[4] = strconv.FormatInt(o.Cents/100, 10) + "." + fmt.Sprintf("%02d", o.Cents%100)
		rec[5] = o.Currency
		rec[6] = o.Status
		rec[7] = o.Ship
		rec[8] = o.Note
		rec[9] = o.Created.UTC().Format(time.RFC3339)
		if err := cw.Write(rec); err != nil {
			pw.CloseWithError(err)
			return
		}
	}
	cw.Flush()
	err := cw.Error()
	if err == nil {
		err = zw.Close()
	}
	pw.CloseWithError(err) // nil: the reader sees io.EOF
}

// export serves one download.
func (e *exporter) export(w http.ResponseWriter, r *http.Request) {
	atomic.AddInt64(&e.exports, 1)
	account := r.URL.Query().Get("account")
	days, _ := strconv.Atoi(r.URL.Query().Get("days"))
	if account == "" || days <= 0 || days > 90 {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	free := r.URL.Query().Get("plan") == "free"
	pr, pw := io.Pipe()
	// BUG: pr is never closed on the early returns below.
	go e.produce(pw, account, days)

	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Content-Disposition", "attachment; filename=\"orders-"+account+".csv.gz\"")
	w.Header().Set("Trailer", "X-Export-Truncated")
	buf := make([]byte, 32<<10)
	written := 0
	for {
		n, err := pr.Read(buf)
		if n > 0 {
			if free && written+n > freePlanCap {
				w.Header().Set("X-Export-Truncated", "free-plan-cap")
				atomic.AddInt64(&e.truncated, 1)
				return
			}
			if _, werr := w.Write(buf[:n]); werr != nil {
				return // client went away
			}
			written += n
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			return
		}
	}
}

// peer is the merchant fleet: dashboards and scheduled jobs downloading
// 7-90 day exports on a diurnal curve; about one account in five is on
// the free plan.
func peer(addr string) {
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	go lwload.Drive(lwload.Diurnal(1.6, 0.4, 4*time.Minute), 24, func() {
		acct := "m" + strconv.Itoa(rand.Intn(5000))
		plan := "pro"
		if rand.Intn(5) == 0 {
			plan = "free"
		}
		days := []int{7, 7, 14, 30, 30, 30, 60, 90}[rand.Intn(8)]
		resp, err := client.Get("http://" + addr + "/export?account=" + acct + "&days=" + strconv.Itoa(days) + "&plan=" + plan)
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
	e := &exporter{}
	ln := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/export", e.export)
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(ln) }()
	lwload.StartPeer(ln.Addr().String())
	for {
		time.Sleep(30 * time.Second)
		fmt.Printf("exports %d, truncated %d, producers %d\n", atomic.LoadInt64(&e.exports),
			atomic.LoadInt64(&e.truncated), atomic.LoadInt64(&e.producing))
	}
}
