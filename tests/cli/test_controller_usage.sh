#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `leakwatch controller` without a cluster: --help prints the generated
# option help (exit 0), bad flags and values are usage errors (exit 2)
# naming the option, an unusable kubeconfig is a runtime error (exit 1)
# with a clear message, and the top-level usage lists the command.
. "$(dirname "$0")/lib.sh"
export HOME=$TMP/home
mkdir -p "$HOME"
unset KUBECONFIG KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT

expect_rc "controller --help" 0 "$LEAKWATCH" controller --help
expect_grep "help lists --scrape-interval" "$TMP/out" '--scrape-interval'
expect_grep "help lists --kubeconfig" "$TMP/out" '--kubeconfig'
expect_grep "help names the env variables" "$TMP/out" 'LEAKWATCH_METRICS_BIND_ADDRESS'
expect_rc "leakwatch --help" 0 "$LEAKWATCH" --help
expect_grep "top-level usage lists controller" "$TMP/out" '^  controller '
expect_rc "unknown flag" 2 "$LEAKWATCH" controller --bogus
expect_grep "the unknown flag is named" "$TMP/err" 'bogus'
expect_rc "bad duration" 2 "$LEAKWATCH" controller --scrape-interval 5parsecs
expect_grep "the option is named" "$TMP/err" 'scrape-interval'
expect_rc "bad env value" 2 env LEAKWATCH_LOG_LEVEL=loud "$LEAKWATCH" controller
expect_grep "the env variable is named" "$TMP/err" 'LEAKWATCH_LOG_LEVEL|log-level'
expect_rc "missing kubeconfig" 1 "$LEAKWATCH" controller --kubeconfig "$TMP/nope" \
  --metrics-bind-address 127.0.0.1:0
expect_grep "the kubeconfig path is named" "$TMP/err" 'nope'
printf 'apiVersion: v1\nkind: Config\nclusters: [\n' >"$TMP/broken"
expect_rc "broken kubeconfig" 1 "$LEAKWATCH" controller --kubeconfig "$TMP/broken" \
  --metrics-bind-address 127.0.0.1:0
expect_grep "one error record" "$TMP/err" 'level=error msg="controller failed"'
printf 'scrape-interval: 1m\nno-such-key: 1\n' >"$TMP/cfg.yaml"
expect_rc "unknown key in --config file" 2 "$LEAKWATCH" controller --config "$TMP/cfg.yaml"
expect_grep "the key is named" "$TMP/err" 'no-such-key'
finish
