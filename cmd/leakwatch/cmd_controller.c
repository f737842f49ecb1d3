/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_controller.c: `leakwatch controller`, the in-cluster main job. Only
 * configuration (flags, LEAKWATCH_* environment, YAML file: the option table
 * in pkg/ops), logger setup and exit codes live here; the work is
 * pkg/controller (docs/controller.md).
 */
#include "cli.h"

#include "base/base.h"
#include "controller/controller.h"
#include "ops/ops.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

int cmd_controller(int argc, char **argv)
{
    struct lw_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    struct lw_errbuf eb = {{0}};
    int rc = lw_config_load(&cfg, argc - 1, argv + 1, NULL, &eb);
    if (cfg.help) {
        struct lw_buf b = LW_BUF_INIT(1u << 20);
        fputs("Watch opted-in pods, scrape their pprof endpoints, predict leaks and OOM kills,\n"
              "and report through Events, annotations and /metrics (docs/controller.md).\n\n",
              stdout);
        if (lw_config_help(&b) == LW_OK && b.data)
            fputs(b.data, stdout);
        lw_buf_release(&b);
        lw_config_release(&cfg);
        return LW_EXIT_OK;
    }
    if (rc != LW_OK) {
        cli_err("controller: %s", eb.msg);
        lw_config_release(&cfg);
        return LW_EXIT_USAGE;
    }
    lw_log_setup((enum lw_log_level)cfg.log_level, (enum lw_log_format)cfg.log_format, -1);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        cli_err("controller: libcurl initialisation failed");
        lw_config_release(&cfg);
        return LW_EXIT_ERROR;
    }
    rc = lw_controller_run(&cfg, &eb);
    if (rc != LW_OK)
        lw_log(LW_LOG_ERROR, "controller failed", "err", eb.msg, NULL);
    curl_global_cleanup();
    lw_config_release(&cfg);
    return rc == LW_OK ? LW_EXIT_OK : LW_EXIT_ERROR;
}
