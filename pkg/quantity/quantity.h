/* SPDX-License-Identifier: Apache-2.0 */
/*
 * quantity: Kubernetes resource quantities ("128Mi", "1.5G", "500m", "1e3",
 * "0.5Ki") to whole bytes.
 *
 * Grammar (k8s.io/apimachinery resource.Quantity):
 *   quantity ::= [sign] number [suffix]
 *   number   ::= digits | digits "." [digits] | "." digits
 *   suffix   ::= binarySI (Ki Mi Gi Ti Pi Ei) | decimalSI (n u m "" k M G T P E)
 *              | decimalExponent ("e" | "E") [sign] digits
 * The value is exact (decimal arithmetic, no floating point) and rounded UP
 * to a whole number of bytes, as Kubernetes does when it reads a memory
 * limit in bytes (Quantity.Value() rounds up). Negative values, values that
 * do not fit in int64, empty strings, spaces and trailing junk are rejected
 * with LW_EINVAL or LW_ERANGE and a message naming the problem.
 */
#ifndef LW_QUANTITY_H
#define LW_QUANTITY_H

#include "base/base.h"

#include <stdint.h>

/* Parse s (NUL-terminated) into bytes. Negative quantities are LW_ERANGE
 * for memory purposes ("must not be negative"). */
int lw_quantity_parse(const char *s, int64_t *out_bytes, struct lw_errbuf *eb);

/* Same on a length-delimited string (no NUL needed). */
int lw_quantity_parsen(const char *s, size_t n, int64_t *out_bytes, struct lw_errbuf *eb);

#endif
