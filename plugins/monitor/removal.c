/* monitor: which datasets are announced removed. Pure rules, no I/O: the
 * caller passes a confirmation callback (package_show in the plugin, the
 * model in the property test).
 *
 * A dataset is removed only when (1) it is missing from `remove_after`
 * consecutive complete listings, (2) the sweep would not remove more than
 * `max_fraction` of the portal at once (else the whole batch is held one
 * sweep and raised as one warning), and (3) package_show confirms it is gone
 * (404 / not found / state deleted). A still-present answer resets its
 * count: offset paging skipped it. */
#include <string.h>

#include "monitor.h"

void mon_removal_plan(mon_rm_item *items, size_t n, bool complete, bool held_before,
                      const mon_rm_opts *o, mon_rm_result *r)
{
    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < n; i++)
        items[i].remove = false;
    if (!complete)
        return; /* an incomplete listing proves nothing about absence */
    int after = o->remove_after < 1 ? 1 : o->remove_after;
    for (size_t i = 0; i < n; i++) {
        if (items[i].listed) {
            items[i].missing = 0;
            continue;
        }
        items[i].missing++;
        if (items[i].missing >= after)
            r->candidates++;
    }
    if (r->candidates == 0)
        return;
    /* (double) so a fraction of 0.1 of 10 datasets allows exactly 1 */
    if ((double)r->candidates > o->max_fraction * (double)n && !held_before) {
        r->held = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (items[i].listed || items[i].missing < after)
            continue;
        int c = o->confirm ? o->confirm(o->ctx, items[i].id) : 1;
        if (c > 0) {
            items[i].remove = true;
            r->removed++;
        } else if (c == 0) {
            items[i].missing = 0; /* still there: the listing skipped it */
            r->kept++;
        } else {
            r->unconfirmed++;
        }
    }
}
