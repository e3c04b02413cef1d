/* monitor store: the public report per organisation, derived from what is
 * already stored (datasets and their status, resources' last checks,
 * freshness, the organisations' daily roll-up, the history of changes).
 * A handful of GROUP BY queries on the reader, merged per (portal,
 * organisation) in C: 10,000 datasets and 100 organisations take a few tens
 * of milliseconds (bench/org_report). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_db.h"
#include "store_signals.h"

/* Non-negative x to `scale` (10: one decimal); no libm for one rounding. */
static double rnd(double x, double scale) { return (double)(long long)(x * scale + 0.5) / scale; }

#define REPORT_DAYS 365
#define SPARK_DAYS 30

/* "(?1 IS NULL OR portal = ?1) AND (?2 IS NULL OR organisation = ?2)" on `p`'s columns */
#define FILTER(p)                                                                                  \
    " (?1 IS NULL OR " p "portal = ?1) AND (?2 IS NULL OR COALESCE(" p "organization, '') = ?2) "

static sqlite3_stmt *prep(mon_store *st, const char *sql, const mon_report_query *q)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->r, sql, -1, &s, NULL) != SQLITE_OK)
        return NULL;
    if ((q->portal ? sqlite3_bind_text(s, 1, q->portal, -1, SQLITE_STATIC)
                   : sqlite3_bind_null(s, 1)) != SQLITE_OK ||
        (q->organization ? sqlite3_bind_text(s, 2, q->organization, -1, SQLITE_STATIC)
                         : sqlite3_bind_null(s, 2)) != SQLITE_OK ||
        (sqlite3_bind_parameter_count(s) >= 3 &&
         sqlite3_bind_int64(s, 3, q->now_ms) != SQLITE_OK)) {
        sqlite3_finalize(s);
        return NULL;
    }
    return s;
}

/* The row of (portal, organisation), created on first sight. */
static json_t *row_of(json_t *map, sqlite3_stmt *s)
{
    const char *portal = (const char *)sqlite3_column_text(s, 0);
    const char *org = (const char *)sqlite3_column_text(s, 1);
    if (!portal || !org)
        return NULL;
    char key[512];
    snprintf(key, sizeof key, "%s\x1f%s", portal, org);
    json_t *r = json_object_get(map, key);
    if (r)
        return r;
    r = json_pack("{s:s, s:o, s:n, s:I, s:{s:I, s:I, s:I, s:I, s:I}, s:I, s:I,"
                  " s:{s:I, s:I, s:I, s:I, s:I}}",
                  "portal", portal, "organization", *org ? json_string(org) : json_null(),
                  "organization_title", "datasets", (json_int_t)0, "status", "up", (json_int_t)0,
                  "down", (json_int_t)0, "degraded", (json_int_t)0, "empty", (json_int_t)0,
                  "unknown", (json_int_t)0, "resources", (json_int_t)0, "resources_broken",
                  (json_int_t)0, "freshness", "fresh", (json_int_t)0, "due", (json_int_t)0,
                  "overdue", (json_int_t)0, "delinquent", (json_int_t)0, "unknown", (json_int_t)0);
    json_object_set_new(map, key, r);
    return r;
}

static void add_int(json_t *o, const char *k, long long v)
{
    json_object_set_new(o, k, json_integer(json_integer_value(json_object_get(o, k)) + v));
}

/* Scratch state of one pass over a query's rows (zeroed for each pass). */
typedef struct report_walk {
    char last_ds[256];
    int64_t down_at;
} report_walk;

typedef void (*report_row_fn)(json_t *map, sqlite3_stmt *s, report_walk *w);

static void row_datasets(json_t *map, sqlite3_stmt *s, report_walk *w)
{
    (void)w;
    static const char *const st_names[] = {"up", "down", "degraded", "empty", "unknown"};
    json_t *r = row_of(map, s);
    if (!r)
        return;
    const char *title = (const char *)sqlite3_column_text(s, 2);
    if (title)
        json_object_set_new(r, "organization_title", json_string(title));
    add_int(r, "datasets", sqlite3_column_int64(s, 3));
    json_t *by = json_object_get(r, "status");
    for (int i = 0; i < 5; i++)
        add_int(by, st_names[i], sqlite3_column_int64(s, 4 + i));
}

