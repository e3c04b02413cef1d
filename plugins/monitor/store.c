/* monitor store: opening (schema, migration, version) and every write: the
 * portal row, the sweep rows, stale marks, retention and the one-transaction
 * batch of a complete sweep (see store.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vigia/contract/monitor.h>

#include "store_db.h"
#include "store_signals.h"

static const char k_schema[] =
    "CREATE TABLE IF NOT EXISTS monitor_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS monitor_portals(name TEXT PRIMARY KEY, state TEXT NOT NULL,"
    " baseline_done INTEGER NOT NULL DEFAULT 0, last_error TEXT, updated_at INTEGER,"
    " failures INTEGER NOT NULL DEFAULT 0, held INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS monitor_sweeps(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " portal TEXT NOT NULL, started_at INTEGER NOT NULL, finished_at INTEGER,"
    " complete INTEGER, counts TEXT, errors INTEGER, changes INTEGER);"
    "CREATE TABLE IF NOT EXISTS monitor_datasets(portal TEXT NOT NULL, id TEXT NOT NULL,"
    " name TEXT, title TEXT, organization TEXT, organization_title TEXT, url TEXT,"
    " metadata_modified TEXT, status TEXT NOT NULL DEFAULT 'unknown', observed TEXT,"
    " candidate TEXT, streak INTEGER NOT NULL DEFAULT 0, stale INTEGER NOT NULL DEFAULT 0,"
    " last_checked INTEGER, first_seen INTEGER, missing INTEGER NOT NULL DEFAULT 0,"
    " removed_at INTEGER, PRIMARY KEY(portal, id)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS monitor_datasets_status ON monitor_datasets(status);"
    "CREATE INDEX IF NOT EXISTS monitor_datasets_name ON monitor_datasets(name);"
    "CREATE TABLE IF NOT EXISTS monitor_resources(portal TEXT NOT NULL,"
    " dataset_id TEXT NOT NULL, id TEXT NOT NULL, position INTEGER, name TEXT, url TEXT,"
    " format TEXT, status TEXT, reason TEXT, http_status INTEGER, latency_ms REAL,"
    " content_type TEXT, content_length INTEGER, final_url TEXT, error TEXT, method TEXT,"
    " checked_at INTEGER, PRIMARY KEY(portal, dataset_id, id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS monitor_checks(id INTEGER PRIMARY KEY, portal TEXT NOT NULL,"
    " dataset_id TEXT NOT NULL, resource_id TEXT NOT NULL, sweep_id INTEGER,"
    " checked_at INTEGER NOT NULL, status TEXT, reason TEXT, http_status INTEGER,"
    " latency_ms REAL, content_type TEXT, content_length INTEGER, final_url TEXT, error TEXT,"
    " method TEXT);"
    "CREATE INDEX IF NOT EXISTS monitor_checks_ds ON monitor_checks(portal, dataset_id,"
    " checked_at);"
    "CREATE INDEX IF NOT EXISTS monitor_checks_time ON monitor_checks(checked_at);"
    "CREATE TABLE IF NOT EXISTS monitor_daily(portal TEXT NOT NULL, dataset_id TEXT NOT NULL,"
    " day TEXT NOT NULL, checks INTEGER NOT NULL, ok INTEGER NOT NULL, latency_sum REAL NOT"
    " NULL, latency_n INTEGER NOT NULL, PRIMARY KEY(portal, dataset_id, day)) WITHOUT ROWID;"
    /* what earlier sweeps knew of each resource (recent.c) */
    "CREATE TABLE IF NOT EXISTS monitor_recent(portal TEXT NOT NULL, dataset_id TEXT NOT NULL,"
    " id TEXT NOT NULL, status TEXT, lat1 REAL, lat2 REAL,"
    " PRIMARY KEY(portal, dataset_id, id)) WITHOUT ROWID;"
    /* CKAN's maintainer and author of each dataset (their own table: a new
     * table needs no migration, and only datasets.get reads it) */
    "CREATE TABLE IF NOT EXISTS monitor_contacts(portal TEXT NOT NULL, id TEXT NOT NULL,"
    " maintainer TEXT, maintainer_email TEXT, author TEXT, author_email TEXT,"
    " PRIMARY KEY(portal, id)) WITHOUT ROWID;";

