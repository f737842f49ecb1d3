# SPDX-License-Identifier: Apache-2.0
"""Object storage with etcd-like resourceVersions.

One global counter gives every write a new resourceVersion (served as an
opaque string).  Every write is appended to a history window bounded both in
entries and in age; watches replay from it, lists at an older RV roll the
current state back through it, and an RV older than the window is "too old"
(410 Expired).  Watchers block on the store's condition variable.  Stored
objects are never mutated in place, so history entries can share them."""
import collections
import copy
import threading
import time
import uuid

from .status import ApiError, too_old_rv


class Entry:
    __slots__ = ("rv", "bucket", "etype", "key", "obj", "prev", "when")

    def __init__(self, rv, bucket, etype, key, obj, prev):
        self.rv, self.bucket, self.etype, self.key = rv, bucket, etype, key
        self.obj, self.prev, self.when = obj, prev, time.monotonic()


class Store:
    def __init__(self, history_cap=5000, history_seconds=300.0, max_objects=50000,
                 first_rv=1000):
        self.cond = threading.Condition()
        self.rv = first_rv
        self.compacted = first_rv  # a watch/list at RV < compacted is too old
        self.buckets = collections.defaultdict(dict)
        self.expiry = {}  # (bucket, key) -> monotonic deadline (event TTL)
        self.history = collections.deque()
        self.history_cap = history_cap
        self.history_seconds = history_seconds
        self.max_objects = max_objects
        self.drop_gen = 0  # bumped to end every open watch

    # -- reads (call with or without the lock held; they take it) --------
    def current_rv(self):
        with self.cond:
            return self.rv

    def get(self, bucket, key):
        with self.cond:
            return self.buckets[bucket].get(key)

    def items(self, bucket):
        with self.cond:
            return list(self.buckets[bucket].items())

    def count(self):
        with self.cond:
            return sum(len(b) for b in self.buckets.values())

    def snapshot(self, bucket, at_rv=None):
        """(sorted [(key, obj)], rv) of a bucket now, or as it was at at_rv."""
        with self.cond:
            items = dict(self.buckets[bucket])
            if at_rv is None or at_rv >= self.rv:
                return sorted(items.items()), self.rv
            self.check_rv(at_rv)
            for e in reversed(self.history):
                if e.rv <= at_rv:
                    break
                if e.bucket != bucket:
                    continue
                if e.etype == "ADDED":
                    items.pop(e.key, None)
                else:
                    items[e.key] = e.prev
            return sorted(items.items()), at_rv

    def check_rv(self, rv):
        if rv < self.compacted:
            raise too_old_rv(rv, self.compacted)

    def entries_after(self, rv):
        """History entries with rv > given rv (oldest first); raises 410 if
        some of them were already dropped from the window."""
        with self.cond:
            self.check_rv(rv)
            out = []
            for e in reversed(self.history):
                if e.rv <= rv:
                    break
                out.append(e)
            out.reverse()
            return out

    # -- writes ----------------------------------------------------------
    def _commit(self, bucket, etype, key, obj, prev):
        self.rv += 1
        if obj is not None:
            obj = copy.deepcopy(obj)
            obj.setdefault("metadata", {})["resourceVersion"] = str(self.rv)
        b = self.buckets[bucket]
        if etype == "DELETED":
            b.pop(key, None)
            self.expiry.pop((bucket, key), None)
        else:
            b[key] = obj
        self.history.append(Entry(self.rv, bucket, etype, key, obj, prev))
        self._trim()
        self.cond.notify_all()
        return obj

    def _trim(self):
        now = time.monotonic()
        while self.history and (len(self.history) > self.history_cap or
                                now - self.history[0].when > self.history_seconds):
            e = self.history.popleft()
            self.compacted = max(self.compacted, e.rv)

    def trim(self):
        with self.cond:
            self._trim()

    def compact(self):
        """Forget all history: every RV older than the current one expires."""
        with self.cond:
            self.history.clear()
            self.compacted = self.rv
            self.cond.notify_all()

    def create(self, bucket, key, obj, ttl=None):
        with self.cond:
            if self.count() >= self.max_objects:
                raise ApiError(500, "InternalError", "Internal error occurred: test server "
                               "object cap (%d) reached" % self.max_objects, {})
            md = obj.setdefault("metadata", {})
            md.setdefault("uid", str(uuid.uuid4()))
            out = self._commit(bucket, "ADDED", key, obj, None)
            if ttl:
                self.expiry[(bucket, key)] = time.monotonic() + ttl
            return out

    def update(self, bucket, key, obj, ttl=None):
        with self.cond:
            prev = self.buckets[bucket].get(key)
            out = self._commit(bucket, "MODIFIED", key, obj, prev)
            if ttl:
                self.expiry[(bucket, key)] = time.monotonic() + ttl
            return out

    def delete(self, bucket, key):
        with self.cond:
            prev = self.buckets[bucket].get(key)
            if prev is None:
                return None
            return self._commit(bucket, "DELETED", key, prev, prev)

    def expire_ttl(self):
        """Delete objects whose TTL passed (events, like etcd leases)."""
        now = time.monotonic()
        with self.cond:
            dead = [k for k, t in self.expiry.items() if t <= now]
            for bucket, key in dead:
                self.expiry.pop((bucket, key), None)
                self.delete(bucket, key)
            self._trim()

    def drop_watches(self):
        with self.cond:
            self.drop_gen += 1
            self.cond.notify_all()

    def reset(self):
        with self.cond:
            self.buckets.clear()
            self.expiry.clear()
            self.history.clear()
            self.rv += 1
            self.compacted = self.rv
            self.drop_gen += 1
            self.cond.notify_all()
