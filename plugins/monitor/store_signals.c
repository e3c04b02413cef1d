/* monitor store: the open-data signals' own tables, kept apart from the
 * status tables so neither schema's changes get in the other's way. Created
 * with IF NOT EXISTS on every open (no schema version needed: nothing older
 * had them):
 *   monitor_freshness  one row per dataset: declared frequency, last real
 *                      update, freshness state and since when;
 *   monitor_rsignal    per resource, what was last seen that is worth
 *                      comparing (kind 'served': a drifting format; kind
 *                      'content': ETag, Last-Modified, Content-Length);
 *   monitor_changes    every dataset event, the history of
 *                      datasets.changes (kept 366 days).
 * Writes run on the writer inside the sweep's open transaction. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_db.h"
#include "store_signals.h"

const char mon_store_signals_schema[] =
    "CREATE TABLE IF NOT EXISTS monitor_freshness(portal TEXT NOT NULL, dataset_id TEXT NOT"
    " NULL, frequency TEXT, period_s INTEGER, last_update INTEGER, state TEXT NOT NULL,"
    " since INTEGER, content_changed INTEGER, PRIMARY KEY(portal, dataset_id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS monitor_rsignal(portal TEXT NOT NULL, dataset_id TEXT NOT NULL,"
    " resource_id TEXT NOT NULL, kind TEXT NOT NULL, value TEXT, at INTEGER,"
    " PRIMARY KEY(portal, dataset_id, resource_id, kind)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS monitor_changes(id INTEGER PRIMARY KEY, portal TEXT NOT NULL,"
    " dataset_id TEXT NOT NULL, at INTEGER NOT NULL, topic TEXT NOT NULL, body TEXT);"
    "CREATE INDEX IF NOT EXISTS monitor_changes_ds ON monitor_changes(portal, dataset_id, at);"
    "CREATE INDEX IF NOT EXISTS monitor_changes_time ON monitor_changes(at);"
    /* the organisation report's daily roll-up (store_report.c): 100 organisations x 365
     * days instead of every dataset's days; filled once from monitor_daily when new */
    "CREATE TABLE IF NOT EXISTS monitor_org_daily(portal TEXT NOT NULL, organization TEXT NOT"
    " NULL, day TEXT NOT NULL, checks INTEGER NOT NULL, ok INTEGER NOT NULL,"
    " PRIMARY KEY(portal, organization, day)) WITHOUT ROWID;"
    "INSERT OR IGNORE INTO monitor_org_daily(portal, organization, day, checks, ok)"
    " SELECT m.portal, COALESCE(d.organization, ''), m.day, SUM(m.checks), SUM(m.ok)"
    " FROM monitor_daily m JOIN monitor_datasets d ON d.portal = m.portal AND d.id ="
    " m.dataset_id WHERE NOT EXISTS(SELECT 1 FROM monitor_org_daily)"
    " GROUP BY m.portal, COALESCE(d.organization, ''), m.day;";

static int cmp_kv(const void *a, const void *b)
{
    return strcmp(((const mon_sigkv *)a)->key, ((const mon_sigkv *)b)->key);
}

static int load_kv(sqlite3 *db, const char *sql, const char *portal, mon_sigkv **out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, portal, -1, SQLITE_STATIC) != SQLITE_OK) {
        sqlite3_finalize(st);
        return -EIO;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        const char *v = (const char *)sqlite3_column_text(st, 1);
        if (!k)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 256;
            mon_sigkv *p = realloc(*out, cap * sizeof *p);
            if (!p) {
                sqlite3_finalize(st);
                return -ENOMEM;
            }
            *out = p;
        }
        (*out)[*n].key = strdup(k);
        (*out)[*n].val = v ? strdup(v) : NULL;
        (*out)[*n].at = sqlite3_column_int64(st, 2);
        (*out)[*n].at2 = sqlite3_column_count(st) > 3 ? sqlite3_column_int64(st, 3) : 0;
        if (!(*out)[(*n)++].key) {
            sqlite3_finalize(st);
            return -ENOMEM;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -EIO;
    if (*n > 1)
        qsort(*out, *n, sizeof **out, cmp_kv);
    return 0;
}

