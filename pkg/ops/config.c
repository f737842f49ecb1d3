/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.c: everything the option table (options.c) drives: defaults,
 * command-line flags, LEAKWATCH_* environment variables, the YAML file,
 * cross-option validation, --help and docs/configuration.md.
 *
 * Precedence is implemented by applying the sources in order, later ones
 * overwriting: defaults, file, environment, flags. The YAML file is read
 * with libyaml's event parser and a fixed shape (one mapping of option
 * names to scalars or sequences of scalars), so nesting, aliases and
 * repeated keys are errors found at the first offending event: an alias
 * bomb or a 10,000-deep document costs nothing.
 */
#include "ops/ops.h"
#include "quantity/quantity.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

extern char **environ;

#define LIST_MAX_ITEMS 256
#define VALUE_MAX 4096

const struct lw_option *lw_config_find(const char *name)
{
    for (size_t i = 0; i < lw_options_count; i++)
        if (strcmp(lw_options[i].name, name) == 0)
            return &lw_options[i];
    return NULL;
}

static void *field(struct lw_config *cfg, const struct lw_option *o)
{
    return (char *)cfg + o->offset;
}

static const void *cfield(const struct lw_config *cfg, const struct lw_option *o)
{
    return (const char *)cfg + o->offset;
}

static void list_free(struct lw_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void lw_config_release(struct lw_config *cfg)
{
    for (size_t i = 0; i < lw_options_count; i++) {
        const struct lw_option *o = &lw_options[i];
        if (o->type == LW_OPT_STRING) {
            char **p = field(cfg, o);
            free(*p);
            *p = NULL;
        } else if (o->type == LW_OPT_LIST) {
            list_free(field(cfg, o));
        }
    }
    cfg->help = 0;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const t[] = {"true", "1", "yes", "on", "True", "TRUE", "Yes", "On", NULL};
    static const char *const f[] = {"false", "0", "no", "off", "False", "FALSE", "No", "Off", NULL};
    for (size_t i = 0; t[i]; i++)
        if (strcmp(s, t[i]) == 0) {
            *out = 1;
            return LW_OK;
        }
    for (size_t i = 0; f[i]; i++)
        if (strcmp(s, f[i]) == 0) {
            *out = 0;
            return LW_OK;
        }
    return LW_EINVAL;
}

static int in_bounds(const struct lw_option *o, double v)
{
    if (o->min == 0 && o->max == 0)
        return 1;
    return v >= o->min && v <= o->max;
}

static void fmt_duration(double secs, char *out, size_t n)
{
    if (secs >= 86400 && fmod(secs, 86400) == 0)
        snprintf(out, n, "%.0fd", secs / 86400);
    else if (secs >= 3600 && fmod(secs, 3600) == 0)
        snprintf(out, n, "%.0fh", secs / 3600);
    else if (secs >= 60 && fmod(secs, 60) == 0)
        snprintf(out, n, "%.0fm", secs / 60);
    else if (secs >= 1 || secs == 0)
        snprintf(out, n, "%gs", secs);
    else
        snprintf(out, n, "%gms", secs * 1000);
}

static void fmt_bytes_q(double b, char *out, size_t n)
{
    static const char *const suf[] = {"Gi", "Mi", "Ki"};
    static const double mul[] = {1073741824.0, 1048576.0, 1024.0};
    for (int i = 0; i < 3; i++)
        if (b >= mul[i] && fmod(b, mul[i]) == 0) {
            snprintf(out, n, "%.0f%s", b / mul[i], suf[i]);
            return;
        }
    snprintf(out, n, "%.0f", b);
}

static int bounds_error(const struct lw_option *o, const char *value, const char *source,
                        struct lw_errbuf *eb)
{
    char lo[32], hi[32];
    if (o->type == LW_OPT_DURATION) {
        fmt_duration(o->min, lo, sizeof lo);
        fmt_duration(o->max, hi, sizeof hi);
    } else if (o->type == LW_OPT_BYTES) {
        fmt_bytes_q(o->min, lo, sizeof lo);
        fmt_bytes_q(o->max, hi, sizeof hi);
    } else {
        snprintf(lo, sizeof lo, "%g", o->min);
        snprintf(hi, sizeof hi, "%g", o->max);
    }
    return lw_errf(eb, LW_ERANGE, "%s: option %s: \"%s\" is out of range (%s..%s)", source,
                   o->name, value, lo, hi);
}

static int set_list(struct lw_config *cfg, const struct lw_option *o, const char *value,
                    const char *source, struct lw_errbuf *eb)
{
    struct lw_strlist nl = {NULL, 0};
    const char *p = value;
    int rc = LW_OK;
    while (*p) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        const char *a = p, *z = end;
        while (a < z && isspace((unsigned char)*a))
            a++;
        while (z > a && isspace((unsigned char)z[-1]))
            z--;
        if (z > a) {
            if (nl.n >= LIST_MAX_ITEMS) {
                rc = lw_errf(eb, LW_ETOOBIG, "%s: option %s: more than %d items", source,
                             o->name, LIST_MAX_ITEMS);
                goto out;
            }
            char *item = strndup(a, (size_t)(z - a));
            char **nv = item ? realloc(nl.v, (nl.n + 1) * sizeof *nv) : NULL;
            if (!nv) {
                free(item);
                rc = lw_errf(eb, LW_ENOMEM, "%s: option %s: out of memory", source, o->name);
                goto out;
            }
            nl.v = nv;
            nl.v[nl.n++] = item;
            if (o->choices) {
                int ok = 0;
                for (size_t i = 0; o->choices[i]; i++)
                    ok |= strcmp(o->choices[i], item) == 0;
                if (!ok) {
                    rc = lw_errf(eb, LW_EINVAL, "%s: option %s: unknown item \"%s\"", source,
                                 o->name, item);
                    goto out;
                }
            }
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    struct lw_strlist *dst = field(cfg, o);
    list_free(dst);
    *dst = nl;
    return LW_OK;
out:
    list_free(&nl);
    return rc;
}

static int set_option(struct lw_config *cfg, const struct lw_option *o, const char *value,
                      const char *source, struct lw_errbuf *eb)
{
    if (!value)
        value = "";
    if (strlen(value) > VALUE_MAX)
        return lw_errf(eb, LW_ETOOBIG, "%s: option %s: value longer than %d bytes", source,
                       o->name, VALUE_MAX);
    switch (o->type) {
    case LW_OPT_STRING: {
        char *d = strdup(value);
        if (!d)
            return lw_errf(eb, LW_ENOMEM, "%s: option %s: out of memory", source, o->name);
        char **p = field(cfg, o);
        free(*p);
        *p = d;
        return LW_OK;
    }
    case LW_OPT_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (!*value || *end || errno == ERANGE || isspace((unsigned char)*value))
            return lw_errf(eb, LW_EINVAL, "%s: option %s: \"%s\" is not an integer", source,
                           o->name, value);
        if (!in_bounds(o, (double)v))
            return bounds_error(o, value, source, eb);
        *(int64_t *)field(cfg, o) = v;
        return LW_OK;
    }
    case LW_OPT_FLOAT: {
        char *end;
        errno = 0;
        double v = strtod(value, &end);
        if (!*value || *end || errno == ERANGE || !isfinite(v) || isspace((unsigned char)*value))
            return lw_errf(eb, LW_EINVAL, "%s: option %s: \"%s\" is not a number", source,
                           o->name, value);
        if (!in_bounds(o, v))
            return bounds_error(o, value, source, eb);
        *(double *)field(cfg, o) = v;
        return LW_OK;
    }
    case LW_OPT_DURATION: {
        double v;
        if (lw_parse_duration(value, &v) != LW_OK)
            return lw_errf(eb, LW_EINVAL,
                           "%s: option %s: \"%s\" is not a duration (e.g. 30s, 5m, 1h30m, 7d)",
                           source, o->name, value);
        if (!in_bounds(o, v))
            return bounds_error(o, value, source, eb);
        *(double *)field(cfg, o) = v;
        return LW_OK;
    }
    case LW_OPT_BYTES: {
        int64_t v;
        struct lw_errbuf qe;
        qe.msg[0] = '\0';
        if (lw_quantity_parse(value, &v, &qe) != LW_OK)
            return lw_errf(eb, LW_EINVAL, "%s: option %s: \"%s\" is not a quantity (e.g. 64Mi): %s",
                           source, o->name, value, qe.msg);
        if (!in_bounds(o, (double)v))
            return bounds_error(o, value, source, eb);
        *(int64_t *)field(cfg, o) = v;
        return LW_OK;
    }
    case LW_OPT_BOOL: {
        int b;
        if (parse_bool(value, &b) != LW_OK)
            return lw_errf(eb, LW_EINVAL, "%s: option %s: \"%s\" is not a boolean (true/false)",
                           source, o->name, value);
        *(int *)field(cfg, o) = b;
        return LW_OK;
    }
    case LW_OPT_ENUM:
        for (int i = 0; o->choices[i]; i++)
            if (strcmp(o->choices[i], value) == 0) {
                *(int *)field(cfg, o) = i;
                return LW_OK;
            }
        {
            char list[256] = "";
            for (int i = 0; o->choices[i]; i++) {
                strncat(list, i ? "|" : "", sizeof list - strlen(list) - 1);
                strncat(list, o->choices[i], sizeof list - strlen(list) - 1);
            }
            return lw_errf(eb, LW_EINVAL, "%s: option %s: \"%s\" is not one of %s", source,
                           o->name, value, list);
        }
    case LW_OPT_LIST:
        return set_list(cfg, o, value, source, eb);
    }
    return lw_errf(eb, LW_EINVAL, "option %s: bad type", o->name);
}

int lw_config_set(struct lw_config *cfg, const char *name, const char *value, const char *source,
                  struct lw_errbuf *eb)
{
    const struct lw_option *o = lw_config_find(name);
    if (!o)
        return lw_errf(eb, LW_EINVAL, "%s: unknown option \"%s\"", source, name);
    return set_option(cfg, o, value, source, eb);
}

int lw_config_defaults(struct lw_config *cfg, struct lw_errbuf *eb)
{
    for (size_t i = 0; i < lw_options_count; i++) {
        int rc = set_option(cfg, &lw_options[i], lw_options[i].def, "default", eb);
        if (rc)
            return rc;
    }
    cfg->help = 0;
    return LW_OK;
}

/* ---- environment ----------------------------------------------------------- */

static void env_name(const char *opt, char *out, size_t n)
{
    size_t j = (size_t)snprintf(out, n, "LEAKWATCH_");
    for (size_t i = 0; opt[i] && j + 1 < n; i++)
        out[j++] = opt[i] == '-' ? '_' : (char)toupper((unsigned char)opt[i]);
    out[j] = '\0';
}

static const char *env_get(char *const *envp, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; envp && envp[i]; i++)
        if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=')
            return envp[i] + n + 1;
    return NULL;
}

