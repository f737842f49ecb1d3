/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.c: the metrics registry and the Prometheus text exposition format
 * 0.0.4 (see ops.h). Each family keeps its series in a chained hash table
 * keyed by the label values joined with NUL bytes; the registry counts
 * series over all families and refuses new ones past its cap, so a cluster
 * with a runaway number of pods costs a bounded amount of memory. Series are
 * removed explicitly when a pod goes away (lw_metrics_forget), which is what
 * keeps the cardinality equal to what is actually watched.
 */
#include "ops/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct series {
    struct series *next;  /* hash chain */
    uint64_t hash;
    char *key;            /* label values, each NUL-terminated, back to back */
    size_t keylen;
    const char **values;  /* nlabels pointers into key */
    double value;         /* counter/gauge; histogram: sum */
    uint64_t count;       /* histogram */
    uint64_t *buckets;    /* histogram: nbuckets non-cumulative counts */
};

struct lw_metric {
    struct lw_metrics *reg;
    enum lw_metric_type type;
    char *name, *help;
    size_t nlabels;
    char *labels[LW_METRICS_MAX_LABELS];
    size_t nbuckets;
    double bounds[LW_METRICS_MAX_BUCKETS];
    struct series **tab;
    size_t tabsize, nseries;
};

struct lw_metrics {
    struct lw_metric **fams;
    size_t nfams, capfams;
    size_t max_series, nseries;
    uint64_t dropped;
};

struct lw_metrics *lw_metrics_new(size_t max_series)
{
    struct lw_metrics *r = calloc(1, sizeof *r);
    if (r)
        r->max_series = max_series ? max_series : LW_METRICS_DEFAULT_MAX_SERIES;
    return r;
}

static void series_free(struct series *s)
{
    if (!s)
        return;
    free(s->key);
    free(s->values);
    free(s->buckets);
    free(s);
}

static void family_free(struct lw_metric *m)
{
    for (size_t i = 0; i < m->tabsize; i++) {
        struct series *s = m->tab[i];
        while (s) {
            struct series *n = s->next;
            series_free(s);
            s = n;
        }
    }
    free(m->tab);
    for (size_t i = 0; i < m->nlabels; i++)
        free(m->labels[i]);
    free(m->name);
    free(m->help);
    free(m);
}

void lw_metrics_free(struct lw_metrics *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nfams; i++)
        family_free(r->fams[i]);
    free(r->fams);
    free(r);
}

