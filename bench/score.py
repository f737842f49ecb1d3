#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench/score.py: score the traces recorded by bench/run.sh.

For every trace directory (bench/results/raw/<service>/ with meta.json) it runs
`leakwatch analyze DIR --limit <limit> --replay --json` (one verdict per sample
time, each computed only from data up to that time) and scores, against the
real kernel OOM kill recorded in meta.json:

  * leak detected: a "leak" verdict before the kill (leaking services);
  * false alarm: any "leak" verdict or any oom.predicted=true (healthy services);
  * top stack right: the expected substring is in top_stacks[0] (frames,
    leaf, user_frame or created_by) at the first "leak" verdict and at the last
    verdict before the kill;
  * lead time: kill - t of the first oom.predicted=true, also as a fraction of
    the leak's lifetime (start -> kill);
  * kill-time error: for every warning from the first one on (t >= first
    warning, oom.predicted=true, at least MIN_REMAINING s before the kill),
    100 * (predicted - real kill) / (real kill - t), i.e. the error as a
    percentage of the time that really remained; median and max of |error|
    and the share within +-20%.

The baseline is a Prometheus-style predict_linear on the same usage.jsonl
series: ordinary least squares over the samples in the last WINDOW seconds
(or all the history if shorter, at least 2 points), alerting when the fitted
line at t + HORIZON is >= the limit; its predicted kill time is where the line
crosses the limit. It is scored the same way (it has no leak verdict: its
"detection" is its alert). Definitions: docs/evaluation.md.

Python 3 standard library only. Usage:
  python3 bench/score.py [--leakwatch BIN] [--raw DIR] [--out DIR] [NAME ...]
  python3 bench/score.py --self-test   # check the scoring arithmetic
