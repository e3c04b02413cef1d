/* monitor: the bus method of the open-data signals: datasets.changes, a
 * dataset's history of changes (every dataset event: added, modified,
 * status, freshness, format drift, re-created resources, removed), newest
 * first. */
#include <vigia/contract/monitor.h>

#include "monitor.h"
#include "store_signals.h"

static int m_changes(const json_t *params, json_t **result, void *user)
{
    mon_plugin *m = user;
    long long days, limit;
    if (mon_method_opt_int(params, "days", 30, &days) < 0 || days < 1 || days > 366)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "days: expected an integer from 1 to 366");
    if (mon_method_opt_int(params, "limit", 100, &limit) < 0 || limit < 1 || limit > 1000)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "limit: expected an integer from 1 to 1000");
    json_t *ds = NULL;
    int rc = mon_method_resolve(m, params, result, &ds);
    if (rc)
        return rc;
    const char *portal = json_string_value(json_object_get(ds, "portal"));
    const char *id = json_string_value(json_object_get(ds, "id"));
    json_t *changes =
        mon_store_changes(m->store, portal, id, mon_wall_ms() - days * 86400000LL, limit);
    json_object_set_new(ds, "freshness", mon_store_freshness(m->store, portal, id));
    *result =
        json_pack("{s:o, s:I, s:o}", "dataset", ds, "days", (json_int_t)days, "changes", changes);
    return 0;
}

int mon_methods_signals_register(mon_plugin *m)
{
    return vg_bus_register_method(m->host->bus, VG_MONITOR_M_DATASETS_CHANGES, m_changes, m, NULL);
}
