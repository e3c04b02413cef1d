/* monitor: the bus methods of the open-data signals: datasets.changes, a
 * dataset's history of changes (every dataset event: added, modified,
 * status, freshness, format drift, re-created resources, removed), newest
 * first; organizations.list and organizations.get, the public report per
 * organisation (store_report.c). */
#include <stdlib.h>
#include <string.h>
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

static const char *const k_org_sorts[] = {"organization",
                                          "datasets",
                                          "availability_30d",
                                          "availability_365d",
                                          "broken_share",
                                          "fresh_share",
                                          "overdue_share",
                                          "delinquent_share",
                                          "median_repair_hours",
                                          "schema_changes",
                                          NULL};

static const char *g_sort_key; /* qsort has no context: set under g_sort_mu */
static int g_sort_desc;
static pthread_mutex_t g_sort_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *org_label(const json_t *o)
{
    const char *t = json_string_value(json_object_get(o, "organization_title"));
    const char *n = json_string_value(json_object_get(o, "organization"));
    return t ? t : n ? n : "";
}

/* Nulls last either way; ties by organisation, then portal. */
static int cmp_org(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int c = 0;
    if (strcmp(g_sort_key, "organization") != 0) {
        const json_t *vx = json_object_get(x, g_sort_key), *vy = json_object_get(y, g_sort_key);
        bool nx = !json_is_number(vx), ny = !json_is_number(vy);
        if (nx || ny)
            return nx - ny;
        double dx = json_number_value(vx), dy = json_number_value(vy);
        c = (dx > dy) - (dx < dy);
    }
    if (c == 0)
        c = strcmp(org_label(x), org_label(y));
    if (c == 0)
        c = strcmp(json_string_value(json_object_get(x, "portal")),
                   json_string_value(json_object_get(y, "portal")));
    return g_sort_desc ? -c : c;
}

static int m_orgs(const json_t *params, json_t **result, void *user)
{
    mon_plugin *m = user;
    const char *portal, *sort;
    if (mon_method_opt_str(params, "portal", &portal) < 0)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT", "portal: expected a string");
    if (mon_method_opt_str(params, "sort", &sort) < 0)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT", "sort: expected a string");
    const char *key = sort ? (sort[0] == '-' ? sort + 1 : sort) : "organization";
    bool known = false;
    for (size_t i = 0; k_org_sorts[i] && !known; i++)
        known = strcmp(key, k_org_sorts[i]) == 0;
    if (!known)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "sort: expected one of organization, datasets, availability_30d, "
                              "availability_365d, broken_share, fresh_share, overdue_share, "
                              "delinquent_share, median_repair_hours (prefix '-' for descending)");
    int64_t t0 = mon_mono_ms();
    mon_report_query q = {.portal = portal, .now_ms = mon_wall_ms()};
    json_t *rows = NULL;
    if (mon_store_org_report(m->store, &q, &rows) < 0)
        return vg_method_fail(result, -EIO, "INTERNAL", "database error");
    size_t n = json_array_size(rows);
    json_t **v = n ? malloc(n * sizeof *v) : NULL;
    if (n && !v) {
        json_decref(rows);
        return vg_method_fail(result, -ENOMEM, "INTERNAL", "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(rows, i);
    pthread_mutex_lock(&g_sort_mu);
    g_sort_key = key;
    g_sort_desc = sort && sort[0] == '-';
    if (n > 1)
        qsort(v, n, sizeof *v, cmp_org);
    pthread_mutex_unlock(&g_sort_mu);
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append(items, v[i]);
    free(v);
    json_decref(rows);
    char at[40];
    mon_iso_ms(q.now_ms, at, sizeof at);
    *result = json_pack("{s:o, s:I, s:s, s:s, s:I}", "items", items, "total", (json_int_t)n, "sort",
                        sort ? sort : "organization", "generated_at", at, "took_ms",
                        (json_int_t)(mon_mono_ms() - t0));
    return 0;
}

static int m_org(const json_t *params, json_t **result, void *user)
{
    mon_plugin *m = user;
    const char *name, *portal;
    if (mon_method_opt_str(params, "name", &name) < 0 || !name || strlen(name) > 200)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "name: expected an organisation name (at most 200 characters)");
    if (mon_method_opt_str(params, "portal", &portal) < 0)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT", "portal: expected a string");
    mon_report_query q = {.portal = portal, .organization = name, .now_ms = mon_wall_ms()};
    json_t *rows = NULL;
    if (mon_store_org_report(m->store, &q, &rows) < 0)
        return vg_method_fail(result, -EIO, "INTERNAL", "database error");
    if (json_array_size(rows) == 0) {
        json_decref(rows);
        return vg_method_fail(result, -ENOENT, "NOT_FOUND", "no organisation named '%s'%s%s", name,
                              portal ? " in portal " : "", portal ? portal : "");
    }
    if (json_array_size(rows) > 1) { /* (portal, organisation) is the identity */
        json_t *portals = json_array();
        size_t i;
        json_t *r;
        json_array_foreach (rows, i, r)
            json_array_append(portals, json_object_get(r, "portal"));
        json_decref(rows);
        int rc = vg_method_fail(result, -EEXIST, "AMBIGUOUS",
                                "organisation '%s' exists in several portals: say which with "
                                "portal",
                                name);
        json_t *e = *result ? json_object_get(*result, "error") : NULL;
        if (json_is_object(e))
            json_object_set(e, "portals", portals);
        json_decref(portals);
        return rc;
    }
    json_t *org = json_incref(json_array_get(rows, 0));
    json_decref(rows);
    json_object_set_new(org, "to_fix",
                        mon_store_org_to_fix(m->store,
                                             json_string_value(json_object_get(org, "portal")),
                                             name, 100));
    *result = org;
    return 0;
}

int mon_methods_signals_register(mon_plugin *m)
{
    vg_bus *bus = m->host->bus;
    int rc = vg_bus_register_method(bus, VG_MONITOR_M_DATASETS_CHANGES, m_changes, m, NULL);
    rc |= vg_bus_register_method(bus, VG_MONITOR_M_ORGANIZATIONS_LIST, m_orgs, m, NULL);
    rc |= vg_bus_register_method(bus, VG_MONITOR_M_ORGANIZATIONS_GET, m_org, m, NULL);
    return rc;
}
