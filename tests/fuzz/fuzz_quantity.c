/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_quantity.c: lw_quantity_parsen() on arbitrary bytes. Never crashes;
 * every accepted input re-checks properties: the NUL-terminated entry point
 * agrees, the result is non-negative, a plain decimal integer equals
 * strtoll, and for an integer with no suffix, appending "Ki" multiplies by
 * exactly 1024 (or overflows) and appending "000m" changes nothing.
 */
#include "quantity/quantity.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        size = 4096;
    int64_t v = -1;
    struct lw_errbuf eb;
    eb.msg[0] = '\0';
    int rc = lw_quantity_parsen((const char *)data, size, &v, &eb);
    if (rc != LW_OK) {
        if (eb.msg[0] == '\0' || (rc != LW_EINVAL && rc != LW_ERANGE))
            abort();
        return 0;
    }
    if (v < 0)
        abort();
    char *s = malloc(size + 8);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    int64_t w = -1;
    if (lw_quantity_parse(s, &w, &eb) != LW_OK || w != v)
        abort();
    size_t digits = 0;
    while (digits < size && s[digits] >= '0' && s[digits] <= '9')
        digits++;
    if (digits == size) {
        errno = 0;
        long long ll = strtoll(s, NULL, 10);
        if (errno == 0 && ll != v)
            abort();
        memcpy(s + size, "Ki", 3);
        rc = lw_quantity_parse(s, &w, &eb);
        if (rc == LW_OK ? w != v * 1024 : (rc != LW_ERANGE || v <= INT64_MAX / 1024))
            abort();
        memcpy(s + size, "000m", 5);
        if (lw_quantity_parse(s, &w, &eb) != LW_OK || w != v)
            abort();
    }
    free(s);
    return 0;
}
