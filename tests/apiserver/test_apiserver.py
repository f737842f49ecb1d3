#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Unit tests of the test API server against the behaviour in
shared/docs/kubernetes-api.md: paging and continue tokens, resourceVersion
semantics, watch (replay, bookmarks, 410 in both forms, timeouts, drops),
selectors, patches, conflicts, Event validation, token rotation, TLS and
client certificates, fault injection, the request log and bounded history.
The server runs as a subprocess through its real command line."""
import datetime
import http.client
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "apiserver.py")
TOKEN = "tok-one-0123456789"


def micro_now(delta=0.0):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=delta)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%06dZ" % t.microsecond


def start_server(tmp, *extra):
    tokf = os.path.join(tmp, "token")
    if not os.path.exists(tokf):
        with open(tokf, "w") as f:
            f.write(TOKEN + "\n")
    portf = os.path.join(tmp, "port")
    if os.path.exists(portf):
        os.unlink(portf)
    with open(os.path.join(tmp, "err"), "w") as errf:
        proc = subprocess.Popen([sys.executable, SERVER, "--port", "0", "--port-file", portf,
                                 "--token-file", tokf, *extra],
                                stdout=subprocess.DEVNULL, stderr=errf)
    for _ in range(300):
        if os.path.exists(portf):
            break
        if proc.poll() is not None:
            raise RuntimeError("server exited: " + open(os.path.join(tmp, "err")).read())
        time.sleep(0.05)
    with open(portf) as f:
        return proc, int(f.read())


class Client:
    def __init__(self, port, token=TOKEN, ctx=None):
        self.port, self.token, self.ctx = port, token, ctx

    def conn(self, timeout=10):
        if self.ctx:
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                               context=self.ctx)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def req(self, method, path, body=None, ctype="application/json", headers=None, token=None):
        c = self.conn()
        h = {"Accept": "application/json"}
        tok = self.token if token is None else token
        if tok:
            h["Authorization"] = "Bearer " + tok
        if body is not None:
            if not isinstance(body, (bytes, str)):
                body = json.dumps(body)
            h["Content-Type"] = ctype
        h.update(headers or {})
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        try:
            js = json.loads(data) if data else None
        except ValueError:
            js = data.decode()
        return r.status, js, r

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def ctl(self, method, path, body=None):
        st, js, _ = self.req(method, "/_test/" + path, body, token="")
        if st != 200:
            raise AssertionError("control %s %s -> %s %s" % (method, path, st, js))
        return js

    def watch(self, path, timeout=10):
        c = self.conn(timeout=timeout)
        c.request("GET", path, headers={"Authorization": "Bearer " + self.token})
        r = c.getresponse()
        return Watch(c, r)


class Watch:
    def __init__(self, conn, resp):
        self.conn, self.resp, self.status = conn, resp, resp.status

    def next(self):
        line = self.resp.readline()
        if not line:
            self.close()
            return None
        return json.loads(line)

    def body(self):
        try:
            return json.loads(self.resp.read())
        finally:
            self.close()

    def until(self, pred, limit=50):
        for _ in range(limit):
            ev = self.next()
            if ev is None or pred(ev):
                return ev
        return None

    def close(self):
        self.resp.close()
        self.conn.close()


def pod(name, ns="default", labels=None, node="node-a", phase="Running", ip="10.0.0.1",
        annotations=None):
    md = {"name": name, "namespace": ns, "labels": labels or {}}
    if annotations:
        md["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md,
            "spec": {"nodeName": node, "containers": [
                {"name": "app", "image": "leakzoo",
                 "resources": {"limits": {"memory": "64Mi"}}}]},
            "status": {"phase": phase, "podIP": ip, "containerStatuses": [
                {"name": "app", "ready": True, "restartCount": 1,
                 "containerID": "containerd://0123", "state": {"running": {
                     "startedAt": "2026-11-26T10:00:00Z"}},
                 "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137,
                                              "finishedAt": "2026-11-26T09:59:00Z"}}}]}}


def event_v1(podobj, name=None, **over):
    md = podobj["metadata"]
    ev = {"apiVersion": "events.k8s.io/v1", "kind": "Event",
          "metadata": {"name": name or "%s.%x" % (md["name"], time.time_ns()),
                       "namespace": md["namespace"]},
          "eventTime": micro_now(), "type": "Warning", "reason": "OOMKillPredicted",
          "action": "Predict", "reportingController": "leakwatch.io/controller",
          "reportingInstance": "leakwatch-host1",
          "regarding": {"apiVersion": "v1", "kind": "Pod", "namespace": md["namespace"],
                        "name": md["name"], "uid": md["uid"]},
          "note": "goroutines 1,204 -> 20,311 in 6h"}
    for k, v in over.items():
        if v is None:
            ev.pop(k, None)
        else:
            ev[k] = v
    return ev


class Base(unittest.TestCase):
    extra_args = ()

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="lwapis.")
        cls.proc, cls.port = start_server(cls.tmp, *cls.extra_args)
        cls.c = Client(cls.port)

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        try:
            cls.proc.wait(10)
        except subprocess.TimeoutExpired:
            cls.proc.kill()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        with open(os.path.join(self.tmp, "token"), "w") as f:
            f.write(TOKEN + "\n")
        self.c.token = TOKEN
        self.c.ctl("POST", "reset")

    def seed(self, *pods):
        return self.c.ctl("POST", "pods", list(pods))["items"]

    def assertStatus(self, js, code, reason, message=None):
        self.assertEqual(js["kind"], "Status")
        self.assertEqual(js["apiVersion"], "v1")
        self.assertEqual(js["status"], "Failure")
        self.assertEqual(js["code"], code)
        self.assertEqual(js["reason"], reason)
        if message is not None:
            self.assertEqual(js["message"], message)


class TestDiscoveryAndErrors(Base):
    def test_discovery(self):
        st, js, _ = self.c.get("/api")
        self.assertEqual((st, js["versions"]), (200, ["v1"]))
        st, js, _ = self.c.get("/apis")
        names = [g["name"] for g in js["groups"]]
        self.assertIn("events.k8s.io", names)
        self.assertIn("coordination.k8s.io", names)
        self.assertNotIn("metrics.k8s.io", names)
        st, js, _ = self.c.get("/api/v1")
        res = {r["name"]: r for r in js["resources"]}
        self.assertTrue(res["pods"]["namespaced"])
        self.assertIn("watch", res["pods"]["verbs"])
        self.assertIn("events", res)
        st, js, _ = self.c.get("/apis/coordination.k8s.io/v1")
        self.assertEqual(js["resources"][0]["kind"], "Lease")
        st, js, _ = self.c.get("/version", token="")
        self.assertEqual((st, js["major"]), (200, "1"))

    def test_not_found_and_already_exists(self):
        st, js, _ = self.c.get("/api/v1/namespaces/default/pods/nope")
        self.assertEqual(st, 404)
        self.assertStatus(js, 404, "NotFound", 'pods "nope" not found')
        self.assertEqual(js["details"], {"name": "nope", "kind": "pods"})
        st, js, _ = self.c.get("/apis/coordination.k8s.io/v1/namespaces/default/leases/x")
        self.assertStatus(js, 404, "NotFound", 'leases.coordination.k8s.io "x" not found')
        self.assertEqual(js["details"]["group"], "coordination.k8s.io")
        st, js, _ = self.c.get("/api/v1/bogus")
        self.assertStatus(js, 404, "NotFound", "the server could not find the requested resource")
        p = pod("a")
        st, js, _ = self.c.req("POST", "/api/v1/namespaces/default/pods", p)
        self.assertEqual(st, 201)
        self.assertEqual(js["status"]["phase"], "Running")
        st, js, _ = self.c.req("POST", "/api/v1/namespaces/default/pods", p)
        self.assertStatus(js, 409, "AlreadyExists", 'pods "a" already exists')
        st, js, _ = self.c.req("POST", "/api/v1/namespaces/nons/pods", pod("b", ns="nons"))
        self.assertStatus(js, 404, "NotFound", 'namespaces "nons" not found')
        st, js, _ = self.c.req("POST", "/api/v1/namespaces/default/pods", "{not json")
        self.assertStatus(js, 400, "BadRequest")

    def test_unauthorized(self):
        st, js, _ = self.c.get("/api/v1/pods", token="wrong")
        self.assertEqual(st, 401)
        self.assertEqual(js, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Failure", "message": "Unauthorized",
                              "reason": "Unauthorized", "code": 401})
        st, js, _ = self.c.get("/api/v1/pods", token="")
        self.assertEqual(st, 401)


class TestList(Base):
    def test_paging_and_continue(self):
        self.seed(*[pod("p%02d" % i) for i in range(7)])
        st, js, _ = self.c.get("/api/v1/namespaces/default/pods?limit=3")
        self.assertEqual(st, 200)
        self.assertEqual(js["kind"], "PodList")
        self.assertEqual([p["metadata"]["name"] for p in js["items"]], ["p00", "p01", "p02"])
        self.assertEqual(js["metadata"]["remainingItemCount"], 4)
        rv = js["metadata"]["resourceVersion"]
        names = [p["metadata"]["name"] for p in js["items"]]
        cont = js["metadata"]["continue"]
        # a write between pages must not show up: the list is consistent at rv
        self.seed(pod("p00a"))
        while cont:
            st, js, _ = self.c.get("/api/v1/namespaces/default/pods?limit=3&continue=" + cont)
            self.assertEqual(st, 200)
            self.assertEqual(js["metadata"]["resourceVersion"], rv)
            names += [p["metadata"]["name"] for p in js["items"]]
            cont = js["metadata"].get("continue")
        self.assertEqual(names, ["p%02d" % i for i in range(7)])
        st, js, _ = self.c.get("/api/v1/namespaces/default/pods?limit=3&continue=%%%")
        self.assertStatus(js, 400, "BadRequest")

    def test_continue_expires(self):
        self.seed(*[pod("p%d" % i) for i in range(4)])
        st, js, _ = self.c.get("/api/v1/pods?limit=2")
        cont = js["metadata"]["continue"]
        self.seed(pod("zz"))
        self.c.ctl("POST", "compact")
        st, js, _ = self.c.get("/api/v1/pods?limit=2&continue=" + cont)
        self.assertEqual(st, 410)
        self.assertStatus(js, 410, "Expired")
        self.assertTrue(js["message"].startswith("The provided continue parameter is too old"))
        self.assertTrue(js["metadata"]["continue"])
        st, js, _ = self.c.get("/api/v1/pods?limit=2&resourceVersionMatch=Exact&continue=x")
        self.assertStatus(js, 422, "Invalid")

    def test_rv0_ignores_limit_and_exact_reads_the_past(self):
        self.seed(*[pod("p%d" % i) for i in range(5)])
        st, js, _ = self.c.get("/api/v1/pods?limit=2&resourceVersion=0")
        self.assertEqual(len(js["items"]), 5)
        self.assertNotIn("continue", js["metadata"])
        rv1 = js["metadata"]["resourceVersion"]
        self.c.ctl("PATCH", "pods/default/p1/status", {"phase": "Failed"})
        self.c.ctl("DELETE", "pods/default/p2")
        st, js, _ = self.c.get("/api/v1/pods?resourceVersion=%s&resourceVersionMatch=Exact" % rv1)
        self.assertEqual(st, 200)
        self.assertEqual(js["metadata"]["resourceVersion"], rv1)
        byname = {p["metadata"]["name"]: p for p in js["items"]}
        self.assertIn("p2", byname)
        self.assertEqual(byname["p1"]["status"]["phase"], "Running")
        st, js, _ = self.c.get("/api/v1/pods?resourceVersion=%s" % rv1)  # NotOlderThan
        self.assertNotEqual(js["metadata"]["resourceVersion"], rv1)
        self.assertNotIn("p2", [p["metadata"]["name"] for p in js["items"]])
        self.c.ctl("POST", "compact")
        st, js, _ = self.c.get("/api/v1/pods?resourceVersion=%s&resourceVersionMatch=Exact" % rv1)
        self.assertStatus(js, 410, "Expired")
        self.assertRegex(js["message"], r"^too old resource version: %s \(\d+\)$" % rv1)

    def test_list_option_validation(self):
        st, js, _ = self.c.get("/api/v1/pods?resourceVersionMatch=NotOlderThan")
        self.assertStatus(js, 422, "Invalid")
        self.assertIn("resourceVersionMatch is forbidden unless resourceVersion is provided",
                      js["message"])
        st, js, _ = self.c.get("/api/v1/pods?resourceVersion=0&resourceVersionMatch=Exact")
        self.assertStatus(js, 422, "Invalid")
        st, js, _ = self.c.get("/api/v1/pods?sendInitialEvents=true")
        self.assertIn("sendInitialEvents is forbidden for list", js["message"])
        st, js, _ = self.c.get("/api/v1/pods?resourceVersion=abc")
        self.assertStatus(js, 400, "BadRequest")

    def test_too_large_rv(self):
        self.c.ctl("POST", "config", {"tooLargeWait": 0.2})
        st, js, r = self.c.get("/api/v1/pods?resourceVersion=99999999")
        self.assertEqual(st, 504)
        self.assertEqual(js["reason"], "Timeout")
        self.assertEqual(js["details"]["causes"][0]["reason"], "ResourceVersionTooLarge")

    def test_label_selectors(self):
        self.seed(pod("a", labels={"app": "web", "tier": "fe"}),
                  pod("b", labels={"app": "db"}), pod("c", labels={}),
                  pod("d", labels={"app": "web", "leakwatch.io/scrape": "true"}))

        def names(sel):
            from urllib.parse import quote
            st, js, _ = self.c.get("/api/v1/pods?labelSelector=" + quote(sel))
            self.assertEqual(st, 200, js)
            return sorted(p["metadata"]["name"] for p in js["items"])
        self.assertEqual(names("app=web"), ["a", "d"])
        self.assertEqual(names("app==web"), ["a", "d"])
        self.assertEqual(names("app!=web"), ["b", "c"])
        self.assertEqual(names("app in (db, web)"), ["a", "b", "d"])
        self.assertEqual(names("app notin (web)"), ["b", "c"])
        self.assertEqual(names("tier"), ["a"])
        self.assertEqual(names("!app"), ["c"])
        self.assertEqual(names("app=web,!tier"), ["d"])
        self.assertEqual(names("leakwatch.io/scrape=true"), ["d"])
        for bad in ("app=(", "app in web", "a b", "app=x y"):
            from urllib.parse import quote
            st, js, _ = self.c.get("/api/v1/pods?labelSelector=" + quote(bad))
            self.assertEqual(st, 400, bad)
            self.assertStatus(js, 400, "BadRequest")

    def test_field_selectors(self):
        self.seed(pod("a", node="n1"), pod("b", node="n2", phase="Pending"),
                  pod("c", ns="other", node="n1"))

        def names(sel, path="/api/v1/pods"):
            from urllib.parse import quote
            st, js, _ = self.c.get(path + "?fieldSelector=" + quote(sel))
            self.assertEqual(st, 200, js)
            return sorted(p["metadata"]["name"] for p in js["items"])
        self.assertEqual(names("spec.nodeName=n1"), ["a", "c"])
        self.assertEqual(names("spec.host=n1"), ["a", "c"])
        self.assertEqual(names("spec.nodeName==n1,metadata.namespace=default"), ["a"])
        self.assertEqual(names("status.phase!=Running"), ["b"])
        self.assertEqual(names("metadata.name=b"), ["b"])
        self.assertEqual(names("spec.nodeName=n1", "/api/v1/namespaces/other/pods"), ["c"])
        st, js, _ = self.c.get("/api/v1/pods?fieldSelector=spec.foo%3Dx")
        self.assertStatus(js, 400, "BadRequest", "field label not supported: spec.foo")
        st, js, _ = self.c.get("/api/v1/pods?fieldSelector=nonsense")
        self.assertStatus(js, 400, "BadRequest")


class TestWatch(Base):
    def test_watch_from_rv(self):
        self.seed(pod("a"))
        st, js, _ = self.c.get("/api/v1/namespaces/default/pods")
        rv = js["metadata"]["resourceVersion"]
        w = self.c.watch("/api/v1/namespaces/default/pods?watch=1&resourceVersion=%s"
                         "&timeoutSeconds=10" % rv)
        self.assertEqual(w.status, 200)
        self.seed(pod("b"))
        self.c.ctl("PATCH", "pods/default/a/status", {"phase": "Failed"})
        self.c.ctl("DELETE", "pods/default/b")
        self.seed(pod("x", ns="elsewhere"))  # other namespace: not delivered
        evs = [w.next() for _ in range(3)]
        w.close()
        self.assertEqual([(e["type"], e["object"]["metadata"]["name"]) for e in evs],
                         [("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")])
        self.assertEqual(evs[1]["object"]["status"]["phase"], "Failed")
        self.assertEqual(evs[0]["object"]["kind"], "Pod")
        rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in evs]
        self.assertEqual(rvs, sorted(rvs))
        self.assertGreater(rvs[0], int(rv))
        # resuming from the first event's RV replays exactly the later ones
        w = self.c.watch("/api/v1/namespaces/default/pods?watch=1&resourceVersion=%d"
                         "&timeoutSeconds=1" % rvs[0])
        rest = []
        while True:
            e = w.next()
            if e is None:
                break
            rest.append(e["type"])
        self.assertEqual(rest, ["MODIFIED", "DELETED"])

    def test_watch_named_object(self):
        self.seed(pod("a"), pod("b"))
        w = self.c.watch("/api/v1/namespaces/default/pods/b?watch=true&timeoutSeconds=1")
        evs = []
        while True:
            e = w.next()
            if e is None:
                break
            evs.append((e["type"], e["object"]["metadata"]["name"]))
        self.assertEqual(evs, [("ADDED", "b")])

    def test_watch_without_rv_sends_synthetic_added(self):
        self.seed(pod("a"), pod("b"))
        w = self.c.watch("/api/v1/pods?watch=true&timeoutSeconds=5")
        evs = [w.next(), w.next()]
        w.close()
        self.assertEqual(sorted((e["type"], e["object"]["metadata"]["name"]) for e in evs),
                         [("ADDED", "a"), ("ADDED", "b")])

    def test_bookmarks(self):
        self.c.ctl("POST", "config", {"bookmarkInterval": 0.3})
        st, js, _ = self.c.get("/api/v1/pods")
        rv = js["metadata"]["resourceVersion"]
        w = self.c.watch("/api/v1/pods?watch=1&resourceVersion=%s&allowWatchBookmarks=true"
                         "&timeoutSeconds=3" % rv)
        ev = w.next()
        self.assertEqual(ev["type"], "BOOKMARK")
        self.assertEqual(ev["object"], {"kind": "Pod", "apiVersion": "v1",
                                        "metadata": {"resourceVersion": rv}})
        self.seed(pod("a"))
        ev = w.until(lambda e: e["type"] == "ADDED")
        bm = w.until(lambda e: e["type"] == "BOOKMARK")
        self.assertEqual(bm["object"]["metadata"]["resourceVersion"],
                         ev["object"]["metadata"]["resourceVersion"])
        w.close()
        t0 = time.monotonic()
        w = self.c.watch("/api/v1/pods?watch=1&resourceVersion=%s&timeoutSeconds=1" % rv)
        evs = []
        while True:
            e = w.next()
            if e is None:
                break
            evs.append(e["type"])
        self.assertEqual(evs, ["ADDED"])  # no bookmarks unless asked for
        self.assertLess(time.monotonic() - t0, 3)

    def test_watch_list_initial_events_end(self):
        self.seed(pod("a"))
        w = self.c.watch("/api/v1/pods?watch=1&sendInitialEvents=true&resourceVersionMatch="
                         "NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=2")
        e1, e2 = w.next(), w.next()
        w.close()
        self.assertEqual(e1["type"], "ADDED")
        self.assertEqual(e2["type"], "BOOKMARK")
        self.assertEqual(e2["object"]["metadata"]["annotations"],
                         {"k8s.io/initial-events-end": "true"})
        self.c.ctl("POST", "config", {"watchList": False})
        w = self.c.watch("/api/v1/pods?watch=1&sendInitialEvents=true&resourceVersionMatch="
                         "NotOlderThan&allowWatchBookmarks=true")
        self.assertEqual(w.status, 422)
        self.assertIn("sendInitialEvents is forbidden for watch unless the WatchList feature "
                      "gate is enabled", w.body()["message"])

    def test_too_old_rv_both_forms(self):
        st, js, _ = self.c.get("/api/v1/pods")
        rv = js["metadata"]["resourceVersion"]
        self.seed(pod("a"))
        self.c.ctl("POST", "compact")
        w = self.c.watch("/api/v1/pods?watch=1&resourceVersion=%s" % rv)
        self.assertEqual(w.status, 200)
        ev = w.next()
        self.assertEqual(ev["type"], "ERROR")
        self.assertStatus(ev["object"], 410, "Expired")
        self.assertRegex(ev["object"]["message"], r"^too old resource version: %s \(\d+\)$" % rv)
        self.assertIsNone(w.next())  # stream closed after the ERROR
        self.c.ctl("POST", "config", {"expiredForm": "http"})
        w = self.c.watch("/api/v1/pods?watch=1&resourceVersion=%s" % rv)
        self.assertEqual(w.status, 410)
        self.assertStatus(w.body(), 410, "Expired")

    def test_injected_410_forms_and_gone(self):
        self.c.ctl("POST", "faults", [{"verb": "watch", "resource": "pods", "code": 410,
                                       "reason": "Gone", "form": "event"},
                                      {"verb": "watch", "resource": "pods", "code": 410,
                                       "form": "http"}])
        w = self.c.watch("/api/v1/pods?watch=1&resourceVersion=1")
        ev = w.next()
        self.assertEqual((w.status, ev["type"], ev["object"]["reason"], ev["object"]["code"]),
                         (200, "ERROR", "Gone", 410))
        w = self.c.watch("/api/v1/pods?watch=1&resourceVersion=1")
        self.assertEqual(w.status, 410)
        self.assertEqual(w.body()["reason"], "Expired")
        st, js, _ = self.c.get("/api/v1/pods")  # faults consumed
        self.assertEqual(st, 200)

    def test_selector_transitions(self):
        self.seed(pod("a", labels={"scrape": "yes"}))
        st, js, _ = self.c.get("/api/v1/pods")
        rv = js["metadata"]["resourceVersion"]
        w = self.c.watch("/api/v1/pods?watch=1&labelSelector=scrape%%3Dyes&resourceVersion=%s"
                         "&timeoutSeconds=5" % rv)
        self.c.ctl("PATCH", "pods/default/a", {"metadata": {"labels": {"scrape": "no"}}})
        self.c.ctl("PATCH", "pods/default/a", {"metadata": {"labels": {"scrape": "yes"}}})
        e1, e2 = w.next(), w.next()
        w.close()
        self.assertEqual((e1["type"], e2["type"]), ("DELETED", "ADDED"))

    def test_timeout_and_drop(self):
        t0 = time.monotonic()
        w = self.c.watch("/api/v1/pods?watch=1&timeoutSeconds=1")
        self.assertIsNone(w.next())
        self.assertLess(time.monotonic() - t0, 4)
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)
        w = self.c.watch("/api/v1/pods?watch=1&timeoutSeconds=30")
        for _ in range(50):
            if self.c.ctl("GET", "watches")["items"]:
                break
            time.sleep(0.05)
        self.assertEqual(self.c.ctl("POST", "drop-watches")["dropped"], 1)
        t0 = time.monotonic()
        self.assertIsNone(w.next())
        self.assertLess(time.monotonic() - t0, 4)

    def test_closed_client_frees_the_watch(self):
        w = self.c.watch("/api/v1/pods?watch=1")  # no timeoutSeconds: server default (long)
        for _ in range(50):
            if self.c.ctl("GET", "watches")["items"]:
                break
            time.sleep(0.05)
        self.assertEqual(len(self.c.ctl("GET", "watches")["items"]), 1)
        w.close()
        for _ in range(60):
            if not self.c.ctl("GET", "watches")["items"]:
                break
            time.sleep(0.05)
        self.assertEqual(self.c.ctl("GET", "watches")["items"], [])

    def test_history_is_bounded(self):
        self.c.ctl("POST", "config", {"historyCap": 5})
        st, js, _ = self.c.get("/api/v1/pods")
        rv = js["metadata"]["resourceVersion"]
        self.seed(*[pod("p%d" % i) for i in range(10)])
        self.c.ctl("POST", "config", {"expiredForm": "http"})
        w = self.c.watch("/api/v1/pods?watch=1&resourceVersion=%s" % rv)
        self.assertEqual(w.status, 410)
        st, js, _ = self.c.get("/api/v1/pods")
        w = self.c.watch("/api/v1/pods?watch=1&timeoutSeconds=1&resourceVersion=" +
                         js["metadata"]["resourceVersion"])
        self.assertEqual(w.status, 200)


class TestWrites(Base):
    def test_merge_patch_annotations(self):
        p = self.seed(pod("a", annotations={"other.io/x": "1"}))[0]
        path = "/api/v1/namespaces/default/pods/a"
        st, js, _ = self.c.req("PATCH", path, {"metadata": {"annotations": {
            "leakwatch.io/status": "oom-predicted"}}}, ctype="application/merge-patch+json")
        self.assertEqual(st, 200)
        self.assertEqual(js["metadata"]["annotations"],
                         {"other.io/x": "1", "leakwatch.io/status": "oom-predicted"})
        rv2 = js["metadata"]["resourceVersion"]
        self.assertNotEqual(rv2, p["metadata"]["resourceVersion"])
        # same patch again: a no-op keeps the RV (no watch event)
        st, js, _ = self.c.req("PATCH", path, {"metadata": {"annotations": {
            "leakwatch.io/status": "oom-predicted"}}}, ctype="application/merge-patch+json")
        self.assertEqual(js["metadata"]["resourceVersion"], rv2)
        st, js, _ = self.c.req("PATCH", path, {"metadata": {"annotations": {
            "leakwatch.io/status": None}}}, ctype="application/merge-patch+json")
        self.assertEqual(js["metadata"]["annotations"], {"other.io/x": "1"})
        # optimistic lock: a stale resourceVersion in the patch -> 409 Conflict
        st, js, _ = self.c.req("PATCH", path, {"metadata": {"resourceVersion": rv2,
                                                            "annotations": {"a.io/b": "c"}}},
                               ctype="application/merge-patch+json")
        self.assertStatus(js, 409, "Conflict",
                          'Operation cannot be fulfilled on pods "a": the object has been '
                          'modified; please apply your changes to the latest version and try '
                          'again')
        st, js, _ = self.c.req("PATCH", path, {"metadata": {"annotations": {"bad key": "x"}}},
                               ctype="application/merge-patch+json")
        self.assertStatus(js, 422, "Invalid")
        self.assertEqual(js["details"]["causes"][0]["field"], "metadata.annotations")
        st, js, _ = self.c.req("PATCH", path, {"metadata": {"annotations": {
            "big.io/v": "x" * (256 * 1024)}}}, ctype="application/merge-patch+json")
        self.assertStatus(js, 422, "Invalid")
        st, js, _ = self.c.req("PATCH", path, {"metadata": {}}, ctype="application/apply-patch+yaml")
        self.assertEqual(st, 415)
        st, js, _ = self.c.req("PATCH", path, [{"op": "add", "path":
                                                "/metadata/annotations/leakwatch.io~1summary",
                                                "value": "ok"}],
                               ctype="application/json-patch+json")
        self.assertEqual(js["metadata"]["annotations"]["leakwatch.io/summary"], "ok")
        st, js, _ = self.c.req("PATCH", "/api/v1/namespaces/default/pods/none", {},
                               ctype="application/merge-patch+json")
        self.assertEqual(st, 404)

    def test_put_conflicts_and_leases(self):
        base = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": "leakwatch", "namespace": "default"},
                 "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15,
                          "acquireTime": micro_now(), "renewTime": micro_now(),
                          "leaseTransitions": 0}}
        st, js, _ = self.c.req("POST", base, lease)
        self.assertEqual(st, 201)
        got = js
        got["spec"]["renewTime"] = micro_now(1)
        st, js, _ = self.c.req("PUT", base + "/leakwatch", got)
        self.assertEqual(st, 200)
        # the second writer with the old RV loses
        got["spec"]["holderIdentity"] = "other"
        st, js, _ = self.c.req("PUT", base + "/leakwatch", got)
        self.assertStatus(js, 409, "Conflict")
        self.assertIn('leases.coordination.k8s.io "leakwatch"', js["message"])
        bad = dict(lease, metadata={"name": "l2", "namespace": "default"})
        bad["spec"] = dict(lease["spec"], renewTime="2026-01-02T03:04:05Z")
        st, js, _ = self.c.req("POST", base, bad)
        self.assertStatus(js, 400, "BadRequest")
        self.assertIn('cannot parse "Z" as ".000000"', js["message"])
        # a pod PUT needs a resourceVersion
        self.seed(pod("a"))
        st, js, _ = self.c.get("/api/v1/namespaces/default/pods/a")
        js["metadata"].pop("resourceVersion")
        st, js, _ = self.c.req("PUT", "/api/v1/namespaces/default/pods/a", js)
        self.assertStatus(js, 422, "Invalid")
        st, js, _ = self.c.req("DELETE", base + "/leakwatch")
        self.assertEqual((st, js["status"]), (200, "Success"))
        st, js, _ = self.c.req("DELETE", base + "/leakwatch")
        self.assertEqual(st, 404)


class TestMore(Base):
    def test_status_subresource_and_strategic_containers(self):
        p = self.seed(pod("a"))[0]
        path = "/api/v1/namespaces/default/pods/a"
        # status changes through the main resource are ignored, through /status applied
        st, js, _ = self.c.req("PATCH", path, {"status": {"phase": "Failed"}},
                               ctype="application/merge-patch+json")
        self.assertEqual(js["status"]["phase"], "Running")
        st, js, _ = self.c.req("PATCH", path + "/status", {"status": {"phase": "Failed"}},
                               ctype="application/merge-patch+json")
        self.assertEqual((st, js["status"]["phase"]), (200, "Failed"))
        # strategic merge patch merges containerStatuses by name
        st, js, _ = self.c.req("PATCH", path + "/status", {"status": {"containerStatuses": [
            {"name": "app", "restartCount": 5}]}},
            ctype="application/strategic-merge-patch+json")
        cs = js["status"]["containerStatuses"]
        self.assertEqual(len(cs), 1)
        self.assertEqual((cs[0]["restartCount"], cs[0]["containerID"]),
                         (5, p["status"]["containerStatuses"][0]["containerID"]))
        # delete preconditions
        st, js, _ = self.c.req("DELETE", path, {"preconditions": {"uid": "nope"}})
        self.assertStatus(js, 409, "Conflict")
        st, js, _ = self.c.req("DELETE", path, {"preconditions": {"uid": p["metadata"]["uid"]}})
        self.assertEqual((st, js["kind"]), (200, "Pod"))

    def test_forbidden_fault_and_events_watch_view(self):
        self.c.ctl("POST", "faults", {"verb": "patch", "resource": "pods", "code": 403})
        self.seed(pod("a"))
        st, js, _ = self.c.req("PATCH", "/api/v1/namespaces/default/pods/a", {},
                               ctype="application/merge-patch+json")
        self.assertStatus(js, 403, "Forbidden",
                          'pods "a" is forbidden: User "system:serviceaccount:leakwatch:'
                          'leakwatch" cannot patch resource "pods" in API group "" in the '
                          'namespace "default"')
        p = self.c.get("/api/v1/namespaces/default/pods/a")[1]
        w = self.c.watch("/apis/events.k8s.io/v1/namespaces/default/events?watch=1"
                         "&timeoutSeconds=5")
        core = {"metadata": {"name": "a.1", "namespace": "default"},
                "involvedObject": {"kind": "Pod", "name": "a", "namespace": "default"},
                "reason": "Started", "message": "hello", "type": "Normal"}
        st, js, _ = self.c.req("POST", "/api/v1/namespaces/default/events", core)
        self.assertEqual(st, 201, js)
        ev = w.next()
        w.close()
        self.assertEqual(ev["type"], "ADDED")
        self.assertEqual(ev["object"]["apiVersion"], "events.k8s.io/v1")
        self.assertEqual(ev["object"]["note"], "hello")
        self.assertEqual(ev["object"]["regarding"]["name"], "a")
        self.assertTrue(p["metadata"]["uid"])

    def test_metrics_api_toggle(self):
        self.seed(pod("a"))
        st, _, _ = self.c.get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/a")
        self.assertEqual(st, 404)
        self.c.ctl("POST", "config", {"metricsAPI": True})
        self.c.ctl("POST", "metrics/pods/default/a", {"containers": [
            {"name": "app", "usage": {"cpu": "5m", "memory": "48Mi"}}]})
        st, js, _ = self.c.get("/apis")
        self.assertIn("metrics.k8s.io", [g["name"] for g in js["groups"]])
        st, js, _ = self.c.get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/a")
        self.assertEqual((st, js["kind"]), (200, "PodMetrics"))
        self.assertEqual(js["containers"][0]["usage"]["memory"], "48Mi")


class TestStateFile(Base):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="lwapis.")
        state = os.path.join(cls.tmp, "state.json")
        with open(state, "w") as f:
            json.dump({"nodes": [{"metadata": {"name": "node-a"}}],
                       "pods": [pod("seeded", ns="team")]}, f)
        cls.proc, cls.port = start_server(cls.tmp, "--state", state)
        cls.c = Client(cls.port)

    def setUp(self):
        pass

    def test_state_loaded(self):
        st, js, _ = self.c.get("/api/v1/namespaces/team/pods/seeded")
        self.assertEqual((st, js["status"]["podIP"]), (200, "10.0.0.1"))
        st, js, _ = self.c.get("/api/v1/nodes")
        self.assertEqual([n["metadata"]["name"] for n in js["items"]], ["node-a"])
        st, js, _ = self.c.get("/api/v1/namespaces/team")
        self.assertEqual((st, js["kind"]), (200, "Namespace"))


class TestEvents(Base):
    def setUp(self):
        super().setUp()
        self.pod = self.seed(pod("web"))[0]
        self.evs = "/apis/events.k8s.io/v1/namespaces/default/events"

    def test_valid_event_visible_through_core_v1(self):
        ev = event_v1(self.pod)
        st, js, _ = self.c.req("POST", self.evs, ev)
        self.assertEqual(st, 201, js)
        self.assertEqual(js["regarding"]["uid"], self.pod["metadata"]["uid"])
        self.assertEqual(js["eventTime"], ev["eventTime"])
        uid = self.pod["metadata"]["uid"]
        from urllib.parse import quote
        sel = quote("involvedObject.name=web,involvedObject.namespace=default,"
                    "involvedObject.uid=%s" % uid)
        st, js, _ = self.c.get("/api/v1/namespaces/default/events?fieldSelector=%s&limit=500"
                               % sel)
        self.assertEqual(len(js["items"]), 1)
        core = js["items"][0]
        self.assertEqual(core["message"], ev["note"])
        self.assertEqual(core["reportingComponent"], "leakwatch.io/controller")
        self.assertEqual(core["involvedObject"]["kind"], "Pod")
        self.assertIsNone(core["firstTimestamp"])  # Go zero Time: written as null
        self.assertEqual(core["source"], {})
        # an empty merge patch is a no-op: same RV
        st, js, _ = self.c.req("PATCH", "/api/v1/namespaces/default/events/" +
                               ev["metadata"]["name"], {}, ctype="application/merge-patch+json")
        self.assertEqual(js["metadata"]["resourceVersion"], core["metadata"]["resourceVersion"])
        # a different uid does not match
        st, js, _ = self.c.get("/api/v1/namespaces/default/events?fieldSelector=" +
                               quote("involvedObject.uid=other"))
        self.assertEqual(js["items"], [])
        # series update by strategic merge patch
        name = ev["metadata"]["name"]
        st, js, _ = self.c.req("PATCH", self.evs + "/" + name, {"series": {
            "count": 2, "lastObservedTime": micro_now()}},
            ctype="application/strategic-merge-patch+json")
        self.assertEqual((st, js["series"]["count"]), (200, 2))
        st, js, _ = self.c.req("PATCH", self.evs + "/" + name, {"series": {"count": 1}},
                               ctype="application/strategic-merge-patch+json")
        self.assertStatus(js, 422, "Invalid")
        self.assertIn("series.count", js["message"])
        st, js, _ = self.c.req("PATCH", self.evs + "/" + name, {"reason": "Other"},
                               ctype="application/merge-patch+json")
        self.assertStatus(js, 422, "Invalid")
        self.assertIn("field is immutable", js["message"])

    def test_invalid_events(self):
        long_ri = "é" * 65  # 65 characters but 130 bytes: limits are in bytes
        cases = [
            ({"eventTime": None}, "eventTime: Required value"),
            ({"type": "Info"}, 'type: Invalid value: "": has invalid value: Info'),
            ({"reportingController": None}, "reportingController: Required value"),
            ({"reportingController": "Leak Watch"}, "reportingController: Invalid value"),
            ({"reportingInstance": None}, "reportingInstance: Required value"),
            ({"reportingInstance": long_ri}, "reportingInstance: Invalid value: \"\": can have "
             "at most 128 characters"),
            ({"action": None}, "action: Required value"),
            ({"action": "a" * 129}, "action: Invalid value"),
            ({"reason": None}, "reason: Required value"),
            ({"reason": "r" * 129}, "reason: Invalid value"),
            ({"note": "n" * 1025}, "message: Invalid value: \"\": can have at most 1024"),
            ({"series": {"count": 1, "lastObservedTime": micro_now()}},
             "series.count: Invalid value: \"\": should be at least 2"),
            ({"series": {"count": 2}}, "series.lastObservedTime: Required value"),
            ({"deprecatedCount": 3}, "count: Invalid value: \"\": needs to be unset"),
            ({"deprecatedSource": {"component": "x"}}, "source: Invalid value"),
            ({"deprecatedFirstTimestamp": "2026-01-01T00:00:00Z"}, "firstTimestamp: Invalid"),
        ]
        for over, want in cases:
            ev = event_v1(self.pod, **over)
            st, js, _ = self.c.req("POST", self.evs, ev)
            self.assertEqual(st, 422, (over, js))
            self.assertStatus(js, 422, "Invalid")
            self.assertIn(want, js["message"], over)
            self.assertTrue(js["message"].startswith('Event.events.k8s.io "%s" is invalid: '
                                                     % ev["metadata"]["name"]), js["message"])
            self.assertEqual(js["details"]["group"], "events.k8s.io")
            self.assertEqual(js["details"]["kind"], "Event")
            self.assertTrue(js["details"]["causes"])
        # exactly at the limits is fine (bytes, not characters)
        ok = event_v1(self.pod, reportingInstance="é" * 64, note="n" * 1024, reason="r" * 128)
        st, js, _ = self.c.req("POST", self.evs, ok)
        self.assertEqual(st, 201, js)
        # several errors are listed together
        st, js, _ = self.c.req("POST", self.evs, event_v1(self.pod, action=None, reason=None))
        self.assertIn("[action: Required value, reason: Required value]", js["message"])
        self.assertEqual(len(js["details"]["causes"]), 2)
        self.assertEqual(js["details"]["causes"][0]["reason"], "FieldValueRequired")
        # name must be a DNS subdomain
        st, js, _ = self.c.req("POST", self.evs, event_v1(self.pod, name="Web_1.x"))
        self.assertIn('metadata.name: Invalid value: "Web_1.x"', js["message"])
        # namespace must agree with regarding.namespace
        ev = event_v1(self.pod)
        ev["regarding"]["namespace"] = "kube-system"
        st, js, _ = self.c.req("POST", self.evs, ev)
        self.assertIn("involvedObject.namespace: Invalid value: \"kube-system\": does not match "
                      "event.namespace", js["message"])
        # k/k itself only checks that for events without eventTime
        self.c.ctl("POST", "config", {"strictEventNamespace": False})
        st, js, _ = self.c.req("POST", self.evs, ev)
        self.assertEqual(st, 201, js)
        self.c.ctl("POST", "config", {"strictEventNamespace": True})
        # MicroTime needs exactly 6 fraction digits
        st, js, _ = self.c.req("POST", self.evs, event_v1(self.pod,
                                                          eventTime="2026-11-26T10:00:00Z"))
        self.assertStatus(js, 400, "BadRequest")

    def test_core_v1_event_rules(self):
        core = "/api/v1/namespaces/default/events"
        legacy = {"apiVersion": "v1", "kind": "Event",
                  "metadata": {"name": "web.1", "namespace": "default"},
                  "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
                  "reason": "r" * 300, "message": "m" * 2000, "type": "Whatever",
                  "firstTimestamp": "2026-11-26T10:00:00Z", "count": 1,
                  "source": {"component": "kubelet"}}
        st, js, _ = self.c.req("POST", core, legacy)
        self.assertEqual(st, 201, js)  # legacy events: only namespace rules
        newstyle = dict(legacy, metadata={"name": "web.2", "namespace": "default"},
                        eventTime=micro_now(), reason="R", message="m")
        st, js, _ = self.c.req("POST", core, newstyle)
        self.assertStatus(js, 422, "Invalid")
        self.assertIn("reportingComponent: Required value", js["message"])
        self.assertTrue(js["message"].startswith('Event "web.2" is invalid'))
        st, js, _ = self.c.req("POST", core, dict(legacy, metadata={
            "name": "web.3", "namespace": "default"}, involvedObject={
            "kind": "Pod", "name": "web", "namespace": "other"}))
        self.assertIn("does not match event.namespace", js["message"])
        # and core/v1 events show up through events.k8s.io with the new names
        st, js, _ = self.c.get(self.evs + "/web.1")
        self.assertEqual((js["note"], js["deprecatedCount"]), ("m" * 2000, 1))
        self.assertEqual(js["deprecatedSource"], {"component": "kubelet"})

    def test_events_api_absent(self):
        self.c.ctl("POST", "config", {"eventsAPI": False})
        st, js, _ = self.c.get("/apis")
        self.assertNotIn("events.k8s.io", [g["name"] for g in js["groups"]])
        st, js, _ = self.c.get("/apis/events.k8s.io/v1")
        self.assertEqual(st, 404)
        st, js, _ = self.c.req("POST", self.evs, event_v1(self.pod))
        self.assertStatus(js, 404, "NotFound", "the server could not find the requested resource")

    def test_event_ttl(self):
        self.c.ctl("POST", "config", {"eventTTL": 1})
        st, js, _ = self.c.req("POST", self.evs, event_v1(self.pod, name="web.ttl"))
        self.assertEqual(st, 201)
        for _ in range(60):
            st, js, _ = self.c.get(self.evs + "/web.ttl")
            if st == 404:
                break
            time.sleep(0.1)
        self.assertEqual(st, 404)


class TestAuthAndFaults(Base):
    def test_token_rotation(self):
        st, _, _ = self.c.get("/api/v1/pods")
        self.assertEqual(st, 200)
        with open(os.path.join(self.tmp, "token"), "w") as f:
            f.write("  tok-two  \n")
        st, js, _ = self.c.get("/api/v1/pods")
        self.assertEqual((st, js["reason"]), (401, "Unauthorized"))
        st, _, _ = self.c.get("/api/v1/pods", token="tok-two")
        self.assertEqual(st, 200)

    def test_open_watch_survives_rotation(self):
        st, js, _ = self.c.get("/api/v1/pods")
        w = self.c.watch("/api/v1/pods?watch=1&timeoutSeconds=5&resourceVersion=" +
                         js["metadata"]["resourceVersion"])
        with open(os.path.join(self.tmp, "token"), "w") as f:
            f.write("tok-after\n")
        self.seed(pod("a"))
        ev = w.next()
        w.close()
        self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]), ("ADDED", "a"))
        st, _, _ = self.c.get("/api/v1/pods")  # but a new request with the old token fails
        self.assertEqual(st, 401)

    def test_unauthorized_until_token_changes(self):
        self.c.ctl("POST", "unauthorized-until-token-change")
        for _ in range(3):
            st, _, _ = self.c.get("/api/v1/pods")
            self.assertEqual(st, 401)
        with open(os.path.join(self.tmp, "token"), "w") as f:
            f.write("tok-three\n")
        st, _, _ = self.c.get("/api/v1/pods", token="tok-three")
        self.assertEqual(st, 200)
        st, _, _ = self.c.get("/api/v1/pods", token=TOKEN)
        self.assertEqual(st, 401)

    def test_429_500_delay_close(self):
        self.c.ctl("POST", "faults", [
            {"verb": "list", "resource": "pods", "code": 429, "retryAfter": 3, "count": 2},
            {"verb": "get", "code": 500},
            {"verb": "list", "resource": "events", "action": "delay", "seconds": 0.5},
            {"verb": "list", "resource": "nodes", "action": "close"}])
        for _ in range(2):
            st, js, r = self.c.get("/api/v1/pods")
            self.assertEqual(st, 429)
            self.assertEqual(r.getheader("Retry-After"), "3")
            self.assertStatus(js, 429, "TooManyRequests",
                              "Too many requests, please try again later.")
            self.assertEqual(js["details"]["retryAfterSeconds"], 3)
        st, js, _ = self.c.get("/api/v1/pods")
        self.assertEqual(st, 200)
        st, js, _ = self.c.get("/api/v1")  # discovery is not a resource "get"
        self.assertEqual(st, 200)
        st, js, _ = self.c.get("/api/v1/namespaces/default/pods/x")
        self.assertStatus(js, 500, "InternalError")
        t0 = time.monotonic()
        st, js, _ = self.c.get("/api/v1/events")
        self.assertEqual(st, 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.45)
        with self.assertRaises((http.client.HTTPException, ConnectionError)):
            self.c.get("/api/v1/nodes")
        faults = self.c.ctl("GET", "faults")["rules"]
        self.assertEqual([f["hits"] for f in faults], [2, 1, 1, 1])
        self.c.ctl("POST", "faults", {"path": "/apis", "code": 503, "retryAfter": 2})
        st, js, r = self.c.get("/apis")
        self.assertEqual((st, js["reason"], r.getheader("Retry-After")),
                         (503, "ServiceUnavailable", "2"))

    def test_request_log(self):
        self.seed(pod("a"))
        self.c.ctl("DELETE", "requests")
        self.c.req("PATCH", "/api/v1/namespaces/default/pods/a?fieldManager=lw",
                   {"metadata": {"annotations": {"leakwatch.io/status": "ok"}}},
                   ctype="application/merge-patch+json")
        log = self.c.ctl("GET", "requests")["items"]
        self.assertEqual(len(log), 1)
        e = log[0]
        self.assertEqual((e["method"], e["path"], e["query"], e["status"]),
                         ("PATCH", "/api/v1/namespaces/default/pods/a", {"fieldManager": "lw"},
                          200))
        self.assertEqual(e["headers"]["Content-Type"], "application/merge-patch+json")
        self.assertEqual(e["body"], {"metadata": {"annotations": {"leakwatch.io/status": "ok"}}})
        self.assertNotIn(TOKEN, json.dumps(e))
        self.assertTrue(e["headers"]["Authorization"].startswith("Bearer sha256:"))
        since = e["seq"]
        self.c.get("/api/v1/pods")
        self.assertEqual(len(self.c.ctl("GET", "requests?since=%d" % since)["items"]), 1)


class TestRequestLogCap(Base):
    extra_args = ("--log-cap", "20")

    def test_cap(self):
        for _ in range(30):
            self.c.get("/api")
        self.assertEqual(len(self.c.ctl("GET", "requests")["items"]), 20)

    def test_counters_are_not_capped(self):
        # /_test/counters (the fleet benchmark's API requests per minute)
        # counts every API request by verb, resource and status, beyond the cap
        self.c.ctl("DELETE", "counters")
        for _ in range(30):
            self.c.get("/api/v1/pods")
        self.c.get("/api/v1/namespaces/default/pods/nope")
        c = self.c.ctl("GET", "counters")
        self.assertEqual(c["counts"], {"list pods 200": 30, "get pods 404": 1})
        self.assertEqual(c["total"], 31)
        self.assertLessEqual(c["since"], c["now"])
        self.c.ctl("DELETE", "counters")
        self.assertEqual(self.c.ctl("GET", "counters")["total"], 0)


class TestServiceAccountDir(Base):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="lwapis.")
        cls.sa = os.path.join(cls.tmp, "sa")
        tokf = os.path.join(cls.tmp, "token")  # unused by the server: keep start_server happy
        with open(tokf, "w") as f:
            f.write("x")
        portf = os.path.join(cls.tmp, "port")
        cls.proc = subprocess.Popen([sys.executable, SERVER, "--port", "0", "--port-file", portf,
                                     "--sa-dir", cls.sa], stdout=subprocess.DEVNULL)
        for _ in range(300):
            if os.path.exists(portf):
                break
            time.sleep(0.05)
        with open(portf) as f:
            cls.port = int(f.read())
        cls.c = Client(cls.port)

    def setUp(self):
        pass

    def test_atomic_rotation(self):
        self.assertTrue(os.path.islink(os.path.join(self.sa, "token")))
        self.assertTrue(os.path.islink(os.path.join(self.sa, "..data")))
        with open(os.path.join(self.sa, "namespace")) as f:
            self.assertEqual(f.read(), "default")
        with open(os.path.join(self.sa, "token")) as f:
            old = f.read()
        held = open(os.path.join(self.sa, "token"))  # an fd kept across rotation
        self.c.token = old
        self.assertEqual(self.c.get("/api/v1/pods")[0], 200)
        new = self.c.ctl("POST", "rotate-token", {"token": "rotated-1"})["token"]
        self.assertEqual(new, "rotated-1")
        self.assertEqual(self.c.get("/api/v1/pods")[0], 401)
        self.assertEqual(held.read(), old)  # the stale fd still sees the old token
        held.close()
        with open(os.path.join(self.sa, "token")) as f:
            self.assertEqual(f.read(), "rotated-1")
        self.c.token = "rotated-1"
        self.assertEqual(self.c.get("/api/v1/pods")[0], 200)
        dirs = [n for n in os.listdir(self.sa) if n.startswith("..2")]
        self.assertEqual(len(dirs), 1)  # the old data dir is gone


class TestTLS(Base):
    extra_args = ()

    @classmethod
    def setUpClass(cls):
        if not shutil.which("openssl"):
            raise unittest.SkipTest("no openssl")
        cls.tmp = tempfile.mkdtemp(prefix="lwapis.")
        tls = os.path.join(cls.tmp, "tls")
        cls.proc, cls.port = start_server(cls.tmp, "--tls-dir", tls, "--kubeconfig-out",
                                          os.path.join(cls.tmp, "kubeconfig"))
        ctx = ssl.create_default_context(cafile=os.path.join(tls, "ca.crt"))
        cls.c = Client(cls.port, ctx=ctx)
        cls.tls = tls

    def test_token_over_tls_and_client_cert(self):
        st, _, _ = self.c.get("/api/v1/pods")
        self.assertEqual(st, 200)
        st, _, _ = self.c.get("/api/v1/pods", token="")
        self.assertEqual(st, 401)
        ctx = ssl.create_default_context(cafile=os.path.join(self.tls, "ca.crt"))
        ctx.load_cert_chain(os.path.join(self.tls, "client.crt"),
                            os.path.join(self.tls, "client.key"))
        st, _, _ = Client(self.port, token="", ctx=ctx).get("/api/v1/pods")
        self.assertEqual(st, 200)
        bad = ssl.create_default_context()  # system roots do not trust our CA
        with self.assertRaises(ssl.SSLError):
            Client(self.port, ctx=bad).get("/api/v1/pods")
        with open(os.path.join(self.tmp, "kubeconfig")) as f:
            kc = f.read()
        self.assertIn("certificate-authority-data: ", kc)
        self.assertIn("server: https://127.0.0.1:%d" % self.port, kc)


if __name__ == "__main__":
    unittest.main()
