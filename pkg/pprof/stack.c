/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stack.c: stack identity and frame classification (docs/stack-identity.md).
 *
 * The identity must be equal for the same goroutines whatever format they
 * came from (debug=1, debug=2, proto) and survive restarts and rebuilds, so
 * it hashes function names only, after removing what the formats disagree on:
 *   - runtime frames: debug=1 and proto-derived text hide *leading* runtime
 *     frames; proto keeps them; debug=2 hides *unexported* runtime frames
 *     anywhere (runtime.main at the root of goroutine 1, runtime.goexit ...)
 *     and prints runtime.gopanic as "panic". We skip leading runtime frames
 *     and, further in, every runtime-internal frame (unexported runtime.x,
 *     internal/runtime/..., "panic", runtime.goexit);
 *   - generic instantiations: "F[go.shape.int]" (proto, 1.21+) vs "F[...]"
 *     (text) -> "F[...]";
 *   - depth: debug=1 keeps only 32 PCs before Go 1.23 -> the innermost
 *     LW_IDENTITY_FRAMES frames.
 * If nothing is left (a goroutine parked entirely inside the runtime), the
 * frames other than runtime.goexit are used, which is also what the text
 * formats print in that case.
 */
#include "pprof/pprof_int.h"

#include <string.h>

bool lw_func_is_runtime(const char *f)
{
    if (!f)
        return false;
    return strncmp(f, "runtime.", 8) == 0 || strncmp(f, "internal/runtime/", 17) == 0 ||
           strcmp(f, "panic") == 0;
}

/* Runtime frames that debug=2 hides wherever they are (unexported names). */
static bool is_runtime_internal(const char *f)
{
    if (strncmp(f, "runtime.", 8) == 0) {
        char c = f[8];
        return !(c >= 'A' && c <= 'Z');
    }
    return strncmp(f, "internal/runtime/", 17) == 0 || strcmp(f, "panic") == 0;
}

/* Top-level directories of the Go standard library (GOROOT/src). */
static const char *const std_roots[] = {
    "archive", "bufio",   "builtin", "bytes",   "cmd",     "cmp",     "compress", "container",
    "context", "crypto",  "database", "debug",  "embed",   "encoding", "errors",  "expvar",
    "flag",    "fmt",     "go",      "hash",    "html",    "image",   "index",    "internal",
    "io",      "iter",    "log",     "maps",    "math",    "mime",    "net",      "os",
    "path",    "plugin",  "reflect", "regexp",  "runtime", "slices",  "sort",     "strconv",
    "strings", "structs", "sync",    "syscall", "testing", "text",    "time",     "unicode",
    "unique",  "unsafe",  "vendor",  "weak",    "arena",
};

bool lw_func_is_std(const char *f)
{
    if (!f || !*f)
        return false;
    if (strcmp(f, "panic") == 0)
        return true;
    /* compiler-generated helpers: "type:.eq.main.T" (1.21+), "type..eq.main.T" */
    if (strncmp(f, "type:.", 6) == 0 || strncmp(f, "type..", 6) == 0)
        return true;
    /* the package path ends at the first '.' after the last '/' before any
     * '(' or '['; its first element is up to the first '/' */
    size_t slash = 0, i = 0;
    for (; f[i] && f[i] != '(' && f[i] != '['; i++)
        if (f[i] == '/')
            slash = i + 1;
    size_t pkgend = slash;
    while (f[pkgend] && f[pkgend] != '.')
        pkgend++;
    size_t first = 0;
    while (first < pkgend && f[first] != '/')
        first++;
    for (size_t k = 0; k < first; k++)
        if (f[k] == '.')
            return false; /* "github.com/...", "golang.org/x/...", "google.golang.org/..." */
    if (first == 4 && memcmp(f, "main", 4) == 0)
        return false;
    for (size_t k = 0; k < LW_ARRAY_SIZE(std_roots); k++)
        if (strlen(std_roots[k]) == first && memcmp(std_roots[k], f, first) == 0)
            return true;
    return false; /* a dot-less module path such as "myservice/internal/db" */
}

uint32_t lw_stack_leaf_index(const struct lw_stack *s)
{
    for (uint32_t i = 0; i < s->nframes; i++)
        if (!lw_func_is_runtime(lw_stack_frame(s, i)->func))
            return i;
    return 0;
}

const struct lw_frame *lw_stack_user_frame(const struct lw_stack *s)
{
    for (uint32_t i = 0; i < s->nframes; i++) {
        const struct lw_frame *fr = lw_stack_frame(s, i);
        const char *f = fr->func;
        if (f && strcmp(f, "?") != 0 && !lw_func_is_std(f))
            return fr;
    }
    return NULL;
}

/* Hash one function name with generic type arguments collapsed to "[...]". */
static uint64_t hash_func(uint64_t h, const char *f)
{
    const char *run = f;
    const char *c = f;
    while (*c) {
        if (*c != '[') {
            c++;
            continue;
        }
        h = lw_fnv1a(h, run, (size_t)(c - run));
        h = lw_fnv1a(h, "[...]", 5);
        int depth = 0;
        for (; *c; c++) {
            if (*c == '[')
                depth++;
            else if (*c == ']' && --depth == 0) {
                c++;
                break;
            }
        }
        run = c;
    }
    h = lw_fnv1a(h, run, (size_t)(c - run));
    return lw_fnv1a(h, "\n", 1);
}

uint64_t lw_stack_identity(const struct lw_stack *s)
{
    uint64_t h = LW_FNV_INIT;
    uint32_t used = 0, i = 0;
    const char *f;
    /* 1. leading runtime frames */
    while (i < s->nframes && lw_func_is_runtime(lw_stack_frame(s, i)->func))
        i++;
    for (; i < s->nframes && used < LW_IDENTITY_FRAMES; i++) {
        f = lw_stack_frame(s, i)->func;
        f = f ? f : "?";
        if (is_runtime_internal(f))
            continue;
        h = hash_func(h, f);
        used++;
    }
    if (used == 0) {
        /* all runtime: use them (minus goexit), as the text formats print them */
        for (i = 0; i < s->nframes && used < LW_IDENTITY_FRAMES; i++) {
            f = lw_stack_frame(s, i)->func;
            f = f ? f : "?";
            if (strcmp(f, "runtime.goexit") == 0)
                continue;
            h = hash_func(h, f);
            used++;
        }
    }
    return h;
}
