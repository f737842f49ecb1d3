# SPDX-License-Identifier: Apache-2.0
"""Server-side printing (meta.k8s.io/v1 Table), which kubectl asks for with
'Accept: application/json;as=Table;v=v1;g=meta.k8s.io'.  Columns follow
k/k pkg/printers/internalversion/printers.go for pods and events; other kinds
get short tables.  Rows carry a PartialObjectMetadata (includeObject=Metadata,
the default) or the full object (includeObject=Object)."""
import datetime

from .validation import parse_time, DecodeError


def human_duration(secs):
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    s = int(secs)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return "%ds" % s
    minutes = s // 60
    if minutes < 10:
        r = s % 60
        return "%dm" % minutes if r == 0 else "%dm%ds" % (minutes, r)
    if minutes < 180:
        return "%dm" % minutes
    hours = s // 3600
    if hours < 8:
        m = minutes % 60
        return "%dh" % hours if m == 0 else "%dh%dm" % (hours, m)
    if hours < 48:
        return "%dh" % hours
    if hours < 24 * 8:
        h = hours % 24
        return "%dd" % (hours // 24) if h == 0 else "%dd%dh" % (hours // 24, h)
    if hours < 24 * 365 * 2:
        return "%dd" % (hours // 24)
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return "%dy" % (hours // 24 // 365) if dy == 0 else "%dy%dd" % (hours // 24 // 365, dy)
    return "%dy" % (hours // 24 // 365)


def since(ts, micro=False):
    if not ts:
        return "<unknown>"
    try:
        t = parse_time(ts, micro)
    except DecodeError:
        try:
            t = parse_time(ts, not micro)
        except DecodeError:
            return "<unknown>"
    return human_duration((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds())


def _col(name, desc, priority=0, fmt=""):
    return {"name": name, "type": "string", "format": fmt, "description": desc,
            "priority": priority}


POD_COLS = [_col("Name", "Name must be unique within a namespace.", 0, "name"),
            _col("Ready", "The aggregate readiness state of this pod for accepting traffic."),
            _col("Status", "The aggregate status of the containers in this pod."),
            _col("Restarts", "The number of times the containers in this pod have been "
                 "restarted and when the last container in this pod has restarted."),
            _col("Age", "CreationTimestamp is a timestamp representing the server time when "
                 "this object was created."),
            _col("IP", "IP address allocated to the pod. Routable at least within the "
                 "cluster. Empty if not yet allocated.", 1),
            _col("Node", "NodeName is a request to schedule this pod onto a specific node.", 1),
            _col("Nominated Node", "nominatedNodeName is set only when this pod preempts "
                 "other pods on the node.", 1),
            _col("Readiness Gates", "If specified, all readiness gates will be evaluated for "
                 "pod readiness.", 1)]

EVENT_COLS = [_col("Last Seen", "Time when last occurrence was observed."),
              _col("Type", "Type of this event (Normal, Warning)."),
              _col("Reason", "This should be a short, machine understandable string."),
              _col("Object", "The object that this event is about."),
              _col("Subobject", "Field path of the involved object.", 1),
              _col("Source", "The component reporting this event.", 1),
              _col("Message", "A human-readable description of the status of this operation."),
              _col("First Seen", "The time at which the event was first recorded.", 1),
              _col("Count", "The number of times this event has occurred.", 1),
              _col("Name", "Name must be unique within a namespace.", 1, "name")]


def _pod_cells(p):
    md, spec, st = p.get("metadata", {}), p.get("spec", {}), p.get("status", {})
    statuses = st.get("containerStatuses") or []
    total = len(spec.get("containers") or []) or len(statuses)
    ready = sum(1 for c in statuses if c.get("ready"))
    reason = st.get("reason") or st.get("phase") or "Unknown"
    restarts, last_restart, running = 0, None, False
    for c in reversed(statuses):
        restarts += int(c.get("restartCount") or 0)
        lt = ((c.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
        if lt and (last_restart is None or lt > last_restart):
            last_restart = lt
        state = c.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state:
            t = state["terminated"] or {}
            if t.get("reason"):
                reason = t["reason"]
            elif t.get("signal"):
                reason = "Signal:%d" % t["signal"]
            else:
                reason = "ExitCode:%d" % int(t.get("exitCode") or 0)
        elif "running" in state and c.get("ready"):
            running = True
    if reason == "Completed" and running:
        reason = "Running"
    if md.get("deletionTimestamp"):
        reason = "Terminating"
    rs = str(restarts)
    if restarts and last_restart:
        rs = "%d (%s ago)" % (restarts, since(last_restart))
    ips = st.get("podIP") or "<none>"
    return [md.get("name", ""), "%d/%d" % (ready, total), reason, rs,
            since(md.get("creationTimestamp")), ips, spec.get("nodeName") or "<none>",
            st.get("nominatedNodeName") or "<none>", "<none>"]


def _event_cells(e):
    inv = e.get("involvedObject") or e.get("regarding") or {}
    series = e.get("series")
    first = e.get("firstTimestamp") or e.get("deprecatedFirstTimestamp")
    first_s = since(first) if first else since(e.get("eventTime"), True)
    if series and series.get("lastObservedTime"):
        last_s = since(series["lastObservedTime"], True)
    else:
        last = e.get("lastTimestamp") or e.get("deprecatedLastTimestamp")
        last_s = since(last) if last else since(e.get("eventTime"), True)
    count = (series or {}).get("count") or e.get("count") or e.get("deprecatedCount") or 1
    src = e.get("source") or e.get("deprecatedSource") or {}
    comp = src.get("component") or e.get("reportingComponent") or e.get("reportingController") or ""
    host = src.get("host") or e.get("reportingInstance") or ""
    source = comp + (", " + host if host else "")
    return [last_s, e.get("type", ""), e.get("reason", ""),
            "%s/%s" % ((inv.get("kind") or "").lower(), inv.get("name", "")),
            inv.get("fieldPath", ""), source, e.get("message") or e.get("note") or "",
            first_s, str(count), e.get("metadata", {}).get("name", "")]


def _generic(kind):
    if kind == "Lease":
        cols = [_col("Name", "Name must be unique within a namespace.", 0, "name"),
                _col("Holder", "The holder of the lease."), _col("Age", "")]
        return cols, lambda o: [o["metadata"].get("name"),
                                (o.get("spec") or {}).get("holderIdentity") or "",
                                since(o["metadata"].get("creationTimestamp"))]
    if kind == "Namespace":
        cols = [_col("Name", "", 0, "name"), _col("Status", ""), _col("Age", "")]
        return cols, lambda o: [o["metadata"].get("name"),
                                (o.get("status") or {}).get("phase") or "Active",
                                since(o["metadata"].get("creationTimestamp"))]
    if kind == "Node":
        cols = [_col("Name", "", 0, "name"), _col("Status", ""), _col("Roles", ""),
                _col("Age", ""), _col("Version", "")]
        return cols, lambda o: [o["metadata"].get("name"), "Ready", "<none>",
                                since(o["metadata"].get("creationTimestamp")),
                                ((o.get("status") or {}).get("nodeInfo") or {})
                                .get("kubeletVersion", "")]
    cols = [_col("Name", "", 0, "name"), _col("Age", "")]
    return cols, lambda o: [o["metadata"].get("name"),
                            since(o["metadata"].get("creationTimestamp"))]


def columns_for(kind):
    if kind == "Pod":
        return POD_COLS, _pod_cells
    if kind == "Event":
        return EVENT_COLS, _event_cells
    return _generic(kind)


def row(obj, cells_fn, include):
    r = {"cells": cells_fn(obj)}
    if include == "Object":
        r["object"] = obj
    elif include != "None":
        r["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                       "metadata": obj.get("metadata", {})}
    return r


def table(kind, objs, meta, include="Metadata", headers=True):
    cols, fn = columns_for(kind)
    t = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta}
    t["columnDefinitions"] = cols if headers else None
    t["rows"] = [row(o, fn, include) for o in objs]
    return t


def wants_table(accept):
    """True if the Accept header's first usable entry is a meta.k8s.io Table."""
    if not accept:
        return False
    for part in accept.split(","):
        p = part.strip().replace(" ", "")
        if "as=Table" in p and "g=meta.k8s.io" in p and ("v=v1;" in p + ";"):
            return True
        if p.startswith("application/json") and "as=" not in p:
            return False
    return False
