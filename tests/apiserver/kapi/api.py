# SPDX-License-Identifier: Apache-2.0
"""The Kubernetes API semantics: request-path resolution, list (RV, paging,
continue tokens, selectors), get, create, update, patch, delete, and watch
(synthetic ADDED, replay from an RV, bookmarks, 410 in both forms,
timeoutSeconds).  HTTP plumbing lives in handler.py."""
import base64
import copy
import json
import random
import string
import threading
import time
import uuid

from . import patch as P
from . import status as S
from . import tables
from .resources import build_registry, find
from .selectors import parse_field_selector, parse_label_selector
from .store import Store
from .validation import (decode_fixups, now_time, raise_if, validate_event_create,
                         validate_event_update, validate_lease, validate_meta)
from .control import Config, Faults, RequestLog

NAMESPACE_SUBRESOURCES = {"status", "finalize"}
MAX_BODY = 3 * 1024 * 1024


class ReqInfo(dict):
    """Like apiserver's RequestInfo: verb, group, version, resource, ..."""


def resolve(method, path, query):
    segs = [s for s in path.split("/") if s]
    info = ReqInfo(path=path, method=method, is_resource=False, verb=method.lower(),
                   group="", version="", resource="", namespace="", name="", subresource="")
    if len(segs) >= 2 and segs[0] == "api":
        info["version"], rest = segs[1], segs[2:]
    elif len(segs) >= 3 and segs[0] == "apis":
        info["group"], info["version"], rest = segs[1], segs[2], segs[3:]
    else:
        return info
    if not rest:
        return info
    info["is_resource"] = True
    if rest[0] == "namespaces" and len(rest) >= 2:
        if len(rest) > 2 and rest[2] not in NAMESPACE_SUBRESOURCES:
            info["namespace"] = rest[1]
            rest = rest[2:]
        else:
            info["namespace"] = rest[1]
    info["resource"] = rest[0]
    if len(rest) >= 2:
        info["name"] = rest[1]
    if len(rest) >= 3:
        info["subresource"] = "/".join(rest[2:])
    if info["resource"] == "namespaces":  # /api/v1/namespaces/X is the namespace X
        info["name"] = info["namespace"] if len(rest) == 1 and info["namespace"] else info["name"]
        info["namespace"] = ""
    watch = query.get("watch") in ("1", "true", "True")
    if method == "GET":
        info["verb"] = "watch" if watch else ("get" if info["name"] else "list")
    elif method == "POST":
        info["verb"] = "create"
    elif method == "PUT":
        info["verb"] = "update"
    elif method == "PATCH":
        info["verb"] = "patch"
    elif method == "DELETE":
        info["verb"] = "delete" if info["name"] else "deletecollection"
    return info


def _rand_suffix(n=5):
    return "".join(random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(n))


def encode_continue(rv, key):
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": "%s/%s\x00" % key})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_continue(tok):
    try:
        pad = "=" * (-len(tok) % 4)
        d = json.loads(base64.urlsafe_b64decode(tok + pad))
        ns, name = d["start"].rstrip("\x00").split("/", 1)
        return int(d["rv"]), (ns, name)
    except Exception as e:  # noqa: BLE001 - any malformed token is a 400
        raise S.bad_request("invalid continue token: %s" % e)


def _strip_listed(o):
    o = dict(o)
    o.pop("kind", None)
    o.pop("apiVersion", None)
    return o


def _parse_rv(s, what="resourceVersion"):
    try:
        v = int(s)
        if v < 0:
            raise ValueError
        return v
    except ValueError:
        raise S.bad_request('%s: Invalid value: "%s": strconv.ParseUint: parsing "%s": '
                            "invalid syntax" % (what, s, s))


def _list_options_invalid(errs):
    return S.invalid("ListOptions", "meta.k8s.io", "", errs)


