/* SPDX-License-Identifier: Apache-2.0 */
/*
 * replay.c: replay pkg/forecast on a real memory series (a trace's
 * usage.jsonl: one {"t": <unix s>, "bytes": N} per line) as if live, and
 * print one line per sample (or every k-th): state, predicted, time to OOM,
 * confidence and its factors. With --kill T (unix seconds of the real OOM
 * kill; default: the last sample), it also prints the lead time of the first
 * warning and the error of the predicted kill time after it.
 *
 *   replay USAGE.JSONL LIMIT_BYTES [--every k] [--kill T] [--min-span S] [--quiet]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forecast/forecast.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: replay USAGE.JSONL LIMIT_BYTES [--every k] [--kill T] [--min-span S] [--quiet]\n");
        return 2;
    }
    double limit = atof(argv[2]), kill = -1;
    int every = 1, quiet = 0;
    struct lw_forecast_params prm;
    lw_forecast_params_default(&prm);
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--every") && i + 1 < argc)
            every = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--kill") && i + 1 < argc)
            kill = atof(argv[++i]);
        else if (!strcmp(argv[i], "--min-span") && i + 1 < argc)
            prm.min_span_s = atof(argv[++i]);
        else if (!strcmp(argv[i], "--quiet"))
            quiet = 1;
    }
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    static struct lw_mem_point pts[100000];
    size_t n = 0;
    char line[512];
    while (n < 100000 && fgets(line, sizeof(line), f)) {
        const char *pt = strstr(line, "\"t\""), *pb = strstr(line, "\"bytes\"");
        if (!pt || !pb)
            continue;
        pts[n].t = atof(strchr(pt, ':') + 1);
        pts[n].bytes = atof(strchr(pb, ':') + 1);
        n++;
    }
    fclose(f);
    if (n == 0)
        return 1;
    if (kill < 0)
        kill = pts[n - 1].t;
    double t0 = pts[0].t, first = -1, maxerr = 0, maxerr_life = 0;
    static double errs[100000], serrs[100000];
    size_t nerr = 0;
    int gaps = 0;
    for (size_t m = 1; m <= n; m++) {
        struct lw_forecast fc;
        lw_forecast_compute(pts, m, limit, pts[m - 1].t, &prm, &fc);
        double t = pts[m - 1].t;
        if (fc.predicted) {
            if (first < 0)
                first = t;
            double remain = kill - t;
            if (remain > 0.1 * (kill - t0)) {
                double e = fabs(fc.at - kill) / remain;
                if (e > maxerr)
                    maxerr = e;
            }
            if (remain >= 60.0) { /* as bench/score.py: scored while >= 60 s remain */
                serrs[nerr] = (fc.at - kill) / remain;
                errs[nerr++] = fabs(fc.at - kill) / remain;
            }
            double el = fabs(fc.at - kill) / (kill - t0);
            if (el > maxerr_life)
                maxerr_life = el;
        } else if (first >= 0) {
            gaps++;
        }
        if (!quiet && ((m - 1) % (size_t)every == 0 || m == n))
            printf("t=%5.0f mem=%6.1fMiB %-12s pred=%d oom_in=%6.0f (true %6.0f) conf=%.2f "
                   "[%.2f %.2f %.2f %.2f] g=%.0fMiB/h rec=%.0fMiB/h | %s\n",
                   t - t0, pts[m - 1].bytes / 1048576.0, lw_fc_state_name(fc.state),
                   fc.predicted, fc.seconds_to_oom, kill - t, fc.confidence, fc.conf_trend,
                   fc.conf_agree, fc.conf_extrap, fc.conf_fit, fc.growth_bytes_per_hour / 1048576.0,
                   fc.recent_growth_bytes_per_hour / 1048576.0, fc.reason);
    }
    double med = 0, mx = 0, smed = 0;
    if (nerr) {
        for (size_t i = 1; i < nerr; i++)
            for (size_t j = i; j > 0 && serrs[j - 1] > serrs[j]; j--) {
                double x = serrs[j];
                serrs[j] = serrs[j - 1];
                serrs[j - 1] = x;
            }
        smed = serrs[nerr / 2];
        for (size_t i = 1; i < nerr; i++) /* insertion sort: n is small */
            for (size_t j = i; j > 0 && errs[j - 1] > errs[j]; j--) {
                double x = errs[j];
                errs[j] = errs[j - 1];
                errs[j - 1] = x;
            }
        med = errs[nerr / 2];
        mx = errs[nerr - 1];
    }
    if (first >= 0)
        printf("first warning at %.0f s (life %.0f s): lead %.1f%%; |err| of time left (>= 60 s "
               "left) median %.1f%% (signed %+.1f%%) max %.1f%%; max %.1f%% while >= 10%% of life left; "
               "withdrawn %d steps\n",
               first - t0, kill - t0, 100 * (kill - first) / (kill - t0), 100 * med, 100 * smed, 100 * mx,
               100 * maxerr, gaps);
    else
        printf("never warned (life/window %.0f s)\n", kill - t0);
    return 0;
}
