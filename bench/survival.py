#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench/survival.py: how many goroutines of a stack outlive one debug=2 interval.

For a trace directory recorded by bench/run.sh (or leakwatch record), and a
substring naming a stack, prints for each pair of consecutive debug=2 dumps
the share of the goroutines the stack held at the earlier dump (at least 10)
that are still in it at the later one, counted as leakwatch counts them:
goroutines of the stack whose id is at or below the earlier dump's largest
id. A leak keeps them all (about 1.0); a stack of goroutines in use keeps
what outlives the interval. The measurement behind docs/analysis.md §2.1
("most of them ended").

  python3 bench/survival.py DIR 'main.(*broadcaster).live'
"""
import glob
import os
import re
import sys


def dumps(d):
    for f in sorted(glob.glob(os.path.join(d, "*-goroutine2.txt"))):
        yield int(os.path.basename(f).split("-")[0]), open(f, errors="replace").read()


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    d, sub = sys.argv[1], sys.argv[2]
    prev, shares = None, []
    for t, text in dumps(d):
        ids, top = set(), 0
        for g in text.split("\n\n"):
            m = re.match(r"goroutine (\d+) \[", g.strip())
            if not m:
                continue
            gid = int(m.group(1))
            top = max(top, gid)
            if sub in g:
                ids.add(gid)
        if prev and len(prev[0]) >= 10:
            old = sum(1 for i in ids if i <= prev[1])
            shares.append(round(old / len(prev[0]), 2))
        prev = (ids, top)
    print("%s %s: %d intervals, min %s, below 1.0: %d; %s" % (
        d, sub, len(shares), min(shares) if shares else "-", sum(1 for x in shares if x < 1.0), shares))


if __name__ == "__main__":
    main()
