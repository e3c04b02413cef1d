/* monitor store: the bus methods' queries (datasets.list/get/history), on the
 * reader connection behind its lock, rows returned as JSON (see store.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_db.h"

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

/* Row -> JSON: which column goes under which key, in the object's key order. */
typedef struct col_key {
    const char *key;
    int col;
} col_key;

#define NKEYS(k) (sizeof(k) / sizeof((k)[0]))

static void cols_into(json_t *o, sqlite3_stmt *st, int first, const col_key *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, keys[i].key, col_json(st, first + keys[i].col));
}

#define DS_COLS                                                                                    \
    "portal, id, name, title, organization, organization_title, url, status, last_checked,"        \
    " stale, metadata_modified, observed, first_seen"

static json_t *dataset_row(sqlite3_stmt *st)
{
    static const col_key keys[] = {{"id", 1},    {"portal", 0},       {"name", 2},
                                   {"title", 3}, {"organization", 4}, {"organization_title", 5},
                                   {"url", 6},   {"status", 7}};
    json_t *o = json_object();
    cols_into(o, st, 0, keys, NKEYS(keys));
    json_object_set_new(o, "last_checked", col_iso(st, 8));
    json_object_set_new(o, "stale", json_boolean(sqlite3_column_int(st, 9)));
    json_object_set_new(o, "metadata_modified", col_json(st, 10));
    return o;
}

/* status, reason, http_status, latency_ms, content_type, content_length,
 * final_url, error, method from column `first` on, into `o`. */
static void check_cols(json_t *o, sqlite3_stmt *st, int first)
{
    static const col_key keys[] = {{"status", 0},     {"reason", 1},       {"http_status", 2},
                                   {"latency_ms", 3}, {"content_type", 4}, {"content_length", 5},
                                   {"final_url", 6},  {"error", 7},        {"method", 8}};
    cols_into(o, st, first, keys, NKEYS(keys));
}

static json_t *last_check_row(sqlite3_stmt *st, int first)
{
    /* the check columns, then checked_at */
    if (sqlite3_column_type(st, first + 9) == SQLITE_NULL)
        return json_null();
    json_t *o = json_object();
    check_cols(o, st, first);
    json_object_set_new(o, "checked_at", col_iso(st, first + 9));
    return o;
}

static const struct {
    const char *key, *sql;
} k_sorts[] = {{"name", "name ASC"},
               {"-name", "name DESC"},
               {"title", "title ASC"},
               {"-title", "title DESC"},
               {"status", "status ASC, name ASC"},
               {"-status", "status DESC, name ASC"},
               {"organization", "organization ASC, name ASC"},
               {"-organization", "organization DESC, name ASC"},
               {"last_checked", "last_checked ASC, name ASC"},
               {"-last_checked", "last_checked DESC, name ASC"}};

static const char *sort_sql(const char *sort)
{
    if (!sort)
        return "name ASC";
    for (size_t i = 0; i < sizeof k_sorts / sizeof k_sorts[0]; i++)
        if (strcmp(sort, k_sorts[i].key) == 0)
            return k_sorts[i].sql;
    return NULL;
}

bool mon_store_sort_known(const char *sort) { return sort_sql(sort) != NULL; }

/* q as a LIKE pattern: folded (vg_fold, fold.c), wildcards escaped so q is a
 * plain substring. -ENOMEM. */
static int like_pattern(const char *q, char *like, size_t size)
{
    char *fq = mon_fold(q);
    if (!fq)
        return -ENOMEM;
    size_t j = 0;
    like[j++] = '%';
    for (const char *s = fq; *s && j < size - 3; s++) {
        if (*s == '%' || *s == '_' || *s == '\\')
            like[j++] = '\\';
        like[j++] = *s;
    }
    like[j++] = '%';
    like[j] = 0;
    free(fq);
    return 0;
}

static const char k_list_where[] =
    " FROM monitor_datasets WHERE removed_at IS NULL"
    " AND (?1 IS NULL OR portal=?1) AND (?2 IS NULL OR status=?2)"
    " AND (?3 IS NULL OR organization=?3) AND (?4 IS NULL OR vg_fold(name) LIKE ?4"
    " ESCAPE '\\' OR vg_fold(title) LIKE ?4 ESCAPE '\\' OR id=?5)";

