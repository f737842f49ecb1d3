/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kcload.c: the set of kubeconfig files, merged as kubectl merges the
 * KUBECONFIG list (client-go tools/clientcmd/loader.go, "The first file to
 * set a particular map key wins and map key's value is never changed"):
 * a cluster, user or context is taken whole from the first file that
 * defines its name (no field-level merge), and current-context from the
 * first file that sets it non-empty. Nothing here reads referenced files or
 * runs anything, so the fuzz target can drive it directly.
 */
#include "kubeconfig/kubeconfig_int.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct lw__ycaps kc_caps = {LW_KUBECONFIG_MAX_FILE, LW_KUBECONFIG_MAX_DEPTH,
                                         LW_KUBECONFIG_MAX_NODES};

/* A scalar's text, or NULL if n is null/missing; *bad set if n is not a scalar. */
static const char *scalar(const struct lw__ynode *n, int *bad)
{
    if (lw__y_is_null(n))
        return NULL;
    if (n->type != LW_Y_SCALAR) {
        *bad = 1;
        return NULL;
    }
    return n->str;
}

/* Check one named list: a sequence of maps each with a unique non-empty name. */
static int check_list(const char *path, const struct lw__ynode *root, const char *list,
                      const char *inner, const struct lw__ynode **out, struct lw_errbuf *eb)
{
    const struct lw__ynode *l = lw__y_get(root, list);
    *out = NULL;
    if (!l)
        return LW_OK;
    if (l->type != LW_Y_SEQ)
        return lw_errf(eb, LW_EINVAL, "kubeconfig %s line %d: %s: must be a list", path, l->line,
                       list);
    for (size_t i = 0; i < l->n; i++) {
        const struct lw__ynode *e = l->items[i];
        int bad = 0;
        const char *name = e->type == LW_Y_MAP ? scalar(lw__y_get(e, "name"), &bad) : NULL;
        if (e->type != LW_Y_MAP)
            return lw_errf(eb, LW_EINVAL, "kubeconfig %s line %d: %s[%zu]: must be a map", path,
                           e->line, list, i);
        if (bad || !name || !*name)
            return lw_errf(eb, LW_EINVAL, "kubeconfig %s line %d: %s[%zu]: missing name", path,
                           e->line, list, i);
        const struct lw__ynode *obj = lw__y_get(e, inner);
        if (obj && obj->type != LW_Y_MAP)
            return lw_errf(eb, LW_EINVAL, "kubeconfig %s line %d: %s \"%s\": %s must be a map",
                           path, obj->line, list, name, inner);
        for (size_t j = 0; j < i; j++) {
            int bad2 = 0;
            const char *other = scalar(lw__y_get(l->items[j], "name"), &bad2);
            if (other && strcmp(other, name) == 0)
                return lw_errf(eb, LW_EINVAL,
                               "kubeconfig %s line %d: %s: duplicate name \"%s\"", path, e->line,
                               list, name);
        }
    }
    *out = l;
    return LW_OK;
}

int lw__kcset_add(struct lw__kcset *s, const char *path, const char *dir, const char *data,
                  size_t len, struct lw_errbuf *eb)
{
    if (s->n == LW_KUBECONFIG_MAX_FILES)
        return lw_errf(eb, LW_ETOOBIG, "more than %d kubeconfig files", LW_KUBECONFIG_MAX_FILES);
    struct lw__kcfile *f = &s->files[s->n];
    memset(f, 0, sizeof(*f));
    f->path = strdup(path);
    f->dir = strdup(dir);
    s->n++;   /* from here lw__kcset_release frees it */
    if (!f->path || !f->dir)
        return lw_errf(eb, LW_ENOMEM, "out of memory");
    struct lw_errbuf yeb;
    int rc = lw__y_parse(data, len, &kc_caps, &f->doc, &yeb);
    if (rc)
        return lw_errf(eb, rc, "kubeconfig %s: %s", path, yeb.msg);
    const struct lw__ynode *root = f->doc.root;
    if (lw__y_is_null(root))
        return LW_OK;   /* an empty file is an empty config, as in client-go */
    if (root->type != LW_Y_MAP)
        return lw_errf(eb, LW_EINVAL, "kubeconfig %s: the top level must be a map", path);
    if ((rc = check_list(path, root, "clusters", "cluster", &f->clusters, eb)) ||
        (rc = check_list(path, root, "users", "user", &f->users, eb)) ||
        (rc = check_list(path, root, "contexts", "context", &f->contexts, eb)))
        return rc;
    int bad = 0;
    const char *cc = scalar(lw__y_get(root, "current-context"), &bad);
    if (bad)
        return lw_errf(eb, LW_EINVAL, "kubeconfig %s: current-context must be a string", path);
    f->current_context = cc && *cc ? cc : NULL;
    return LW_OK;
}