/* Version 1 -> 2: removals are marked, not deleted; portals count failures. */
static const char *const k_migrate_v2[] = {
    "ALTER TABLE monitor_datasets ADD COLUMN missing INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE monitor_datasets ADD COLUMN removed_at INTEGER",
    "ALTER TABLE monitor_portals ADD COLUMN failures INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE monitor_portals ADD COLUMN held INTEGER NOT NULL DEFAULT 0"};

static int migrate(sqlite3 *db, int version)
{
    if (version >= 2)
        return 0;
    for (size_t i = 0; i < sizeof k_migrate_v2 / sizeof k_migrate_v2[0]; i++) {
        /* a fresh database already has the column */
        if (sqlite3_exec(db, k_migrate_v2[i], NULL, NULL, NULL) != SQLITE_OK &&
            !strstr(sqlite3_errmsg(db), "duplicate column"))
            return -EIO;
    }
    return 0;
}

/* One connection with the schema in place. */
static int open_conn(const char *path, sqlite3 **out)
{
    sqlite3 *db = NULL;
    *out = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return -EIO;
    }
    sqlite3_busy_timeout(db, 5000);
    char *err = NULL;
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, &err) !=
            SQLITE_OK ||
        sqlite3_exec(db, k_schema, NULL, NULL, &err) != SQLITE_OK ||
        /* the open-data signals' own tables (store_signals.c) */
        sqlite3_exec(db, mon_store_signals_schema, NULL, NULL, &err) != SQLITE_OK) {
        sqlite3_free(err);
        sqlite3_close(db);
        return -EIO;
    }
    /* schema version: refuse a database written by a newer monitor */
    sqlite3_stmt *st = NULL;
    int version = 0;
    if (sqlite3_prepare_v2(db, "SELECT value FROM monitor_meta WHERE key='schema_version'", -1, &st,
                           NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = atoi((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (version > MON_SCHEMA_VERSION) {
        sqlite3_close(db);
        return -EPROTO;
    }
    if (migrate(db, version) < 0) {
        sqlite3_close(db);
        return -EIO;
    }
    if (version < MON_SCHEMA_VERSION) {
        char sql[128];
        snprintf(sql, sizeof sql,
                 "INSERT OR REPLACE INTO monitor_meta(key, value) VALUES('schema_version','%d')",
                 MON_SCHEMA_VERSION);
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
            sqlite3_close(db);
            return -EIO;
        }
    }
    *out = db;
    return 0;
}

static void sql_fold(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *s = (const char *)sqlite3_value_text(argv[0]);
    if (!s) {
        sqlite3_result_null(ctx);
        return;
    }
    char *f = mon_fold(s);
    if (!f) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    sqlite3_result_text(ctx, f, -1, free);
}

int mon_store_open(const char *path, mon_store **out)
{
    *out = NULL;
    mon_store *st = calloc(1, sizeof *st);
    if (!st)
        return -ENOMEM;
    pthread_mutex_init(&st->rmu, NULL);
    int rc = open_conn(path, &st->w);
    if (rc == 0)
        rc = open_conn(path, &st->r);
    /* search folds case and accents on both sides (fold.c) */
    if (rc == 0 && sqlite3_create_function(st->r, "vg_fold", 1,
                                           SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS,
                                           NULL, sql_fold, NULL, NULL) != SQLITE_OK)
        rc = -EIO;
    if (rc < 0) {
        mon_store_close(st);
        return rc;
    }
    *out = st;
    return 0;
}

void mon_store_close(mon_store *st)
{
    if (!st)
        return;
    sqlite3_close(st->w);
    sqlite3_close(st->r);
    pthread_mutex_destroy(&st->rmu);
    free(st);
}

const char *mon_store_errmsg(mon_store *st) { return sqlite3_errmsg(st->w); }

static int exec_bind(sqlite3 *db, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    va_list ap;
    va_start(ap, fmt);
    int brc = SQLITE_OK;
    for (int i = 0; fmt[i] && brc == SQLITE_OK; i++) {
        switch (fmt[i]) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            brc = s ? sqlite3_bind_text(st, i + 1, s, -1, SQLITE_TRANSIENT)
                    : sqlite3_bind_null(st, i + 1);
            break;
        }
        case 'i':
            brc = sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
            break;
        default:
            break;
        }
    }
    va_end(ap);
    int rc = brc == SQLITE_OK ? sqlite3_step(st) : brc;
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -EIO;
}

