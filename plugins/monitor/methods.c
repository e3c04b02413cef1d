/* monitor: bus methods datasets.list/get/history, monitor.status and
 * monitor.run_now. They run on the caller's thread and read the database
 * through the plugin's read connection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vigia/contract/monitor.h>

#include "monitor.h"

static json_t *col_json(sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
        return json_integer(sqlite3_column_int64(st, i));
    case SQLITE_FLOAT:
        return json_real(sqlite3_column_double(st, i));
    case SQLITE_TEXT:
        return json_string((const char *)sqlite3_column_text(st, i));
    default:
        return json_null();
    }
}

static json_t *col_iso(sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) != SQLITE_INTEGER)
        return json_null();
    char b[40];
    mon_iso_ms(sqlite3_column_int64(st, i), b, sizeof b);
    return json_string(b);
}

/* Optional string parameter; -1 when present with the wrong type. */
static int opt_str(const json_t *params, const char *key, const char **out)
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

#define DS_COLS                                                                                    \
    "portal, id, name, title, organization, organization_title, url, status, last_checked,"        \
    " stale, metadata_modified, observed, first_seen"

static json_t *dataset_row(sqlite3_stmt *st)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", col_json(st, 1));
    json_object_set_new(o, "portal", col_json(st, 0));
    json_object_set_new(o, "name", col_json(st, 2));
    json_object_set_new(o, "title", col_json(st, 3));
    json_object_set_new(o, "organization", col_json(st, 4));
    json_object_set_new(o, "organization_title", col_json(st, 5));
    json_object_set_new(o, "url", col_json(st, 6));
    json_object_set_new(o, "status", col_json(st, 7));
    json_object_set_new(o, "last_checked", col_iso(st, 8));
    json_object_set_new(o, "stale", json_boolean(sqlite3_column_int(st, 9)));
    json_object_set_new(o, "metadata_modified", col_json(st, 10));
    return o;
}