/* ---- YAML ------------------------------------------------------------------ */

static int yaml_err(struct lw_errbuf *eb, const char *source, const yaml_event_t *ev,
                    const char *what)
{
    return lw_errf(eb, LW_EINVAL, "%s:%zu:%zu: %s", source, ev->start_mark.line + 1,
                   ev->start_mark.column + 1, what);
}

static int is_null_scalar(const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    return !*v || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
           strcmp(v, "NULL") == 0;
}

int lw_config_load_yaml(struct lw_config *cfg, const char *text, size_t len, const char *source,
                        struct lw_errbuf *eb)
{
    if (len > LW_CONFIG_MAX_FILE)
        return lw_errf(eb, LW_ETOOBIG, "%s: larger than %d bytes", source, LW_CONFIG_MAX_FILE);
    if (!text)
        text = "";
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return lw_errf(eb, LW_ENOMEM, "%s: out of memory", source);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    enum { S_STREAM, S_DOC, S_TOP, S_KEY, S_VALUE, S_SEQ, S_DOC_END, S_END } st = S_STREAM;
    unsigned char seen[256];
    memset(seen, 0, sizeof seen);
    const struct lw_option *cur = NULL;
    struct lw_buf seq = LW_BUF_INIT(VALUE_MAX + 1);
    size_t seq_items = 0;
    int rc = LW_OK, done = 0;
    while (!done && rc == LW_OK) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = lw_errf(eb, LW_EINVAL, "%s:%zu:%zu: YAML error: %s", source,
                         p.problem_mark.line + 1, p.problem_mark.column + 1,
                         p.problem ? p.problem : "unknown");
            break;
        }
        if (ev.type == YAML_ALIAS_EVENT) {
            rc = yaml_err(eb, source, &ev, "YAML aliases are not supported in the config file");
            yaml_event_delete(&ev);
            break;
        }
        switch (st) {
        case S_STREAM:
            if (ev.type == YAML_STREAM_START_EVENT)
                st = S_DOC;
            else
                rc = yaml_err(eb, source, &ev, "expected a YAML stream");
            break;
        case S_DOC:
            if (ev.type == YAML_DOCUMENT_START_EVENT)
                st = S_TOP;
            else if (ev.type == YAML_STREAM_END_EVENT)
                done = 1; /* empty file */
            else
                rc = yaml_err(eb, source, &ev, "expected a YAML document");
            break;
        case S_TOP:
            if (ev.type == YAML_MAPPING_START_EVENT)
                st = S_KEY;
            else if (ev.type == YAML_SCALAR_EVENT && is_null_scalar(&ev))
                st = S_DOC_END; /* "---" with nothing, or "~" */
            else
                rc = yaml_err(eb, source, &ev,
                              "the config file must be a mapping of option names to values");
            break;
        case S_KEY:
            if (ev.type == YAML_MAPPING_END_EVENT) {
                st = S_DOC_END;
            } else if (ev.type == YAML_SCALAR_EVENT) {
                const char *k = (const char *)ev.data.scalar.value;
                cur = lw_config_find(k);
                if (!cur) {
                    char m[200];
                    snprintf(m, sizeof m, "unknown option \"%.100s\"", k);
                    rc = yaml_err(eb, source, &ev, m);
                } else if (cur->offset == offsetof(struct lw_config, config_file)) {
                    rc = yaml_err(eb, source, &ev, "option config cannot be set in a config file");
                } else {
                    size_t idx = (size_t)(cur - lw_options);
                    if (idx < sizeof seen && seen[idx]) {
                        char m[200];
                        snprintf(m, sizeof m, "option %s given twice", cur->name);
                        rc = yaml_err(eb, source, &ev, m);
                    }
                    if (idx < sizeof seen)
                        seen[idx] = 1;
                    st = S_VALUE;
                }
            } else {
                rc = yaml_err(eb, source, &ev, "option names must be plain strings");
            }
            break;
        case S_VALUE:
            if (ev.type == YAML_SCALAR_EVENT) {
                const char *v = (const char *)ev.data.scalar.value;
                if (strlen(v) != ev.data.scalar.length) {
                    rc = yaml_err(eb, source, &ev, "NUL byte in a value");
                    break;
                }
                if (is_null_scalar(&ev)) {
                    if (cur->type == LW_OPT_STRING || cur->type == LW_OPT_LIST)
                        v = "";
                    else {
                        char m[200];
                        snprintf(m, sizeof m, "option %s has no value", cur->name);
                        rc = yaml_err(eb, source, &ev, m);
                        break;
                    }
                }
                rc = set_option(cfg, cur, v, source, eb);
                st = S_KEY;
            } else if (ev.type == YAML_SEQUENCE_START_EVENT && cur->type == LW_OPT_LIST) {
                lw_buf_reset(&seq);
                seq_items = 0;
                st = S_SEQ;
            } else {
                char m[200];
                snprintf(m, sizeof m, "option %s: expected a %s", cur->name,
                         cur->type == LW_OPT_LIST ? "list or a comma-separated string"
                                                  : "single value");
                rc = yaml_err(eb, source, &ev, m);
            }
            break;
        case S_SEQ:
            if (ev.type == YAML_SCALAR_EVENT) {
                const char *v = (const char *)ev.data.scalar.value;
                if (strchr(v, ',') || strlen(v) != ev.data.scalar.length) {
                    char m[200];
                    snprintf(m, sizeof m, "option %s: list items cannot contain ','",
                             cur->name);
                    rc = yaml_err(eb, source, &ev, m);
                    break;
                }
                if (++seq_items > LIST_MAX_ITEMS ||
                    (seq.len && lw_buf_append(&seq, ",", 1)) ||
                    lw_buf_append(&seq, v, ev.data.scalar.length)) {
                    char m[200];
                    snprintf(m, sizeof m, "option %s: list too long", cur->name);
                    rc = lw_errf(eb, LW_ETOOBIG, "%s:%zu: %s", source, ev.start_mark.line + 1,
                                 m);
                }
            } else if (ev.type == YAML_SEQUENCE_END_EVENT) {
                rc = set_option(cfg, cur, seq.data ? seq.data : "", source, eb);
                st = S_KEY;
            } else {
                char m[200];
                snprintf(m, sizeof m, "option %s: list items must be plain values", cur->name);
                rc = yaml_err(eb, source, &ev, m);
            }
            break;
        case S_DOC_END:
            if (ev.type == YAML_DOCUMENT_END_EVENT)
                st = S_END;
            else
                rc = yaml_err(eb, source, &ev, "unexpected content after the mapping");
            break;
        case S_END:
            if (ev.type == YAML_STREAM_END_EVENT)
                done = 1;
            else
                rc = yaml_err(eb, source, &ev, "only one YAML document is allowed");
            break;
        }
        yaml_event_delete(&ev);
    }
    lw_buf_release(&seq);
    yaml_parser_delete(&p);
    return rc;
}

