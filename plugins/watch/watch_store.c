/* The watch plugin's tables in the server's database (WAL, own connection). */
#include "watch.h"

#include <stdio.h>
#include <string.h>

static const char *const schema =
    /* AUTOINCREMENT: ids go into outbox keys (confirm-<subscription>,
     * alert-<subscriber>-…), so an id freed by an unsubscribe or an erase
     * must never come back (its old outbox row still holds the key) */
    /* one row per address of a channel: an e-mail address for "email", what
     * the channel plugin gave to watch.subscribe for the others (opaque here) */
    "CREATE TABLE IF NOT EXISTS watch_subscriber("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, address TEXT NOT NULL, lang TEXT NOT NULL,"
    " tz TEXT NOT NULL, created_ms INTEGER NOT NULL, channel TEXT NOT NULL DEFAULT 'email');"
    "CREATE UNIQUE INDEX IF NOT EXISTS watch_subscriber_address"
    " ON watch_subscriber(channel, address);"
    "CREATE TABLE IF NOT EXISTS watch_subscription("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " subscriber INTEGER NOT NULL REFERENCES watch_subscriber(id) ON DELETE CASCADE,"
    " ttype TEXT NOT NULL, portal TEXT, dataset TEXT, organization TEXT, q TEXT, status TEXT,"
    " kinds TEXT NOT NULL, delivery TEXT NOT NULL,"
    " quiet_start INTEGER NOT NULL DEFAULT -1, quiet_end INTEGER NOT NULL DEFAULT -1,"
    " min_severity INTEGER NOT NULL DEFAULT 1,"
    " confirmed_ms INTEGER, created_ms INTEGER NOT NULL, expires_ms INTEGER);"
    /* matching: one index per target kind, confirmed rows only */
    "CREATE INDEX IF NOT EXISTS watch_sub_dataset ON watch_subscription(portal, dataset)"
    " WHERE ttype = 'dataset' AND confirmed_ms IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS watch_sub_org ON watch_subscription(organization)"
    " WHERE ttype = 'organization' AND confirmed_ms IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS watch_sub_portal ON watch_subscription(portal)"
    " WHERE ttype = 'portal' AND confirmed_ms IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS watch_sub_wide ON watch_subscription(ttype)"
    " WHERE ttype IN ('all', 'search') AND confirmed_ms IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS watch_sub_subscriber ON watch_subscription(subscriber);"
    "CREATE INDEX IF NOT EXISTS watch_sub_expires ON watch_subscription(expires_ms)"
    " WHERE confirmed_ms IS NULL;"
    "CREATE TABLE IF NOT EXISTS watch_token("
    " hash TEXT PRIMARY KEY,"
    " subscriber INTEGER NOT NULL REFERENCES watch_subscriber(id) ON DELETE CASCADE,"
    " subscription INTEGER, purpose TEXT NOT NULL, expires_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS watch_token_subscriber ON watch_token(subscriber);"
    "CREATE INDEX IF NOT EXISTS watch_token_expires ON watch_token(expires_ms);"
    /* recent events: the items of pending messages and the feeds */
    "CREATE TABLE IF NOT EXISTS watch_event("
    " id INTEGER PRIMARY KEY, topic TEXT NOT NULL, kind TEXT NOT NULL, portal TEXT,"
    " dataset TEXT, organization TEXT, at_ms INTEGER NOT NULL, body TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS watch_event_portal ON watch_event(portal, id);"
    "CREATE INDEX IF NOT EXISTS watch_event_org ON watch_event(organization, id);"
    "CREATE INDEX IF NOT EXISTS watch_event_ds ON watch_event(portal, dataset, id);"
    "CREATE INDEX IF NOT EXISTS watch_event_at ON watch_event(at_ms);"
    /* one row per (subscriber, event) waiting for its message; written by
     * the hundred thousand in a storm, so only the due index (no foreign
     * keys: erase and unsubscribe delete from it explicitly, grouping skips
     * rows whose subscription is gone, duplicates collapse there too);
     * AUTOINCREMENT: a message's key is built from its lowest item id, and
     * an id reused once the table has emptied repeated a sent key */
    "CREATE TABLE IF NOT EXISTS watch_pending("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, subscriber INTEGER NOT NULL, subscription INTEGER NOT "
    "NULL,"
    " event INTEGER NOT NULL, digest INTEGER NOT NULL, due_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS watch_pending_due ON watch_pending(due_ms);"
    "CREATE TABLE IF NOT EXISTS watch_outbox("
    " id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE,"
    " subscriber INTEGER NOT NULL REFERENCES watch_subscriber(id) ON DELETE CASCADE,"
    " subscription INTEGER, kind TEXT NOT NULL, body TEXT NOT NULL, state TEXT NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0, next_ms INTEGER NOT NULL, lease_until INTEGER,"
    " last_error TEXT, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS watch_outbox_due ON watch_outbox(state, next_ms);"
    "CREATE INDEX IF NOT EXISTS watch_outbox_subscriber ON watch_outbox(subscriber);";