int mon_store_sig_load(mon_store *st, const char *portal, mon_sigprev *out)
{
    memset(out, 0, sizeof *out);
    int rc = load_kv(st->w,
                     "SELECT dataset_id, state, since, content_changed FROM monitor_freshness"
                     " WHERE portal=?",
                     portal, &out->fresh, &out->nfresh);
    if (rc == 0)
        rc = load_kv(st->w,
                     "SELECT dataset_id || char(31) || resource_id, value, at FROM monitor_rsignal"
                     " WHERE portal=? AND kind='served'",
                     portal, &out->served, &out->nserved);
    if (rc == 0)
        rc = load_kv(st->w,
                     "SELECT dataset_id || char(31) || resource_id, value, at FROM monitor_rsignal"
                     " WHERE portal=? AND kind='content'",
                     portal, &out->content, &out->ncontent);
    if (rc == 0)
        rc = load_kv(st->w,
                     "SELECT dataset_id || char(31) || resource_id, value, at FROM monitor_rsignal"
                     " WHERE portal=? AND kind='hash'",
                     portal, &out->hash, &out->nhash);
    /* a schema is read back only when a new sample came (mon_sigbatch_schema_get):
     * only when it was taken is kept in memory */
    if (rc == 0)
        rc = load_kv(st->w,
                     "SELECT dataset_id || char(31) || resource_id, NULL, at FROM monitor_rsignal"
                     " WHERE portal=? AND kind='schema'",
                     portal, &out->schema, &out->nschema);
    return rc;
}

static void kv_free(mon_sigkv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].val);
    }
    free(kv);
}

void mon_sigprev_free(mon_sigprev *p)
{
    kv_free(p->fresh, p->nfresh);
    kv_free(p->served, p->nserved);
    kv_free(p->content, p->ncontent);
    kv_free(p->hash, p->nhash);
    kv_free(p->schema, p->nschema);
    memset(p, 0, sizeof *p);
}

const mon_sigkv *mon_sigprev_fresh(const mon_sigprev *p, const char *dataset_id)
{
    mon_sigkv key = {.key = (char *)dataset_id};
    return p->nfresh ? bsearch(&key, p->fresh, p->nfresh, sizeof key, cmp_kv) : NULL;
}

static const mon_sigkv *res_kv(const mon_sigkv *kv, size_t n, const char *dataset_id,
                               const char *resource_id)
{
    char k[512];
    int w = snprintf(k, sizeof k, "%s\x1f%s", dataset_id, resource_id);
    if (w < 0 || (size_t)w >= sizeof k || !n)
        return NULL;
    mon_sigkv key = {.key = k};
    return bsearch(&key, kv, n, sizeof key, cmp_kv);
}

const mon_sigkv *mon_sigprev_served(const mon_sigprev *p, const char *dataset_id,
                                    const char *resource_id)
{
    return res_kv(p->served, p->nserved, dataset_id, resource_id);
}

const mon_sigkv *mon_sigprev_content(const mon_sigprev *p, const char *dataset_id,
                                     const char *resource_id)
{
    return res_kv(p->content, p->ncontent, dataset_id, resource_id);
}

const mon_sigkv *mon_sigprev_hash(const mon_sigprev *p, const char *dataset_id,
                                  const char *resource_id)
{
    return res_kv(p->hash, p->nhash, dataset_id, resource_id);
}

const mon_sigkv *mon_sigprev_schema(const mon_sigprev *p, const char *dataset_id,
                                    const char *resource_id)
{
    return res_kv(p->schema, p->nschema, dataset_id, resource_id);
}

