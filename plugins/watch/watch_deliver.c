/* The work-queue side: bus events are buffered and matched by one job (one
 * transaction per batch, so a storm costs one commit); a periodic tick groups
 * due items, expires leases, leases due rows and publishes
 * delivery.requested, never on the bus thread. */
#include "watch_plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vigia/contract/delivery.h>

#include "watch_maintainer.h"
#include "watch_topics.h"

int64_t watch_now(watch_plugin *w)
{
    int64_t f = atomic_load(&w->fake_now);
    return f ? f : w->host->now_wall_ms(w->host);
}

/* Bus thread: keep a reference and hand the work to the queue. */
void watch_on_event(const char *topic, const json_t *payload, void *user)
{
    watch_plugin *w = user;
    bool submit = false;
    pthread_mutex_lock(&w->inmu);
    json_array_append_new(w->inbox, json_pack("[s, O]", topic, payload));
    if (!w->drain_queued)
        submit = w->drain_queued = true;
    pthread_mutex_unlock(&w->inmu);
    if (submit && w->host->workq_submit(w->q, watch_drain_job, w, NULL) != 0) {
        pthread_mutex_lock(&w->inmu);
        w->drain_queued = false; /* the next event or tick tries again */
        pthread_mutex_unlock(&w->inmu);
    }
}

int watch_drain_job(vg_job *job, void *user)
{
    watch_plugin *w = user;
    pthread_mutex_lock(&w->inmu);
    json_t *batch = w->inbox;
    w->inbox = json_array();
    w->drain_queued = false;
    pthread_mutex_unlock(&w->inmu);
    size_t n = json_array_size(batch);
    if (n == 0) {
        json_decref(batch);
        return VG_JOB_DONE;
    }
    json_t **topics = calloc(n, sizeof *topics), **payloads = calloc(n, sizeof *payloads);
    for (size_t i = 0; topics && payloads && i < n; i++) {
        topics[i] = json_array_get(json_array_get(batch, i), 0);
        payloads[i] = json_array_get(json_array_get(batch, i), 1);
    }
    long rc = -1;
    if (topics && payloads) {
        pthread_mutex_lock(&w->db.mu);
        rc = watch_match_events(&w->db, topics, payloads, n, watch_now(w), &w->mo);
        pthread_mutex_unlock(&w->db.mu);
    }
    free(topics);
    free(payloads);
    if (rc < 0) {
        /* put them back in front: matched again by the next drain */
        VG_WARN(w->host, "matching %zu events failed (%s); will retry", n,
                sqlite3_errmsg(w->db.db));
        pthread_mutex_lock(&w->inmu);
        json_array_extend(batch, w->inbox);
        json_decref(w->inbox);
        w->inbox = batch;
        pthread_mutex_unlock(&w->inmu);
        return vg_job_cancelled(job) ? VG_JOB_DONE : VG_JOB_RETRY;
    }
    if (rc > 0)
        VG_DEBUG(w->host, "%zu events -> %ld pending items", n, rc);
    json_decref(batch);
    watch_kick(w);
    return VG_JOB_DONE;
}

/* Bus thread: the channel's answer, settled on the queue. */
typedef struct result {
    watch_plugin *w;
    json_t *p;
} result;

static void result_free(void *u)
{
    result *r = u;
    json_decref(r->p);
    free(r);
}

static int result_job(vg_job *job, void *user)
{
    (void)job;
    result *r = user;
    watch_plugin *w = r->w;
    const char *key = json_string_value(json_object_get(r->p, "key"));
    const char *status = json_string_value(json_object_get(r->p, "status"));
    if (!key || !status ||
        (strcmp(status, VG_DELIVERY_SENT) && strcmp(status, VG_DELIVERY_RETRY) &&
         strcmp(status, VG_DELIVERY_FAILED) && strcmp(status, VG_DELIVERY_GONE))) {
        VG_WARN(w->host, "%s without key or with an unknown status: ignored", VG_DELIVERY_RESULT);
        return VG_JOB_DONE;
    }
    /* a maintainers' alert (watch_maintainer.c) or a subscriber's message */
    const watch_box *box = watch_maint_key(key) ? &watch_maint_box : &watch_box_subscribers;
    int64_t after = json_integer_value(json_object_get(r->p, "retry_after_ms"));
    pthread_mutex_lock(&w->db.mu);
    int rc = watch_box_result(&w->db, box, key, status,
                              json_string_value(json_object_get(r->p, "error")), after,
                              watch_now(w), &w->oo);
    pthread_mutex_unlock(&w->db.mu);
    if (rc == -ENOENT) {
        VG_DEBUG(w->host, "%s for key %s: not ours", VG_DELIVERY_RESULT, key);
    } else if (rc < 0) {
        VG_WARN(w->host, "settling %s failed: %s", key, sqlite3_errmsg(w->db.db));
    } else {
        const char *ch = json_string_value(json_object_get(r->p, "channel"));
        watch_count_result(w, ch ? ch : "unknown", status);
    }
    return VG_JOB_DONE;
}