/* 1 when `sql` finds a row, 0 when not, -1 when it cannot run. */
static int has_row(watch_db *w, const char *sql)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(w->db, sql, -1, &s, NULL) != SQLITE_OK)
        return -1;
    int found = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_finalize(s);
    return found;
}

/* Databases made before channels held e-mail addresses only, in `email`. */
static int migrate_channels(watch_db *w)
{
    int old =
        has_row(w, "SELECT 1 FROM pragma_table_info('watch_subscriber') WHERE name = 'email'");
    if (old <= 0)
        return old;
    return watch_exec(w, "ALTER TABLE watch_subscriber RENAME COLUMN email TO address;"
                         "ALTER TABLE watch_subscriber"
                         " ADD COLUMN channel TEXT NOT NULL DEFAULT 'email';");
}

/* Databases made before watch_pending's ids were AUTOINCREMENT: rebuild it,
 * and start its ids past every id a stored outbox key may already name. */
static int migrate_pending_ids(watch_db *w)
{
    int old = has_row(w, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND"
                         " name = 'watch_pending' AND sql NOT LIKE '%AUTOINCREMENT%'");
    if (old <= 0)
        return old;
    return watch_exec(
        w,
        "BEGIN IMMEDIATE;"
        "ALTER TABLE watch_pending RENAME TO watch_pending_old;"
        "CREATE TABLE watch_pending(id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " subscriber INTEGER NOT NULL, subscription INTEGER NOT NULL, event INTEGER NOT NULL,"
        " digest INTEGER NOT NULL, due_ms INTEGER NOT NULL);"
        "INSERT INTO watch_pending SELECT id, subscriber, subscription, event, digest, due_ms"
        " FROM watch_pending_old;"
        "DROP TABLE watch_pending_old;"
        "CREATE INDEX watch_pending_due ON watch_pending(due_ms);"
        /* keys are <kind>-<subscriber>-<item id>; the copy above made a row */
        "DELETE FROM sqlite_sequence WHERE name = 'watch_pending';"
        "INSERT INTO sqlite_sequence(name, seq) SELECT 'watch_pending', coalesce(max(n), 0) FROM ("
        " SELECT max(id) AS n FROM watch_pending UNION ALL"
        " SELECT max(CAST(substr(substr(key, instr(key, '-') + 1),"
        " instr(substr(key, instr(key, '-') + 1), '-') + 1) AS INTEGER))"
        " FROM watch_outbox WHERE key LIKE 'alert-%' OR key LIKE 'digest-%');"
        "COMMIT;");
}

int watch_exec(watch_db *w, const char *sql)
{
    return sqlite3_exec(w->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

int watch_db_open(watch_db *w, const char *path, char *err, size_t errsize)
{
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    if (sqlite3_open_v2(path, &w->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK)
        goto fail;
    sqlite3_busy_timeout(w->db, 5000);
    /* WAL + NORMAL: a commit survives kill -9 (the WAL is written before
     * COMMIT returns); only a power loss may take the last ones. */
    if (watch_exec(w, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                      "PRAGMA foreign_keys=ON;") ||
        migrate_channels(w) || watch_exec(w, schema) || migrate_pending_ids(w))
        goto fail;
    return 0;
fail:
    snprintf(err, errsize, "%s: %s", path, w->db ? sqlite3_errmsg(w->db) : "cannot open");
    watch_db_close(w);
    return -1;
}

void watch_db_close(watch_db *w)
{
    if (w->db)
        sqlite3_close_v2(w->db);
    w->db = NULL;
    pthread_mutex_destroy(&w->mu);
}
