#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A fake kubelet for leakwatch's DaemonSet-mode tests.

It serves what leakwatch reads from a node's kubelet: GET /metrics/resource
over HTTPS, in the Prometheus text format (0.0.4) the real kubelet's
resource-metrics endpoint writes (HELP/TYPE lines marked [STABLE], label
order container, namespace, pod, values in Go's shortest %g form, a
millisecond timestamp on every sample), with container_cpu_usage_seconds_total,
container_memory_working_set_bytes, container_start_time_seconds,
node_*, pod_* and resource_scrape_error.

The containers come from a JSON file re-read on every request, so a test can
change them while the kubelet runs (write a temporary file and rename it):

  [{"namespace": "default", "pod": "a1", "container": "app", "bytes": 45088768},
   {"namespace": "default", "pod": "a2", "container": "app",
    "cgroup": "/sys/fs/cgroup/memory/x"}]

"bytes" is served as it is; "cgroup" (a cgroup v1 memory directory) is read
the way cAdvisor computes the working set: memory.usage_in_bytes minus
total_inactive_file from memory.stat (a container whose cgroup is gone is
left out, as the kubelet does).

  python3 tests/kubelet/fakekubelet.py --bind 127.0.0.2 --port 0 \\
      --port-file F --tls-dir D --pods pods.json [--token-file T] [--log L]

--tls-dir D holds the CA of the test API server (ca.crt, ca.key, as
tests/apiserver/apiserver.py makes them); the kubelet's serving certificate
(SAN IP:<bind>) is signed by it and written to D/kubelet-<bind>.crt; without
ca.key a self-signed CA is made first. With --token-file, a request without
"Authorization: Bearer <that token>" gets 401 (the real kubelet asks the API
server through a TokenReview; here the token is simply compared). --log L
appends one JSON line per request: time, method, path, whether the bearer
token matched, status. Standard library only; listens only on a 127.x.y.z
address.
"""
import argparse
import hashlib
import http.server
import ipaddress
import json
import os
import signal
import socketserver
import ssl
import subprocess
import sys
import threading
import time


def go_float(v):
    """Format a float like Go's strconv.FormatFloat(v, 'g', -1, 64), which
    the Prometheus client library uses for sample values: the shortest
    digits that round-trip, %e form when the exponent is < -4 or >= 6."""
    v = float(v)
    if v != v:
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "0"
    sign = "-" if v < 0 else ""
    m, _, e = ("%r" % abs(v)).partition("e")  # Python's repr is shortest too
    ip, _, fp = m.partition(".")
    raw = ip + fp
    nz = len(raw) - len(raw.lstrip("0"))
    digits = raw.strip("0") or "0"
    dp = len(ip) - nz + (int(e) if e else 0)  # decimal point after dp digits
    x = dp - 1
    if x < -4 or x >= 6:
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return "%s%se%s%02d" % (sign, mant, "-" if x < 0 else "+", abs(x))
    if dp <= 0:
        return sign + "0." + "0" * (-dp) + digits
    if dp >= len(digits):
        return sign + digits + "0" * (dp - len(digits))
    return sign + digits[:dp] + "." + digits[dp:]


def cgroup_working_set(d):
    """cAdvisor's working set of a cgroup v1 memory directory, or None."""
    try:
        with open(os.path.join(d, "memory.usage_in_bytes")) as f:
            usage = int(f.read().strip())
        inactive = 0
        with open(os.path.join(d, "memory.stat")) as f:
            for line in f:
                k, _, v = line.partition(" ")
                if k == "total_inactive_file":
                    inactive = int(v)
        return max(0, usage - inactive) if inactive < usage else 0
    except (OSError, ValueError):
        return None


def esc(v):
    return str(v).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def render(pods, now_ms, started):
    """The /metrics/resource body for the containers in pods."""
    rows = []
    for p in pods:
        b = p.get("bytes")
        if b is None and p.get("cgroup"):
            b = cgroup_working_set(p["cgroup"])
        if b is None:
            continue
        rows.append((str(p.get("namespace", "default")), str(p["pod"]),
                     str(p.get("container", "app")), float(b)))
    rows.sort(key=lambda r: (r[2], r[0], r[1]))
    out = []

    def head(name, help_, typ):
        out.append("# HELP %s [STABLE] %s" % (name, help_))
        out.append("# TYPE %s %s" % (name, typ))

    def cl(ns, pod, ctr):
        return 'container="%s",namespace="%s",pod="%s"' % (esc(ctr), esc(ns), esc(pod))

    head("container_cpu_usage_seconds_total",
         "Cumulative cpu time consumed by the container in core-seconds", "counter")
    for ns, pod, ctr, _ in rows:
        out.append("container_cpu_usage_seconds_total{%s} %s %d"
                   % (cl(ns, pod, ctr), go_float(0.25 + (time.time() - started) * 0.01), now_ms))
    head("container_memory_working_set_bytes", "Current working set of the container in bytes",
         "gauge")
    for ns, pod, ctr, b in rows:
        out.append("container_memory_working_set_bytes{%s} %s %d" % (cl(ns, pod, ctr),
                                                                     go_float(b), now_ms))
    head("container_start_time_seconds",
         "Start time of the container since unix epoch in seconds", "gauge")
    for ns, pod, ctr, _ in rows:
        out.append("container_start_time_seconds{%s} %s %d" % (cl(ns, pod, ctr),
                                                               go_float(float(int(started))),
                                                               now_ms))
    head("node_cpu_usage_seconds_total",
         "Cumulative cpu time consumed by the node in core-seconds", "counter")
    out.append("node_cpu_usage_seconds_total %s %d" % (go_float(1234.5678), now_ms))
    head("node_memory_working_set_bytes", "Current working set of the node in bytes", "gauge")
    out.append("node_memory_working_set_bytes %s %d"
               % (go_float(2.0e9 + sum(r[3] for r in rows)), now_ms))
    head("pod_cpu_usage_seconds_total",
         "Cumulative cpu time consumed by the pod in core-seconds", "counter")
    pods_ws = {}
    for ns, pod, _, b in rows:
        pods_ws[(ns, pod)] = pods_ws.get((ns, pod), 0.0) + b
    for (ns, pod) in sorted(pods_ws):
        out.append('pod_cpu_usage_seconds_total{namespace="%s",pod="%s"} %s %d'
                   % (esc(ns), esc(pod), go_float(0.5), now_ms))
    head("pod_memory_working_set_bytes", "Current working set of the pod in bytes", "gauge")
    for (ns, pod), b in sorted(pods_ws.items()):
        out.append('pod_memory_working_set_bytes{namespace="%s",pod="%s"} %s %d'
                   % (esc(ns), esc(pod), go_float(b), now_ms))
    head("resource_scrape_error",
         "1 if there was an error while getting container metrics, 0 otherwise", "gauge")
    out.append("resource_scrape_error 0")
    return "\n".join(out) + "\n"