static int bind_filters(sqlite3_stmt *s, const mon_list_query *q, const char *like)
{
    int rc = SQLITE_OK;
    if (q->portal)
        rc |= sqlite3_bind_text(s, 1, q->portal, -1, SQLITE_STATIC);
    if (q->status)
        rc |= sqlite3_bind_text(s, 2, q->status, -1, SQLITE_STATIC);
    if (q->org)
        rc |= sqlite3_bind_text(s, 3, q->org, -1, SQLITE_STATIC);
    if (q->q) {
        rc |= sqlite3_bind_text(s, 4, like, -1, SQLITE_STATIC);
        rc |= sqlite3_bind_text(s, 5, q->q, -1, SQLITE_STATIC);
    }
    return rc == SQLITE_OK ? 0 : -EIO;
}

/* The page's rows into `items`. */
static int list_page(sqlite3_stmt *st, json_t *items)
{
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        static const col_key figures[] = {{"uptime_30d", 13}, {"latency_ms", 14}};
        json_t *row = dataset_row(st);
        cols_into(row, st, 0, figures, NKEYS(figures));
        json_array_append_new(items, row);
    }
    return s == SQLITE_DONE ? 0 : -EIO;
}

int mon_store_list(mon_store *store, const mon_list_query *q, json_t **items, long long *total)
{
    const char *order = sort_sql(q->sort);
    char like[420] = "";
    *items = NULL;
    *total = 0;
    if (!order)
        return -EINVAL;
    if (q->q && like_pattern(q->q, like, sizeof like) < 0)
        return -ENOMEM;
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
             k_list_where, order);
    char csql[512];
    snprintf(csql, sizeof csql, "SELECT COUNT(*)%s", k_list_where);
    json_t *rows = json_array();
    int rc = 0;
    pthread_mutex_lock(&store->rmu);
    sqlite3_stmt *st = NULL, *ct = NULL;
    if (sqlite3_prepare_v2(store->r, sql, -1, &st, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(store->r, csql, -1, &ct, NULL) != SQLITE_OK ||
        bind_filters(st, q, like) < 0 || bind_filters(ct, q, like) < 0 ||
        sqlite3_bind_int64(st, 6, q->limit) != SQLITE_OK ||
        sqlite3_bind_int64(st, 7, q->offset) != SQLITE_OK) {
        rc = -EIO;
    } else {
        rc = list_page(st, rows);
        if (sqlite3_step(ct) == SQLITE_ROW)
            *total = sqlite3_column_int64(ct, 0);
    }
    sqlite3_finalize(st);
    sqlite3_finalize(ct);
    pthread_mutex_unlock(&store->rmu);
    if (rc) {
        json_decref(rows);
        return rc;
    }
    *items = rows;
    return 0;
}

int mon_store_find(mon_store *store, const char *id, const char *portal, json_t **dataset,
                   json_t **portals)
{
    sqlite3_stmt *st = NULL;
    int rc = -ENOENT;
    *dataset = NULL;
    *portals = json_array();
    pthread_mutex_lock(&store->rmu);
    if (sqlite3_prepare_v2(store->r,
                           "SELECT " DS_COLS " FROM monitor_datasets WHERE (id=?1 OR name=?1)"
                           " AND (?2 IS NULL OR portal=?2) AND removed_at IS NULL"
                           " ORDER BY id=?1 DESC, portal ASC LIMIT 50",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) == SQLITE_OK &&
        (!portal || sqlite3_bind_text(st, 2, portal, -1, SQLITE_STATIC) == SQLITE_OK)) {
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
            json_array_append_new(*portals, col_json(st, 0));
        }
    } else {
        rc = -EIO;
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&store->rmu);
    return rc;
}

/* Prepares `sql` on the reader and binds (portal, id) as ?1 and ?2; the
 * caller holds the reader's lock. NULL on failure. */
