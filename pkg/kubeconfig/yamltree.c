/* SPDX-License-Identifier: Apache-2.0 */
/*
 * yamltree.c: a small YAML -> tree loader for kubeconfig files, on top of
 * libyaml's event parser.
 *
 * Why not libyaml's document loader: yaml_parser_load() has no cap on nodes
 * and copies nothing for aliases but leaves a consumer free to walk an
 * exponential DAG. Here every cap is enforced while the events stream in:
 *  - input size (max_bytes), nesting depth (max_depth);
 *  - nodes, counted with aliases expanded: an alias adds the full size of
 *    the subtree it names to the budget, so "billion laughs" fails after a
 *    few kilobytes of work, and any walk of the resulting tree is bounded
 *    by max_nodes;
 *  - at most 256 anchors; an anchor becomes usable only once its node is
 *    complete, so a node can never contain itself.
 * All memory lives in one arena released by lw__y_release().
 */
#include "kubeconfig/kubeconfig_int.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_ANCHORS 256

struct frame {
    struct lw__ynode *node;
    struct lw__ynode **tmp;   /* children being collected (malloc'd) */
    size_t n, cap;
    const char *anchor;       /* arena copy, registered when the node ends */
};

struct anchor {
    const char *name;
    struct lw__ynode *node;
};

struct builder {
    struct lw__ydoc *doc;
    const struct lw__ycaps *caps;
    struct frame *stack;
    size_t depth;
    struct anchor anchors[MAX_ANCHORS];
    size_t nanchors;
    size_t total;             /* nodes so far, aliases expanded */
    struct lw_errbuf *eb;
};

static size_t sat_add(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static int add_child(struct builder *b, struct lw__ynode *child, int line)
{
    if (b->depth == 0) {
        if (!b->doc->root)
            b->doc->root = child;
        return LW_OK;
    }
    struct frame *f = &b->stack[b->depth - 1];
    if (f->n == f->cap) {
        size_t ncap = f->cap ? f->cap * 2 : 8;
        struct lw__ynode **t = realloc(f->tmp, ncap * sizeof(*t));
        if (!t)
            return lw_errf(b->eb, LW_ENOMEM, "line %d: out of memory", line);
        f->tmp = t;
        f->cap = ncap;
    }
    f->tmp[f->n++] = child;
    f->node->expanded = sat_add(f->node->expanded, child->expanded);
    return LW_OK;
}

static int count_nodes(struct builder *b, size_t n, int line)
{
    b->total = sat_add(b->total, n);
    if (b->total > b->caps->max_nodes)
        return lw_errf(b->eb, LW_ETOOBIG,
                       "line %d: more than %zu YAML nodes (aliases counted expanded)", line,
                       b->caps->max_nodes);
    return LW_OK;
}

static int register_anchor(struct builder *b, const char *name, struct lw__ynode *node, int line)
{
    if (!name)
        return LW_OK;
    if (b->nanchors == MAX_ANCHORS)
        return lw_errf(b->eb, LW_ETOOBIG, "line %d: more than %d YAML anchors", line,
                       MAX_ANCHORS);
    b->anchors[b->nanchors].name = name;
    b->anchors[b->nanchors].node = node;
    b->nanchors++;
    return LW_OK;
}

static struct lw__ynode *new_node(struct builder *b, int type, int line)
{
    struct lw__ynode *n = lw_arena_alloc(&b->doc->arena, sizeof(*n));
    if (!n)
        return NULL;
    n->type = type;
    n->line = line;
    n->expanded = 1;
    return n;
}

static const char *arena_str(struct builder *b, const unsigned char *s)
{
    if (!s)
        return NULL;
    return lw_arena_strndup(&b->doc->arena, (const char *)s, strlen((const char *)s));
}

static int on_event(struct builder *b, yaml_event_t *ev, int *done)
{
    int line = (int)ev->start_mark.line + 1;
    struct lw__ynode *n;
    int rc;
    switch (ev->type) {
    case YAML_STREAM_START_EVENT:
    case YAML_DOCUMENT_START_EVENT:
        return LW_OK;
    case YAML_DOCUMENT_END_EVENT:
    case YAML_STREAM_END_EVENT:
        *done = 1;   /* only the first document, as Go's yaml.Unmarshal */
        return LW_OK;
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        struct lw__ynode *target = NULL;
        for (size_t i = b->nanchors; i-- > 0;) {
            if (strcmp(b->anchors[i].name, name) == 0) {
                target = b->anchors[i].node;
                break;
            }
        }
        if (!target)
            return lw_errf(b->eb, LW_EINVAL, "line %d: alias to an unknown anchor", line);
        if ((rc = count_nodes(b, target->expanded, line)))
            return rc;
        return add_child(b, target, line);
    }
    case YAML_SCALAR_EVENT:
        if ((rc = count_nodes(b, 1, line)))
            return rc;
        n = new_node(b, LW_Y_SCALAR, line);
        if (!n)
            return lw_errf(b->eb, LW_ENOMEM, "line %d: out of memory", line);
        n->str = lw_arena_strndup(&b->doc->arena, (const char *)ev->data.scalar.value,
                                  ev->data.scalar.length);
        if (!n->str)
            return lw_errf(b->eb, LW_ENOMEM, "line %d: out of memory", line);
        n->len = ev->data.scalar.length;
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        if (ev->data.scalar.anchor) {
            const char *a = arena_str(b, ev->data.scalar.anchor);
            if (!a)
                return lw_errf(b->eb, LW_ENOMEM, "line %d: out of memory", line);
            if ((rc = register_anchor(b, a, n, line)))
                return rc;
        }
        return add_child(b, n, line);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        if (b->depth >= b->caps->max_depth)
            return lw_errf(b->eb, LW_ETOOBIG, "line %d: YAML nested deeper than %zu levels", line,
                           b->caps->max_depth);
        if ((rc = count_nodes(b, 1, line)))
            return rc;
        int type = ev->type == YAML_SEQUENCE_START_EVENT ? LW_Y_SEQ : LW_Y_MAP;
        n = new_node(b, type, line);
        if (!n)
            return lw_errf(b->eb, LW_ENOMEM, "line %d: out of memory", line);
        const unsigned char *anc = type == LW_Y_SEQ ? ev->data.sequence_start.anchor
                                                    : ev->data.mapping_start.anchor;
        struct frame *f = &b->stack[b->depth++];
        memset(f, 0, sizeof(*f));
        f->node = n;
        if (anc && !(f->anchor = arena_str(b, anc)))
            return lw_errf(b->eb, LW_ENOMEM, "line %d: out of memory", line);
        return LW_OK;
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: {
        if (b->depth == 0)
            return lw_errf(b->eb, LW_EINVAL, "line %d: unbalanced YAML", line);
        struct frame *f = &b->stack[b->depth - 1];
        n = f->node;
        if (n->type == LW_Y_MAP && f->n % 2)
            return lw_errf(b->eb, LW_EINVAL, "line %d: mapping without a value", line);
        if (f->n) {
            n->items = lw_arena_alloc(&b->doc->arena, f->n * sizeof(*n->items));
            if (!n->items)
                return lw_errf(b->eb, LW_ENOMEM, "line %d: out of memory", line);
            memcpy(n->items, f->tmp, f->n * sizeof(*n->items));
        }
        n->n = n->type == LW_Y_MAP ? f->n / 2 : f->n;
        const char *anchor = f->anchor;
        free(f->tmp);
        f->tmp = NULL;
        b->depth--;
        if ((rc = register_anchor(b, anchor, n, line)))
            return rc;
        return add_child(b, n, line);
    }
    default:
        return LW_OK;
    }
}