int mon_store_portal_set(mon_store *st, const char *portal, const char *state, int baseline_done,
                         const char *last_error, int failures, int held)
{
    return exec_bind(st->w,
                     "INSERT INTO monitor_portals(name, state, baseline_done, last_error,"
                     " updated_at, failures, held) VALUES(?,?,?,?,strftime('%s','now'),?,?)"
                     " ON CONFLICT(name) DO UPDATE SET state=excluded.state,"
                     " baseline_done=excluded.baseline_done, last_error=excluded.last_error,"
                     " updated_at=excluded.updated_at, failures=excluded.failures,"
                     " held=excluded.held",
                     "ssisii", portal, state, (int64_t)baseline_done, last_error, (int64_t)failures,
                     (int64_t)held);
}

int64_t mon_store_sweep_begin(mon_store *st, const char *portal, int64_t started_at)
{
    if (exec_bind(st->w, "INSERT INTO monitor_sweeps(portal, started_at) VALUES(?,?)", "si", portal,
                  started_at) < 0)
        return -1;
    return sqlite3_last_insert_rowid(st->w);
}

int mon_store_sweep_finish(mon_store *st, int64_t sweep_id, int64_t finished_at, bool complete,
                           const json_t *counts, int errors, int changes)
{
    char *c = counts ? json_dumps(counts, JSON_COMPACT) : NULL;
    int rc = exec_bind(st->w,
                       "UPDATE monitor_sweeps SET finished_at=?, complete=?, counts=?, errors=?,"
                       " changes=? WHERE id=?",
                       "iisiii", finished_at, (int64_t)complete, c, (int64_t)errors,
                       (int64_t)changes, sweep_id);
    free(c);
    return rc;
}

int mon_store_mark_stale(mon_store *st, const char *portal)
{
    return exec_bind(st->w,
                     "UPDATE monitor_datasets SET stale=1 WHERE portal=? AND removed_at IS NULL",
                     "s", portal);
}

int mon_store_retention(mon_store *st, int64_t now_ms, long long history_days)
{
    int rc = exec_bind(st->w, "DELETE FROM monitor_checks WHERE checked_at < ?", "i",
                       now_ms - (int64_t)history_days * 86400000LL);
    rc |=
        exec_bind(st->w, "DELETE FROM monitor_daily WHERE day < date(?, 'unixepoch', '-366 days')",
                  "i", now_ms / 1000);
    rc |= exec_bind(st->w, "DELETE FROM monitor_sweeps WHERE started_at < ?", "i",
                    now_ms - 366LL * 86400000LL);
    return rc ? -EIO : 0;
}

/* ---- the write batch of one sweep ---- */
struct mon_wbatch {
    sqlite3 *db;
    sqlite3_stmt *ds, *rm_ds, *missing, *rm_one_res, *ins_res, *check, *daily, *recent,
        *prune_recent;
    sqlite3_stmt *contact, *rm_contact; /* monitor_contacts */
    int failed;
    int bind_rc;   /* the first failed bind of the statement being filled */
    char err[256]; /* the first real error: a later ROLLBACK would overwrite it */
};

static void note_error(mon_wbatch *b)
{
    if (!b->err[0])
        snprintf(b->err, sizeof b->err, "%s", sqlite3_errmsg(b->db));
    b->failed = 1;
}

static sqlite3_stmt *prep(mon_wbatch *b, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(b->db, sql, -1, &st, NULL) != SQLITE_OK)
        note_error(b);
    return st;
}

