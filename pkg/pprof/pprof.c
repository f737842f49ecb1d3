/* SPDX-License-Identifier: Apache-2.0 */
/* pprof.c: the profile model's lifecycle, limits, format sniffing and the
 * lw_pprof_parse() dispatcher. */
#include "pprof/pprof_int.h"

#include <stdbool.h>
#include <stdint.h>
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
    l->goid_cut = 0;
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
    p->max_goid = -1;
    p->goid_cut = fmt == LW_FMT_DEBUG2 && limits && limits->goid_cut > 0 ? limits->goid_cut : 0;
    lw_arena_init(&p->arena, limits ? limits->max_arena : 0);
    lw_strtab_init(&p->strtab, &p->arena);
    return p;
}

const char *lw__profile_intern(struct lw_profile *p, const char *s, size_t n)
{
    return lw_strtab_intern(&p->strtab, s, n);
}

#define HUGE_BYTES ((size_t)2 << 20) /* one transparent huge page */
#define HUGE_MIN ((size_t)4 << 20)   /* arrays from this size on are made of huge pages (their
                                      * rounding up to 2 MiB is then at most a third) */
#define HUGE_TRY ((size_t)1 << 20)   /* a stack array of known size from this size on, if
                                      * rounding it up wastes at most a quarter */

#define STACKS_MAP ((size_t)64 << 10) /* a stack array of known size from this size on is
                                       * mapped with its pages populated */

/* Stacks live in an array of their own (not the arena) so it can grow by
 * doubling; its capacity is tracked in a hidden header before it. It is
 * malloc'd, or, when its size is known up front (reserve_stacks), made of
 * huge pages or mmap'd with MAP_POPULATE: the parse writes every entry, and
 * one populating call costs far less than a page fault per 4 KiB (16,384
 * proto stacks are 768 KiB, 192 faults). */
struct stack_vec_hdr {
    size_t cap;
    size_t mapped; /* bytes mmap'd (munmap on free), 0 if malloc'd */
};

/* Resize the array to bytes (header included; h may be NULL): realloc, or a
 * copy out of a mapped one. The result is malloc'd (mapped 0). */
static struct stack_vec_hdr *stack_vec_resize(struct lw_profile *p, struct stack_vec_hdr *h,
                                              size_t bytes)
{
    struct stack_vec_hdr *nh;
    if (!h || !h->mapped) {
        nh = realloc(h, bytes);
    } else if ((nh = malloc(bytes)) != NULL) {
        memcpy(nh, h, sizeof(*h) + p->nstacks * sizeof(struct lw_stack));
        munmap(h, h->mapped);
    }
    if (nh)
        nh->mapped = 0;
    return nh;
}

static void stack_vec_free(struct stack_vec_hdr *h)
{
    if (h && h->mapped)
        munmap(h, h->mapped);
    else
        free(h);
}

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
    size_t mapped = 0;
    size_t hb = (bytes + HUGE_BYTES - 1) & ~(HUGE_BYTES - 1);
    if (!h && bytes >= HUGE_TRY && hb - bytes <= bytes / 4 &&
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
    } else if (!h && bytes >= STACKS_MAP) {
        int flags = MAP_PRIVATE | MAP_ANONYMOUS;
#ifdef MAP_POPULATE
        flags |= MAP_POPULATE;
#endif
        void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, flags, -1, 0);
        if (m != MAP_FAILED) {
            nh = m;
            mapped = bytes;
        }
    } else {
        nh = stack_vec_resize(p, h, bytes);
    }
    if (!nh)
        return;
    nh->cap = n;
    nh->mapped = mapped;
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
        struct stack_vec_hdr *nh = stack_vec_resize(p, h, bytes);
        if (!nh)
            return NULL;
        nh->cap = ncap;
        p->stacks = (struct lw_stack *)(nh + 1);
    }
    struct lw_stack *s = &p->stacks[p->nstacks++];
    memset(s, 0, sizeof(*s));
    return s;
}

struct lw_stack_ext *lw__stack_ext(struct lw_profile *p, struct lw_stack *s)
{
    if (s->ext)
        return (struct lw_stack_ext *)s->ext; /* made here, from the profile's memory */
    struct lw_stack_ext *e = lw__profile_mem(p, sizeof(*e));
    if (!e)
        return NULL;
    *e = (struct lw_stack_ext)LW_STACK_EXT_INIT;
    s->ext = e;
    return e;
}