int lw__y_parse(const char *data, size_t len, const struct lw__ycaps *caps, struct lw__ydoc *doc,
                struct lw_errbuf *eb)
{
    memset(doc, 0, sizeof(*doc));
    /* the arena holds at most a few times the input plus node headers */
    lw_arena_init(&doc->arena, 64u << 20);
    if (len > caps->max_bytes)
        return lw_errf(eb, LW_ETOOBIG, "larger than the %zu-byte limit", caps->max_bytes);
    if (len == 0 || !data)
        return LW_OK;   /* empty document (libyaml asserts on a NULL input) */
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return lw_errf(eb, LW_ENOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);

    struct builder b;
    memset(&b, 0, sizeof(b));
    b.doc = doc;
    b.caps = caps;
    b.eb = eb;
    b.stack = calloc(caps->max_depth + 1, sizeof(*b.stack));
    int rc = b.stack ? LW_OK : lw_errf(eb, LW_ENOMEM, "out of memory");
    int done = 0;
    while (rc == LW_OK && !done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            if (parser.error == YAML_MEMORY_ERROR)
                rc = lw_errf(eb, LW_ENOMEM, "out of memory");
            else
                rc = lw_errf(eb, LW_EINVAL, "line %zu column %zu: invalid YAML: %s%s%s",
                             parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                             parser.problem ? parser.problem : "syntax error",
                             parser.context ? " " : "", parser.context ? parser.context : "");
            break;
        }
        rc = on_event(&b, &ev, &done);
        yaml_event_delete(&ev);
    }
    for (size_t i = 0; b.stack && i < b.depth; i++)
        free(b.stack[i].tmp);
    free(b.stack);
    yaml_parser_delete(&parser);
    return rc;
}

void lw__y_release(struct lw__ydoc *doc)
{
    lw_arena_release(&doc->arena);
    doc->root = NULL;
}

int lw__y_is_null(const struct lw__ynode *n)
{
    if (!n)
        return 1;
    if (n->type != LW_Y_SCALAR || !n->plain)
        return 0;
    return n->len == 0 || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 ||
           strcmp(n->str, "Null") == 0 || strcmp(n->str, "NULL") == 0;
}

static const struct lw__ynode *get_depth(const struct lw__ynode *m, const char *key, int depth)
{
    if (!m || m->type != LW_Y_MAP || depth > 8)
        return NULL;
    const struct lw__ynode *found = NULL;
    for (size_t i = 0; i < m->n; i++) {
        const struct lw__ynode *k = m->items[2 * i];
        if (k->type == LW_Y_SCALAR && strcmp(k->str, key) == 0)
            found = m->items[2 * i + 1];   /* last occurrence wins */
    }
    if (found)
        return lw__y_is_null(found) ? NULL : found;
    /* YAML 1.1 merge keys: `<<: *base` or `<<: [*a, *b]` (first wins) */
    for (size_t i = 0; i < m->n; i++) {
        const struct lw__ynode *k = m->items[2 * i], *v = m->items[2 * i + 1];
        if (k->type != LW_Y_SCALAR || !k->plain || strcmp(k->str, "<<") != 0)
            continue;
        if (v->type == LW_Y_MAP)
            return get_depth(v, key, depth + 1);
        if (v->type == LW_Y_SEQ) {
            for (size_t j = 0; j < v->n; j++) {
                const struct lw__ynode *r = get_depth(v->items[j], key, depth + 1);
                if (r)
                    return r;
            }
        }
    }
    return NULL;
}

const struct lw__ynode *lw__y_get(const struct lw__ynode *m, const char *key)
{
    return get_depth(m, key, 0);
}