struct mon_sigbatch {
    sqlite3 *db;
    sqlite3_stmt *fresh, *served, *unserve, *change, *org_daily, *content, *hash, *schema,
        *schema_get;
    bool failed;
};

mon_sigbatch *mon_sigbatch_begin(mon_store *st)
{
    mon_sigbatch *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->db = st->w;
    const char *sql[9] = {
        "INSERT INTO monitor_freshness(portal, dataset_id, frequency, period_s, last_update,"
        " state, since, content_changed) VALUES(?,?,?,?,?,?,?,?) ON CONFLICT(portal, dataset_id)"
        " DO UPDATE SET frequency=excluded.frequency, period_s=excluded.period_s,"
        " last_update=excluded.last_update, state=excluded.state, since=excluded.since,"
        " content_changed=excluded.content_changed",
        "INSERT OR REPLACE INTO monitor_rsignal(portal, dataset_id, resource_id, kind, value, at)"
        " VALUES(?,?,?,'served',?,?)",
        "DELETE FROM monitor_rsignal WHERE portal=? AND dataset_id=? AND resource_id=? AND"
        " kind='served'",
        "INSERT INTO monitor_changes(portal, dataset_id, at, topic, body) VALUES(?,?,?,?,?)",
        "INSERT INTO monitor_org_daily(portal, organization, day, checks, ok)"
        " VALUES(?,?,date(?, 'unixepoch'),?,?) ON CONFLICT(portal, organization, day) DO UPDATE"
        " SET checks=checks+excluded.checks, ok=ok+excluded.ok",
        "INSERT OR REPLACE INTO monitor_rsignal(portal, dataset_id, resource_id, kind, value, at)"
        " VALUES(?,?,?,'content',?,?)",
        "INSERT OR REPLACE INTO monitor_rsignal(portal, dataset_id, resource_id, kind, value, at)"
        " VALUES(?,?,?,'hash',?,?)",
        "INSERT OR REPLACE INTO monitor_rsignal(portal, dataset_id, resource_id, kind, value, at)"
        " VALUES(?,?,?,'schema',?,?)",
        "SELECT value FROM monitor_rsignal WHERE portal=? AND dataset_id=? AND resource_id=? AND"
        " kind='schema'"};
    sqlite3_stmt **out[9] = {&b->fresh,   &b->served, &b->unserve, &b->change,    &b->org_daily,
                             &b->content, &b->hash,   &b->schema,  &b->schema_get};
    for (int i = 0; i < 9; i++)
        if (sqlite3_prepare_v2(b->db, sql[i], -1, out[i], NULL) != SQLITE_OK) {
            if (mon_sigbatch_end(b) < 0) /* it failed: that is why we are here */
                return NULL;
            return NULL;
        }
    return b;
}

/* Binds "s" text (NULL: null), "i" int64, "n" int64 or null when <= 0. */
static int run(mon_sigbatch *b, sqlite3_stmt *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = SQLITE_OK;
    for (int i = 0; fmt[i] && rc == SQLITE_OK; i++) {
        if (fmt[i] == 's') {
            const char *s = va_arg(ap, const char *);
            rc = s ? sqlite3_bind_text(st, i + 1, s, -1, SQLITE_TRANSIENT)
                   : sqlite3_bind_null(st, i + 1);
        } else {
            int64_t v = va_arg(ap, int64_t);
            rc = fmt[i] == 'n' && v <= 0 ? sqlite3_bind_null(st, i + 1)
                                         : sqlite3_bind_int64(st, i + 1, v);
        }
    }
    va_end(ap);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) {
        b->failed = true;
        return -EIO;
    }
    return 0;
}

int mon_sigbatch_fresh(mon_sigbatch *b, const char *portal, const char *dataset_id,
                       const char *frequency, long long period_s, int64_t last_update_ms,
                       const char *state, int64_t since_ms, int64_t content_changed_ms)
{
    return run(b, b->fresh, "sssnnsnn", portal, dataset_id, frequency, (int64_t)period_s,
               last_update_ms, state, since_ms, content_changed_ms);
}

