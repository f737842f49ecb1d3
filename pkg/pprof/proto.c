/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto.c: lw_pprof_parse_proto(), the decoder for Go's profile.proto
 * (goroutine, goroutineleak and heap/allocs profiles), gzip'd or plain.
 * See ../shared/docs/pprof-formats.md §6 (wire format, what Go emits), §7
 * (goroutineleak) and §5.5 (unsampling).
 *
 * DESIGN. A minimal hand-written protobuf wire decoder (varint, LEN, fixed32
 * and fixed64 skipped, packed and unpacked repeated scalars), bounds-checked
 * at every read. runtime/pprof writes the string table last and locations
 * before the functions they name (§6.5), so the parse has three passes over
 * the inflated buffer, all linear. The buffer is the profile's backing store
 * (lw_profile.src): the profile owns it from the parse on and its stacks
 * refer to it.
 *   1. walk the top-level fields once, recording compact records: sample
 *      types, the number of samples and where the first is, locations with
 *      their lines, functions as string indices, the string table as the
 *      32-bit offset of each entry;
 *   2. resolve ids: a direct index when ids are dense 1..N (what Go writes),
 *      else a sorted (id, index) array with binary search, so hostile ids
 *      never size an allocation; expand every location into frames once
 *      (innermost inlined line first, caller last: pprof's order), with
 *      function names interned in the profile on first use, straight into
 *      the profile's frame table (struct lw_stack.ftab);
 *   3. walk the top-level fields again and decode each sample (fields may
 *      come in any order, repeated scalars packed or not), one lw_stack per
 *      sample. Its frames, leaf first, are indices into the frame table, as
 *      pprof shares Location pointers, instead of a copy of 24-byte frames:
 *        - in place, when the location ids are 1..N in order with N <= 127
 *          (each packed id is then one byte, the id), the frame table has
 *          location i's first frame at entry i (entry 0 unused, the other
 *          lines of inlined calls after entry N), and the sample's ids are
 *          one packed field naming locations of one frame each, not cut by
 *          max_frames: the stack's index array is the sample's location id
 *          bytes in the input, nothing is copied (16,384 distinct stacks of
 *          29 frames: no index array, no memo);
 *        - else copied: an array of indices of 1, 2 or 4 bytes, the fewest
 *          that number the frame table (1 for up to 256 location lines:
 *          0.5 MB for those 16,384 stacks, not 11.4 MB of frames); samples
 *          with the same frames share one array (a memo that refers to the
 *          stacks themselves, probing 8-byte slots sized from the sample
 *          count, prefetched as soon as a sample's hash is known; made only
 *          when some sample is copied).
 *      A sample's labels are checked (string indices, text caps) but not
 *      formatted: the stack refers to its sample (lw_stack.labels_, flag
 *      LW_STACK_LABELS_PROTO) and lw_stack_labels() formats them on demand
 *      from it and the string index the profile keeps (lw_profile.stroff,
 *      4 bytes a string, only for a profile with labels).
 *
 * Memory (the arrays of a big profile are the cost, more than the decoding:
 * on a VM a 4 KiB page fault costs a microsecond or two): the working arrays
 * are sized up front where the count is known and hold 32-bit offsets,
 * nothing is copied twice; the stack array and the model's arrays come in
 * 2 MiB transparent huge pages only once big (4 MiB, pprof.c), so a
 * mid-sized profile is not rounded up to them. The whole (inflated) input is
 * kept, since the string table comes last, and then kept by the profile as
 * its backing store (taken over, not copied, when the bytes are the
 * parser's own: inflated here, or gathered by a stream; the caller's plain
 * bytes are copied once): docs/benchmarks.md ("Parse speed") counts where
 * the memory of a big profile goes.
 *
 * Values: Go's proto writer already unsamples heap values
 * (runtime/pprof/protomem.go scaleHeapSample, §6.4), and google/pprof takes
 * proto values as they are, so this parser copies them unchanged; only the
 * heap ?debug=1 text needs unsampling.
 *
 * Labels: string labels read as the same text the goroutine ?debug=1 format
 * prints, `{"k":"v", "k2":"v2"}` with Go %q quoting, pairs sorted by their
 * formatted text (runtime/pprof label.go labelMap.String), so stacks from
 * both formats carry comparable label sets (lw_stack_labels). Numeric
 * labels (heap "bytes") are dropped.
 *
 * Bounds: input <= limits->max_input, inflated <= max_inflated; the
 * working arrays are proportional to the inflated size and together capped
 * at max_arena (LW_ENOMEM past it), as is the profile's own arena; frames per
 * stack are cut at max_frames (LW_STACK_TRUNCATED); a sample's label text is
 * at most SAMPLE_LABELS_MAX and the text of all samples' labels together at
 * most 64 MiB + 16 bytes per input byte (LW_ETOOBIG), since a few bytes of
 * sample can name a huge string many times: formatting every stack's labels
 * is bounded by it (the parse measures the text, it does not write it).
 *
 * Strictness follows google/pprof's CheckValid/postDecode: ids must be
 * non-zero and unique, every referenced id and string index must exist,
 * string_table[0] must be "", every sample has one value per sample type.
 */
#include "pprof/pprof_int.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---- decoding context ------------------------------------------------------ */

struct pctx {
    const uint8_t *base;      /* the whole (inflated) buffer */
    const uint8_t *bend;
    struct lw_errbuf *eb;
    size_t mem, mem_max;      /* working memory used / cap (max_arena) */
    size_t label_bytes, label_max;
};

#define OFF(c, ptr) ((size_t)((const uint8_t *)(ptr) - (c)->base))

/* Grow *a (element size esz) to hold at least need elements. */
static int vgrow(struct pctx *c, void **a, size_t *cap, size_t need, size_t esz)
{
    if (need <= *cap)
        return LW_OK;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / esz)
            return lw_errf(c->eb, LW_ENOMEM, "proto: working memory overflow");
        ncap *= 2;
    }
    size_t add = (ncap - *cap) * esz;
    if (c->mem + add > c->mem_max)
        return lw_errf(c->eb, LW_ENOMEM,
                       "proto: working memory would exceed the %zu-byte limit", c->mem_max);
    void *n = realloc(*a, ncap * esz);
    if (!n)
        return lw_errf(c->eb, LW_ENOMEM, "proto: out of memory");
    c->mem += add;
    *a = n;
    *cap = ncap;
    return LW_OK;
}

#define VEC(T)      \
    struct {        \
        T *a;       \
        size_t n;   \
        size_t cap; \
    }
#define VPUSH(c, v, val)                                                                  \
    (((v)->n < (v)->cap || vgrow((c), (void **)&(v)->a, &(v)->cap, (v)->n + 1,            \
                                 sizeof(*(v)->a)) == LW_OK)                               \
         ? ((v)->a[(v)->n++] = (val), LW_OK)                                             \
         : LW_ENOMEM)

/* ---- wire primitives ----------------------------------------------------------- */

/* A varint that runs past `end`: truncation when end is the end of the whole
 * buffer, malformed when it is the end of an enclosing message. */
static int varint_cut(struct pctx *c, const uint8_t *start, const uint8_t *end)
{
    if (end == c->bend)
        return lw_errf(c->eb, LW_ETRUNC, "proto: byte %zu: data ends inside a varint",
                       OFF(c, start));
    return lw_errf(c->eb, LW_EINVAL,
                   "proto: byte %zu: varint runs past the end of its enclosing message (byte %zu)",
                   OFF(c, start), OFF(c, end));
}

static int varint_slow(struct pctx *c, const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
    const uint8_t *p = *pp;
    uint64_t x = 0;
    for (int i = 0; i < 10; i++) {
        if (p >= end)
            return varint_cut(c, *pp, end);
        uint8_t b = *p++;
        if (i == 9 && (b & 0x7f) > 1)
            return lw_errf(c->eb, LW_EINVAL, "proto: byte %zu: varint overflows 64 bits",
                           OFF(c, *pp));
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = x;
            *pp = p;
            return LW_OK;
        }
    }
    return lw_errf(c->eb, LW_EINVAL, "proto: byte %zu: varint longer than 10 bytes", OFF(c, *pp));
}

