// SPDX-License-Identifier: Apache-2.0

// leak-ssh-handshake: seed incident 3. A remote-command API runs commands
// on a fleet of hosts with golang.org/x/crypto/ssh, trusting
// ssh.ClientConfig.Timeout (3 s). That timeout covers only the TCP connect:
// a host whose sshd accepts the connection and never sends its version line
// (here: one "broken" host out of five, in the peer process) blocks the
// handler forever in the version exchange (readVersion, IO wait). Callers
// time out and go away; the handler goroutines, their net/http connection
// and SSH client state stay, with wait minutes that only grow. Fix: a
// deadline on the net.Conn for the whole handshake (golang/go#15113).
package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	mrand "math/rand"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"lwbench/lwload"
)

const nhosts = 5

func servePeerSSH(ln net.Listener, cfg *ssh.ServerConfig) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func(c net.Conn) {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			_, chans, reqs, err := ssh.NewServerConn(c, cfg)
			if err != nil {
				return
			}
			go ssh.DiscardRequests(reqs)
			for nc := range chans {
				if nc.ChannelType() != "session" {
					_ = nc.Reject(ssh.UnknownChannelType, "no")
					continue
				}
				ch, creqs, err := nc.Accept()
				if err != nil {
					continue
				}
				go func() {
					defer ch.Close()
					for r := range creqs {
						if r.Type != "exec" {
							_ = r.Reply(false, nil)
							continue
						}
						_ = r.Reply(true, nil)
						fmt.Fprintf(ch, " %s up 41 days, load average: 0.%02d\n", time.Now().Format("15:04:05"), mrand.Intn(100))
						st := make([]byte, 4)
						binary.BigEndian.PutUint32(st, 0)
						_, _ = ch.SendRequest("exit-status", false, st)
						return
					}
				}()
			}
		}(c)
	}
}

func peer() {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		lwload.Fatalf("key: %v", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		lwload.Fatalf("signer: %v", err)
	}
	cfg := &ssh.ServerConfig{PasswordCallback: func(ssh.ConnMetadata, []byte) (*ssh.Permissions, error) { return nil, nil }}
	cfg.AddHostKey(signer)
	for i := 0; i < nhosts-1; i++ {
		ln := lwload.Listen()
		go servePeerSSH(ln, cfg)
		lwload.PeerAddr(fmt.Sprintf("host%d", i), ln.Addr().String())
	}
	// The broken host: accepts, never speaks (a wedged sshd, a middlebox).
	ln := lwload.Listen()
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	lwload.PeerAddr(fmt.Sprintf("host%d", nhosts-1), ln.Addr().String())
	lwload.PeerReady()
}

var hosts []string

// runRemote runs cmd on a host. BUG (incident 3): Timeout covers only the
// TCP connect, nothing bounds the SSH version exchange and key exchange.
func runRemote(host, cmd string) (string, error) {
	cfg := &ssh.ClientConfig{
		User:            "deploy",
		Auth:            []ssh.AuthMethod{ssh.Password("x")},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         3 * time.Second,
	}
	client, err := ssh.Dial("tcp", host, cfg)
	if err != nil {
		return "", err
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		return "", err
	}
	defer sess.Close()
	out, err := sess.Output(cmd)
	return string(out), err
}

func main() {
	lwload.Init()
	if *lwload.Role == "peer" {
		peer()
	}
	addrs := lwload.StartPeer()
	for i := 0; i < nhosts; i++ {
		hosts = append(hosts, addrs[fmt.Sprintf("host%d", i)])
	}

	api := lwload.Listen()
	mux := http.NewServeMux()
	mux.HandleFunc("/exec", func(w http.ResponseWriter, r *http.Request) {
		var h int
		fmt.Sscanf(r.URL.Query().Get("host"), "%d", &h)
		out, err := runRemote(hosts[h%nhosts], "uptime")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		io.WriteString(w, strings.TrimSpace(out)+"\n")
	})
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(api) }()

	// Callers give up after 5 s (and close their connection).
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	url := "http://" + api.Addr().String() + "/exec?host="
	lwload.Drive(lwload.Diurnal(20, 0.35, 4*time.Minute), 200, func() {
		resp, err := client.Get(url + fmt.Sprint(mrand.Intn(nhosts)))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