mon_wbatch *mon_wbatch_begin(mon_store *st)
{
    mon_wbatch *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    sqlite3 *db = b->db = st->w;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        free(b);
        return NULL;
    }
    b->ds =
        prep(b, "INSERT INTO monitor_datasets(portal, id, name, title, organization,"
                " organization_title, url, metadata_modified, status, observed, candidate,"
                " streak, stale, last_checked, first_seen) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,0,?,?)"
                " ON CONFLICT(portal, id) DO UPDATE SET name=excluded.name,"
                " title=excluded.title, organization=excluded.organization,"
                " organization_title=excluded.organization_title, url=excluded.url,"
                " metadata_modified=excluded.metadata_modified, status=excluded.status,"
                " observed=excluded.observed, candidate=excluded.candidate,"
                " streak=excluded.streak, stale=0, last_checked=excluded.last_checked,"
                " missing=0, removed_at=NULL");
    /* removed datasets keep their rows and history: a return is the same dataset */
    b->rm_ds = prep(b, "UPDATE monitor_datasets SET removed_at=?, missing=0, stale=0"
                       " WHERE portal=? AND id=?");
    b->missing = prep(b, "UPDATE monitor_datasets SET missing=? WHERE portal=? AND id=?");
    b->rm_one_res =
        prep(b, "DELETE FROM monitor_resources WHERE portal=? AND dataset_id=? AND id=?");
    b->ins_res =
        prep(b, "INSERT OR REPLACE INTO monitor_resources(portal, dataset_id, id, position,"
                " name, url, format, status, reason, http_status, latency_ms,"
                " content_type, content_length, final_url, error, method, checked_at)"
                " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    b->check = prep(b, "INSERT INTO monitor_checks(portal, dataset_id, resource_id, sweep_id,"
                       " checked_at, status, reason, http_status, latency_ms, content_type,"
                       " content_length, final_url, error, method)"
                       " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    b->daily = prep(b, "INSERT INTO monitor_daily(portal, dataset_id, day, checks, ok, latency_sum,"
                       " latency_n) VALUES(?,?,date(?, 'unixepoch'),?,?,?,?)"
                       " ON CONFLICT(portal, dataset_id, day) DO UPDATE SET"
                       " checks=checks+excluded.checks, ok=ok+excluded.ok,"
                       " latency_sum=latency_sum+excluded.latency_sum,"
                       " latency_n=latency_n+excluded.latency_n");
    b->recent = prep(b, "INSERT OR REPLACE INTO monitor_recent(portal, dataset_id, id, status,"
                        " lat1, lat2) VALUES(?,?,?,?,?,?)");
    b->prune_recent =
        prep(b, "DELETE FROM monitor_recent WHERE portal=?1 AND NOT EXISTS(SELECT 1"
                " FROM monitor_resources r WHERE r.portal=?1 AND"
                " r.dataset_id=monitor_recent.dataset_id AND r.id=monitor_recent.id)");
    /* written only when it changed: most sweeps write nothing here */
    b->contact = prep(b, "INSERT INTO monitor_contacts(portal, id, maintainer, maintainer_email,"
                         " author, author_email) VALUES(?,?,?,?,?,?) ON CONFLICT(portal, id)"
                         " DO UPDATE SET maintainer=excluded.maintainer,"
                         " maintainer_email=excluded.maintainer_email, author=excluded.author,"
                         " author_email=excluded.author_email WHERE maintainer IS NOT"
                         " excluded.maintainer OR maintainer_email IS NOT excluded.maintainer_email"
                         " OR author IS NOT excluded.author OR author_email IS NOT"
                         " excluded.author_email");
    b->rm_contact = prep(b, "DELETE FROM monitor_contacts WHERE portal=? AND id=?");
    return b;
}

/* Binds keep the first failure (too big, out of memory); step_reset reports it. */
static void bound(mon_wbatch *b, int rc)
{
    if (rc != SQLITE_OK && b->bind_rc == SQLITE_OK) {
        b->bind_rc = rc;
        note_error(b);
    }
}

static void bind_s(mon_wbatch *b, sqlite3_stmt *st, int i, const char *s)
{
    bound(b, s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i));
}

static void bind_i(mon_wbatch *b, sqlite3_stmt *st, int i, int64_t v)
{
    bound(b, sqlite3_bind_int64(st, i, v));
}

static void bind_d(mon_wbatch *b, sqlite3_stmt *st, int i, double v)
{
    bound(b, sqlite3_bind_double(st, i, v));
}

static int step_reset(mon_wbatch *b, sqlite3_stmt *st)
{
    if (!st) {
        b->failed = 1;
        return -EIO;
    }
    int rc = b->bind_rc == SQLITE_OK ? sqlite3_step(st) : b->bind_rc;
    b->bind_rc = SQLITE_OK;
    if (rc != SQLITE_DONE)
        note_error(b);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : -EIO;
}

/* The resource rows mirror the latest listing: drop the ones that left
 * (rows of the others are replaced), then write each with its last check. */
