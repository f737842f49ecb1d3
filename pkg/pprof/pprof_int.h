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
/* Append a zeroed stack (max_wait/min_wait = -1); NULL when max_stacks or
 * the memory cap is reached. The returned pointer is valid until the next
 * call (the array may move). */
struct lw_stack *lw__profile_add_stack(struct lw_profile *p, const struct lw_pprof_limits *limits);
/* Copy frames into the profile's arena and attach them to s. */
int lw__stack_set_frames(struct lw_profile *p, struct lw_stack *s, const struct lw_frame *f,
                         uint32_t n);



/* Inflate a gzip stream (one or more members) into out, which must have
 * out->max set: LW_ETOOBIG past it (gzip bombs stop there), LW_ETRUNC for a
 * cut stream, LW_EFORMAT for a bad header/CRC. eb says which. (gunzip.c) */
int lw__gunzip(const void *data, size_t len, struct lw_buf *out, struct lw_errbuf *eb);
static inline int lw__is_gzip(const void *data, size_t len)
{
    const unsigned char *d = data;
    return len >= 2 && d[0] == 0x1f && d[1] == 0x8b;
}
#endif
