/* SPDX-License-Identifier: Apache-2.0 */
/*
 * promtext.c: a bounded parser for the Prometheus text exposition format
 * (version 0.0.4), the format of the kubelet's /metrics/resource.
 *
 * Why our own: the memory signal needs one metric from a few kilobytes of
 * text the kubelet serves; the format is line-based and small. The parser is
 * a single pass over the input with one scratch buffer of max_line bytes
 * (label values are unescaped into it), so memory is bounded by the limits
 * whatever the input, and it is fuzzed (tests/fuzz/fuzz_promtext.c).
 *
 * Grammar handled (https://prometheus.io/docs/instrumenting/exposition_formats/):
 *   line    = blank* ( comment | sample | "" ) "\r"? "\n"
 *   comment = "#" [ blank+ ("HELP" blank+ name [blank+ doc] | "TYPE" blank+ name blank+ type) | any ]
 *   sample  = name blank* [ "{" [ label { "," label } [","] ] "}" ] blank+ value [ blank+ ts ] blank*
 *   label   = blank* lname blank* "=" blank* '"' escaped '"' blank*
 *   value   = Go float (decimal, NaN, +Inf, -Inf, Inf; case-insensitive words)
 *   ts      = [-] digits (milliseconds since the epoch, int64)
 */
#include "scraper/scraper.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct pctx {
    const struct lw_prom_limits *lim;
    char *scratch;       /* max_line + 1 bytes */
    size_t used;
    struct lw_prom_label *labels;
    size_t line;
};

static bool is_blank(char c) { return c == ' ' || c == '\t'; }
static bool name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
static bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

static const char *skip_blanks(const char *p, const char *end)
{
    while (p < end && is_blank(*p))
        p++;
    return p;
}

/* Copy [p, p+n) into the scratch buffer as a C string. */
static char *scratch_put(struct pctx *c, const char *p, size_t n)
{
    char *d = c->scratch + c->used;
    memcpy(d, p, n);
    d[n] = '\0';
    c->used += n + 1;
    return d;
}

/* Metric or label name: returns end, or NULL if none at p. */
static const char *scan_name(const char *p, const char *end, bool metric)
{
    if (p >= end || !name_start(*p) || (!metric && *p == ':'))
        return NULL;
    p++;
    while (p < end && name_char(*p) && (metric || *p != ':'))
        p++;
    return p;
}

static int parse_value(const char *p, size_t n, double *out)
{
    char tok[72];
    if (n == 0 || n >= sizeof(tok))
        return -1;
    memcpy(tok, p, n);
    tok[n] = '\0';
    const char *w = tok;
    int sign = 1;
    if (*w == '+' || *w == '-') {
        sign = *w == '-' ? -1 : 1;
        w++;
    }
    if (strcasecmp(w, "nan") == 0) {
        if (w != tok)
            return -1;
        *out = NAN;
        return 0;
    }
    if (strcasecmp(w, "inf") == 0 || strcasecmp(w, "infinity") == 0) {
        *out = sign * INFINITY;
        return 0;
    }
    /* digits [. digits] [e [+-] digits], at least one digit in the mantissa */
    const char *q = w;
    int digits = 0;
    while (*q >= '0' && *q <= '9')
        q++, digits++;
    if (*q == '.') {
        q++;
        while (*q >= '0' && *q <= '9')
            q++, digits++;
    }
    if (!digits)
        return -1;
    if (*q == 'e' || *q == 'E') {
        q++;
        if (*q == '+' || *q == '-')
            q++;
        if (!(*q >= '0' && *q <= '9'))
            return -1;
        while (*q >= '0' && *q <= '9')
            q++;
    }
    if (*q)
        return -1;
    errno = 0;
    char *e = NULL;
    double v = strtod(tok, &e);
    if (e != tok + n)
        return -1;
    /* overflow gives +-Inf like Go's ParseFloat would refuse: refuse too */
    if (errno == ERANGE && isinf(v))
        return -1;
    *out = v;
    return 0;
}

