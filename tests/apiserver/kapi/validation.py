# SPDX-License-Identifier: Apache-2.0
"""Decoding checks and validation rules, after k/k
pkg/apis/core/validation/events.go (Event create/update, both API versions),
apimachinery objectmeta validation (names, labels, annotations) and the JSON
decoding of Time/MicroTime fields (a MicroTime must have exactly 6 fraction
digits, as Go's time.Parse with RFC3339Micro requires; times are re-written
in UTC in the canonical form, as the real server does)."""
import datetime
import re

from .selectors import is_dns1123_subdomain, is_qualified_name, _LABEL_VALUE_RE
from .status import FieldError, bad_request, invalid

REPORTING_INSTANCE_LIMIT = 128
ACTION_LIMIT = 128
REASON_LIMIT = 128
NOTE_LIMIT = 1024
TOTAL_ANNOTATION_LIMIT = 256 * 1024

RFC3339_MICRO_LAYOUT = "2006-01-02T15:04:05.000000Z07:00"
RFC3339_LAYOUT = "2006-01-02T15:04:05Z07:00"
_TIME_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


class DecodeError(Exception):
    pass


def parse_time(s, micro):
    """-> aware datetime, or raise DecodeError with Go's wording."""
    layout = RFC3339_MICRO_LAYOUT if micro else RFC3339_LAYOUT
    if not isinstance(s, str):
        raise DecodeError("parsing time %s: expected a string" % (s,))
    m = _TIME_RE.match(s)
    if not m:
        raise DecodeError('parsing time "%s" as "%s": cannot parse "%s" as "%s"'
                          % (s, layout, s, layout))
    frac = m.group(7)
    if micro and (frac is None or len(frac) != 7):
        rest = s[19:]
        raise DecodeError('parsing time "%s" as "%s": cannot parse "%s" as ".000000"'
                          % (s, layout, rest))
    y, mo, d, h, mi, se = (int(m.group(i)) for i in range(1, 7))
    us = 0
    if frac:
        us = int((frac[1:] + "000000")[:6])
    tz = m.group(8)
    if tz == "Z":
        off = datetime.timezone.utc
    else:
        sign = 1 if tz[0] == "+" else -1
        off = datetime.timezone(sign * datetime.timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])))
    try:
        return datetime.datetime(y, mo, d, h, mi, se, us, tzinfo=off)
    except ValueError as e:
        raise DecodeError('parsing time "%s": %s' % (s, e))


def fmt_time(dt, micro):
    dt = dt.astimezone(datetime.timezone.utc)
    if micro:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%06dZ" % dt.microsecond
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def now_time(micro=False):
    return fmt_time(datetime.datetime.now(datetime.timezone.utc), micro)


# (path, micro?) of time fields per stored kind; '*' walks a list
TIME_FIELDS = {
    "Event": [("eventTime", True), ("series.lastObservedTime", True),
              ("firstTimestamp", False), ("lastTimestamp", False)],
    "Lease": [("spec.acquireTime", True), ("spec.renewTime", True)],
    "Pod": [("status.startTime", False)] + [
        ("status.%s.*.%s.%s.%s" % (lst, st, s2, f), False)
        for lst in ("containerStatuses", "initContainerStatuses")
        for st in ("state", "lastState") for s2 in ("running", "terminated")
        for f in ("startedAt", "finishedAt")],
}
# (path, type) of typed scalar fields checked at decode time
INT_FIELDS = {
    "Event": ["count", "series.count"],
    "Lease": ["spec.leaseDurationSeconds", "spec.leaseTransitions"],
    "Pod": ["status.containerStatuses.*.restartCount"],
}