static int m_list(const json_t *params, json_t **result, void *user)
{
    mon_plugin *m = user;
    const char *portal, *status, *org, *q, *sort;
    long long limit, offset;
    if (opt_str(params, "portal", &portal) < 0)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT", "portal: expected a string");
    if (opt_str(params, "status", &status) < 0 || (status && mon_dstatus_parse(status) < 0))
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "status: expected one of up, down, degraded, empty, unknown");
    if (opt_str(params, "organization", &org) < 0)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "organization: expected a string");
    if (opt_str(params, "q", &q) < 0 || (q && strlen(q) > 200))
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "q: expected a string of at most 200 characters");
    if (opt_int(params, "limit", 50, &limit) < 0 || limit < 1 || limit > 1000)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "limit: expected an integer from 1 to 1000");
    if (opt_int(params, "offset", 0, &offset) < 0 || offset < 0 || offset > 100000000)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "offset: expected a non-negative integer");
    if (opt_str(params, "sort", &sort) < 0)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT", "sort: expected a string");
    static const struct {
        const char *key, *sql;
    } sorts[] = {{"name", "name ASC"},
                 {"-name", "name DESC"},
                 {"title", "title ASC"},
                 {"-title", "title DESC"},
                 {"status", "status ASC, name ASC"},
                 {"-status", "status DESC, name ASC"},
                 {"organization", "organization ASC, name ASC"},
                 {"-organization", "organization DESC, name ASC"},
                 {"last_checked", "last_checked ASC, name ASC"},
                 {"-last_checked", "last_checked DESC, name ASC"}};
    const char *order = "name ASC";
    if (sort) {
        order = NULL;
        for (size_t i = 0; i < sizeof sorts / sizeof sorts[0]; i++)
            if (strcmp(sort, sorts[i].key) == 0)
                order = sorts[i].sql;
        if (!order)
            return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                                  "sort: expected one of name, title, status, organization, "
                                  "last_checked (prefix '-' for descending)");
    }
    char like[420] = "";
    char *fq = q ? mon_fold(q) : NULL;
    if (q && !fq)
        return vg_method_fail(result, -ENOMEM, "INTERNAL", "out of memory");
    if (q) { /* escape LIKE wildcards so q is a plain substring; case and
              * accents are folded on both sides (vg_fold, fold.c) */
        size_t j = 0;
        like[j++] = '%';
        for (const char *s = fq; *s && j < sizeof like - 3; s++) {
            if (*s == '%' || *s == '_' || *s == '\\')
                like[j++] = '\\';
            like[j++] = *s;
        }
        like[j++] = '%';
        like[j] = 0;
    }
    free(fq);
    static const char where[] =
        " FROM monitor_datasets WHERE removed_at IS NULL"
        " AND (?1 IS NULL OR portal=?1) AND (?2 IS NULL OR status=?2)"
        " AND (?3 IS NULL OR organization=?3) AND (?4 IS NULL OR vg_fold(name) LIKE ?4"
        " ESCAPE '\\' OR vg_fold(title) LIKE ?4 ESCAPE '\\' OR id=?5)";
    char sql[1536];
    /* (portal, id) is unique: the final tie-break keeps offset paging stable
     * when names repeat across portals. */
    /* The page is chosen first, so the per-row figures the portal shows
     * (30-day uptime from the daily roll-up, mean latency of the last checks)
     * are computed for at most `limit` rows, not for the whole table. */
    snprintf(sql, sizeof sql,
             "SELECT page.*,"
             " (SELECT 100.0 * SUM(d.ok) / SUM(d.checks) FROM monitor_daily d"
             "  WHERE d.portal = page.portal AND d.dataset_id = page.id"
             "  AND d.day >= date('now', '-29 days')),"
             " (SELECT AVG(r.latency_ms) FROM monitor_resources r"
             "  WHERE r.portal = page.portal AND r.dataset_id = page.id)"
             " FROM (SELECT " DS_COLS "%s ORDER BY %s, portal ASC, id ASC LIMIT ?6 OFFSET ?7)"
             " AS page",
             where, order);
    char csql[512];
    snprintf(csql, sizeof csql, "SELECT COUNT(*)%s", where);
    json_t *items = json_array();
    long long total = 0;
    int rc = 0;
    pthread_mutex_lock(&m->rdb_mu);
    sqlite3_stmt *st = NULL, *ct = NULL;
    if (sqlite3_prepare_v2(m->rdb, sql, -1, &st, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(m->rdb, csql, -1, &ct, NULL) != SQLITE_OK) {
        rc = -EIO;
    } else {
        sqlite3_stmt *both[2] = {st, ct};
        for (int k = 0; k < 2; k++) {
            sqlite3_stmt *s = both[k];
            if (portal)
                sqlite3_bind_text(s, 1, portal, -1, SQLITE_STATIC);
            if (status)
                sqlite3_bind_text(s, 2, status, -1, SQLITE_STATIC);
            if (org)
                sqlite3_bind_text(s, 3, org, -1, SQLITE_STATIC);
            if (q) {
                sqlite3_bind_text(s, 4, like, -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 5, q, -1, SQLITE_STATIC);
            }
        }
        sqlite3_bind_int64(st, 6, limit);
        sqlite3_bind_int64(st, 7, offset);
        int s;
        while ((s = sqlite3_step(st)) == SQLITE_ROW) {
            json_t *row = dataset_row(st);
            json_object_set_new(row, "uptime_30d", col_json(st, 13));
            json_object_set_new(row, "latency_ms", col_json(st, 14));
            json_array_append_new(items, row);
        }
        if (s != SQLITE_DONE)
            rc = -EIO;
        if (sqlite3_step(ct) == SQLITE_ROW)
            total = sqlite3_column_int64(ct, 0);
    }
    sqlite3_finalize(st);
    sqlite3_finalize(ct);
    pthread_mutex_unlock(&m->rdb_mu);
    if (rc) {
        json_decref(items);
        return vg_method_fail(result, rc, "INTERNAL", "database error");
    }
    *result = json_pack("{s:o, s:I, s:I, s:I}", "items", items, "total", (json_int_t)total, "limit",
                        (json_int_t)limit, "offset", (json_int_t)offset);
    return 0;
}