/* ---- flags ----------------------------------------------------------------- */

/* Walk argv; when apply is set, set each option. Returns the config file
 * path flag through *config (borrowed from argv) and whether --help came. */
static int walk_flags(struct lw_config *cfg, int argc, char *const *argv, int apply,
                      const char **config, int *help, struct lw_errbuf *eb)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            *help = 1;
            return LW_OK;
        }
        if (strncmp(a, "--", 2) != 0 || !a[2])
            return lw_errf(eb, LW_EINVAL, "unexpected argument \"%s\" (options look like --name value)",
                           a);
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        char nbuf[128];
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        if (nl >= sizeof nbuf)
            return lw_errf(eb, LW_EINVAL, "unknown flag --%.60s...", name);
        memcpy(nbuf, name, nl);
        nbuf[nl] = '\0';
        const struct lw_option *o = lw_config_find(nbuf);
        const char *value = eq ? eq + 1 : NULL;
        if (!o && !eq && strncmp(nbuf, "no-", 3) == 0) {
            const struct lw_option *b = lw_config_find(nbuf + 3);
            if (b && b->type == LW_OPT_BOOL) {
                o = b;
                value = "false";
            }
        }
        if (!o)
            return lw_errf(eb, LW_EINVAL, "unknown flag --%s (see --help)", nbuf);
        if (!value) {
            if (o->type == LW_OPT_BOOL) {
                value = "true";
            } else {
                if (i + 1 >= argc)
                    return lw_errf(eb, LW_EINVAL, "flag --%s needs a value", o->name);
                value = argv[++i];
            }
        }
        if (o->offset == offsetof(struct lw_config, config_file))
            *config = value;
        if (apply) {
            int rc = set_option(cfg, o, value, "flag", eb);
            if (rc)
                return rc;
        }
    }
    return LW_OK;
}