"""
import argparse
import concurrent.futures
import datetime
import hashlib
import json
import os
import platform
import statistics
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HORIZON_LW = 7 * 24 * 3600.0  # leakwatch's forecast horizon (pkg/forecast default)
WINDOW = 600.0  # predict_linear range: [10m]
MIN_REMAINING = 60.0  # kill-time errors are scored only while >= 60 s remained
TARGET_LEAD = 0.5
TARGET_ERR = 20.0

BASELINES = [
    # name, window s, horizon s, min history s
    ("predict_linear[10m] 7d", WINDOW, HORIZON_LW, 0.0),
    ("predict_linear[10m] 7d, 5m history", WINDOW, HORIZON_LW, 300.0),
    ("predict_linear[10m] 1h", WINDOW, 3600.0, 0.0),
    ("predict_linear[10m] 1h, 5m history", WINDOW, 3600.0, 300.0),
]


def find_leakwatch(arg):
    if arg:
        return arg
    if os.environ.get("LEAKWATCH"):
        return os.environ["LEAKWATCH"]
    for c in ("build-bench-an/leakwatch", "build-bench/leakwatch", "build-bench/cmd/leakwatch/leakwatch",
              "build/leakwatch", "build/cmd/leakwatch/leakwatch"):
        p = os.path.join(ROOT, c)
        if os.access(p, os.X_OK):
            return p
    sys.exit("score.py: no leakwatch binary found (use --leakwatch or LEAKWATCH)")


def binary_id(lw):
    """Which leakwatch scored: path, build time and a short content hash."""
    st = os.stat(lw)
    with open(lw, "rb") as f:
        h = hashlib.sha256(f.read()).hexdigest()[:12]
    built = datetime.datetime.fromtimestamp(st.st_mtime, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return {"path": os.path.relpath(lw, ROOT), "built": built, "sha256_12": h}


NO_USAGE = False  # --no-usage: leakwatch sees the profiles only (memory from the Go runtime)


def run_analyze(lw, d, meta):
    src = d
    tmp = None
    if NO_USAGE:
        # the same trace without usage.jsonl: leakwatch falls back to the
        # runtime's MemStats (docs/forecast.md §2); the baseline keeps usage.jsonl
        tmp = tempfile.mkdtemp(prefix="lw-nousage-")
        for name in os.listdir(d):
            if name != "usage.jsonl":
                os.symlink(os.path.abspath(os.path.join(d, name)), os.path.join(tmp, name))
        src = tmp
    cmd = [lw, "analyze", src, "--limit", str(meta["limit_bytes"]), "--replay", "--json", "--quiet"]
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    if p.returncode not in (0, 3, 4):
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), p.returncode, p.stderr.strip()[:300]))
    out = []
    for i, line in enumerate(p.stdout.splitlines()):
        line = line.strip()
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise RuntimeError("%s: line %d of the output is not JSON: %s" % (d, i + 1, e))
    out.sort(key=lambda v: v.get("t") or 0)
    return out, " ".join(cmd)


def oom_at(v):
    o = v.get("oom") or {}
    if o.get("at_unix") is not None:
        return float(o["at_unix"])
    if o.get("at"):
        try:
            return datetime.datetime.strptime(o["at"], "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=datetime.timezone.utc).timestamp()
        except ValueError:
            return None
    if o.get("seconds_to_oom") is not None and v.get("t") is not None:
        return float(v["t"]) + float(o["seconds_to_oom"])
    return None


def stack_text(s):
    parts = list(s.get("frames") or [])
    for k in ("leaf", "user_frame", "created_by"):
        if s.get(k):
            parts.append(s[k])
    return "\n".join(parts)


def stack_label(s):
    if not s:
        return None
    name = s.get("leaf") or (s.get("frames") or ["?"])[0]
    if s.get("user_frame"):
        name += " @ " + s["user_frame"].split(" ")[0]
    elif s.get("created_by"):
        name += " (created by " + s["created_by"].split(" ")[0] + ")"
    return "%s: %s" % (s.get("kind", "?"), name)


# The same wait has a different stack in another Go release. An expected
# substring fixed for one release is also met by its form in the other, each
# given as consecutive frames, innermost first (joined like stack_text). Only
# facts of the Go sources go here:
#  * net/http server, keep-alive connection waiting for its next request: up
#    to Go 1.19 conn.serve calls readRequest at once (it Peeks first only when
#    the server has an idle timeout); since Go 1.20 it always Peeks first
#    (server.go, "Wait for the connection to become readable again"), so an
#    idle connection waits in bufio.(*Reader).Peek called by conn.serve.
GO_FORMS = {
    "net/http.(*conn).readRequest": ["bufio.(*Reader).Peek\nnet/http.(*conn).serve"],
}


def top_right(v, expect):
    ts = v.get("top_stacks") or []
    if not ts:
        return False
    text = stack_text(ts[0])
    return any(e in text for e in [expect] + GO_FORMS.get(expect, []))


def err_stats(warns, kill):
    """warns: list of (t, predicted_kill). Returns the error summary."""
    errs = []
    for t, at in warns:
        rem = kill - t
        if rem < MIN_REMAINING or at is None:
            continue
        errs.append(100.0 * (at - kill) / rem)
    if not errs:
        return {"n": 0, "median_abs_pct": None, "max_abs_pct": None, "within20": None, "median_signed_pct": None}
    a = [abs(e) for e in errs]
    return {"n": len(errs), "median_abs_pct": round(statistics.median(a), 1), "max_abs_pct": round(max(a), 1),
            "within20": round(sum(1 for x in a if x <= TARGET_ERR) / len(a), 3),
            "median_signed_pct": round(statistics.median(errs), 1)}


def score_warnings(kind, start, kill, end, warn_list):
    """warn_list: list of (t, predicted bool, predicted_kill or None), sorted by t."""
    horizon_end = kill if kill is not None else end
    before = [w for w in warn_list if w[0] < horizon_end]
    warned = [w for w in before if w[1]]
    r = {"warnings": len(warned)}
    if kind == "leak":
        if kill is None:
            r.update({"first_warning_t": warned[0][0] if warned else None, "lead_s": None, "lead_frac": None})
            r["error"] = err_stats([], 0)
            return r
        life = kill - start
        if warned:
            t0 = warned[0][0]
            r["first_warning_t"] = t0
            r["lead_s"] = round(kill - t0, 1)
            r["lead_frac"] = round((kill - t0) / life, 3)
            after = [w for w in before if w[0] >= t0]
            r["withdrawn"] = sum(1 for w in after if not w[1])
            r["error"] = err_stats([(w[0], w[2]) for w in after if w[1]], kill)
        else:
            r.update({"first_warning_t": None, "lead_s": None, "lead_frac": None, "withdrawn": 0})
            r["error"] = err_stats([], kill)
    else:
        r["false_alarm"] = bool(warned)
        r["first_warning_s"] = round(warned[0][0] - start, 1) if warned else None
    return r


def load_usage(d):
    pts = []
    p = os.path.join(d, "usage.jsonl")
    if not os.path.exists(p):
        return pts
    with open(p) as f:
        for line in f:
            line = line.strip()
            if line:
                o = json.loads(line)
                pts.append((float(o["t"]), float(o["bytes"])))
    pts.sort()
    return pts


# Operating points of the baseline (T6 at matched false alarms): every
# combination of horizon, minimum history and Prometheus `for:` duration.
SWEEP_HORIZONS = [("7d", 7 * 86400.0), ("1d", 86400.0), ("6h", 6 * 3600.0), ("1h", 3600.0),
                  ("30m", 1800.0), ("10m", 600.0), ("5m", 300.0)]
SWEEP_MIN_HIST = [0.0, 120.0, 300.0, 600.0]
SWEEP_FOR = [0.0, 60.0, 120.0, 300.0]


def with_for(pl, for_s):
    """Prometheus `for:`: the alert fires only once its condition has held at
    every evaluation for for_s seconds."""
    if for_s <= 0:
        return pl
    out, since = [], None
    for t, al, at in pl:
        if al:
            since = t if since is None else since
            out.append((t, t - since >= for_s, at))
        else:
            since = None
            out.append((t, False, at))
    return out


def theil_sen(pts):
    """Slope and intercept (median of y - b t) of the Theil-Sen line."""
    sl = sorted((pts[j][1] - pts[i][1]) / (pts[j][0] - pts[i][0])
                for i in range(len(pts)) for j in range(i + 1, len(pts)) if pts[j][0] > pts[i][0])
    if not sl:
        return None
    b = statistics.median(sl)
    return b, statistics.median([y - b * t for t, y in pts])


def oracle_errors(pts, limit, kill, times):
    """Kill-time errors of two predictors that know the future: at each of
    `times`, the line fitted to the whole life (start to kill) of the working
    set, (a) as it is and (b) with its slope from the level of the last 15 s.
    Not a method: a bound on what any constant-rate predictor could achieve on
    this trace (docs/evaluation.md, "How far a straight line can go")."""
    life = [p for p in pts if p[0] <= kill]
    ts_ = theil_sen(life) if len(life) >= 3 else None
    if not ts_ or ts_[0] <= 0:
        return None, None
    b, a = ts_
    line, level = [], []
    for t in times:
        if kill - t < MIN_REMAINING or t >= kill:
            continue
        line.append((t, (limit - a) / b))
        recent = [y for tt, y in life if t - 15 <= tt <= t]
        y = statistics.median(recent) if recent else a + b * t
        level.append((t, t + (limit - y) / b))
    return err_stats(line, kill), err_stats(level, kill)


def predict_linear(pts, limit, window, horizon, min_hist):
    """At each sample time: OLS over the last `window` s; alert when the line
    at t+horizon >= limit. Returns [(t, alert, predicted_kill)]."""
    out = []
    lo = 0
    t_first = pts[0][0] if pts else 0
    for i, (t, _) in enumerate(pts):
        while pts[lo][0] < t - window:
            lo += 1
        seg = pts[lo:i + 1]
        if len(seg) < 2 or t - t_first < min_hist:
            out.append((t, False, None))
            continue
        n = len(seg)
        mx = sum(p[0] - t for p in seg) / n
        my = sum(p[1] for p in seg) / n
        sxx = sum((p[0] - t - mx) ** 2 for p in seg)
        if sxx <= 0:
            out.append((t, False, None))
            continue
        b = sum((p[0] - t - mx) * (p[1] - my) for p in seg) / sxx
        now = my + b * (0 - mx)  # fitted value at t
        alert = now + b * horizon >= limit
        at = t + (limit - now) / b if b > 0 and now < limit else (t if now >= limit else None)
        out.append((t, alert, at))
    return out


def score_one(lw, d):
    with open(os.path.join(d, "meta.json")) as f:
        meta = json.load(f)
    name, kind, expect = meta["name"], meta["kind"], meta.get("expected", "-")
    start, end = float(meta["start"]), float(meta["end"])
    kill = float(meta["kill_time"]) if meta.get("kill_time") is not None else None
    limit = float(meta["limit_bytes"])
    verdicts, cmd = run_analyze(lw, d, meta)
    stop = kill if kill is not None else end + 1
    vs = [v for v in verdicts if v.get("t") is not None and v["t"] < stop]
    res = {"name": name, "kind": kind, "expected": expect, "limit": meta["limit"], "limit_bytes": limit,
           "start": start, "kill_time": kill, "oom_killed": bool(meta.get("oom_killed")),
           "lifetime_s": round(kill - start, 1) if kill is not None else None,
           "run_s": round(end - start, 1), "verdicts": len(vs), "command": cmd}
    leaks = [v for v in vs if v.get("verdict") == "leak"]
    lwr = {"leak_verdicts": len(leaks)}
    if kind == "leak":
        lwr["detected"] = bool(leaks)
        if leaks:
            first = leaks[0]
            lwr["first_detection_s"] = round(first["t"] - start, 1)
            lwr["top_at_detection"] = stack_label((first.get("top_stacks") or [None])[0])
            lwr["top_right_at_detection"] = top_right(first, expect)
            last = vs[-1]
            lwr["top_at_end"] = stack_label((last.get("top_stacks") or [None])[0])
            lwr["top_right_at_end"] = top_right(last, expect)
            lwr["hint_at_end"] = ((last.get("top_stacks") or [{}])[0] or {}).get("hint")
        else:
            lwr.update({"first_detection_s": None, "top_right_at_detection": False, "top_right_at_end": False,
                        "top_at_detection": None, "top_at_end": stack_label((vs[-1].get("top_stacks") or [None])[0]) if vs else None})
    wl = [(float(v["t"]), bool((v.get("oom") or {}).get("predicted")), oom_at(v)) for v in vs]
    lwr.update(score_warnings(kind, start, kill, end, wl))
    if kind != "leak":
        lwr["false_alarm"] = bool(leaks) or lwr["false_alarm"]
        lwr["oom_predicted_verdicts"] = lwr.pop("warnings")
    if vs:
        last = vs[-1]
        lwr["last_verdict"] = last.get("verdict")
        lwr["last_oom_state"] = (last.get("oom") or {}).get("state")
        lwr["last_oom_reason"] = (last.get("oom") or {}).get("reason")
        lwr["memory_source"] = (last.get("memory") or {}).get("source")
    res["leakwatch"] = lwr
    pts = load_usage(d)
    res["usage_points"] = len(pts)
    res["baselines"] = {}
    for bname, w, h, mh in BASELINES:
        pl = predict_linear(pts, limit, w, h, mh)
        res["baselines"][bname] = score_warnings(kind, start, kill, end, pl)
    if kind == "leak" and kill is not None and lwr.get("first_warning_t") is not None:
        times = [w[0] for w in wl if w[1] and w[0] >= lwr["first_warning_t"]]
        o_line, o_level = oracle_errors(pts, limit, kill, times)
        res["oracle"] = {"whole-life line": o_line, "whole-life slope from the level now": o_level}
    res["sweep"] = {}
    for hname, h in SWEEP_HORIZONS:
        for mh in SWEEP_MIN_HIST:
            pl = predict_linear(pts, limit, WINDOW, h, mh)
            for fs in SWEEP_FOR:
                sw = score_warnings(kind, start, kill, end, with_for(pl, fs))
                key = "%s|%d|%d" % (hname, mh, fs)
                res["sweep"][key] = {k: sw.get(k) for k in ("lead_frac", "false_alarm")}
    return res


def fmt_pct(x):
    return "–" if x is None else "%.0f%%" % (100 * x)


def fmt_err(e):
    if not e or e.get("n", 0) == 0:
        return "–"
    return "%.0f%% / %.0f%%" % (e["median_abs_pct"], e["max_abs_pct"])


def yes(b):
    return "yes" if b else "**no**"


def markdown(results, lw, when):
    L = []
    b = binary_id(lw)
    L.append("Scored %s with `%s` (built %s, sha256 %s) on %s, %d cores." % (
        when, b["path"], b["built"], b["sha256_12"], platform.platform(), os.cpu_count() or 0))
    L.append("")
    L.append("### Leaking services")
    L.append("")
    L.append("| service | limit | killed after | detected (at) | top stack right (detection / end) | top stack at end "
             "| first OOM warning: lead (share of life) | kill-time error median / max | baseline lead (share) | baseline error median / max |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    b0 = BASELINES[0][0]
    for r in results:
        if r["kind"] != "leak":
            continue
        lw_ = r["leakwatch"]
        b = r["baselines"][b0]
        killed = "%.0f s" % r["lifetime_s"] if r["lifetime_s"] is not None else "**not killed**"
        det = ("yes (%.0f s)" % lw_["first_detection_s"]) if lw_.get("detected") else "**no**"
        tsr = "%s / %s" % (yes(lw_.get("top_right_at_detection")), yes(lw_.get("top_right_at_end"))) if lw_.get("detected") else "–"
        lead = ("%.0f s (%s)" % (lw_["lead_s"], fmt_pct(lw_["lead_frac"]))) if lw_.get("lead_s") is not None else "**none**"
        blead = ("%.0f s (%s)" % (b["lead_s"], fmt_pct(b["lead_frac"]))) if b.get("lead_s") is not None else "none"
        L.append("| %s | %s | %s | %s | %s | `%s` | %s | %s | %s | %s |" % (
            r["name"], r["limit"], killed, det, tsr, lw_.get("top_at_end") or "–", lead, fmt_err(lw_.get("error")),
            blead, fmt_err(b.get("error"))))
    L.append("")
    L.append("### Healthy services")
    L.append("")
    L.append("| service | limit | ran | killed | leakwatch: leak verdicts / OOM warnings | leakwatch false alarm "
             "| last verdict (forecast state) | baseline false alarm (first alert at) |")
    L.append("|---|---|---|---|---|---|---|---|")
    for r in results:
        if r["kind"] == "leak":
            continue
        lw_ = r["leakwatch"]
        b = r["baselines"][b0]
        L.append("| %s | %s | %.0f s | %s | %d / %d | %s | %s (%s) | %s |" % (
            r["name"], r["limit"], r["run_s"], "**yes**" if r["oom_killed"] else "no", lw_["leak_verdicts"],
            lw_["oom_predicted_verdicts"], "**yes**" if lw_["false_alarm"] else "no", lw_.get("last_verdict"),
            lw_.get("last_oom_state"),
            ("yes (%.0f s)" % b["first_warning_s"]) if b["false_alarm"] else "no"))
    L.append("")
    L.append("### Totals")
    L.append("")
    L.append("| method | leaks detected | top stack right (detection / end) | leaks warned before the kill "
             "| median lead (share of life) | leaks warned >= 50% of life ahead | median kill-time error (median over leaks) "
             "| leaks with median error <= 20% | false alarms (healthy) |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    leaks = [r for r in results if r["kind"] == "leak"]
    healthy = [r for r in results if r["kind"] != "leak"]
    nl, nh = len(leaks), len(healthy)

    def row(name, get, det=None, tops=None):
        ws = [get(r) for r in leaks]
        warned = [w for w in ws if w.get("lead_s") is not None]
        fr = [w["lead_frac"] for w in warned]
        meds = [w["error"]["median_abs_pct"] for w in warned if w.get("error") and w["error"]["n"]]
        fa = sum(1 for r in healthy if get(r)["false_alarm"])
        L.append("| %s | %s | %s | %d/%d | %s | %d/%d | %s | %d/%d | %d/%d |" % (
            name, det or "–", tops or "–", len(warned), nl,
            fmt_pct(statistics.median(fr)) if fr else "–", sum(1 for x in fr if x >= TARGET_LEAD), nl,
            ("%.0f%%" % statistics.median(meds)) if meds else "–", sum(1 for m in meds if m <= TARGET_ERR), nl, fa, nh))

    det = "%d/%d" % (sum(1 for r in leaks if r["leakwatch"].get("detected")), nl)
    tops = "%d/%d / %d/%d" % (sum(1 for r in leaks if r["leakwatch"].get("top_right_at_detection")), nl,
                              sum(1 for r in leaks if r["leakwatch"].get("top_right_at_end")), nl)
    row("leakwatch", lambda r: r["leakwatch"], det, tops)
    for bname, _, _, _ in BASELINES:
        row("baseline " + bname.replace("[10m]", "\\[10m\\]"), lambda r, bn=bname: r["baselines"][bn])
    for oname in ("whole-life line", "whole-life slope from the level now"):
        meds = [r["oracle"][oname]["median_abs_pct"] for r in leaks
                if r.get("oracle") and r["oracle"].get(oname) and r["oracle"][oname]["n"]]
        L.append("| oracle: %s (knows the future) | – | – | – | – | – | %s | %d/%d | – |" % (
            oname, ("%.0f%%" % statistics.median(meds)) if meds else "–", sum(1 for m in meds if m <= TARGET_ERR), nl))
    L.append("")
    L.extend(sweep_markdown(results))
    return "\n".join(L)


def sweep_points(results):
    """Per baseline setting: (false alarms, leaks warned >= half a life ahead,
    median lead share, leaks warned, key)."""
    leaks = [r for r in results if r["kind"] == "leak"]
    healthy = [r for r in results if r["kind"] != "leak"]
    keys = list(leaks[0]["sweep"].keys()) if leaks and "sweep" in leaks[0] else []
    pts = []
    for k in keys:
        fr = [r["sweep"][k]["lead_frac"] for r in leaks if r["sweep"][k]["lead_frac"] is not None]
        fa = sum(1 for r in healthy if r["sweep"][k]["false_alarm"])
        pts.append((fa, sum(1 for x in fr if x >= TARGET_LEAD), statistics.median(fr) if fr else 0.0, len(fr), k))
    return pts


def sweep_markdown(results):
    """T6 at matched false alarms: the baseline's best lead at each false-alarm count."""
    pts = sweep_points(results)
    if not pts:
        return []
    leaks = [r for r in results if r["kind"] == "leak"]
    healthy = [r for r in results if r["kind"] != "leak"]
    nl, nh = len(leaks), len(healthy)
    fr = [r["leakwatch"]["lead_frac"] for r in leaks if r["leakwatch"].get("lead_frac") is not None]
    lw_fa = sum(1 for r in healthy if r["leakwatch"]["false_alarm"])
    L = ["### Baseline operating points (T6 at matched false alarms)", "",
         "`predict_linear[10m]` over %d settings: horizon %s, minimum history %s s, Prometheus `for:` %s s. "
         "For each number of false alarms, the setting with the most leaks warned at least half a life ahead "
         "(then the highest median lead). leakwatch: %d/%d false alarms, %d/%d leaks warned >= 50%% ahead, "
         "median lead %s." % (len(pts), "/".join(h for h, _ in SWEEP_HORIZONS),
                               "/".join("%d" % m for m in SWEEP_MIN_HIST), "/".join("%d" % f for f in SWEEP_FOR),
                               lw_fa, nh, sum(1 for x in fr if x >= TARGET_LEAD), nl,
                               fmt_pct(statistics.median(fr)) if fr else "–"), "",
         "| false alarms (healthy) | best baseline setting (horizon, min history s, for s) | leaks warned >= 50% ahead | leaks warned | median lead |",
         "|---|---|---|---|---|"]
    for fa in range(nh + 1):
        cand = [p for p in pts if p[0] == fa]
        if not cand:
            L.append("| %d/%d | no setting | – | – | – |" % (fa, nh))
            continue
        best = max(cand, key=lambda p: (p[1], p[2]))
        h, mh, fs = best[4].split("|")
        L.append("| %d/%d | %s, %s, %s | %d/%d | %d/%d | %s |" % (fa, nh, h, mh, fs, best[1], nl, best[3], nl,
                                                              fmt_pct(best[2])))
    L.append("")
    return L


