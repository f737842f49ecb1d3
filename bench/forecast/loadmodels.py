#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench/forecast/loadmodels.py: does a model of the load improve the kill time?

A Python replica of the engine's kill time (Theil-Sen line through the
working set since the start, plus the 0.9 quantile of the excursions above
it; docs/forecast.md section 3.4) is scored against two causal load models on
the recorded bench runs, at leakwatch's own warning times, down to 60 s
before the kill (T5's scoring, docs/evaluation.md):

  q          the line plus margin (the replica)
  h<c>       line + one sinusoid, period by least squares over 60 s ..
             history/c, kept when its F statistic against the line is > 10
  r<W>_<w>   mean-reverting rate: the Theil-Sen slope of the last W seconds
             blended into the whole-history slope with weight w

  python3 bench/forecast/loadmodels.py q h1 h1.5 h2 r60_0.1 r60_0.3 r120_0.4

Needs the raw traces (bench/results/raw/runN, gitignored) and the scores
(bench/results/rescore-1540/dev-runN, bench/results/run12). Prints one line
per run and mode (leaks within +-20%, signed median error per leak) and a
TOTAL line per mode. Pure standard library.
"""
import json
import math
import os
import statistics as st
import sys

MiB = 1048576
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def theil_sen(xs, ys):
    s = [(ys[j] - ys[i]) / (xs[j] - xs[i])
         for i in range(len(xs)) for j in range(i + 1, len(xs)) if xs[j] != xs[i]]
    b = st.median(s)
    return st.median([y - b * x for x, y in zip(xs, ys)]), b


def lstsq(rows, ys):
    """Least squares by the normal equations (a handful of columns)."""
    k = len(rows[0])
    m = [[sum(r[i] * r[j] for r in rows) for j in range(k)] for i in range(k)]
    v = [sum(r[i] * y for r, y in zip(rows, ys)) for i in range(k)]
    for i in range(k):
        p = max(range(i, k), key=lambda r: abs(m[r][i]))
        m[i], m[p], v[i], v[p] = m[p], m[i], v[p], v[i]
        if abs(m[i][i]) < 1e-12:
            return None
        for r in range(k):
            if r != i:
                f = m[r][i] / m[i][i]
                for c in range(i, k):
                    m[r][c] -= f * m[i][c]
                v[r] -= f * v[i]
    return [v[i] / m[i][i] for i in range(k)]


def sse(rows, ys, c):
    return sum((y - sum(ci * ai for ci, ai in zip(c, r))) ** 2 for r, y in zip(rows, ys))


def harmonic(xs, ys, cycles):
    t0 = xs[0]
    x = [t - t0 for t in xs]
    rows0 = [[1, t] for t in x]
    c0 = lstsq(rows0, ys)
    if not c0:
        return None
    r0 = sse(rows0, ys, c0)
    best, period = None, 60.0
    while period <= x[-1] / cycles:
        w = 2 * math.pi / period
        rows = [[1, t, math.cos(w * t), math.sin(w * t)] for t in x]
        c = lstsq(rows, ys)
        if c:
            r = sse(rows, ys, c)
            if best is None or r < best[0]:
                best = (r, w, c)
        period *= 1.05
    if best is None or len(x) <= 4:
        return None
    r, w, c = best
    f = ((r0 - r) / 2) / (r / (len(x) - 4)) if r > 0 else float("inf")
    if f < 10 or c[1] <= 0:
        return None
    return lambda t: c[0] + c[1] * (t - t0) + c[2] * math.cos(w * (t - t0)) + c[3] * math.sin(w * (t - t0))


def quantile_above(xs, ys, fit, q=0.9):
    skip = min(60, (xs[-1] - xs[0]) / 3)
    r = sorted(y - fit(x) for x, y in zip(xs, ys) if x - xs[0] >= skip)
    return r[min(len(r) - 1, int(q * len(r)))]


def predict(xs, ys, now, limit, mode):
    a, b = theil_sen(xs, ys)
    if b <= 0:
        return None
    level = a + b * now
    m = quantile_above(xs, ys, lambda t: a + b * t)
    base = now + max(0, (limit - level - m) / b)
    if mode == "q":
        return base
    if mode.startswith("h"):
        f = harmonic(xs, ys, float(mode[1:]))
        if not f:
            return base
        m2 = quantile_above(xs, ys, f)
        t, end = now, now + 10 * max(60, (limit - level) / b)
        while t < end:
            if f(t) + m2 >= limit:
                return t
            t += 1
        return base
    if mode.startswith("r"):
        win, wt = (float(v) for v in mode[1:].split("_"))
        idx = [i for i, t in enumerate(xs) if t >= now - win]
        if len(idx) < 4:
            return base
        _, br = theil_sen([xs[i] for i in idx], [ys[i] for i in idx])
        rate = max(b + (br - b) * wt, 0.3 * b)
        return now + max(0, (limit - level - m) / rate)
    raise SystemExit("unknown mode " + mode)


def runs():
    for i in range(1, 13):
        score = ("bench/results/rescore-1540/dev-run%d/metrics.json" % i if i < 12
                 else "bench/results/run12/metrics.json")
        yield "run%d" % i, os.path.join(ROOT, score), os.path.join(ROOT, "bench/results/raw", "" if i == 1 else "run%d" % i)


def main(mode):
    total, per = 0, []
    for name, score, raw in runs():
        ok, cnt, signed = 0, 0, []
        for s in json.load(open(score))["services"]:
            if s["kind"] != "leak" or not s.get("oom_killed") or not s["leakwatch"].get("first_warning_t"):
                continue
            u = [json.loads(line) for line in open(os.path.join(raw, s["name"], "usage.jsonl"))]
            t0 = u[0]["t"]
            kill, limit = s["kill_time"] - t0, s["limit_bytes"] / MiB
            xs, ys = [p["t"] - t0 for p in u], [p["bytes"] / MiB for p in u]
            warned = s["leakwatch"]["first_warning_t"] - t0
            errs = []
            for i, now in enumerate(xs):
                if now < warned - 0.5 or kill - now < 60:
                    continue
                p = predict(xs[:i + 1], ys[:i + 1], now, limit, mode)
                if p is not None:
                    errs.append(100 * (p - kill) / (kill - now))
            if not errs:
                continue
            cnt += 1
            ok += st.median([abs(e) for e in errs]) <= 20
            signed.append("%s:%+d" % (s["name"][5:10], round(st.median(errs))))
        per.append(ok)
        total += ok
        print(mode, name, "%d/%d" % (ok, cnt), " ".join(signed), flush=True)
    print(mode, "TOTAL", total, per, flush=True)


if __name__ == "__main__":
    for mode in sys.argv[1:] or ["q"]:
        main(mode)