int lw_config_load(struct lw_config *cfg, int argc, char *const *argv, char *const *envp,
                   struct lw_errbuf *eb)
{
    if (!envp)
        envp = environ;
    int rc = lw_config_defaults(cfg, eb);
    if (rc)
        return rc;
    const char *config = NULL;
    int help = 0;
    rc = walk_flags(cfg, argc, argv, 0, &config, &help, eb);
    if (rc)
        return rc;
    if (help) {
        cfg->help = 1;
        return LW_OK;
    }
    if (!config)
        config = env_get(envp, "LEAKWATCH_CONFIG");
    if (config && *config) {
        struct lw_buf b = LW_BUF_INIT(LW_CONFIG_MAX_FILE);
        rc = lw_read_file(config, &b, eb);
        if (rc == LW_ETOOBIG)
            rc = lw_errf(eb, rc, "config file %s: larger than %d bytes", config,
                         LW_CONFIG_MAX_FILE);
        if (!rc)
            rc = lw_config_load_yaml(cfg, b.data ? b.data : "", b.len, config, eb);
        lw_buf_release(&b);
        if (rc)
            return rc;
    }
    /* environment: the alias first (e.g. NODE_NAME), then LEAKWATCH_* */
    for (size_t i = 0; i < lw_options_count; i++) {
        const struct lw_option *o = &lw_options[i];
        char name[128];
        const char *v;
        if (o->env_alias && (v = env_get(envp, o->env_alias)) && *v) {
            if ((rc = set_option(cfg, o, v, o->env_alias, eb)))
                return rc;
        }
        env_name(o->name, name, sizeof name);
        if ((v = env_get(envp, name))) {
            if ((rc = set_option(cfg, o, v, name, eb)))
                return rc;
        }
    }
    rc = walk_flags(cfg, argc, argv, 1, &config, &help, eb);
    if (rc)
        return rc;
    return lw_config_validate(cfg, eb);
}