static int write_resources(mon_wbatch *b, const char *portal, const mon_ds *d,
                           const mon_prev_ds *prev)
{
    sqlite3_stmt *st;
    for (size_t k = 0; prev && k < prev->nres; k++) {
        bool kept = false;
        for (size_t i = 0; i < d->nres && !kept; i++)
            kept = prev->res[k].id && strcmp(prev->res[k].id, d->res[i].id) == 0;
        if (kept || !prev->res[k].id)
            continue;
        bind_s(b, b->rm_one_res, 1, portal);
        bind_s(b, b->rm_one_res, 2, d->id);
        bind_s(b, b->rm_one_res, 3, prev->res[k].id);
        if (step_reset(b, b->rm_one_res) < 0)
            return -EIO;
    }
    for (size_t i = 0; i < d->nres; i++) {
        const mon_res *r = &d->res[i];
        st = b->ins_res;
        if (!st)
            return -EIO;
        bind_s(b, st, 1, portal);
        bind_s(b, st, 2, d->id);
        bind_s(b, st, 3, r->id);
        bind_i(b, st, 4, r->position);
        bind_s(b, st, 5, r->name);
        bind_s(b, st, 6, r->url);
        bind_s(b, st, 7, r->format);
        if (r->checked) {
            bind_s(b, st, 8, mon_rstatus_name(r->status));
            bind_s(b, st, 9, r->reason);
            if (r->http_status)
                bind_i(b, st, 10, r->http_status);
            if (!r->invalid)
                bind_d(b, st, 11, r->latency_ms);
            bind_s(b, st, 12, r->content_type);
            if (r->content_length >= 0)
                bind_i(b, st, 13, r->content_length);
            bind_s(b, st, 14, r->final_url);
            bind_s(b, st, 15, r->error);
            bind_s(b, st, 16, r->method);
            bind_i(b, st, 17, r->checked_at);
        } else {
            bind_s(b, st, 8, VG_MONITOR_RESOURCE_UNKNOWN);
        }
        if (step_reset(b, st) < 0)
            return -EIO;
    }
    return 0;
}

/* The dataset's contacts as listed now; none listed drops the row. */
static int write_contact(mon_wbatch *b, const char *portal, const mon_ds *d)
{
    bool any = d->maintainer || d->maintainer_email || d->author || d->author_email;
    sqlite3_stmt *st = any ? b->contact : b->rm_contact;
    if (!st)
        return -EIO;
    bind_s(b, st, 1, portal);
    bind_s(b, st, 2, d->id);
    if (any) {
        bind_s(b, st, 3, d->maintainer);
        bind_s(b, st, 4, d->maintainer_email);
        bind_s(b, st, 5, d->author);
        bind_s(b, st, 6, d->author_email);
    }
    return step_reset(b, st);
}

int mon_wbatch_dataset(mon_wbatch *b, const char *portal, const mon_ds *d, const mon_hyst *h,
                       int observed, int64_t last_checked, int64_t now_ms, const mon_prev_ds *prev)
{
    sqlite3_stmt *st = b->ds;
    if (!st)
        return -EIO;
    bind_s(b, st, 1, portal);
    bind_s(b, st, 2, d->id);
    bind_s(b, st, 3, d->name);
    bind_s(b, st, 4, d->title);
    bind_s(b, st, 5, d->org);
    bind_s(b, st, 6, d->org_title);
    bind_s(b, st, 7, d->url);
    bind_s(b, st, 8, d->modified);
    bind_s(b, st, 9, mon_dstatus_name(h->status));
    bind_s(b, st, 10, mon_dstatus_name(observed));
    bind_s(b, st, 11, mon_dstatus_name(h->candidate));
    bind_i(b, st, 12, h->streak);
    if (last_checked)
        bind_i(b, st, 13, last_checked);
    else
        bound(b, sqlite3_bind_null(st, 13));
    bind_i(b, st, 14, now_ms);
    if (step_reset(b, st) < 0)
        return -EIO;
    if (write_contact(b, portal, d) < 0)
        return -EIO;
    return write_resources(b, portal, d, prev);
}

int mon_wbatch_remove(mon_wbatch *b, const char *portal, const char *id, int64_t now_ms)
{
    if (!b->rm_ds)
        return -EIO;
    bind_i(b, b->rm_ds, 1, now_ms);
    bind_s(b, b->rm_ds, 2, portal);
    bind_s(b, b->rm_ds, 3, id);
    return step_reset(b, b->rm_ds);
}

int mon_wbatch_missing(mon_wbatch *b, const char *portal, const char *id, int missing)
{
    if (!b->missing)
        return -EIO;
    bind_i(b, b->missing, 1, missing);
    bind_s(b, b->missing, 2, portal);
    bind_s(b, b->missing, 3, id);
    return step_reset(b, b->missing);
}