int mon_sigbatch_content(mon_sigbatch *b, const char *portal, const char *dataset_id,
                         const char *resource_id, const char *value, int64_t at_ms)
{
    return run(b, b->content, "ssssi", portal, dataset_id, resource_id, value, at_ms);
}

int mon_sigbatch_hash(mon_sigbatch *b, const char *portal, const char *dataset_id,
                      const char *resource_id, const char *value, int64_t at_ms)
{
    return run(b, b->hash, "ssssi", portal, dataset_id, resource_id, value, at_ms);
}

int mon_sigbatch_schema(mon_sigbatch *b, const char *portal, const char *dataset_id,
                        const char *resource_id, const char *summary, int64_t at_ms)
{
    return run(b, b->schema, "ssssi", portal, dataset_id, resource_id, summary, at_ms);
}

int mon_sigbatch_schema_get(mon_sigbatch *b, const char *portal, const char *dataset_id,
                            const char *resource_id, char **summary)
{
    sqlite3_stmt *q = b->schema_get;
    *summary = NULL;
    int rc = SQLITE_OK;
    rc = sqlite3_bind_text(q, 1, portal, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(q, 2, dataset_id, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(q, 3, resource_id, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc == SQLITE_ROW && sqlite3_column_text(q, 0)) {
        *summary = strdup((const char *)sqlite3_column_text(q, 0));
        rc = *summary ? SQLITE_DONE : SQLITE_NOMEM;
    } else if (rc == SQLITE_ROW) {
        rc = SQLITE_DONE;
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    if (rc != SQLITE_DONE) {
        b->failed = true;
        return -EIO;
    }
    return 0;
}

int mon_sigbatch_served(mon_sigbatch *b, const char *portal, const char *dataset_id,
                        const char *resource_id, const char *served, int64_t at_ms)
{
    if (!served)
        return run(b, b->unserve, "sss", portal, dataset_id, resource_id);
    return run(b, b->served, "ssssi", portal, dataset_id, resource_id, served, at_ms);
}

int mon_sigbatch_change(mon_sigbatch *b, const char *portal, const char *dataset_id, int64_t at_ms,
                        const char *topic, const json_t *payload)
{
    /* the dataset object is the dataset's own row: not repeated in its history */
    json_t *body = json_copy((json_t *)payload);
    if (!body) {
        b->failed = true;
        return -ENOMEM;
    }
    json_object_del(body, "dataset");
    json_object_del(body, "portal");
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!s) {
        b->failed = true;
        return -ENOMEM;
    }
    int rc = run(b, b->change, "ssiss", portal, dataset_id, at_ms, topic, s);
    free(s);
    return rc;
}

int mon_sigbatch_org_daily(mon_sigbatch *b, const char *portal, const char *organization,
                           int64_t day_ms, long long checks, long long ok)
{
    return run(b, b->org_daily, "ssiii", portal, organization ? organization : "", day_ms / 1000,
               (int64_t)checks, (int64_t)ok);
}

int mon_sigbatch_end(mon_sigbatch *b)
{
    if (!b)
        return -EIO;
    sqlite3_finalize(b->org_daily);
    sqlite3_finalize(b->content);
    sqlite3_finalize(b->fresh);
    sqlite3_finalize(b->served);
    sqlite3_finalize(b->unserve);
    sqlite3_finalize(b->change);
    sqlite3_finalize(b->hash);
    sqlite3_finalize(b->schema);
    sqlite3_finalize(b->schema_get);
    int rc = b->failed ? -EIO : 0;
    free(b);
    return rc;
}

int mon_store_sig_retention(mon_store *st, int64_t now_ms)
{
    static const char *const sql[3] = {
        "DELETE FROM monitor_changes WHERE at < ?",
        "DELETE FROM monitor_org_daily WHERE day < date(? / 1000, 'unixepoch', '-366 days')",
        /* what was seen of resources that left their dataset (?1 unused) */
        "DELETE FROM monitor_rsignal WHERE ?1 IS NOT NULL AND NOT EXISTS(SELECT 1 FROM"
        " monitor_resources r WHERE r.portal = monitor_rsignal.portal AND r.dataset_id ="
        " monitor_rsignal.dataset_id AND r.id = monitor_rsignal.resource_id)"};
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        sqlite3_stmt *q = NULL;
        if (sqlite3_prepare_v2(st->w, sql[i], -1, &q, NULL) != SQLITE_OK) {
            sqlite3_finalize(q);
            return -EIO;
        }
        sqlite3_bind_int64(q, 1, i == 0 ? now_ms - 366LL * 86400000LL : now_ms);
        rc = sqlite3_step(q) == SQLITE_DONE ? 0 : -EIO;
        sqlite3_finalize(q);
    }
    return rc;
}

/* ---- reader side: the bus methods ---- */

static json_t *iso_or_null(sqlite3_stmt *q, int i)
{
    if (sqlite3_column_type(q, i) != SQLITE_INTEGER)
        return json_null();
    char b[40];
    mon_iso_ms(sqlite3_column_int64(q, i), b, sizeof b);
    return json_string(b);
}

json_t *mon_store_freshness(mon_store *st, const char *portal, const char *id)
{
    json_t *o = json_null();
    pthread_mutex_lock(&st->rmu);
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(st->r,
                           "SELECT state, frequency, period_s, last_update, since FROM"
                           " monitor_freshness WHERE portal=? AND dataset_id=?",
                           -1, &q, NULL) == SQLITE_OK &&
        sqlite3_bind_text(q, 1, portal, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_bind_text(q, 2, id, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW) {
        const char *freq = (const char *)sqlite3_column_text(q, 1);
        long long period = sqlite3_column_int64(q, 2);
        json_decref(o);
        o = json_pack("{s:s, s:o, s:o, s:o, s:o}", "state", (const char *)sqlite3_column_text(q, 0),
                      "frequency", freq ? json_string(freq) : json_null(), "period_days",
                      period > 0 ? json_real((double)period / 86400.0) : json_null(), "last_update",
                      iso_or_null(q, 3), "since", iso_or_null(q, 4));
    }
    sqlite3_finalize(q);
    pthread_mutex_unlock(&st->rmu);
    return o;
}

json_t *mon_store_changes(mon_store *st, const char *portal, const char *id, int64_t since_ms,
                          long long limit)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&st->rmu);
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(st->r,
                           "SELECT at, topic, body FROM monitor_changes WHERE portal=? AND"
                           " dataset_id=? AND at >= ? ORDER BY at DESC, id DESC LIMIT ?",
                           -1, &q, NULL) == SQLITE_OK &&
        sqlite3_bind_text(q, 1, portal, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_bind_text(q, 2, id, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_bind_int64(q, 3, since_ms) == SQLITE_OK &&
        sqlite3_bind_int64(q, 4, limit) == SQLITE_OK) {
        while (sqlite3_step(q) == SQLITE_ROW) {
            const char *body = (const char *)sqlite3_column_text(q, 2);
            /* written by mon_sigbatch_change */
            json_t *o = body ? json_loads(body, 0, NULL) : NULL; /* json-own-data */
            if (!json_is_object(o)) {
                json_decref(o);
                o = json_object();
            }
            json_object_del(o, "v");
            json_object_set_new(o, "at", iso_or_null(q, 0));
            json_object_set_new(o, "topic", json_string((const char *)sqlite3_column_text(q, 1)));
            json_array_append_new(arr, o);
        }
    }
    sqlite3_finalize(q);
    pthread_mutex_unlock(&st->rmu);
    return arr;
}