int lw_config_validate(const struct lw_config *c, struct lw_errbuf *eb)
{
    char d1[32], d2[32];
    if (c->scrape_timeout > c->scrape_interval) {
        fmt_duration(c->scrape_timeout, d1, sizeof d1);
        fmt_duration(c->scrape_interval, d2, sizeof d2);
        return lw_errf(eb, LW_EINVAL, "scrape-timeout (%s) must not exceed scrape-interval (%s)",
                       d1, d2);
    }
    if (c->mode == LW_MODE_DAEMONSET && (!c->node || !*c->node))
        return lw_errf(eb, LW_EINVAL,
                       "mode daemonset needs the node name (--node, LEAKWATCH_NODE or NODE_NAME)");
    if (c->leader_elect && c->mode == LW_MODE_DEPLOYMENT) {
        /* client-go's rules (leaderelection.NewLeaderElector) */
        if (!(c->leader_election_lease_duration > c->leader_election_renew_deadline))
            return lw_errf(eb, LW_EINVAL,
                           "leader-election-lease-duration must be greater than "
                           "leader-election-renew-deadline");
        if (!(c->leader_election_renew_deadline > 1.2 * c->leader_election_retry_period))
            return lw_errf(eb, LW_EINVAL,
                           "leader-election-renew-deadline must be greater than 1.2 x "
                           "leader-election-retry-period");
        if (!c->leader_election_lease_name || !*c->leader_election_lease_name)
            return lw_errf(eb, LW_EINVAL, "leader-election-lease-name must not be empty");
    }
    if (c->annotation_conventions.n == 0)
        return lw_errf(eb, LW_EINVAL,
                       "annotation-conventions is empty: no pod could ever opt in");
    char host[128];
    int port;
    struct lw_errbuf be;
    if (lw_parse_bind(c->metrics_bind_address, host, sizeof host, &port, &be))
        return lw_errf(eb, LW_EINVAL, "metrics-bind-address: %s", be.msg);
    return LW_OK;
}

