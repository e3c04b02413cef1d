/* monitor: resource identity. A resource that left a dataset while a new one
 * with the same URL (first) or the same name (then) appeared in it is the
 * same resource re-created under a new id: API clients holding the old id
 * broke, and that is what to tell them, rather than one removal plus one
 * addition. Pure, unit-tested. */
#include <stdlib.h>
#include <string.h>
#include <vigia/contract/monitor.h>

#include "store.h"

static bool has_id(const mon_res *cur, size_t nc, const char *id)
{
    for (size_t i = 0; id && i < nc; i++)
        if (strcmp(cur[i].id, id) == 0)
            return true;
    return false;
}

static bool was_listed(const mon_prev_res *prev, size_t np, const char *id)
{
    for (size_t k = 0; k < np; k++)
        if (prev[k].id && strcmp(prev[k].id, id) == 0)
            return true;
    return false;
}

/* One pass: pairs gone resources with new ones whose `field` (0 url, 1
 * name) is equal, non-empty and unambiguous (one gone and one new share it). */
static size_t pass(const mon_prev_res *prev, size_t np, const mon_res *cur, size_t nc, bool *pused,
                   bool *cused, int field, mon_recreated *out, size_t n)
{
    for (size_t k = 0; k < np; k++) {
        const char *pv = field == 0 ? prev[k].url : prev[k].name;
        if (pused[k] || !prev[k].id || !pv || !*pv || has_id(cur, nc, prev[k].id))
            continue;
        size_t match = nc, count = 0;
        for (size_t i = 0; i < nc; i++) {
            const char *cv = field == 0 ? cur[i].url : cur[i].name;
            if (!cused[i] && cv && strcmp(cv, pv) == 0 && !was_listed(prev, np, cur[i].id)) {
                match = i;
                count++;
            }
        }
        size_t twins = 0; /* other gone resources with the same value */
        for (size_t j = 0; j < np; j++) {
            const char *ov = field == 0 ? prev[j].url : prev[j].name;
            twins += !pused[j] && prev[j].id && ov && strcmp(ov, pv) == 0 &&
                     !has_id(cur, nc, prev[j].id);
        }
        if (count != 1 || twins != 1)
            continue;
        pused[k] = cused[match] = true;
        out[n++] = (mon_recreated){.prev = k,
                                   .cur = match,
                                   .matched_by = field == 0 ? VG_MONITOR_MATCHED_URL
                                                            : VG_MONITOR_MATCHED_NAME};
    }
    return n;
}

size_t mon_identity_match(const mon_prev_res *prev, size_t np, const mon_res *cur, size_t nc,
                          mon_recreated *out)
{
    if (np == 0 || nc == 0)
        return 0;
    bool *pused = calloc(np, 1), *cused = calloc(nc, 1);
    size_t n = 0;
    if (pused && cused) {
        n = pass(prev, np, cur, nc, pused, cused, 0, out, 0);
        n = pass(prev, np, cur, nc, pused, cused, 1, out, n);
    }
    free(pused);
    free(cused);
    return n;
}
