/* monitor: bus methods datasets.list/get/history, monitor.status and
 * monitor.run_now. They run on the caller's thread: they check the
 * parameters and read through the store's queries (store_query.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vigia/contract/monitor.h>

#include "monitor.h"
#include "store.h"
#include "store_signals.h"

int mon_method_opt_str(const json_t *params, const char *key, const char **out)
{
    *out = NULL;
    const json_t *v = json_object_get(params, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return -1;
    *out = json_string_value(v);
    return 0;
}

static int opt_int(const json_t *params, const char *key, long long def, long long *out)
{
    *out = def;
    const json_t *v = json_object_get(params, key);
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_string(v)) { /* REST query strings arrive as text */
        char *end;
        long long x = strtoll(json_string_value(v), &end, 10);
        if (*json_string_value(v) && !*end) {
            *out = x;
            return 0;
        }
    }
    return -1;
}

static int m_list(const json_t *params, json_t **result, void *user)
{
    mon_plugin *m = user;
    const char *portal, *status, *org, *q, *sort;
    long long limit, offset;
    if (mon_method_opt_str(params, "portal", &portal) < 0)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT", "portal: expected a string");
    if (mon_method_opt_str(params, "status", &status) < 0 ||
        (status && mon_dstatus_parse(status) < 0))
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "status: expected one of up, down, degraded, empty, unknown");
    if (mon_method_opt_str(params, "organization", &org) < 0)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "organization: expected a string");
    if (mon_method_opt_str(params, "q", &q) < 0 || (q && strlen(q) > 200))
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "q: expected a string of at most 200 characters");
    if (opt_int(params, "limit", 50, &limit) < 0 || limit < 1 || limit > 1000)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "limit: expected an integer from 1 to 1000");
    if (opt_int(params, "offset", 0, &offset) < 0 || offset < 0 || offset > 100000000)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "offset: expected a non-negative integer");
    if (mon_method_opt_str(params, "sort", &sort) < 0)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT", "sort: expected a string");
    if (sort && !mon_store_sort_known(sort))
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "sort: expected one of name, title, status, organization, "
                              "last_checked (prefix '-' for descending)");
    mon_list_query lq = {.portal = portal,
                         .status = status,
                         .org = org,
                         .q = q,
                         .sort = sort,
                         .limit = limit,
                         .offset = offset};
    json_t *items = NULL;
    long long total = 0;
    int rc = mon_store_list(m->store, &lq, &items, &total);
    if (rc == -ENOMEM)
        return vg_method_fail(result, rc, "INTERNAL", "out of memory");
    if (rc)
        return vg_method_fail(result, rc, "INTERNAL", "database error");
    *result = json_pack("{s:o, s:I, s:I, s:I}", "items", items, "total", (json_int_t)total, "limit",
                        (json_int_t)limit, "offset", (json_int_t)offset);
    return 0;
}

/* Finds (portal, id) for a dataset id (or name) and an optional portal: the
 * dataset's row, and its portal and id (pointing into the row). */
static int resolve(mon_plugin *m, const json_t *params, json_t **result, json_t **dataset,
                   const char **ds_portal, const char **ds_id)
{
    const char *id, *portal;
    if (mon_method_opt_str(params, "id", &id) < 0 || !id || !*id || strlen(id) > 200)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "id: expected a dataset id or name (at most 200 characters)");
    if (mon_method_opt_str(params, "portal", &portal) < 0)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT", "portal: expected a string");
    /* Identity is (portal, id): an id (or, failing that, a name) found in
     * several portals is ambiguous without `portal`, never picked at random. */
    json_t *portals = NULL;
    int rc = mon_store_find(m->store, id, portal, dataset, &portals);
    if (rc == 0 && json_array_size(portals) > 1) {
        char list[512] = "";
        size_t i, len = 0;
        json_t *v;
        json_array_foreach (portals, i, v) {
            int w = snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "",
                             json_string_value(v));
            if (w < 0 || (size_t)w >= sizeof list - len)
                break;
            len += (size_t)w;
        }
        json_decref(*dataset);
        *dataset = NULL;
        rc = vg_method_fail(result, -EEXIST, "AMBIGUOUS",
                            "dataset '%s' exists in several portals (%s): say which with portal",
                            id, list);
        json_t *e = *result ? json_object_get(*result, "error") : NULL;
        if (json_is_object(e))
            json_object_set(e, "portals", portals);
        json_decref(portals);
        return rc;
    }
    json_decref(portals);
    if (rc == -ENOENT)
        return vg_method_fail(result, rc, "NOT_FOUND", "no dataset with id or name '%s'%s%s", id,
                              portal ? " in portal " : "", portal ? portal : "");
    if (rc)
        return vg_method_fail(result, rc, "INTERNAL", "database error");
    *ds_portal = json_string_value(json_object_get(*dataset, "portal"));
    *ds_id = json_string_value(json_object_get(*dataset, "id"));
    return 0;
}

