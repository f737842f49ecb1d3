// SPDX-License-Identifier: Apache-2.0

// ok-gogc-high: healthy control, a service tuned with a high GOGC. A
// pricing API spends a lot of CPU in the garbage collector (every request
// decodes a basket, expands it against the tariff table and encodes a
// 50-400 KiB priced response), so someone set the GC target to 400%
// (debug.SetGCPercent(400), same as GOGC=400) to trade memory for CPU. The
// live heap is small and flat (the tariff table loaded at start-up plus
// the requests in flight, ~12 MiB in all), but the heap now grows to ~5x
// the live heap between collections: a tall GC sawtooth that climbs
// steeply for seconds, then drops. Nothing leaks: every collection goes back to the same floor.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"lwbench/lwload"
)

type tariff struct {
	SKU    string
	Zone   int
	Base   float64
	Steps  []float64
	Labels map[string]string
}

// tariffs is the table every request prices against (built once).
var tariffs = map[string]*tariff{}

func loadTariffs() {
	for i := 0; i < 15000; i++ {
		sku := "sku-" + strconv.Itoa(i)
		t := &tariff{SKU: sku, Zone: i % 12, Base: 1 + rand.Float64()*99, Steps: make([]float64, 16),
			Labels: map[string]string{"family": "f" + strconv.Itoa(i%97), "unit": "ea"}}
		for j := range t.Steps {
			t.Steps[j] = 1 - float64(j)*0.01
		}
		tariffs[sku] = t
	}
}

type line struct {
	SKU   string  `json:"sku"`
	Qty   int     `json:"qty"`
	Zone  int     `json:"zone"`
	Unit  float64 `json:"unit"`
	Total float64 `json:"total"`
	Note  string  `json:"note"`
}

func price(w http.ResponseWriter, r *http.Request) {
	var basket struct {
		Items []struct {
			SKU string `json:"sku"`
			Qty int    `json:"qty"`
		} `json:"items"`
	}
	if err := json.NewDecoder(r.Body).Decode(&basket); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var out []line
	for _, it := range basket.Items {
		t := tariffs[it.SKU]
		if t == nil {
			continue
		}
		for z := 0; z < 4; z++ { // quote every delivery zone
			u := t.Base * t.Steps[(it.Qty+z)%len(t.Steps)]
			out = append(out, line{SKU: it.SKU, Qty: it.Qty, Zone: z, Unit: u, Total: u * float64(it.Qty),
				Note: fmt.Sprintf("%s/%s zone %d", t.Labels["family"], t.Labels["unit"], z)})
		}
	}
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(out)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(buf.Bytes())
}

func main() {
	lwload.Init()
	old := debug.SetGCPercent(400)
	loadTariffs()
	fmt.Printf("GC percent %d -> 400; %d tariffs loaded\n", old, len(tariffs))
	api := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/price", price)
	go func() {
		_ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}).Serve(api)
	}()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	url := "http://" + api.Addr().String() + "/price"
	lwload.Drive(lwload.Diurnal(30, 0.3, 4*time.Minute), 64, func() {
		var b bytes.Buffer
		b.WriteString(`{"items":[`)
		n := 100 + rand.Intn(700)
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"sku":"sku-%d","qty":%d}`, rand.Intn(15000), 1+rand.Intn(20))
		}
		b.WriteString(`]}`)
		resp, err := client.Post(url, "application/json", &b)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
