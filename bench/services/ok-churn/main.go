// SPDX-License-Identifier: Apache-2.0

// ok-churn: healthy control. A report-rendering API allocates a lot per
// request (decode a JSON document, build rows, encode a 20-200 KiB response)
// and keeps nothing: the heap follows the GC sawtooth around a flat level
// that moves with the (diurnal) load. Nothing leaks.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"sort"
	"time"

	"lwbench/lwload"
)

type row struct {
	ID    int               `json:"id"`
	Name  string            `json:"name"`
	Score float64           `json:"score"`
	Attrs map[string]string `json:"attrs"`
}

func render(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Rows int    `json:"rows"`
		Sort string `json:"sort"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Rows <= 0 || req.Rows > 5000 {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	rows := make([]row, req.Rows)
	for i := range rows {
		rows[i] = row{ID: i, Name: fmt.Sprintf("item-%06d", rand.Intn(1e6)), Score: rand.Float64(),
			Attrs: map[string]string{"color": "blue", "size": fmt.Sprint(rand.Intn(50))}}
	}
	sort.Slice(rows, func(a, b int) bool { return rows[a].Score > rows[b].Score })
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(rows)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(buf.Bytes())
}

func main() {
	lwload.Init()
	api := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/render", render)
	go func() {
		_ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}).Serve(api)
	}()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	url := "http://" + api.Addr().String() + "/render"
	lwload.Drive(lwload.Diurnal(30, 0.5, 4*time.Minute), 64, func() {
		body := fmt.Sprintf(`{"rows":%d,"sort":"score"}`, 200+rand.Intn(1800))
		resp, err := client.Post(url, "application/json", bytes.NewBufferString(body))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