void watch_on_result(const char *topic, const json_t *payload, void *user)
{
    (void)topic;
    watch_plugin *w = user;
    result *r = malloc(sizeof *r);
    if (!r)
        return;
    r->w = w;
    r->p = json_incref((json_t *)payload);
    /* a lost answer is not lost work: the lease expires and the row is retried */
    w->host->workq_submit(w->q, result_job, r, result_free);
}

/* ---- the tick ---------------------------------------------------------- */

static json_t *target_of(watch_plugin *w, int64_t subscription)
{
    sqlite3_stmt *s = NULL;
    json_t *t = NULL;
    if (sqlite3_prepare_v2(w->db.db,
                           "SELECT ttype, portal, dataset, organization, q, status, expires_ms"
                           " FROM watch_subscription WHERE id = ?",
                           -1, &s, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_int64(s, 1, subscription);
    if (sqlite3_step(s) == SQLITE_ROW) {
        t = json_object();
        const char *k[] = {"type", "portal", "id", "organization", "q", "status"};
        for (int i = 0; i < 6; i++)
            if (sqlite3_column_type(s, i) != SQLITE_NULL)
                json_object_set_new(t, k[i], json_string((const char *)sqlite3_column_text(s, i)));
    }
    sqlite3_finalize(s);
    return t;
}

/* One leased row as the delivery.requested payload (delivery.h). Fresh
 * tokens are minted here, so no usable token is ever stored in clear. */
static json_t *build(watch_plugin *w, sqlite3_stmt *r, int64_t now, const char **dead)
{
    (void)dead;
    const char *key = (const char *)sqlite3_column_text(r, 1);
    const char *kind = (const char *)sqlite3_column_text(r, 2);
    int64_t subscriber = sqlite3_column_int64(r, 4);
    int64_t subscription = sqlite3_column_int64(r, 5);
    /* our own text, written by json_dumps in watch_outbox.c / watch_http.c */
    json_t *body = json_loads((const char *)sqlite3_column_text(r, 3), 0, NULL); /* json-own-data */
    if (!body)
        return NULL;
    char manage[44], confirm[44];
    if (watch_token_store(w, subscriber, 0, "manage", now + w->manage_ttl_ms, manage))
        goto fail;
    char url[512];
    json_t *links = json_object();
    snprintf(url, sizeof url, "%s/api/subscriptions/manage?token=%s", w->public_url, manage);
    json_object_set_new(links, "manage", json_string(url));
    if (subscription > 0)
        snprintf(url, sizeof url, "%s/api/subscriptions/unsubscribe?token=%s&id=%lld",
                 w->public_url, manage, (long long)subscription);
    else
        snprintf(url, sizeof url, "%s/api/subscriptions/unsubscribe?token=%s", w->public_url,
                 manage);
    json_object_set_new(links, "unsubscribe", json_string(url));
    if (strcmp(kind, VG_DELIVERY_KIND_CONFIRM) == 0) {
        if (watch_token_store(w, subscriber, subscription, "confirm", now + w->confirm_ttl_ms,
                              confirm)) {
            json_decref(links);
            goto fail;
        }
        snprintf(url, sizeof url, "%s/api/subscriptions/confirm?token=%s", w->public_url, confirm);
        json_object_set_new(links, "confirm", json_string(url));
        json_t *t = target_of(w, subscription);
        if (t)
            json_object_set_new(body, "subscription", t);
    }
    /* List-Id per portal when the message is about one portal */
    const char *portal = NULL;
    size_t i;
    json_t *it;
    json_array_foreach (json_object_get(body, "items"), i, it) {
        const char *p = json_string_value(json_object_get(it, "portal"));
        json_t *d = json_object_get(it, "dataset");
        if (p && json_is_object(d) && json_string_value(json_object_get(d, "id"))) {
            watch_dataset_link(w, p, json_string_value(json_object_get(d, "id")), url, sizeof url);
            json_object_set_new(d, "vigia_url", json_string(url));
        }
        if (p && (!portal || strcmp(portal, p) == 0))
            portal = p;
        else
            portal = "all";
    }
    char list_id[256];
    snprintf(list_id, sizeof list_id, "%s.vigia.%s", portal ? portal : "all", w->list_host);
    json_t *out = json_pack(
        "{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:O, s:o, s:s}", "v", VG_DELIVERY_V, "key", key,
        "channel", (const char *)sqlite3_column_text(r, 9), "to",
        (const char *)sqlite3_column_text(r, 6), "lang", (const char *)sqlite3_column_text(r, 7),
        "tz", (const char *)sqlite3_column_text(r, 8), "kind", kind, "items",
        json_object_get(body, "items"), "count", json_object_get(body, "count"), "links", links,
        "list_id", list_id);
    if (out && json_object_get(body, "subscription"))
        json_object_set(out, "subscription", json_object_get(body, "subscription"));
    json_decref(body);
    return out;
fail:
    json_decref(body);
    return NULL;
}

json_t *watch_lease_due(watch_plugin *w, const watch_box *b, const char *select_sql, int limit,
                        watch_row_fn as_payload, int64_t now)
{
    json_t *out = json_array();
    sqlite3_stmt *s = NULL;
    if (watch_exec(&w->db, "BEGIN IMMEDIATE"))
        return out;
    if (sqlite3_prepare_v2(w->db.db, select_sql, -1, &s, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(s, 1, now);
    sqlite3_bind_int64(s, 2, limit);
    while (sqlite3_step(s) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(s, 0);
        const char *dead = NULL;
        json_t *p = as_payload(w, s, now, &dead);
        if (!p) {
            if (dead)
                watch_box_dead(&w->db, b, id, dead, now);
            continue;
        }
        if (watch_box_lease(&w->db, b, id, now, &w->oo)) {
            json_decref(p);
            break;
        }
        json_array_append_new(out, p);
    }
out:
    sqlite3_finalize(s);
    if (watch_exec(&w->db, "COMMIT")) {
        watch_exec(&w->db, "ROLLBACK");
        json_array_clear(out);
    }
    return out;
}

void watch_publish_leased(watch_plugin *w, const watch_box *b, const json_t *batch)
{
    size_t i;
    json_t *p;
    json_array_foreach (batch, i, p) {
        char key[600];
        snprintf(key, sizeof key, "%s", json_string_value(json_object_get(p, "key")));
        if (vg_bus_publish_new(w->host->bus, VG_DELIVERY_REQUESTED, json_incref(p)) != 0) {
            pthread_mutex_lock(&w->db.mu);
            watch_box_unlease(&w->db, b, key);
            pthread_mutex_unlock(&w->db.mu);
        }
    }
}

static void run_sql_at(watch_plugin *w, const char *sql, int64_t t)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(w->db.db, sql, -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, t);
        if (sqlite3_bind_parameter_count(s) >= 2)
            sqlite3_bind_int64(s, 2, w->feed_max);
        sqlite3_step(s);
    }
    sqlite3_finalize(s);
}

/* Unconfirmed subscriptions expire (48 h), tokens expire, old events and
 * settled outbox rows go: bounded retention of everything stored. */
static void housekeeping(watch_plugin *w, int64_t now)
{
    run_sql_at(w,
               "DELETE FROM watch_subscriber WHERE id IN (SELECT subscriber FROM"
               " watch_subscription WHERE confirmed_ms IS NULL AND expires_ms <= ?1)"
               " AND NOT EXISTS (SELECT 1 FROM watch_subscription s WHERE s.subscriber ="
               " watch_subscriber.id AND (s.confirmed_ms IS NOT NULL OR s.expires_ms > ?1))",
               now);
    run_sql_at(w, "DELETE FROM watch_subscription WHERE confirmed_ms IS NULL AND expires_ms <= ?1",
               now);
    run_sql_at(w, "DELETE FROM watch_token WHERE expires_ms <= ?1", now);
    run_sql_at(w, "DELETE FROM watch_outbox WHERE state IN ('sent', 'dead') AND updated_ms <= ?1",
               now - w->outbox_retention_ms);
    run_sql_at(w,
               "DELETE FROM watch_event WHERE (at_ms <= ?1 OR id <= (SELECT max(id) FROM"
               " watch_event) - ?2) AND id < coalesce((SELECT min(event) FROM watch_pending),"
               " 9223372036854775807)",
               now - w->retention_ms);
}

int watch_tick_job(vg_job *job, void *user)
{
    watch_plugin *w = user;
    atomic_store(&w->tick_queued, false);
    if (vg_job_cancelled(job))
        return VG_JOB_DONE;
    int64_t now = watch_now(w);
    pthread_mutex_lock(&w->db.mu);
    if (now - w->last_housekeeping >= 60000 || now < w->last_housekeeping) {
        housekeeping(w, now);
        w->last_housekeeping = now;
    }
    watch_box_expire_leases(&w->db, &watch_box_subscribers, now, &w->oo);
    if (watch_outbox_group(&w->db, now, &w->oo) < 0)
        VG_WARN(w->host, "grouping due items failed: %s", sqlite3_errmsg(w->db.db));
    json_t *batch = watch_lease_due(
        w, &watch_box_subscribers,
        "SELECT o.id, o.key, o.kind, o.body, o.subscriber, coalesce(o.subscription, 0),"
        " r.address, r.lang, r.tz, r.channel"
        " FROM watch_outbox o JOIN watch_subscriber r ON r.id = o.subscriber"
        " WHERE o.state = 'pending' AND o.next_ms <= ?1 ORDER BY o.next_ms LIMIT ?2",
        (int)w->lease_batch, build, now);
    pthread_mutex_unlock(&w->db.mu);
    watch_publish_leased(w, &watch_box_subscribers, batch);
    if (json_array_size(batch) == (size_t)w->lease_batch)
        watch_kick(w); /* more are due */
    json_decref(batch);
    return VG_JOB_DONE;
}

void watch_kick(watch_plugin *w)
{
    bool expected = false;
    if (atomic_compare_exchange_strong(&w->tick_queued, &expected, true) &&
        w->host->workq_submit(w->q, watch_tick_job, w, NULL) != 0)
        atomic_store(&w->tick_queued, false);
}