static json_t *last_check_row(sqlite3_stmt *st, int first)
{
    /* status, reason, http_status, latency_ms, content_type, content_length,
     * final_url, error, method, checked_at */
    if (sqlite3_column_type(st, first + 9) == SQLITE_NULL)
        return json_null();
    json_t *o = json_object();
    static const char *const keys[] = {"status",     "reason",       "http_status",
                                       "latency_ms", "content_type", "content_length",
                                       "final_url",  "error",        "method"};
    for (int i = 0; i < 9; i++)
        json_object_set_new(o, keys[i], col_json(st, first + i));
    json_object_set_new(o, "checked_at", col_iso(st, first + 9));
    return o;
}

/* Finds (portal, id) for a dataset id (or name) and an optional portal. */
static int resolve(mon_plugin *m, const json_t *params, json_t **result, json_t **dataset)
{
    const char *id, *portal;
    if (opt_str(params, "id", &id) < 0 || !id || !*id || strlen(id) > 200)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "id: expected a dataset id or name (at most 200 characters)");
    if (opt_str(params, "portal", &portal) < 0)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT", "portal: expected a string");
    /* Identity is (portal, id): an id (or, failing that, a name) found in
     * several portals is ambiguous without `portal`, never picked at random. */
    sqlite3_stmt *st = NULL;
    int rc = -ENOENT;
    json_t *portals = json_array();
    if (sqlite3_prepare_v2(m->rdb,
                           "SELECT " DS_COLS " FROM monitor_datasets WHERE (id=?1 OR name=?1)"
                           " AND (?2 IS NULL OR portal=?2) AND removed_at IS NULL"
                           " ORDER BY id=?1 DESC, portal ASC LIMIT 50",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        if (portal)
            sqlite3_bind_text(st, 2, portal, -1, SQLITE_STATIC);
        bool by_id = false;
        while (sqlite3_step(st) == SQLITE_ROW) {
            bool row_by_id = strcmp((const char *)sqlite3_column_text(st, 1), id) == 0;
            if (rc == 0 && by_id && !row_by_id)
                break; /* an id match wins over name matches */
            if (rc == -ENOENT) {
                *dataset = dataset_row(st);
                by_id = row_by_id;
                rc = 0;
            }
            json_array_append_new(portals, col_json(st, 0));
        }
    } else {
        rc = -EIO;
    }
    sqlite3_finalize(st);
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
    return 0;
}

static json_t *uptime(sqlite3 *db, const char *portal, const char *id, int days)
{
    sqlite3_stmt *st = NULL;
    json_t *v = json_null();
    if (sqlite3_prepare_v2(db,
                           "SELECT SUM(ok), SUM(checks) FROM monitor_daily WHERE portal=? AND"
                           " dataset_id=? AND day >= date('now', ?)",
                           -1, &st, NULL) == SQLITE_OK) {
        char mod[32];
        snprintf(mod, sizeof mod, "-%d days", days - 1);
        sqlite3_bind_text(st, 1, portal, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, mod, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 1) > 0) {
            json_decref(v);
            v = json_real(100.0 * (double)sqlite3_column_int64(st, 0) /
                          (double)sqlite3_column_int64(st, 1));
        }
    }
    sqlite3_finalize(st);
    return v;
}