static inline int rd_varint(struct pctx *c, const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
    const uint8_t *p = *pp;
    if (p < end && *p < 0x80) {
        *v = *p;
        *pp = p + 1;
        return LW_OK;
    }
    if (end - p >= 10) { /* no bounds checks needed: at most 10 bytes */
        uint64_t x = p[0] & 0x7f;
        for (int i = 1; i < 9; i++) {
            uint8_t b = p[i];
            x |= (uint64_t)(b & 0x7f) << (7 * i);
            if (b < 0x80) {
                *v = x;
                *pp = p + i + 1;
                return LW_OK;
            }
        }
        /* 10 bytes, or malformed: the slow path says which */
    } else if (end - p >= 2 && p[1] < 0x80) {
        *v = (uint64_t)(p[0] & 0x7f) | ((uint64_t)p[1] << 7);
        *pp = p + 2;
        return LW_OK;
    }
    return varint_slow(c, pp, end, v);
}

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

struct field {
    uint32_t num;
    uint32_t wt;
    uint64_t v;            /* WT_VARINT */
    const uint8_t *data;   /* WT_LEN payload (and fixed payloads) */
    size_t len;
    const uint8_t *start;  /* the key */
};

/* Read the next field of a message ending at end. */
static int next_field_slow(struct pctx *c, const uint8_t **pp, const uint8_t *end,
                           struct field *f)
{
    const uint8_t *p = *pp;
    uint64_t key;
    int rc;
    f->start = p;
    if ((rc = rd_varint(c, &p, end, &key)) != LW_OK)
        return rc;
    uint64_t num = key >> 3;
    if (num == 0 || num > 0x1fffffff)
        return lw_errf(c->eb, LW_EINVAL, "proto: byte %zu: invalid field number %llu",
                       OFF(c, f->start), (unsigned long long)num);
    f->num = (uint32_t)num;
    f->wt = (uint32_t)(key & 7);
    switch (f->wt) {
    case WT_VARINT:
        if ((rc = rd_varint(c, &p, end, &f->v)) != LW_OK)
            return rc;
        break;
    case WT_LEN: {
        uint64_t n;
        const uint8_t *lp = p;
        if ((rc = rd_varint(c, &p, end, &n)) != LW_OK)
            return rc;
        if (n > (uint64_t)(end - p)) {
            if (n > (uint64_t)(c->bend - p))
                return lw_errf(c->eb, LW_ETRUNC,
                               "proto: byte %zu: field %u declares %llu bytes but the data ends "
                               "after %zu",
                               OFF(c, lp), f->num, (unsigned long long)n, (size_t)(c->bend - p));
            return lw_errf(c->eb, LW_EINVAL,
                           "proto: byte %zu: field %u declares %llu bytes, past the end of its "
                           "enclosing message (byte %zu)",
                           OFF(c, lp), f->num, (unsigned long long)n, OFF(c, end));
        }
        f->data = p;
        f->len = (size_t)n;
        p += n;
        break;
    }
    case WT_I64:
    case WT_I32: {
        size_t n = f->wt == WT_I64 ? 8 : 4;
        if ((size_t)(end - p) < n)
            return lw_errf(c->eb, end == c->bend ? LW_ETRUNC : LW_EINVAL,
                           "proto: byte %zu: fixed%zu field %u runs past the end of %s",
                           OFF(c, p), n * 8, f->num, end == c->bend ? "the data" : "its message");
        f->data = p;
        f->len = n;
        p += n;
        break;
    }
    default:
        return lw_errf(c->eb, LW_EINVAL, "proto: byte %zu: field %u has unsupported wire type %u",
                       OFF(c, f->start), f->num, f->wt);
    }
    *pp = p;
    return LW_OK;
}

/* The same, with the common cases inline: a one-byte key and a one-byte
 * varint or LEN length. */
static inline int next_field(struct pctx *c, const uint8_t **pp, const uint8_t *end,
                             struct field *f)
{
    const uint8_t *p = *pp;
    if (end - p >= 2 && p[0] >= 8 && p[0] < 0x80 && p[1] < 0x80) {
        uint32_t wt = p[0] & 7;
        if (wt == WT_VARINT) {
            f->start = p;
            f->num = p[0] >> 3;
            f->wt = wt;
            f->v = p[1];
            *pp = p + 2;
            return LW_OK;
        }
        if (wt == WT_LEN && (size_t)p[1] <= (size_t)(end - p - 2)) {
            f->start = p;
            f->num = p[0] >> 3;
            f->wt = wt;
            f->data = p + 2;
            f->len = p[1];
            *pp = p + 2 + p[1];
            return LW_OK;
        }
    }
    return next_field_slow(c, pp, end, f);
}

static int want_wt(struct pctx *c, const struct field *f, uint32_t wt, const char *msg)
{
    if (f->wt == wt)
        return LW_OK;
    return lw_errf(c->eb, LW_EINVAL, "proto: byte %zu: %s field %u has wire type %u, expected %u",
                   OFF(c, f->start), msg, f->num, f->wt, wt);
}

typedef VEC(uint64_t) u64vec;

/* A repeated scalar: one varint, or a packed LEN run of varints. */
static int rd_scalars(struct pctx *c, const struct field *f, u64vec *out, const char *msg)
{
    if (f->wt == WT_VARINT)
        return VPUSH(c, out, f->v);
    if (f->wt != WT_LEN)
        return want_wt(c, f, WT_VARINT, msg);
    if (f->len == 0)
        return LW_OK;
    const uint8_t *q = f->data, *qe = f->data + f->len;
    /* at most one value per byte: make room once */
    int rc = vgrow(c, (void **)&out->a, &out->cap, out->n + f->len, sizeof(*out->a));
    if (rc)
        return rc;
    uint64_t *w = out->a + out->n;
    while (q < qe) {
        if (*q < 0x80) {
            *w++ = *q++;
            continue;
        }
        rc = rd_varint(c, &q, qe, w);
        if (rc == LW_ETRUNC) /* the packed run ends inside a varint: malformed, not truncated */
            return lw_errf(c->eb, LW_EINVAL, "proto: byte %zu: packed %s field %u ends inside a varint",
                           OFF(c, f->start), msg, f->num);
        if (rc)
            return rc;
        w++;
    }
    out->n = (size_t)(w - out->a);
    return LW_OK;
}

/* ---- records of pass 1 ------------------------------------------------------ */

struct vt_rec { int64_t type, unit; };
struct line_rec { uint64_t fid; int64_t line; };
struct loc_rec {
    uint64_t id;
    size_t line0, nlines;   /* into lines */
    size_t off;             /* byte offset, for messages */
    size_t frame0, nframes; /* into frames, after pass 2: the first frame (innermost line) */
    size_t rest0;           /* where its other frames are, in order (nframes > 1) */
};
struct fn_rec {
    uint64_t id;
    int64_t name, file;
    size_t off;
    const char *iname, *ifile; /* interned lazily */
    bool done;
};
struct id_ent { uint64_t id; size_t idx; };

/* id -> index: dense when ids are exactly 1..N in order, else sorted pairs */
struct idmap {
    bool dense;
    struct id_ent *sorted;
    size_t n;
};

struct lpair { uint64_t key, str; };
#define SAMPLE_LABELS_MAX (16u << 20) /* bytes of label text one sample may have */

/* A bounded-probe hash memo (a cache: a key that does not fit within
 * MEMO_PROBES slots is simply not memoized, so hostile collisions cost at
 * most MEMO_PROBES comparisons per lookup). The probed table holds 8-byte
 * slots (a 32-bit hash tag, which also gives the slot, and a reference to a
 * stack), so a table for 16,384 samples is 256 KiB and stays in cache. */
struct memo_slot {
    uint32_t tag;
    uint32_t ref; /* stack index + 1; 0 = empty */
};
struct memo {
    struct memo_slot *slot;
    size_t cap, used;         /* slots, occupied slots */
};
#define MEMO_PROBES 32
#define MEMO_MAX_SLOTS ((size_t)1 << 31) /* tags address the slots */

static inline uint32_t memo_tag(uint64_t h)
{
    return (uint32_t)(h ^ (h >> 32));
}

struct pstate {
    struct pctx c;
    const struct lw_pprof_limits *lim;
    VEC(struct vt_rec) stypes;
    size_t nsamples, sample0;        /* sample fields; byte offset of the first */
    VEC(uint32_t) strs;              /* string_table entries: byte offset of each field (the
                                      * input is at most 4 GiB, parse_owned); handed to the
                                      * profile (stroff) when a stack has labels */
    VEC(struct line_rec) lines;
    VEC(struct loc_rec) locs;
    VEC(struct fn_rec) fns;
    struct lw_frame *ftab;         /* the profile's frame table: every location's frames */
    size_t nftab;
    bool one_frame_each;           /* every location is one frame: frame index = location index */
    bool in_place;                 /* ... and ids are 1..N, N <= 127: a packed location id is one
                                    * byte, ftab0[id] its frame (stacks index the input) */
    const struct lw_frame *ftab0;  /* ftab - 1 entry (in_place): entry 0 unused */
    VEC(uint32_t) s_fidx;          /* the sample's frame indices (scratch) */
    unsigned fw;                   /* bytes per stored frame index: 1, 2 or 4 (by nftab) */
    VEC(uint8_t) s_nidx;           /* s_fidx narrowed to fw bytes each (scratch) */
    struct idmap locmap, fnmap;
    struct vt_rec period_type;
    bool have_period_type;
    int64_t period, time_nanos;
    /* per-sample scratch */
    u64vec s_locs, s_vals;
    VEC(struct lpair) s_labels;      /* string labels (key, str indices) */
    struct memo frames_memo;
    bool labelled;                   /* some stack has labels (the profile keeps strs) */
};

