#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""fleetctl: glue between the fleet simulator (bench/fleet/fleet.go) and the
test API server (tests/apiserver): registers the fleet's pods as Pod objects,
and performs the pod-level actions of the soak (create, delete, restart,
OOM kill) on both sides. Standard library only.

  fleetctl.py register --fleet HOST:PORT --api URL --ca CA [--first 0 --count N]
  fleetctl.py apireqs --api URL --ca CA        # request counters (see below)

The API side uses the control API (/_test/pods, no token), as the tests do.
"""
import argparse
import json
import ssl
import sys
import urllib.request

ANNOTATIONS = {"leakwatch.io/scrape": "true", "leakwatch.io/port-name": "pprof",
               "team": "fleet"}


def http(method, url, body=None, ca=None, timeout=60):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    ctx = ssl.create_default_context(cafile=ca) if url.startswith("https") else None
    with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
        raw = r.read()
    return json.loads(raw) if raw else None


def pod_object(p, restart_count=0, container_id=None, last_state=None, node="node-a"):
    """A Running pod for fleet pod p (a dict from the fleet's /pods)."""
    cid = container_id or "containerd://%s-c%d" % (p["name"], restart_count)
    st = {"name": "app", "ready": True, "restartCount": restart_count, "containerID": cid,
          "image": "fleet/" + p["trace"],
          "state": {"running": {"startedAt": "2026-11-26T20:00:00Z"}}}
    if last_state:
        st["lastState"] = last_state
    return {
        "metadata": {"name": p["name"], "namespace": p.get("namespace", "fleet"),
                     "labels": {"app": "fleet", "trace": p["trace"]},
                     "annotations": dict(ANNOTATIONS)},
        "spec": {"nodeName": node, "containers": [{
            "name": "app", "image": "fleet/" + p["trace"],
            "ports": [{"name": "pprof", "containerPort": p["port"], "protocol": "TCP"}],
            "resources": {"limits": {"memory": str(p["limit_bytes"])},
                          "requests": {"memory": str(p["limit_bytes"] // 2)}}}]},
        "status": {"phase": "Running", "podIP": p["ip"], "podIPs": [{"ip": p["ip"]}],
                   "hostIP": "127.0.0.1", "containerStatuses": [st]},
    }


def register(fleet, api, ca, first=0, count=None, batch=250):
    pods = http("GET", "http://%s/pods" % fleet)
    sel = pods[first:first + count if count else None]
    for i in range(0, len(sel), batch):
        http("POST", api + "/_test/pods", [pod_object(p) for p in sel[i:i + batch]], ca=ca)
    return len(sel)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("register")
    r.add_argument("--fleet", required=True)
    r.add_argument("--api", required=True)
    r.add_argument("--ca")
    r.add_argument("--first", type=int, default=0)
    r.add_argument("--count", type=int)
    c = sub.add_parser("apireqs")
    c.add_argument("--api", required=True)
    c.add_argument("--ca")
    a = ap.parse_args()
    if a.cmd == "register":
        print(register(a.fleet, a.api, a.ca, a.first, a.count))
    elif a.cmd == "apireqs":
        print(json.dumps(http("GET", a.api + "/_test/counters", ca=a.ca)))


if __name__ == "__main__":
    sys.exit(main())