static void row_resources(json_t *map, sqlite3_stmt *s, report_walk *w)
{
    (void)w;
    json_t *r = row_of(map, s);
    if (!r)
        return;
    add_int(r, "resources", sqlite3_column_int64(s, 2));
    add_int(r, "resources_broken", sqlite3_column_int64(s, 3));
}

static void row_freshness(json_t *map, sqlite3_stmt *s, report_walk *w)
{
    (void)w;
    json_t *r = row_of(map, s);
    const char *state = (const char *)sqlite3_column_text(s, 2);
    if (r && state && json_object_get(json_object_get(r, "freshness"), state))
        add_int(json_object_get(r, "freshness"), state, sqlite3_column_int64(s, 3));
}

/* SPARK_DAYS nulls: days without a check. */
static json_t *null_days(void)
{
    json_t *a = json_array();
    for (int i = 0; i < SPARK_DAYS; i++)
        json_array_append_new(a, json_null());
    return a;
}

/* Availability over 30 and 365 days and the 30-day sparkline (oldest first),
 * from the organisations' daily roll-up. The sums live in the row as
 * "_c30", "_o30", "_c365", "_o365" and "_spark" until finish(). */
static void row_daily(json_t *map, sqlite3_stmt *s, report_walk *w)
{
    (void)w;
    json_t *r = row_of(map, s);
    if (!r)
        return;
    long long age = sqlite3_column_int64(s, 2), c = sqlite3_column_int64(s, 3),
              ok = sqlite3_column_int64(s, 4);
    if (age < 0 || age >= REPORT_DAYS)
        return;
    add_int(r, "_c365", c);
    add_int(r, "_o365", ok);
    if (age < SPARK_DAYS) {
        add_int(r, "_c30", c);
        add_int(r, "_o30", ok);
        json_t *spark = json_object_get(r, "_spark");
        if (!spark) {
            spark = null_days();
            json_object_set_new(r, "_spark", spark);
        }
        if (c > 0)
            json_array_set_new(spark, (size_t)(SPARK_DAYS - 1 - age),
                               json_real(rnd(100.0 * (double)ok / (double)c, 10)));
    }
}

/* Times to repair: each status change to down followed, for the same
 * dataset, by one from down to anything else. Hours, into "_repairs". */
static void row_repairs(json_t *map, sqlite3_stmt *s, report_walk *w)
{
    const char *ds = (const char *)sqlite3_column_text(s, 2);
    const char *prev = (const char *)sqlite3_column_text(s, 4);
    const char *cur = (const char *)sqlite3_column_text(s, 5);
    int64_t at = sqlite3_column_int64(s, 3);
    if (!ds || !cur)
        return;
    if (strcmp(ds, w->last_ds) != 0) {
        snprintf(w->last_ds, sizeof w->last_ds, "%s", ds);
        w->down_at = 0;
    }
    if (strcmp(cur, "down") == 0) {
        w->down_at = at;
    } else if (prev && strcmp(prev, "down") == 0 && w->down_at > 0) {
        json_t *r = row_of(map, s);
        if (r) {
            json_t *rep = json_object_get(r, "_repairs");
            if (!rep) {
                rep = json_array();
                json_object_set_new(r, "_repairs", rep);
            }
            json_array_append_new(rep, json_real((double)(at - w->down_at) / 3600000.0));
        }
        w->down_at = 0;
    }
}

/* Schema drift: the resources whose columns changed over the last 30 days
 * (each dataset.schema_changed lists them), into "schema_changes". */
static void row_schema(json_t *map, sqlite3_stmt *s, report_walk *w)
{
    (void)w;
    json_t *r = row_of(map, s);
    if (r)
        add_int(r, "schema_changes", sqlite3_column_int64(s, 2));
}

