/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kubeconfig: where the API server is and how to authenticate to it.
 *
 * Produces a struct lw_kube_endpoint (pkg/kube/kube_auth.h) from either
 *  - the in-cluster service account (KUBERNETES_SERVICE_HOST/PORT, the
 *    projected token, ca.crt and namespace files), or
 *  - kubeconfig files (an explicit path, the KUBECONFIG list merged
 *    first-file-wins as kubectl does, or $HOME/.kube/config), with
 *    certificate-authority[-data], client-certificate[-data],
 *    client-key[-data], token, tokenFile, insecure-skip-tls-verify,
 *    tls-server-name and exec credential plugins (v1 and v1beta1).
 *
 * DESIGN
 *  - Everything that can be checked is checked at load time: the YAML
 *    (read by a small capped libyaml loader), the chosen context, cluster and
 *    user, every referenced file (read once), base64, and every PEM (parsed
 *    with OpenSSL; a client key must match its certificate). A bad CA is an
 *    error naming the file and field, never a fallback to system roots.
 *  - apply() runs before every request: it sets TLS options with in-memory
 *    blobs (CURLOPT_CAINFO_BLOB, CURLOPT_SSLCERT_BLOB, CURLOPT_SSLKEY_BLOB,
 *    all CURL_BLOB_COPY) and appends "Authorization: Bearer ..." from the
 *    current credential: a token file is re-read when older than the refresh
 *    period (60 s) and right after unauthorized(); exec plugin credentials
 *    are cached until shortly before expirationTimestamp and re-run after
 *    unauthorized(). A token file that cannot be read keeps the last good
 *    token.
 *  - tls-server-name: libcurl has no option to verify against a name other
 *    than the URL's host, so the endpoint's server URL uses the
 *    tls-server-name as host and apply() sets CURLOPT_CONNECT_TO
 *    ("name:port:real-host:real-port") so the TCP connection still goes to
 *    the configured server; SNI and the certificate check use the
 *    tls-server-name, and a "Host:" header carries the real server's
 *    host:port as Go's client would send it.
 *  - Token values never appear in error messages.
 *  - Single-threaded: the endpoint's functions must be called from one
 *    thread (the loop's). apply() may block while an exec plugin runs (at
 *    most exec_timeout_s), which happens only at load, near expiry and
 *    after a 401.
 *
 * Ownership: a successful load fills *ep; its ud belongs to the endpoint
 * and is freed by lw_kubeconfig_endpoint_release(ep) (or ep->release(ep->ud)).
 * An easy handle configured by apply() must not be used after the endpoint
 * is released (CURLOPT_CONNECT_TO keeps a pointer to the endpoint's list).
 */
#ifndef LW_KUBECONFIG_H
#define LW_KUBECONFIG_H

#include "base/base.h"
#include "kube/kube_auth.h"

/* Default in-cluster paths (the service-account volume). */
#define LW_SA_TOKEN_PATH "/var/run/secrets/kubernetes.io/serviceaccount/token"
#define LW_SA_CA_PATH "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
#define LW_SA_NAMESPACE_PATH "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

/* Caps of the kubeconfig YAML loader. */
#define LW_KUBECONFIG_MAX_FILE (4u << 20)     /* bytes per kubeconfig file */
#define LW_KUBECONFIG_MAX_DEPTH 64            /* nesting of maps/sequences */
#define LW_KUBECONFIG_MAX_NODES 200000        /* nodes, aliases counted expanded */
#define LW_KUBECONFIG_MAX_FILES 32            /* entries of KUBECONFIG used */

struct lw_kubeconfig_opts {
    /* --kubeconfig: loaded alone, must exist. NULL: use kubeconfig_env. */
    const char *path;
    /* The KUBECONFIG list (colon-separated). NULL: getenv("KUBECONFIG").
     * When empty, $HOME/.kube/config (home NULL: getenv("HOME")). */
    const char *kubeconfig_env;
    const char *home;
    /* --context: overrides current-context. NULL or "" = current-context. */
    const char *context;

    /* In-cluster settings; NULL = environment / the defaults above. */
    const char *service_host;     /* KUBERNETES_SERVICE_HOST */
    const char *service_port;     /* KUBERNETES_SERVICE_PORT */
    const char *sa_token_path;
    const char *sa_ca_path;
    const char *sa_namespace_path;

    double token_refresh_s;   /* token file re-read period; 0 = 60 */
    double exec_timeout_s;    /* exec plugin run time limit; 0 = 30 */
    double exec_early_s;      /* re-run exec this long before expiry; 0 = 10 */
    size_t exec_max_output;   /* exec stdout cap in bytes; 0 = 1 MiB */
};

/* What was loaded, for logs and defaults. Never holds a credential. */
struct lw_kubeconfig_info {
    char source[1024];     /* "in-cluster" or the kubeconfig file of the context */
    char context[256];     /* chosen context ("" in-cluster) */
    char cluster[256];
    char user[256];
    char namespace_[254];  /* context namespace / namespace file; "default" if unset */
    char auth[64];         /* "token", "token-file", "exec", "client-cert",
                              "client-cert+token", ..., or "none" */
    int insecure;          /* insecure-skip-tls-verify: true */
};

/* Fill o with NULLs/zeros (all defaults). */
void lw_kubeconfig_opts_default(struct lw_kubeconfig_opts *o);

/* In-cluster config. LW_ENOTFOUND (eb says why) when KUBERNETES_SERVICE_HOST
 * or _PORT is empty; any other failure (unreadable/empty token, missing or
 * bad CA) is an error naming the file. info may be NULL. */
int lw_kubeconfig_load_incluster(const struct lw_kubeconfig_opts *o, struct lw_kube_endpoint *ep,
                                 struct lw_kubeconfig_info *info, struct lw_errbuf *eb);

/* Out-of-cluster config from kubeconfig files (o->path, else the KUBECONFIG
 * list, else $HOME/.kube/config). LW_ENOTFOUND when no file exists at all
 * (and no explicit path was given). info may be NULL. */
int lw_kubeconfig_load_file(const struct lw_kubeconfig_opts *o, struct lw_kube_endpoint *ep,
                            struct lw_kubeconfig_info *info, struct lw_errbuf *eb);

/* The usual order (as controller-runtime): an explicit path; else a
 * non-empty KUBECONFIG; else in-cluster when the service env is set; else
 * $HOME/.kube/config. */
int lw_kubeconfig_load(const struct lw_kubeconfig_opts *o, struct lw_kube_endpoint *ep,
                       struct lw_kubeconfig_info *info, struct lw_errbuf *eb);

/* Free what a load put in ep (calls ep->release) and zero it. Idempotent. */
void lw_kubeconfig_endpoint_release(struct lw_kube_endpoint *ep);

#endif