/* ---- pass 1: top-level walk ------------------------------------------------------- */

static int rd_valuetype(struct pctx *c, const struct field *f, struct vt_rec *vt)
{
    const uint8_t *p = f->data, *e = f->data + f->len;
    vt->type = vt->unit = 0;
    while (p < e) {
        struct field g;
        int rc = next_field(c, &p, e, &g);
        if (rc)
            return rc;
        if (g.num == 1 || g.num == 2) {
            if ((rc = want_wt(c, &g, WT_VARINT, "ValueType")) != LW_OK)
                return rc;
            if (g.num == 1)
                vt->type = (int64_t)g.v;
            else
                vt->unit = (int64_t)g.v;
        }
    }
    return LW_OK;
}

static int rd_location(struct pstate *s, const struct field *f)
{
    struct pctx *c = &s->c;
    struct loc_rec L = {0};
    L.off = OFF(c, f->start);
    L.line0 = s->lines.n;
    const uint8_t *p = f->data, *e = f->data + f->len;
    while (p < e) {
        struct field g;
        int rc = next_field(c, &p, e, &g);
        if (rc)
            return rc;
        if (g.num == 1) {
            if ((rc = want_wt(c, &g, WT_VARINT, "Location")) != LW_OK)
                return rc;
            L.id = g.v;
        } else if (g.num == 4) {
            if ((rc = want_wt(c, &g, WT_LEN, "Location")) != LW_OK)
                return rc;
            struct line_rec ln = {0, 0};
            const uint8_t *q = g.data, *qe = g.data + g.len;
            while (q < qe) {
                struct field h;
                if ((rc = next_field(c, &q, qe, &h)) != LW_OK)
                    return rc;
                if (h.num == 1 || h.num == 2) {
                    if ((rc = want_wt(c, &h, WT_VARINT, "Line")) != LW_OK)
                        return rc;
                    if (h.num == 1)
                        ln.fid = h.v;
                    else
                        ln.line = (int64_t)h.v;
                }
            }
            if ((rc = VPUSH(c, &s->lines, ln)) != LW_OK)
                return rc;
        }
    }
    L.nlines = s->lines.n - L.line0;
    return VPUSH(c, &s->locs, L);
}

static int rd_function(struct pstate *s, const struct field *f)
{
    struct pctx *c = &s->c;
    struct fn_rec F = {0};
    F.off = OFF(c, f->start);
    const uint8_t *p = f->data, *e = f->data + f->len;
    while (p < e) {
        struct field g;
        int rc = next_field(c, &p, e, &g);
        if (rc)
            return rc;
        if (g.num >= 1 && g.num <= 5) {
            if ((rc = want_wt(c, &g, WT_VARINT, "Function")) != LW_OK)
                return rc;
            if (g.num == 1)
                F.id = g.v;
            else if (g.num == 2)
                F.name = (int64_t)g.v;
            else if (g.num == 4)
                F.file = (int64_t)g.v;
        }
    }
    return VPUSH(c, &s->fns, F);
}

static int pass1(struct pstate *s)
{
    struct pctx *c = &s->c;
    const uint8_t *p = c->base, *e = c->bend;
    while (p < e) {
        struct field f;
        int rc = next_field(c, &p, e, &f);
        if (rc)
            return rc;
        switch (f.num) {
        case 1: { /* sample_type */
            struct vt_rec vt;
            if ((rc = want_wt(c, &f, WT_LEN, "Profile")) || (rc = rd_valuetype(c, &f, &vt)) ||
                (rc = VPUSH(c, &s->stypes, vt)))
                return rc;
            break;
        }
        case 2: /* sample: decoded in pass 3, which walks the fields again */
            if ((rc = want_wt(c, &f, WT_LEN, "Profile")))
                return rc;
            if (s->nsamples++ == 0)
                s->sample0 = OFF(c, f.start);
            break;
        case 4:
            if ((rc = want_wt(c, &f, WT_LEN, "Profile")) || (rc = rd_location(s, &f)))
                return rc;
            break;
        case 5:
            if ((rc = want_wt(c, &f, WT_LEN, "Profile")) || (rc = rd_function(s, &f)))
                return rc;
            break;
        case 6: { /* string_table */
            if ((rc = want_wt(c, &f, WT_LEN, "Profile")))
                return rc;
            if ((rc = VPUSH(c, &s->strs, (uint32_t)OFF(c, f.start))))
                return rc;
            break;
        }
        case 9:
            if ((rc = want_wt(c, &f, WT_VARINT, "Profile")))
                return rc;
            s->time_nanos = (int64_t)f.v;
            break;
        case 11:
            if ((rc = want_wt(c, &f, WT_LEN, "Profile")) ||
                (rc = rd_valuetype(c, &f, &s->period_type)))
                return rc;
            s->have_period_type = true;
            break;
        case 12:
            if ((rc = want_wt(c, &f, WT_VARINT, "Profile")))
                return rc;
            s->period = (int64_t)f.v;
            break;
        default: /* mapping, drop/keep_frames, duration, comment, default_sample_type, doc_url,
                    unknown: skipped by wire type */
            break;
        }
    }
    return LW_OK;
}

/* ---- pass 2: strings, id maps, location frames ------------------------------------ */

/* The bytes of the string_table field at base + off, a field pass 1 has
 * already decoded (so its key and length varints are well formed and its
 * bytes within the input). */
static inline void str_at(const uint8_t *base, uint32_t off, const char **out, size_t *len)
{
    const uint8_t *q = base + off;
    while (*q++ & 0x80) /* the key */
        ;
    uint64_t n = 0;
    unsigned sh = 0;
    uint8_t b;
    do {
        b = *q++;
        n |= (uint64_t)(b & 0x7f) << sh;
        sh += 7;
    } while (b & 0x80);
    *out = (const char *)q;
    *len = (size_t)n;
}

/* String index -> bytes; false if out of range (caller reports). */
static bool str_get(const struct pstate *s, int64_t idx, const char **out, size_t *len)
{
    if (idx < 0 || (uint64_t)idx >= s->strs.n)
        return false;
    str_at(s->c.base, s->strs.a[idx], out, len);
    return true;
}

static bool str_is(const struct pstate *s, int64_t idx, const char *lit)
{
    const char *p;
    size_t n;
    return str_get(s, idx, &p, &n) && n == strlen(lit) && memcmp(p, lit, n) == 0;
}

static int bad_str(struct pstate *s, int64_t idx, const char *what, size_t off)
{
    return lw_errf(s->c.eb, LW_EINVAL,
                   "proto: byte %zu: %s refers to string %lld but the string table has %zu entries",
                   off, what, (long long)idx, s->strs.n);
}

static int cmp_id_ent(const void *a, const void *b)
{
    uint64_t x = ((const struct id_ent *)a)->id, y = ((const struct id_ent *)b)->id;
    return x < y ? -1 : x > y;
}

/* Build an id map over n records; ids[i * stride] is record i's id and
 * offs[i * offstride] its byte offset (for messages). */
static int idmap_build(struct pstate *s, struct idmap *m, size_t n, const uint64_t *ids,
                       size_t stride, const char *what, const size_t *offs, size_t offstride)
{
    struct pctx *c = &s->c;
#define ID_AT(i) (*(const uint64_t *)((const char *)ids + (i) * stride))
#define OFF_AT(i) (*(const size_t *)((const char *)offs + (i) * offstride))
    m->n = n;
    m->dense = true;
    for (size_t i = 0; i < n; i++) {
        uint64_t id = ID_AT(i);
        if (id == 0)
            return lw_errf(c->eb, LW_EINVAL, "proto: byte %zu: %s with reserved id 0", OFF_AT(i),
                           what);
        if (id != i + 1)
            m->dense = false;
    }
    if (m->dense || n == 0)
        return LW_OK;
    size_t cap = 0;
    int rc = vgrow(c, (void **)&m->sorted, &cap, n, sizeof(*m->sorted));
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        m->sorted[i].id = ID_AT(i);
        m->sorted[i].idx = i;
    }
    qsort(m->sorted, n, sizeof(*m->sorted), cmp_id_ent);
    for (size_t i = 1; i < n; i++)
        if (m->sorted[i].id == m->sorted[i - 1].id)
            return lw_errf(c->eb, LW_EINVAL, "proto: byte %zu: duplicate %s id %llu",
                           OFF_AT(m->sorted[i].idx > m->sorted[i - 1].idx ? m->sorted[i].idx
                                                                            : m->sorted[i - 1].idx),
                           what, (unsigned long long)m->sorted[i].id);
