#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""summarize.py: turns the output directory of bench/fleet/run.sh (or
bench/soak/run.sh) into the footprint summary: controller RSS over time
(flat after warm-up?), CPU share of one core, open fds, scrape latency
percentiles (from the controller's leakwatch_scrape_duration_seconds
histogram, as the upper bound of the bucket holding
each rank, plus the exact mean), scrapes per minute, the fleet's per-pod scrape gaps and the API
requests per minute (from the test API server's /_test/counters).
Prints text; writes summary.json next to it."""
import argparse
import json
import os
import re
import statistics
import sys

TARGET_RSS_MIB = 64
TARGET_CPU = 0.05


def load_samples(path):
    rows = []
    with open(path) as f:
        head = f.readline().split()
        for line in f:
            v = line.split()
            if len(v) != len(head):
                continue
            rows.append({k: float(x) for k, x in zip(head, v)})
    return rows


def parse_metrics(path):
    """{family: [(labels dict, value)]} from Prometheus text."""
    out = {}
    if not os.path.exists(path):
        return out
    rx = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)')
    lab = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                continue
            m = rx.match(line)
            if not m:
                continue
            try:
                val = float(m.group(4))
            except ValueError:
                continue
            out.setdefault(m.group(1), []).append((dict(lab.findall(m.group(3) or "")), val))
    return out


def hist_quantiles(metrics, name, label, qs=(0.5, 0.9, 0.99)):
    """Per label value: count, mean, quantiles interpolated in buckets."""
    res = {}
    buckets = {}
    for labels, v in metrics.get(name + "_bucket", []):
        le = labels.get("le")
        key = labels.get(label, "")
        buckets.setdefault(key, []).append((float("inf") if le == "+Inf" else float(le), v))
    sums = {l.get(label, ""): v for l, v in metrics.get(name + "_sum", [])}
    for key, bs in buckets.items():
        bs.sort()
        total = bs[-1][1]
        if total <= 0:
            continue
        r = {"count": int(total), "mean_s": sums.get(key, 0.0) / total}
        for q in qs:
            # the upper bound of the bucket holding the rank: the histogram
            # cannot say more (the first bucket is 50 ms wide)
            rank = q * total
            for le, c in bs:
                if c >= rank:
                    r["p%g_le" % (q * 100)] = le
                    break
        res[key] = r
    return res


def slope_per_min(xs, ys):
    if len(xs) < 3:
        return 0.0
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--pods", type=int, required=True)
    ap.add_argument("--duration", type=float, required=True)
    ap.add_argument("--warmup", type=float, required=True)
    ap.add_argument("--clk-tck", type=float, default=100)
    ap.add_argument("--title", default="fleet")
    a = ap.parse_args()
    out = a.out
    rows = [r for r in load_samples(os.path.join(out, "samples.tsv")) if r["rss_kib"] > 0]
    if len(rows) < 2:
        print("summarize: fewer than 2 samples", file=sys.stderr)
        return 1
    mib = lambda k: k / 1024.0  # noqa: E731
    s = {"pods": a.pods, "duration_s": rows[-1]["t_s"], "samples": len(rows),
         "warmup_s": a.warmup}
    rss = [r["rss_kib"] for r in rows]
    s["rss_mib_max"] = mib(max(rss))
    s["rss_mib_end"] = mib(rss[-1])
    steady = [r for r in rows if r["t_s"] >= a.warmup] or rows[-2:]
    srss = [r["rss_kib"] for r in steady]
    s["rss_mib_after_warmup"] = {"min": mib(min(srss)), "median": mib(statistics.median(srss)),
                                 "max": mib(max(srss))}
    s["rss_kib_per_min_after_warmup"] = slope_per_min([r["t_s"] for r in steady], srss)
    # quarters of the whole run: flat = 2nd and last quarter agree
    T = rows[-1]["t_s"]
    q = lambda lo, hi: [r["rss_kib"] for r in rows if lo * T <= r["t_s"] < hi * T] or [0]  # noqa: E731
    s["rss_mib_median_q2"] = mib(statistics.median(q(0.25, 0.5)))
    s["rss_mib_median_q4"] = mib(statistics.median(q(0.75, 1.01)))
    s["rss_mib_max_q2"] = mib(max(q(0.25, 0.5)))
    s["rss_mib_max_q4"] = mib(max(q(0.75, 1.01)))
    if "fds" in rows[0]:
        fd2, fd4 = [r["fds"] for r in rows if 0.25 * T <= r["t_s"] < 0.5 * T], \
                   [r["fds"] for r in rows if r["t_s"] >= 0.75 * T]
        s["fds"] = {"min": min(r["fds"] for r in rows), "max": max(r["fds"] for r in rows),
                    "median_q2": statistics.median(fd2) if fd2 else None,
                    "median_q4": statistics.median(fd4) if fd4 else None}
    cpu = lambda r0, r1, k="cpu_ticks": (r1[k] - r0[k]) / a.clk_tck / max(1e-9, r1["t_s"] - r0["t_s"])  # noqa: E731
    s["cpu_share_whole_run"] = cpu(rows[0], rows[-1])
    s["cpu_share_after_warmup"] = cpu(steady[0], steady[-1]) if len(steady) > 1 else None
    s["cpu_seconds_total"] = (rows[-1]["cpu_ticks"] - rows[0]["cpu_ticks"]) / a.clk_tck
    if "fleet_cpu_ticks" in rows[0]:
        s["fleet_cpu_share"] = cpu(rows[0], rows[-1], "fleet_cpu_ticks")
        s["apiserver_cpu_share"] = cpu(rows[0], rows[-1], "api_cpu_ticks")
        s["fleet_rss_mib_max"] = mib(max(r["fleet_rss_kib"] for r in rows))
        s["apiserver_rss_mib_max"] = mib(max(r["api_rss_kib"] for r in rows))
    loads = [r["load1"] for r in rows]
    s["load1"] = {"min": min(loads), "median": statistics.median(loads), "max": max(loads)}
    if "scrapes_ok" in rows[0] and len(steady) > 1:
        s["scrapes_ok_per_min_after_warmup"] = 60 * (steady[-1]["scrapes_ok"] - steady[0]["scrapes_ok"]) / \
            max(1e-9, steady[-1]["t_s"] - steady[0]["t_s"])
    if "api_requests" in rows[0] and len(steady) > 1:
        s["api_requests_per_min_after_warmup"] = 60 * (steady[-1]["api_requests"] - steady[0]["api_requests"]) / \
            max(1e-9, steady[-1]["t_s"] - steady[0]["t_s"])
    m = parse_metrics(os.path.join(out, "metrics-end.txt"))
    s["scrape_latency"] = hist_quantiles(m, "leakwatch_scrape_duration_seconds", "profile")
    res = {}
    for labels, v in m.get("leakwatch_scrapes_total", []):
        res["%s/%s" % (labels.get("profile"), labels.get("result"))] = int(v)
    s["scrapes_total"] = res
    for fam in ("leakwatch_pods_watched", "leakwatch_pods_scraped", "leakwatch_leader",
                "leakwatch_metrics_series_dropped_total"):
        if m.get(fam):
            s[fam] = m[fam][0][1]
    ev = {}
    for labels, v in m.get("leakwatch_events_total", []):
        ev[labels.get("result")] = ev.get(labels.get("result"), 0) + int(v)
    s["events"] = ev
    s["annotation_patches"] = {l.get("result"): int(v) for l, v in
                               m.get("leakwatch_annotations_patched_total", [])}
    s["leak_suspected_pods"] = sum(1 for l, v in m.get("leakwatch_leak_suspected", []) if v == 1)
    try:
        with open(os.path.join(out, "api-counters.json")) as f:
            c = json.load(f)
        mins = max(1e-9, (c["now"] - c["since"]) / 60)
        s["api_requests_per_min"] = c["total"] / mins
        by = {}
        for k, v in c["counts"].items():
            verb_res = " ".join(k.split()[:2])
            by[verb_res] = by.get(verb_res, 0) + v
        s["api_requests_per_min_by_verb"] = {k: round(v / mins, 2) for k, v in sorted(by.items())}
        s["api_status_counts"] = c["counts"]
    except (OSError, ValueError, KeyError):
        pass
    for name, key in (("fleet-gaps.json", "scrape_gap_s"), ("fleet-stats.json", "fleet_served")):
        try:
            with open(os.path.join(out, name)) as f:
                s[key] = json.load(f)
        except (OSError, ValueError):
            pass
    try:
        with open(os.path.join(out, "controller-exit.txt")) as f:
            s["controller_exit"] = f.read().strip()
    except OSError:
        pass
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(s, f, indent=1, sort_keys=True)

    aw = s["rss_mib_after_warmup"]
    cpu_aw = s["cpu_share_after_warmup"]
    flat = abs(s["rss_mib_median_q4"] - s["rss_mib_median_q2"]) <= max(1.0, 0.05 * s["rss_mib_median_q2"])
    p = print
    p("== %s: %d pods, %.0f s (%d samples), warm-up %.0f s, out %s" %
      (a.title, a.pods, s["duration_s"], len(rows), a.warmup, out))
    if "valgrind" in a.title:
        p("(under valgrind: RSS and CPU are valgrind's, not the controller's; the targets do not apply)")
    p("controller RSS: max %.1f MiB, end %.1f MiB; after warm-up min/median/max %.1f/%.1f/%.1f MiB, "
      "slope %+.1f KiB/min  [target <= %d MiB: %s]" %
      (s["rss_mib_max"], s["rss_mib_end"], aw["min"], aw["median"], aw["max"],
       s["rss_kib_per_min_after_warmup"], TARGET_RSS_MIB,
       "MET" if s["rss_mib_max"] <= TARGET_RSS_MIB else "MISSED"))
    p("RSS median 2nd quarter %.1f MiB, last quarter %.1f MiB (max %.1f / %.1f)  [flat: %s]" %
      (s["rss_mib_median_q2"], s["rss_mib_median_q4"], s["rss_mib_max_q2"], s["rss_mib_max_q4"],
       "yes" if flat else "NO"))
    if "fds" in s:
        p("open fds: min %d max %d, median 2nd quarter %s, last quarter %s" %
          (s["fds"]["min"], s["fds"]["max"], s["fds"]["median_q2"], s["fds"]["median_q4"]))
    p("CPU: %.2f%% of one core over the run, %s after warm-up (%.1f CPU s)  [target <= 5%%: %s]" %
      (100 * s["cpu_share_whole_run"], "%.2f%%" % (100 * cpu_aw) if cpu_aw is not None else "n/a",
       s["cpu_seconds_total"],
       "MET" if (cpu_aw if cpu_aw is not None else s["cpu_share_whole_run"]) <= TARGET_CPU else "MISSED"))
    if "fleet_cpu_share" in s:
        p("others: fleet %.1f%% CPU %.0f MiB, API server %.1f%% CPU %.0f MiB; load1 min/median/max %.2f/%.2f/%.2f" %
          (100 * s["fleet_cpu_share"], s["fleet_rss_mib_max"], 100 * s["apiserver_cpu_share"],
           s["apiserver_rss_mib_max"], s["load1"]["min"], s["load1"]["median"], s["load1"]["max"]))
    for prof, r in sorted(s["scrape_latency"].items()):
        fmt = lambda v: "+Inf" if v == float("inf") else "%g ms" % (1000 * v)  # noqa: E731
        p("scrape latency %-17s n=%-7d mean %.1f ms, p50 <= %s, p90 <= %s, p99 <= %s (histogram buckets)" %
          (prof, r["count"], 1000 * r["mean_s"], fmt(r.get("p50_le", 0)), fmt(r.get("p90_le", 0)),
           fmt(r.get("p99_le", 0))))
    if "scrapes_ok_per_min_after_warmup" in s:
        p("successful scrapes per minute after warm-up: %.0f (%.2f per pod)" %
          (s["scrapes_ok_per_min_after_warmup"], s["scrapes_ok_per_min_after_warmup"] / max(1, a.pods)))
    p("scrapes: %s" % ", ".join("%s=%d" % kv for kv in sorted(s["scrapes_total"].items())))
    if "scrape_gap_s" in s:
        g = s["scrape_gap_s"]
        p("per-pod gap between goroutine scrapes (fleet side): n=%d p50 %.1f s p90 %.1f s p99 %.1f s max %.1f s" %
          (g.get("count", 0), g.get("p50", 0), g.get("p90", 0), g.get("p99", 0), g.get("max", 0)))
    if "api_requests_per_min" in s:
        p("API requests: %.1f per minute over the run%s: %s" % (
            s["api_requests_per_min"],
            " (%.1f after warm-up)" % s["api_requests_per_min_after_warmup"]
            if "api_requests_per_min_after_warmup" in s else "",
            ", ".join("%s %.1f" % kv for kv in s["api_requests_per_min_by_verb"].items())))
    p("pods watched %s, scraped %s, leader %s, leak suspected %d, events %s, annotation patches %s, "
      "series dropped %s" % (s.get("leakwatch_pods_watched"), s.get("leakwatch_pods_scraped"),
                             s.get("leakwatch_leader"), s["leak_suspected_pods"], s["events"],
                             s["annotation_patches"], s.get("leakwatch_metrics_series_dropped_total")))
    p("controller exit after SIGTERM: %s" % s.get("controller_exit"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