static int valid_name(const char *s, int colon)
{
    if (!s || !*s)
        return 0;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

struct lw_metric *lw_metrics_find(struct lw_metrics *r, const char *name)
{
    for (size_t i = 0; i < r->nfams; i++)
        if (strcmp(r->fams[i]->name, name) == 0)
            return r->fams[i];
    return NULL;
}

struct lw_metric *lw_metrics_add(struct lw_metrics *r, enum lw_metric_type type, const char *name,
                                 const char *help, size_t nlabels, const char *const *label_names,
                                 size_t nbuckets, const double *buckets, struct lw_errbuf *eb)
{
    if (!valid_name(name, 1)) {
        lw_errf(eb, LW_EINVAL, "metric name \"%s\" is not valid", name ? name : "(null)");
        return NULL;
    }
    if (strcmp(name, "leakwatch_metrics_series_dropped_total") == 0 || lw_metrics_find(r, name)) {
        lw_errf(eb, LW_EINVAL, "metric %s is already registered", name);
        return NULL;
    }
    if (nlabels > LW_METRICS_MAX_LABELS) {
        lw_errf(eb, LW_ERANGE, "metric %s: too many labels (%zu, max %d)", name, nlabels,
                LW_METRICS_MAX_LABELS);
        return NULL;
    }
    for (size_t i = 0; i < nlabels; i++) {
        const char *l = label_names[i];
        if (!valid_name(l, 0) || strncmp(l, "__", 2) == 0 ||
            (type == LW_METRIC_HISTOGRAM && strcmp(l, "le") == 0)) {
            lw_errf(eb, LW_EINVAL, "metric %s: label name \"%s\" is not valid", name,
                    l ? l : "(null)");
            return NULL;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(label_names[j], l) == 0) {
                lw_errf(eb, LW_EINVAL, "metric %s: label \"%s\" given twice", name, l);
                return NULL;
            }
    }
    if (type == LW_METRIC_HISTOGRAM) {
        if (nbuckets < 1 || nbuckets > LW_METRICS_MAX_BUCKETS) {
            lw_errf(eb, LW_ERANGE, "histogram %s: needs 1..%d buckets", name,
                    LW_METRICS_MAX_BUCKETS);
            return NULL;
        }
        for (size_t i = 0; i < nbuckets; i++)
            if (!isfinite(buckets[i]) || (i && buckets[i] <= buckets[i - 1])) {
                lw_errf(eb, LW_EINVAL, "histogram %s: bucket bounds must be finite and increasing",
                        name);
                return NULL;
            }
    } else if (type != LW_METRIC_COUNTER && type != LW_METRIC_GAUGE) {
        lw_errf(eb, LW_EINVAL, "metric %s: unknown type", name);
        return NULL;
    }
    if (r->nfams == r->capfams) {
        size_t nc = r->capfams ? r->capfams * 2 : 16;
        struct lw_metric **nf = realloc(r->fams, nc * sizeof *nf);
        if (!nf)
            goto oom;
        r->fams = nf;
        r->capfams = nc;
    }
    struct lw_metric *m = calloc(1, sizeof *m);
    if (!m)
        goto oom;
    m->reg = r;
    m->type = type;
    m->name = strdup(name);
    m->help = strdup(help ? help : "");
    m->nlabels = nlabels;
    int bad = !m->name || !m->help;
    for (size_t i = 0; i < nlabels; i++)
        if (!(m->labels[i] = strdup(label_names[i])))
            bad = 1;
    if (type == LW_METRIC_HISTOGRAM) {
        m->nbuckets = nbuckets;
        memcpy(m->bounds, buckets, nbuckets * sizeof *buckets);
    }
    m->tabsize = 16;
    m->tab = calloc(m->tabsize, sizeof *m->tab);
    if (bad || !m->tab) {
        family_free(m);
        goto oom;
    }
    r->fams[r->nfams++] = m;
    return m;
oom:
    lw_errf(eb, LW_ENOMEM, "metric %s: out of memory", name);
    return NULL;
}

/* Join values into key; returns length or (size_t)-1. */
static int make_key(const struct lw_metric *m, const char *const *values, char **key,
                    size_t *keylen)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nlabels; i++) {
        if (!values || !values[i])
            return LW_EINVAL;
        n += strlen(values[i]) + 1;
    }
    char *k = malloc(n ? n : 1);
    if (!k)
        return LW_ENOMEM;
    size_t off = 0;
    for (size_t i = 0; i < m->nlabels; i++) {
        size_t l = strlen(values[i]) + 1;
        memcpy(k + off, values[i], l);
        off += l;
    }
    *key = k;
    *keylen = n;
    return LW_OK;
}

static struct series *lookup(struct lw_metric *m, const char *key, size_t keylen, uint64_t h,
                             struct series ***slot)
{
    struct series **pp = &m->tab[h % m->tabsize];
    for (; *pp; pp = &(*pp)->next) {
        struct series *s = *pp;
        if (s->hash == h && s->keylen == keylen && memcmp(s->key, key, keylen) == 0) {
            if (slot)
                *slot = pp;
            return s;
        }
    }
    if (slot)
        *slot = pp;
    return NULL;
}

static void rehash(struct lw_metric *m)
{
    size_t ns = m->tabsize * 2;
    struct series **nt = calloc(ns, sizeof *nt);
    if (!nt)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < m->tabsize; i++) {
        struct series *s = m->tab[i];
        while (s) {
            struct series *n = s->next;
            s->next = nt[s->hash % ns];
            nt[s->hash % ns] = s;
            s = n;
        }
    }
    free(m->tab);
    m->tab = nt;
    m->tabsize = ns;
}

