/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_recorder.c: pkg/recorder's builders on arbitrary bytes. The input is
 * split on NUL bytes into a note, a pod name, a reporting instance and a pod
 * JSON document; whatever they hold, the Event bodies must carry valid UTF-8
 * within the API limits and a DNS-subdomain name, and the annotation patch
 * (built against the fuzzed pod) must stay valid UTF-8 under 4 KiB. Any
 * violation aborts, which the fuzzer reports.
 */
#include "recorder/recorder.h"

#include <stdlib.h>
#include <string.h>

static void must(int c)
{
    if (!c)
        abort();
}

static void check_str(const cJSON *o, const char *k, size_t max)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    if (!v)
        return;
    must(cJSON_IsString(v));
    size_t n = strlen(v->valuestring);
    must(n <= max);
    must(lw_rec_utf8_valid(v->valuestring, n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        size = 65536;
    char *buf = malloc(size + 4);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    memset(buf + size, 0, 4);
    const char *part[4] = {"", "", "", ""};
    size_t np = 0, start = 0;
    for (size_t i = 0; i <= size && np < 4; i++)
        if (buf[i] == '\0') {
            part[np++] = buf + start;
            start = i + 1;
        }
    const char *note = part[0], *podname = part[1], *inst = part[2], *podjson = part[3];

    char out[2048];
    for (size_t max = 0; max < 2048; max += 211) {
        size_t n = lw_rec_utf8_clean(out, sizeof(out), note, max);
        must(n <= max && n == strlen(out) && lw_rec_utf8_valid(out, n));
    }
    char name[300];
    lw_rec_event_name(podname, (uint64_t)size * 1000003u, name, sizeof(name));
    must(lw_rec_is_dns_subdomain(name));

    struct lw_event_spec s;
    memset(&s, 0, sizeof(s));
    s.pod.ns = "default";
    s.pod.name = *podname ? podname : "p";
    s.pod.uid = "u-1";
    s.reason = (enum lw_rec_reason)(size % LW_REASON__COUNT);
    s.note = note;
    s.instance = *inst ? inst : NULL;
    s.t = 1764185400.0 + (double)(size % 1000) / 7.0;
    for (int core = 0; core < 2; core++) {
        cJSON *e = lw_rec_event_build(&s, core, NULL);
        if (!e)
            continue;
        check_str(e, core ? "message" : "note", LW_REC_NOTE_MAX);
        check_str(e, "reportingInstance", LW_REC_INSTANCE_MAX);
        const cJSON *nm = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "metadata"), "name");
        must(cJSON_IsString(nm) && lw_rec_is_dns_subdomain(nm->valuestring));
        char *txt = cJSON_PrintUnformatted(e);
        cJSON *back = txt ? cJSON_Parse(txt) : NULL;
        must(!txt || back);
        cJSON_Delete(back);
        free(txt);
        cJSON_Delete(e);
    }

    struct lw_annot a;
    memset(&a, 0, sizeof(a));
    a.status = (enum lw_pod_status)(size % 6);
    lw_rec_utf8_clean(a.summary, sizeof(a.summary), note, sizeof(a.summary) - 1);
    snprintf(a.top_stack, sizeof(a.top_stack), "%s", podname); /* raw bytes: the patch cleans them */
    a.predicted_oom_at = size % 2 ? 1764185400.0 + (double)size : 0;
    cJSON *pod = cJSON_Parse(podjson);
    cJSON *p = lw_rec_annot_patch(&a, pod, 1764185400.0 + (double)(size % 5000), NULL);
    if (p) {
        const cJSON *ann = cJSON_GetObjectItem(cJSON_GetObjectItem(p, "metadata"), "annotations");
        size_t total = 0;
        for (size_t i = 0; i < 5; i++) {
            const cJSON *v = cJSON_GetObjectItem(ann, lw_rec_annotation_keys[i]);
            if (cJSON_IsString(v)) {
                must(lw_rec_utf8_valid(v->valuestring, strlen(v->valuestring)));
                total += strlen(lw_rec_annotation_keys[i]) + strlen(v->valuestring);
            }
        }
        must(total < LW_REC_ANNOT_TOTAL_MAX);
        cJSON_Delete(p);
    }
    cJSON *o = lw_rec_annot_optout_patch(pod);
    cJSON_Delete(o);
    cJSON_Delete(pod);
    free(buf);
    return 0;
}
