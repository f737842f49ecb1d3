// SPDX-License-Identifier: Apache-2.0

// ok-worker-autoscale: healthy control, an elastic worker pool. A thumbnail
// / transcoding job processor accepts jobs on /jobs into a bounded queue
// and runs them on a pool of worker goroutines that scales with the queue:
// a supervisor spawns workers (up to 200) while the queue is long, and a
// worker exits once the pool is larger than the recent load needs or after
// it has been idle for 2 s (never below 4). Each job
// holds a working buffer (64-448 KiB) only while it is being processed
// (40-400 ms). Traffic is bursty on top of the diurnal curve (a burst of
// 4-6x every ~30 s, e.g. a batch upload), so goroutines and heap swing up
// by a large factor during bursts and fall back after them. Nothing is
// retained once a job is done.
package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"sync/atomic"
	"time"

	"lwbench/lwload"
)

const (
	minWorkers = 4
	maxWorkers = 200
	idleExit   = 2 * time.Second
)

type job struct {
	id   uint64
	size int
	work time.Duration
}

type pool struct {
	queue   chan job
	workers int64
	busy    int64
	desired int64 // set by supervise: what the current load needs
	done    int64
	seq     uint64
}

// retire makes the calling worker exit if the pool is above what the load
// needs (never below minWorkers); it reports whether the worker must exit.
func (p *pool) retire() bool {
	for {
		w := atomic.LoadInt64(&p.workers)
		if w <= minWorkers || w <= atomic.LoadInt64(&p.desired) {
			return false
		}
		if atomic.CompareAndSwapInt64(&p.workers, w, w-1) {
			return true
		}
	}
}

// worker processes jobs; it exits when it has been idle for idleExit, or
// after a job when the pool is larger than the load needs (never below
// minWorkers).
func (p *pool) worker() {
	idle := time.NewTimer(idleExit)
	defer idle.Stop()
	for {
		select {
		case j := <-p.queue:
			atomic.AddInt64(&p.busy, 1)
			p.process(j)
			atomic.AddInt64(&p.busy, -1)
			if p.retire() {
				return
			}
			if !idle.Stop() {
				select {
				case <-idle.C:
				default:
				}
			}
			idle.Reset(idleExit)
		case <-idle.C:
			if p.retire() {
				return
			}
			idle.Reset(idleExit)
		}
	}
}

// process holds a working buffer for the duration of the job.
func (p *pool) process(j job) {
	buf := make([]byte, j.size)
	for i := 0; i < len(buf); i += 64 {
		buf[i] = byte(j.id + uint64(i))
	}
	time.Sleep(j.work)
	_ = sha256.Sum256(buf)
	atomic.AddInt64(&p.done, 1)
}

// supervise sizes the pool every 50 ms from the busy workers and the
// queue length, spawning workers while the queue is long.
func (p *pool) supervise() {
	for i := 0; i < minWorkers; i++ {
		atomic.AddInt64(&p.workers, 1)
		go p.worker()
	}
	ewma := 0.0
	for {
		time.Sleep(50 * time.Millisecond)
		q := len(p.queue)
		ewma = 0.9*ewma + 0.1*float64(atomic.LoadInt64(&p.busy))
		want := int64(ewma*1.3) + int64(q/2) + 2
		if want < minWorkers {
			want = minWorkers
		} else if want > maxWorkers {
			want = maxWorkers
		}
		atomic.StoreInt64(&p.desired, want)
		w := atomic.LoadInt64(&p.workers)
		for add := 0; w < want && q > 0 && add < 20; add++ {
			atomic.AddInt64(&p.workers, 1)
			w++
			go p.worker()
		}
	}
}

func main() {
	lwload.Init()
	p := &pool{queue: make(chan job, 2000)}
	go p.supervise()
	api := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/jobs", func(w http.ResponseWriter, r *http.Request) {
		j := job{id: atomic.AddUint64(&p.seq, 1), size: (64 + rand.Intn(384)) << 10,
			work: time.Duration(40+rand.Intn(360)) * time.Millisecond}
		select {
		case p.queue <- j:
			w.WriteHeader(http.StatusAccepted)
		default:
			http.Error(w, "queue full", http.StatusServiceUnavailable)
		}
	})
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(api) }()
	go func() {
		for {
			time.Sleep(30 * time.Second)
			fmt.Printf("workers %d (busy %d, desired %d), queue %d, done %d\n", atomic.LoadInt64(&p.workers), atomic.LoadInt64(&p.busy), atomic.LoadInt64(&p.desired), len(p.queue), atomic.LoadInt64(&p.done))
		}
	}()

	// Bursts: every ~30 s, 5-8 s of 4-6x traffic.
	day := lwload.Diurnal(60, 0.3, 4*time.Minute)
	var burstUntil, nextBurst time.Time
	mult := 1.0
	rate := func() float64 {
		now := time.Now()
		if now.After(nextBurst) {
			burstUntil = now.Add(time.Duration(5+rand.Intn(4)) * time.Second)
			nextBurst = now.Add(time.Duration(20+rand.Intn(20)) * time.Second)
			mult = 4 + 2*rand.Float64()
		}
		if now.Before(burstUntil) {
			return day() * mult
		}
		return day()
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	url := "http://" + api.Addr().String() + "/jobs"
	lwload.Drive(rate, 256, func() {
		resp, err := client.Post(url, "application/json", nil)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