/* Find or create the series for values. */
static int get_series(struct lw_metric *m, const char *const *values, int create,
                      struct series **out)
{
    char *key;
    size_t keylen;
    int rc = make_key(m, values, &key, &keylen);
    if (rc)
        return rc;
    uint64_t h = lw_fnv1a(LW_FNV_INIT, key, keylen);
    struct series *s = lookup(m, key, keylen, h, NULL);
    if (s || !create) {
        free(key);
        *out = s;
        return s ? LW_OK : LW_ENOTFOUND;
    }
    if (m->reg->nseries >= m->reg->max_series) {
        free(key);
        m->reg->dropped++;
        return LW_ETOOBIG;
    }
    s = calloc(1, sizeof *s);
    if (!s) {
        free(key);
        return LW_ENOMEM;
    }
    s->key = key;
    s->keylen = keylen;
    s->hash = h;
    s->values = calloc(m->nlabels ? m->nlabels : 1, sizeof *s->values);
    if (m->type == LW_METRIC_HISTOGRAM)
        s->buckets = calloc(m->nbuckets, sizeof *s->buckets);
    if (!s->values || (m->type == LW_METRIC_HISTOGRAM && !s->buckets)) {
        series_free(s);
        return LW_ENOMEM;
    }
    size_t off = 0;
    for (size_t i = 0; i < m->nlabels; i++) {
        s->values[i] = key + off;
        off += strlen(key + off) + 1;
    }
    if (m->nseries + 1 > m->tabsize * 2)
        rehash(m);
    s->next = m->tab[h % m->tabsize];
    m->tab[h % m->tabsize] = s;
    m->nseries++;
    m->reg->nseries++;
    *out = s;
    return LW_OK;
}

int lw_metric_set(struct lw_metric *m, const char *const *values, double v)
{
    if (!m || m->type != LW_METRIC_GAUGE)
        return LW_EINVAL;
    struct series *s;
    int rc = get_series(m, values, 1, &s);
    if (rc)
        return rc;
    s->value = v;
    return LW_OK;
}

int lw_metric_add(struct lw_metric *m, const char *const *values, double delta)
{
    if (!m || m->type == LW_METRIC_HISTOGRAM)
        return LW_EINVAL;
    if (m->type == LW_METRIC_COUNTER && !(delta >= 0))
        return LW_ERANGE;
    struct series *s;
    int rc = get_series(m, values, 1, &s);
    if (rc)
        return rc;
    s->value += delta;
    return LW_OK;
}

int lw_metric_observe(struct lw_metric *m, const char *const *values, double v)
{
    if (!m || m->type != LW_METRIC_HISTOGRAM || isnan(v))
        return LW_EINVAL;
    struct series *s;
    int rc = get_series(m, values, 1, &s);
    if (rc)
        return rc;
    for (size_t i = 0; i < m->nbuckets; i++)
        if (v <= m->bounds[i]) {
            s->buckets[i]++;
            break;
        }
    s->count++;
    s->value += v;
    return LW_OK;
}

int lw_metric_get(struct lw_metric *m, const char *const *values, double *out)
{
    struct series *s;
    int rc = get_series(m, values, 0, &s);
    if (rc)
        return rc;
    *out = m->type == LW_METRIC_HISTOGRAM ? (double)s->count : s->value;
    return LW_OK;
}

static void unlink_series(struct lw_metric *m, struct series **pp)
{
    struct series *s = *pp;
    *pp = s->next;
    series_free(s);
    m->nseries--;
    m->reg->nseries--;
}

int lw_metric_remove(struct lw_metric *m, const char *const *values)
{
    char *key;
    size_t keylen;
    int rc = make_key(m, values, &key, &keylen);
    if (rc)
        return rc;
    uint64_t h = lw_fnv1a(LW_FNV_INIT, key, keylen);
    struct series **pp;
    struct series *s = lookup(m, key, keylen, h, &pp);
    free(key);
    if (!s)
        return LW_ENOTFOUND;
    unlink_series(m, pp);
    return LW_OK;
}

