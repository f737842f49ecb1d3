/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_watch_lines.c: a watch stream on arbitrary bytes. The input is fed to
 * the capped line splitter in chunks whose sizes come from the input itself
 * (so lines straddle chunk boundaries), each line is decoded as a
 * WatchEvent, and the informer's annotation comparison runs on consecutive
 * objects. Must never crash, leak, or hold more than the cap. */
#include "kube/kube.h"

#include <stdlib.h>
#include <string.h>

#define CAP 4096

struct state {
    cJSON *prev;
    size_t lines;
};

static int on_line(void *ud, const char *line, size_t len)
{
    struct state *s = ud;
    struct lw_watch_event ev;
    struct lw_errbuf eb;
    s->lines++;
    if (len > CAP)
        abort(); /* the splitter let a line over the cap through */
    if (lw_watch_decode(line, len, &ev, &eb) != LW_OK)
        return 0;
    if (ev.type == LW_WATCH_ERROR) {
        struct lw_kube_result r;
        memset(&r, 0, sizeof(r));
        r.err = LW_EHTTP;
        r.status = ev.code;
        r.reason = ev.reason;
        r.message = ev.message;
        lw_kube_format_error(&r);
        (void)lw_kube_is_expired(&r);
    }
    static const char *const keys[] = {"leakwatch.io/status"};
    cJSON *obj = cJSON_DetachItemFromObjectCaseSensitive(ev.root, "object");
    if (s->prev)
        (void)lw_informer_only_ignored_changed(s->prev, obj, keys, 1);
    cJSON_Delete(s->prev);
    s->prev = obj;
    cJSON_Delete(ev.root);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lw_linesplit ls;
    struct state s = {0};
    lw_linesplit_init(&ls, CAP);
    size_t off = 0, step = size ? (size_t)data[0] % 97 + 1 : 1;
    while (off < size) {
        size_t n = LW_MIN(step, size - off);
        int rc = lw_linesplit_feed(&ls, (const char *)data + off, n, on_line, &s);
        if (ls.buf.len > CAP)
            abort();
        if (rc == LW_ETOOBIG) { /* what a watch does: end it; here, start over */
            lw_linesplit_release(&ls);
            lw_linesplit_init(&ls, CAP);
        }
        off += n;
        step = (step * 7 + 3) % 211 + 1;
    }
    lw_linesplit_release(&ls);
    cJSON_Delete(s.prev);
    return 0;
}
