/* monitor: when is a package_search listing complete? Pure rules, no I/O, so
 * the property test can drive them with simulated portals.
 *
 * Offset paging over a live index is not a snapshot: a dataset deleted between
 * two pages shifts the next page by one and an item is never seen; a
 * half-rebuilt index answers with a smaller count. So a listing is complete
 * only when `count` stayed the same on every page and the number of distinct
 * ids seen equals it. Anything else is incomplete: usable for what it lists,
 * never for removals. */
#include <stdio.h>
#include <string.h>

#include "monitor.h"

void mon_pager_init(mon_pager *pg, long long rows)
{
    memset(pg, 0, sizeof *pg);
    pg->count = -1;
    pg->rows = rows > 0 ? rows : 1;
}

int mon_pager_page(mon_pager *pg, long long count, size_t got, size_t fresh)
{
    if (pg->count < 0) {
        pg->count = count;
    } else if (count != pg->count) {
        pg->state = MON_PAGER_INCOMPLETE;
        snprintf(pg->why, sizeof pg->why, "result.count changed from %lld to %lld while paging",
                 pg->count, count);
        return 1;
    }
    pg->distinct += fresh;
    if (got == 0) {
        if ((long long)pg->distinct == pg->count) {
            pg->state = MON_PAGER_COMPLETE;
        } else {
            pg->state = MON_PAGER_INCOMPLETE;
            snprintf(pg->why, sizeof pg->why,
                     "empty page at start=%lld before count %lld was reached (%zu ids)", pg->start,
                     pg->count, pg->distinct);
        }
        return 1;
    }
    if (fresh == 0) {
        pg->state = MON_PAGER_INCOMPLETE;
        snprintf(pg->why, sizeof pg->why,
                 "page at start=%lld brought no new dataset: paging does not advance", pg->start);
        return 1;
    }
    /* a server may cap rows below what we asked: advance by what came */
    pg->start += (long long)got < pg->rows ? (long long)got : pg->rows;
    if (pg->start < pg->count)
        return 0;
    if ((long long)pg->distinct == pg->count) {
        pg->state = MON_PAGER_COMPLETE;
    } else {
        pg->state = MON_PAGER_INCOMPLETE;
        snprintf(pg->why, sizeof pg->why, "listed %zu distinct datasets of count %lld",
                 pg->distinct, pg->count);
    }
    return 1;
}
