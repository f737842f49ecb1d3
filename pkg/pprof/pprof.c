/* SPDX-License-Identifier: Apache-2.0 */
/* pprof.c: the profile model's lifecycle, limits, format sniffing and the
 * lw_pprof_parse() dispatcher. */
#include "pprof/pprof_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

void lw_pprof_limits_default(struct lw_pprof_limits *l)
{
    l->max_input = 512u << 20;
    l->max_inflated = 512u << 20;
    l->max_arena = 1024u << 20;
    l->max_frames = 256;
    l->max_stacks = 1000000;
}

const char *lw_prof_kind_name(enum lw_prof_kind k)
{
    switch (k) {
    case LW_KIND_GOROUTINE: return "goroutine";
    case LW_KIND_GOROUTINELEAK: return "goroutineleak";
    case LW_KIND_HEAP: return "heap";
    default: return "unknown";
    }
}

const char *lw_prof_format_name(enum lw_prof_format f)
{
    switch (f) {
    case LW_FMT_DEBUG1: return "debug1";
    case LW_FMT_DEBUG2: return "debug2";
    case LW_FMT_PROTO: return "proto";
    case LW_FMT_HEAP1: return "heap1";
    default: return "unknown";
    }
}

struct lw_profile *lw__profile_new(enum lw_prof_kind kind, enum lw_prof_format fmt,
                                   const struct lw_pprof_limits *limits)
{
    struct lw_profile *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->kind = kind;
    p->format = fmt;
    lw_arena_init(&p->arena, limits ? limits->max_arena : 0);
    lw_strtab_init(&p->strtab, &p->arena);
    return p;
}

const char *lw__profile_intern(struct lw_profile *p, const char *s, size_t n)
{
    return lw_strtab_intern(&p->strtab, s, n);
}

#define HUGE_BYTES ((size_t)2 << 20) /* one transparent huge page */
#define HUGE_MIN ((size_t)1 << 20)   /* arrays from this size on are made of huge pages */

/* Stacks live in a malloc'd array (not the arena) so it can grow by
 * doubling; its capacity is tracked in a hidden header before it. */
struct stack_vec_hdr {
    size_t cap;
};

void lw__profile_reserve_stacks(struct lw_profile *p, const struct lw_pprof_limits *limits,
                                size_t n)
{
    struct stack_vec_hdr *h = p->stacks ? (struct stack_vec_hdr *)p->stacks - 1 : NULL;
    size_t cap = h ? h->cap : 0;
    if (n <= cap || n > SIZE_MAX / 2 / sizeof(struct lw_stack))
        return;
    size_t bytes = sizeof(*h) + n * sizeof(struct lw_stack);
    if (limits && limits->max_arena && p->arena.used + bytes > limits->max_arena)
        return; /* a hint: add_stack reports the cap when it is really reached */
    struct stack_vec_hdr *nh = NULL;
    size_t hb = (bytes + HUGE_BYTES - 1) & ~(HUGE_BYTES - 1);
    if (!h && bytes >= HUGE_MIN &&
        !(limits && limits->max_arena && p->arena.used + hb > limits->max_arena)) {
        /* whole huge pages: one page fault per 2 MiB instead of 512 */
        void *m = NULL;
        if (posix_memalign(&m, HUGE_BYTES, hb) == 0) {
#ifdef MADV_HUGEPAGE
            (void)madvise(m, hb, MADV_HUGEPAGE); /* a hint: fine if refused */
#endif
            nh = m;
            n = (hb - sizeof(*h)) / sizeof(struct lw_stack);
        }
    } else {
        nh = realloc(h, bytes);
    }
    if (!nh)
        return;
    nh->cap = n;
    p->stacks = (struct lw_stack *)(nh + 1);
}

struct lw_stack *lw__profile_add_stack(struct lw_profile *p, const struct lw_pprof_limits *limits)
{
    size_t max = limits && limits->max_stacks ? limits->max_stacks : (size_t)-1;
    if (p->nstacks >= max)
        return NULL;
    struct stack_vec_hdr *h = p->stacks ? (struct stack_vec_hdr *)p->stacks - 1 : NULL;
    size_t cap = h ? h->cap : 0;
    if (p->nstacks == cap) {
        size_t ncap = cap ? cap * 2 : 16;
        size_t bytes = sizeof(*h) + ncap * sizeof(struct lw_stack);
        /* count the array against the memory cap too */
        if (limits && limits->max_arena && p->arena.used + bytes > limits->max_arena)
            return NULL;
        struct stack_vec_hdr *nh = realloc(h, bytes);
        if (!nh)
            return NULL;
        nh->cap = ncap;
        p->stacks = (struct lw_stack *)(nh + 1);
    }
    struct lw_stack *s = &p->stacks[p->nstacks++];
    memset(s, 0, sizeof(*s));
    s->max_wait_minutes = -1;
    s->min_wait_minutes = -1;
    return s;
}

#define SLAB_BYTES HUGE_BYTES
#define SLAB_AFTER ((size_t)256 << 10) /* frames kept in the arena before slabs */

struct frame_slab {
    struct frame_slab *next;
    size_t off;
};

void *lw__profile_mem(struct lw_profile *p, size_t bytes)
{
    if (p->frames_bytes < SLAB_AFTER || bytes > SLAB_BYTES / 4) {
        void *f = lw_arena_alloc(&p->arena, bytes);
        if (f)
            p->frames_bytes += bytes;
        return f;
    }
    bytes = (bytes + 7) & ~(size_t)7;
    struct frame_slab *sl = p->slabs;
    if (!sl || SLAB_BYTES - sl->off < bytes) {
        if (p->arena.max && p->arena.used + SLAB_BYTES > p->arena.max)
            return NULL;
        void *m = NULL;
        if (posix_memalign(&m, SLAB_BYTES, SLAB_BYTES) != 0)
            return NULL;
#ifdef MADV_HUGEPAGE
        (void)madvise(m, SLAB_BYTES, MADV_HUGEPAGE); /* a hint: fine if refused */
#endif
        sl = m;
        sl->next = p->slabs;
        sl->off = 64;
        p->slabs = sl;
        p->arena.used += SLAB_BYTES;
    }
    void *f = (char *)sl + sl->off;
    sl->off += bytes;
    p->frames_bytes += bytes;
    return f;
}

struct lw_frame *lw__profile_frames(struct lw_profile *p, size_t n)
{
    if (n > SIZE_MAX / sizeof(struct lw_frame))
        return NULL;
    return lw__profile_mem(p, n * sizeof(struct lw_frame));
}

int lw__stack_set_frames(struct lw_profile *p, struct lw_stack *s, const struct lw_frame *f,
                         uint32_t n)
{
    if (n == 0) {
        s->ftab = NULL;
        s->fidx = NULL;
        s->nframes = 0;
        return LW_OK;
    }
    struct lw_frame *c = lw__profile_frames(p, n);
    if (!c)
        return LW_ENOMEM;
    memcpy(c, f, sizeof(*c) * n);
    s->ftab = c;
    s->fidx = NULL;
    s->nframes = n;
    return LW_OK;
}

void lw_profile_free(struct lw_profile *p)
{
    if (!p)
        return;
    if (p->stacks)
        free((struct stack_vec_hdr *)p->stacks - 1);
    for (struct frame_slab *sl = p->slabs, *next; sl; sl = next) {
        next = sl->next;
        free(sl);
    }
    lw_strtab_release(&p->strtab);
    lw_arena_release(&p->arena);
    free(p);
}
