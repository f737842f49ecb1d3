// SPDX-License-Identifier: Apache-2.0

// Package lwload is the shared plumbing of the leakwatch bench services
// (bench/services/<name>/main.go): flags, the net/http/pprof endpoint, a
// load shape that is not a straight line (a compressed "day" sinusoid with
// jitter and Poisson arrivals), and a "peer" process (backend, upstream or
// client fleet) that each service spawns from its own binary so it runs
// alone, while the peer's memory stays out of the service's cgroup.
//
// Why a peer process: in the real incidents the other end of the leaked
// connections (consul, a gRPC server, SSH hosts, the proxy's clients) lives
// elsewhere; if it ran inside the service it would leak as much memory as
// the service itself without showing in the service's profiles.
//
// Build in GOPATH mode: the bench puts bench/services under the import path
// "lwbench" (see bench/run.sh).
package lwload

import (
	"bufio"
	"flag"
	"fmt"
	"math"
	"math/rand"
	"net"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on http.DefaultServeMux
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

var (
	// PprofAddr is where net/http/pprof is served (flag -pprof, env PPROF_ADDR).
	PprofAddr = flag.String("pprof", envOr("PPROF_ADDR", "127.0.0.1:6060"), "address of the net/http/pprof endpoint (loopback)")
	// Role is "main" (the service) or "peer" (the process it spawns).
	Role = flag.String("role", "main", "main | peer (internal: the spawned peer process)")
	// Speed multiplies the leak-driving request rate (flag -speed, env LW_SPEED).
	Speed = flag.Float64("speed", envFloat("LW_SPEED", 1), "multiplier of the request rate")
	// Seed of the jitter (flag -seed); 0 = time based.
	Seed = flag.Int64("seed", 0, "random seed (0 = from the clock)")

	start = time.Now()
)

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

func envFloat(k string, d float64) float64 {
	if v := os.Getenv(k); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 {
			return f
		}
	}
	return d
}

// Init parses flags, seeds the jitter and, in the main role, serves pprof.
func Init() {
	flag.Parse()
	if *Seed == 0 {
		*Seed = time.Now().UnixNano()
	}
	rand.Seed(*Seed)
	start = time.Now()
	if *Role != "main" {
		return
	}
	ln, err := net.Listen("tcp", *PprofAddr)
	if err != nil {
		Fatalf("pprof listen %s: %v", *PprofAddr, err)
	}
	go func() {
		srv := &http.Server{Handler: http.DefaultServeMux, ReadHeaderTimeout: 10 * time.Second}
		_ = srv.Serve(ln)
	}()
	fmt.Fprintf(os.Stderr, "pprof on http://%s/debug/pprof (pid %d)\n", ln.Addr(), os.Getpid())
}

// Fatalf prints one line and exits 1.
func Fatalf(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "fatal: "+format+"\n", a...)
	os.Exit(1)
}

// Elapsed is the time since Init.
func Elapsed() time.Duration { return time.Since(start) }

// Diurnal returns a rate function: base * (1 + amp*sin(2*pi*t/period)) with
// a slow random walk on top (+-15%), times Speed. A "day" is compressed to
// `period` so a 10-minute run sees a couple of peaks and troughs.
func Diurnal(base, amp float64, period time.Duration) func() float64 {
	var walk int64 // walk*1e-3 in [-0.15, 0.15], updated by callers (racy but atomic)
	phase := rand.Float64() * 2 * math.Pi
	return func() float64 {
		w := atomic.LoadInt64(&walk) + int64(rand.Intn(21)-10)
		if w > 150 {
			w = 150
		} else if w < -150 {
			w = -150
		}
		atomic.StoreInt64(&walk, w)
		t := Elapsed().Seconds()
		r := base * (1 + amp*math.Sin(2*math.Pi*t/period.Seconds()+phase)) * (1 + float64(w)/1000)
		if r < 0 {
			r = 0
		}
		return r * *Speed
	}
}

// Drive calls fn at Poisson arrivals with the given rate (per second), each
// call in its own goroutine, never more than maxInflight at once (further
// arrivals are dropped, like a client that sheds load). It never returns.
func Drive(rate func() float64, maxInflight int, fn func()) {
	var inflight int64
	for {
		r := rate()
		if r <= 0.01 {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		time.Sleep(time.Duration(rand.ExpFloat64() / r * float64(time.Second)))
		if atomic.LoadInt64(&inflight) >= int64(maxInflight) {
			continue
		}
		atomic.AddInt64(&inflight, 1)
		go func() {
			defer atomic.AddInt64(&inflight, -1)
			fn()
		}()
	}
}

// Listen opens a TCP listener on a free loopback port.
func Listen() net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		Fatalf("listen: %v", err)
	}
	return ln
}

// StartPeer runs this binary again with -role=peer plus args, waits for its
// "ADDR name host:port" lines up to "READY" and returns them. The peer gets
// SIGKILL when this process dies. If LW_PEER_CGROUP names a cgroup
// directory, the peer is moved there at once (the bench keeps peers out of
// the service's memory cgroup).
func StartPeer(args ...string) map[string]string {
	self, err := os.Executable()
	if err != nil {
		Fatalf("executable: %v", err)
	}
	cmd := exec.Command(self, append([]string{"-role=peer", "-seed", strconv.FormatInt(*Seed+1, 10)}, args...)...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		Fatalf("peer pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		Fatalf("peer start: %v", err)
	}
	if cg := os.Getenv("LW_PEER_CGROUP"); cg != "" {
		if err := os.WriteFile(cg+"/cgroup.procs", []byte(strconv.Itoa(cmd.Process.Pid)), 0); err != nil {
			fmt.Fprintf(os.Stderr, "warning: moving peer %d to %s: %v\n", cmd.Process.Pid, cg, err)
		}
	}
	addrs := map[string]string{}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == "ADDR" {
			addrs[f[1]] = f[2]
		} else if len(f) == 1 && f[0] == "READY" {
			go func() { // keep draining so the peer never blocks on stdout
				for sc.Scan() {
				}
			}()
			return addrs
		}
	}
	Fatalf("peer exited before READY")
	return nil
}

// PeerAddr announces one address of the peer to the main process.
func PeerAddr(name, addr string) { fmt.Printf("ADDR %s %s\n", name, addr) }

// PeerReady ends the announcements; the peer then blocks forever.
func PeerReady() {
	fmt.Println("READY")
	select {}
}

// Payload returns n bytes of printable filler (response bodies, values).
func Payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(rand.Intn(26))
	}
	return b
}
