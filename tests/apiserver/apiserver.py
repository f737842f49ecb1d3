#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""leakwatch's test Kubernetes API server.

A loopback-only, standard-library-only stand-in for kube-apiserver that
follows ../../../shared/docs/kubernetes-api.md (pods, nodes, namespaces,
core/v1 and events.k8s.io/v1 events, coordination.k8s.io/v1 leases; list,
watch, get, create, update, patch, delete; bookmarks, 410s, Status errors,
selectors, event validation), plus a /_test/ control API for seeding objects
and injecting faults.  Real kubectl runs against it (tests/cli/
test_apiserver_kubectl.sh).  See docs/test-apiserver.md.

  python3 tests/apiserver/apiserver.py --port 0 --port-file F --token-file T \\
      [--tls-dir D] [--state FILE.json] [--kubeconfig-out PATH]
"""
import argparse
import base64
import json
import os
import signal
import ssl
import subprocess
import sys
import threading

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from kapi import sadir  # noqa: E402
from kapi.api import App, random_token  # noqa: E402
from kapi.handler import Server  # noqa: E402


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def ensure_tls(d):
    """Create (if missing) a CA, a server cert for 127.0.0.1/localhost and a
    client cert (CN leakwatch-client) in directory d with the openssl CLI."""
    os.makedirs(d, exist_ok=True)
    p = lambda n: os.path.join(d, n)  # noqa: E731
    if not os.path.exists(p("ca.crt")):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
                 "-out", "ca.crt", "-days", "30", "-subj", "/CN=leakwatch-test-ca",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    for name, cn, ext in (("server", "leakwatch-test-apiserver",
                           "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                           "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"),
                          ("client", "leakwatch-client",
                           "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n")):
        if os.path.exists(p(name + ".crt")):
            continue
        with open(p(name + ".ext"), "w") as f:
            f.write(ext)
        subj = "/CN=%s" % cn + ("/O=leakwatch:testers" if name == "client" else "")
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out",
                 name + ".csr", "-subj", subj, cwd=d)
        _openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", name + ".crt", "-days", "30", "-extfile",
                 name + ".ext", cwd=d)
    return p("ca.crt"), p("server.crt"), p("server.key")


def ssl_context(tls_dir):
    ca, crt, key = ensure_tls(tls_dir)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(crt, key)
    ctx.load_verify_locations(ca)
    ctx.verify_mode = ssl.CERT_OPTIONAL  # a client cert signed by the CA authenticates
    return ctx


def _b64file(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def write_kubeconfig(path, server, token=None, token_file=None, tls_dir=None, client_cert=False,
                     namespace="default"):
    lines = ["apiVersion: v1", "kind: Config", "clusters:", "- name: leakwatch-test",
             "  cluster:", "    server: %s" % server]
    if tls_dir:
        lines.append("    certificate-authority-data: %s" % _b64file(os.path.join(tls_dir,
                                                                                  "ca.crt")))
    lines += ["contexts:", "- name: leakwatch-test", "  context:", "    cluster: leakwatch-test",
              "    user: leakwatch-test", "    namespace: %s" % namespace,
              "current-context: leakwatch-test", "preferences: {}", "users:",
              "- name: leakwatch-test", "  user:"]
    if client_cert and tls_dir:
        lines.append("    client-certificate-data: %s" % _b64file(os.path.join(tls_dir,
                                                                                 "client.crt")))
        lines.append("    client-key-data: %s" % _b64file(os.path.join(tls_dir, "client.key")))
    elif token_file:
        lines.append("    tokenFile: %s" % os.path.abspath(token_file))
    elif token:
        lines.append("    token: %s" % token)
    else:
        lines[-1] = "  user: {}"
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def load_state(app, path):
    """--state FILE.json: {"pods": [...], "nodes": [...], "namespaces": [...],
    "events": [...], "leases": [...]} seeded at start-up."""
    with open(path) as f:
        state = json.load(f)
    for plural in ("namespaces", "nodes", "pods", "leases", "events"):
        res = next(r for r in app.registry if r.plural == plural and r.group in
                   ("", "coordination.k8s.io"))
        for obj in state.get(plural, []):
            app.seed(res, obj)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free)")
    ap.add_argument("--port-file", help="write the chosen port here once listening")
    ap.add_argument("--token", help="a static bearer token that is accepted")
    ap.add_argument("--token-file", help="file holding the accepted bearer token; re-read on "
                    "every request, so rewriting it rotates the token")
    ap.add_argument("--sa-dir", help="lay out a service-account volume here (token, ca.crt, "
                    "namespace through ..data symlinks); the token is read from it and "
                    "POST /_test/rotate-token rotates it atomically")
    ap.add_argument("--no-auth", action="store_true", help="accept unauthenticated requests")
    ap.add_argument("--tls-dir", help="serve HTTPS; CA/server/client certs are created here "
                    "with openssl if missing (ca.crt, server.crt, client.crt/.key)")
    ap.add_argument("--state", help="JSON file of objects to seed at start-up")
    ap.add_argument("--kubeconfig-out", help="write a kubeconfig pointing at this server")
    ap.add_argument("--kubeconfig-client-cert", action="store_true",
                    help="with --tls-dir: the kubeconfig uses the client certificate")
    ap.add_argument("--bookmark-interval", type=float, default=5.0)
    ap.add_argument("--history", type=int, default=5000, help="watch history entries kept")
    ap.add_argument("--history-seconds", type=float, default=300.0,
                    help="watch history age limit (etcd keeps ~5 min)")
    ap.add_argument("--expired-form", choices=("event", "http"), default="event",
                    help="how a watch from a too-old RV is refused")
    ap.add_argument("--no-events-api", action="store_true", help="hide events.k8s.io/v1")
    ap.add_argument("--metrics-api", action="store_true", help="serve metrics.k8s.io/v1beta1")
    ap.add_argument("--event-ttl", type=float, default=3600.0)
    ap.add_argument("--log-cap", type=int, default=2000, help="request log entries kept")
    ap.add_argument("--first-rv", type=int, default=0,
                    help="start the resourceVersion counter here (a restarted etcd keeps its "
                         "revision: restart with a value above the old server's)")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    if not (a.token or a.token_file or a.sa_dir or a.no_auth):
        ap.error("one of --token, --token-file, --sa-dir or --no-auth is required")
    if a.sa_dir and a.token_file:
        ap.error("--sa-dir and --token-file are exclusive")
    if a.sa_dir:
        a.token_file = os.path.join(a.sa_dir, "token")
    app = App(token=a.token, token_file=a.token_file, history_cap=a.history,
              history_seconds=a.history_seconds, log_cap=a.log_cap)
    app.verbose = a.verbose
    app.cfg.bookmark_interval = a.bookmark_interval
    app.cfg.expired_form = a.expired_form
    app.cfg.events_api = not a.no_events_api
    app.cfg.metrics_api = a.metrics_api
    app.cfg.event_ttl = a.event_ttl
    app.save_config()
    if a.first_rv > 0:
        app.store.rv = app.store.compacted = a.first_rv
    ctx = ssl_context(a.tls_dir) if a.tls_dir else None
    if a.sa_dir:
        ca = b""
        if a.tls_dir:
            with open(os.path.join(a.tls_dir, "ca.crt"), "rb") as f:
                ca = f.read()
        sadir.write(a.sa_dir, a.token or random_token(), ca)
        app.sa_dir = a.sa_dir
    if a.state:
        try:
            load_state(app, a.state)
        except (OSError, ValueError, KeyError, AttributeError, TypeError) as e:
            sys.stderr.write("apiserver: --state %s: %s\n" % (a.state, e))
            return 2
    srv = Server(("127.0.0.1", a.port), app, ctx)
    port = srv.server_address[1]
    app.server_addr = "127.0.0.1:%d" % port
    scheme = "https" if ctx else "http"
    if a.kubeconfig_out:
        write_kubeconfig(a.kubeconfig_out, "%s://127.0.0.1:%d" % (scheme, port), a.token,
                         a.token_file, a.tls_dir, a.kubeconfig_client_cert)
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, a.port_file)
    print("listening on %s://127.0.0.1:%d" % (scheme, port), flush=True)

    def stop(*_):
        app.stop()
        threading.Thread(target=srv.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    srv.serve_forever(poll_interval=0.2)
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
