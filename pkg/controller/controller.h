/* SPDX-License-Identifier: Apache-2.0 */
/*
 * controller: `leakwatch controller`, the main job. Wires the building
 * blocks together on one event loop (docs/controller.md):
 *
 *   kubeconfig -> kube client -> pod informer -> per pod: lw_target_from_pod
 *     -> scraper (pprof over the loop) -> lw_series / lw_analyze
 *     -> recorder (Events + annotations) and ops (metrics, /healthz, /readyz)
 *
 * Level-triggered: every pod add/update re-evaluates the pod from scratch
 * (opt-in, target, restarts); every goroutine sample re-judges the series.
 * Single-threaded: everything runs on the loop's thread.
 *
 * The small decisions are pure functions below (restart detection, which
 * memory source to use, the post-mortem facts) so they are unit-tested
 * without a cluster.
 */
#ifndef LW_CONTROLLER_H
#define LW_CONTROLLER_H

#include "base/base.h"
#include "ops/ops.h"
#include "recorder/recorder.h"
#include "target/target.h"

#include <stdbool.h>
#include <stdint.h>

/* ---- pure helpers ----------------------------------------------------------- */

/* What we last knew about a container's incarnation. */
struct lw_ctl_incarnation {
    bool known;                          /* a status was seen before */
    int32_t restart_count;               /* -1 unknown */
    char container_id[LW_TARGET_CID_MAX + 1];
};

/* Did the container restart between prev and t (restartCount grew or changed,
 * or the containerID changed while both are known)? Updates prev to t's
 * values (keeping known values when t lacks them). The first sighting is
 * never a restart. */
bool lw_ctl_restart_detect(struct lw_ctl_incarnation *prev, const struct lw_target *t);

/* Is the restart an OOM kill (lastState.terminated.reason OOMKilled)? */
bool lw_ctl_oomkilled(const struct lw_target *t);

enum lw_ctl_mem_source { LW_CTL_MEM_RUNTIME = 0, LW_CTL_MEM_WORKING_SET };
/* Use a working-set sample taken at ws_t (unix s; 0 = none) rather than the
 * runtime's MemStats at now, when it is at most max_age old (and not from
 * the future by more than max_age). */
enum lw_ctl_mem_source lw_ctl_pick_memory(double ws_t, double now, double max_age);

/* What the controller remembers about its predictions for one series. */
struct lw_ctl_prediction {
    double first_warning_at;   /* first leak/OOM warning (unix s), 0 = none */
    double first_predicted_at; /* first time an OOM was predicted, 0 = none */
    double predicted_oom_at;   /* the latest predicted kill time, 0 = none */
    char top_stack[256];       /* top stack of the last verdict that had one */
    int64_t goroutines;        /* last goroutine count, -1 unknown */
};
void lw_ctl_prediction_reset(struct lw_ctl_prediction *p);
/* Fold a verdict seen at now into p. */
void lw_ctl_prediction_update(struct lw_ctl_prediction *p, const struct lw_verdict *v, double now);
/* The post-mortem facts for a kill at killed_at (0 = unknown) of a
 * container with limit_bytes: predicted when the series that ended carried
 * an OOM prediction; predicted_at is the earlier of the first warning and
 * the first prediction (how early we said so); predicted_oom_at the last
 * forecast kill time. Strings are borrowed from p. */
void lw_ctl_postmortem(const struct lw_ctl_prediction *p, const char *container, double killed_at,
                       double limit_bytes, struct lw_postmortem *pm);

/* Name the memory source in a verdict summary (at most n bytes with the NUL):
 * the engine's "(container)" becomes "(<source_phrase>)" when the phrase is
 * a working set ("working set from the kubelet"); a summary with no
 * "; memory " phrase (e.g. not enough data yet) gets "; memory <bytes>
 * (<source_phrase>)" when bytes > 0. NULL phrase: unchanged. */
void lw_ctl_summary_memory(char *summary, size_t n, const char *source_phrase, double bytes);

/* The annotation's summary while a pod has too little history to judge,
 * phrased in absolute times so that it stays true between the rate-limited
 * refreshes of a numbers-only change (a count of samples would read "2
 * samples over 5s" for minutes): "insufficient data: goroutine samples since
 * <since>; a verdict from about <since + min_span_s> (it needs at least
 * <min_samples> samples spanning <min_span_s>)", or with since <= 0 "no
 * goroutine sample yet". At most n bytes with the NUL. */
void lw_ctl_summary_insufficient(char *summary, size_t n, double since, size_t min_samples,
                                 double min_span_s);

/* RFC 3339 ("2026-11-26T19:30:00Z", fraction and offset allowed) to unix
 * seconds. LW_EINVAL on anything else. */
int lw_ctl_parse_time(const char *s, double *out);

/* ---- the controller ----------------------------------------------------------- */

/* Run until SIGTERM/SIGINT: returns LW_OK after a clean shutdown, or an
 * lw_err with eb set when setup failed (bad kubeconfig, port in use...).
 * Needs curl_global_init() done by the caller. Logs through lw_log. */
int lw_controller_run(const struct lw_config *cfg, struct lw_errbuf *eb);

/* ---- takeover (takeover.c; docs/controller.md "Leader changes and restarts") ---- */

/* A controller that sees a pod for the first time (a new leader, a restart)
 * cannot tell a restart from its own history, so an OOM kill that happened
 * while nobody was acting gets its post-mortem on first sight when it is
 * recent: finishedAt no more than this window before now. With adopted
 * Events (adopted = the list of our Events succeeded) the OOMKilled Event
 * already written for that kill is known, so the window is generous:
 * max(10 min, 4 scrape intervals), which covers a takeover (<= lease +
 * 4.4 retry) and a rescheduled controller pod. Without them, only a kill
 * within the time nobody can have led: lease + 4.4 retry (elect) + 2 scrape
 * intervals, so that a restart loop cannot post one kill twice. */
double lw_ctl_first_sight_window(bool adopted, bool elect, double lease, double retry,
                                 double scrape_interval);
/* The first status seen of t's container says OOMKilled (lastState) with a
 * finishedAt in [now - window, now + 60 s] (node clock skew); killed_at is set
 * to it. */
bool lw_ctl_first_sight_oom(const struct lw_target *t, double now, double window,
                            double *killed_at);

/* How often, at most, a pod's summary annotation is re-written when only its
 * numbers moved: every 5 min, or slower in a fleet so large that those
 * refreshes alone would take more than half of the API budget (api_qps
 * requests/s; <= 0 = unlimited): npods / (api_qps / 2), at most 1 h. */
double lw_ctl_annot_refresh(size_t npods, double api_qps);

#endif
