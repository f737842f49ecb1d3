/* SPDX-License-Identifier: Apache-2.0 */
/* base.c: error strings, bounded buffers, arena, string table, helpers. */
#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *lw_strerror(int err)
{
    switch (err) {
    case LW_OK: return "ok";
    case LW_ENOMEM: return "out of memory or memory cap reached";
    case LW_EINVAL: return "malformed input";
    case LW_ETOOBIG: return "input too large";
    case LW_ETRUNC: return "input truncated";
    case LW_EFORMAT: return "unrecognised data format";
    case LW_EIO: return "I/O error";
    case LW_ERANGE: return "number out of range";
    case LW_EEMPTY: return "empty input";
    case LW_ENET: return "network error";
    case LW_EHTTP: return "unexpected HTTP status";
    case LW_ENOTFOUND: return "not found";
    case LW_EUNSUPPORTED: return "unsupported";
    default: return "unknown error";
    }
}

int lw_errf(struct lw_errbuf *eb, int err, const char *fmt, ...)
{
    if (eb) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(eb->msg, sizeof(eb->msg), fmt, ap);
        va_end(ap);
    }
    return err;
}

/* ---- lw_buf ---- */

void lw_buf_init(struct lw_buf *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

static int buf_grow(struct lw_buf *b, size_t need)
{
    if (need + 1 <= b->cap)
        return LW_OK;
    size_t ncap = b->cap ? b->cap : 4096;
    while (ncap < need + 1) {
        if (ncap > SIZE_MAX / 2)
            return LW_ENOMEM;
        ncap *= 2;
    }
    if (b->max && ncap > b->max + 1)
        ncap = b->max + 1;
    char *p = realloc(b->data, ncap);
    if (!p)
        return LW_ENOMEM;
    b->data = p;
    b->cap = ncap;
    return LW_OK;
}

int lw_buf_append(struct lw_buf *b, const void *p, size_t n)
{
    if (n > SIZE_MAX - b->len - 1 || (b->max && b->len + n > b->max))
        return LW_ETOOBIG;
    int rc = buf_grow(b, b->len + n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return LW_OK;
}

int lw_buf_appendf(struct lw_buf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return LW_EINVAL;
    if ((size_t)n < sizeof(tmp))
        return lw_buf_append(b, tmp, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big)
        return LW_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = lw_buf_append(b, big, (size_t)n);
    free(big);
    return rc;
}

void lw_buf_reset(struct lw_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void lw_buf_release(struct lw_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *lw_buf_detach(struct lw_buf *b, size_t *len)
{
    char *d = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

int lw_read_file(const char *path, struct lw_buf *b, struct lw_errbuf *eb)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lw_errf(eb, LW_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return lw_errf(eb, LW_EIO, "%s: is a directory", path);
    }
    char chunk[65536];
    int rc = LW_OK;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = lw_errf(eb, LW_EIO, "%s: read: %s", path, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        rc = lw_buf_append(b, chunk, (size_t)n);
        if (rc == LW_ETOOBIG) {
            lw_errf(eb, rc, "%s: larger than the %zu-byte limit", path, b->max);
            break;
        } else if (rc) {
            lw_errf(eb, rc, "%s: %s", path, lw_strerror(rc));
            break;
        }
    }
    close(fd);
    if (rc == LW_OK && b->data == NULL)
        rc = lw_buf_append(b, "", 0); /* keep the NUL-terminated invariant */
    return rc;
}

/* ---- arena ---- */

struct lw_arena_block {
    struct lw_arena_block *next;
    size_t size;
    size_t off;
    _Alignas(16) unsigned char mem[];
};

void lw_arena_init(struct lw_arena *a, size_t max)
{
    a->head = NULL;
    a->used = 0;
    a->max = max;
}

void *lw_arena_alloc(struct lw_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0)
        n = 16;
    struct lw_arena_block *b = a->head;
    if (!b || b->size - b->off < n) {
        /* Blocks grow geometrically, 4 KiB to 64 KiB: an arena that holds
         * a few strings (one per pod series in the controller) must not
         * cost 64 KiB (bench/fleet: 1,000 pods x 64 KiB was 40% of the heap). */
        size_t bs = 4 * 1024;
        for (const struct lw_arena_block *q = b; q && bs < 64 * 1024; q = q->next)
            bs *= 2;
        if (n > 16 * 1024)
            bs = n; /* big objects get a block of their own */
        else
            while (bs < 4 * n)
                bs *= 2; /* <= 64 KiB */
        size_t total = sizeof(*b) + bs;
        if (a->max && a->used + total > a->max)
            return NULL;
        struct lw_arena_block *nb = malloc(total);
        if (!nb)
            return NULL;
        nb->size = bs;
        nb->off = 0;
        a->used += total;
        if (b && bs == n && b->size - b->off >= 256) {
            /* keep the partly used head block current */
            nb->next = b->next;
            b->next = nb;
            memset(nb->mem, 0, n);
            nb->off = n;
            return nb->mem;
        }
        nb->next = b;
        a->head = b = nb;
    }
    void *p = b->mem + b->off;
    b->off += n;
    memset(p, 0, n);
    return p;
}

char *lw_arena_strndup(struct lw_arena *a, const char *s, size_t n)
{
    char *p = lw_arena_alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void lw_arena_release(struct lw_arena *a)
{
    struct lw_arena_block *b = a->head;
    while (b) {
        struct lw_arena_block *n = b->next;
        free(b);
        b = n;
    }
    a->head = NULL;
    a->used = 0;
}

/* ---- strtab ---- */

void lw_strtab_init(struct lw_strtab *t, struct lw_arena *a)
{
    t->arena = a;
    t->slots = NULL;
    t->nslots = 0;
    t->count = 0;
}

static size_t strtab_find(const char **slots, size_t nslots, const char *s, size_t n, uint64_t h)
{
    size_t i = (size_t)h & (nslots - 1);
    for (;;) {
        const char *c = slots[i];
        if (!c || (strncmp(c, s, n) == 0 && c[n] == '\0'))
            return i;
        i = (i + 1) & (nslots - 1);
    }
}

const char *lw_strtab_intern(struct lw_strtab *t, const char *s, size_t n)
{
    if (memchr(s, '\0', n))
        n = strlen(s); /* embedded NUL: intern the prefix */
    if ((t->count + 1) * 2 > t->nslots) {
        size_t nn = t->nslots ? t->nslots * 2 : 256;
        const char **ns = calloc(nn, sizeof(*ns));
        if (!ns)
            return NULL;
        for (size_t i = 0; i < t->nslots; i++) {
            const char *c = t->slots[i];
            if (c) {
                size_t cl = strlen(c);
                ns[strtab_find(ns, nn, c, cl, lw_fnv1a(LW_FNV_INIT, c, cl))] = c;
            }
        }
        free(t->slots);
        t->slots = ns;
        t->nslots = nn;
    }
    uint64_t h = lw_fnv1a(LW_FNV_INIT, s, n);
    size_t i = strtab_find(t->slots, t->nslots, s, n, h);
    if (t->slots[i])
        return t->slots[i];
    char *c = lw_arena_strndup(t->arena, s, n);
    if (!c)
        return NULL;
    t->slots[i] = c;
    t->count++;
    return c;
}

void lw_strtab_release(struct lw_strtab *t)
{
    free(t->slots);
    t->slots = NULL;
    t->nslots = t->count = 0;
}

/* ---- helpers ---- */

uint64_t lw_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) {
        h ^= c[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

int lw_parse_duration(const char *s, double *out)
{
    if (!s || !*s)
        return LW_EINVAL;
    double total = 0;
    const char *p = s;
    int nparts = 0;
    while (*p) {
        char *end;
        errno = 0;
        if (!((*p >= '0' && *p <= '9') || *p == '.'))
            return LW_EINVAL;
        double v = strtod(p, &end);
        if (end == p || errno || !isfinite(v) || v < 0)
            return LW_EINVAL;
        p = end;
        double mul;
        if (strncmp(p, "ms", 2) == 0) { mul = 1e-3; p += 2; }
        else if (strncmp(p, "us", 2) == 0) { mul = 1e-6; p += 2; }
        else if (strncmp(p, "ns", 2) == 0) { mul = 1e-9; p += 2; }
        else if (*p == 's') { mul = 1; p++; }
        else if (*p == 'm') { mul = 60; p++; }
        else if (*p == 'h') { mul = 3600; p++; }
        else if (*p == 'd') { mul = 86400; p++; }
        else if (*p == '\0' && nparts == 0) { mul = 1; }
        else return LW_EINVAL;
        total += v * mul;
        nparts++;
    }
    if (total > 10.0 * 365 * 86400)
        return LW_ERANGE;
    *out = total;
    return LW_OK;
}

const char *lw_fmt_thousands(int64_t n, char *out, size_t outlen)
{
    char tmp[32];
    uint64_t u = n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n;
    int i = 0, digits = 0;
    do {
        if (digits && digits % 3 == 0)
            tmp[i++] = ',';
        tmp[i++] = (char)('0' + u % 10);
        u /= 10;
        digits++;
    } while (u);
    if (n < 0)
        tmp[i++] = '-';
    size_t j = 0;
    while (i > 0 && j + 1 < outlen)
        out[j++] = tmp[--i];
    if (outlen)
        out[j] = '\0';
    return out;
}

const char *lw_fmt_bytes(double bytes, char *out, size_t outlen)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    size_t u = 0;
    double v = bytes < 0 ? -bytes : bytes;
    while (v >= 1024 && u + 1 < LW_ARRAY_SIZE(units)) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, outlen, "%s%.0f B", bytes < 0 ? "-" : "", v);
    else
        snprintf(out, outlen, "%s%.1f %s", bytes < 0 ? "-" : "", v, units[u]);
    return out;
}

const char *lw_fmt_rfc3339(double unix_seconds, char *out, size_t outlen)
{
    time_t t = (time_t)unix_seconds;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, outlen, "invalid-time");
        return out;
    }
    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return out;
}
