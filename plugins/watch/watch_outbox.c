/* The durable outbox: due pending items become one message per subscriber
 * (a storm is one message, counted), rows are leased to the channel and
 * settled by its answer; an expired lease is a retry. */
#include "watch.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t watch_backoff_ms(int attempts, const watch_outbox_opts *o)
{
    int64_t d = o->backoff_min_ms;
    for (int i = 1; i < attempts && d < o->backoff_max_ms; i++)
        d *= 2;
    if (d > o->backoff_max_ms)
        d = o->backoff_max_ms;
    /* jitter: 50..100 % so that retries of a storm spread out */
    return d / 2 + (int64_t)((uint64_t)random() % (uint64_t)(d / 2 + 1));
}

static int flush_group(watch_db *w, sqlite3_stmt *ins, int64_t subscriber, int64_t subscription,
                       int digest, int64_t first, json_t *items, long count, int64_t now)
{
    char key[64];
    const char *kind = digest ? "digest" : "alert";
    snprintf(key, sizeof key, "%s-%lld-%lld", kind, (long long)subscriber, (long long)first);
    json_t *body = json_pack("{s:I, s:O}", "count", (json_int_t)count, "items", items);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    sqlite3_reset(ins);
    sqlite3_bind_text(ins, 1, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(ins, 2, subscriber);
    if (subscription > 0)
        sqlite3_bind_int64(ins, 3, subscription);
    else
        sqlite3_bind_null(ins, 3);
    sqlite3_bind_text(ins, 4, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 5, text ? text : "{}", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(ins, 6, now);
    free(text);
    (void)w;
    return sqlite3_step(ins) == SQLITE_DONE ? 0 : -1;
}

/* Parsed event bodies, shared by every message of one grouping pass (a
 * storm's events go to many subscribers). */
#define BODY_CACHE 4096

typedef struct body_cache {
    int64_t id[BODY_CACHE];
    json_t *j[BODY_CACHE];
} body_cache;

static json_t *cached_body(body_cache *c, sqlite3_stmt *body, int64_t ev)
{
    size_t h = (size_t)ev % BODY_CACHE;
    if (c->j[h] && c->id[h] == ev)
        return c->j[h];
    sqlite3_reset(body);
    sqlite3_bind_int64(body, 1, ev);
    if (sqlite3_step(body) != SQLITE_ROW)
        return NULL;
    const char *b = (const char *)sqlite3_column_text(body, 0);
    /* our own text, written by json_dumps in watch_match.c */
    json_t *it = json_loads(b ? b : "{}", 0, NULL); /* json-own-data */
    if (!it)
        return NULL;
    json_decref(c->j[h]);
    c->j[h] = it;
    c->id[h] = ev;
    return it;
}

/* Due items, by subscriber and kind of message, events in order so that an
 * event matched by two subscriptions of one subscriber counts once. Items
 * of a deleted subscription are dropped here. */
long watch_outbox_group(watch_db *w, int64_t now, const watch_outbox_opts *o)
{
    sqlite3_stmt *sel = NULL, *ins = NULL, *del = NULL, *body = NULL;
    long rows = 0;
    int rc = -1;
    if (sqlite3_prepare_v2(w->db,
                           "SELECT p.id, p.subscriber, p.subscription, p.digest, p.event"
                           " FROM watch_pending p JOIN watch_subscription s"
                           " ON s.id = p.subscription AND s.subscriber = p.subscriber"
                           " WHERE p.due_ms <= ?1 ORDER BY p.subscriber, p.digest, p.event",
                           -1, &sel, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(w->db,
                           "INSERT OR IGNORE INTO watch_outbox(key, subscriber, subscription, kind,"
                           " body, state, next_ms, created_ms, updated_ms)"
                           " VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6, ?6)",
                           -1, &ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(w->db, "SELECT body FROM watch_event WHERE id = ?1", -1, &body, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(w->db, "DELETE FROM watch_pending WHERE due_ms <= ?1", -1, &del, NULL) !=
            SQLITE_OK)
        goto out;
    if (watch_exec(w, "BEGIN IMMEDIATE"))
        goto out;
    sqlite3_bind_int64(sel, 1, now);
    int64_t cur = -1, sub = 0, first = 0, last_event = -1;
    int dig = 0;
    long count = 0;
    json_t *items = NULL;
    body_cache *cache = calloc(1, sizeof *cache);
    rc = 0;
    while (rc == 0 && sqlite3_step(sel) == SQLITE_ROW) {
        int64_t s = sqlite3_column_int64(sel, 1);
        int d = sqlite3_column_int(sel, 3);
        int64_t pid = sqlite3_column_int64(sel, 0), ev = sqlite3_column_int64(sel, 4);
        if (items && (s != cur || d != dig)) {
            rc = flush_group(w, ins, cur, sub, dig, first, items, count, now);
            rows++;
            json_decref(items);
            items = NULL;
        }
        if (!items) {
            items = json_array();
            cur = s;
            dig = d;
            first = pid;
            sub = sqlite3_column_int64(sel, 2);
            count = 0;
            last_event = -1;
        }
        if (pid < first)
            first = pid; /* the key: the group's lowest item id */
        if (sub != sqlite3_column_int64(sel, 2))
            sub = 0; /* several subscriptions in one message */
        if (ev == last_event)
            continue;
        last_event = ev;
        count++;
        if ((int)json_array_size(items) < o->max_items) {
            json_t *it = cache ? cached_body(cache, body, ev) : NULL;
            if (it)
                json_array_append(items, it);
        }
    }
    if (rc == 0 && items) {
        rc = flush_group(w, ins, cur, sub, dig, first, items, count, now);
        rows++;
    }
    json_decref(items);
    for (int i = 0; cache && i < BODY_CACHE; i++)
        json_decref(cache->j[i]);
    free(cache);
    sqlite3_bind_int64(del, 1, now);
    if (rc == 0 && sqlite3_step(del) != SQLITE_DONE)
        rc = -1;
    if (rc == 0 && watch_exec(w, "COMMIT"))
        rc = -1;
    if (rc)
        watch_exec(w, "ROLLBACK");
out:
    sqlite3_finalize(sel);
    sqlite3_finalize(ins);
    sqlite3_finalize(del);
    sqlite3_finalize(body);
    return rc ? -1 : rows;
}

/* The subscribers' table; on GONE its subscriber goes with everything
 * pending for them (a push subscription the browser dropped, a webhook
 * answering 410): nothing more is sent to the address. */
static int subscriber_gone(watch_db *w, int64_t id)
{
    char sql[400];
    snprintf(sql, sizeof sql,
             "DELETE FROM watch_pending WHERE subscriber = (SELECT subscriber FROM watch_outbox"
             " WHERE id = %lld); DELETE FROM watch_subscriber WHERE id = (SELECT subscriber FROM"
             " watch_outbox WHERE id = %lld);",
             (long long)id, (long long)id);
    return watch_exec(w, sql) == 0 ? 0 : -EIO;
}

const watch_box watch_box_subscribers = {"watch_outbox", subscriber_gone};

/* SQL naming the box's table (a constant of this plugin, never input). */
__attribute__((format(printf, 3, 4))) static int prepare(watch_db *w, sqlite3_stmt **s,
                                                         const char *fmt, ...)
{
    char sql[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    return sqlite3_prepare_v2(w->db, sql, -1, s, NULL) == SQLITE_OK ? 0 : -EIO;
}

/* Row `id` to `state` ("sent", "dead", "pending" at next_ms), the lease
 * gone, with the channel's reason. */
static int settle(watch_db *w, const watch_box *b, int64_t id, const char *state, int64_t next_ms,
                  const char *error, int64_t now)
{
    sqlite3_stmt *u = NULL;
    if (prepare(w, &u,
                "UPDATE %s SET state = ?2, next_ms = coalesce(?3, next_ms), lease_until = NULL,"
                " last_error = ?4, updated_ms = ?5 WHERE id = ?1",
                b->table))
        return -EIO;
    sqlite3_bind_int64(u, 1, id);
    sqlite3_bind_text(u, 2, state, -1, SQLITE_STATIC);
    if (next_ms >= 0)
        sqlite3_bind_int64(u, 3, next_ms);
    if (error)
        sqlite3_bind_text(u, 4, error, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(u, 5, now);
    int rc = sqlite3_step(u) == SQLITE_DONE ? 0 : -EIO;
    sqlite3_finalize(u);
    return rc;
}

/* attempts were counted at lease time */
static int settle_retry(watch_db *w, const watch_box *b, int64_t id, int attempts, int64_t after_ms,
                        const char *error, int64_t now, const watch_outbox_opts *o)
{
    if (attempts >= o->max_attempts)
        return settle(w, b, id, "dead", -1, error, now);
    return settle(w, b, id, "pending",
                  now + (after_ms > 0 ? after_ms : watch_backoff_ms(attempts, o)), error, now);
}

long watch_box_expire_leases(watch_db *w, const watch_box *b, int64_t now,
                             const watch_outbox_opts *o)
{
    sqlite3_stmt *s = NULL;
    if (prepare(w, &s, "SELECT id, attempts FROM %s WHERE state = 'leased' AND lease_until <= ?1",
                b->table))
        return -1;
    sqlite3_bind_int64(s, 1, now);
    int64_t ids[256];
    int att[256], n = 0;
    while (n < 256 && sqlite3_step(s) == SQLITE_ROW) {
        ids[n] = sqlite3_column_int64(s, 0);
        att[n++] = sqlite3_column_int(s, 1);
    }
    sqlite3_finalize(s);
    for (int i = 0; i < n; i++)
        settle_retry(w, b, ids[i], att[i], 0, "no answer from the channel within the lease", now,
                     o);
    return n;
}

int watch_box_result(watch_db *w, const watch_box *b, const char *key, const char *status,
                     const char *error, int64_t retry_after_ms, int64_t now,
                     const watch_outbox_opts *o)
{
    sqlite3_stmt *s = NULL;
    if (prepare(w, &s, "SELECT id, attempts, state FROM %s WHERE key = ?1", b->table))
        return -EIO;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_finalize(s);
        return -ENOENT;
    }
    int64_t id = sqlite3_column_int64(s, 0);
    int attempts = sqlite3_column_int(s, 1);
    const char *state = (const char *)sqlite3_column_text(s, 2);
    bool open = strcmp(state, "leased") == 0 || strcmp(state, "pending") == 0;
    sqlite3_finalize(s);
    if (!open) /* settled already (a late answer after a lease expiry, a duplicate) */
        return 0;
    if (strcmp(status, "retry") == 0)
        return settle_retry(w, b, id, attempts, retry_after_ms, error, now, o);
    /* failed, gone, or a status this version does not know: dead-lettered */
    int rc = settle(w, b, id, strcmp(status, "sent") == 0 ? "sent" : "dead", -1, error, now);
    if (rc == 0 && strcmp(status, "gone") == 0 && b->gone)
        rc = b->gone(w, id);
    return rc;
}

int watch_box_lease(watch_db *w, const watch_box *b, int64_t id, int64_t now,
                    const watch_outbox_opts *o)
{
    sqlite3_stmt *u = NULL;
    if (prepare(w, &u,
                "UPDATE %s SET state = 'leased', attempts = attempts + 1, lease_until = ?2,"
                " updated_ms = ?3 WHERE id = ?1",
                b->table))
        return -EIO;
    sqlite3_bind_int64(u, 1, id);
    sqlite3_bind_int64(u, 2, now + o->lease_ms);
    sqlite3_bind_int64(u, 3, now);
    int rc = sqlite3_step(u) == SQLITE_DONE ? 0 : -EIO;
    sqlite3_finalize(u);
    return rc;
}

int watch_box_dead(watch_db *w, const watch_box *b, int64_t id, const char *why, int64_t now)
{
    return settle(w, b, id, "dead", -1, why, now);
}

void watch_box_unlease(watch_db *w, const watch_box *b, const char *key)
{
    sqlite3_stmt *u = NULL;
    if (prepare(w, &u,
                "UPDATE %s SET state = 'pending', attempts = attempts - 1, lease_until = NULL"
                " WHERE key = ?1 AND state = 'leased'",
                b->table) == 0) {
        sqlite3_bind_text(u, 1, key, -1, SQLITE_STATIC);
        sqlite3_step(u);
    }
    sqlite3_finalize(u);
}