def self_test():
    """Checks the scoring arithmetic on synthetic series (no leakwatch needed)."""
    # An exact line from 10 MiB at +1 MiB/10 s reaches 100 MiB at t=900: predict_linear must say so.
    mib = float(1 << 20)
    pts = [(float(t), 10 * mib + t / 10.0 * mib) for t in range(0, 600, 5)]
    pl = predict_linear(pts, 100 * mib, WINDOW, 3600.0, 0.0)
    assert not pl[0][1] and pl[1][1], "alert from the second point of a steep line"
    assert all(abs(at - 900.0) < 1e-6 for _, al, at in pl[1:]), "exact crossing time"
    assert not any(al for _, al, _ in predict_linear(pts, 100 * mib, WINDOW, 3600.0, 600.0)), "min history"
    flat = [(float(t), 50 * mib) for t in range(0, 600, 5)]
    assert not any(al for _, al, _ in predict_linear(flat, 100 * mib, WINDOW, HORIZON_LW, 0.0)), "flat: no alert"
    # Errors: predicted 10 s late with 100 s left = +10%; warnings < MIN_REMAINING before the kill are ignored.
    e = err_stats([(900.0, 1010.0), (800.0, 1000.0), (950.0, 1100.0)], 1000.0)
    assert e["n"] == 2 and e["max_abs_pct"] == 10.0 and e["median_abs_pct"] == 5.0, e
    r = score_warnings("leak", 0.0, 1000.0, 1000.0, [(100.0, False, None), (200.0, True, 1000.0),
                                                      (300.0, False, None), (1000.0, True, 1000.0)])
    assert r["lead_s"] == 800.0 and r["lead_frac"] == 0.8 and r["withdrawn"] == 1 and r["warnings"] == 1, r
    h = score_warnings("healthy", 0.0, None, 600.0, [(100.0, False, None), (200.0, True, 900.0)])
    assert h["false_alarm"] and h["first_warning_s"] == 200.0, h
    f = with_for([(0.0, True, 1.0), (60.0, True, 1.0), (120.0, False, None), (180.0, True, 1.0), (300.0, True, 1.0)], 100.0)
    assert [al for _, al, _ in f] == [False, False, False, False, True], f
    # Top stack: the expected substring, or its form in another Go release (consecutive frames).
    idle119 = {"top_stacks": [{"frames": ["internal/poll.runtime_pollWait", "net/http.(*conn).readRequest",
                                          "net/http.(*conn).serve"]}]}
    idle123 = {"top_stacks": [{"frames": ["net/http.(*connReader).Read", "bufio.(*Reader).fill",
                                          "bufio.(*Reader).Peek", "net/http.(*conn).serve"]}]}
    client = {"top_stacks": [{"frames": ["bufio.(*Reader).Peek", "net/http.(*persistConn).readLoop"],
                              "created_by": "net/http.(*conn).serve"}]}
    exp = "net/http.(*conn).readRequest"
    assert top_right(idle119, exp) and top_right(idle123, exp), "both releases' idle-connection wait"
    assert not top_right(client, exp), "Peek and conn.serve must be consecutive frames"
    assert not top_right({"top_stacks": []}, exp) and not top_right(idle123, "main.handler")
    print("score.py self-test: ok")
    return 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--leakwatch", help="leakwatch binary")
    ap.add_argument("--raw", default=os.path.join(ROOT, "bench", "results", "raw"), help="trace root")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results"), help="where summary.md and metrics.json go")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-usage", action="store_true",
                    help="hide usage.jsonl from leakwatch (memory from the Go runtime's MemStats)")
    ap.add_argument("names", nargs="*")
    a = ap.parse_args()
    global NO_USAGE
    NO_USAGE = a.no_usage
    lw = find_leakwatch(a.leakwatch)
    dirs = []
    for n in sorted(os.listdir(a.raw)) if os.path.isdir(a.raw) else []:
        d = os.path.join(a.raw, n)
        if os.path.exists(os.path.join(d, "meta.json")) and (not a.names or n in a.names):
            dirs.append(d)
    if not dirs:
        sys.exit("score.py: no traces with meta.json under %s (run bench/run.sh first)" % a.raw)
    results, failed = [], []
    with concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs) as ex:
        futs = {ex.submit(score_one, lw, d): d for d in dirs}
        for fu in concurrent.futures.as_completed(futs):
            try:
                results.append(fu.result())
            except Exception as e:  # report and go on with the others
                failed.append("%s: %s" % (futs[fu], e))
    order = {"leak": 0}
    results.sort(key=lambda r: (order.get(r["kind"], 1), r["name"]))
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    md = markdown(results, lw, when)
    if failed:
        md += "\nFailed to score:\n\n" + "\n".join("- " + f for f in failed) + "\n"
    print(md)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "summary.md"), "w") as f:
        f.write("# leakwatch evaluation: results\n\nGenerated by `python3 bench/score.py` "
                "from traces recorded by `bench/run.sh`; method in docs/evaluation.md.\n\n" + md)
    with open(os.path.join(a.out, "metrics.json"), "w") as f:
        json.dump({"scored": when, "leakwatch": binary_id(lw), "raw": os.path.relpath(a.raw, ROOT), "horizon_s": HORIZON_LW,
                   "baselines": [{"name": b[0], "window_s": b[1], "horizon_s": b[2], "min_history_s": b[3]} for b in BASELINES],
                   "min_remaining_s": MIN_REMAINING, "services": results, "failed": failed}, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
