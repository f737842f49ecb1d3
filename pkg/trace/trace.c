/* SPDX-License-Identifier: Apache-2.0 */
/*
 * trace.c: index, read and write the trace directory format
 * (docs/trace-format.md). Reading is lenient where it can be (unknown files
 * are ignored, a bad profile is skipped with a warning naming the file) and
 * strict about bounds (each profile file is capped by the pprof limits,
 * usage.jsonl lines at 4 KiB and the file at 64 MiB).
 */
#include "trace/trace.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const suffixes[LW_TF_NKINDS] = {
    [LW_TF_GOROUTINE1] = "goroutine.txt",
    [LW_TF_GOROUTINE2] = "goroutine2.txt",
    [LW_TF_GOROUTINELEAK] = "goroutineleak.txt",
    [LW_TF_HEAP_PB] = "heap.pb.gz",
    [LW_TF_HEAP1] = "heap1.txt",
    [LW_TF_GOROUTINE_PB] = "goroutine.pb.gz",
};

#define TRACE_MAX_FILES 1000000
#define JSONL_MAX_FILE (64u << 20)
#define JSONL_MAX_LINE 4096

const char *lw_trace_suffix(enum lw_trace_file_kind k)
{
    return k < LW_TF_NKINDS ? suffixes[k] : "?";
}

/* "<digits>-<suffix>" -> t and kind; 0 if the name is not a trace file. */
static int parse_name(const char *name, double *t, enum lw_trace_file_kind *kind)
{
    const char *p = name;
    long long v = 0;
    int nd = 0;
    while (*p >= '0' && *p <= '9') {
        if (nd++ > 12)
            return 0;
        v = v * 10 + (*p++ - '0');
    }
    if (nd == 0 || *p != '-')
        return 0;
    p++;
    for (int k = 0; k < LW_TF_NKINDS; k++) {
        if (strcmp(p, suffixes[k]) == 0) {
            *t = (double)v;
            *kind = (enum lw_trace_file_kind)k;
            return 1;
        }
    }
    return 0;
}

static int file_cmp(const void *a, const void *b)
{
    const struct lw_trace_file *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return (int)x->kind - (int)y->kind;
}

static int point_cmp(const void *a, const void *b)
{
    const struct lw_mem_point *x = a, *y = b;
    return x->t < y->t ? -1 : x->t > y->t;
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int scan_dir(struct lw_trace *tr, const char *dir, size_t *cap, struct lw_errbuf *eb)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT || errno == ENOTDIR ? LW_ENOTFOUND
                                                   : lw_errf(eb, LW_EIO, "%s: %s", dir, strerror(errno));
    struct dirent *e;
    int rc = LW_OK;
    while ((e = readdir(d))) {
        double t;
        enum lw_trace_file_kind k;
        if (!parse_name(e->d_name, &t, &k))
            continue;
        if (tr->nfiles >= TRACE_MAX_FILES) {
            rc = lw_errf(eb, LW_ETOOBIG, "%s: more than %d trace files", dir, TRACE_MAX_FILES);
            break;
        }
        if (tr->nfiles == *cap) {
            size_t nc = *cap ? *cap * 2 : 256;
            struct lw_trace_file *nf = realloc(tr->files, nc * sizeof(*nf));
            if (!nf) {
                rc = LW_ENOMEM;
                break;
            }
            tr->files = nf;
            *cap = nc;
        }
        size_t plen = strlen(dir) + strlen(e->d_name) + 2;
        char *path = malloc(plen);
        if (!path) {
            rc = LW_ENOMEM;
            break;
        }
        snprintf(path, plen, "%s/%s", dir, e->d_name);
        tr->files[tr->nfiles++] = (struct lw_trace_file){t, k, path};
    }
    closedir(d);
    return rc;
}

/* Read DIR/name as JSON lines; call fn for each object. Missing file = OK. */
static int read_jsonl(const char *dir, const char *name,
                      int (*fn)(struct lw_trace *, const cJSON *, const char *, size_t,
                                struct lw_errbuf *),
                      struct lw_trace *tr, struct lw_errbuf *eb)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    struct stat st;
    if (stat(path, &st) != 0)
        return LW_OK;
    struct lw_buf b = LW_BUF_INIT(JSONL_MAX_FILE);
    int rc = lw_read_file(path, &b, eb);
    if (rc) {
        lw_buf_release(&b);
        return rc;
    }
    size_t lineno = 0;
    char *p = b.data, *end = b.data + b.len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        lineno++;
        if (n > JSONL_MAX_LINE) {
            rc = lw_errf(eb, LW_ETOOBIG, "%s:%zu: line longer than %d bytes", path, lineno,
                         JSONL_MAX_LINE);
            break;
        }
        size_t s = 0;
        while (s < n && (p[s] == ' ' || p[s] == '\t' || p[s] == '\r'))
            s++;
        if (s < n) {
            cJSON *j = cJSON_ParseWithLength(p, n);
            if (!j || !cJSON_IsObject(j)) {
                cJSON_Delete(j);
                rc = lw_errf(eb, LW_EINVAL, "%s:%zu: not a JSON object", path, lineno);
                break;
            }
            rc = fn(tr, j, path, lineno, eb);
            cJSON_Delete(j);
            if (rc)
                break;
        }
        p += n + (nl ? 1 : 0);
    }
    lw_buf_release(&b);
    return rc;
}

