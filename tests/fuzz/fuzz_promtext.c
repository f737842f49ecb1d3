/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_promtext.c: libFuzzer target for the memory-signal parsers of
 * pkg/scraper: the Prometheus text parser (the kubelet's /metrics/resource),
 * the working-set extraction on top of it, and the PodMetrics JSON reader.
 * Small limits are used so the bounds themselves are exercised.
 */
#include "scraper/scraper.h"

#include <stdint.h>
#include <string.h>

static int count(void *ud, const struct lw_prom_sample *s)
{
    size_t *n = ud;
    (*n)++;
    /* touch everything handed out */
    for (size_t i = 0; i < s->nlabels; i++)
        *n += strlen(s->labels[i].name) + strlen(s->labels[i].value) > 0;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    struct lw_errbuf eb = {""};
    size_t n = 0;
    struct lw_prom_limits lim = {256, 4, 64};
    lw_promtext_parse(p, size, &lim, count, &n, &eb);
    lw_promtext_parse(p, size, NULL, count, &n, &eb);

    struct lw_ws_list l = {.max = 16};
    lw_ws_from_kubelet(p, size, &l, &eb);
    lw_ws_list_release(&l);
    l.max = 16;
    lw_ws_from_podmetrics(p, size, &l, &eb);
    lw_ws_list_release(&l);
    return 0;
}