/* The passes, in order; each query's first two columns are (portal, organisation). */
static const struct {
    const char *sql;
    report_row_fn row;
} report_passes[] = {
    {"SELECT portal, COALESCE(organization, ''), MAX(organization_title),"
     " COUNT(*), SUM(status = 'up'), SUM(status = 'down'),"
     " SUM(status = 'degraded'), SUM(status = 'empty'),"
     " SUM(status = 'unknown') FROM monitor_datasets WHERE removed_at IS NULL"
     " AND" FILTER("") "GROUP BY 1, 2",
     row_datasets},
    {"SELECT d.portal, COALESCE(d.organization, ''), COUNT(*), SUM(r.status = 'down')"
     " FROM monitor_resources r JOIN monitor_datasets d ON d.portal = r.portal AND d.id ="
     " r.dataset_id WHERE d.removed_at IS NULL AND" FILTER("d.") "GROUP BY 1, 2",
     row_resources},
    {"SELECT d.portal, COALESCE(d.organization, ''), f.state, COUNT(*)"
     " FROM monitor_freshness f JOIN monitor_datasets d ON d.portal ="
     " f.portal AND d.id = f.dataset_id WHERE d.removed_at IS NULL AND" FILTER(
         "d.") "GROUP BY 1, 2, 3",
     row_freshness},
    {"SELECT portal, organization, CAST(julianday(date(?3 / 1000,"
     " 'unixepoch')) - julianday(day) AS INTEGER), checks, ok"
     " FROM monitor_org_daily WHERE day >= date(?3 / 1000, 'unixepoch',"
     " '-364 days') AND" FILTER(""),
     row_daily},
    {"SELECT c.portal, COALESCE(d.organization, ''), c.dataset_id, c.at,"
     " json_extract(c.body, '$.previous'), json_extract(c.body, '$.current')"
     " FROM monitor_changes c JOIN monitor_datasets d ON d.portal = c.portal AND d.id ="
     " c.dataset_id WHERE c.topic = 'dataset.status_changed' AND c.at >= ?3 - 31536000000 "
     "AND" FILTER("d.") "ORDER BY c.portal, c.dataset_id, c.at, c.id",
     row_repairs},
    {"SELECT c.portal, COALESCE(d.organization, ''),"
     " SUM(json_array_length(c.body, '$.resources')) FROM monitor_changes c"
     " JOIN monitor_datasets d ON d.portal = c.portal AND d.id = c.dataset_id"
     " WHERE c.topic = 'dataset.schema_changed' AND c.at >= ?3 - 2592000000"
     " AND json_valid(c.body) AND" FILTER("d.") "GROUP BY 1, 2",
     row_schema},
};