int mon_wbatch_check(mon_wbatch *b, const char *portal, const char *dataset_id, const mon_res *r,
                     int64_t sweep_id)
{
    sqlite3_stmt *st = b->check;
    if (!st || !r->checked)
        return st ? 0 : -EIO;
    bind_s(b, st, 1, portal);
    bind_s(b, st, 2, dataset_id);
    bind_s(b, st, 3, r->id);
    bind_i(b, st, 4, sweep_id);
    bind_i(b, st, 5, r->checked_at);
    bind_s(b, st, 6, mon_rstatus_name(r->status));
    bind_s(b, st, 7, r->reason);
    if (r->http_status)
        bind_i(b, st, 8, r->http_status);
    if (!r->invalid)
        bind_d(b, st, 9, r->latency_ms);
    bind_s(b, st, 10, r->content_type);
    if (r->content_length >= 0)
        bind_i(b, st, 11, r->content_length);
    /* the final URL only when a redirect changed it: keeps rows small */
    bind_s(b, st, 12,
           r->final_url && r->url && strcmp(r->final_url, r->url) != 0 ? r->final_url : NULL);
    bind_s(b, st, 13, r->error);
    bind_s(b, st, 14, r->method);
    return step_reset(b, st);
}

int mon_wbatch_daily(mon_wbatch *b, const char *portal, const char *dataset_id, int64_t day_ms,
                     int checks, int ok, double latency_sum, int latency_n)
{
    sqlite3_stmt *st = b->daily;
    if (!st)
        return -EIO;
    bind_s(b, st, 1, portal);
    bind_s(b, st, 2, dataset_id);
    bind_i(b, st, 3, day_ms / 1000);
    bind_i(b, st, 4, checks);
    bind_i(b, st, 5, ok);
    bind_d(b, st, 6, latency_sum);
    bind_i(b, st, 7, latency_n);
    return step_reset(b, st);
}

int mon_wbatch_recent(mon_wbatch *b, const char *portal, const mon_ds *d)
{
    sqlite3_stmt *st = b->recent;
    if (!st)
        return -EIO;
    for (size_t i = 0; i < d->nres; i++) {
        const mon_res *r = &d->res[i];
        if (!r->checked || !r->id)
            continue;
        double lat[2];
        int nlat = mon_recent_next(r, lat);
        bind_s(b, st, 1, portal);
        bind_s(b, st, 2, d->id);
        bind_s(b, st, 3, r->id);
        bind_s(b, st, 4, mon_rstatus_name(r->status));
        for (int j = 0; j < 2; j++) {
            if (j < nlat)
                bind_d(b, st, 5 + j, lat[j]);
            else
                bound(b, sqlite3_bind_null(st, 5 + j));
        }
        if (step_reset(b, st) < 0)
            return -EIO;
    }
    return 0;
}

int mon_wbatch_prune_recent(mon_wbatch *b, const char *portal)
{
    if (!b->prune_recent)
        return -EIO;
    bind_s(b, b->prune_recent, 1, portal);
    return step_reset(b, b->prune_recent);
}

int mon_wbatch_end(mon_wbatch *b, bool ok, char *err, size_t errlen)
{
    if (!b)
        return -EINVAL;
    sqlite3_finalize(b->ds);
    sqlite3_finalize(b->rm_ds);
    sqlite3_finalize(b->missing);
    sqlite3_finalize(b->rm_one_res);
    sqlite3_finalize(b->ins_res);
    sqlite3_finalize(b->check);
    sqlite3_finalize(b->daily);
    sqlite3_finalize(b->recent);
    sqlite3_finalize(b->prune_recent);
    sqlite3_finalize(b->contact);
    sqlite3_finalize(b->rm_contact);
    int rc = 0;
    if (ok && !b->failed) {
        if (sqlite3_exec(b->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            note_error(b);
            rc = -EIO;
        }
    } else {
        rc = b->failed ? -EIO : 0;
    }
    /* SQLite may already have rolled back (disk full): only roll back an open one */
    if ((rc < 0 || !ok) && !sqlite3_get_autocommit(b->db))
        sqlite3_exec(b->db, "ROLLBACK", NULL, NULL, NULL);
    if (rc < 0 && err)
        snprintf(err, errlen, "%s", b->err[0] ? b->err : "database write failed");
    free(b);
    return rc;
}
