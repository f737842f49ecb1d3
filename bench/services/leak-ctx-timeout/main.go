// SPDX-License-Identifier: Apache-2.0

// leak-ctx-timeout: a heap-only leak through context.WithTimeout without
// cancel. A document-ingest API answers each upload at once and hands the
// follow-up work (text extraction, re-indexing) to a background task. That
// task must outlive the request, so the handler detaches it: backgroundCtx
// puts the request's metadata (id, tenant, a copy of the headers and the
// first KiBs of the body, for the task's logs and error reports) on the
// server's long-lived root context with context.WithValue, and bounds the
// task with context.WithTimeout(..., 30*time.Minute). The cancel func is
// stored in the job so that "the task calls it when it is done".
//
// The bug: process never calls job.cancel (it was lost in a refactor). The
// task itself finishes in milliseconds, so goroutines stay flat, but every
// timerCtx stays registered in the root context's children map and its
// 30-minute timer stays armed, and through it the value context and the
// request metadata stay reachable: a few KiB per upload, until the
// container is OOM-killed long before any timer fires. The growth is
// attributed to the allocation site main.(*server).backgroundCtx (metadata,
// body snapshot, the value/timer contexts and the timers).
// Fix: defer job.cancel() in process (go vet's lostcancel cannot see a
// cancel func stored in a struct).
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"lwbench/lwload"
)

type metaKey struct{}

// reqMeta is what the background task logs and reports errors with.
type reqMeta struct {
	ID       string
	Tenant   string
	Received time.Time
	Header   http.Header
	Snapshot []byte // first KiBs of the upload
}

type job struct {
	ctx    context.Context
	cancel context.CancelFunc
	doc    string
	sum    [32]byte
}

type server struct {
	root context.Context // lives as long as the process
	stop context.CancelFunc
	seq  uint64
	done uint64
}

const snapshotMax = 6 << 10

// backgroundCtx detaches follow-up work from the request: the task must
// survive the response but carry the request's metadata.
func (s *server) backgroundCtx(r *http.Request, body []byte) (context.Context, context.CancelFunc) {
	meta := &reqMeta{
		ID:       fmt.Sprintf("req-%08d", atomic.AddUint64(&s.seq, 1)),
		Tenant:   r.Header.Get("X-Tenant"),
		Received: time.Now(),
		Header:   make(http.Header, len(r.Header)),
	}
	for k, v := range r.Header {
		meta.Header[k] = append([]string(nil), v...)
	}
	n := len(body)
	if n > snapshotMax {
		n = snapshotMax
	}
	meta.Snapshot = make([]byte, 0, n)
	meta.Snapshot = append(meta.Snapshot, body[:n]...)
	ctx := context.WithValue(s.root, metaKey{}, meta)
	return context.WithTimeout(ctx, 30*time.Minute)
}

// process is the background task: extract, hash, "re-index".
func (s *server) process(j *job) {
	// BUG: j.cancel is never called.
	meta := j.ctx.Value(metaKey{}).(*reqMeta)
	select {
	case <-time.After(time.Duration(5+rand.Intn(30)) * time.Millisecond):
	case <-j.ctx.Done():
		return
	}
	j.sum = sha256.Sum256(meta.Snapshot)
	if bytes.Count(meta.Snapshot, []byte("zz")) > 1000 {
		fmt.Printf("%s: suspicious upload for tenant %s\n", meta.ID, meta.Tenant)
	}
	atomic.AddUint64(&s.done, 1)
}

func (s *server) upload(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := s.backgroundCtx(r, body)
	j := &job{ctx: ctx, cancel: cancel, doc: r.URL.Query().Get("doc")}
	go s.process(j)
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, "accepted %s (%d bytes)\n", j.doc, len(body))
}

func main() {
	lwload.Init()
	s := &server{}
	s.root, s.stop = context.WithCancel(context.Background())
	api := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/upload", s.upload)
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(api) }()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	url := "http://" + api.Addr().String() + "/upload?doc="
	tenants := []string{"acme", "globex", "initech", "umbrella", "hooli", "stark"}
	lwload.Drive(lwload.Diurnal(22, 0.3, 4*time.Minute), 128, func() {
		body := lwload.Payload(3<<10 + rand.Intn(12<<10))
		req, _ := http.NewRequest("POST", url+fmt.Sprintf("d%07d", rand.Intn(1e7)), bytes.NewReader(body))
		req.Header.Set("Content-Type", "text/plain")
		req.Header.Set("X-Tenant", tenants[rand.Intn(len(tenants))])
		req.Header.Set("X-Request-Source", strings.Repeat("edge-", 1+rand.Intn(8)))
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
