/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pprof: parsers for the Go runtime's goroutine and heap profiles, in every
 * format /debug/pprof serves, into one in-memory model (struct lw_profile).
 *
 * Formats (see ../shared/docs/pprof-formats.md):
 *   - goroutine ?debug=1 text: grouped stacks with counts and labels;
 *   - goroutine ?debug=2 text: one block per goroutine with state, wait
 *     minutes, frames with file:line, `created by` (pre-1.21 and
 *     "in goroutine N" forms), "...additional frames elided..." and the 1.21+
 *     "...N frames elided..." marker;
 *   - profile.proto, gzip'd or plain: goroutine, goroutineleak, heap (all four
 *     sample types, unsampled the way pprof does);
 *   - heap ?debug=1 text, including the "# runtime.MemStats" trailer.
 * lw_pprof_parse() sniffs the format from the first bytes.
 *
 * Model: a profile is a list of stacks. A stack is one group of goroutines
 * (debug=1, proto) or one set of goroutines with identical frames, creator
 * and state (debug=2, aggregated while parsing), or one heap allocation site
 * (heap formats). Frames are leaf first. A stack is a 48-byte record of
 * what all stacks have (frames, labels, count, flags); the fields only
 * debug=2 stacks (creator, state, wait minutes) and heap stacks (in-use
 * bytes, allocations) have are in a side record (struct lw_stack_ext) read
 * through accessors such as lw_stack_state(s), so the many stacks of a
 * debug=1 or proto goroutine profile do not carry them. All strings are
 * interned in the profile's own arena; everything is freed by
 * lw_profile_free().
 *
 * Lifetime of a profile.proto's input: the profile keeps the inflated proto
 * bytes as its backing store for as long as it lives (its stacks' frame
 * indices and label sets may refer to them in place), so a proto profile
 * holds its input until lw_profile_free(). When the bytes are already the
 * parser's own (inflated from gzip, or gathered by a stream, a file or an fd)
 * the profile takes them over without a copy; plain proto bytes passed to
 * lw_pprof_parse() or lw_pprof_parse_proto() are copied once, so the caller's
 * buffer may be freed after the call. A stack's label text is read with
 * lw_stack_labels() (a proto stack's is formatted from its sample on demand).
 *
 * Bounds: every parser is linear in its input and bounded by struct
 * lw_pprof_limits (input bytes, inflated bytes, arena bytes, frames per
 * stack, stacks); exceeding one is LW_ETOOBIG / LW_ENOMEM, never a crash.
 */
#ifndef LW_PPROF_H
#define LW_PPROF_H

#include "base/base.h"

#include <stdbool.h>
#include <stdint.h>

enum lw_prof_kind {
    LW_KIND_UNKNOWN = 0,
    LW_KIND_GOROUTINE,
    LW_KIND_GOROUTINELEAK,
    LW_KIND_HEAP,
};

enum lw_prof_format {
    LW_FMT_UNKNOWN = 0,
    LW_FMT_DEBUG1,   /* goroutine/goroutineleak ?debug=1 */
    LW_FMT_DEBUG2,   /* goroutine ?debug=2 traceback dump */
    LW_FMT_PROTO,    /* profile.proto (gzip'd or plain) */
    LW_FMT_HEAP1,    /* heap ?debug=1 */
};

struct lw_frame {
    const char *func;   /* "net/http.(*persistConn).readLoop"; never NULL ("?" if unknown) */
    const char *file;   /* may be NULL */
    int line;           /* 0 if unknown */
};

enum lw_stack_flags {
    LW_STACK_ELIDED = 1 << 0,     /* frames were elided by the runtime (debug=2) */
    LW_STACK_TRUNCATED = 1 << 1,  /* we dropped frames past limits.max_frames */
    LW_STACK_LEAKED = 1 << 2,     /* "(leaked)" status or goroutineleak profile */
    LW_STACK_LABELS_PROTO = 1 << 3, /* labels_ is the stack's proto sample, not text (private:
                                     * read the labels with lw_stack_labels) */
};

/* The fields only some stacks have: debug=2 goroutine groups (creator,
 * state, wait minutes) and heap allocation sites (the other three values).
 * A stack points at one (lw_stack.ext) or has none (NULL: debug=1 and proto
 * goroutine stacks), and is read through the lw_stack_* accessors below,
 * which give the defaults of a stack without one. Stacks built by hand may
 * point ext at a record they own. */
struct lw_stack_ext {
    const char *created_by;    /* creator function (debug=2), else NULL */
    const char *created_by_file;
    const char *state;         /* debug=2 wait reason/status, e.g. "IO wait", "chan send"; else NULL */
    int64_t max_wait_minutes;  /* debug=2: longest "N minutes" among the goroutines; -1 unknown */
    int64_t min_wait_minutes;  /* debug=2: shortest (0 when any has no minutes); -1 unknown */
    int64_t min_goid, max_goid; /* debug=2: smallest and largest goroutine id among them; -1 unknown */
    int64_t old_goroutines;    /* debug=2 parsed with a goid_cut: how many have an id <= the cut; -1 unknown */
    /* heap only (unsampled): */
    int64_t inuse_bytes;
    int64_t alloc_objects;
    int64_t alloc_bytes;
    int created_by_line;       /* 0 if unknown */
};

/* A stack's frames, leaf first, are read with lw_stack_frame(s, i) for
 * i < nframes, its labels with lw_stack_labels(). Two frame layouts:
 *   - fidx == NULL: ftab is the stack's own array of nframes frames (the text
 *     parsers; stacks built by hand);
 *   - fidx != NULL: frame i is ftab[fidx[i]], ftab being a frame table shared
 *     by the profile's stacks (profile.proto: one entry per location line),
 *     fidx an array of fidx_size-byte unsigned indices (1, 2 or 4: the
 *     smallest that numbers the profile's frame table, so a stack of a
 *     profile with at most 256 location lines costs 1 byte a frame, not 24,
 *     as its location ids do). When a proto's location ids are exactly 1..N
 *     in order with N <= 127, each packed location id is one byte equal to
 *     the id: a stack whose locations are one frame each (no inlined call)
 *     and which max_frames did not cut then has fidx pointing at its
 *     sample's location ids in the profile's backing store (fidx_size 1) and
 *     ftab at a table whose entry i is location i's frame (entry 0 unused):
 *     no index array is copied. Other stacks get a copied index array.
 * Both may be shared between stacks and with the profile's input: treat them
 * as read-only, and valid only while the profile lives.
 * The record is 48 bytes (on LP64): what every stack has; the rest is in ext. */
struct lw_stack {
    const struct lw_frame *ftab;
    const void *fidx;
    const char *labels_;       /* private: label set (read it with lw_stack_labels), else NULL */
    int64_t count;             /* goroutines in this group; heap: in-use objects (unsampled) */
    const struct lw_stack_ext *ext; /* debug=2 and heap fields; NULL = none (all unknown/zero) */
    uint32_t nframes;
    uint16_t flags;            /* enum lw_stack_flags */
    uint8_t fidx_size;         /* bytes per fidx entry: 1, 2 or 4 (only read when fidx != NULL) */
    uint8_t spare_;            /* reserved */
};
#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(struct lw_stack) == 48, "struct lw_stack must stay 48 bytes");
#endif

/* The ext fields, or their defaults when the stack has no ext. */
static inline const char *lw_stack_created_by(const struct lw_stack *s)
{
    return s->ext ? s->ext->created_by : NULL;
}
static inline const char *lw_stack_created_by_file(const struct lw_stack *s)
{
    return s->ext ? s->ext->created_by_file : NULL;
}
static inline int lw_stack_created_by_line(const struct lw_stack *s)
{
    return s->ext ? s->ext->created_by_line : 0;
}
static inline const char *lw_stack_state(const struct lw_stack *s)
{
    return s->ext ? s->ext->state : NULL;
}
static inline int64_t lw_stack_max_wait(const struct lw_stack *s)
{
    return s->ext ? s->ext->max_wait_minutes : -1;
}
static inline int64_t lw_stack_min_wait(const struct lw_stack *s)
{
    return s->ext ? s->ext->min_wait_minutes : -1;
}
/* debug=2: the smallest and largest goroutine id the stack holds, -1 unknown */
static inline int64_t lw_stack_min_goid(const struct lw_stack *s)
{
    return s->ext ? s->ext->min_goid : -1;
}
static inline int64_t lw_stack_max_goid(const struct lw_stack *s)
{
    return s->ext ? s->ext->max_goid : -1;
}
/* debug=2 parsed with limits.goid_cut: how many of its goroutines have an
 * id at or below the cut (they existed when the previous dump was taken);
 * -1 unknown */
static inline int64_t lw_stack_old_goroutines(const struct lw_stack *s)
{
    return s->ext ? s->ext->old_goroutines : -1;
}
static inline int64_t lw_stack_inuse_bytes(const struct lw_stack *s)
{
    return s->ext ? s->ext->inuse_bytes : 0;
}
static inline int64_t lw_stack_alloc_objects(const struct lw_stack *s)
{
    return s->ext ? s->ext->alloc_objects : 0;
}
static inline int64_t lw_stack_alloc_bytes(const struct lw_stack *s)
{
    return s->ext ? s->ext->alloc_bytes : 0;
}
/* An ext with every field at its default (waits -1), for stacks built by
 * hand: start from it and set what is known. */
#define LW_STACK_EXT_INIT                                                                        \
    {.max_wait_minutes = -1, .min_wait_minutes = -1, .min_goid = -1, .max_goid = -1,             \
     .old_goroutines = -1}

/* Selected runtime.MemStats values from the heap ?debug=1 trailer (bytes). */
struct lw_memstats {
    bool present;
    int64_t alloc, total_alloc, sys, heap_alloc, heap_sys, heap_idle, heap_inuse,
        heap_released, heap_objects, stack_inuse, stack_sys, mspan_inuse, mcache_inuse,
        gc_sys, other_sys, next_gc, num_gc, max_rss;
};

struct lw_profile {
    enum lw_prof_kind kind;
    enum lw_prof_format format;
    int64_t total;             /* goroutines (header "total N" / sum); heap: in-use bytes */
    struct lw_stack *stacks;
    size_t nstacks;
    int64_t heap_sample_rate;  /* heap: bytes (MemProfileRate); 0 otherwise */
    int64_t time_nanos;        /* proto time_nanos, 0 if absent */
    struct lw_memstats memstats;
    int go_version_hint;       /* 121 when a 1.21+ marker was seen ("in goroutine N"), else 0 */
    int64_t max_goid;          /* debug=2: the largest goroutine id in the dump, else -1 */
    int64_t goid_cut;          /* debug=2: the limits.goid_cut it was parsed with (0 none) */
    /* private */
    struct lw_arena arena;     /* arena.used also counts frame slabs */
    struct lw_strtab strtab;
    void *slabs;               /* frame arrays and proto index arrays (pprof.c) */
    size_t frames_bytes;       /* bytes of slabs */
    void *src;                 /* proto: the inflated input, owned (the backing store) */
    size_t src_len;
    uint32_t *stroff;          /* proto with labels: byte offset of each string_table entry */
    size_t nstr;
};

struct lw_pprof_limits {
    size_t max_input;      /* bytes of raw input accepted (default 512 MiB) */
    size_t max_inflated;   /* bytes after gunzip (default 512 MiB) */
    size_t max_arena;      /* memory for the model (default 1 GiB) */
    uint32_t max_frames;   /* frames kept per stack (default 256); deeper ones are cut, flagged */
    size_t max_stacks;     /* distinct stacks (default 1,000,000) */
    int64_t goid_cut;      /* debug=2: count per stack the goroutines whose id is at or below
                            * this (lw_stack_old_goroutines); give the largest id of the
                            * previous dump (lw_series_goid_cut). 0 (default): none */
};
void lw_pprof_limits_default(struct lw_pprof_limits *l);

/* Guess the format from the first bytes (see pprof-formats.md §2.4).
 * Returns LW_FMT_UNKNOWN for HTML, error pages and junk. */
enum lw_prof_format lw_pprof_sniff(const void *data, size_t len);

/*
 * Parse one profile of any supported format. limits may be NULL (defaults).
 * On success *out is a new profile the caller owns (lw_profile_free).
 * On failure returns an lw_err, *out is NULL and eb says what was wrong and
 * where (line number or byte offset), e.g. "line 12: frame line without a
 * count line" or "looks like HTML (wrong port or path?)".
 */
int lw_pprof_parse(const void *data, size_t len, const struct lw_pprof_limits *limits,
                   struct lw_profile **out, struct lw_errbuf *eb);

/* The individual parsers, same contract; data need not be NUL-terminated. */
int lw_pprof_parse_debug1(const char *data, size_t len, const struct lw_pprof_limits *limits,
                          struct lw_profile **out, struct lw_errbuf *eb);
int lw_pprof_parse_debug2(const char *data, size_t len, const struct lw_pprof_limits *limits,
                          struct lw_profile **out, struct lw_errbuf *eb);
int lw_pprof_parse_proto(const void *data, size_t len, const struct lw_pprof_limits *limits,
                         struct lw_profile **out, struct lw_errbuf *eb);
int lw_pprof_parse_heap1(const char *data, size_t len, const struct lw_pprof_limits *limits,
                         struct lw_profile **out, struct lw_errbuf *eb);

void lw_profile_free(struct lw_profile *p);

/* ---- streaming (stream.c) ---------------------------------------------------
 *
 * Parse a profile fed in chunks of any size, as it is read: memory follows
 * the model (distinct stacks and strings), not the input, for the text
 * formats (gzip'd or not). profile.proto and inputs that are not a profile
 * are kept whole (up to limits.max_input) and parsed at the end, since a
 * proto's string table comes last; a proto's (inflated) bytes then become
 * the profile's backing store, without a copy. The result is the one lw_pprof_parse()
 * gives on the concatenated bytes, except that one text line may not exceed
 * LW_PPROF_STREAM_LINE_MAX bytes (LW_ETOOBIG).
 *
 *   lw_pprof_stream_new(limits, &s, eb);          limits may be NULL
 *   while (more) rc = lw_pprof_stream_feed(s, buf, n, eb);  stop on error
 *   rc = lw_pprof_stream_finish(s, &profile, eb);
 *   lw_pprof_stream_free(s);                     always, also after errors
 *
 * Errors are sticky: after one, feed and finish return it again (eb says
 * what); finish may be called once.
 */
#define LW_PPROF_STREAM_LINE_MAX ((size_t)16 << 20)
struct lw_pprof_stream;
int lw_pprof_stream_new(const struct lw_pprof_limits *limits, struct lw_pprof_stream **out,
                        struct lw_errbuf *eb);
int lw_pprof_stream_feed(struct lw_pprof_stream *s, const void *data, size_t len,
                         struct lw_errbuf *eb);
int lw_pprof_stream_finish(struct lw_pprof_stream *s, struct lw_profile **out,
                           struct lw_errbuf *eb);
void lw_pprof_stream_free(struct lw_pprof_stream *s);

/* Read fd to its end in 256 KiB chunks through a stream. Read errors are
 * LW_EIO ("read: ..."). The fd is not closed. */
int lw_pprof_parse_fd(int fd, const struct lw_pprof_limits *limits, struct lw_profile **out,
                      struct lw_errbuf *eb);
/* Open and stream one file; open/read errors are LW_EIO and name the path,
 * parse errors do not (as lw_pprof_parse). */
int lw_pprof_parse_file(const char *path, const struct lw_pprof_limits *limits,
                        struct lw_profile **out, struct lw_errbuf *eb);

const char *lw_prof_kind_name(enum lw_prof_kind k);     /* "goroutine", "goroutineleak", "heap" */
const char *lw_prof_format_name(enum lw_prof_format f); /* "debug1", "debug2", "proto", "heap1" */

/* Frame i (< s->nframes) of stack s, leaf first. */
static inline const struct lw_frame *lw_stack_frame(const struct lw_stack *s, uint32_t i)
{
    if (!s->fidx)
        return &s->ftab[i];
    if (s->fidx_size == 1)
        return &s->ftab[((const uint8_t *)s->fidx)[i]];
    if (s->fidx_size == 2)
        return &s->ftab[((const uint16_t *)s->fidx)[i]];
    return &s->ftab[((const uint32_t *)s->fidx)[i]];
}

/* True when stack s has a label set. */
static inline bool lw_stack_has_labels(const struct lw_stack *s)
{
    return s->labels_ != NULL;
}

/*
 * Append stack s's label set to out as text, the way the goroutine ?debug=1
 * format prints it: `{"k":"v", "k2":"v2"}` (debug=1 and debug=2 stacks: the
 * text as read; proto: formatted on demand from the stack's sample and the
 * string table of p, its profile, string labels only, Go %q quoting, pairs
 * sorted by their text, at most 16 MiB, as the parse checked). Appends
 * nothing when the stack has no labels. Returns LW_OK, LW_ETOOBIG when out's
 * max would be passed (out unchanged) or LW_ENOMEM. p may be NULL for
 * stacks not from a proto.
 */
int lw_stack_labels(const struct lw_profile *p, const struct lw_stack *s, struct lw_buf *out);

/* ---- stack identity and classification (stack.c) --------------------------
 *
 * Identity rule (the full rule and its reasons: docs/stack-identity.md): a
 * stack's identity is a hash of the *function names* of its frames, never
 * PCs, files or lines, so it survives restarts and rebuilds, and the same
 * goroutines hash alike whether they came from debug=1, debug=2 or proto:
 *   1. leading runtime frames are skipped (runtime and internal/runtime
 *      functions, and "panic" as debug=2 prints runtime.gopanic), as debug=1
 *      hides them; further in, unexported runtime frames and runtime.goexit
 *      are skipped too, as debug=2 hides them;
 *   2. generic instantiations are normalised: "F[go.shape.int]" -> "F[...]";
 *   3. at most LW_IDENTITY_FRAMES frames from the leaf are used (debug=1 keeps
 *      only the innermost 32 PCs on Go < 1.23, and inlining expands them);
 *   4. `created by` is NOT part of the identity (debug=1/proto lack it), and
 *      neither are labels or state.
 * If step 1 leaves nothing, the runtime frames are used instead.
 */
#define LW_IDENTITY_FRAMES 24
uint64_t lw_stack_identity(const struct lw_stack *s);

/* True for frames of the Go runtime and standard library: the first path
 * element is one of the standard library's top-level directories
 * ("net/http.x", "runtime.gopark", "internal/poll.x"); "main.x",
 * "golang.org/x/...", "github.com/..." and dot-less module paths such as
 * "myservice/db.F" are not std. */
bool lw_func_is_std(const char *func);
/* True for runtime internals: "runtime.", "internal/runtime/", "panic". */
bool lw_func_is_runtime(const char *func);

/* Index of the leaf frame after skipping runtime frames (0 if none). */
uint32_t lw_stack_leaf_index(const struct lw_stack *s);
/* First frame outside the runtime and standard library, scanning leaf to
 * root; if none, NULL (callers then fall back to created_by). */
const struct lw_frame *lw_stack_user_frame(const struct lw_stack *s);

#endif
