# SPDX-License-Identifier: Apache-2.0
"""Test-side state that is not Kubernetes: runtime configuration, fault
injection rules and the bounded request log."""
import collections
import hashlib
import json
import random
import threading
import time

from .status import make_error

SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie"}


class Config:
    """Runtime-tunable behaviour (POST /_test/config changes these)."""
    FIELDS = {"bookmarkInterval": ("bookmark_interval", float),
              "eventsAPI": ("events_api", bool),
              "metricsAPI": ("metrics_api", bool),
              "watchList": ("watch_list", bool),
              "expiredForm": ("expired_form", str),
              "defaultWatchTimeoutMin": ("default_watch_timeout_min", float),
              "defaultWatchTimeoutMax": ("default_watch_timeout_max", float),
              "eventTTL": ("event_ttl", float),
              "maxWatches": ("max_watches", int),
              "tooLargeWait": ("too_large_wait", float),
              "strictEventNamespace": ("strict_event_namespace", bool)}

    def __init__(self):
        self.bookmark_interval = 5.0
        self.events_api = True
        self.metrics_api = False
        self.watch_list = True
        self.expired_form = "event"  # how a too-old watch RV is answered: "event" | "http"
        self.default_watch_timeout_min = 1800.0
        self.default_watch_timeout_max = 3600.0
        self.event_ttl = 3600.0
        self.max_watches = 200
        self.too_large_wait = 3.0
        self.strict_event_namespace = True  # the shared doc's rule; False = k/k's

    def to_json(self, store):
        d = {k: getattr(self, a) for k, (a, _) in self.FIELDS.items()}
        d["historyCap"] = store.history_cap
        d["historySeconds"] = store.history_seconds
        return d

    def update(self, d, store):
        for k, v in d.items():
            if k == "historyCap":
                store.history_cap = int(v)
                store.trim()
            elif k == "historySeconds":
                store.history_seconds = float(v)
                store.trim()
            elif k in self.FIELDS:
                attr, typ = self.FIELDS[k]
                if typ is bool and not isinstance(v, bool):
                    raise ValueError("%s must be a boolean" % k)
                if k == "expiredForm" and v not in ("event", "http"):
                    raise ValueError("expiredForm must be 'event' or 'http'")
                setattr(self, attr, typ(v))
            else:
                raise ValueError("unknown config key %r" % k)

    def watch_timeout(self):
        return random.uniform(self.default_watch_timeout_min, self.default_watch_timeout_max)


class Fault:
    MATCH_KEYS = ("verb", "resource", "group", "namespace", "name", "method", "subresource")

    def __init__(self, d):
        self.spec = dict(d)
        self.action = d.get("action", "error")
        if self.action not in ("error", "delay", "close"):
            raise ValueError("action must be error, delay or close")
        self.count = int(d.get("count", 1))
        self.code = int(d.get("code", 500))
        self.form = d.get("form", "http")
        if self.form not in ("http", "event"):
            raise ValueError("form must be http or event")
        self.delay = float(d.get("seconds", d.get("delay", 0)) or 0)
        self.path = d.get("path")
        self.hits = 0
        if self.action == "error":
            self.error()  # validate early

    def matches(self, info):
        if not info.get("is_resource") and not self.path:
            return False  # discovery and /version only through an explicit path prefix
        for k in self.MATCH_KEYS:
            if k in self.spec and self.spec[k] != info.get(k):
                return False
        if self.path and not info.get("path", "").startswith(self.path):
            return False
        return True

    def error(self):
        s = self.spec
        return make_error(self.code, s.get("reason"), s.get("message"), s.get("retryAfter"))

    def to_json(self):
        d = dict(self.spec)
        d["remaining"] = self.count
        d["hits"] = self.hits
        return d


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []
        self.unauth_snapshot = None  # token-file content while forced 401 is on
        self.unauth_active = False

    def add(self, d):
        f = Fault(d)
        with self.lock:
            self.rules.append(f)
        return f

    def clear(self):
        with self.lock:
            self.rules = []
            self.unauth_active = False

    def take(self, info):
        """First matching rule with hits left, consumed; or None."""
        with self.lock:
            for f in self.rules:
                if f.count != 0 and f.matches(info):
                    if f.count > 0:
                        f.count -= 1
                    f.hits += 1
                    return f
        return None

    def to_json(self):
        with self.lock:
            return {"rules": [f.to_json() for f in self.rules],
                    "unauthorizedUntilTokenChange": self.unauth_active}


def token_fingerprint(tok):
    return "sha256:" + hashlib.sha256(tok.encode()).hexdigest()[:16]


class RequestLog:
    """Capped log of API requests (not control requests).  Secrets are
    replaced by a short fingerprint so tests can tell tokens apart."""

    def __init__(self, cap=2000, body_cap=65536):
        self.lock = threading.Lock()
        self.entries = collections.deque(maxlen=cap)
        self.seq = 0
        self.body_cap = body_cap
        # Request counters, uncapped and unaffected by the log cap: one
        # "verb resource status" key each (GET /_test/counters; the fleet
        # benchmark reports API requests per minute from them).
        self.counts = {}
        self.counts_since = time.time()

    def add(self, method, path, query, headers, body):
        h = {}
        for k, v in headers.items():
            if k.lower() in SECRET_HEADERS:
                if v.lower().startswith("bearer "):
                    v = "Bearer " + token_fingerprint(v[7:].strip())
                else:
                    v = "<redacted>"
            h[k] = v
        b = None
        if body:
            raw = body[:self.body_cap]
            try:
                b = json.loads(raw)
            except ValueError:
                b = raw.decode("utf-8", "replace")
        with self.lock:
            self.seq += 1
            e = {"seq": self.seq, "time": time.time(), "method": method, "path": path,
                 "query": query, "headers": h, "body": b, "status": None}
            self.entries.append(e)
            return e

    def since(self, seq):
        with self.lock:
            return [dict(e) for e in self.entries if e["seq"] > seq]

    def clear(self):
        with self.lock:
            self.entries.clear()

    def count(self, key):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1

    def counters(self):
        with self.lock:
            return {"since": self.counts_since, "now": time.time(),
                    "total": sum(self.counts.values()), "counts": dict(self.counts)}

    def clear_counters(self):
        with self.lock:
            self.counts = {}
            self.counts_since = time.time()

