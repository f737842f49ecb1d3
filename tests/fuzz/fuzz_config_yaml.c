/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_config_yaml.c: the YAML config file loader (lw_config_load_yaml) on
 * arbitrary bytes. Any input must end in LW_OK or an error with a message,
 * never a crash, a leak or unbounded work; after a successful load the
 * cross-option validation and value formatting must cope with whatever
 * values were accepted.
 */
#include "ops/ops.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lw_config cfg;
    struct lw_errbuf eb;
    memset(&cfg, 0, sizeof cfg);
    if (lw_config_defaults(&cfg, &eb) != LW_OK)
        __builtin_trap();
    eb.msg[0] = '\0';
    int rc = lw_config_load_yaml(&cfg, (const char *)data, size, "fuzz.yaml", &eb);
    if (rc != LW_OK && !eb.msg[0])
        __builtin_trap(); /* every failure must say why */
    if (rc == LW_OK) {
        (void)lw_config_validate(&cfg, &eb);
        struct lw_buf b = LW_BUF_INIT(1 << 20);
        for (size_t i = 0; i < lw_options_count; i++)
            lw_config_format_value(&cfg, &lw_options[i], &b);
        lw_buf_release(&b);
    }
    lw_config_release(&cfg);
    return 0;
}
