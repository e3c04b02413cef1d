/* The endpoint table. One connection with its own mutex (statements are
 * short); WAL like the other plugins, so a commit survives kill -9. */
#include "webhook_store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const schema =
    "CREATE TABLE IF NOT EXISTS webhook_endpoint("
    " id TEXT PRIMARY KEY, url TEXT NOT NULL, format TEXT NOT NULL, lang TEXT NOT NULL,"
    " secret TEXT NOT NULL, prev_secret TEXT, prev_until_ms INTEGER,"
    " owner INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL,"
    " disabled_ms INTEGER, disabled_reason TEXT, failing_since_ms INTEGER,"
    " last_attempt_ms INTEGER, last_ok_ms INTEGER, last_status INTEGER, last_error TEXT,"
    " sent INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS webhook_endpoint_owner ON webhook_endpoint(owner);";

int webhook_store_open(webhook_store *s, const char *path, char *err, size_t errn)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK)
        goto fail;
    sqlite3_busy_timeout(s->db, 5000);
    if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL,
                     NULL) != SQLITE_OK ||
        sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    return 0;
fail:
    snprintf(err, errn, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
    webhook_store_close(s);
    return -1;
}

void webhook_store_close(webhook_store *s)
{
    if (s->db)
        sqlite3_close_v2(s->db);
    s->db = NULL;
    pthread_mutex_destroy(&s->mu);
}

static void copy_text(char *dst, size_t n, sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(dst, n, "%s", t ? (const char *)t : "");
}

int webhook_store_get(webhook_store *s, const char *id, webhook_ep *out)
{
    sqlite3_stmt *st = NULL;
    int rc = -EIO;
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db,
                           "SELECT id, url, format, lang, secret, coalesce(prev_secret, ''),"
                           " coalesce(prev_until_ms, 0), owner, coalesce(disabled_ms, 0),"
                           " coalesce(failing_since_ms, 0) FROM webhook_endpoint WHERE id = ?1",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) == SQLITE_OK) {
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
            memset(out, 0, sizeof *out);
            copy_text(out->id, sizeof out->id, st, 0);
            copy_text(out->url, sizeof out->url, st, 1);
            out->format = webhook_format_parse((const char *)sqlite3_column_text(st, 2));
            copy_text(out->lang, sizeof out->lang, st, 3);
            copy_text(out->secret, sizeof out->secret, st, 4);
            copy_text(out->prev_secret, sizeof out->prev_secret, st, 5);
            out->prev_until_ms = sqlite3_column_int64(st, 6);
            out->owner = sqlite3_column_int64(st, 7);
            out->disabled_ms = sqlite3_column_int64(st, 8);
            out->failing_since_ms = sqlite3_column_int64(st, 9);
            rc = out->format < 0 ? -EIO : 0;
        } else if (step == SQLITE_DONE) {
            rc = -ENOENT;
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* Run one statement with text/int64 binds described by `types` ('t', 'i',
 * 'n' for NULL); the number of rows changed, or -EIO. */
static int run(webhook_store *s, const char *sql, const char *types, ...)
{
    va_list ap;
    sqlite3_stmt *st = NULL;
    int rc = -EIO;
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK) {
        va_start(ap, types);
        int ok = 1;
        for (int i = 0; types[i] && ok; i++) {
            if (types[i] == 't') {
                const char *v = va_arg(ap, const char *);
                ok = (v ? sqlite3_bind_text(st, i + 1, v, -1, SQLITE_TRANSIENT)
                        : sqlite3_bind_null(st, i + 1)) == SQLITE_OK;
            } else if (types[i] == 'i') {
                ok = sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t)) == SQLITE_OK;
            }
        }
        va_end(ap);
        if (ok && sqlite3_step(st) == SQLITE_DONE)
            rc = sqlite3_changes(s->db);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int webhook_store_insert(webhook_store *s, const webhook_ep *ep, int64_t now)
{
    int rc = run(s,
                 "INSERT INTO webhook_endpoint(id, url, format, lang, secret, owner, created_ms)"
                 " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                 "tttttii", ep->id, ep->url, webhook_format_name(ep->format), ep->lang, ep->secret,
                 ep->owner, now);
    return rc == 1 ? 0 : -EIO;
}

int webhook_store_delete(webhook_store *s, const char *id)
{
    int rc = run(s, "DELETE FROM webhook_endpoint WHERE id = ?1", "t", id);
    return rc < 0 ? rc : rc == 0 ? -ENOENT : 0;
}

int webhook_store_rotate(webhook_store *s, const char *id, const char *secret, int64_t prev_until)
{
    int rc = run(s,
                 "UPDATE webhook_endpoint SET prev_secret = secret, prev_until_ms = ?3,"
                 " secret = ?2 WHERE id = ?1",
                 "tti", id, secret, prev_until);
    return rc < 0 ? rc : rc == 0 ? -ENOENT : 0;
}

int webhook_store_enable(webhook_store *s, const char *id)
{
    int rc = run(s,
                 "UPDATE webhook_endpoint SET disabled_ms = NULL, disabled_reason = NULL,"
                 " failing_since_ms = NULL WHERE id = ?1",
                 "t", id);
    return rc < 0 ? rc : rc == 0 ? -ENOENT : 0;
}