#undef ID_AT
#undef OFF_AT
    return LW_OK;
}

/* index for id, or SIZE_MAX */
static size_t idmap_find_sorted(const struct idmap *m, uint64_t id)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->sorted[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->n && m->sorted[lo].id == id ? m->sorted[lo].idx : SIZE_MAX;
}

static inline size_t idmap_find(const struct idmap *m, uint64_t id)
{
    if (m->dense)
        return id - 1 < m->n ? (size_t)(id - 1) : SIZE_MAX; /* id 0 wraps: not found */
    return idmap_find_sorted(m, id);
}

static int fn_resolve(struct pstate *s, struct lw_profile *p, struct fn_rec *F)
{
    if (F->done)
        return LW_OK;
    const char *str;
    size_t n;
    if (!str_get(s, F->name, &str, &n))
        return bad_str(s, F->name, "function name", F->off);
    F->iname = n ? lw__profile_intern(p, str, n) : "?";
    if (!F->iname)
        return lw_errf(s->c.eb, LW_ENOMEM, "proto: profile memory limit reached");
    if (!str_get(s, F->file, &str, &n))
        return bad_str(s, F->file, "function filename", F->off);
    F->ifile = NULL;
    if (n && !(F->ifile = lw__profile_intern(p, str, n)))
        return lw_errf(s->c.eb, LW_ENOMEM, "proto: profile memory limit reached");
    F->done = true;
    return LW_OK;
}

static int pass2(struct pstate *s, struct lw_profile *p)
{
    struct pctx *c = &s->c;
    int rc;
    if (s->fns.n && (rc = idmap_build(s, &s->fnmap, s->fns.n, &s->fns.a[0].id,
                                      sizeof(struct fn_rec), "function", &s->fns.a[0].off,
                                      sizeof(struct fn_rec))))
        return rc;
    if (s->locs.n && (rc = idmap_build(s, &s->locmap, s->locs.n, &s->locs.a[0].id,
                                       sizeof(struct loc_rec), "location", &s->locs.a[0].off,
                                       sizeof(struct loc_rec))))
        return rc;
    /* one frame per line; a location without lines (unsymbolized) is one "?"
     * frame. The frames go straight into the profile as its frame table,
     * which the stacks index (struct lw_stack.fidx). */
    size_t total = 0;
    for (size_t i = 0; i < s->locs.n; i++)
        total += s->locs.a[i].nlines ? s->locs.a[i].nlines : 1; /* <= lines + locations */
    if (total > UINT32_MAX)
        return lw_errf(c->eb, LW_ETOOBIG, "proto: more than %u location lines", UINT32_MAX);
    s->one_frame_each = total == s->locs.n;
    /* ids 1..N in order (dense), N <= 127: a packed location id is one byte,
     * the id. The frame table then has an unused entry 0 and location id i's
     * first frame at entry i, its other frames (inlined callers) after entry
     * N, so that a sample whose locations are one frame each uses its ids in
     * place as frame indices (struct lw_stack.fidx, do_sample) */
    s->in_place = s->locmap.dense && s->locs.n > 0 && s->locs.n <= 127;
    size_t extra = s->in_place ? 1 : 0;
    if (total && !(s->ftab = lw__profile_frames(p, total + extra)))
        return lw_errf(c->eb, LW_ENOMEM, "proto: profile memory limit (%zu bytes) reached",
                       s->lim->max_arena);
    if (s->in_place) {
        s->ftab[0] = (struct lw_frame){"?", NULL, 0};
        s->ftab0 = s->ftab;
        s->ftab++;
    }
    size_t w = 0, rest = s->in_place ? s->locs.n : 0;
    for (size_t i = 0; i < s->locs.n; i++) {
        struct loc_rec *L = &s->locs.a[i];
        size_t n = L->nlines ? L->nlines : 1;
        /* contiguous, or (in place) the first at i and the rest after N */
        L->frame0 = s->in_place ? i : w;
        L->rest0 = s->in_place ? rest : w + 1;
        L->nframes = n;
        if (s->in_place)
            rest += n - 1;
        else
            w += n;
        for (size_t j = 0; j < L->nlines; j++) {
            const struct line_rec *ln = &s->lines.a[L->line0 + j];
            struct lw_frame fr = {"?", NULL, 0};
            if (ln->fid) {
                size_t fi = idmap_find(&s->fnmap, ln->fid);
                if (fi == SIZE_MAX)
                    return lw_errf(c->eb, LW_EINVAL,
                                   "proto: byte %zu: location %llu refers to unknown function id %llu",
                                   L->off, (unsigned long long)L->id,
                                   (unsigned long long)ln->fid);
                struct fn_rec *F = &s->fns.a[fi];
                if ((rc = fn_resolve(s, p, F)) != LW_OK)
                    return rc;
                fr.func = F->iname;
                fr.file = F->ifile;
            }
            fr.line = ln->line > 0 && ln->line <= INT32_MAX ? (int)ln->line : 0;
            s->ftab[j ? L->rest0 + j - 1 : L->frame0] = fr;
        }
        if (L->nlines == 0) {
            struct lw_frame fr = {"?", NULL, 0};
            s->ftab[L->frame0] = fr;
        }
    }
    s->nftab = total;
    s->fw = total <= 256 ? 1 : total <= 65536 ? 2 : 4;
    return LW_OK;
}

/* ---- labels: Go %q quoting and the debug=1 label-set text ---------------------------- */

static inline bool plain_byte(unsigned char c)
{
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/* Write s[0..n) quoted as Go's strconv.Quote does, closely enough for
 * display and comparison: escapes for quote, backslash and controls, \xNN
 * for invalid UTF-8, printable Unicode kept (C1 controls and a few
 * non-printing code points escaped as \uXXXX), to w; w == NULL only counts.
 * Returns the quoted length (at most 4n + 2). */
static size_t goquote(char *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0;
#define PUT(ch)           \
    do {                  \
        if (w)            \
            w[o] = (ch);  \
        o++;              \
    } while (0)
    PUT('"');
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && plain_byte(u[run]))
            run++;
        if (run > i) {
            if (w)
                memcpy(w + o, s + i, run - i);
            o += run - i;
            i = run;
            continue;
        }
        unsigned char ch = u[i];
        if (ch < 0x80) {
            PUT('\\');
            switch (ch) {
            case '"': PUT('"'); break;
            case '\\': PUT('\\'); break;
            case '\a': PUT('a'); break;
            case '\b': PUT('b'); break;
            case '\f': PUT('f'); break;
            case '\n': PUT('n'); break;
            case '\r': PUT('r'); break;
            case '\t': PUT('t'); break;
            case '\v': PUT('v'); break;
            default:
                PUT('x');
                PUT(hex[ch >> 4]);
                PUT(hex[ch & 15]);
            }
            i++;
            continue;
        }
        /* UTF-8 sequence */
        size_t need = ch >= 0xf0 && ch <= 0xf4 ? 4 : ch >= 0xe0 ? (ch <= 0xef ? 3 : 0)
                      : ch >= 0xc2 ? 2 : 0;
        uint32_t cp = 0;
        bool ok = need && i + need <= n;
        if (ok) {
            cp = need == 2 ? ch & 0x1f : need == 3 ? ch & 0x0f : ch & 0x07;
            for (size_t k = 1; k < need; k++) {
                if ((u[i + k] & 0xc0) != 0x80) {
                    ok = false;
                    break;
                }
                cp = (cp << 6) | (u[i + k] & 0x3f);
            }
            if (ok && ((need == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
                       (need == 4 && (cp < 0x10000 || cp > 0x10ffff))))
                ok = false;
        }
        if (!ok) {
            PUT('\\');
            PUT('x');
            PUT(hex[ch >> 4]);
            PUT(hex[ch & 15]);
            i++;
            continue;
        }
        bool nonprint = cp < 0xa0 || cp == 0xad || cp == 0x2028 || cp == 0x2029 ||
                        cp == 0xfeff || (cp >= 0x200b && cp <= 0x200f) || cp == 0xfffe ||
                        cp == 0xffff;
        if (nonprint) {
            PUT('\\');
            PUT('u');
            for (int k = 0; k < 4; k++)
                PUT(hex[(cp >> (12 - 4 * k)) & 15]);
        } else {
            if (w)
                memcpy(w + o, s + i, need);
            o += need;
        }
        i += need;
    }
    PUT('"');
#undef PUT
    return o;
}