static sqlite3_stmt *prep_ds(mon_store *store, const char *sql, const char *portal, const char *id)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store->r, sql, -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, portal, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC) != SQLITE_OK) {
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

json_t *mon_store_contact(mon_store *store, const char *portal, const char *id)
{
    json_t *c = json_null();
    pthread_mutex_lock(&store->rmu);
    sqlite3_stmt *st = prep_ds(store,
                               "SELECT maintainer, maintainer_email, author, author_email"
                               " FROM monitor_contacts WHERE portal=? AND id=?",
                               portal, id);
    if (st && sqlite3_step(st) == SQLITE_ROW) {
        json_decref(c);
        c = json_pack("{s:o, s:o, s:o, s:o}", "maintainer", col_json(st, 0), "maintainer_email",
                      col_json(st, 1), "author", col_json(st, 2), "author_email", col_json(st, 3));
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&store->rmu);
    return c ? c : json_null();
}

/* One JSON element per row of `sql` on the reader, with (portal, id) bound as
 * ?1, ?2 and, when given, `text3` or `*int3` as ?3. Empty when the query
 * cannot run (the reader's errors are not the caller's to report). */
static json_t *query_rows(mon_store *store, const char *sql, const char *portal, const char *id,
                          const char *text3, const int64_t *int3, json_t *(*row)(sqlite3_stmt *))
{
    json_t *out = json_array();
    pthread_mutex_lock(&store->rmu);
    sqlite3_stmt *st = prep_ds(store, sql, portal, id);
    if (st && ((text3 && sqlite3_bind_text(st, 3, text3, -1, SQLITE_TRANSIENT) != SQLITE_OK) ||
               (int3 && sqlite3_bind_int64(st, 3, *int3) != SQLITE_OK))) {
        sqlite3_finalize(st);
        st = NULL;
    }
    while (st && sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(out, row(st));
    sqlite3_finalize(st);
    pthread_mutex_unlock(&store->rmu);
    return out;
}

static json_t *resource_row(sqlite3_stmt *st)
{
    static const col_key keys[] = {
        {"id", 0}, {"name", 1}, {"url", 2}, {"format", 3}, {"status", 4}};
    json_t *r = json_object();
    cols_into(r, st, 0, keys, NKEYS(keys));
    json_object_set_new(r, "last_check", last_check_row(st, 4));
    return r;
}

json_t *mon_store_resources(mon_store *store, const char *portal, const char *id)
{
    return query_rows(store,
                      "SELECT id, name, url, format, status, reason, http_status, latency_ms,"
                      " content_type, content_length, final_url, error, method, checked_at"
                      " FROM monitor_resources WHERE portal=? AND dataset_id=? ORDER BY position",
                      portal, id, NULL, NULL, resource_row);
}

json_t *mon_store_uptime(mon_store *store, const char *portal, const char *id, int days)
{
    json_t *v = json_null();
    char mod[32];
    snprintf(mod, sizeof mod, "-%d days", days - 1);
    pthread_mutex_lock(&store->rmu);
    sqlite3_stmt *st = prep_ds(store,
                               "SELECT SUM(ok), SUM(checks) FROM monitor_daily WHERE portal=? AND"
                               " dataset_id=? AND day >= date('now', ?)",
                               portal, id);
    if (st && sqlite3_bind_text(st, 3, mod, -1, SQLITE_TRANSIENT) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 1) > 0) {
        json_decref(v);
        v = json_real(100.0 * (double)sqlite3_column_int64(st, 0) /
                      (double)sqlite3_column_int64(st, 1));
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&store->rmu);
    return v;
}

static json_t *check_row(sqlite3_stmt *st)
{
    static const col_key keys[] = {{"resource_id", 0}, {"sweep_id", 1}};
    json_t *o = json_object();
    cols_into(o, st, 0, keys, NKEYS(keys));
    check_cols(o, st, 2);
    json_object_set_new(o, "checked_at", col_iso(st, 11));
    return o;
}

json_t *mon_store_checks(mon_store *store, const char *portal, const char *id, int64_t since_ms)
{
    return query_rows(store,
                      "SELECT resource_id, sweep_id, status, reason, http_status, latency_ms,"
                      " content_type, content_length, final_url, error, method, checked_at"
                      " FROM monitor_checks WHERE portal=? AND dataset_id=? AND"
                      " checked_at >= ? ORDER BY checked_at DESC, id DESC LIMIT 5000",
                      portal, id, NULL, &since_ms, check_row);
}

static json_t *daily_row(sqlite3_stmt *st)
{
    long long ok = sqlite3_column_int64(st, 1), n = sqlite3_column_int64(st, 2),
              ln = sqlite3_column_int64(st, 4);
    json_t *o = json_object();
    json_object_set_new(o, "day", col_json(st, 0));
    json_object_set_new(o, "uptime", n ? json_real(100.0 * (double)ok / (double)n) : json_null());
    json_object_set_new(o, "checks", json_integer(n));
    json_object_set_new(o, "ok", json_integer(ok));
    json_object_set_new(o, "mean_latency_ms",
                        ln ? json_real(sqlite3_column_double(st, 3) / (double)ln) : json_null());
    return o;
}

json_t *mon_store_daily(mon_store *store, const char *portal, const char *id, long long days)
{
    char mod[32];
    snprintf(mod, sizeof mod, "-%lld days", days - 1);
    return query_rows(store,
                      "SELECT day, ok, checks, latency_sum, latency_n FROM monitor_daily"
                      " WHERE portal=? AND dataset_id=? AND day >= date('now', ?) ORDER BY day",
                      portal, id, mod, NULL, daily_row);
}
