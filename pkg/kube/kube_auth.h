/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube_auth.h: the seam between the Kubernetes API client (pkg/kube) and
 * where its server address, TLS material and credentials come from
 * (pkg/kubeconfig: in-cluster service account, kubeconfig files, exec
 * credential plugins).
 *
 * The client calls apply() on every request before it is sent, so rotating
 * credentials (a bound service-account token re-read from disk, an exec
 * plugin's token near expiry) are picked up without the client knowing how.
 * After a 401 it calls unauthorized() once and retries the request once,
 * which lets the provider re-read the token file or re-run the plugin at
 * once instead of waiting for its refresh period.
 *
 * TLS: apply() sets CA/client certificate/key on the easy handle (in memory,
 * CURLOPT_*_BLOB); verification is always on unless the configuration
 * explicitly disables it (insecure-skip-tls-verify).
 */
#ifndef LW_KUBE_AUTH_H
#define LW_KUBE_AUTH_H

#include "base/base.h"

#include <curl/curl.h>

struct lw_kube_endpoint {
    char server[1024];   /* "https://10.0.0.1:443", no trailing slash */
    void *ud;            /* the provider's state */
    /* Set TLS options on easy and append auth headers to *headers (caller
     * frees the list). Returns 0 or an lw_err with eb filled (e.g. the exec
     * plugin failed: no request is sent then). */
    int (*apply)(void *ud, CURL *easy, struct curl_slist **headers, struct lw_errbuf *eb);
    /* The server answered 401 to a request made with what apply() set. */
    void (*unauthorized)(void *ud);
    /* Free the provider's state (may be NULL). */
    void (*release)(void *ud);
};

#endif