def ensure_cert(tls_dir, ip):
    """A serving certificate for ip signed by the CA in tls_dir."""
    os.makedirs(tls_dir, exist_ok=True)

    def run(*args):
        subprocess.run(["openssl", *args], cwd=tls_dir, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if not os.path.exists(os.path.join(tls_dir, "ca.key")):
        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.crt", "-days", "30", "-subj", "/CN=leakwatch-test-ca",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    name = "kubelet-%s" % ip
    crt, key = os.path.join(tls_dir, name + ".crt"), os.path.join(tls_dir, name + ".key")
    if not os.path.exists(crt):
        with open(os.path.join(tls_dir, name + ".ext"), "w") as f:
            f.write("subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n"
                    "basicConstraints=CA:FALSE\n" % ip)
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out",
            name + ".csr", "-subj", "/CN=%s@kubelet" % ip)
        run("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", name + ".crt", "-days", "30", "-extfile", name + ".ext")
    return crt, key


class Kubelet:
    def __init__(self, pods_file, token_file, log_file):
        self.pods_file = pods_file
        self.token_file = token_file
        self.log_file = log_file
        self.started = time.time()
        self.lock = threading.Lock()

    def token(self):
        if not self.token_file:
            return None
        try:
            with open(self.token_file) as f:
                return f.read().strip()
        except OSError:
            return ""

    def pods(self):
        try:
            with open(self.pods_file) as f:
                v = json.load(f)
            return v if isinstance(v, list) else []
        except (OSError, ValueError):
            return []

    def log(self, entry):
        if not self.log_file:
            return
        with self.lock, open(self.log_file, "a") as f:
            f.write(json.dumps(entry) + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-kubelet"

    def log_message(self, fmt, *args):  # quiet
        pass

    def reply(self, code, body, ctype="text/plain; charset=utf-8"):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self):
        k = self.server.kubelet
        auth = self.headers.get("Authorization", "")
        want = k.token()
        token_ok = None
        if want is not None:
            token_ok = bool(want) and auth == "Bearer " + want
        path = self.path.split("?", 1)[0]
        if want is not None and not token_ok:
            code = 401
            self.reply(401, "Unauthorized\n")
        elif path == "/metrics/resource":
            code = 200
            body = render(k.pods(), int(time.time() * 1000), k.started)
            self.reply(200, body, "text/plain; version=0.0.4; charset=utf-8")
        elif path == "/healthz":
            code = 200
            self.reply(200, "ok")
        else:
            code = 404
            self.reply(404, "404 page not found\n")
        k.log({"time": time.time(), "method": self.command, "path": self.path,
               "token_ok": token_ok,
               "auth": ("Bearer sha256:" + hashlib.sha256(auth[7:].encode()).hexdigest()[:16])
               if auth.startswith("Bearer ") else auth[:16], "status": code})

    do_HEAD = do_GET


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bind", default="127.0.0.1", help="a 127.x.y.z address")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--tls-dir", required=True)
    ap.add_argument("--pods", required=True, help="JSON list of containers, re-read per request")
    ap.add_argument("--token-file", help="the bearer token requests must carry")
    ap.add_argument("--log", help="append one JSON line per request here")
    a = ap.parse_args(argv)
    if not ipaddress.ip_address(a.bind).is_loopback:
        ap.error("--bind must be a loopback address")
    crt, key = ensure_cert(a.tls_dir, a.bind)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(crt, key)
    srv = Server((a.bind, a.port), Handler)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.kubelet = Kubelet(a.pods, a.token_file, a.log)
    port = srv.server_address[1]
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.replace(a.port_file + ".tmp", a.port_file)
    print("fake kubelet on https://%s:%d" % (a.bind, port), flush=True)

    def stop(*_):
        threading.Thread(target=srv.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    srv.serve_forever(poll_interval=0.2)
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
