# SPDX-License-Identifier: Apache-2.0
"""Legacy (un-aggregated) discovery documents: /api, /api/v1, /apis,
/apis/<group>, /apis/<group>/<version>, /version.  kubectl asks for the
aggregated apidiscovery.k8s.io/v2 form first and falls back to these when the
response's Content-Type is plain application/json."""

METRICS_GROUP = "metrics.k8s.io"


def version_doc():
    return {"major": "1", "minor": "34", "emulationMajor": "1", "emulationMinor": "34",
            "minCompatibilityMajor": "1", "minCompatibilityMinor": "33",
            "gitVersion": "v1.34.0-leakwatch-test", "gitCommit": "0" * 40,
            "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "go1.24.0", "compiler": "gc", "platform": "linux/amd64"}


def api_versions(server_addr):
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                            "serverAddress": server_addr}]}


def _group(name, version="v1"):
    gv = {"groupVersion": "%s/%s" % (name, version), "version": version}
    return {"name": name, "versions": [gv], "preferredVersion": gv}


def groups(cfg):
    out = []
    if cfg.events_api:
        out.append(_group("events.k8s.io"))
    out.append(_group("coordination.k8s.io"))
    if cfg.metrics_api:
        out.append(_group(METRICS_GROUP, "v1beta1"))
    return out


def group_list(cfg):
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups(cfg)}


def group_doc(cfg, name):
    for g in groups(cfg):
        if g["name"] == name:
            return {"kind": "APIGroup", "apiVersion": "v1", **g}
    return None


def _res(r):
    d = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
         "kind": r.kind, "verbs": r.verbs}
    if r.short:
        d["shortNames"] = r.short
    if r.categories:
        d["categories"] = r.categories
    return d


def resource_list(cfg, registry, group, version):
    if group == METRICS_GROUP and version == "v1beta1" and cfg.metrics_api:
        res = [{"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics",
                "verbs": ["get", "list"]},
               {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics",
                "verbs": ["get", "list"]}]
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": "metrics.k8s.io/v1beta1", "resources": res}
    if group == "events.k8s.io" and not cfg.events_api:
        return None
    res = []
    for r in registry:
        if r.group == group and r.version == version:
            res.append(_res(r))
            for sub in r.subresources:
                res.append({"name": "%s/%s" % (r.plural, sub), "singularName": "",
                            "namespaced": r.namespaced, "kind": r.kind,
                            "verbs": ["get", "patch", "update"]})
    if not res:
        return None
    gv = version if not group else "%s/%s" % (group, version)
    d = {"kind": "APIResourceList", "groupVersion": gv, "resources": res}
    if group:
        d["apiVersion"] = "v1"
    return d
