# SPDX-License-Identifier: Apache-2.0
"""The resources this server serves, how their URLs map to storage, which
field selectors each accepts, and the events.k8s.io/v1 <-> core/v1 Event
conversion (both APIs share one store, as in kube-apiserver: an Event created
through events.k8s.io is visible through core/v1 and kubectl describe)."""
import copy


def _get(obj, path):
    cur = obj
    for p in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(p)
    return cur


def _s(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _pod_field(obj, f):
    if f == "spec.host":
        f = "spec.nodeName"
    if f == "status.podIPs":
        ips = (obj.get("status") or {}).get("podIPs") or []
        return ips[0].get("ip", "") if ips else ""
    if f == "spec.hostNetwork":
        return "true" if _get(obj, f) else "false"
    return _s(_get(obj, f))


POD_FIELDS = ["metadata.name", "metadata.namespace", "spec.nodeName", "spec.restartPolicy",
              "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
              "status.podIP", "status.podIPs", "status.nominatedNodeName", "spec.host"]
# events: conversion.go AddFieldLabelConversionsForEvent (internal = core/v1 names)
EVENT_FIELDS = ["involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                "involvedObject.uid", "involvedObject.apiVersion",
                "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
                "reportingComponent", "source", "type", "metadata.namespace", "metadata.name"]


def _event_field(obj, f):
    if f == "source":
        return _s((obj.get("source") or {}).get("component"))
    return _s(_get(obj, f))


class Resource:
    """One served resource (a group/version/plural).  `store` names the
    storage bucket; events.k8s.io/v1 events share the core 'events' bucket."""

    def __init__(self, group, version, plural, singular, kind, namespaced, store=None,
                 short=(), fields=("metadata.name", "metadata.namespace"), getfield=None,
                 create_on_update=False, unconditional_update=True, categories=(),
                 subresources=(), verbs=None):
        self.group, self.version, self.plural, self.singular = group, version, plural, singular
        self.kind, self.namespaced = kind, namespaced
        self.store = store or plural
        self.short = list(short)
        self.fields = list(fields)
        self.getfield = getfield or (lambda o, f: _s(_get(o, f)))
        self.create_on_update = create_on_update
        self.unconditional_update = unconditional_update
        self.categories = list(categories)
        self.subresources = list(subresources)
        self.verbs = verbs or ["create", "delete", "get", "list", "patch", "update", "watch"]

    @property
    def api_version(self):
        return self.version if not self.group else "%s/%s" % (self.group, self.version)

    # conversion between the stored (internal) form and this view
    def to_view(self, obj):
        if obj is None:
            return None
        o = copy.deepcopy(obj)
        if self.store == "events":
            # Time/MicroTime fields are structs without omitempty in Go: a zero value is
            # written as null, so clients see e.g. "firstTimestamp": null on new-style events
            for k in ("eventTime", "firstTimestamp", "lastTimestamp"):
                o.setdefault(k, None)
            o.setdefault("involvedObject", {})
            o.setdefault("source", {})
            o.setdefault("reportingComponent", "")
            o.setdefault("reportingInstance", "")
        if self.group == "events.k8s.io":
            o = core_event_to_events_v1(o)
        o["apiVersion"] = self.api_version
        o["kind"] = self.kind
        # order like the real server: kind, apiVersion first
        return {"kind": o.pop("kind"), "apiVersion": o.pop("apiVersion"), **o}

    def from_view(self, obj):
        o = copy.deepcopy(obj)
        if self.group == "events.k8s.io":
            o = events_v1_to_core_event(o)
        if self.store == "events":  # the nulls/empties to_view adds are not data
            for k in [k for k, v in o.items() if v is None or v == {} or v == ""]:
                del o[k]
        o["apiVersion"] = "v1" if self.store == "events" else self.api_version
        o["kind"] = self.kind
        return o

    def field_value(self, stored_obj, f):
        if self.group == "events.k8s.io":
            return self.getfield(stored_obj, _EV_FIELD_ALIASES.get(f, f))
        return self.getfield(stored_obj, f)

    def supports_field(self, f):
        if self.group == "events.k8s.io" and f in _EV_FIELD_ALIASES:
            return True
        return f in self.fields


_EV_FIELD_ALIASES = {"regarding.kind": "involvedObject.kind",
                     "regarding.namespace": "involvedObject.namespace",
                     "regarding.name": "involvedObject.name",
                     "regarding.uid": "involvedObject.uid",
                     "regarding.apiVersion": "involvedObject.apiVersion",
                     "regarding.resourceVersion": "involvedObject.resourceVersion",
                     "regarding.fieldPath": "involvedObject.fieldPath",
                     "reportingController": "reportingComponent",
                     "deprecatedSource": "source"}

# events.k8s.io/v1 name -> core/v1 name (k8s.io/kubernetes pkg/apis/events/v1 conversion)
_EV_RENAMES = [("regarding", "involvedObject"), ("note", "message"),
               ("reportingController", "reportingComponent"),
               ("deprecatedSource", "source"), ("deprecatedFirstTimestamp", "firstTimestamp"),
               ("deprecatedLastTimestamp", "lastTimestamp"), ("deprecatedCount", "count")]


def events_v1_to_core_event(o):
    for new, old in _EV_RENAMES:
        o.pop(old, None)  # a core-only field sent to events.k8s.io is unknown: dropped
        if new in o:
            o[old] = o.pop(new)
    return o


def core_event_to_events_v1(o):
    for new, old in _EV_RENAMES:
        o.pop(new, None)
        if old in o:
            o[new] = o.pop(old)
    for k in ("deprecatedCount", "deprecatedSource", "reportingController",
              "reportingInstance", "note"):  # omitempty fields of events/v1
        if o.get(k) in (0, None, {}, ""):
            o.pop(k, None)
    return o


ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def build_registry():
    pods = Resource("", "v1", "pods", "pod", "Pod", True, short=["po"], fields=POD_FIELDS,
                    getfield=_pod_field, unconditional_update=False, categories=["all"],
                    subresources=["status"])
    nodes = Resource("", "v1", "nodes", "node", "Node", False, short=["no"],
                     fields=["metadata.name", "spec.unschedulable"], unconditional_update=False)
    namespaces = Resource("", "v1", "namespaces", "namespace", "Namespace", False, short=["ns"],
                          fields=["metadata.name", "status.phase"], unconditional_update=False)
    core_events = Resource("", "v1", "events", "event", "Event", True, store="events",
                           short=["ev"], fields=EVENT_FIELDS, getfield=_event_field,
                           create_on_update=True)
    ev_events = Resource("events.k8s.io", "v1", "events", "event", "Event", True, store="events",
                         short=["ev"], fields=EVENT_FIELDS, getfield=_event_field,
                         create_on_update=True)
    leases = Resource("coordination.k8s.io", "v1", "leases", "lease", "Lease", True,
                      create_on_update=True)
    return [pods, nodes, namespaces, core_events, ev_events, leases]


def find(registry, group, version, plural):
    for r in registry:
        if r.group == group and r.version == version and r.plural == plural:
            return r
    return None