static int get_t(const cJSON *j, const char *path, size_t lineno, double *t, struct lw_errbuf *eb)
{
    const cJSON *jt = cJSON_GetObjectItemCaseSensitive(j, "t");
    if (!cJSON_IsNumber(jt) || !isfinite(jt->valuedouble) || jt->valuedouble < 0)
        return lw_errf(eb, LW_EINVAL, "%s:%zu: \"t\" must be a non-negative number (unix seconds)",
                       path, lineno);
    *t = jt->valuedouble;
    return LW_OK;
}

static int on_usage(struct lw_trace *tr, const cJSON *j, const char *path, size_t lineno,
                    struct lw_errbuf *eb)
{
    double t;
    int rc = get_t(j, path, lineno, &t, eb);
    if (rc)
        return rc;
    const cJSON *jb = cJSON_GetObjectItemCaseSensitive(j, "bytes");
    if (!cJSON_IsNumber(jb) || !isfinite(jb->valuedouble) || jb->valuedouble < 0)
        return lw_errf(eb, LW_EINVAL, "%s:%zu: \"bytes\" must be a non-negative number", path,
                       lineno);
    if ((tr->nusage & (tr->nusage - 1)) == 0) { /* grow at powers of two */
        size_t nc = tr->nusage ? tr->nusage * 2 : 64;
        struct lw_mem_point *np = realloc(tr->usage, nc * sizeof(*np));
        if (!np)
            return LW_ENOMEM;
        tr->usage = np;
    }
    tr->usage[tr->nusage++] = (struct lw_mem_point){t, jb->valuedouble};
    return LW_OK;
}

static int on_restart(struct lw_trace *tr, const cJSON *j, const char *path, size_t lineno,
                      struct lw_errbuf *eb)
{
    double t;
    int rc = get_t(j, path, lineno, &t, eb);
    if (rc)
        return rc;
    if ((tr->nrestarts & (tr->nrestarts - 1)) == 0) {
        size_t nc = tr->nrestarts ? tr->nrestarts * 2 : 8;
        double *nr = realloc(tr->restarts, nc * sizeof(*nr));
        if (!nr)
            return LW_ENOMEM;
        tr->restarts = nr;
    }
    tr->restarts[tr->nrestarts++] = t;
    return LW_OK;
}