static int m_get(const json_t *params, json_t **result, void *user)
{
    mon_plugin *m = user;
    json_t *ds = NULL;
    const char *portal, *id;
    int rc = resolve(m, params, result, &ds, &portal, &id);
    if (rc)
        return rc;
    json_object_set_new(ds, "resources", mon_store_resources(m->store, portal, id));
    json_object_set_new(ds, "uptime_30d", mon_store_uptime(m->store, portal, id, 30));
    json_object_set_new(ds, "contact", mon_store_contact(m->store, portal, id));
    json_object_set_new(ds, "freshness", mon_store_freshness(m->store, portal, id));
    *result = ds;
    return 0;
}

static int m_history(const json_t *params, json_t **result, void *user)
{
    mon_plugin *m = user;
    long long days;
    if (opt_int(params, "days", 7, &days) < 0 || days < 1 || days > 366)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "days: expected an integer from 1 to 366");
    json_t *ds = NULL;
    const char *portal, *id;
    int rc = resolve(m, params, result, &ds, &portal, &id);
    if (rc)
        return rc;
    /* individual checks exist for history_days; the roll-up for a year */
    long long cdays = days < m->cfg.history_days ? days : m->cfg.history_days;
    json_t *checks = mon_store_checks(m->store, portal, id, mon_wall_ms() - cdays * 86400000LL);
    json_t *daily = mon_store_daily(m->store, portal, id, days);
    *result = json_pack("{s:o, s:I, s:o, s:o}", "dataset", ds, "days", (json_int_t)days, "checks",
                        checks, "daily", daily);
    return 0;
}

static int m_status(const json_t *params, json_t **result, void *user)
{
    (void)params;
    mon_plugin *m = user;
    json_t *arr = json_array();
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->cfg.nportals; i++) {
        mon_portal_rt *rt = &m->rt[i];
        char next[40] = "";
        if (rt->next_due_wall > 0)
            mon_iso_ms(rt->next_due_wall, next, sizeof next);
        json_t *o =
            json_pack("{s:s, s:s, s:s, s:O, s:o, s:o, s:b, s:{s:I, s:I, s:I, s:I}}", "name",
                      rt->cfg->name, "url", rt->cfg->base_url, "state", rt->state, "last_sweep",
                      rt->last_sweep ? rt->last_sweep : json_null(), "next_sweep_at",
                      (rt->running || !next[0]) ? json_null() : json_string(next), "last_error",
                      rt->last_error[0] ? json_string(rt->last_error) : json_null(), "running",
                      rt->running, "checks_total", "up", (json_int_t)rt->checks_up, "down",
                      (json_int_t)rt->checks_down, "restricted", (json_int_t)rt->checks_restricted,
                      "invalid", (json_int_t)rt->checks_invalid);
        json_array_append_new(arr, o);
    }
    pthread_mutex_unlock(&m->mu);
    *result = json_pack("{s:o}", "portals", arr);
    return 0;
}

static int m_run_now(const json_t *params, json_t **result, void *user)
{
    mon_plugin *m = user;
    const char *portal;
    if (mon_method_opt_str(params, "portal", &portal) < 0)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT", "portal: expected a string");
    json_t *started = json_array();
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->cfg.nportals; i++) {
        if (portal && strcmp(portal, m->rt[i].cfg->name) != 0)
            continue;
        m->rt[i].run_requested = true;
        json_array_append_new(started, json_string(m->rt[i].cfg->name));
    }
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->mu);
    if (portal && json_array_size(started) == 0) {
        json_decref(started);
        return vg_method_fail(result, -ENOENT, "NOT_FOUND", "no portal named '%s'", portal);
    }
    *result = json_pack("{s:o}", "started", started);
    return 0;
}

int mon_methods_register(mon_plugin *m)
{
    vg_bus *bus = m->host->bus;
    int rc = vg_bus_register_method(bus, VG_MONITOR_M_DATASETS_LIST, m_list, m, NULL);
    rc |= vg_bus_register_method(bus, VG_MONITOR_M_DATASETS_GET, m_get, m, NULL);
    rc |= vg_bus_register_method(bus, VG_MONITOR_M_DATASETS_HISTORY, m_history, m, NULL);
    rc |= vg_bus_register_method(bus, VG_MONITOR_M_STATUS, m_status, m, NULL);
    rc |= vg_bus_register_method(bus, VG_MONITOR_M_RUN_NOW, m_run_now, m, NULL);
    rc |= mon_methods_signals_register(m); /* methods_signals.c */
    return rc ? -EEXIST : 0;
}

int mon_method_resolve(mon_plugin *m, const json_t *params, json_t **result, json_t **dataset)
{
    const char *portal, *id;
    return resolve(m, params, result, dataset, &portal, &id);
}

int mon_method_opt_int(const json_t *params, const char *key, long long def, long long *out)
{
    return opt_int(params, key, def, out);
}