static int parse_ts(const char *p, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (n > 0 && (p[0] == '-' || p[0] == '+')) {
        neg = p[0] == '-';
        i = 1;
    }
    if (i == n)
        return -1;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        unsigned d = (unsigned)(p[i] - '0');
        if (v > ((uint64_t)INT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

static int comment_line(struct pctx *c, const char *p, const char *end, struct lw_errbuf *eb)
{
    p++; /* '#' */
    const char *q = skip_blanks(p, end);
    if (q == p)
        return LW_OK; /* "#foo": a plain comment */
    const char *w = q;
    while (q < end && !is_blank(*q))
        q++;
    size_t wl = (size_t)(q - w);
    bool help = wl == 4 && memcmp(w, "HELP", 4) == 0;
    bool type = wl == 4 && memcmp(w, "TYPE", 4) == 0;
    if (!help && !type)
        return LW_OK;
    q = skip_blanks(q, end);
    const char *ne = scan_name(q, end, true);
    if (!ne || (ne < end && !is_blank(*ne)))
        return lw_errf(eb, LW_EINVAL, "line %zu: # %s without a valid metric name", c->line,
                       help ? "HELP" : "TYPE");
    if (help)
        return LW_OK; /* the docstring is not needed */
    q = skip_blanks(ne, end);
    const char *te = q;
    while (te < end && !is_blank(*te))
        te++;
    size_t tl = (size_t)(te - q);
    static const char *const types[] = {"counter", "gauge", "histogram", "summary", "untyped"};
    bool ok = false;
    for (size_t i = 0; i < LW_ARRAY_SIZE(types); i++)
        if (tl == strlen(types[i]) && memcmp(q, types[i], tl) == 0)
            ok = true;
    if (!ok || skip_blanks(te, end) != end)
        return lw_errf(eb, LW_EINVAL,
                       "line %zu: # TYPE: expected counter, gauge, histogram, summary or untyped",
                       c->line);
    return LW_OK;
}

static int sample_line(struct pctx *c, const char *p, const char *end, struct lw_prom_sample *s,
                       struct lw_errbuf *eb)
{
    c->used = 0;
    const char *ne = scan_name(p, end, true);
    if (!ne)
        return lw_errf(eb, LW_EINVAL, "line %zu: expected a metric name", c->line);
    s->name = scratch_put(c, p, (size_t)(ne - p));
    s->nlabels = 0;
    s->labels = c->labels;
    p = skip_blanks(ne, end);
    if (p < end && *p == '{') {
        p++;
        for (;;) {
            p = skip_blanks(p, end);
            if (p >= end)
                return lw_errf(eb, LW_EINVAL, "line %zu: labels: missing '}'", c->line);
            if (*p == '}') {
                p++;
                break;
            }
            const char *le = scan_name(p, end, false);
            if (!le)
                return lw_errf(eb, LW_EINVAL, "line %zu: labels: expected a label name", c->line);
            if (s->nlabels >= c->lim->max_labels)
                return lw_errf(eb, LW_ETOOBIG, "line %zu: more than %zu labels", c->line,
                               c->lim->max_labels);
            const char *lname = scratch_put(c, p, (size_t)(le - p));
            for (size_t i = 0; i < s->nlabels; i++)
                if (strcmp(c->labels[i].name, lname) == 0)
                    return lw_errf(eb, LW_EINVAL, "line %zu: duplicate label \"%s\"", c->line,
                                   lname);
            p = skip_blanks(le, end);
            if (p >= end || *p != '=')
                return lw_errf(eb, LW_EINVAL, "line %zu: label %s: expected '='", c->line, lname);
            p = skip_blanks(p + 1, end);
            if (p >= end || *p != '"')
                return lw_errf(eb, LW_EINVAL, "line %zu: label %s: expected a quoted value",
                               c->line, lname);
            p++;
            char *v = c->scratch + c->used;
            size_t k = 0;
            for (;;) {
                if (p >= end)
                    return lw_errf(eb, LW_EINVAL, "line %zu: label %s: unterminated string",
                                   c->line, lname);
                char ch = *p++;
                if (ch == '"')
                    break;
                if (ch == '\\') {
                    if (p >= end)
                        return lw_errf(eb, LW_EINVAL, "line %zu: label %s: unterminated string",
                                       c->line, lname);
                    char e = *p++;
                    if (e == '\\' || e == '"')
                        ch = e;
                    else if (e == 'n')
                        ch = '\n';
                    else
                        return lw_errf(eb, LW_EINVAL,
                                       "line %zu: label %s: invalid escape sequence '\\%c'",
                                       c->line, lname,
                                       (e >= 0x20 && e < 0x7f) ? e : '?');
                }
                v[k++] = ch; /* never longer than the line: fits the scratch */
            }
            v[k] = '\0';
            c->used += k + 1;
            c->labels[s->nlabels].name = lname;
            c->labels[s->nlabels].value = v;
            s->nlabels++;
            p = skip_blanks(p, end);
            if (p < end && *p == ',') {
                p++;
                continue;
            }
            if (p < end && *p == '}') {
                p++;
                break;
            }
            return lw_errf(eb, LW_EINVAL,
                           p >= end ? "line %zu: labels: missing '}'"
                                    : "line %zu: labels: expected ',' or '}'",
                           c->line);
        }
    } else {
        p = ne; /* no labels: the blanks skipped above separate the value */
    }
    const char *vs = skip_blanks(p, end);
    if (vs == p && p < end)
        return lw_errf(eb, LW_EINVAL, "line %zu: expected a blank before the value", c->line);
    if (vs >= end)
        return lw_errf(eb, LW_EINVAL, "line %zu: sample %s has no value", c->line, s->name);
    const char *ve = vs;
    while (ve < end && !is_blank(*ve))
        ve++;
    if (parse_value(vs, (size_t)(ve - vs), &s->value) != 0) {
        char shown[40];
        size_t n = LW_MIN((size_t)(ve - vs), sizeof(shown) - 1);
        for (size_t i = 0; i < n; i++)
            shown[i] = (vs[i] >= 0x20 && vs[i] < 0x7f) ? vs[i] : '?';
        shown[n] = '\0';
        return lw_errf(eb, LW_EINVAL, "line %zu: invalid value \"%s\"", c->line, shown);
    }
    s->has_ts = false;
    s->ts_ms = 0;
    const char *ts = skip_blanks(ve, end);
    if (ts < end) {
        const char *te = ts;
        while (te < end && !is_blank(*te))
            te++;
        if (parse_ts(ts, (size_t)(te - ts), &s->ts_ms) != 0)
            return lw_errf(eb, LW_EINVAL, "line %zu: invalid timestamp (expected integer ms)",
                           c->line);
        s->has_ts = true;
        if (skip_blanks(te, end) != end)
            return lw_errf(eb, LW_EINVAL, "line %zu: unexpected text after the timestamp",
                           c->line);
    }
    s->line = c->line;
    return LW_OK;
}

int lw_promtext_parse(const char *data, size_t len, const struct lw_prom_limits *lim_in,
                      lw_prom_sample_cb on_sample, void *ud, struct lw_errbuf *eb)
{
    struct lw_prom_limits lim = {0, 0, 0};
    if (lim_in)
        lim = *lim_in;
    if (lim.max_line == 0)
        lim.max_line = 64 << 10;
    if (lim.max_labels == 0)
        lim.max_labels = 64;
    if (lim.max_samples == 0)
        lim.max_samples = 1000000;
    struct pctx c = {&lim, NULL, 0, NULL, 0};
    /* names and values, each NUL-terminated, never exceed the line + 1 + labels */
    c.scratch = malloc(lim.max_line + 2 * lim.max_labels + 2);
    c.labels = calloc(lim.max_labels, sizeof(*c.labels));
    if (!c.scratch || !c.labels) {
        free(c.scratch);
        free(c.labels);
        return lw_errf(eb, LW_ENOMEM, "prometheus text: out of memory");
    }
    int rc = LW_OK;
    size_t nsamples = 0;
    const char *p = data, *end = data + len;
    while (p < end && rc == LW_OK) {
        c.line++;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *next = nl ? nl + 1 : end;
        if ((size_t)(le - p) > lim.max_line) {
            rc = lw_errf(eb, LW_ETOOBIG, "line %zu: longer than %zu bytes", c.line, lim.max_line);
            break;
        }
        if (le > p && le[-1] == '\r')
            le--;
        if (memchr(p, '\0', (size_t)(le - p))) {
            rc = lw_errf(eb, LW_EINVAL, "line %zu: NUL byte", c.line);
            break;
        }
        const char *q = skip_blanks(p, le);
        if (q == le) {
            /* blank line */
        } else if (*q == '#') {
            rc = comment_line(&c, q, le, eb);
        } else {
            struct lw_prom_sample s;
            rc = sample_line(&c, q, le, &s, eb);
            if (rc == LW_OK) {
                if (++nsamples > lim.max_samples) {
                    rc = lw_errf(eb, LW_ETOOBIG, "line %zu: more than %zu samples", c.line,
                                 lim.max_samples);
                    break;
                }
                if (on_sample) {
                    int r = on_sample(ud, &s);
                    if (r != 0)
                        rc = r;
                }
            }
        }
        p = next;
    }
    free(c.scratch);
    free(c.labels);
    return rc;
}

const char *lw_prom_label(const struct lw_prom_sample *s, const char *name)
{
    for (size_t i = 0; i < s->nlabels; i++)
        if (strcmp(s->labels[i].name, name) == 0)
            return s->labels[i].value;
    return NULL;
}
