/* SPDX-License-Identifier: Apache-2.0 */
/*
 * base: the few things every other module needs.
 *
 *  - enum lw_err, the single error-code space (0 = OK, negative = failure),
 *    and lw_strerror() for a short English description;
 *  - struct lw_buf, a growable byte buffer with a hard maximum size, used for
 *    everything outside data fills (HTTP bodies, files, inflated profiles):
 *    a runaway input becomes LW_ETOOBIG, never an OOM kill;
 *  - struct lw_arena, a bump allocator for objects that live and die together
 *    (one parsed profile), with a memory cap;
 *  - struct lw_strtab, string interning on top of an arena, so 100,000
 *    goroutines sharing a few hundred function names cost a few hundred
 *    strings;
 *  - lw_read_file(), bounded whole-file reads.
 *
 * DESIGN: no module below cmd/ prints or exits. Functions that can fail return
 * enum lw_err and, where a caller needs detail, fill a caller-provided
 * struct lw_errbuf with a one-line message.
 */
#ifndef LW_BASE_H
#define LW_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum lw_err {
    LW_OK = 0,
    LW_ENOMEM = -1,   /* allocation failed or a memory cap was reached */
    LW_EINVAL = -2,   /* malformed input (syntax) */
    LW_ETOOBIG = -3,  /* input larger than the configured cap */
    LW_ETRUNC = -4,   /* input ends in the middle of a record */
    LW_EFORMAT = -5,  /* not the expected kind of data at all (HTML, binary, ...) */
    LW_EIO = -6,      /* read/write/open failure; errno is kept */
    LW_ERANGE = -7,   /* a number out of range / overflow */
    LW_EEMPTY = -8,   /* no data */
    LW_ENET = -9,     /* network transfer failed */
    LW_EHTTP = -10,   /* HTTP status other than 200 */
    LW_ENOTFOUND = -11,
    LW_EUNSUPPORTED = -12,
};

/* Short static description of an lw_err value. */
const char *lw_strerror(int err);

/* A one-line error message slot; callers own it, usually on the stack. */
#define LW_ERRBUF_SIZE 512
struct lw_errbuf {
    char msg[LW_ERRBUF_SIZE];
};
/* Set msg (printf-style) and return err, for "return lw_errf(eb, LW_EINVAL, ...)".
 * eb may be NULL. */
int lw_errf(struct lw_errbuf *eb, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- bounded buffer ---------------------------------------------------- */

/* Invariant: data is NULL or NUL-terminated at data[len] (a spare byte is
 * always allocated), so text parsers may treat it as a C string; len <= max. */
struct lw_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
};
#define LW_BUF_INIT(maxbytes) { NULL, 0, 0, (maxbytes) }

void lw_buf_init(struct lw_buf *b, size_t max);
/* Append n bytes; LW_ETOOBIG (buffer unchanged) if len + n would exceed max. */
int lw_buf_append(struct lw_buf *b, const void *p, size_t n);
int lw_buf_appendf(struct lw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lw_buf_reset(struct lw_buf *b);     /* len = 0, keeps memory */
void lw_buf_release(struct lw_buf *b);   /* frees memory, keeps max */
/* Take the data; the caller owns it (free()); b is left empty. */
char *lw_buf_detach(struct lw_buf *b, size_t *len);

/* Read a whole file into b (appending), failing with LW_ETOOBIG past b->max.
 * On failure eb names the path and the reason. */
int lw_read_file(const char *path, struct lw_buf *b, struct lw_errbuf *eb);

/* ---- arena --------------------------------------------------------------- */

struct lw_arena_block;
struct lw_arena {
    struct lw_arena_block *head;
    size_t used;   /* bytes handed out + block overhead */
    size_t max;    /* cap; 0 = unlimited */
};
void lw_arena_init(struct lw_arena *a, size_t max);
/* 16-byte aligned, zeroed; NULL when the cap is reached or malloc fails. */
void *lw_arena_alloc(struct lw_arena *a, size_t n);
char *lw_arena_strndup(struct lw_arena *a, const char *s, size_t n);
void lw_arena_release(struct lw_arena *a);

/* ---- string interning ------------------------------------------------------ */

struct lw_strtab {
    struct lw_arena *arena;   /* borrowed: strings and slots live there */
    const char **slots;       /* open addressing; malloc'd */
    size_t nslots;
    size_t count;
};
void lw_strtab_init(struct lw_strtab *t, struct lw_arena *a);
/* Return the unique copy of s[0..n) (NUL-terminated); NULL on memory cap.
 * Pointers stay valid until the arena is released. */
const char *lw_strtab_intern(struct lw_strtab *t, const char *s, size_t n);
void lw_strtab_release(struct lw_strtab *t);

/* ---- small helpers ------------------------------------------------------- */

/* FNV-1a 64-bit, chainable: pass the previous value as h (start with LW_FNV_INIT). */
#define LW_FNV_INIT 0xcbf29ce484222325ULL
uint64_t lw_fnv1a(uint64_t h, const void *p, size_t n);

/* Parse a Go-style duration ("15s", "2m30s", "1h", "500ms", plain seconds "30").
 * Result in seconds (double). LW_EINVAL on junk, LW_ERANGE when absurd. */
int lw_parse_duration(const char *s, double *out_seconds);

/* Format n with thousands separators ("20,311") into out. */
const char *lw_fmt_thousands(int64_t n, char *out, size_t outlen);

/* Format a byte count with a binary suffix ("1.5 GiB"). */
const char *lw_fmt_bytes(double bytes, char *out, size_t outlen);

/* RFC 3339 UTC, seconds precision ("2026-11-26T19:30:00Z"). */
const char *lw_fmt_rfc3339(double unix_seconds, char *out, size_t outlen);

#define LW_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define LW_MIN(a, b) ((a) < (b) ? (a) : (b))
#define LW_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
