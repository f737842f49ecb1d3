/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kubeconfig_int.h: internals of pkg/kubeconfig shared between its files,
 * the unit test and the fuzz target. Not a stable API.
 *
 *  - a capped YAML -> tree loader on top of libyaml's event parser
 *    (yamltree.c): max input size, nesting depth and node count, where a
 *    node reached through an alias counts as many times as it is reached,
 *    so an alias bomb ("billion laughs") is refused after a bounded amount
 *    of work; the tree shares aliased nodes instead of copying them, and
 *    anchors can only refer to finished nodes, so it is a DAG without
 *    cycles;
 *  - the merged set of kubeconfig files (kcload.c);
 *  - small helpers: base64, PEM checks with OpenSSL, RFC 3339 (kcutil.c);
 *  - the credential provider behind the endpoint (provider.c, exec.c).
 */
#ifndef LW_KUBECONFIG_INT_H
#define LW_KUBECONFIG_INT_H

#include "kubeconfig/kubeconfig.h"

#include <stddef.h>

/* ---- YAML tree (yamltree.c) ------------------------------------------------ */

enum lw__y_type { LW_Y_SCALAR = 1, LW_Y_MAP, LW_Y_SEQ };

struct lw__ynode {
    int type;
    int line;            /* 1-based line where the node starts */
    int plain;           /* scalar written without quotes (so `true`, `~` mean bool/null) */
    const char *str;     /* scalar text, NUL-terminated */
    size_t len;
    size_t n;            /* seq: items; map: pairs */
    struct lw__ynode **items;   /* seq: items[n]; map: key,value,key,value... (2n) */
    size_t expanded;     /* nodes in this subtree with aliases expanded (saturating) */
};

struct lw__ydoc {
    struct lw_arena arena;
    struct lw__ynode *root;    /* NULL for an empty document */
};

struct lw__ycaps {
    size_t max_bytes, max_depth, max_nodes;
};

/* Parse the first YAML document of data[0..len). eb gets "line L: what"
 * (the caller adds the file name). doc must be released even on error. */
int lw__y_parse(const char *data, size_t len, const struct lw__ycaps *caps, struct lw__ydoc *doc,
                struct lw_errbuf *eb);
void lw__y_release(struct lw__ydoc *doc);

/* Map lookup (the last occurrence of key wins, as in JSON; `<<` merge keys
 * are followed). NULL when absent, when m is not a map, or when the value is
 * null (~, null, empty). */
const struct lw__ynode *lw__y_get(const struct lw__ynode *m, const char *key);
/* 1 if n is missing or a YAML null. */
int lw__y_is_null(const struct lw__ynode *n);

/* ---- helpers (kcutil.c) -------------------------------------------------- */

/* Decode standard base64 (whitespace ignored, padding required where the
 * length needs it). *out is malloc'd (NUL-terminated), caller frees. */
int lw__b64_decode(const char *s, size_t len, char **out, size_t *outlen);
/* Encode; malloc'd NUL-terminated result or NULL. */
char *lw__b64_encode(const void *p, size_t len);

/* PEM checks with OpenSSL; why gets a short reason on failure. */
int lw__pem_check_certs(const char *pem, size_t len, int *ncerts, char *why, size_t whylen);
int lw__pem_check_key(const char *pem, size_t len, char *why, size_t whylen);
int lw__pem_check_pair(const char *cert, size_t certlen, const char *key, size_t keylen, char *why,
                       size_t whylen);

/* RFC 3339 ("2026-11-26T19:30:00Z", "...00.5+01:00") to Unix seconds. */
int lw__rfc3339_parse(const char *s, double *out);

double lw__now_mono(void);
double lw__now_real(void);

/* Read a small file (cap bytes) into a malloc'd NUL-terminated buffer. */
int lw__read_small(const char *path, size_t cap, char **out, size_t *outlen, struct lw_errbuf *eb);

/* ---- the merged kubeconfig files (kcload.c) -------------------------------- */

struct lw__kcfile {
    char *path;          /* as given */
    char *dir;           /* absolute directory, for relative paths */
    struct lw__ydoc doc;
    const struct lw__ynode *clusters, *users, *contexts;   /* sequences or NULL */
    const char *current_context;                          /* NULL if unset/empty */
};