# fields that must be JSON objects / strings when present (else 400 like the Go decoder)
OBJECT_FIELDS = {
    "Event": ["involvedObject", "series", "source", "related", "regarding",
              "deprecatedSource"],
    "Pod": ["spec", "status", "spec.resources", "status.containerStatuses.*.state",
            "status.containerStatuses.*.lastState"],
    "Lease": ["spec"],
}
STRING_FIELDS = {
    "Event": ["reason", "message", "note", "type", "action", "reportingComponent",
              "reportingController", "reportingInstance", "involvedObject.name",
              "involvedObject.namespace", "involvedObject.uid", "involvedObject.kind",
              "regarding.name", "regarding.namespace", "regarding.uid", "regarding.kind"],
    "Pod": ["spec.nodeName", "status.phase", "status.podIP"],
    "Lease": ["spec.holderIdentity"],
}
LIST_FIELDS = {"Pod": ["spec.containers", "status.containerStatuses"]}
META_STRINGS = ["metadata.name", "metadata.namespace", "metadata.generateName",
                "metadata.resourceVersion", "metadata.uid"]


def _visit(obj, parts, fn):
    if not parts:
        return
    if not isinstance(obj, dict):
        return
    head = parts[0]
    if len(parts) == 1:
        if head in obj:
            fn(obj, head)
        return
    nxt = obj.get(head)
    if len(parts) >= 2 and parts[1] == "*":
        if isinstance(nxt, list):
            for el in nxt:
                _visit(el, parts[2:], fn)
        return
    _visit(nxt, parts[1:], fn)


def decode_fixups(kind, obj, view_kind=None):
    """Normalise time fields and check scalar types of a decoded object;
    raises 400 BadRequest like the real decoder ('X in version "v" cannot be
    handled as a X: ...')."""
    vk = view_kind or kind
    ver = str(obj.get("apiVersion") or "v1").split("/")[-1]

    def fail(msg):
        raise bad_request('%s in version "%s" cannot be handled as a %s: %s' % (vk, ver, vk, msg))

    if not isinstance(obj.get("metadata", {}), dict):
        fail("json: cannot unmarshal into Go struct field %s.metadata of type v1.ObjectMeta" % vk)
    for path, micro in TIME_FIELDS.get(kind, []) + [("metadata.creationTimestamp", False)]:
        def fix(parent, key, micro=micro):
            v = parent[key]
            if v is None:
                return
            try:
                parent[key] = fmt_time(parse_time(v, micro), micro)
            except DecodeError as e:
                fail(str(e))
        _visit(obj, path.split("."), fix)
    def typed(paths, types, gotype):
        for path in paths:
            def chk(parent, key, path=path):
                v = parent[key]
                if v is not None and not isinstance(v, types):
                    fail("json: cannot unmarshal %s into Go struct field %s of type %s"
                         % (_jstype(v), path, gotype))
            _visit(obj, path.split("."), chk)
    typed(OBJECT_FIELDS.get(kind, []), dict, "struct")
    typed(STRING_FIELDS.get(kind, []) + META_STRINGS, str, "string")
    typed(LIST_FIELDS.get(kind, []), list, "slice")
    if kind == "Pod":
        for part, lst in (("spec", "containers"), ("status", "containerStatuses")):
            for el in (obj.get(part) or {}).get(lst) or []:
                if not isinstance(el, dict):
                    fail("json: cannot unmarshal %s into Go struct field %s.%s of type struct"
                         % (_jstype(el), part, lst))
    for path in INT_FIELDS.get(kind, []):
        def chk(parent, key, path=path):
            v = parent[key]
            if v is None:
                return
            if isinstance(v, float) and v.is_integer():
                v = parent[key] = int(v)
            if isinstance(v, bool) or not isinstance(v, int) or not -2**31 <= v < 2**31:
                fail("json: cannot unmarshal %s into Go struct field %s of type int32"
                     % (_jstype(v) if not isinstance(v, int) or isinstance(v, bool)
                        else "number %d" % v, path))
        _visit(obj, path.split("."), chk)
    for key in ("labels", "annotations"):
        m = obj.get("metadata", {}).get(key)
        if m is not None and (not isinstance(m, dict) or
                              any(not isinstance(v, str) for v in m.values())):
            fail("json: cannot unmarshal into Go struct field ObjectMeta.metadata.%s of type "
                 "map[string]string" % key)