/* The quoted length of s[0..n), the common case (nothing to escape) first. */
static inline size_t goquote_len(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n && plain_byte(u[i]))
        i++;
    return i == n ? n + 2 : goquote(NULL, s, n);
}

/* One formatted pair "k":"v" as two quoted pieces, for sorting. */
struct lpiece {
    const char *k, *v;
    size_t kn, vn;
};

static inline int piece_at(const struct lpiece *p, size_t i)
{
    return i < p->kn ? (unsigned char)p->k[i] : i == p->kn ? ':' : (unsigned char)p->v[i - p->kn - 1];
}

/* Compare the texts k ':' v byte-wise (what runtime/pprof sorts on). */
static int cmp_piece(const void *x, const void *y)
{
    const struct lpiece *a = x, *b = y;
    if (a->kn == b->kn) {
        int r = memcmp(a->k, b->k, a->kn);
        if (r)
            return r;
        size_t n = a->vn < b->vn ? a->vn : b->vn;
        r = memcmp(a->v, b->v, n);
        if (r)
            return r;
        return a->vn < b->vn ? -1 : a->vn > b->vn;
    }
    size_t la = a->kn + 1 + a->vn, lb = b->kn + 1 + b->vn, n = la < lb ? la : lb;
    for (size_t i = 0; i < n; i++) {
        int ca = piece_at(a, i), cb = piece_at(b, i);
        if (ca != cb)
            return ca - cb;
    }
    return la < lb ? -1 : la > lb;
}

/* A Sample.label field f: a string label (key, value string indices) is
 * appended to *a (a label whose value is 0, numeric or absent, is not); the
 * last key and value of a Label message win. */
static int label_pair(struct pctx *c, const struct field *f, struct lpair **a, size_t *n,
                      size_t *cap)
{
    int rc;
    if ((rc = want_wt(c, f, WT_LEN, "Sample")) != LW_OK)
        return rc;
    uint64_t key = 0, str = 0;
    const uint8_t *r = f->data, *re = f->data + f->len;
    while (r < re) {
        struct field g;
        if ((rc = next_field(c, &r, re, &g)) != LW_OK)
            return rc;
        if (g.num >= 1 && g.num <= 4 && (rc = want_wt(c, &g, WT_VARINT, "Label")))
            return rc;
        if (g.num == 1)
            key = g.v;
        else if (g.num == 2)
            str = g.v;
    }
    if (str == 0) /* numeric label or no value */
        return LW_OK;
    if (*n == *cap && (rc = vgrow(c, (void **)a, cap, *n + 1, sizeof(**a))) != LW_OK)
        return rc;
    (*a)[(*n)++] = (struct lpair){key, str};
    return LW_OK;
}

/* The string labels of the sample message q[0..qe), in their order. */
static int sample_label_pairs(struct pctx *c, const uint8_t *q, const uint8_t *qe,
                              struct lpair **a, size_t *n, size_t *cap)
{
    int rc;
    while (q < qe) {
        struct field f;
        if ((rc = next_field(c, &q, qe, &f)) != LW_OK)
            return rc;
        if (f.num == 3 && (rc = label_pair(c, &f, a, n, cap)) != LW_OK)
            return rc;
    }
    return LW_OK;
}

/* The length of the `{"k":"v", ...}` text of label pairs lp[0..np) (np > 0)
 * whose indices are below nstr, stopping early once past SAMPLE_LABELS_MAX. */
static size_t labels_text_len(const uint8_t *base, const uint32_t *stroff, const struct lpair *lp,
                              size_t np)
{
    size_t total = 2 + 2 * (np - 1);
    for (size_t i = 0; i < np && total <= SAMPLE_LABELS_MAX; i++) {
        const char *ks, *vs;
        size_t kn, vn;
        str_at(base, stroff[lp[i].key], &ks, &kn);
        str_at(base, stroff[lp[i].str], &vs, &vn);
        total += goquote_len(ks, kn) + 1 + goquote_len(vs, vn);
    }
    return total;
}

/* Pass 3's check of a sample's string labels (s->s_labels): indices in the
 * string table, the text at most SAMPLE_LABELS_MAX bytes, and the text of
 * all samples' labels together at most c->label_max (a few bytes of sample
 * can name a huge string many times: this bounds what formatting every
 * stack's labels costs). The text itself is formatted on demand
 * (lw__proto_labels). */
static int check_labels(struct pstate *s, size_t sample_off)
{
    struct pctx *c = &s->c;
    size_t np = s->s_labels.n;
    const struct lpair *lp = s->s_labels.a;
    for (size_t i = 0; i < np; i++) {
        if (lp[i].key >= s->strs.n)
            return bad_str(s, (int64_t)lp[i].key, "label key", sample_off);
        if (lp[i].str >= s->strs.n)
            return bad_str(s, (int64_t)lp[i].str, "label value", sample_off);
    }
    size_t total = labels_text_len(c->base, s->strs.a, lp, np);
    if (total > SAMPLE_LABELS_MAX)
        return lw_errf(c->eb, LW_ETOOBIG,
                       "proto: byte %zu: label text of one sample exceeds %u bytes", sample_off,
                       SAMPLE_LABELS_MAX);
    c->label_bytes += total;
    if (c->label_bytes > c->label_max)
        return lw_errf(c->eb, LW_ETOOBIG,
                       "proto: label text exceeds %zu bytes in total (hostile label references?)",
                       c->label_max);
    return LW_OK;
}

int lw__proto_labels(const struct lw_profile *p, const struct lw_stack *st, struct lw_buf *out)
{
    const uint8_t *base = p ? p->src : NULL;
    const uint8_t *sp = (const uint8_t *)st->labels_;
    if (!base || !p->stroff || sp < base || sp >= base + p->src_len)
        return LW_EINVAL; /* not this profile's stack */
    struct lw_errbuf eb;
    struct pctx c = {base, base + p->src_len, &eb, 0, SIZE_MAX, 0, 0};
    struct field sf = {0};
    int rc = next_field(&c, &sp, c.bend, &sf);
    if (rc == LW_OK && sf.wt != WT_LEN)
        rc = LW_EINVAL;
    if (rc)
        return rc;
    struct lpair *lp = NULL;
    size_t np = 0, cap = 0;
    rc = sample_label_pairs(&c, sf.data, sf.data + sf.len, &lp, &np, &cap);
    struct lpiece *pc = NULL;
    char *q = NULL;
    if (rc || np == 0)
        goto out;
    for (size_t i = 0; i < np; i++)
        if (lp[i].key >= p->nstr || lp[i].str >= p->nstr) {
            rc = LW_EINVAL;
            goto out;
        }
    size_t total = labels_text_len(base, p->stroff, lp, np);
    if (total > SAMPLE_LABELS_MAX || (out->max && (out->len > out->max ||
                                                    total > out->max - out->len))) {
        rc = LW_ETOOBIG;
        goto out;
    }
    pc = malloc(np * sizeof(*pc));
    q = malloc(total);
    if (!pc || !q) {
        rc = LW_ENOMEM;
        goto out;
    }
    size_t o = 0;
    for (size_t i = 0; i < np; i++) {
        const char *ks, *vs;
        size_t kn, vn;
        str_at(base, p->stroff[lp[i].key], &ks, &kn);
        str_at(base, p->stroff[lp[i].str], &vs, &vn);
        pc[i].k = q + o;
        pc[i].kn = goquote(q + o, ks, kn);
        o += pc[i].kn;
        pc[i].v = q + o;
        pc[i].vn = goquote(q + o, vs, vn);
        o += pc[i].vn;
    }
    if (np > 8) {
        qsort(pc, np, sizeof(*pc), cmp_piece);
    } else {
        for (size_t i = 1; i < np; i++)
            for (size_t j = i; j > 0 && cmp_piece(&pc[j - 1], &pc[j]) > 0; j--) {
                struct lpiece t = pc[j];
                pc[j] = pc[j - 1];
                pc[j - 1] = t;
            }
    }
    size_t len0 = out->len;
    rc = lw_buf_append(out, "{", 1);
    for (size_t i = 0; i < np && rc == LW_OK; i++) {
        if (i)
            rc = lw_buf_append(out, ", ", 2);
        if (rc == LW_OK)
            rc = lw_buf_append(out, pc[i].k, pc[i].kn);
        if (rc == LW_OK)
            rc = lw_buf_append(out, ":", 1);
        if (rc == LW_OK)
            rc = lw_buf_append(out, pc[i].v, pc[i].vn);
    }
    if (rc == LW_OK)
        rc = lw_buf_append(out, "}", 1);
    if (rc && out->data) { /* out of memory part way: leave out as it was */
        out->len = len0;
        out->data[len0] = '\0';
    }
out:
    free(lp);
    free(pc);
    free(q);
    return rc;
}

