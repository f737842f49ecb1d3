/* SPDX-License-Identifier: Apache-2.0 */
/*
 * argcheck: feeds the command line and environment that the Helm chart gives
 * the container to leakwatch's real option parser (lw_config_load from
 * pkg/ops, which also runs the cross-option rules of lw_config_validate), so
 * tests/cli/test_deploy_helm.sh proves the rendered Deployment and DaemonSet
 * would start with a valid configuration, not merely that the flag names
 * exist in docs/configuration.md.
 *   argcheck ENVFILE [ARG...]   (ARGs after the "controller" subcommand;
 *                                ENVFILE: NAME=value lines, the pod's env)
 * Prints "ok mode=... node=..." or the parser's one-line error; exit 0/1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "ops/ops.h"

#define MAX_ENV 64

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: argcheck ENVFILE [ARG...]\n");
        return 2;
    }
    static char lines[MAX_ENV][512];
    char *envp[MAX_ENV + 1];
    int n = 0;
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    while (n < MAX_ENV && fgets(lines[n], sizeof lines[n], f)) {
        lines[n][strcspn(lines[n], "\n")] = '\0';
        if (lines[n][0] != '\0')
            envp[n] = lines[n], n++;
    }
    fclose(f);
    envp[n] = NULL;

    struct lw_config cfg;
    struct lw_errbuf eb = {{0}};
    memset(&cfg, 0, sizeof cfg);
    int rc = lw_config_load(&cfg, argc - 2, argv + 2, envp, &eb);
    if (rc == LW_OK) {
        printf("ok mode=%s node=%s\n", cfg.mode == LW_MODE_DAEMONSET ? "daemonset" : "deployment",
               cfg.node ? cfg.node : "");
    } else {
        printf("error: %s\n", eb.msg);
    }
    lw_config_release(&cfg);
    return rc == LW_OK ? 0 : 1;
}