size_t lw_metrics_forget(struct lw_metrics *r, size_t n, const char *const *names,
                         const char *const *values)
{
    size_t removed = 0;
    if (n > LW_METRICS_MAX_LABELS)
        return 0;
    for (size_t f = 0; f < r->nfams; f++) {
        struct lw_metric *m = r->fams[f];
        size_t idx[LW_METRICS_MAX_LABELS];
        size_t found = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < m->nlabels; j++)
                if (strcmp(m->labels[j], names[i]) == 0) {
                    idx[found++] = j;
                    break;
                }
        if (found != n || n == 0)
            continue;
        for (size_t b = 0; b < m->tabsize; b++) {
            struct series **pp = &m->tab[b];
            while (*pp) {
                int match = 1;
                for (size_t i = 0; i < n && match; i++)
                    match = strcmp((*pp)->values[idx[i]], values[i]) == 0;
                if (match) {
                    unlink_series(m, pp);
                    removed++;
                } else {
                    pp = &(*pp)->next;
                }
            }
        }
    }
    return removed;
}

size_t lw_metrics_series_count(const struct lw_metrics *r)
{
    return r->nseries;
}

/* ---- exposition ---------------------------------------------------------- */

/* Shortest %g form that reads back as the same double (Go's
 * strconv.FormatFloat(v, 'g', -1, 64), which Prometheus clients use). */
static void fmt_shortest(double v, char *out, size_t n)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, n, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

static int put_number(struct lw_buf *b, double v)
{
    if (isnan(v))
        return lw_buf_append(b, "NaN", 3);
    if (isinf(v))
        return v > 0 ? lw_buf_append(b, "+Inf", 4) : lw_buf_append(b, "-Inf", 4);
    if (v == floor(v) && fabs(v) < 9007199254740992.0)
        return lw_buf_appendf(b, "%.0f", v);
    char tmp[40];
    fmt_shortest(v, tmp, sizeof tmp);
    return lw_buf_appendf(b, "%s", tmp);
}

static int put_label_value(struct lw_buf *b, const char *v)
{
    int rc = LW_OK;
    for (; *v && !rc; v++) {
        if (*v == '\\') rc = lw_buf_append(b, "\\\\", 2);
        else if (*v == '"') rc = lw_buf_append(b, "\\\"", 2);
        else if (*v == '\n') rc = lw_buf_append(b, "\\n", 2);
        else rc = lw_buf_append(b, v, 1);
    }
    return rc;
}

static int put_help(struct lw_buf *b, const char *v)
{
    int rc = LW_OK;
    for (; *v && !rc; v++) {
        if (*v == '\\') rc = lw_buf_append(b, "\\\\", 2);
        else if (*v == '\n') rc = lw_buf_append(b, "\\n", 2);
        else rc = lw_buf_append(b, v, 1);
    }
    return rc;
}

/* name{l1="v1",...[,le="x"]} value\n */
static int put_sample(struct lw_buf *b, const struct lw_metric *m, const char *suffix,
                      const struct series *s, const char *le, double v)
{
    int rc = lw_buf_appendf(b, "%s%s", m->name, suffix);
    if (!rc && (m->nlabels || le)) {
        rc = lw_buf_append(b, "{", 1);
        for (size_t i = 0; i < m->nlabels && !rc; i++) {
            rc = lw_buf_appendf(b, "%s%s=\"", i ? "," : "", m->labels[i]);
            if (!rc)
                rc = put_label_value(b, s->values[i]);
            if (!rc)
                rc = lw_buf_append(b, "\"", 1);
        }
        if (!rc && le)
            rc = lw_buf_appendf(b, "%sle=\"%s\"", m->nlabels ? "," : "", le);
        if (!rc)
            rc = lw_buf_append(b, "}", 1);
    }
    if (!rc)
        rc = lw_buf_append(b, " ", 1);
    if (!rc)
        rc = put_number(b, v);
    if (!rc)
        rc = lw_buf_append(b, "\n", 1);
    return rc;
}