/* ---- memo: one frame index array per distinct stack ----------------------------------- */

static void *(*volatile memset_kept)(void *, int, size_t) = memset;

static int memo_resize(struct pctx *c, struct memo *m, size_t ncap)
{
    size_t bytes = ncap * sizeof(struct memo_slot);
    if (c->mem + bytes > c->mem_max)
        return lw_errf(c->eb, LW_ENOMEM,
                       "proto: working memory would exceed the %zu-byte limit", c->mem_max);
    /* zeroed by writing rather than calloc'd: a fresh calloc'd page faults
     * twice when a probe reads it before an insert writes it (and a plain
     * memset after malloc may be turned into calloc by the compiler) */
    struct memo_slot *ns = malloc(bytes);
    if (!ns)
        return lw_errf(c->eb, LW_ENOMEM, "proto: out of memory");
    memset_kept(ns, 0, bytes);
    size_t kept = 0;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slot[i].ref)
            continue;
        uint32_t tag = m->slot[i].tag;
        for (size_t k = 0; k < MEMO_PROBES; k++) {
            struct memo_slot *d = &ns[(tag + k) & (ncap - 1)];
            if (!d->ref) {
                *d = m->slot[i];
                kept++;
                break;
            }
        }
    }
    c->mem += bytes;
    c->mem -= m->cap * sizeof(struct memo_slot);
    free(m->slot);
    m->slot = ns;
    m->cap = ncap;
    m->used = kept;
    return LW_OK;
}

/* Find the entry with hash h that match() accepts: *hit gets it; returns the
 * free slot for an insert (NULL on a hit, or if the probe window is full:
 * not memoized). */
static struct memo_slot *memo_probe(struct memo *m, uint64_t h,
                                    bool (*match)(const void *ctx, uint32_t ref),
                                    const void *ctx, uint32_t *hit)
{
    *hit = 0;
    uint32_t tag = memo_tag(h);
    for (size_t k = 0; k < MEMO_PROBES; k++) {
        struct memo_slot *sl = &m->slot[(tag + k) & (m->cap - 1)];
        if (!sl->ref)
            return sl;
        if (sl->tag == tag && match(ctx, sl->ref)) {
            *hit = sl->ref;
            return NULL;
        }
    }
    return NULL;
}

/* Record ref (> 0) with hash h at free slot sl (from memo_probe). */
static void memo_insert_ref(struct memo *m, struct memo_slot *sl, uint64_t h, uint32_t ref)
{
    sl->tag = memo_tag(h);
    sl->ref = ref;
    m->used++;
}

static int memo_grow(struct pctx *c, struct memo *m)
{
    if ((m->used + 1) * 3 <= m->cap * 2 || m->cap >= MEMO_MAX_SLOTS) /* at most 2/3 full */
        return LW_OK; /* at the largest size, a full probe window means "not memoized" */
    return memo_resize(c, m, m->cap ? m->cap * 2 : 1024);
}

/* Size the memo for `want` entries up front (one per sample at most), so it
 * never rehashes while samples are decoded. */
static int memo_reserve(struct pctx *c, struct memo *m, size_t want)
{
    size_t cap = 1024;
    while (cap < want + want / 2 && cap < MEMO_MAX_SLOTS) /* at most 2/3 full */
        cap *= 2;
    return cap > m->cap ? memo_resize(c, m, cap) : LW_OK;
}

struct fmatch {
    const struct lw_profile *p;
    const void *nidx; /* the indices as stored: fw bytes each */
    size_t bytes;
    uint32_t nf;
};

/* The frames memo refers to stacks (ref = stack index + 1): no entries. */
static bool frames_match(const void *ctx, uint32_t ref)
{
    const struct fmatch *m = ctx;
    const struct lw_stack *st = &m->p->stacks[ref - 1];
    return st->nframes == m->nf && memcmp(st->fidx, m->nidx, m->bytes) == 0;
}

/* Attach the frame indices fidx[0..nf) (hash h) to st, the profile's last
 * stack, stored s->fw bytes each, sharing the index array of an earlier
 * stack with the same frames. */
static int attach_frames(struct pstate *s, struct lw_profile *p, struct lw_stack *st,
                         const uint32_t *fidx, uint32_t nf, uint64_t h)
{
    st->nframes = nf;
    if (nf == 0)
        return LW_OK;
    st->ftab = s->ftab;
    st->fidx_size = (uint8_t)s->fw;
    size_t bytes = (size_t)nf * s->fw;
    const void *nidx = fidx;
    int rc;
    if (s->fw < 4) { /* narrow (every index is < nftab, which fits fw bytes) */
        if (bytes > s->s_nidx.cap &&
            (rc = vgrow(&s->c, (void **)&s->s_nidx.a, &s->s_nidx.cap, bytes, 1)))
            return rc;
        if (s->fw == 1) {
            uint8_t *w = s->s_nidx.a;
            for (uint32_t i = 0; i < nf; i++)
                w[i] = (uint8_t)fidx[i];
        } else {
            uint16_t *w = (uint16_t *)(void *)s->s_nidx.a;
            for (uint32_t i = 0; i < nf; i++)
                w[i] = (uint16_t)fidx[i];
        }
        nidx = s->s_nidx.a;
    }
    if ((rc = memo_grow(&s->c, &s->frames_memo)) != LW_OK)
        return rc;
    struct fmatch fm = {p, nidx, bytes, nf};
    uint32_t hit;
    struct memo_slot *slot = memo_probe(&s->frames_memo, h, frames_match, &fm, &hit);
    if (hit) {
        st->fidx = p->stacks[hit - 1].fidx;
        return LW_OK;
    }
    void *f = lw__profile_bytes(p, bytes, s->fw);
    if (!f)
        return lw_errf(s->c.eb, LW_ENOMEM, "proto: profile memory limit (%zu bytes) reached",
                       s->lim->max_arena);
    memcpy(f, nidx, bytes);
    st->fidx = f;
    if (slot && p->nstacks < UINT32_MAX)
        memo_insert_ref(&s->frames_memo, slot, h, (uint32_t)p->nstacks);
    return LW_OK;
}

/* ---- pass 3: samples ---------------------------------------------------------------- */

struct kindinfo {
    enum lw_prof_kind kind;
    size_t vi_count;                                      /* goroutine count */
    size_t vi_alloc_obj, vi_alloc_sp, vi_inuse_obj, vi_inuse_sp; /* heap; SIZE_MAX if absent */
};

