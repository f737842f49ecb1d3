/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_kubeconfig.c: the kubeconfig YAML loader and everything after it that
 * does not touch the outside world. The input is split at form feeds
 * ('\f') into up to 4 kubeconfig files, which are merged (first file wins),
 * then the context is selected (current-context, and the override "a") and
 * interpreted with file reads disabled and no plugin run: base64, PEM
 * checks, URLs, tls-server-name, exec settings, KUBERNETES_EXEC_INFO.
 * Properties: never crashes or leaks; every failure has a message; the
 * loader's caps hold (an input over the size cap is refused); a successful
 * selection names a context, a cluster and a namespace.
 */
#include "kubeconfig/kubeconfig_int.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_fail(int rc, const struct lw_errbuf *eb)
{
    if (rc != LW_OK && eb->msg[0] == '\0')
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20))
        size = 1u << 20;
    static struct lw__kcset s;
    memset(&s, 0, sizeof(s));
    struct lw_errbuf eb;
    const char *p = (const char *)data, *end = p + size;
    int rc = LW_OK;
    for (int i = 0; i < 4 && rc == LW_OK && p <= end; i++) {
        const char *ff = p < end ? memchr(p, '\f', (size_t)(end - p)) : NULL;
        const char *e = ff ? ff : end;
        char name[32];
        snprintf(name, sizeof(name), "fuzz%d.yaml", i);
        eb.msg[0] = '\0';
        rc = lw__kcset_add(&s, name, "/nonexistent", p, (size_t)(e - p), &eb);
        check_fail(rc, &eb);
        if (!ff)
            break;
        p = ff + 1;
    }
    if (rc == LW_OK) {
        const char *ctxs[] = {NULL, "a"};
        for (size_t i = 0; i < 2; i++) {
            struct lw_kubeconfig_info info;
            memset(&info, 0, sizeof(info));
            eb.msg[0] = '\0';
            rc = lw__kc_dry_build(&s, ctxs[i], &info, &eb);
            check_fail(rc, &eb);
            if (rc == LW_OK && (!info.context[0] || !info.cluster[0] || !info.namespace_[0]))
                abort();
        }
    }
    lw__kcset_release(&s);

    /* the raw tree: caps hold on the whole input */
    struct lw__ydoc doc;
    static const struct lw__ycaps caps = {4096, 16, 500};
    eb.msg[0] = '\0';
    rc = lw__y_parse((const char *)data, size, &caps, &doc, &eb);
    check_fail(rc, &eb);
    if (size > caps.max_bytes && rc != LW_ETOOBIG)
        abort();
    if (rc == LW_OK && doc.root && doc.root->expanded > caps.max_nodes)
        abort();
    lw__y_release(&doc);
    return 0;
}