struct lw__kcset {
    struct lw__kcfile files[LW_KUBECONFIG_MAX_FILES];
    size_t n;
};

/* Add one file's contents (data may come from memory: used by the fuzz
 * target). path names it in errors; dir is used for relative paths. */
int lw__kcset_add(struct lw__kcset *s, const char *path, const char *dir, const char *data,
                  size_t len, struct lw_errbuf *eb);
/* Read and add a file. */
int lw__kcset_add_file(struct lw__kcset *s, const char *path, struct lw_errbuf *eb);
void lw__kcset_release(struct lw__kcset *s);

/* First file defining name in list ("clusters"/"users"/"contexts"); returns
 * the inner object (cluster/user/context map, or NULL if that is null) and
 * sets *file. LW_ENOTFOUND if no file defines it. */
int lw__kcset_find(const struct lw__kcset *s, const char *list, const char *name,
                   const struct lw__ynode **obj, size_t *file);
/* current-context from the first file setting it; NULL if none. */
const char *lw__kcset_current_context(const struct lw__kcset *s);

/* Resolved, validated, side-effect-free description of the chosen context
 * (no files read, no plugin run): used by the loader and the fuzz target. */
struct lw__kcsel {
    const char *context, *cluster, *user, *namespace_;
    size_t ctx_file, cluster_file, user_file;
    const struct lw__ynode *c, *u;   /* cluster and user maps (u may be NULL) */
};
int lw__kcset_select(const struct lw__kcset *s, const char *override, struct lw__kcsel *sel,
                     struct lw_errbuf *eb);

/* Select and interpret the context as the loader does, but without reading
 * any referenced file (paths give an error) and without running a plugin:
 * the fuzz target's view of the whole configuration path. */
int lw__kc_dry_build(const struct lw__kcset *s, const char *context,
                     struct lw_kubeconfig_info *info, struct lw_errbuf *eb);

/* ---- provider (provider.c, exec.c) ---------------------------------------- */

struct lw__exec {
    char *command;        /* as configured, or resolved against the file's dir */
    char **argv;          /* NULL-terminated, argv[0] = command */
    char **env;           /* "NAME=VALUE" from exec.env */
    size_t nenv;
    char *api_version;
    char *install_hint;
    char *exec_info;      /* the KUBERNETES_EXEC_INFO JSON */
    char *what;           /* "user \"u\" in FILE", for errors */
    double timeout_s, early_s;
    size_t max_out;
    /* cached credential */
    int have, stale;
    char *token;
    char *cert, *key;
    size_t cert_len, key_len;
    double expiry;        /* Unix seconds; 0 = never expires */
    unsigned runs;        /* how many times the plugin ran (tests) */
};

/* Run the plugin and replace the cached credential. */
int lw__exec_run(struct lw__exec *x, struct lw_errbuf *eb);
void lw__exec_free(struct lw__exec *x);

struct lw__provider {
    char server[1024];       /* the configured server URL (not rewritten) */
    char *ca;                /* PEM bytes; NULL = system roots (kubeconfig without CA) */
    size_t ca_len;
    int insecure;
    struct curl_slist *connect_to;   /* tls-server-name mapping, or NULL */
    char host_header[600];   /* "Host: real:port" with tls-server-name, else "" */
    char *cert, *key;        /* static client certificate/key PEM */
    size_t cert_len, key_len;
    char *token;             /* static token (kubeconfig `token`) */
    char *token_file;        /* re-read periodically, or NULL */
    char *file_token;        /* last good token read from token_file */
    double token_read_at;    /* monotonic */
    int token_force;         /* re-read at the next apply() (after a 401) */
    double refresh_s;
    unsigned token_reads;    /* successful reads (tests) */
    char what[600];          /* "user \"u\" in FILE" / "in-cluster", for errors */
    struct lw__exec *exec;
};

/* Build the endpoint around a filled provider (takes ownership of p). */
void lw__provider_to_endpoint(struct lw__provider *p, const char *url, struct lw_kube_endpoint *ep);
void lw__provider_free(struct lw__provider *p);

#endif