static int pick_kind(struct pstate *s, struct kindinfo *k)
{
    struct pctx *c = &s->c;
    k->kind = LW_KIND_UNKNOWN;
    k->vi_count = k->vi_alloc_obj = k->vi_alloc_sp = k->vi_inuse_obj = k->vi_inuse_sp = SIZE_MAX;
    bool heap = false;
    for (size_t i = 0; i < s->stypes.n; i++) {
        const struct vt_rec *vt = &s->stypes.a[i];
        const char *str;
        size_t n;
        if (!str_get(s, vt->type, &str, &n))
            return bad_str(s, vt->type, "sample_type", 0);
        if (!str_get(s, vt->unit, &str, &n))
            return bad_str(s, vt->unit, "sample_type unit", 0);
        if (str_is(s, vt->type, "goroutine") && k->kind == LW_KIND_UNKNOWN) {
            k->kind = LW_KIND_GOROUTINE;
            k->vi_count = i;
        } else if (str_is(s, vt->type, "goroutineleak") && k->kind == LW_KIND_UNKNOWN) {
            k->kind = LW_KIND_GOROUTINELEAK;
            k->vi_count = i;
        } else if (str_is(s, vt->type, "alloc_objects")) {
            k->vi_alloc_obj = i, heap = true;
        } else if (str_is(s, vt->type, "alloc_space")) {
            k->vi_alloc_sp = i, heap = true;
        } else if (str_is(s, vt->type, "inuse_objects")) {
            k->vi_inuse_obj = i, heap = true;
        } else if (str_is(s, vt->type, "inuse_space")) {
            k->vi_inuse_sp = i, heap = true;
        }
    }
    if (k->kind == LW_KIND_UNKNOWN && heap)
        k->kind = LW_KIND_HEAP;
    /* a lone "count" sample type named by a goroutine period_type */
    if (k->kind == LW_KIND_UNKNOWN && s->stypes.n == 1 && s->have_period_type &&
        str_is(s, s->stypes.a[0].unit, "count")) {
        if (str_is(s, s->period_type.type, "goroutine"))
            k->kind = LW_KIND_GOROUTINE, k->vi_count = 0;
        else if (str_is(s, s->period_type.type, "goroutineleak"))
            k->kind = LW_KIND_GOROUTINELEAK, k->vi_count = 0;
    }
    if (k->kind != LW_KIND_UNKNOWN)
        return LW_OK;
    if (s->stypes.n == 0)
        return lw_errf(c->eb, LW_EFORMAT, "proto: no sample_type: not a pprof profile");
    char names[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < s->stypes.n && used < sizeof(names) - 1; i++) {
        const char *t = "", *u = "";
        size_t tn = 0, un = 0;
        str_get(s, s->stypes.a[i].type, &t, &tn);
        str_get(s, s->stypes.a[i].unit, &u, &un);
        int w = snprintf(names + used, sizeof(names) - used, "%s%.*s/%.*s", i ? ", " : "",
                         (int)LW_MIN(tn, 64), t, (int)LW_MIN(un, 64), u);
        if (w < 0)
            break;
        used += (size_t)w;
        if (used >= sizeof(names))
            used = sizeof(names) - 1;
    }
    return lw_errf(c->eb, LW_EUNSUPPORTED,
                   "proto: sample types [%s]: not a goroutine, goroutineleak or heap profile", names);
}

static int64_t val_at(const struct pstate *s, size_t i)
{
    return i == SIZE_MAX ? 0 : (int64_t)s->s_vals.a[i];
}

static int unknown_loc(struct pstate *s, size_t soff, size_t si, uint64_t id)
{
    return lw_errf(s->c.eb, LW_EINVAL,
                   "proto: byte %zu: sample %zu refers to unknown location id %llu", soff, si,
                   (unsigned long long)id);
}

static int do_sample(struct pstate *s, struct lw_profile *p, const struct kindinfo *k, size_t si,
                     const struct field *sf, uint64_t *total)
{
    struct pctx *c = &s->c;
    const uint8_t *q = sf->data, *qe = q + sf->len;
    size_t soff = OFF(c, q);
    s->s_locs.n = s->s_vals.n = s->s_labels.n = 0;
    int rc;
    unsigned nlocf = 0;           /* location_id fields */
    struct field locf = {0};      /* the first one */
    while (q < qe) {
        struct field f;
        if ((rc = next_field(c, &q, qe, &f)) != LW_OK)
            return rc;
        if (f.num == 1) {
            if (nlocf++ == 0)
                locf = f;
            if ((rc = rd_scalars(c, &f, &s->s_locs, "Sample.location_id")) != LW_OK)
                return rc;
        } else if (f.num == 2) {
            if ((rc = rd_scalars(c, &f, &s->s_vals, "Sample.value")) != LW_OK)
                return rc;
        } else if (f.num == 3) {
            if ((rc = label_pair(c, &f, &s->s_labels.a, &s->s_labels.n, &s->s_labels.cap)))
                return rc;
        }
    }
    if (s->s_vals.n != s->stypes.n)
        return lw_errf(c->eb, LW_EINVAL,
                       "proto: byte %zu: sample %zu has %zu values for %zu sample types", soff, si,
                       s->s_vals.n, s->stypes.n);
    uint32_t maxf = s->lim->max_frames ? s->lim->max_frames : UINT32_MAX;
    size_t nl = s->s_locs.n;
    /* in place: one packed field of one-byte ids (each its frame index in
     * ftab0) of locations of one frame each, none cut by max_frames */
    bool inplace = s->in_place && nlocf == 1 && locf.wt == WT_LEN && locf.len == nl && nl <= maxf;
    uint64_t nfull = 0;
    uint32_t nf = 0;
    uint64_t h = 0;
    if (inplace) {
        for (size_t i = 0; i < nl; i++) {
            uint64_t li = s->s_locs.a[i] - 1; /* id 0 wraps */
            if (li >= s->locs.n)
                return unknown_loc(s, soff, si, s->s_locs.a[i]);
            if (s->locs.a[li].nframes != 1) { /* an inlined call: copied */
                inplace = false;
                break;
            }
        }
    }
    if (inplace) {
        nfull = nf = (uint32_t)nl;
    } else if (s->one_frame_each) {
        /* frames, leaf first: resolve the location ids into frame indices
         * (the first max_frames of them) and hash those for the frames memo;
         * a location is one frame, and its index is its frame index */
        size_t want = nl < maxf ? nl : maxf;
        if (want > s->s_fidx.cap &&
            (rc = vgrow(c, (void **)&s->s_fidx.a, &s->s_fidx.cap, want, sizeof(uint32_t))))
            return rc;
        for (size_t i = 0; i < nl; i++) {
            size_t li = idmap_find(&s->locmap, s->s_locs.a[i]);
            if (li == SIZE_MAX)
                return unknown_loc(s, soff, si, s->s_locs.a[i]);
            if (i < want)
                s->s_fidx.a[i] = (uint32_t)li;
        }
        nfull = nl;
        nf = (uint32_t)want;
    } else {
        for (size_t i = 0; i < nl; i++) {
            size_t li = idmap_find(&s->locmap, s->s_locs.a[i]);
            if (li == SIZE_MAX)
                return unknown_loc(s, soff, si, s->s_locs.a[i]);
            s->s_locs.a[i] = li;
            nfull += s->locs.a[li].nframes;
        }
        nf = nfull > maxf ? maxf : (uint32_t)nfull;
        if (nf > s->s_fidx.cap &&
            (rc = vgrow(c, (void **)&s->s_fidx.a, &s->s_fidx.cap, nf, sizeof(uint32_t))))
            return rc;
        uint32_t w = 0;
        for (size_t i = 0; i < nl && w < nf; i++) {
            const struct loc_rec *L = &s->locs.a[s->s_locs.a[i]];
            for (size_t t = 0; t < L->nframes && w < nf; t++)
                s->s_fidx.a[w++] = (uint32_t)(t ? L->rest0 + t - 1 : L->frame0);
        }
    }
    bool trunc = nfull > nf;
    if (!inplace) {
        /* two interleaved multiply chains over index pairs: half the latency */
        const uint32_t *fx = s->s_fidx.a;
        h = LW_FNV_INIT ^ nf;
        uint64_t h2 = 0x94d049bb133111ebULL;
        uint32_t i = 0;
        for (; i + 4 <= nf; i += 4) {
            h = (h ^ (fx[i] | (uint64_t)fx[i + 1] << 32)) * 0x9e3779b97f4a7c15ULL;
            h2 = (h2 ^ (fx[i + 2] | (uint64_t)fx[i + 3] << 32)) * 0xbf58476d1ce4e5b9ULL;
        }
        for (; i < nf; i++)
            h = (h ^ fx[i]) * 0x9e3779b97f4a7c15ULL;
        h ^= h2 + (h2 >> 31);
        h ^= h >> 32;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 29;
        /* the memo's first probe misses the cache: start loading its slot early */
        if (s->frames_memo.cap)
            __builtin_prefetch(&s->frames_memo.slot[memo_tag(h) & (s->frames_memo.cap - 1)]);
    }
    if (s->s_labels.n && (rc = check_labels(s, soff)) != LW_OK)
        return rc;
    if (s->lim->max_stacks && p->nstacks >= s->lim->max_stacks)
        return lw_errf(c->eb, LW_ETOOBIG, "proto: more than %zu samples (max_stacks)",
                       s->lim->max_stacks);
    struct lw_stack *st = lw__profile_add_stack(p, s->lim);
    if (!st)
        return lw_errf(c->eb, LW_ENOMEM, "proto: profile memory limit (%zu bytes) reached at "
                       "sample %zu", s->lim->max_arena, si);
    if (inplace) {
        st->nframes = nf;
        if (nf) {
            st->ftab = s->ftab0;
            st->fidx = locf.data;
            st->fidx_size = 1;
        }
    } else if ((rc = attach_frames(s, p, st, s->s_fidx.a, nf, h)) != LW_OK) {
        return rc;
    }
    if (s->s_labels.n) {
        /* formatted on demand from the sample (lw__proto_labels) */
        st->labels_ = (const char *)sf->start;
        st->flags |= LW_STACK_LABELS_PROTO;
        s->labelled = true;
    }
    if (trunc)
        st->flags |= LW_STACK_TRUNCATED;
    if (k->kind == LW_KIND_HEAP) {
        struct lw_stack_ext *e = lw__stack_ext(p, st);
        if (!e)
            return lw_errf(c->eb, LW_ENOMEM, "proto: profile memory limit (%zu bytes) reached "
                           "at sample %zu", s->lim->max_arena, si);
        st->count = val_at(s, k->vi_inuse_obj);
        e->inuse_bytes = val_at(s, k->vi_inuse_sp);
        e->alloc_objects = val_at(s, k->vi_alloc_obj);
        e->alloc_bytes = val_at(s, k->vi_alloc_sp);
        *total += (uint64_t)e->inuse_bytes;
    } else {
        st->count = val_at(s, k->vi_count);
        if (k->kind == LW_KIND_GOROUTINELEAK)
            st->flags |= LW_STACK_LEAKED;
        *total += (uint64_t)st->count;
    }
    return LW_OK;
}