static int m_get(const json_t *params, json_t **result, void *user)
{
    mon_plugin *m = user;
    json_t *ds = NULL;
    pthread_mutex_lock(&m->rdb_mu);
    int rc = resolve(m, params, result, &ds);
    if (rc) {
        pthread_mutex_unlock(&m->rdb_mu);
        return rc;
    }
    const char *portal = json_string_value(json_object_get(ds, "portal"));
    const char *id = json_string_value(json_object_get(ds, "id"));
    json_t *res = json_array();
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(m->rdb,
                           "SELECT id, name, url, format, status, reason, http_status, latency_ms,"
                           " content_type, content_length, final_url, error, method, checked_at"
                           " FROM monitor_resources WHERE portal=? AND dataset_id=?"
                           " ORDER BY position",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, portal, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
            json_t *r = json_object();
            json_object_set_new(r, "id", col_json(st, 0));
            json_object_set_new(r, "name", col_json(st, 1));
            json_object_set_new(r, "url", col_json(st, 2));
            json_object_set_new(r, "format", col_json(st, 3));
            json_object_set_new(r, "status", col_json(st, 4));
            json_object_set_new(r, "last_check", last_check_row(st, 4));
            json_array_append_new(res, r);
        }
    }
    sqlite3_finalize(st);
    json_object_set_new(ds, "resources", res);
    json_object_set_new(ds, "uptime_30d", uptime(m->rdb, portal, id, 30));
    pthread_mutex_unlock(&m->rdb_mu);
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
    pthread_mutex_lock(&m->rdb_mu);
    int rc = resolve(m, params, result, &ds);
    if (rc) {
        pthread_mutex_unlock(&m->rdb_mu);
        return rc;
    }
    const char *portal = json_string_value(json_object_get(ds, "portal"));
    const char *id = json_string_value(json_object_get(ds, "id"));
    json_t *checks = json_array(), *daily = json_array();
    sqlite3_stmt *st = NULL;
    /* individual checks exist for history_days; the roll-up for a year */
    long long cdays = days < m->cfg.history_days ? days : m->cfg.history_days;
    if (sqlite3_prepare_v2(m->rdb,
                           "SELECT resource_id, sweep_id, status, reason, http_status, latency_ms,"
                           " content_type, content_length, final_url, error, method, checked_at"
                           " FROM monitor_checks WHERE portal=? AND dataset_id=? AND"
                           " checked_at >= ? ORDER BY checked_at DESC, id DESC LIMIT 5000",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, portal, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, mon_wall_ms() - cdays * 86400000LL);
        while (sqlite3_step(st) == SQLITE_ROW) {
            json_t *o = json_object();
            json_object_set_new(o, "resource_id", col_json(st, 0));
            json_object_set_new(o, "sweep_id", col_json(st, 1));
            static const char *const keys[] = {"status",     "reason",       "http_status",
                                               "latency_ms", "content_type", "content_length",
                                               "final_url",  "error",        "method"};
            for (int i = 0; i < 9; i++)
                json_object_set_new(o, keys[i], col_json(st, 2 + i));
            json_object_set_new(o, "checked_at", col_iso(st, 11));
            json_array_append_new(checks, o);
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(m->rdb,
                           "SELECT day, ok, checks, latency_sum, latency_n FROM monitor_daily"
                           " WHERE portal=? AND dataset_id=? AND day >= date('now', ?)"
                           " ORDER BY day",
                           -1, &st, NULL) == SQLITE_OK) {
        char mod[32];
        snprintf(mod, sizeof mod, "-%lld days", days - 1);
        sqlite3_bind_text(st, 1, portal, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, mod, -1, SQLITE_TRANSIENT);
        while (sqlite3_step(st) == SQLITE_ROW) {
            long long ok = sqlite3_column_int64(st, 1), n = sqlite3_column_int64(st, 2),
                      ln = sqlite3_column_int64(st, 4);
            json_t *o = json_object();
            json_object_set_new(o, "day", col_json(st, 0));
            json_object_set_new(o, "uptime",
                                n ? json_real(100.0 * (double)ok / (double)n) : json_null());
            json_object_set_new(o, "checks", json_integer(n));
            json_object_set_new(o, "ok", json_integer(ok));
            json_object_set_new(o, "mean_latency_ms",
                                ln ? json_real(sqlite3_column_double(st, 3) / (double)ln)
                                   : json_null());
            json_array_append_new(daily, o);
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->rdb_mu);
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
    if (opt_str(params, "portal", &portal) < 0)
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
    int rc = mon_fold_register(m->rdb);
    rc |= vg_bus_register_method(bus, VG_MONITOR_M_DATASETS_LIST, m_list, m, NULL);
    rc |= vg_bus_register_method(bus, VG_MONITOR_M_DATASETS_GET, m_get, m, NULL);
    rc |= vg_bus_register_method(bus, VG_MONITOR_M_DATASETS_HISTORY, m_history, m, NULL);
    rc |= vg_bus_register_method(bus, VG_MONITOR_M_STATUS, m_status, m, NULL);
    rc |= vg_bus_register_method(bus, VG_MONITOR_M_RUN_NOW, m_run_now, m, NULL);
    return rc ? -EEXIST : 0;
}
