#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# discovery.py: a discovery-only Kubernetes API stub for
# tests/cli/test_deploy_helm.sh, so that the real kubectl can parse and
# resource-map the chart's manifests with `apply --dry-run=client` (kubectl
# needs discovery even for client-side dry runs). It serves /version and the
# legacy discovery documents for the kinds the chart creates; every object
# GET is 404 NotFound, so each object is "created (dry run)". Nothing is
# stored. Listens on 127.0.0.1 only; Python standard library only.
import argparse
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# group/version -> [(plural, Kind, namespaced)]
RESOURCES = {
    "v1": [("namespaces", "Namespace", False), ("serviceaccounts", "ServiceAccount", True),
           ("services", "Service", True), ("pods", "Pod", True), ("events", "Event", True),
           ("nodes", "Node", False)],
    "apps/v1": [("deployments", "Deployment", True), ("daemonsets", "DaemonSet", True)],
    "rbac.authorization.k8s.io/v1": [
        ("clusterroles", "ClusterRole", False), ("clusterrolebindings", "ClusterRoleBinding", False),
        ("roles", "Role", True), ("rolebindings", "RoleBinding", True)],
    "coordination.k8s.io/v1": [("leases", "Lease", True)],
    "events.k8s.io/v1": [("events", "Event", True)],
    "monitoring.coreos.com/v1": [("servicemonitors", "ServiceMonitor", True)],
}
VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


def resource_list(gv):
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": [{"name": p, "singularName": k.lower(), "namespaced": ns, "kind": k,
                           "verbs": VERBS} for p, k, ns in RESOURCES[gv]]}


def group(name):
    vs = [gv for gv in RESOURCES if gv.startswith(name + "/")]
    versions = [{"groupVersion": gv, "version": gv.split("/")[1]} for gv in vs]
    return {"name": name, "versions": versions, "preferredVersion": versions[0]}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/version":
            return self.send_json(200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0"})
        if path == "/api":
            return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"]})
        if path == "/api/v1":
            return self.send_json(200, resource_list("v1"))
        if path == "/apis":
            names = sorted({gv.split("/")[0] for gv in RESOURCES if "/" in gv})
            return self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1",
                                        "groups": [group(n) for n in names]})
        parts = path.split("/")
        if len(parts) == 3 and parts[1] == "apis":
            names = {gv.split("/")[0] for gv in RESOURCES if "/" in gv}
            if parts[2] in names:
                return self.send_json(200, dict(group(parts[2]), kind="APIGroup", apiVersion="v1"))
        if len(parts) == 4 and parts[1] == "apis" and "/".join(parts[2:]) in RESOURCES:
            return self.send_json(200, resource_list("/".join(parts[2:])))
        return self.send_json(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                    "reason": "NotFound", "code": 404,
                                    "message": "the discovery stub stores no objects"})

    def do_POST(self):
        self.send_json(405, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                             "reason": "MethodNotAllowed", "code": 405,
                             "message": "the discovery stub is read-only"})

    do_PUT = do_PATCH = do_DELETE = do_POST


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    a = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.replace(tmp, a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