/* Model arrays (frames, proto index arrays) come from slabs
 * that grow with the profile: 16 KiB, doubling to 1 MiB, so a small profile
 * costs little and a mid-sized one is not rounded up; once a profile holds
 * HUGE_AFTER of them, further slabs are 2 MiB transparent huge pages (one
 * page fault per 2 MiB instead of 512: 16,384 distinct deep text stacks
 * write 10 MB of frames), whose rounding up is then at most a third. Slabs
 * of SLAB_MAP or more are mmap'd rather than malloc'd: in malloc's heap they
 * pushed it over glibc's trim threshold on some runs and not others, so
 * that repeated parses were fast or slow by the address layout (the input
 * and working arrays then faulted afresh on every parse). */
#define SLAB_FIRST ((size_t)16 << 10)
#define SLAB_MAX ((size_t)1 << 20)
#define HUGE_AFTER HUGE_MIN
#define SLAB_MAP ((size_t)64 << 10)

struct frame_slab {
    struct frame_slab *next;
    size_t size, off;
    size_t mapped; /* bytes mmap'd (munmap on free), 0 if malloc'd */
};

void *lw__profile_bytes(struct lw_profile *p, size_t bytes, size_t align)
{
    if (bytes == 0)
        bytes = 1;
    struct frame_slab *sl = p->slabs;
    size_t off = sl ? (sl->off + align - 1) & ~(align - 1) : 0;
    if (!sl || off > sl->size || sl->size - off < bytes) {
        size_t held = p->frames_bytes;
        size_t size = sl && sl->size ? sl->size * 2 : SLAB_FIRST; /* own slabs have size 0 */
        if (size > SLAB_MAX)
            size = SLAB_MAX;
        bool huge = held >= HUGE_AFTER;
        if (huge)
            size = HUGE_BYTES;
        size_t need = sizeof(struct frame_slab) + bytes + align;
        if (need < bytes)
            return NULL;
        if (size < need) {
            /* a big array gets a slab of its own (not made current, so the
             * current slab's free tail stays in use) */
            if (p->arena.max &&
                (p->arena.used > p->arena.max || need > p->arena.max - p->arena.used))
                return NULL;
            struct frame_slab *own = malloc(need);
            if (!own)
                return NULL;
            own->size = 0;
            own->off = need;
            own->mapped = 0;
            if (sl) {
                own->next = sl->next;
                sl->next = own;
            } else {
                own->next = NULL;
                p->slabs = own;
            }
            p->arena.used += need;
            p->frames_bytes += need;
            uintptr_t a = ((uintptr_t)(own + 1) + align - 1) & ~(uintptr_t)(align - 1);
            return (void *)a;
        }
        if (p->arena.max && (p->arena.used > p->arena.max || size > p->arena.max - p->arena.used))
            return NULL;
        void *m = NULL;
        if (huge) {
            if (posix_memalign(&m, HUGE_BYTES, HUGE_BYTES) != 0)
                m = NULL;
#ifdef MADV_HUGEPAGE
            else
                (void)madvise(m, HUGE_BYTES, MADV_HUGEPAGE); /* a hint: fine if refused */
#endif
        } else if (size >= SLAB_MAP) {
            m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (m == MAP_FAILED)
                m = NULL;
        } else {
            m = malloc(size);
        }
        if (!m)
            return NULL;
        sl = m;
        sl->mapped = !huge && size >= SLAB_MAP ? size : 0;
        sl->next = p->slabs;
        sl->size = size;
        sl->off = sizeof(struct frame_slab);
        p->slabs = sl;
        p->arena.used += size;
        p->frames_bytes += size;
        off = (sl->off + align - 1) & ~(align - 1);
    }
    sl->off = off + bytes;
    return (char *)sl + off;
}

void *lw__profile_mem(struct lw_profile *p, size_t bytes)
{
    return lw__profile_bytes(p, bytes, 8);
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
        stack_vec_free((struct stack_vec_hdr *)p->stacks - 1);
    for (struct frame_slab *sl = p->slabs, *next; sl; sl = next) {
        next = sl->next;
        if (sl->mapped)
            munmap(sl, sl->mapped);
        else
            free(sl);
    }
    free(p->src);
    free(p->stroff);
    lw_strtab_release(&p->strtab);
    lw_arena_release(&p->arena);
    free(p);
}

int lw_stack_labels(const struct lw_profile *p, const struct lw_stack *s, struct lw_buf *out)
{
    if (!s->labels_)
        return LW_OK;
    if (s->flags & LW_STACK_LABELS_PROTO)
        return lw__proto_labels(p, s, out);
    return lw_buf_append(out, s->labels_, strlen(s->labels_));
}