/* Runs one pass: every row to `row`; 0, or -EIO when the query fails. */
static int report_pass_run(mon_store *st, const mon_report_query *q, const char *sql,
                           report_row_fn row, json_t *map)
{
    sqlite3_stmt *s = prep(st, sql, q);
    if (!s)
        return -EIO;
    report_walk w;
    memset(&w, 0, sizeof w);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        row(map, s, &w);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -EIO;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static json_t *percent(long long ok, long long n)
{
    return n > 0 ? json_real(rnd(100.0 * (double)ok / (double)n, 10)) : json_null();
}

static json_t *share(long long part, long long n)
{
    return n > 0 ? json_real(rnd((double)part / (double)n, 10000)) : json_null();
}

static long long geti(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

/* The derived figures, and the temporary sums gone. */
static void finish(json_t *r)
{
    json_object_set_new(r, "availability_30d", percent(geti(r, "_o30"), geti(r, "_c30")));
    json_object_set_new(r, "availability_365d", percent(geti(r, "_o365"), geti(r, "_c365")));
    json_object_set_new(r, "broken_share",
                        share(geti(r, "resources_broken"), geti(r, "resources")));
    const json_t *f = json_object_get(r, "freshness");
    long long judged =
        geti(f, "fresh") + geti(f, "due") + geti(f, "overdue") + geti(f, "delinquent");
    json_object_set_new(r, "fresh_share", share(geti(f, "fresh"), judged));
    json_object_set_new(r, "overdue_share", share(geti(f, "overdue"), judged));
    json_object_set_new(r, "delinquent_share", share(geti(f, "delinquent"), judged));
    json_t *rep = json_object_get(r, "_repairs");
    size_t n = json_array_size(rep);
    json_object_set_new(r, "repairs", json_integer((json_int_t)n));
    json_t *median = json_null();
    double *v = n ? malloc(n * sizeof *v) : NULL;
    if (v) {
        for (size_t i = 0; i < n; i++)
            v[i] = json_real_value(json_array_get(rep, i));
        qsort(v, n, sizeof *v, cmp_double);
        double m = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
        median = json_real(rnd(m, 10000));
        free(v);
    }
    json_object_set_new(r, "median_repair_hours", median);
    /* resources whose columns changed in the last 30 days (q_schema) */
    if (!json_object_get(r, "schema_changes"))
        json_object_set_new(r, "schema_changes", json_integer(0));
    json_t *spark = json_object_get(r, "_spark");
    if (spark)
        json_object_set(r, "availability_daily", spark);
    else
        json_object_set_new(r, "availability_daily", null_days());
    static const char *const tmp[] = {"_c30", "_o30", "_c365", "_o365", "_repairs", "_spark"};
    for (size_t i = 0; i < sizeof tmp / sizeof *tmp; i++)
        json_object_del(r, tmp[i]);
}

int mon_store_org_report(mon_store *st, const mon_report_query *q, json_t **out)
{
    *out = NULL;
    json_t *map = json_object();
    pthread_mutex_lock(&st->rmu);
    /* one read transaction: every figure from the same state of the tables */
    int rc = sqlite3_exec(st->r, "BEGIN", NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
    for (size_t i = 0; rc == 0 && i < sizeof report_passes / sizeof *report_passes; i++)
        rc = report_pass_run(st, q, report_passes[i].sql, report_passes[i].row, map);
    sqlite3_exec(st->r, "COMMIT", NULL, NULL, NULL);
    pthread_mutex_unlock(&st->rmu);
    if (rc < 0) {
        json_decref(map);
        return rc;
    }
    json_t *arr = json_array();
    const char *k;
    json_t *r;
    json_object_foreach (map, k, r) {
        if (geti(r, "datasets") == 0) /* only removed datasets left: not an organisation now */
            continue;
        finish(r);
        json_array_append(arr, r);
    }
    json_decref(map);
    *out = arr;
    return 0;
}

json_t *mon_store_org_to_fix(mon_store *st, const char *portal, const char *organization,
                             long long limit)
{
    json_t *arr = json_array();
    mon_report_query q = {.portal = portal, .organization = organization};
    pthread_mutex_lock(&st->rmu);
    sqlite3_stmt *s =
        prep(st,
             "SELECT d.portal, COALESCE(d.organization, ''), d.id, d.name, d.title, d.status,"
             " COALESCE((SELECT MAX(c.at) FROM monitor_changes c WHERE c.portal = d.portal AND"
             " c.dataset_id = d.id AND c.topic = 'dataset.status_changed'), d.first_seen),"
             " f.state, f.last_update, f.frequency, d.url FROM monitor_datasets d LEFT JOIN"
             " monitor_freshness f ON f.portal = d.portal AND f.dataset_id = d.id"
             " WHERE d.removed_at IS NULL AND" FILTER(
                 "d.") "AND (d.status IN ('down', 'degraded')"
                       " OR f.state IN ('overdue', 'delinquent'))"
                       " ORDER BY d.status = 'down' DESC, d.status = 'degraded' DESC, 7 ASC,"
                       " f.state = 'delinquent' DESC, f.last_update ASC LIMIT ?3",
             &q);
    if (s && sqlite3_bind_int64(s, 3, limit) == SQLITE_OK) {
        while (sqlite3_step(s) == SQLITE_ROW) {
            const char *status = (const char *)sqlite3_column_text(s, 5);
            const char *fstate = (const char *)sqlite3_column_text(s, 7);
            bool broken =
                status && (strcmp(status, "down") == 0 || strcmp(status, "degraded") == 0);
            json_t *o =
                json_pack("{s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}", "id",
                          (const char *)sqlite3_column_text(s, 2), "name",
                          (const char *)sqlite3_column_text(s, 3), "title",
                          (const char *)sqlite3_column_text(s, 4), "status", status, "freshness",
                          fstate, "frequency", (const char *)sqlite3_column_text(s, 9), "url",
                          (const char *)sqlite3_column_text(s, 10));
            if (!o)
                continue;
            json_object_set_new(o, "why", json_string(broken ? status : fstate ? fstate : "?"));
            char b[40];
            int col = broken ? 6 : 8; /* broken since / last updated */
            if (sqlite3_column_type(s, col) == SQLITE_INTEGER) {
                mon_iso_ms(sqlite3_column_int64(s, col), b, sizeof b);
                json_object_set_new(o, "since", json_string(b));
            } else {
                json_object_set_new(o, "since", json_null());
            }
            json_array_append_new(arr, o);
        }
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&st->rmu);
    return arr;
}
