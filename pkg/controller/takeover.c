/* SPDX-License-Identifier: Apache-2.0 */
/*
 * takeover.c: the pure decisions for a controller that starts acting on pods
 * it has no history of (a new leader after a takeover, a restarted
 * DaemonSet instance): whether the OOM kill the first status shows still
 * deserves its post-mortem. The Events themselves are continued through
 * the recorder's adoption (pkg/recorder/adopt.c). No I/O, no clock.
 */
#include "controller/controller.h"

#include <math.h>

#define FIRST_SIGHT_ADOPTED 600.0 /* s: a takeover or a rescheduled controller pod */
#define FIRST_SIGHT_SKEW 60.0     /* s: a node clock ahead of ours */

double lw_ctl_first_sight_window(bool adopted, bool elect, double lease, double retry,
                                 double scrape_interval)
{
    double si = scrape_interval > 0 ? scrape_interval : 15;
    if (adopted)
        return LW_MAX(FIRST_SIGHT_ADOPTED, 4 * si);
    double w = 2 * si;
    if (elect)
        w += (lease > 0 ? lease : 15) + 4.4 * (retry > 0 ? retry : 2);
    return w;
}

bool lw_ctl_first_sight_oom(const struct lw_target *t, double now, double window,
                            double *killed_at)
{
    *killed_at = 0;
    if (!t->has_status || !lw_ctl_oomkilled(t))
        return false;
    double k;
    if (lw_ctl_parse_time(t->last_finished_at, &k) != LW_OK || !isfinite(k))
        return false; /* no time: cannot tell a fresh kill from an old one */
    if (k < now - window || k > now + FIRST_SIGHT_SKEW)
        return false;
    *killed_at = k;
    return true;
}
