// SPDX-License-Identifier: Apache-2.0

// leak-map-cache: a heap-only leak. A login API keeps every session in a
// map keyed by token and never evicts (no TTL, no logout path in practice):
// goroutines stay flat, the heap grows with every login until the
// container is OOM-killed. The growth is attributed to the allocation site
// main.(*sessionStore).Put (session blobs and map growth). Fix: expire
// sessions (TTL + sweep) or bound the store.
package main

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"sync"
	"time"

	"lwbench/lwload"
)

type session struct {
	User    string
	Created time.Time
	Roles   []string
	Claims  map[string]string
	Blob    []byte // serialized profile, cart, preferences
}

type sessionStore struct {
	mu sync.Mutex
	m  map[string]*session
}

// Put stores a new session. BUG: nothing ever deletes from s.m.
func (s *sessionStore) Put(user string) string {
	h := sha1.Sum([]byte(fmt.Sprintf("%s-%d-%d", user, time.Now().UnixNano(), rand.Int63())))
	tok := hex.EncodeToString(h[:])
	sess := &session{User: user, Created: time.Now(), Roles: []string{"user", "buyer"},
		Claims: map[string]string{"iss": "auth", "sub": user, "scope": "read write"},
		Blob:   make([]byte, 1500+rand.Intn(3000))}
	rand.Read(sess.Blob)
	s.mu.Lock()
	s.m[tok] = sess
	s.mu.Unlock()
	return tok
}

func (s *sessionStore) Get(tok string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[tok]
}

func main() {
	lwload.Init()
	store := &sessionStore{m: make(map[string]*session)}
	api := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, store.Put(r.URL.Query().Get("user")))
	})
	mux.HandleFunc("/me", func(w http.ResponseWriter, r *http.Request) {
		if s := store.Get(r.URL.Query().Get("tok")); s != nil {
			fmt.Fprintln(w, s.User)
			return
		}
		http.Error(w, "no session", http.StatusUnauthorized)
	})
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(api) }()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	base := "http://" + api.Addr().String()
	lwload.Drive(lwload.Diurnal(30, 0.35, 4*time.Minute), 64, func() {
		resp, err := client.Get(base + fmt.Sprintf("/login?user=u%d", rand.Intn(100000)))
		if err != nil {
			return
		}
		tok, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for i := 0; i < rand.Intn(4); i++ { // a few authenticated calls per login
			if resp, err := client.Get(base + "/me?tok=" + string(tok[:len(tok)-1])); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	})
}