int webhook_store_outcome(webhook_store *s, const char *id, int ok, int http_status,
                          const char *error, int64_t now, int64_t *failing_since)
{
    int rc;
    if (ok)
        rc = run(s,
                 "UPDATE webhook_endpoint SET failing_since_ms = NULL, last_attempt_ms = ?2,"
                 " last_ok_ms = ?2, last_status = ?3, last_error = NULL, sent = sent + 1"
                 " WHERE id = ?1",
                 "tii", id, now, (int64_t)http_status);
    else
        rc = run(s,
                 "UPDATE webhook_endpoint SET failing_since_ms = coalesce(failing_since_ms, ?2),"
                 " last_attempt_ms = ?2, last_status = ?3, last_error = ?4,"
                 " failures = failures + 1 WHERE id = ?1",
                 "tiit", id, now, (int64_t)http_status, error);
    if (rc < 0)
        return rc;
    if (!ok && failing_since) {
        webhook_ep ep;
        *failing_since = webhook_store_get(s, id, &ep) == 0 ? ep.failing_since_ms : now;
    }
    return rc == 0 ? -ENOENT : 0;
}

int webhook_store_disable(webhook_store *s, const char *id, const char *reason, int64_t now)
{
    int rc = run(s,
                 "UPDATE webhook_endpoint SET disabled_ms = ?2, disabled_reason = ?3"
                 " WHERE id = ?1 AND disabled_ms IS NULL",
                 "tit", id, now, reason);
    return rc < 0 ? rc : rc == 0 ? -ENOENT : 0;
}

#define VIEW_COLS                                                                                  \
    "SELECT id, url, format, lang, owner, created_ms, disabled_ms, disabled_reason,"               \
    " failing_since_ms, last_attempt_ms, last_ok_ms, last_status, last_error, sent, failures,"     \
    " prev_until_ms FROM webhook_endpoint"

static json_t *int_or_null(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL
               ? json_null()
               : json_integer(sqlite3_column_int64(st, col));
}

static json_t *text_or_null(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? json_string((const char *)t) : json_null();
}

static json_t *view_row(sqlite3_stmt *st)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", text_or_null(st, 0));
    json_object_set_new(o, "url", text_or_null(st, 1));
    json_object_set_new(o, "format", text_or_null(st, 2));
    json_object_set_new(o, "lang", text_or_null(st, 3));
    json_object_set_new(o, "public", json_boolean(sqlite3_column_int64(st, 4) != 0));
    json_object_set_new(o, "created_ms", int_or_null(st, 5));
    json_object_set_new(o, "disabled", json_boolean(sqlite3_column_type(st, 6) != SQLITE_NULL));
    json_object_set_new(o, "disabled_ms", int_or_null(st, 6));
    json_object_set_new(o, "disabled_reason", text_or_null(st, 7));
    json_object_set_new(o, "failing_since_ms", int_or_null(st, 8));
    json_object_set_new(o, "last_attempt_ms", int_or_null(st, 9));
    json_object_set_new(o, "last_ok_ms", int_or_null(st, 10));
    json_object_set_new(o, "last_status", int_or_null(st, 11));
    json_object_set_new(o, "last_error", text_or_null(st, 12));
    json_object_set_new(o, "sent", json_integer(sqlite3_column_int64(st, 13)));
    json_object_set_new(o, "failures", json_integer(sqlite3_column_int64(st, 14)));
    json_object_set_new(o, "previous_secret_until_ms", int_or_null(st, 15));
    return o;
}

json_t *webhook_store_view(webhook_store *s, const char *id)
{
    sqlite3_stmt *st = NULL;
    json_t *out = NULL;
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db, VIEW_COLS " WHERE id = ?1", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        out = view_row(st);
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return out;
}

json_t *webhook_store_list(webhook_store *s, int64_t owner)
{
    sqlite3_stmt *st = NULL;
    json_t *out = json_array();
    int step = SQLITE_ERROR;
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db, VIEW_COLS " WHERE ?1 < 0 OR owner = ?1 ORDER BY created_ms, id",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_bind_int64(st, 1, owner) == SQLITE_OK)
        while ((step = sqlite3_step(st)) == SQLITE_ROW)
            json_array_append_new(out, view_row(st));
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    if (step != SQLITE_DONE) {
        json_decref(out);
        return NULL;
    }
    return out;
}

int webhook_store_counts(webhook_store *s, int64_t *total, int64_t *disabled, int64_t *failing)
{
    sqlite3_stmt *st = NULL;
    int rc = -EIO;
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db,
                           "SELECT count(*), count(disabled_ms),"
                           " count(CASE WHEN disabled_ms IS NULL THEN failing_since_ms END)"
                           " FROM webhook_endpoint",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        *total = sqlite3_column_int64(st, 0);
        *disabled = sqlite3_column_int64(st, 1);
        *failing = sqlite3_column_int64(st, 2);
        rc = 0;
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}