/* ---- help and docs ------------------------------------------------------------ */

static const char *type_word(const struct lw_option *o)
{
    switch (o->type) {
    case LW_OPT_STRING: return "string";
    case LW_OPT_INT: return "int";
    case LW_OPT_FLOAT: return "number";
    case LW_OPT_DURATION: return "duration";
    case LW_OPT_BYTES: return "quantity";
    case LW_OPT_BOOL: return "bool";
    case LW_OPT_ENUM: return "enum";
    case LW_OPT_LIST: return "list";
    }
    return "?";
}

static int append_choices(struct lw_buf *b, const struct lw_option *o, const char *sep)
{
    int rc = LW_OK;
    for (size_t i = 0; o->choices && o->choices[i] && !rc; i++)
        rc = lw_buf_appendf(b, "%s%s", i ? sep : "", o->choices[i]);
    return rc;
}

/* Word-wrap text at width, each line indented by indent spaces. */
static int wrap(struct lw_buf *b, const char *text, size_t indent, size_t width)
{
    int rc = LW_OK;
    size_t col = 0;
    const char *p = text;
    while (*p && !rc) {
        while (*p == ' ')
            p++;
        size_t wl = strcspn(p, " ");
        if (!wl)
            break;
        if (col == 0) {
            rc = lw_buf_appendf(b, "%*s", (int)indent, "");
            col = indent;
        } else if (col + 1 + wl > width) {
            rc = lw_buf_appendf(b, "\n%*s", (int)indent, "");
            col = indent;
        } else {
            rc = lw_buf_append(b, " ", 1);
            col++;
        }
        if (!rc)
            rc = lw_buf_append(b, p, wl);
        col += wl;
        p += wl;
    }
    if (!rc)
        rc = lw_buf_append(b, "\n", 1);
    return rc;
}