def _jstype(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "null"


# ------------------------------------------------------------ object meta

def validate_meta(obj, namespaced, name_check="subdomain", creating=True):
    """Field errors for metadata (ObjectMeta): name, labels, annotations."""
    errs = []
    md = obj.get("metadata") or {}
    name = md.get("name") or ""
    if not name:
        errs.append(FieldError("Required", "metadata.name", None,
                               "name or generateName is required"))
    elif name_check == "subdomain":
        for m in is_dns1123_subdomain(name):
            errs.append(FieldError("Invalid", "metadata.name", name, m))
    elif name_check == "path":
        if name in (".", "..") or "/" in name or "%" in name:
            errs.append(FieldError("Invalid", "metadata.name", name,
                                   "may not contain '/' or '%', and may not be '.' or '..'"))
    for k, v in (md.get("labels") or {}).items():
        for m in is_qualified_name(k):
            errs.append(FieldError("Invalid", "metadata.labels", k, m))
        if len(v) > 63 or not _LABEL_VALUE_RE.match(v):
            errs.append(FieldError("Invalid", "metadata.labels", v,
                                   "a valid label must be an empty string or consist of "
                                   "alphanumeric characters, '-', '_' or '.', and must start and "
                                   "end with an alphanumeric character"))
    total = 0
    for k, v in (md.get("annotations") or {}).items():
        for m in is_qualified_name(k.lower()):
            errs.append(FieldError("Invalid", "metadata.annotations", k, m))
        total += len(k.encode()) + len(v.encode())
    if total > TOTAL_ANNOTATION_LIMIT:
        errs.append(FieldError("TooLong", "metadata.annotations", None,
                               "may not be more than %d bytes" % TOTAL_ANNOTATION_LIMIT))
    return errs


def raise_if(errs, kind, group, name):
    if errs:
        raise invalid(kind, group, name, errs)


# ------------------------------------------------------------ events

def _blen(s):
    return len((s or "").encode("utf-8"))


def legacy_validate_event(ev, core_v1, strict_namespace=True):
    """legacyValidateEvent: always applied.  ev is in stored (core) form."""
    errs = []
    ns = (ev.get("metadata") or {}).get("namespace") or ""
    inv = ev.get("involvedObject") or {}
    inv_ns = inv.get("namespace") or ""
    rc_field = "reportingComponent" if core_v1 else "reportingController"
    # Namespace agreement.  The shared doc (§4, "Always enforced") requires
    # event namespace == involvedObject.namespace whenever the latter is set;
    # k/k events.go checks that only for events without eventTime (new-style
    # events need only a non-empty involvedObject.namespace, or the default /
    # kube-system namespace).  strict_namespace=True (the default) follows the
    # doc; POST /_test/config {"strictEventNamespace": false} follows k/k.
    if inv_ns:
        if ns != inv_ns and (strict_namespace or not ev.get("eventTime")):
            errs.append(FieldError("Invalid", "involvedObject.namespace", inv_ns,
                                   "does not match event.namespace"))
    elif ev.get("eventTime"):
        if ns not in ("default", "kube-system"):
            errs.append(FieldError("Invalid", "involvedObject.namespace", inv_ns,
                                   "does not match event.namespace"))
    elif ns not in ("", "default"):
        errs.append(FieldError("Invalid", "involvedObject.namespace", inv_ns,
                               "does not match event.namespace"))
    if ev.get("eventTime"):
        rc = ev.get("reportingComponent") or ""
        if not rc:
            errs.append(FieldError("Required", rc_field, None, ""))
        for m in is_qualified_name(rc):  # also for "", as ValidateQualifiedName does
            errs.append(FieldError("Invalid", rc_field, rc, m))
        ri = ev.get("reportingInstance") or ""
        if not ri:
            errs.append(FieldError("Required", "reportingInstance", None, ""))
        if _blen(ri) > REPORTING_INSTANCE_LIMIT:
            errs.append(FieldError("Invalid", "reportingInstance", "",
                                   "can have at most %d characters" % REPORTING_INSTANCE_LIMIT))
        act = ev.get("action") or ""
        if not act:
            errs.append(FieldError("Required", "action", None, ""))
        if _blen(act) > ACTION_LIMIT:
            errs.append(FieldError("Invalid", "action", "",
                                   "can have at most %d characters" % ACTION_LIMIT))
        rs = ev.get("reason") or ""
        if not rs:
            errs.append(FieldError("Required", "reason", None, ""))
        if _blen(rs) > REASON_LIMIT:
            errs.append(FieldError("Invalid", "reason", "",
                                   "can have at most %d characters" % REASON_LIMIT))
        if _blen(ev.get("message")) > NOTE_LIMIT:
            errs.append(FieldError("Invalid", "message", "",
                                   "can have at most %d characters" % NOTE_LIMIT))
    for m in is_dns1123_subdomain(ns):
        errs.append(FieldError("Invalid", "namespace", ns, m))
    return errs


def _series_errs(ev):
    errs = []
    s = ev.get("series")
    if s is not None:
        if not isinstance(s.get("count"), int) or s.get("count") < 2:
            errs.append(FieldError("Invalid", "series.count", "", "should be at least 2"))
        if not s.get("lastObservedTime"):
            errs.append(FieldError("Required", "series.lastObservedTime", None, ""))
    return errs


def validate_event_create(ev, core_v1, strict_namespace=True):
    errs = legacy_validate_event(ev, core_v1, strict_namespace)
    if core_v1:
        return errs
    md = ev.get("metadata") or {}
    name = md.get("name") or ""
    if not name:
        errs.append(FieldError("Required", "metadata.name", None,
                               "name or generateName is required"))
    else:
        for m in is_dns1123_subdomain(name):
            errs.append(FieldError("Invalid", "metadata.name", name, m))
    errs += _series_errs(ev)
    if not ev.get("eventTime"):
        errs.append(FieldError("Required", "eventTime", None, ""))
    t = ev.get("type") or ""
    if t not in ("Normal", "Warning"):
        errs.append(FieldError("Invalid", "type", "", "has invalid value: %s" % t))
    for f in ("firstTimestamp", "lastTimestamp"):
        if ev.get(f):
            errs.append(FieldError("Invalid", f, "", "needs to be unset"))
    if ev.get("count"):
        errs.append(FieldError("Invalid", "count", "", "needs to be unset"))
    src = ev.get("source") or {}
    if src.get("component") or src.get("host"):
        errs.append(FieldError("Invalid", "source", "", "needs to be unset"))
    return errs


_IMMUTABLE = ["involvedObject", "reason", "message", "source", "firstTimestamp",
              "lastTimestamp", "count", "type", "eventTime", "action", "related",
              "reportingComponent", "reportingInstance"]


def _empty(v):
    return v in (None, "", 0, {}, [])


def validate_event_update(new, old, core_v1, strict_namespace=True):
    errs = legacy_validate_event(new, core_v1, strict_namespace)
    if core_v1:
        return errs
    if new.get("series") != old.get("series"):
        errs += _series_errs(new)
    for f in _IMMUTABLE:
        a, b = new.get(f), old.get(f)
        if _empty(a) and _empty(b):
            continue
        if a != b:
            val = a if isinstance(a, (str, int)) else ""
            name = "reportingController" if f == "reportingComponent" else f
            errs.append(FieldError("Invalid", name, val, "field is immutable"))
    return errs


# ------------------------------------------------------------ leases

def validate_lease(obj):
    errs = []
    spec = obj.get("spec") or {}
    d = spec.get("leaseDurationSeconds")
    if d is not None and d <= 0:
        errs.append(FieldError("Invalid", "spec.leaseDurationSeconds", d, "must be greater than 0"))
    t = spec.get("leaseTransitions")
    if t is not None and t < 0:
        errs.append(FieldError("Invalid", "spec.leaseTransitions", t,
                               "must be greater than or equal to 0"))
    return errs
