# SPDX-License-Identifier: Apache-2.0
"""faults_pods.py: the pods' side of the fault and hostile-pod tests.

One HTTP server on 127.0.0.1 stands for many pods: a pod's
leakwatch.io/path annotation (the pprof prefix) selects its behaviour: /<mode>/<name>,
so every pod can share the pod IP 127.0.0.1 and one port. Profiles are the
real Go profiles under tests/fixtures/go1.23/<fixture>/ (goroutine1.txt,
goroutine2.txt, heap1.txt); goroutineleak answers 404 like a Go without the
experiment.

modes (the first path segment):
  fix-<fixture>   serve that fixture; POST /_switch/<name>/<fixture> makes a
                  "fix-*" pod called <name> serve another fixture from then on
  hang            accept, never answer
  trickle         headers, then one byte every 0.5 s, forever
  giga            a 1 GiB goroutine profile generated on the fly (chunked)
  gigacl          the same with Content-Length: 1073741824
  redirect        302 to the recorder (--trap) or to 127.0.0.1 fix-healthy
  malformed       200 text/plain, a profile line with quotes, CR/LF,
                  unicode and a 200 KB line
  evilframes      a real goroutine profile whose function names carry quotes,
                  backslashes, unicode and 3 KB names

Every request is appended to --log as one JSON line (listener, method,
path, headers, bytes sent). --trap ADDR:PORT opens a recording listener
there (e.g. 127.0.0.66) that logs every connection and whatever it
receives, raw, to prove that nothing reaches it. Uses only the standard
library; the generated gigabyte is never stored.
"""
import argparse
import json
import os
import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
ARGS = None
SWITCH = {}
GIG = 1 << 30


def log(entry):
    entry["t"] = time.time()
    with LOCK:
        with open(ARGS.log, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")


def fixture(name, fname):
    path = os.path.join(ARGS.fixtures, name, fname)
    with open(path, "rb") as f:
        return f.read()


# a goroutine debug=1 record in the Go format, repeated for the gigabyte
GIG_HEAD = b"goroutine profile: total 1000000000\n"
GIG_REC = (b"1 @ 0x43e5ce 0x44f2f8 0x6a1c25 0x471e41\n"
           b"#\t0x6a1c24\tmain.leak+0x44\t/src/leak.go:42\n\n")


class PodHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "faultpod/1"

    def log_message(self, fmt, *a):  # quiet
        pass

    def entry(self, **kw):
        e = {"listener": "%s:%d" % self.server.server_address[:2], "method": self.command,
             "path": self.path, "headers": {k: v for k, v in self.headers.items()}}
        e.update(kw)
        log(e)

    def send_body(self, code, body, ctype="text/plain; charset=utf-8"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.entry(status=code, sent=len(body))

    def do_POST(self):
        parts = self.path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "_switch":
            SWITCH[parts[1]] = parts[2]
            self.send_body(200, b"ok\n")
            return
        self.send_body(404, b"404 page not found\n")

    def do_GET(self):
        path, _, query = self.path.partition("?")
        parts = path.split("/")
        # "", mode, name, [anything...,] profile
        if len(parts) < 4:
            self.send_body(404, b"404 page not found\n")
            return
        mode, name, prof = parts[1], parts[2], parts[-1]
        debug2 = "debug=2" in query
        if prof == "goroutineleak" or prof not in ("goroutine", "heap"):
            self.send_body(404, b"404 page not found\n")
            return
        if mode.startswith("fix-"):
            fx = SWITCH.get(name, mode[4:])
            fname = "heap1.txt" if prof == "heap" else (
                "goroutine2.txt" if debug2 else "goroutine1.txt")
            self.send_body(200, fixture(fx, fname))
        elif mode == "hang":
            self.entry(status=0, sent=0, note="hanging")
            self.wait_closed(3600)
            self.entry(status=0, sent=0, note="hang closed")
        elif mode == "trickle":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            body = fixture("healthy", "goroutine1.txt")
            sent = 0
            try:
                while True:
                    self.wfile.write(body[sent % len(body):sent % len(body) + 1])
                    self.wfile.flush()
                    sent += 1
                    time.sleep(0.5)
            except OSError:
                pass
            self.entry(status=200, sent=sent, note="trickle ended")
        elif mode in ("giga", "gigacl"):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            if mode == "gigacl":
                self.send_header("Content-Length", str(GIG))
            else:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            block = GIG_HEAD + GIG_REC * ((256 << 10) // len(GIG_REC))
            rest = GIG_REC * ((256 << 10) // len(GIG_REC))
            sent = 0
            try:
                first = True
                while sent < GIG:
                    b = block if first else rest
                    first = False
                    b = b[:GIG - sent]
                    if mode == "giga":
                        self.wfile.write(b"%x\r\n" % len(b) + b + b"\r\n")
                    else:
                        self.wfile.write(b)
                    sent += len(b)
                if mode == "giga":
                    self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass
            self.entry(status=200, sent=sent, note="gigabyte ended")
        elif mode == "redirect":
            loc = ("http://%s/debug/pprof/%s?%s" % (ARGS.trap, prof, query) if ARGS.trap
                   else "/fix-healthy/%s/%s?%s" % (name, prof, query))
            self.send_response(302)
            self.send_header("Location", loc)
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.entry(status=302, sent=0, location=loc)
        elif mode == "malformed":
            body = ("goroutine profile: total 3\n3 @ 0x1 \"quoted\" \\ \u00e9\u2028\U0001F600 \r\n"
                    "#\t0x1\t" + "\"\\\n" * 3 + "A" * 200000 + "\n").encode("utf-8")
            self.send_body(200, body)
        elif mode == "evilframes":
            body = fixture("chan-send", "heap1.txt" if prof == "heap" else "goroutine1.txt").decode("utf-8")
            evil = "main.\"evil\\\"}{\u00e9\u2028\U0001F600" + "X" * 3000
            body = body.replace("main.", evil + ".", 3)
            self.send_body(200, body.encode("utf-8"))
        else:
            self.send_body(404, b"404 page not found\n")

    def wait_closed(self, limit):
        """Hold the connection without answering until the client goes."""
        self.connection.settimeout(0.5)
        end = time.time() + limit
        while time.time() < end:
            try:
                if self.connection.recv(1) == b"":
                    return
            except socket.timeout:
                continue
            except OSError:
                return


class TrapHandler(socketserver.BaseRequestHandler):
    """Log every connection and what arrives on it (raw), then close."""

    def handle(self):
        self.request.settimeout(1.0)
        data = b""
        try:
            while len(data) < 8192:
                b = self.request.recv(4096)
                if not b:
                    break
                data += b
                if b"\r\n\r\n" in data:
                    break
        except OSError:
            pass
        log({"listener": "trap %s:%d" % self.server.server_address[:2],
             "peer": "%s:%d" % self.client_address[:2], "raw": data.decode("latin-1")})
        try:
            self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 28\r\n\r\n"
                                 b"goroutine profile: total 0\n\n")
        except OSError:
            pass


class ThreadingTCP(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--trap", default="", help="ADDR (port = the pod port) for the recorder")
    ARGS = ap.parse_args()
    ThreadingHTTPServer.daemon_threads = True
    srv = ThreadingHTTPServer(("127.0.0.1", ARGS.port), PodHandler)
    port = srv.server_address[1]
    if ARGS.trap:
        trap = ThreadingTCP((ARGS.trap, port), TrapHandler)
        ARGS.trap = "%s:%d" % (ARGS.trap, port)
        threading.Thread(target=trap.serve_forever, daemon=True).start()
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, ARGS.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