static size_t g_cmp_nlabels; /* qsort has no context argument in C11 */

static int cmp_series(const void *a, const void *b)
{
    const struct series *x = *(const struct series *const *)a;
    const struct series *y = *(const struct series *const *)b;
    for (size_t i = 0; i < g_cmp_nlabels; i++) {
        int c = strcmp(x->values[i], y->values[i]);
        if (c)
            return c;
    }
    return 0;
}

static int cmp_fam(const void *a, const void *b)
{
    const struct lw_metric *x = *(const struct lw_metric *const *)a;
    const struct lw_metric *y = *(const struct lw_metric *const *)b;
    return strcmp(x->name, y->name);
}

static const char *type_name(enum lw_metric_type t)
{
    return t == LW_METRIC_COUNTER ? "counter" : t == LW_METRIC_GAUGE ? "gauge" : "histogram";
}

static int render_family(struct lw_buf *b, struct lw_metric *m)
{
    int rc = lw_buf_appendf(b, "# HELP %s ", m->name);
    if (!rc)
        rc = put_help(b, m->help);
    if (!rc)
        rc = lw_buf_appendf(b, "\n# TYPE %s %s\n", m->name, type_name(m->type));
    if (rc || !m->nseries)
        return rc;
    struct series **v = malloc(m->nseries * sizeof *v);
    if (!v)
        return LW_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < m->tabsize; i++)
        for (struct series *s = m->tab[i]; s; s = s->next)
            v[n++] = s;
    g_cmp_nlabels = m->nlabels;
    qsort(v, n, sizeof *v, cmp_series);
    for (size_t i = 0; i < n && !rc; i++) {
        struct series *s = v[i];
        if (m->type != LW_METRIC_HISTOGRAM) {
            rc = put_sample(b, m, "", s, NULL, s->value);
            continue;
        }
        uint64_t cum = 0;
        for (size_t k = 0; k < m->nbuckets && !rc; k++) {
            char le[40];
            cum += s->buckets[k];
            /* le is formatted like a sample value, so 0.5 and 10 read naturally */
            if (m->bounds[k] == floor(m->bounds[k]) && fabs(m->bounds[k]) < 1e15)
                snprintf(le, sizeof le, "%.0f", m->bounds[k]);
            else
                fmt_shortest(m->bounds[k], le, sizeof le);
            rc = put_sample(b, m, "_bucket", s, le, (double)cum);
        }
        if (!rc)
            rc = put_sample(b, m, "_bucket", s, "+Inf", (double)s->count);
        if (!rc)
            rc = put_sample(b, m, "_sum", s, NULL, s->value);
        if (!rc)
            rc = put_sample(b, m, "_count", s, NULL, (double)s->count);
    }
    free(v);
    return rc;
}

int lw_metrics_render(struct lw_metrics *r, struct lw_buf *out)
{
    int rc = LW_OK;
    struct lw_metric **f = NULL;
    if (r && r->nfams) {
        f = malloc(r->nfams * sizeof *f);
        if (!f)
            return LW_ENOMEM;
        memcpy(f, r->fams, r->nfams * sizeof *f);
        qsort(f, r->nfams, sizeof *f, cmp_fam);
    }
    int dropped_done = 0;
    const char *dname = "leakwatch_metrics_series_dropped_total";
    size_t nf = r ? r->nfams : 0;
    for (size_t i = 0; i <= nf && !rc; i++) {
        if (!dropped_done && (i == nf || strcmp(dname, f[i]->name) < 0)) {
            rc = lw_buf_appendf(out,
                                "# HELP %s Series not created because the registry was at its "
                                "cap of %zu series.\n# TYPE %s counter\n%s %llu\n",
                                dname, r ? r->max_series : 0, dname, dname,
                                (unsigned long long)(r ? r->dropped : 0));
            dropped_done = 1;
        }
        if (i < nf && !rc)
            rc = render_family(out, f[i]);
    }
    free(f);
    return rc;
}