/* ---- entry point ---------------------------------------------------------------------- */

static void pstate_free(struct pstate *s)
{
    free(s->stypes.a);
    free(s->strs.a);
    free(s->lines.a);
    free(s->locs.a);
    free(s->fns.a);
    free(s->s_fidx.a);
    free(s->s_nidx.a);
    free(s->locmap.sorted);
    free(s->fnmap.sorted);
    free(s->s_locs.a);
    free(s->s_vals.a);
    free(s->s_labels.a);
    free(s->frames_memo.slot);
}

/* Parse the plain proto data[0..len), a malloc'd buffer this takes over: on
 * success it becomes the profile's backing store (p->src), on failure it is
 * freed. */
static int parse_owned(uint8_t *data, size_t len, const struct lw_pprof_limits *lim,
                       struct lw_profile **out, struct lw_errbuf *eb)
{
    *out = NULL;
    if (len > UINT32_MAX) { /* the records keep 32-bit offsets into the input */
        free(data);
        return lw_errf(eb, LW_ETOOBIG, "proto: %zu bytes (inflated): over the 4 GiB a proto "
                       "profile may have", len);
    }
    struct pstate s;
    memset(&s, 0, sizeof(s));
    s.lim = lim;
    s.c.base = data;
    s.c.bend = data + len;
    s.c.eb = eb;
    s.c.mem_max = lim->max_arena ? lim->max_arena : SIZE_MAX;
    s.c.label_max = (len > (SIZE_MAX - (64u << 20)) / 16) ? SIZE_MAX : (64u << 20) + 16 * len;
    struct lw_profile *p = NULL;
    int rc = pass1(&s);
    if (rc)
        goto out;
    const char *s0 = NULL;
    size_t s0n = 0;
    if (s.strs.n)
        str_at(data, s.strs.a[0], &s0, &s0n);
    if (s.strs.n == 0 || s0n != 0) {
        rc = lw_errf(eb, LW_EFORMAT, s.strs.n == 0
                     ? "proto: no string table (not a profile, or a stream cut before its end)"
                     : "proto: string_table[0] is not empty: not a pprof profile");
        goto out;
    }
    struct kindinfo k;
    if ((rc = pick_kind(&s, &k)) != LW_OK)
        goto out;
    p = lw__profile_new(k.kind, LW_FMT_PROTO, lim);
    if (!p) {
        rc = lw_errf(eb, LW_ENOMEM, "proto: out of memory");
        goto out;
    }
    if ((rc = pass2(&s, p)) != LW_OK)
        goto out;
    /* a hint only: past max_stacks the parse fails anyway, and a memo that
     * cannot be reserved still grows on demand (in place, stacks index the
     * input and the memo is only made if some sample falls back) */
    size_t want = s.nsamples;
    if (lim->max_stacks && want > lim->max_stacks)
        want = lim->max_stacks;
    if (!s.in_place)
        (void)memo_reserve(&s.c, &s.frames_memo, want);
    lw__profile_reserve_stacks(p, lim, want);
    uint64_t total = 0;
    const uint8_t *q = s.c.base + s.sample0;
    for (size_t i = 0; i < s.nsamples;) {
        struct field f;
        if ((rc = next_field(&s.c, &q, s.c.bend, &f)) != LW_OK) /* checked in pass 1 */
            goto out;
        if (f.num != 2)
            continue;
        if ((rc = do_sample(&s, p, &k, i++, &f, &total)) != LW_OK)
            goto out;
    }
    p->total = (int64_t)total;
    p->time_nanos = s.time_nanos;
    if (k.kind == LW_KIND_HEAP && s.have_period_type && str_is(&s, s.period_type.unit, "bytes"))
        p->heap_sample_rate = s.period;
    /* the profile keeps the input, and the string index if labels are
     * formatted from it (lw__proto_labels) */
    p->src = data;
    p->src_len = len;
    data = NULL;
    if (s.labelled) {
        uint32_t *fit = realloc(s.strs.a, s.strs.n * sizeof(*s.strs.a)); /* n > 0 */
        p->stroff = fit ? fit : s.strs.a;
        p->nstr = s.strs.n;
        s.strs.a = NULL;
    }
out:
    pstate_free(&s);
    free(data);
    if (rc) {
        lw_profile_free(p);
        p = NULL;
    }
    *out = p;
    return rc;
}

/* Take b's bytes (b is left empty), giving back the unused tail its
 * doubling left when that is more than an eighth. */
static uint8_t *buf_take(struct lw_buf *b, size_t *len)
{
    size_t cap = b->cap;
    char *d = lw_buf_detach(b, len);
    if (cap - *len > *len / 8) {
        char *fit = realloc(d, *len + 1);
        if (fit)
            d = fit;
    }
    return (uint8_t *)d;
}

int lw__proto_parse_owned(struct lw_buf *in, const struct lw_pprof_limits *limits,
                          struct lw_profile **out, struct lw_errbuf *eb)
{
    *out = NULL;
    if (!in->data || in->len == 0)
        return lw_errf(eb, LW_EEMPTY, "proto: empty input");
    if (limits->max_input && in->len > limits->max_input)
        return lw_errf(eb, LW_ETOOBIG, "proto: input of %zu bytes exceeds the %zu-byte limit",
                       in->len, limits->max_input);
    if (lw__is_gzip(in->data, in->len))
        return lw_pprof_parse_proto(in->data, in->len, limits, out, eb);
    size_t len;
    uint8_t *d = buf_take(in, &len);
    return parse_owned(d, len, limits, out, eb);
}

int lw_pprof_parse_proto(const void *data, size_t len, const struct lw_pprof_limits *limits,
                         struct lw_profile **out, struct lw_errbuf *eb)
{
    struct lw_pprof_limits def;
    if (!limits) {
        lw_pprof_limits_default(&def);
        limits = &def;
    }
    *out = NULL;
    if (!data || len == 0)
        return lw_errf(eb, LW_EEMPTY, "proto: empty input");
    if (limits->max_input && len > limits->max_input)
        return lw_errf(eb, LW_ETOOBIG, "proto: input of %zu bytes exceeds the %zu-byte limit", len,
                       limits->max_input);
    if (!lw__is_gzip(data, len)) {
        /* the caller's bytes: the profile keeps a copy of them */
        uint8_t *copy = malloc(len);
        if (!copy)
            return lw_errf(eb, LW_ENOMEM, "proto: out of memory");
        memcpy(copy, data, len);
        return parse_owned(copy, len, limits, out, eb);
    }
    /* gzip'd; a proxy may have added a second layer (pprof-formats.md §8.2) */
    struct lw_buf a = LW_BUF_INIT(limits->max_inflated), b = LW_BUF_INIT(limits->max_inflated);
    int rc = lw__gunzip(data, len, &a, eb);
    struct lw_buf *use = &a;
    if (rc == LW_OK && lw__is_gzip(a.data, a.len)) {
        rc = lw__gunzip(a.data, a.len, &b, eb);
        lw_buf_release(&a);
        use = &b;
    }
    if (rc == LW_OK) {
        if (use->len == 0) {
            rc = lw_errf(eb, LW_EEMPTY, "proto: gzip stream inflates to nothing");
        } else {
            /* the inflated bytes become the profile's backing store */
            size_t n;
            uint8_t *d = buf_take(use, &n);
            rc = parse_owned(d, n, limits, out, eb);
        }
    }
    lw_buf_release(&a);
    lw_buf_release(&b);
    return rc;
}
