/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the recorder tests that run against the Python test API
 * server (test_recorder_e2e, test_recorder_adopt, test_recorder_coalesce):
 * a token-authenticated GET returning JSON, field readers, draining the
 * recorder's writes, and seeding a pod. Include after harness.h,
 * kube_test_server.h and recorder/recorder.h.
 */
#ifndef LW_RECORDER_TEST_UTIL_H
#define LW_RECORDER_TEST_UTIL_H

/* GET t->url + path with the test server's initial token; parsed JSON or NULL. */
static inline cJSON *get_json(struct kt *t, const char *path)
{
    char url[512];
    snprintf(url, sizeof(url), "%s%s", t->url, path);
    struct lw_buf b = LW_BUF_INIT(16u << 20);
    CURL *e = curl_easy_init();
    struct curl_slist *hl = curl_slist_append(NULL, "Authorization: Bearer tok-initial-1");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, kt_sink);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 20L);
    curl_easy_perform(e);
    curl_easy_cleanup(e);
    curl_slist_free_all(hl);
    cJSON *j = b.len ? cJSON_ParseWithLength(b.data, b.len) : NULL;
    lw_buf_release(&b);
    return j;
}

/* o[a] (or o[a][b]) as a string, "" when absent. */
static inline const char *js(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItem(o, a);
    if (b)
        x = cJSON_GetObjectItem(x, b);
    return cJSON_IsString(x) ? x->valuestring : "";
}

/* o[a] (or o[a][b]) as an int, -1 when absent. */
static inline int jnum(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItem(o, a);
    if (b)
        x = cJSON_GetObjectItem(x, b);
    return cJSON_IsNumber(x) ? x->valueint : -1;
}

/* Run the loop until the recorder has no pending write (at most 20 s). */
static inline void drain(struct kt *t, struct lw_recorder *r)
{
    for (int i = 0; i < 400 && lw_recorder_pending(r) > 0; i++)
        lw_loop_run_once(t->loop, 0.05);
    CHECK_EQ_INT((int)lw_recorder_pending(r), 0);
}

/* Create pod default/name; its uid as the server assigned it. */
static inline void seed(struct kt *t, const char *name, char *uid, size_t n)
{
    kt_seed_pod(t, "default", name, "node-a", NULL);
    char path[128];
    snprintf(path, sizeof(path), "pods/default/%s", name);
    cJSON *p = kt_ctl_json(t, "GET", path, NULL);
    snprintf(uid, n, "%s", js(cJSON_GetObjectItem(p, "metadata"), "uid", NULL));
    cJSON_Delete(p);
}

#endif
