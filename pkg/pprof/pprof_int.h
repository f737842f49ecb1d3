/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pprof_int.h: private helpers shared by the pprof parsers: building a
 * struct lw_profile (arena-backed, interned strings) and a growable stack
 * list with caps from struct lw_pprof_limits.
 */
#ifndef LW_PPROF_INT_H
#define LW_PPROF_INT_H

#include "pprof/pprof.h"

/* New empty profile with arena capped at limits->max_arena; NULL on ENOMEM. */
struct lw_profile *lw__profile_new(enum lw_prof_kind kind, enum lw_prof_format fmt,
                                   const struct lw_pprof_limits *limits);
/* Intern a string in the profile (NULL on memory cap). */
const char *lw__profile_intern(struct lw_profile *p, const char *s, size_t n);
/* Append a zeroed stack (no ext); NULL when max_stacks or the memory cap is
 * reached. The returned pointer is valid until the next call (the array may
 * move). */
struct lw_stack *lw__profile_add_stack(struct lw_profile *p, const struct lw_pprof_limits *limits);
/* The writable ext of s, made on first use from the profile's memory
 * (counted against max_arena; zeroed, waits -1), and stable for the
 * profile's life; NULL at the memory cap. */
struct lw_stack_ext *lw__stack_ext(struct lw_profile *p, struct lw_stack *s);
/* Memory for n frames (not zeroed), counted against max_arena; NULL at the
 * cap. It comes from slabs that grow with the profile (16 KiB doubling to
 * 1 MiB, mmap'd from 64 KiB, so a small profile is not rounded up to
 * megabytes); once a profile holds 4 MiB of such memory, further slabs are
 * 2 MiB transparent huge pages: a profile of 16,384 distinct deep text
 * stacks writes 10 MB of frames, and 4 KiB page faults were a third of its
 * parse time. */
struct lw_frame *lw__profile_frames(struct lw_profile *p, size_t n);
/* The same for any bytes, aligned to align (a power of two, at most 8):
 * proto frame index arrays (1, 2 or 4 bytes an index). */
void *lw__profile_bytes(struct lw_profile *p, size_t bytes, size_t align);
/* lw__profile_bytes(p, bytes, 8) */
void *lw__profile_mem(struct lw_profile *p, size_t bytes);
/* Make room for n stacks at once when their number is known (a hint: does
 * nothing past the memory cap or on failure); an array of 4 MiB or more is
 * made of huge pages. */
void lw__profile_reserve_stacks(struct lw_profile *p, const struct lw_pprof_limits *limits,
                                size_t n);
/* Copy frames into the profile's arena and attach them to s. */
int lw__stack_set_frames(struct lw_profile *p, struct lw_stack *s, const struct lw_frame *f,
                         uint32_t n);



/* ---- profile.proto (proto.c) ------------------------------------------------
 * lw_pprof_parse_proto() on in's bytes (plain or gzip'd), whose plain bytes
 * the profile takes over as its backing store (no copy: in is left empty);
 * on failure in may still hold its bytes (the caller releases in). lim must
 * be resolved. */
int lw__proto_parse_owned(struct lw_buf *in, const struct lw_pprof_limits *lim,
                          struct lw_profile **out, struct lw_errbuf *eb);
/* lw_stack_labels() for a stack with LW_STACK_LABELS_PROTO: format its
 * sample's string labels; LW_EINVAL if s is not one of p's stacks. */
int lw__proto_labels(const struct lw_profile *p, const struct lw_stack *s, struct lw_buf *out);

/* Inflate a gzip stream (one or more members) into out, which must have
 * out->max set: LW_ETOOBIG past it (gzip bombs stop there), LW_ETRUNC for a
 * cut stream, LW_EFORMAT for a bad header/CRC. eb says which. (gunzip.c) */
int lw__gunzip(const void *data, size_t len, struct lw_buf *out, struct lw_errbuf *eb);
static inline int lw__is_gzip(const void *data, size_t len)
{
    const unsigned char *d = data;
    return len >= 2 && d[0] == 0x1f && d[1] == 0x8b;
}
/* ---- text parser helpers (textutil.c; used by the text parsers) ---------- */

/* Limits to use, in tmp: *l with its zero fields (and all of them when l is
 * NULL) replaced by the defaults. Returns tmp. */
const struct lw_pprof_limits *lw__limits(const struct lw_pprof_limits *l,
                                         struct lw_pprof_limits *tmp);

/* Line reader over a buffer that need not be NUL-terminated. */
struct lw__lines {
    const char *p, *end;
    size_t lineno;   /* number of the line last returned, 1-based */
    int last_had_lf; /* 0 when the last line returned ended at EOF without LF */
};
static inline void lw__lines_init(struct lw__lines *r, const char *data, size_t len)
{
    r->p = data;
    r->end = data + len;
    r->lineno = 0;
    r->last_had_lf = 1;
}
/* Next line without its LF and one trailing CR; 0 at end of input. */
int lw__next_line(struct lw__lines *r, const char **s, size_t *n);

/* Decimal integers from s[0..n): *used gets the digits consumed (0 = none).
 * LW_ERANGE on overflow. */
int lw__parse_u64(const char *s, size_t n, uint64_t *v, size_t *used);
int lw__parse_i64(const char *s, size_t n, int64_t *v, size_t *used);

