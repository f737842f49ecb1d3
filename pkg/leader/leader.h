/* SPDX-License-Identifier: Apache-2.0 */
/*
 * leader: leader election on a coordination.k8s.io/v1 Lease, client-go's
 * algorithm (tools/leaderelection with the LeaseLock), on the event loop.
 *
 * Why: in Deployment mode two or more replicas run, and only one may scrape
 * pods and write Events/annotations at a time. The others stand by and take
 * over within one lease duration when the leader dies, or within about one
 * retry period when it shuts down cleanly (it releases the Lease).
 *
 * Algorithm (docs/leader-election.md has the details and the guarantees):
 *  - every attempt GETs the Lease; NotFound -> create it holding it
 *    (leaseTransitions 0);
 *  - the record is compared with the one observed last; when it changed,
 *    observed_time = now on the LOCAL (loop) clock. A Lease held by someone
 *    else is taken over only once observed_time + leaseDurationSeconds has
 *    passed on the local clock: the remote renewTime is never compared with
 *    our clock (no dependence on clock skew);
 *  - take-over/renewal is a PUT carrying the observed resourceVersion; a 409
 *    means another candidate won the race; a holder change increments
 *    leaseTransitions;
 *  - the leader renews every retry period (a direct PUT with its last
 *    resourceVersion, falling back to GET on failure); when no renewal has
 *    succeeded for renew_deadline it steps down (on_stopped_leading) and
 *    becomes a candidate again;
 *  - candidates retry every retry_period * (1 + jitter * rand) (client-go's
 *    JitterUntil, JitterFactor 1.2);
 *  - lw_leader_release() (shutdown) writes holderIdentity "" and
 *    leaseDurationSeconds 1 (client-go's ReleaseOnCancel).
 *
 * Single-threaded like the loop; callbacks run on it and must not block,
 * free or release the elector. Error returns mean nothing was started.
 */
#ifndef LW_LEADER_H
#define LW_LEADER_H

#include "base/base.h"
#include "kube/kube.h"
#include "loop/loop.h"

#include <stdint.h>

struct lw_leader;

/* Caps on what is stored from a Lease. */
#define LW_LEADER_ID_MAX 256   /* identities (ours and observed holders), incl. NUL */
#define LW_LEADER_TIME_MAX 40  /* MicroTime text */
#define LW_LEADER_RV_MAX 64

struct lw_leader_opts {
    const char *ns;              /* Lease namespace (required) */
    const char *name;            /* Lease name (required) */
    const char *identity;        /* NULL = id_prefix + "_" + 16 random hex digits */
    const char *id_prefix;       /* e.g. the pod name; NULL = gethostname() */
    double lease_duration;       /* seconds; 0 = 15. Written rounded to whole seconds (>= 1) */
    double renew_deadline;       /* 0 = 10 */
    double retry_period;         /* 0 = 2 */
    double jitter;               /* candidates' retry jitter factor; 0 = 1.2 */
    double (*rand01)(void *ud);  /* [0,1) for jitter; NULL = random() */
    void *rand_ud;
    /* Callbacks (all optional), on the loop. */
    void (*on_started_leading)(void *ud);
    /* Stop acting at once: renewals failed for renew_deadline, another
     * holder was seen, or lw_leader_release() was called. */
    void (*on_stopped_leading)(void *ud);
    /* The observed holder changed (ourselves included; "" after a release). */
    void (*on_new_leader)(void *ud, const char *identity);
    void *ud;
};

struct lw_leader_stats {
    uint64_t attempts;       /* acquire/renew attempts finished */
    uint64_t acquisitions;   /* times we became leader */
    uint64_t renewals;       /* successful renewals while leader */
    uint64_t conflicts;      /* 409s (lost races) */
    uint64_t errors;         /* other failed requests */
    uint64_t stepdowns;      /* on_stopped_leading calls */
    uint64_t creates;        /* Lease created by us */
    int in_flight;           /* a request is running now */
};

/* Validates and copies the options (lease_duration > renew_deadline >
 * jitter * retry_period > 0, as client-go's NewLeaderElector). Nothing runs
 * until lw_leader_start(). k is borrowed and must outlive the elector. The
 * elector's requests use no client retries (the election retries itself)
 * and a timeout bounded by the renew deadline; give it a client whose rate
 * limiter is not shared with bulk traffic (or a large burst). */
struct lw_leader *lw_leader_new(struct lw_kube *k, const struct lw_leader_opts *o,
                                struct lw_errbuf *eb);
/* Start campaigning (the first attempt runs on the next loop iteration). */
int lw_leader_start(struct lw_leader *le, struct lw_errbuf *eb);
/* True while we hold the lease and the renew deadline has not passed on the
 * loop clock (checked here too, so a stalled loop cannot stretch it). Check
 * it right before each write the leader alone may do. */
int lw_leader_is_leader(const struct lw_leader *le);
const char *lw_leader_identity(const struct lw_leader *le);
/* The last observed holder ("" if none or not known yet). */
const char *lw_leader_holder(const struct lw_leader *le);
void lw_leader_get_stats(const struct lw_leader *le, struct lw_leader_stats *st);

/* Graceful shutdown: stop campaigning; if leading, call on_stopped_leading
 * at once; then, if the last record we saw names us (leading, or stepped
 * down after failed renewals), PUT the Lease with holderIdentity "" and
 * leaseDurationSeconds 1 so a standby takes over within a retry period.
 * Returns 1 when that release request was started (done(ud) runs when it
 * finishes, whatever the outcome), 0 when there was nothing to release
 * (done is not called). The elector stays stopped; free it afterwards. */
int lw_leader_release(struct lw_leader *le, void (*done)(void *ud), void *ud);
/* Stop everything without callbacks and without releasing (as a crash
 * would: standbys then wait for the lease to expire). NULL is a no-op. */
void lw_leader_free(struct lw_leader *le);

/* ---- exposed for tests ------------------------------------------------------ */

/* RFC 3339 MicroTime of a wall-clock time (seconds since the epoch), UTC,
 * exactly 6 fraction digits: 2026-11-26T20:54:04.123456Z. */
int lw_leader_format_microtime(char *out, size_t n, double wall);

#endif
