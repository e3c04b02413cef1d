/* monitor: what earlier sweeps knew of each resource, for rules that need
 * more than one check: a rate-limited resource keeps its previous status
 * (prev_status), and "slow" is the median of the last three latencies
 * (prev_lat). The store keeps them (monitor_recent, written in the sweep's
 * transaction); this is the rule of what to keep. */
#include "monitor.h"

int mon_recent_next(const mon_res *r, double lat[2])
{
    lat[0] = r->prev_lat[0];
    lat[1] = r->prev_lat[1];
    int nlat = r->nprev_lat;
    /* only up answers are latency samples; a rate-limited check is none */
    if (r->status == MON_R_UP && !r->rate_limited && !r->invalid) {
        lat[1] = r->prev_lat[0];
        lat[0] = r->latency_ms;
        nlat = nlat + 1 > 2 ? 2 : nlat + 1;
    }
    return nlat;
}