int lw_trace_open(const char *dir, struct lw_trace *tr, struct lw_errbuf *eb)
{
    memset(tr, 0, sizeof(*tr));
    struct stat st;
    if (stat(dir, &st) != 0)
        return lw_errf(eb, LW_EIO, "%s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return lw_errf(eb, LW_EINVAL, "%s: not a directory (expected a trace directory)", dir);
    size_t cap = 0;
    int rc = scan_dir(tr, dir, &cap, eb);
    if (rc && rc != LW_ENOTFOUND)
        goto fail;
    char sub[4096];
    snprintf(sub, sizeof(sub), "%s/profiles", dir);
    rc = scan_dir(tr, sub, &cap, eb);
    if (rc && rc != LW_ENOTFOUND)
        goto fail;
    for (int pass = 0; pass < 2; pass++) {
        const char *base = pass == 0 ? dir : sub;
        if ((rc = read_jsonl(base, "usage.jsonl", on_usage, tr, eb)) != LW_OK)
            goto fail;
        if ((rc = read_jsonl(base, "restarts.jsonl", on_restart, tr, eb)) != LW_OK)
            goto fail;
    }
    if (tr->nfiles == 0 && tr->nusage == 0) {
        rc = lw_errf(eb, LW_ENOTFOUND,
                     "%s: no trace files (expected <unix-seconds>-goroutine.txt and friends, "
                     "see docs/trace-format.md)",
                     dir);
        goto fail;
    }
    if (tr->nfiles) /* qsort's pointer must not be NULL, even for 0 elements */
        qsort(tr->files, tr->nfiles, sizeof(*tr->files), file_cmp);
    if (tr->nusage)
        qsort(tr->usage, tr->nusage, sizeof(*tr->usage), point_cmp);
    if (tr->nrestarts)
        qsort(tr->restarts, tr->nrestarts, sizeof(*tr->restarts), dbl_cmp);
    return LW_OK;
fail:
    lw_trace_close(tr);
    return rc;
}

void lw_trace_close(struct lw_trace *tr)
{
    for (size_t i = 0; i < tr->nfiles; i++)
        free(tr->files[i].path);
    free(tr->files);
    free(tr->usage);
    free(tr->restarts);
    memset(tr, 0, sizeof(*tr));
}

static int is_goroutine_kind(enum lw_trace_file_kind k)
{
    return k == LW_TF_GOROUTINE1 || k == LW_TF_GOROUTINE2 || k == LW_TF_GOROUTINE_PB;
}

double *lw_trace_times(const struct lw_trace *tr, size_t *n)
{
    *n = 0;
    size_t ngor = 0;
    for (size_t i = 0; i < tr->nfiles; i++)
        ngor += is_goroutine_kind(tr->files[i].kind);
    size_t cap = tr->nfiles + (tr->nfiles ? 0 : tr->nusage) + 1;
    double *ts = malloc(cap * sizeof(*ts));
    if (!ts)
        return NULL;
    for (size_t i = 0; i < tr->nfiles; i++) {
        if (ngor && !is_goroutine_kind(tr->files[i].kind))
            continue;
        if (*n == 0 || ts[*n - 1] != tr->files[i].t)
            ts[(*n)++] = tr->files[i].t;
    }
    if (tr->nfiles == 0) /* usage-only trace */
        for (size_t i = 0; i < tr->nusage; i++)
            if (*n == 0 || ts[*n - 1] != tr->usage[i].t)
                ts[(*n)++] = tr->usage[i].t;
    return ts;
}

int lw_trace_feed(struct lw_trace *tr, struct lw_series *s, double from, double to,
                  lw_trace_warn_fn warn, void *ud)
{
    struct lw_pprof_limits lim;
    lw_pprof_limits_default(&lim);
    size_t fi = 0, ui = 0, ri = 0;
    /* three sorted streams merged by time; at equal t: restart, usage, files */
    for (;;) {
        double tf = INFINITY, tu = INFINITY, trs = INFINITY;
        while (fi < tr->nfiles && tr->files[fi].t <= from)
            fi++;
        while (ui < tr->nusage && tr->usage[ui].t <= from)
            ui++;
        while (ri < tr->nrestarts && tr->restarts[ri] <= from)
            ri++;
        if (fi < tr->nfiles && tr->files[fi].t <= to)
            tf = tr->files[fi].t;
        if (ui < tr->nusage && tr->usage[ui].t <= to)
            tu = tr->usage[ui].t;
        if (ri < tr->nrestarts && tr->restarts[ri] <= to)
            trs = tr->restarts[ri];
        if (isinf(tf) && isinf(tu) && isinf(trs))
            break;
        if (trs <= tu && trs <= tf) {
            lw_series_restart(s, trs);
            ri++;
        } else if (tu <= tf) {
            int rc = lw_series_add_usage(s, tu, tr->usage[ui].bytes);
            if (rc)
                return rc;
            ui++;
        } else {
            const struct lw_trace_file *f = &tr->files[fi++];
            struct lw_buf b = LW_BUF_INIT(lim.max_input);
            struct lw_errbuf eb = {""};
            struct lw_profile *p = NULL;
            int rc = lw_read_file(f->path, &b, &eb);
            char msg[LW_ERRBUF_SIZE + 4200];
            if (rc == LW_OK) {
                lim.goid_cut = lw_series_goid_cut(s);
                rc = lw_pprof_parse(b.data, b.len, &lim, &p, &eb);
                snprintf(msg, sizeof(msg), "%s: %s", f->path, eb.msg[0] ? eb.msg : lw_strerror(rc));
            } else {
                snprintf(msg, sizeof(msg), "%s", eb.msg); /* names the path already */
            }
            lw_buf_release(&b);
            if (rc == LW_OK) {
                rc = lw_series_add_profile(s, f->t, p);
                lw_profile_free(p);
                if (rc)
                    return rc;
            } else {
                tr->nskipped++;
                if (warn)
                    warn(ud, msg);
            }
        }
    }
    return LW_OK;
}

static int write_atomic(const char *path, const void *data, size_t len, int append,
                        struct lw_errbuf *eb)
{
    if (append) {
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0)
            return lw_errf(eb, LW_EIO, "%s: %s", path, strerror(errno));
        ssize_t w = write(fd, data, len);
        int err = errno;
        close(fd);
        if (w != (ssize_t)len)
            return lw_errf(eb, LW_EIO, "%s: write: %s", path, w < 0 ? strerror(err) : "short write");
        return LW_OK;
    }
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return lw_errf(eb, LW_EIO, "%s: %s", tmp, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int err = errno;
            close(fd);
            unlink(tmp);
            return lw_errf(eb, LW_EIO, "%s: write: %s", tmp, strerror(err));
        }
        p += w;
        left -= (size_t)w;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        return lw_errf(eb, LW_EIO, "%s: %s", path, strerror(err));
    }
    return LW_OK;
}

int lw_trace_write_file(const char *dir, long t, enum lw_trace_file_kind k, const void *data,
                        size_t len, struct lw_errbuf *eb)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%ld-%s", dir, t, lw_trace_suffix(k));
    return write_atomic(path, data, len, 0, eb);
}

int lw_trace_append_usage(const char *dir, long t, int64_t bytes, struct lw_errbuf *eb)
{
    char path[4096], line[96];
    snprintf(path, sizeof(path), "%s/usage.jsonl", dir);
    int n = snprintf(line, sizeof(line), "{\"t\": %ld, \"bytes\": %lld}\n", t, (long long)bytes);
    return write_atomic(path, line, (size_t)n, 1, eb);
}