/* Frame arrays shared between stacks: identical arrays (same interned
 * func/file pointers and lines) are stored once, so stacks from the text
 * parsers may point at the same frames: treat s->ftab as read-only. */
struct lw__frameset {
    struct lw__fsent *slots;
    size_t nslots, count;
};
/* Attach a copy (or an existing identical array) of f[0..n) to s. */
int lw__frames_store(struct lw_profile *p, struct lw__frameset *fs, struct lw_stack *s,
                     const struct lw_frame *f, uint32_t n);
/* The same with h = lw__frames_hash(0, f, n) already computed. */
int lw__frames_store_h(struct lw_profile *p, struct lw__frameset *fs, struct lw_stack *s,
                       const struct lw_frame *f, uint32_t n, uint64_t h);
void lw__frameset_free(struct lw__frameset *fs);
/* Hash of a frame array by interned pointers and lines (fast, not stable
 * across runs: for in-memory tables only). */
uint64_t lw__frames_hash(uint64_t h, const struct lw_frame *f, uint32_t n);

/* Growable scratch array of frames for one stack being parsed. */
struct lw__framebuf {
    struct lw_frame *f;
    uint32_t n, cap;
};
int lw__framebuf_push(struct lw__framebuf *b, const struct lw_frame *f);
void lw__framebuf_free(struct lw__framebuf *b);

/* A small direct-mapped cache in front of lw__profile_intern: a hit costs
 * one memcmp against the interned copy instead of hashing the whole string
 * (the input may be a reused stream chunk). NULL cache = plain interning. */
struct lw__icache;
struct lw__icache *lw__icache_new(void);
void lw__icache_free(struct lw__icache *c);

/* LW_ETOOBIG with the usual message when len passes lim->max_input. */
int lw__check_input_size(size_t len, const struct lw_pprof_limits *lim, struct lw_errbuf *eb);
/* The common start of the text parsers: check the input size, then make an
 * empty profile of kind/fmt and an intern cache. On failure nothing is left
 * allocated and eb says why. */
int lw__text_start(size_t len, const struct lw_pprof_limits *lim, enum lw_prof_kind kind,
                   enum lw_prof_format fmt, struct lw_profile **p, struct lw__icache **ic,
                   struct lw_errbuf *eb);
const char *lw__intern_cached(struct lw_profile *p, struct lw__icache *c, const char *s,
                              size_t n);

/* A "#<TABs>0xPC<TABs>FUNC+0xOFF<TABs>FILE:LINE" frame comment (s starts after
 * the '#'; debug=1 and heap debug=1): fields split on TAB runs, "+0xOFF"
 * stripped, line split at the last ':'. The short "#<TAB>0xPC" form gives
 * func "?". LW_EINVAL when there is no 0x address, LW_ENOMEM on the cap. */
int lw__parse_frame_comment(struct lw_profile *p, struct lw__icache *c, const char *s, size_t n,
                            struct lw_frame *out);

/* A text parser driven one line at a time, so the same code parses a whole
 * buffer (lw__text_run) and a stream fed in chunks (stream.c).
 *   start: new parser state (NULL on failure, *rc and eb say why); lim must
 *          be resolved (lw__limits) and, like eb, outlive the state;
 *   line:  one line without its LF (and one CR before it); had_lf is 0 only
 *          for a last line that ended at EOF without LF; lineno is 1-based;
 *   end:   always frees the state; with rc == LW_OK it finishes the profile
 *          into *out (len is the total input length), else returns rc. */
struct lw__textops {
    void *(*start)(const struct lw_pprof_limits *lim, struct lw_errbuf *eb, int *rc);
    int (*line)(void *st, const char *s, size_t n, size_t lineno, int had_lf);
    int (*end)(void *st, int rc, size_t lineno, size_t len, struct lw_profile **out);
};
extern const struct lw__textops lw__debug1_ops, lw__debug2_ops, lw__heap1_ops;
/* Run ops over a whole buffer (no copy): check the input size, split lines. */
int lw__text_run(const struct lw__textops *ops, const char *data, size_t len,
                 const struct lw_pprof_limits *limits, struct lw_profile **out,
                 struct lw_errbuf *eb);
/* The whole-buffer dispatcher behind lw_pprof_parse (sniff.c); depth counts
 * gzip layers already removed. lim must be resolved. */
int lw__dispatch(const char *d, size_t n, const struct lw_pprof_limits *lim,
                 struct lw_profile **out, struct lw_errbuf *eb, int depth);
/* The same on bytes the caller owns in b: a (gzip'd) proto's plain bytes are
 * taken over by the profile (lw__proto_parse_owned) instead of copied. The
 * caller still releases b (it may have been emptied). */
int lw__dispatch_owned(struct lw_buf *b, const struct lw_pprof_limits *lim,
                       struct lw_profile **out, struct lw_errbuf *eb, int depth);
/* The text parser for a sniffed body, or NULL (sniff.c): what dispatch
 * would pick for a body starting with these bytes (after whitespace). */
const struct lw__textops *lw__text_ops_for(const unsigned char *d, size_t n);
/* Bytes of leading whitespace (and a UTF-8 BOM) sniffing skips. */
size_t lw__skip_ws(const unsigned char *d, size_t n);

/* Human-readable reason why data is not a profile (sniff.c), for eb. */
int lw__explain_unknown(const void *data, size_t len, struct lw_errbuf *eb);
#endif