class App:
    def __init__(self, token=None, token_file=None, history_cap=5000, history_seconds=300.0,
                 max_objects=50000, log_cap=2000):
        self.registry = build_registry()
        self.store = Store(history_cap=history_cap, history_seconds=history_seconds,
                           max_objects=max_objects)
        self.cfg = Config()
        self.faults = Faults()
        self.log = RequestLog(cap=log_cap)
        self.static_token = token
        self.token_file = token_file
        self.watches = {}
        self.watch_lock = threading.Lock()
        self.metrics = {}  # (ns, name) -> containers usage list (metrics.k8s.io)
        self.server_addr = "127.0.0.1:0"
        self._stop = threading.Event()
        self.verbose = False
        self.drop_abrupt = False
        self.sa_dir = None
        for ns in ("default", "kube-system"):
            self.ensure_namespace(ns)
        threading.Thread(target=self._janitor, daemon=True).start()

    def save_config(self):
        """Remember the start-up configuration; /_test/reset restores it."""
        self._cfg0 = (copy.deepcopy(self.cfg), self.store.history_cap, self.store.history_seconds)

    def restore_config(self):
        cfg, cap, secs = getattr(self, "_cfg0", (Config(), 5000, 300.0))
        self.cfg = copy.deepcopy(cfg)
        self.store.history_cap, self.store.history_seconds = cap, secs

    def stop(self):
        self._stop.set()
        self.store.drop_watches()

    def _janitor(self):
        while not self._stop.wait(1.0):
            self.store.expire_ttl()

    # ---------------------------------------------------------------- auth
    def read_token_file(self):
        if not self.token_file:
            return None
        try:
            with open(self.token_file, "r", encoding="utf-8") as f:
                return f.read(65536).strip()
        except OSError:
            return None

    def authenticate(self, auth_header, peer_cn):
        """-> user name, or raise 401.  A verified client certificate wins."""
        ftok = self.read_token_file()
        if self.faults.unauth_active:
            if ftok is not None and ftok != self.faults.unauth_snapshot:
                self.faults.unauth_active = False
            else:
                raise S.unauthorized()
        if peer_cn:
            return peer_cn
        if not self.static_token and not self.token_file:
            return "system:anonymous"
        if not auth_header or not auth_header.startswith("Bearer "):
            raise S.unauthorized()
        tok = auth_header[7:].strip()
        if tok and ((ftok and tok == ftok) or (self.static_token and tok == self.static_token)):
            return "system:serviceaccount:leakwatch:leakwatch"
        raise S.unauthorized()

    def force_unauthorized(self):
        self.faults.unauth_snapshot = self.read_token_file()
        self.faults.unauth_active = True

    # ------------------------------------------------------------ helpers
    def resource_for(self, info):
        r = find(self.registry, info["group"], info["version"], info["resource"])
        if r is None:
            raise S.path_not_found()
        if r.group == "events.k8s.io" and not self.cfg.events_api:
            raise S.path_not_found()
        return r

    def ensure_namespace(self, ns):
        if self.store.get("namespaces", ("", ns)) is None:
            self.store.create("namespaces", ("", ns), {
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": ns, "creationTimestamp": now_time(),
                             "labels": {"kubernetes.io/metadata.name": ns}},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})

    def _selectors(self, res, q):
        fs = parse_field_selector(q.get("fieldSelector"))
        for f in fs.fields():
            if not res.supports_field(f):
                raise S.bad_request("field label not supported: %s" % f)
        ls = parse_label_selector(q.get("labelSelector"))
        return fs, ls

    def _matcher(self, res, ns, fs, ls):
        def match(obj):
            if obj is None:
                return False
            md = obj.get("metadata") or {}
            if ns and md.get("namespace", "") != ns:
                return False
            if not ls.matches(md.get("labels")):
                return False
            return fs.matches(lambda f: res.field_value(obj, f))
        return match

    def _key(self, res, ns, name):
        return (ns if res.namespaced else "", name)

    # --------------------------------------------------------------- list
    def list(self, res, ns, q, accept):
        rv_s = q.get("resourceVersion")
        match = q.get("resourceVersionMatch")
        cont = q.get("continue")
        errs = []
        if "sendInitialEvents" in q:
            errs.append(S.FieldError("Forbidden", "sendInitialEvents", None,
                                     "sendInitialEvents is forbidden for list"))
        if match:
            if not rv_s:
                errs.append(S.FieldError("Forbidden", "resourceVersionMatch", None,
                                         "resourceVersionMatch is forbidden unless "
                                         "resourceVersion is provided"))
            if cont:
                errs.append(S.FieldError("Forbidden", "resourceVersionMatch", None,
                                         "resourceVersionMatch is forbidden when continue is "
                                         "provided"))
            if match not in ("NotOlderThan", "Exact"):
                errs.append(S.FieldError("NotSupported", "resourceVersionMatch", match,
                                         'supported values: "Exact", "NotOlderThan", ""'))
            if match == "Exact" and rv_s == "0":
                errs.append(S.FieldError("Forbidden", "resourceVersionMatch", None,
                                         'resourceVersionMatch "exact" is forbidden for '
                                         'resourceVersion "0"'))
        if errs:
            raise _list_options_invalid(errs)
        fs, ls = self._selectors(res, q)
        limit = 0
        if q.get("limit"):
            try:
                limit = max(0, int(q["limit"]))
            except ValueError:
                raise S.bad_request('limit: Invalid value: "%s": must be an integer' % q["limit"])
        start_after = None
        at = None
        if cont:
            if rv_s and rv_s != "0":
                raise S.bad_request("specifying resource version is not allowed when using "
                                    "continue")
            at, start_after = decode_continue(cont)
            with self.store.cond:
                if at < self.store.compacted:
                    raise S.expired(S.CONTINUE_EXPIRED,
                                    encode_continue(self.store.rv, start_after))
        elif rv_s and rv_s != "0":
            want = _parse_rv(rv_s)
            self._wait_for_rv(want)
            if limit and match != "NotOlderThan":
                at = want  # Exact (explicitly, or implied by limit + RV)
            elif match == "Exact":
                at = want
        elif rv_s == "0":
            limit = 0  # served from the watch cache, which ignores limit (doc §3)
        items, snap_rv = self.store.snapshot(res.store, at)
        m = self._matcher(res, ns, fs, ls)
        items = [(k, o) for k, o in items if m(o)]
        if start_after is not None:
            items = [(k, o) for k, o in items if k > start_after]
        meta = {"resourceVersion": str(snap_rv)}
        if limit and len(items) > limit:
            rest = len(items) - limit
            items = items[:limit]
            meta["continue"] = encode_continue(snap_rv, items[-1][0])
            if fs.empty() and ls.empty():
                meta["remainingItemCount"] = rest
        views = [res.to_view(o) for _, o in items]
        if tables.wants_table(accept):
            return tables.table(res.kind, views, meta, q.get("includeObject", "Metadata"))
        return {"kind": res.kind + "List", "apiVersion": res.api_version, "metadata": meta,
                "items": [_strip_listed(v) for v in views]}

    def _wait_for_rv(self, want):
        deadline = time.monotonic() + self.cfg.too_large_wait
        with self.store.cond:
            while self.store.rv < want:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise S.too_large_rv(want, self.store.rv)
                self.store.cond.wait(left)

    # ---------------------------------------------------------------- get
    def get(self, res, ns, name, accept, q):
        obj = self.store.get(res.store, self._key(res, ns, name))
        if obj is None:
            raise S.not_found(res.plural, res.group, name)
        v = res.to_view(obj)
        if tables.wants_table(accept):
            return tables.table(res.kind, [v], {"resourceVersion": v["metadata"].get(
                "resourceVersion", "")}, q.get("includeObject", "Metadata"))
        return v

    # ------------------------------------------------------------- decode
    def _decode(self, res, body):
        try:
            obj = json.loads(body or b"")
        except ValueError as e:
            raise S.bad_request("couldn't get version/kind; json parse error: %s" % e)
        if not isinstance(obj, dict):
            raise S.bad_request("couldn't get version/kind; json parse error: json: cannot "
                                "unmarshal %s into Go value of type struct" % type(obj).__name__)
        av, kind = obj.get("apiVersion"), obj.get("kind")
        if av and av != res.api_version:
            raise S.bad_request("the API version in the data (%s) does not match the expected "
                                "API version (%s)" % (av, res.api_version))
        if kind and kind != res.kind:
            raise S.bad_request("the kind in the data (%s) does not match the expected kind (%s)"
                                % (kind, res.kind))
        obj.setdefault("apiVersion", res.api_version)
        obj.setdefault("kind", res.kind)
        decode_fixups(res.kind, obj, res.kind)
        st = res.from_view(obj)
        decode_fixups(res.kind, st, res.kind)
        return st

    def _validate(self, res, obj, old=None):
        name = obj.get("metadata", {}).get("name", "")
        if res.store == "events":
            core = res.group == ""
            strict = self.cfg.strict_event_namespace
            errs = validate_event_create(obj, core, strict) if old is None else \
                validate_event_update(obj, old, core, strict)
            if core or old is not None:
                errs = validate_meta(obj, True, "path") + errs
            else:
                errs = [e for e in validate_meta(obj, True, "none") if e.field != "metadata.name"] \
                    + errs
            raise_if(errs, res.kind, res.group, name)
            return
        errs = validate_meta(obj, res.namespaced, "subdomain")
        if res.kind == "Lease":
            errs += validate_lease(obj)
        raise_if(errs, res.kind, res.group, name)

    # ------------------------------------------------------------- create
    def create(self, res, ns, body, q):
        if res.namespaced and not ns:
            raise S.method_not_allowed("create", res.plural)
        obj = self._decode(res, body)
        md = obj.setdefault("metadata", {})
        if res.namespaced:
            if md.get("namespace") and md["namespace"] != ns:
                raise S.bad_request("the namespace of the provided object does not match the "
                                    "namespace sent on the request")
            md["namespace"] = ns
        else:
            md.pop("namespace", None)
        if not md.get("name") and md.get("generateName"):
            md["name"] = md["generateName"] + _rand_suffix()
        self._validate(res, obj)
        if md.get("resourceVersion"):
            raise S.ApiError(500, "InternalError", "resourceVersion should not be set on "
                             "objects to be created", {})
        if res.namespaced and self.store.get("namespaces", ("", ns)) is None:
            raise S.not_found("namespaces", "", ns)
        md["uid"] = str(uuid.uuid4())
        md["creationTimestamp"] = now_time()
        if res.kind == "Pod":
            obj.setdefault("status", {}).setdefault("phase", "Pending")
            md.setdefault("generation", 1)
        key = self._key(res, ns, md["name"])
        if q.get("dryRun") == "All":
            return 201, res.to_view(obj)
        with self.store.cond:
            if self.store.get(res.store, key) is not None:
                raise S.already_exists(res.plural, res.group, md["name"])
            ttl = self.cfg.event_ttl if res.store == "events" else None
            out = self.store.create(res.store, key, obj, ttl=ttl)
        return 201, res.to_view(out)

    # ------------------------------------------------ update, patch (shared)
    def _write(self, res, ns, name, new, sub, old, q, is_patch):
        """Common tail of update and patch: preserve server-owned fields,
        check the resourceVersion precondition, validate, store."""
        md = new.setdefault("metadata", {})
        omd = old["metadata"]
        if md.get("name", name) != name:
            raise S.bad_request("the name of the object (%s) does not match the name on the URL "
                                "(%s)" % (md.get("name"), name))
        if res.namespaced and md.get("namespace", ns) != ns:
            raise S.bad_request("the namespace of the provided object does not match the "
                                "namespace sent on the request")
        rv = md.get("resourceVersion")
        if rv:
            if rv != omd.get("resourceVersion"):
                raise S.conflict(res.plural, res.group, name)
        elif not is_patch and not res.unconditional_update:
            raise S.invalid(res.kind, res.group, name, [S.FieldError(
                "Invalid", "metadata.resourceVersion", "0x0", "must be specified for an update")])
        if md.get("uid") and md["uid"] != omd.get("uid"):
            raise S.conflict(res.plural, res.group, name,
                             "Precondition failed: UID in precondition: %s, UID in object meta: "
                             "%s" % (md["uid"], omd.get("uid")))
        for k in ("name", "namespace", "uid", "creationTimestamp", "generation",
                  "deletionTimestamp"):
            if k in omd:
                md[k] = omd[k]
            else:
                md.pop(k, None)
        if res.kind == "Pod":
            if sub == "status":
                new = dict(old, status=new.get("status", {}))
                new["metadata"] = dict(omd)
            elif "status" in old:
                new["status"] = old["status"]
        self._validate(res, new, old)
        cmp_new = copy.deepcopy(new)
        cmp_new["metadata"].pop("resourceVersion", None)
        cmp_old = copy.deepcopy(old)
        cmp_old["metadata"].pop("resourceVersion", None)
        if cmp_new == cmp_old:  # no-op write: same RV, no watch event (like etcd)
            return old
        if q.get("dryRun") == "All":
            return new
        ttl = self.cfg.event_ttl if res.store == "events" else None
        return self.store.update(res.store, self._key(res, ns, name), new, ttl=ttl)

    def update(self, res, ns, name, sub, body, q):
        new = self._decode(res, body)
        with self.store.cond:
            old = self.store.get(res.store, self._key(res, ns, name))
            if old is None:
                if res.create_on_update and not sub:
                    return self.create(res, ns, body, q)
                raise S.not_found(res.plural, res.group, name)
            out = self._write(res, ns, name, new, sub, old, q, False)
        return 200, res.to_view(out)

    def patch(self, res, ns, name, sub, body, ctype, q):
        ctype = (ctype or "").split(";")[0].strip()
        if ctype not in (P.MERGE_PATCH, P.STRATEGIC, P.JSON_PATCH):
            raise S.unsupported_media_type(P.ACCEPTED)
        fm = q.get("fieldManager")
        if fm is not None and (len(fm) > 128 or not fm.isprintable()):
            raise S.invalid("PatchOptions", "meta.k8s.io", "", [S.FieldError(
                "Invalid", "fieldManager", fm, "must be no more than 128 characters"
                if len(fm) > 128 else "must only contain printable characters")])
        try:
            p = json.loads(body or b"")
        except ValueError as e:
            raise S.bad_request("error decoding patch: %s" % e)
        if ctype != P.JSON_PATCH and not isinstance(p, dict):
            raise S.bad_request("error decoding patch: json: cannot unmarshal %s into Go value "
                                "of type map[string]interface {}" % type(p).__name__)
        with self.store.cond:
            old = self.store.get(res.store, self._key(res, ns, name))
            if old is None:
                raise S.not_found(res.plural, res.group, name)
            view = res.to_view(old)
            try:
                patched = P.apply(ctype, view, p)
            except P.PatchError as e:
                raise S.invalid("", "", "", [S.FieldError("Invalid", "patch",
                                                          body.decode("utf-8", "replace")[:200],
                                                          str(e))])
            if not isinstance(patched, dict):
                raise S.bad_request("patch produced a non-object")
            patched["apiVersion"], patched["kind"] = res.api_version, res.kind
            try:
                decode_fixups(res.kind, patched)
            except S.ApiError:
                raise
            new = res.from_view(patched)
            decode_fixups(res.kind, new)
            out = self._write(res, ns, name, new, sub, old, q, True)
        return 200, res.to_view(out)

    # ------------------------------------------------------------- delete
    def delete(self, res, ns, name, body, q):
        opts = {}
        if body:
            try:
                opts = json.loads(body)
            except ValueError as e:
                raise S.bad_request("couldn't get version/kind; json parse error: %s" % e)
        pre = (opts or {}).get("preconditions") or {}
        with self.store.cond:
            key = self._key(res, ns, name)
            old = self.store.get(res.store, key)
            if old is None:
                raise S.not_found(res.plural, res.group, name)
            omd = old["metadata"]
            if pre.get("uid") and pre["uid"] != omd.get("uid"):
                raise S.conflict(res.plural, res.group, name,
                                 "Precondition failed: UID in precondition: %s, UID in object "
                                 "meta: %s" % (pre["uid"], omd.get("uid")))
            if pre.get("resourceVersion") and pre["resourceVersion"] != omd.get("resourceVersion"):
                raise S.conflict(res.plural, res.group, name,
                                 "Precondition failed: ResourceVersion in precondition: %s, "
                                 "ResourceVersion in object meta: %s"
                                 % (pre["resourceVersion"], omd.get("resourceVersion")))
            if q.get("dryRun") == "All":
                out = old
            else:
                out = self.store.delete(res.store, key)
        if res.kind == "Pod":
            return 200, res.to_view(out)
        return 200, S.status_success(name, res.group, res.plural, omd.get("uid"))

    def delete_collection(self, res, ns, q):
        fs, ls = self._selectors(res, q)
        m = self._matcher(res, ns, fs, ls)
        out = []
        with self.store.cond:
            for k, o in self.store.items(res.store):
                if m(o):
                    out.append(self.store.delete(res.store, k))
            rv = self.store.rv
        return 200, {"kind": res.kind + "List", "apiVersion": res.api_version,
                     "metadata": {"resourceVersion": str(rv)},
                     "items": [_strip_listed(res.to_view(o)) for o in out]}

    # --------------------------------------------------------------- watch
    def watch_prepare(self, res, ns, q, name=""):
        """Validate a watch request; returns a plan dict or raises ApiError.
        A watch on a named object (.../pods/NAME?watch=1) is a watch with
        fieldSelector metadata.name=NAME, as in kube-apiserver."""
        rv_s = q.get("resourceVersion", "")
        sie = q.get("sendInitialEvents")
        match = q.get("resourceVersionMatch")
        bookmarks = q.get("allowWatchBookmarks") in ("1", "true", "True")
        errs = []
        if sie is not None and not self.cfg.watch_list:
            errs.append(S.FieldError("Forbidden", "sendInitialEvents", None,
                                     "sendInitialEvents is forbidden for watch unless the "
                                     "WatchList feature gate is enabled"))
        elif sie is not None:
            if match != "NotOlderThan":
                errs.append(S.FieldError("Forbidden", "resourceVersionMatch", None,
                                         "sendInitialEvents requires setting "
                                         "resourceVersionMatch to NotOlderThan"
                                         if not match else "resourceVersionMatch: "
                                         'Unsupported value: "%s": supported values: '
                                         '"NotOlderThan"' % match))
            if not bookmarks:
                errs.append(S.FieldError("Forbidden", "allowWatchBookmarks", None,
                                         "sendInitialEvents requires setting "
                                         "allowWatchBookmarks to true"))
        elif match:
            errs.append(S.FieldError("Forbidden", "resourceVersionMatch", None,
                                     "resourceVersionMatch is forbidden for watch unless "
                                     "sendInitialEvents is provided"))
        if errs:
            raise _list_options_invalid(errs)
        fs, ls = self._selectors(res, q)
        if name:
            fs.terms.append(("metadata.name", "=", name))
        timeout = None
        if q.get("timeoutSeconds"):
            try:
                timeout = float(int(q["timeoutSeconds"]))
            except ValueError:
                raise S.bad_request('timeoutSeconds: Invalid value: "%s"' % q["timeoutSeconds"])
        if timeout is None or timeout <= 0:
            timeout = self.cfg.watch_timeout()
        initial = sie in ("true", "1", "True") or rv_s in ("", "0")
        start = None
        if rv_s not in ("", "0"):
            start = _parse_rv(rv_s)
            self._wait_for_rv(start)
        return {"res": res, "ns": ns, "match": self._matcher(res, ns, fs, ls),
                "bookmarks": bookmarks, "timeout": timeout, "initial": initial,
                "initial_end": sie in ("true", "1", "True"), "start": start}

    def watch_begin(self, plan):
        """Snapshot for synthetic ADDED events + the RV to stream after.
        Raises 410 when the requested RV is too old."""
        res = plan["res"]
        with self.store.cond:
            if plan["start"] is not None:
                self.store.check_rv(plan["start"])
            if plan["initial"]:
                items, rv = self.store.snapshot(res.store)
                objs = [o for _, o in items if plan["match"](o)]
            else:
                objs, rv = [], plan["start"]
            gen = self.store.drop_gen
        return objs, rv, gen

    def watch_next(self, plan, last_rv, gen, wait):
        """Block up to `wait` seconds for events after last_rv.  Returns
        (events [(type, stored_obj)], new_last_rv, dropped)."""
        st = self.store
        res, match = plan["res"], plan["match"]
        with st.cond:
            deadline = time.monotonic() + wait
            while True:
                if st.drop_gen != gen:
                    return [], last_rv, True
                entries = st.entries_after(last_rv)  # may raise 410 (fell behind)
                evs = []
                for e in entries:
                    if e.bucket != res.store:
                        continue
                    was = e.prev is not None and match(e.prev)
                    if e.etype == "ADDED":
                        if match(e.obj):
                            evs.append(("ADDED", e.obj))
                    elif e.etype == "MODIFIED":
                        now = match(e.obj)
                        if was and now:
                            evs.append(("MODIFIED", e.obj))
                        elif now:
                            evs.append(("ADDED", e.obj))
                        elif was:
                            gone_obj = copy.deepcopy(e.prev)
                            gone_obj["metadata"]["resourceVersion"] = str(e.rv)
                            evs.append(("DELETED", gone_obj))
                    elif e.etype == "DELETED" and was:
                        evs.append(("DELETED", e.obj))
                if entries:
                    last_rv = entries[-1].rv
                if evs:
                    return evs, last_rv, False
                left = deadline - time.monotonic()
                if left <= 0:
                    return [], last_rv, False
                st.cond.wait(left)

    def bookmark(self, res, rv, initial_end=False):
        md = {"resourceVersion": str(rv)}
        if initial_end:
            md["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {"kind": res.kind, "apiVersion": res.api_version, "metadata": md}

    def seed(self, res, obj):
        """Control-API create-or-replace, without validation (time fields are
        still decoded).  Fills uid, creationTimestamp, namespace, and for pods
        spec.containers and status.phase Running."""
        app = self
        if not isinstance(obj, dict):
            raise ValueError("an object must be a JSON object")
        obj = json.loads(json.dumps(obj))
        obj.setdefault("apiVersion", "v1" if res.store == "events" else res.api_version)
        obj.setdefault("kind", res.kind)
        md = obj.setdefault("metadata", {})
        if not md.get("name"):
            raise ValueError("metadata.name is required")
        if res.namespaced:
            md.setdefault("namespace", "default")
            app.ensure_namespace(md["namespace"])
            key = (md["namespace"], md["name"])
        else:
            md.pop("namespace", None)
            key = ("", md["name"])
        md.pop("resourceVersion", None)
        decode_fixups(res.kind, obj)
        with app.store.cond:
            old = app.store.get(res.store, key)
            if old is not None:
                md.setdefault("uid", old["metadata"]["uid"])
                md.setdefault("creationTimestamp", old["metadata"].get("creationTimestamp"))
                return app.store.update(res.store, key, obj)
            md.setdefault("creationTimestamp", now_time())
            if res.kind == "Pod":
                obj.setdefault("spec", {}).setdefault("containers", [])
                obj.setdefault("status", {}).setdefault("phase", "Running")
            ttl = app.cfg.event_ttl if res.store == "events" else None
            return app.store.create(res.store, key, obj, ttl=ttl)

    # ------------------------------------------------------ metrics.k8s.io
    def pod_metrics(self, ns, name):
        now = now_time()
        out = []
        for (mns, mname), conts in sorted(self.metrics.items()):
            if ns and mns != ns or name and mname != name:
                continue
            pod = self.store.get("pods", (mns, mname))
            labels = (pod or {}).get("metadata", {}).get("labels", {})
            out.append({"metadata": {"name": mname, "namespace": mns, "labels": labels,
                                     "creationTimestamp": now},
                        "timestamp": now, "window": "15s", "containers": conts})
        return out


def random_token(n=32):
    return "".join(random.choice(string.ascii_letters + string.digits) for _ in range(n))
