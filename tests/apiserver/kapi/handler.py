# SPDX-License-Identifier: Apache-2.0
"""HTTP plumbing: request parsing, authentication, fault injection, routing
to api.App, JSON/Table responses, chunked watch streams, and the /_test/
control API (no auth; the server only listens on loopback)."""
import json
import select
import socket
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit, unquote

from . import discovery, tables
from . import status as S
from . import sadir
from .api import MAX_BODY, random_token, resolve
from .patch import merge_patch
from .validation import decode_fixups

PUBLIC_PATHS = {"/version", "/healthz", "/livez", "/readyz"}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    max_connections = 512  # bounded: one thread per connection

    def __init__(self, addr, app, ssl_ctx=None):
        self.app = app
        self.ssl_ctx = ssl_ctx
        self._conn_sem = threading.BoundedSemaphore(self.max_connections)
        super().__init__(addr, Handler)

    def process_request(self, request, client_address):
        if not self._conn_sem.acquire(blocking=False):
            self.shutdown_request(request)  # over the cap: refuse the connection
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            self._conn_sem.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._conn_sem.release()

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.ssl_ctx is not None:
            sock = self.ssl_ctx.wrap_socket(sock, server_side=True,
                                            do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        ex = sys.exc_info()[1]
        if isinstance(ex, (ConnectionError, TimeoutError, OSError)):
            return
        super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 300  # idle keep-alive connections and stalled writers are cut off
    server_version = "leakwatch-test-apiserver/1"
    sys_version = ""

    def setup(self):
        super().setup()
        try:  # headers and body are separate writes: avoid Nagle + delayed-ACK stalls
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self.peer_cn = None
        if self.server.ssl_ctx is not None:
            self.connection.settimeout(10)
            try:
                self.connection.do_handshake()
            except (OSError, ValueError):
                self.close_connection = True
                raise ConnectionAbortedError("TLS handshake failed")
            self.connection.settimeout(self.timeout)
            cert = self.connection.getpeercert()
            if cert:
                for rdn in cert.get("subject", ()):
                    for k, v in rdn:
                        if k == "commonName":
                            self.peer_cn = v

    def log_message(self, fmt, *args):  # quiet; the request log is the record
        if self.server.app.verbose:
            sys.stderr.write("apiserver: %s\n" % (fmt % args))

    # ----------------------------------------------------------- plumbing
    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if te == "chunked":
            out = bytearray()
            while True:
                line = self.rfile.readline(1024)
                n = int(line.split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    self.rfile.readline(1024)
                    break
                if len(out) + n > MAX_BODY:
                    raise S.entity_too_large(MAX_BODY)
                out += self.rfile.read(n)
                self.rfile.readline(1024)
            return bytes(out)
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            self.close_connection = True
            raise S.entity_too_large(MAX_BODY)
        return self.rfile.read(n) if n > 0 else b""

    def _mark(self, code):
        """The response's status, recorded before its first byte is written
        (the client may read the request log or the counters next): in the
        log entry, and once in the counters."""
        self._status = code
        if self._entry is not None:
            self._entry["status"] = code
        if self._req is not None and not self._counted:
            self._counted = True
            method, path, q = self._req
            info = resolve(method, path, q)
            self.server.app.log.count("%s %s%s %s" % (
                info["verb"], info["resource"] or path,
                "/" + info["subresource"] if info["subresource"] else "", code))

    def send_json(self, code, obj, headers=None, pretty=False):
        data = (json.dumps(obj, indent=2) if pretty else
                json.dumps(obj, separators=(",", ":"))).encode() + b"\n"
        self._mark(code)  # before the write: the client may read the log next
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_text(self, code, text):
        data = text.encode()
        self._mark(code)
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def dispatch(self, method):
        app = self.server.app
        self._status = None
        self._entry = None
        self._req = None
        self._counted = False
        url = urlsplit(self.path)
        path = unquote(url.path)
        q = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        entry = None
        try:
            body = self._read_body()
        except S.ApiError as e:
            self.send_json(e.code, e.body(), e.headers)
            return
        except (ValueError, OSError):
            self.close_connection = True
            return
        if path.startswith("/_test/") or path == "/_test":
            try:
                self.control(method, path, q, body)
            except Exception as e:  # noqa: BLE001 - report any control error to the test
                self.send_json(400, {"error": str(e), "trace": traceback.format_exc()[-800:]})
            return
        entry = app.log.add(method, path, q, dict(self.headers.items()), body)
        self._entry = entry
        self._req = (method, path, q)
        try:
            self.api(method, path, q, body)
        except S.ApiError as e:
            if self._status is None:
                self.send_json(e.code, e.body(), e.headers, q.get("pretty") == "true")
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True
        except Exception as e:  # noqa: BLE001 - an internal bug must still answer 500
            traceback.print_exc()
            if self._status is None:
                err = S.internal(str(e))
                self.send_json(500, err.body())
        finally:
            if entry is not None:
                entry["status"] = self._status
            if not self._counted:  # no response (a dropped connection, a fault)
                self._mark(self._status)

    # ---------------------------------------------------------------- API
    def api(self, method, path, q, body):
        app = self.server.app
        info = resolve(method, path, q)
        if path in PUBLIC_PATHS and method == "GET":
            user = None
        else:
            user = app.authenticate(self.headers.get("Authorization"), self.peer_cn)
        info["user"] = user
        fault = app.faults.take(info)
        event_fault = None
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.action == "close":
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                self._status = 0
                return
            if fault.action == "error":
                err = self.fault_error(fault, info, q)
                if fault.form == "event" and info["verb"] == "watch":
                    event_fault = err
                else:
                    raise err
        pretty = q.get("pretty") in ("true", "1")
        accept = self.headers.get("Accept", "")
        if method == "GET" and not info["is_resource"]:
            return self.discovery(path, pretty)
        if not info["is_resource"]:
            raise S.path_not_found() if method == "GET" else S.method_not_allowed(method, "")
        if info["group"] == discovery.METRICS_GROUP:
            return self.metrics_api(info, pretty)
        res = app.resource_for(info)
        ns, name, sub, verb = info["namespace"], info["name"], info["subresource"], info["verb"]
        if res.namespaced is False and ns and res.plural != "namespaces":
            raise S.path_not_found()
        if sub and sub not in res.subresources:
            raise S.path_not_found()
        if res.namespaced and not ns and name:
            raise S.path_not_found()
        if sub and verb in ("watch", "list", "create", "delete", "deletecollection"):
            raise S.method_not_allowed(method, res.plural)
        if verb == "list":
            return self.send_json(200, app.list(res, ns, q, accept), pretty=pretty)
        if verb == "watch":
            return self.watch(res, ns, name, q, accept, pretty, event_fault)
        if verb == "get":
            return self.send_json(200, app.get(res, ns, name, accept, q), pretty=pretty)
        if verb == "create":
            if name:
                raise S.method_not_allowed(method, res.plural)
            code, out = app.create(res, ns, body, q)
            return self.send_json(code, out, pretty=pretty)
        if verb == "update":
            code, out = app.update(res, ns, name, sub, body, q)
            return self.send_json(code, out, pretty=pretty)
        if verb == "patch":
            code, out = app.patch(res, ns, name, sub, body, self.headers.get("Content-Type"), q)
            return self.send_json(code, out, pretty=pretty)
        if verb == "delete":
            code, out = app.delete(res, ns, name, body, q)
            return self.send_json(code, out, pretty=pretty)
        if verb == "deletecollection":
            code, out = app.delete_collection(res, ns, q)
            return self.send_json(code, out, pretty=pretty)
        raise S.method_not_allowed(method, res.plural)

    def fault_error(self, fault, info, q):
        """The injected error, worded like the real one for this request."""
        app = self.server.app
        spec = fault.spec
        if fault.code == 403 and "message" not in spec:
            return S.forbidden(info["resource"], info["group"], info["name"],
                               info["namespace"], info["verb"], info["user"] or "system:anonymous")
        if fault.code == 410 and "message" not in spec:
            if q.get("continue"):
                return S.expired(S.CONTINUE_EXPIRED, q["continue"])
            rv = q.get("resourceVersion") or "0"
            msg = "too old resource version: %s (%d)" % (rv, app.store.compacted)
            return S.gone(msg) if spec.get("reason") == "Gone" else S.expired(msg)
        return fault.error()

    def discovery(self, path, pretty):
        app = self.server.app
        cfg = app.cfg
        p = path.rstrip("/") or "/"
        if p == "/version":
            return self.send_json(200, discovery.version_doc(), pretty=pretty)
        if p in ("/healthz", "/livez", "/readyz"):
            return self.send_text(200, "ok")
        if p == "/api":
            return self.send_json(200, discovery.api_versions(app.server_addr), pretty=pretty)
        if p == "/apis":
            return self.send_json(200, discovery.group_list(cfg), pretty=pretty)
        segs = p.strip("/").split("/")
        if segs[0] == "api" and len(segs) == 2:
            d = discovery.resource_list(cfg, app.registry, "", segs[1])
        elif segs[0] == "apis" and len(segs) == 2:
            d = discovery.group_doc(cfg, segs[1])
        elif segs[0] == "apis" and len(segs) == 3:
            d = discovery.resource_list(cfg, app.registry, segs[1], segs[2])
        else:
            d = None
        if d is None:
            raise S.path_not_found()
        return self.send_json(200, d, pretty=pretty)

    def metrics_api(self, info, pretty):
        app = self.server.app
        if not app.cfg.metrics_api or info["version"] != "v1beta1":
            raise S.path_not_found()
        if info["resource"] != "pods" or info["verb"] not in ("get", "list"):
            raise S.path_not_found()
        items = app.pod_metrics(info["namespace"], info["name"])
        for it in items:
            it.update({"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1"})
        if info["verb"] == "get":
            if not items:
                raise S.not_found("pods", "metrics.k8s.io", info["name"])
            return self.send_json(200, items[0], pretty=pretty)
        return self.send_json(200, {"kind": "PodMetricsList", "apiVersion":
                                    "metrics.k8s.io/v1beta1", "metadata": {}, "items": items},
                              pretty=pretty)

    # -------------------------------------------------------------- watch
    def _chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _client_gone(self):
        """A watch client never sends anything: readable means it closed."""
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(r)

    def watch(self, res, ns, name, q, accept, pretty, event_fault):
        app = self.server.app
        plan = app.watch_prepare(res, ns, q, name)
        with app.watch_lock:
            if len(app.watches) >= app.cfg.max_watches:
                raise S.too_many_requests(1)
        too_old = None
        objs, rv, gen = [], None, None
        if event_fault is None:
            try:
                objs, rv, gen = app.watch_begin(plan)
            except S.ApiError as e:
                if e.code != 410 or app.cfg.expired_form == "http":
                    raise
                too_old = e
        as_table = tables.wants_table(accept)
        include = q.get("includeObject", "Metadata")
        self._mark(200)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        headers_sent = [False]

        def emit(etype, obj, raw=False):
            if raw:
                o = obj
            elif as_table and etype != "BOOKMARK":
                v = res.to_view(obj)
                o = tables.table(res.kind, [v], {"resourceVersion": v["metadata"].get(
                    "resourceVersion", "")}, include, headers=not headers_sent[0])
                headers_sent[0] = True
            else:
                o = res.to_view(obj)
            ev = {"type": etype, "object": o}
            data = (json.dumps(ev, indent=2) if pretty else
                    json.dumps(ev, separators=(",", ":"))).encode() + b"\n"
            self._chunk(data)

        wid = id(self)
        with app.watch_lock:
            app.watches[wid] = {"resource": res.plural, "group": res.group, "namespace": ns,
                                "query": q, "since": time.time()}
        abrupt = False
        try:
            if event_fault is not None or too_old is not None:
                err = event_fault or too_old
                emit("ERROR", err.body(), raw=True)
                return
            for o in objs:
                emit("ADDED", o)
            if plan["initial_end"]:
                emit("BOOKMARK", app.bookmark(res, rv, True), raw=True)
            deadline = time.monotonic() + plan["timeout"]
            next_bm = time.monotonic() + app.cfg.bookmark_interval
            last = rv
            while True:
                now = time.monotonic()
                if now >= deadline:
                    break
                wait = min(deadline, next_bm) - now if plan["bookmarks"] else deadline - now
                if self._client_gone():
                    abrupt = True
                    return
                try:
                    evs, last, dropped = app.watch_next(plan, last, gen,
                                                        min(1.0, max(0.0, wait)))
                except S.ApiError as e:  # fell out of the history window
                    emit("ERROR", e.body(), raw=True)
                    return
                if dropped:
                    abrupt = app.drop_abrupt
                    return
                for etype, o in evs:
                    emit(etype, o)
                if plan["bookmarks"] and time.monotonic() >= next_bm:
                    emit("BOOKMARK", app.bookmark(res, last), raw=True)
                    next_bm = time.monotonic() + app.cfg.bookmark_interval
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError):
            abrupt = True
            self.close_connection = True
        finally:
            with app.watch_lock:
                app.watches.pop(wid, None)
            if abrupt:
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            else:
                try:
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except OSError:
                    self.close_connection = True

    # ------------------------------------------------------------ control
    def control(self, method, path, q, body):
        app = self.server.app
        segs = [s for s in path.split("/") if s][1:]
        data = json.loads(body) if body else None
        head = segs[0] if segs else ""
        ok = {"ok": True}
        if head == "health":
            return self.send_json(200, {"ok": True, "resourceVersion": str(app.store.rv)})
        if head == "reset" and method == "POST":
            app.store.reset()
            app.faults.clear()
            app.log.clear()
            app.log.clear_counters()
            app.metrics.clear()
            app.restore_config()
            for ns in ("default", "kube-system"):
                app.ensure_namespace(ns)
            return self.send_json(200, ok)
        if head == "counters":
            if method == "DELETE":
                app.log.clear_counters()
                return self.send_json(200, ok)
            return self.send_json(200, app.log.counters())
        if head == "requests":
            if method == "DELETE":
                app.log.clear()
                return self.send_json(200, ok)
            return self.send_json(200, {"items": app.log.since(int(q.get("since", 0)))})
        if head == "faults":
            if method == "DELETE":
                app.faults.clear()
                return self.send_json(200, ok)
            if method == "POST":
                rules = data if isinstance(data, list) else [data]
                for r in rules:
                    app.faults.add(r)
                return self.send_json(200, app.faults.to_json())
            return self.send_json(200, app.faults.to_json())
        if head == "unauthorized-until-token-change" and method == "POST":
            app.force_unauthorized()
            return self.send_json(200, ok)
        if head == "rotate-token" and method == "POST":
            if not app.sa_dir:
                raise ValueError("rotate-token needs --sa-dir")
            tok = (data or {}).get("token") or random_token()
            sadir.write(app.sa_dir, tok, sadir.read_ca(app.sa_dir))
            return self.send_json(200, {"ok": True, "token": tok})
        if head == "drop-watches" and method == "POST":
            app.drop_abrupt = bool((data or {}).get("abrupt", False))
            n = len(app.watches)
            app.store.drop_watches()
            return self.send_json(200, {"ok": True, "dropped": n})
        if head == "watches":
            with app.watch_lock:
                return self.send_json(200, {"items": list(app.watches.values())})
        if head == "compact" and method == "POST":
            app.store.compact()
            return self.send_json(200, {"ok": True, "resourceVersion": str(app.store.rv)})
        if head == "config":
            if method == "POST":
                app.cfg.update(data or {}, app.store)
            return self.send_json(200, app.cfg.to_json(app.store))
        if head == "metrics":  # /_test/metrics/pods/NS/NAME
            if len(segs) != 4 or segs[1] != "pods":
                raise ValueError("use /_test/metrics/pods/NS/NAME")
            key = (segs[2], segs[3])
            if method == "DELETE":
                app.metrics.pop(key, None)
            else:
                app.metrics[key] = (data or {}).get("containers", [])
            return self.send_json(200, ok)
        if head in ("objects", "pods"):
            if head == "pods":
                segs = ["objects"] + segs
            return self.control_objects(method, segs[1:], data)
        raise ValueError("unknown control path %s %s" % (method, path))

    def control_objects(self, method, segs, data):
        """/_test/objects/RES[/NS/NAME[/status]]: seed, replace, patch,
        delete objects directly (no validation besides time decoding).
        NS is '-' for cluster-scoped kinds."""
        app = self.server.app
        if not segs:
            raise ValueError("missing resource")
        res = next((r for r in app.registry if r.plural == segs[0] and r.group in
                    ("", "coordination.k8s.io")), None)
        if res is None:
            raise ValueError("unknown resource %s" % segs[0])
        st = app.store
        if len(segs) == 1:
            if method == "GET":
                return self.send_json(200, {"items": [res.to_view(o) for _, o in
                                                      st.items(res.store)],
                                            "resourceVersion": str(st.rv)})
            if method in ("POST", "PUT"):
                items = data if isinstance(data, list) else (data.get("items") if "items" in
                                                              data else [data])
                out = [res.to_view(app.seed(res, o)) for o in items]
                return self.send_json(200, {"items": out, "resourceVersion": str(st.rv)})
            raise ValueError("method %s not allowed here" % method)
        ns, name = segs[1], segs[2] if len(segs) > 2 else ""
        ns = "" if ns in ("-", "_") or not res.namespaced else ns
        key = (ns, name)
        with st.cond:
            old = st.get(res.store, key)
            if method == "GET":
                if old is None:
                    return self.send_json(404, {"error": "not found"})
                return self.send_json(200, res.to_view(old))
            if method == "DELETE":
                out = st.delete(res.store, key)
                return self.send_json(200 if out else 404, {"deleted": bool(out)})
            if old is None:
                raise ValueError("%s %s/%s not found" % (res.plural, ns, name))
            if len(segs) > 3 and segs[3] == "status":
                if method == "PUT":
                    new = dict(old, status=data)
                else:
                    new = dict(old, status=merge_patch(old.get("status") or {}, data))
            elif method == "PUT":
                new = dict(data)
                new.setdefault("metadata", {})
                for k in ("name", "namespace", "uid", "creationTimestamp"):
                    if k in old["metadata"]:
                        new["metadata"].setdefault(k, old["metadata"][k])
            else:
                new = merge_patch(old, data)
            new["apiVersion"], new["kind"] = old.get("apiVersion"), old.get("kind")
            decode_fixups(res.kind, new)
            out = st.update(res.store, key, new)
        return self.send_json(200, res.to_view(out))

def serve_in_thread(server):
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    t.start()
    return t