int lw_config_help(struct lw_buf *out)
{
    int rc = lw_buf_appendf(out,
                            "Usage: leakwatch controller [options]\n\n"
                            "Every option is also read from the environment variable shown and\n"
                            "from the YAML file given by --config (key = option name).\n"
                            "Precedence: flags > environment > config file > defaults.\n");
    const char *group = NULL;
    for (size_t i = 0; i < lw_options_count && !rc; i++) {
        const struct lw_option *o = &lw_options[i];
        char env[128];
        env_name(o->name, env, sizeof env);
        if (!group || strcmp(group, o->group) != 0) {
            group = o->group;
            rc = lw_buf_appendf(out, "\n%s:\n", group);
        }
        if (!rc) {
            if (o->type == LW_OPT_BOOL)
                rc = lw_buf_appendf(out, "  --%s[=false], --no-%s\n", o->name, o->name);
            else if (o->type == LW_OPT_ENUM) {
                rc = lw_buf_appendf(out, "  --%s ", o->name);
                if (!rc)
                    rc = append_choices(out, o, "|");
                if (!rc)
                    rc = lw_buf_append(out, "\n", 1);
            } else
                rc = lw_buf_appendf(out, "  --%s %s\n", o->name, type_word(o));
        }
        if (!rc)
            rc = wrap(out, o->help, 6, 78);
        if (!rc)
            rc = lw_buf_appendf(out, "      [default \"%s\"; env %s%s%s]\n", o->def, env,
                                o->env_alias ? " or " : "", o->env_alias ? o->env_alias : "");
    }
    if (!rc)
        rc = lw_buf_appendf(out, "\n  -h, --help\n      Show this help.\n");
    return rc;
}