int lw__kcset_add_file(struct lw__kcset *s, const char *path, struct lw_errbuf *eb)
{
    char *data = NULL;
    size_t len = 0;
    struct lw_errbuf reb;
    int rc = lw__read_small(path, LW_KUBECONFIG_MAX_FILE, &data, &len, &reb);
    if (rc)
        return lw_errf(eb, rc, "kubeconfig %s", reb.msg);
    /* the directory relative paths are resolved against, made absolute */
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (slash == path) {
        snprintf(dir, sizeof(dir), "/");
    } else if (slash && path[0] == '/') {
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof(cwd)))
            snprintf(cwd, sizeof(cwd), ".");
        if (slash)
            snprintf(dir, sizeof(dir), "%s/%.*s", cwd, (int)(slash - path), path);
        else
            snprintf(dir, sizeof(dir), "%s", cwd);
    }
    rc = lw__kcset_add(s, path, dir, data, len, eb);
    free(data);
    return rc;
}

void lw__kcset_release(struct lw__kcset *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->files[i].path);
        free(s->files[i].dir);
        lw__y_release(&s->files[i].doc);
    }
    s->n = 0;
}

int lw__kcset_find(const struct lw__kcset *s, const char *list, const char *name,
                   const struct lw__ynode **obj, size_t *file)
{
    const char *inner = strcmp(list, "clusters") == 0 ? "cluster"
                      : strcmp(list, "users") == 0    ? "user"
                                                      : "context";
    for (size_t i = 0; i < s->n; i++) {
        const struct lw__kcfile *f = &s->files[i];
        const struct lw__ynode *l = strcmp(list, "clusters") == 0 ? f->clusters
                                  : strcmp(list, "users") == 0    ? f->users
                                                                  : f->contexts;
        for (size_t j = 0; l && j < l->n; j++) {
            const struct lw__ynode *nm = lw__y_get(l->items[j], "name");
            if (nm && nm->type == LW_Y_SCALAR && strcmp(nm->str, name) == 0) {
                *obj = lw__y_get(l->items[j], inner);
                *file = i;
                return LW_OK;
            }
        }
    }
    return LW_ENOTFOUND;
}

const char *lw__kcset_current_context(const struct lw__kcset *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->files[i].current_context)
            return s->files[i].current_context;
    return NULL;
}

/* "a.yaml, b.yaml" for messages (truncated). */
static void file_list(const struct lw__kcset *s, char *out, size_t outlen)
{
    size_t o = 0;
    out[0] = 0;
    for (size_t i = 0; i < s->n && o < outlen; i++) {
        int w = snprintf(out + o, outlen - o, "%s%s", i ? ":" : "", s->files[i].path);
        if (w < 0)
            break;
        o += (size_t)w;
    }
    if (!s->n)
        snprintf(out, outlen, "(no files)");
}

int lw__kcset_select(const struct lw__kcset *s, const char *override, struct lw__kcsel *sel,
                     struct lw_errbuf *eb)
{
    char files[300];
    file_list(s, files, sizeof(files));
    memset(sel, 0, sizeof(*sel));
    const char *name = override && *override ? override : lw__kcset_current_context(s);
    if (!name)
        return lw_errf(eb, LW_EINVAL,
                       "kubeconfig %s: no context chosen (current-context is not set; pass "
                       "--context)",
                       files);
    const struct lw__ynode *ctx;
    if (lw__kcset_find(s, "contexts", name, &ctx, &sel->ctx_file))
        return lw_errf(eb, LW_ENOTFOUND, "kubeconfig %s: context \"%s\" not found%s", files, name,
                       override && *override ? " (from --context)" : " (current-context)");
    sel->context = name;
    const char *cf = s->files[sel->ctx_file].path;
    int bad = 0;
    sel->cluster = scalar(lw__y_get(ctx, "cluster"), &bad);
    if (bad || !sel->cluster || !*sel->cluster)
        return lw_errf(eb, LW_EINVAL, "kubeconfig %s: context \"%s\": cluster: %s", cf, name,
                       bad ? "must be a string" : "not set");
    sel->user = scalar(lw__y_get(ctx, "user"), &bad);
    sel->namespace_ = scalar(lw__y_get(ctx, "namespace"), &bad);
    if (bad)
        return lw_errf(eb, LW_EINVAL,
                       "kubeconfig %s: context \"%s\": user/namespace must be strings", cf, name);
    if (lw__kcset_find(s, "clusters", sel->cluster, &sel->c, &sel->cluster_file))
        return lw_errf(eb, LW_ENOTFOUND,
                       "kubeconfig %s: context \"%s\" refers to cluster \"%s\", which is not "
                       "defined in %s",
                       cf, name, sel->cluster, files);
    if (!sel->c)
        return lw_errf(eb, LW_EINVAL, "kubeconfig %s: cluster \"%s\": empty",
                       s->files[sel->cluster_file].path, sel->cluster);
    if (sel->user && *sel->user) {
        if (lw__kcset_find(s, "users", sel->user, &sel->u, &sel->user_file))
            return lw_errf(eb, LW_ENOTFOUND,
                           "kubeconfig %s: context \"%s\" refers to user \"%s\", which is not "
                           "defined in %s",
                           cf, name, sel->user, files);
    } else {
        sel->user = NULL;
    }
    return LW_OK;
}
