/* SPDX-License-Identifier: Apache-2.0 */
/*
 * report: a verdict as stable JSON (docs/json.md) and as text for people.
 */
#ifndef LW_REPORT_H
#define LW_REPORT_H

#include "analysis/analysis.h"

#include <stdio.h>

/* One JSON object on one line (no trailing newline); caller frees. NULL on ENOMEM. */
char *lw_report_json(const struct lw_verdict *v);
/* Human-readable, several lines. */
void lw_report_text(const struct lw_verdict *v, FILE *out);

#endif
