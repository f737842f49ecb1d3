#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""driver.py: the pod life of leakwatch's soak (issue 5 point 6).

The fleet simulator (bench/fleet/fleet.go) listens on a pool of pod IPs; this
driver keeps a changing subset of them registered as Pods in the test API
server and, on a fixed schedule with seeded randomness:

  churn    delete a pod and create a new one (new name, new UID) on a free
           IP, half of the time the IP just freed (a new pod reusing an old
           pod's IP), with a freshly chosen trace started from its beginning;
  restart  a container restart: the fleet pod's trace starts over, the Pod's
           restartCount + 1, new containerID, lastState.terminated reason
           Error (exit 2);
  kill     an OOM kill of a leaking pod near the end of its trace (the leak
           grew to its limit): as a restart, with reason OOMKilled (137);
  optout   leakwatch.io/scrape "false" on a pod, and back to "true" on the
           next optout tick;
  dropwatch  every open watch ended by the server (the controller re-lists
           or resumes).

Every action is logged (one JSON line) and counted; SIGTERM/SIGINT stops it
and prints the counts. Standard library only.
"""
import argparse
import json
import os
import random
import signal
import sys
import time
import urllib.error

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fleet"))
from fleetctl import http, pod_object  # noqa: E402

stop = False


def on_signal(*_):
    global stop
    stop = True


class Soak:
    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        self.fleet = "http://" + a.fleet
        self.api = a.api
        self.ca = a.ca
        self.ns = "soak"
        self.pool = http("GET", self.fleet + "/pods")  # every IP the fleet serves
        self.traces = http("GET", self.fleet + "/traces")
        self.live = {}  # ip -> {"name", "restarts", "p"}
        self.seq = 0
        self.counts = {}
        self.opted_out = None
        self.log = open(a.log, "a", buffering=1)

    def note(self, action, **kw):
        self.counts[action] = self.counts.get(action, 0) + 1
        kw.update(t=round(time.time(), 3), action=action)
        self.log.write(json.dumps(kw, sort_keys=True) + "\n")

    def fleet_pod(self, ip):
        for p in http("GET", self.fleet + "/pods"):
            if p["ip"] == ip:
                return p
        raise KeyError(ip)

    def create(self, ip, trace=None):
        self.seq += 1
        if trace is not None:
            http("POST", self.fleet + "/set?ip=%s&trace=%s&offset=0" % (ip, trace))
        p = dict(self.fleet_pod(ip), name="soak-%05d" % self.seq, namespace=self.ns)
        http("POST", self.api + "/_test/pods", pod_object(p), ca=self.ca)
        self.live[ip] = {"name": p["name"], "restarts": 0, "p": p}
        return p

    def delete(self, ip):
        st = self.live.pop(ip)
        try:
            http("DELETE", self.api + "/_test/pods/%s/%s" % (self.ns, st["name"]), ca=self.ca)
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise
        if self.opted_out == ip:
            self.opted_out = None
        return st

    def setup(self):
        ips = [p["ip"] for p in self.pool]
        for ip in ips[:self.a.live]:
            self.create(ip)
        self.note("setup", pods=len(self.live), pool=len(ips))

    def churn(self):
        ip = self.rng.choice(sorted(self.live))
        old = self.delete(ip)
        free = [p["ip"] for p in self.pool if p["ip"] not in self.live]
        new_ip = ip if self.rng.random() < 0.5 else self.rng.choice(free)
        tr = self.rng.choice(self.traces)["name"]
        p = self.create(new_ip, tr)
        self.note("churn", deleted=old["name"], created=p["name"], ip=new_ip,
                  reused_ip=new_ip == ip, trace=tr)

    def restart(self, ip, oom):
        st = self.live[ip]
        http("POST", self.fleet + "/reset?ip=%s" % ip)
        old_id = "containerd://%s-c%d" % (st["name"], st["restarts"])
        st["restarts"] += 1
        new_id = "containerd://%s-c%d" % (st["name"], st["restarts"])
        reason, code = ("OOMKilled", 137) if oom else ("Error", 2)
        status = pod_object(dict(st["p"], name=st["name"]), restart_count=st["restarts"],
                            container_id=new_id,
                            last_state={"terminated": {"exitCode": code, "reason": reason,
                                                       "containerID": old_id,
                                                       "startedAt": "2026-11-26T20:00:00Z",
                                                       "finishedAt": time.strftime(
                                                           "%Y-%m-%dT%H:%M:%SZ", time.gmtime())}})["status"]
        http("PATCH", self.api + "/_test/pods/%s/%s/status" % (self.ns, st["name"]), status, ca=self.ca)
        self.note("kill" if oom else "restart", pod=st["name"], ip=ip, restarts=st["restarts"],
                  trace=st["p"]["trace"])

    def kill(self):
        pods = {p["ip"]: p for p in http("GET", self.fleet + "/pods")}
        leaking = [ip for ip in sorted(self.live) if pods[ip]["leak"]]
        if not leaking:
            return self.note("kill-skipped")
        # the most advanced leak: it is the one that would hit its limit
        ip = max(leaking, key=lambda i: pods[i]["step"] / max(1, pods[i]["steps"]))
        self.restart(ip, oom=True)

    def optout(self):
        if self.opted_out is not None and self.opted_out in self.live:
            ip, val = self.opted_out, "true"
            self.opted_out = None
        else:
            ip, val = self.rng.choice(sorted(self.live)), "false"
            self.opted_out = ip
        name = self.live[ip]["name"]
        http("PATCH", self.api + "/_test/pods/%s/%s" % (self.ns, name),
             {"metadata": {"annotations": {"leakwatch.io/scrape": val}}}, ca=self.ca)
        self.note("optout" if val == "false" else "optin", pod=name)

    def dropwatch(self):
        http("POST", self.api + "/_test/drop-watches", {"abrupt": self.rng.random() < 0.5}, ca=self.ca)
        self.note("dropwatch")

    def run(self):
        a = self.a
        sched = [(a.churn_every, self.churn), (a.restart_every, lambda: self.restart(
                     self.rng.choice(sorted(self.live)), oom=False)),
                 (a.kill_every, self.kill), (a.optout_every, self.optout),
                 (a.dropwatch_every, self.dropwatch)]
        t0 = time.time()
        nxt = [t0 + e * (0.5 + self.rng.random()) if e > 0 else float("inf") for e, _ in sched]
        end = t0 + a.duration if a.duration > 0 else float("inf")
        while not stop and time.time() < end:
            i = min(range(len(sched)), key=lambda k: nxt[k])
            delay = nxt[i] - time.time()
            if delay > 0:
                time.sleep(min(delay, 1.0))
                continue
            try:
                sched[i][1]()
            except (OSError, ValueError, KeyError, urllib.error.URLError) as e:
                self.note("error", what=sched[i][1].__name__ if hasattr(sched[i][1], "__name__")
                          else "restart", err=str(e))
            nxt[i] += sched[i][0]
        self.note("done", counts=dict(self.counts), live=len(self.live))
        print(json.dumps(self.counts, sort_keys=True))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fleet", required=True)
    ap.add_argument("--api", required=True)
    ap.add_argument("--ca")
    ap.add_argument("--live", type=int, default=200, help="pods registered at any time")
    ap.add_argument("--duration", type=float, default=0, help="seconds (0: until signalled)")
    ap.add_argument("--churn-every", type=float, default=10)
    ap.add_argument("--restart-every", type=float, default=45)
    ap.add_argument("--kill-every", type=float, default=60)
    ap.add_argument("--optout-every", type=float, default=120)
    ap.add_argument("--dropwatch-every", type=float, default=600)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--log", required=True)
    ap.add_argument("--setup-only", action="store_true")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    s = Soak(a)
    s.setup()
    if not a.setup_only:
        s.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