int lw_config_markdown(struct lw_buf *out)
{
    int rc = lw_buf_appendf(
        out,
        "<!-- SPDX-License-Identifier: Apache-2.0 -->\n"
        "<!-- GENERATED from the option table in pkg/ops/options.c; do not edit by hand.\n"
        "     Regenerate: LW_UPDATE_DOCS=1 build/tests/test_ops_config docs_in_sync -->\n"
        "# Configuration of `leakwatch controller`\n\n"
        "Every option can be given three ways:\n\n"
        "- a command-line flag: `--scrape-interval 1m` or `--scrape-interval=1m`; booleans\n"
        "  also as `--events` (true), `--events=false` and `--no-events`;\n"
        "- an environment variable: `LEAKWATCH_` + the name in upper case with `-` as `_`,\n"
        "  e.g. `LEAKWATCH_SCRAPE_INTERVAL=1m` (a few options also read a Kubernetes\n"
        "  downward-API variable such as `NODE_NAME`, with lower precedence);\n"
        "- a key in the YAML file named by `--config` (or `LEAKWATCH_CONFIG`): one flat\n"
        "  mapping of option names to values; lists may be YAML sequences.\n\n"
        "Precedence: **flags > environment > config file > defaults**. Unknown flags and\n"
        "unknown keys in the file are errors that name them; so are values of the wrong\n"
        "type or out of range. Unknown `LEAKWATCH_*` variables are ignored. The file is\n"
        "capped at 1 MiB; YAML aliases, nested mappings and repeated keys are refused.\n\n"
        "Value syntax: *duration* is Go's (`500ms`, `30s`, `5m`, `1h30m`) plus `d` for\n"
        "days; *quantity* is a Kubernetes quantity (`64Mi`, `1Gi`, `1e6`); *list* is\n"
        "comma-separated (`a,b`) or a YAML sequence; *bool* is true/false (also 1/0,\n"
        "yes/no, on/off).\n\n"
        "Example file:\n\n"
        "```yaml\n"
        "mode: daemonset\n"
        "scrape-interval: 1m\n"
        "max-response-bytes: 32Mi\n"
        "annotation-conventions: [leakwatch, pyroscope]\n"
        "log-format: json\n"
        "```\n");
    const char *group = NULL;
    for (size_t i = 0; i < lw_options_count && !rc; i++) {
        const struct lw_option *o = &lw_options[i];
        char env[128];
        env_name(o->name, env, sizeof env);
        if (!group || strcmp(group, o->group) != 0) {
            group = o->group;
            rc = lw_buf_appendf(out,
                                "\n## %s\n\n| Option (flag, YAML key) | Environment | Type | "
                                "Default | Description |\n|---|---|---|---|---|\n",
                                group);
        }
        if (!rc)
            rc = lw_buf_appendf(out, "| `--%s` | `%s`%s%s%s | ", o->name, env,
                                o->env_alias ? ", `" : "", o->env_alias ? o->env_alias : "",
                                o->env_alias ? "`" : "");
        if (!rc && o->type == LW_OPT_ENUM) {
            rc = lw_buf_append(out, "`", 1);
            if (!rc)
                rc = append_choices(out, o, "` \\| `");
            if (!rc)
                rc = lw_buf_append(out, "`", 1);
        } else if (!rc) {
            rc = lw_buf_appendf(out, "%s", type_word(o));
            if (!rc && o->choices) {
                rc = lw_buf_append(out, " of `", 5);
                if (!rc)
                    rc = append_choices(out, o, "`, `");
                if (!rc)
                    rc = lw_buf_append(out, "`", 1);
            }
        }
        if (!rc) {
            if (*o->def)
                rc = lw_buf_appendf(out, " | `%s` | ", o->def);
            else
                rc = lw_buf_appendf(out, " | (empty) | ");
        }
        if (!rc && !(o->min == 0 && o->max == 0) && o->type != LW_OPT_ENUM) {
            char lo[32], hi[32];
            if (o->type == LW_OPT_DURATION) {
                fmt_duration(o->min, lo, sizeof lo);
                fmt_duration(o->max, hi, sizeof hi);
            } else if (o->type == LW_OPT_BYTES) {
                fmt_bytes_q(o->min, lo, sizeof lo);
                fmt_bytes_q(o->max, hi, sizeof hi);
            } else {
                snprintf(lo, sizeof lo, "%g", o->min);
                snprintf(hi, sizeof hi, "%g", o->max);
            }
            rc = lw_buf_appendf(out, "%s Range %s..%s. |\n", o->help, lo, hi);
        } else if (!rc) {
            rc = lw_buf_appendf(out, "%s |\n", o->help);
        }
    }
    return rc;
}

int lw_config_format_value(const struct lw_config *cfg, const struct lw_option *o,
                           struct lw_buf *out)
{
    char tmp[64];
    const void *f = cfield(cfg, o);
    switch (o->type) {
    case LW_OPT_STRING: {
        const char *s = *(char *const *)f;
        return lw_buf_appendf(out, "%s", s ? s : "");
    }
    case LW_OPT_INT:
        return lw_buf_appendf(out, "%lld", (long long)*(const int64_t *)f);
    case LW_OPT_FLOAT:
        return lw_buf_appendf(out, "%g", *(const double *)f);
    case LW_OPT_DURATION:
        fmt_duration(*(const double *)f, tmp, sizeof tmp);
        return lw_buf_appendf(out, "%s", tmp);
    case LW_OPT_BYTES:
        fmt_bytes_q((double)*(const int64_t *)f, tmp, sizeof tmp);
        return lw_buf_appendf(out, "%s", tmp);
    case LW_OPT_BOOL:
        return lw_buf_appendf(out, "%s", *(const int *)f ? "true" : "false");
    case LW_OPT_ENUM:
        return lw_buf_appendf(out, "%s", o->choices[*(const int *)f]);
    case LW_OPT_LIST: {
        const struct lw_strlist *l = f;
        int rc = LW_OK;
        for (size_t i = 0; i < l->n && !rc; i++)
            rc = lw_buf_appendf(out, "%s%s", i ? "," : "", l->v[i]);
        return rc;
    }
    }
    return LW_EINVAL;
}
