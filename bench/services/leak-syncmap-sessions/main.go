// SPDX-License-Identifier: Apache-2.0

// leak-syncmap-sessions: a heap-only leak in an in-memory session store. A
// web backend keeps its sessions in a sync.Map keyed by session ID: /login
// builds the session (user, roles, a signed claims blob and a cached
// rendering of the user's preferences, a few KiB in all) and stores it;
// every API call looks the session up by its cookie; /logout ends it.
//
// The bug: there is no expiry at all, and /logout only marks the session
// as revoked (so the cookie stops working) but never calls Delete. Since
// most clients never log out anyway (they close the tab, the cookie
// expires on their side), every session ever created stays in the map
// forever. Goroutines stay flat; the heap grows with the login rate until
// the container is OOM-killed. The retained bytes are allocated in
// (*server).login (the session and its blobs); sync.Map's own entries and
// map growth come second.
// Fix: sessions.Delete(id) on logout, and an expiry sweep (or a bounded LRU
// with TTL) for the sessions that are simply abandoned.
package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"lwbench/lwload"
)

type session struct {
	id       string
	user     string
	roles    []string
	created  time.Time
	lastSeen int64
	revoked  int32
	claims   []byte // signed claims (JWT-like), kept to re-issue tokens
	prefs    []byte // cached rendering of the user's preferences
}

type server struct {
	sessions sync.Map // id -> *session; BUG: nothing ever deletes
	logins   int64
	logouts  int64
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// fill writes pseudo-random printable bytes into b.
func fill(b []byte, seed int64) {
	x := uint64(seed)*6364136223846793005 + 1442695040888963407
	for i := range b {
		x = x*6364136223846793005 + 1442695040888963407
		b[i] = 'A' + byte(x>>59)
	}
}

func (s *server) login(w http.ResponseWriter, r *http.Request) {
	user := r.URL.Query().Get("user")
	if user == "" {
		http.Error(w, "user required", http.StatusBadRequest)
		return
	}
	sess := &session{
		id:       newID(),
		user:     user,
		roles:    []string{"reader", "member", "tenant:" + user[:3]},
		created:  time.Now(),
		lastSeen: time.Now().UnixNano(),
		claims:   make([]byte, 1024+rand.Intn(1024)),
		prefs:    make([]byte, 1536+rand.Intn(2048)),
	}
	fill(sess.claims, sess.lastSeen)
	fill(sess.prefs, sess.lastSeen+1)
	s.sessions.Store(sess.id, sess)
	atomic.AddInt64(&s.logins, 1)
	fmt.Fprintln(w, sess.id)
}

func (s *server) lookup(r *http.Request) *session {
	c, err := r.Cookie("sid")
	if err != nil {
		return nil
	}
	v, ok := s.sessions.Load(c.Value)
	if !ok {
		return nil
	}
	sess := v.(*session)
	if atomic.LoadInt32(&sess.revoked) != 0 {
		return nil
	}
	atomic.StoreInt64(&sess.lastSeen, time.Now().UnixNano())
	return sess
}

func (s *server) api(w http.ResponseWriter, r *http.Request) {
	sess := s.lookup(r)
	if sess == nil {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	fmt.Fprintf(w, `{"user":%q,"roles":%q,"prefs":%d}`+"\n", sess.user, strings.Join(sess.roles, ","), len(sess.prefs))
}

// logout BUG: revokes the session but never s.sessions.Delete(id).
func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	sess := s.lookup(r)
	if sess == nil {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	atomic.StoreInt32(&sess.revoked, 1)
	atomic.AddInt64(&s.logouts, 1)
	w.WriteHeader(http.StatusNoContent)
}

func main() {
	lwload.Init()
	s := &server{}
	api := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/login", s.login)
	mux.HandleFunc("/api/me", s.api)
	mux.HandleFunc("/logout", s.logout)
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(api) }()
	go func() {
		for {
			time.Sleep(30 * time.Second)
			fmt.Printf("logins %d, logouts %d\n", atomic.LoadInt64(&s.logins), atomic.LoadInt64(&s.logouts))
		}
	}()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	base := "http://" + api.Addr().String()
	call := func(method, path, sid string) string {
		req, err := http.NewRequest(method, base+path, nil)
		if err != nil {
			return ""
		}
		if sid != "" {
			req.AddCookie(&http.Cookie{Name: "sid", Value: sid})
		}
		resp, err := client.Do(req)
		if err != nil {
			return ""
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return strings.TrimSpace(string(b))
	}
	// One call = one visit: log in, a few API calls, rarely log out.
	lwload.Drive(lwload.Diurnal(30, 0.3, 4*time.Minute), 128, func() {
		sid := call("POST", fmt.Sprintf("/login?user=user%05d", rand.Intn(50000)), "")
		if sid == "" {
			return
		}
		for i := rand.Intn(4); i > 0; i-- {
			time.Sleep(time.Duration(rand.Intn(300)) * time.Millisecond)
			call("GET", "/api/me", sid)
		}
		if rand.Intn(10) == 0 {
			call("POST", "/logout", sid)
		}
	})
}
