/* Bus events -> room broadcasts, and the broker.status method. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <vigia/contract/broker.h>
#include <vigia/contract/cluster.h>
#include <vigia/contract/monitor.h>
#include <vigia/contract/notifications.h>
#include <vigia/contract/rest.h>

#include "broker.h"

/* A bus event -> the broadcast it becomes (room names in r->buf). 1 when the
 * topic is one the broker broadcasts. Also renders the cluster's replay log
 * for a client resuming here after another node (resume.c). */
int brk_bus_render(const char *topic, const json_t *payload, brk_render *r)
{
    memset(r, 0, sizeof *r);
    if (strcmp(topic, VG_NOTIFICATIONS_EV_CREATED) == 0) {
        r->rooms[0] = "notifications";
        r->to = r->rooms;
        r->event = "new_notification";
        r->arg =
            json_pack("{s:O?,s:O?}", "notification",
                      json_object_get(payload, VG_NOTIFICATIONS_F_NOTIFICATION), "unread_count",
                      json_object_get(payload, VG_NOTIFICATIONS_F_UNREAD_COUNT));
        return 1;
    }
    if (strcmp(topic, VG_NOTIFICATIONS_EV_READ) == 0) {
        r->event = "notification_marked_read";
        r->arg =
            json_pack("{s:O?,s:O?}", "notification_id",
                      json_object_get(payload, VG_NOTIFICATIONS_F_NOTIFICATION_ID), "unread_count",
                      json_object_get(payload, VG_NOTIFICATIONS_F_UNREAD_COUNT));
        return 1;
    }
    if (strcmp(topic, VG_NOTIFICATIONS_EV_CLEARED) == 0) {
        r->event = "notifications_cleared";
        r->arg = json_pack("{s:O?}", "unread_count",
                           json_object_get(payload, VG_NOTIFICATIONS_F_UNREAD_COUNT));
        return 1;
    }
    if (strncmp(topic, VG_MONITOR_EV_DATASET_PREFIX, strlen(VG_MONITOR_EV_DATASET_PREFIX)) != 0)
        return 0;
    /* dataset.* -> dataset_update {dataset_info, event, ...the rest of the
     * payload} to datasets, dataset:<id>, organization:<org>, portal:<portal>. */
    const json_t *ds = json_object_get(payload, VG_MONITOR_F_DATASET);
    const char *id = json_string_value(json_object_get(ds, VG_MONITOR_DS_ID));
    const char *org = json_string_value(json_object_get(ds, VG_MONITOR_DS_ORGANIZATION));
    const char *portal = json_string_value(json_object_get(payload, VG_MONITOR_F_PORTAL));
    if (!portal)
        portal = json_string_value(json_object_get(ds, VG_MONITOR_F_PORTAL));
    int n = 0;
    r->rooms[n++] = "datasets";
    if (id && snprintf(r->buf[0], sizeof r->buf[0], "dataset:%s", id) < (int)sizeof r->buf[0])
        r->rooms[n++] = r->buf[0];
    if (org &&
        snprintf(r->buf[1], sizeof r->buf[1], "organization:%s", org) < (int)sizeof r->buf[1])
        r->rooms[n++] = r->buf[1];
    if (portal &&
        snprintf(r->buf[2], sizeof r->buf[2], "portal:%s", portal) < (int)sizeof r->buf[2])
        r->rooms[n++] = r->buf[2];
    r->rooms[n] = NULL;
    r->to = r->rooms;
    json_t *arg = json_deep_copy(payload);
    if (!json_is_object(arg)) {
        json_decref(arg);
        arg = json_object();
    }
    json_object_set(arg, "dataset_info", ds ? (json_t *)ds : json_null());
    json_object_del(arg, VG_MONITOR_F_DATASET);
    json_object_del(arg, VG_EVENT_V); /* the bus payload's version, not the protocol's */
    /* the cluster's marks: the same packet on every node */
    json_object_del(arg, VG_CLUSTER_F_ORIGIN);
    json_object_del(arg, VG_CLUSTER_F_OFFSET);
    json_object_set_new(arg, "event", json_string(topic));
    r->event = "dataset_update";
    r->arg = arg;
    return 1;
}

static void broadcast_event(brk_state *b, const char *topic, const json_t *payload, uint64_t off)
{
    brk_render r;
    if (brk_bus_render(topic, payload, &r))
        brk_broadcast_at(b, r.to, r.event, r.arg, off);
}

static void on_event(const char *topic, const json_t *payload, void *user)
{
    brk_state *b = user;
    int64_t off = brk_resume_offset(b, topic, payload);
    if (off >= 0) /* < 0: comes back as cluster.event_logged with its offset */
        broadcast_event(b, topic, payload, (uint64_t)off);
}

/* One of this node's own shared events, logged by the cluster (resume.c). */
static void on_logged(const char *topic, const json_t *payload, void *user)
{
    (void)topic;
    const char *t = json_string_value(json_object_get(payload, "topic"));
    const json_t *p = json_object_get(payload, "payload");
    json_int_t off = json_integer_value(json_object_get(payload, "offset"));
    if (t && json_is_object(p) && vg_event_version(payload) == VG_CLUSTER_EV_V)
        broadcast_event(user, t, p, off > 0 ? (uint64_t)off : 0);
}

/* In a cluster the client counts are the whole cluster's: this node's plus
 * the other nodes' (cluster.clients: their last second's, no Redis here). */
static void stats_cluster_clients(brk_state *b, json_t *stats)
{
    json_t *c = json_object_get(stats, "clients");
    json_t *res = NULL;
    if (!json_is_object(c) || vg_bus_call(b->host->bus, VG_CLUSTER_M_CLIENTS, NULL, &res) != 0 ||
        !json_is_integer(json_object_get(res, "nodes"))) {
        json_decref(res);
        return;
    }
    static const char *const fields[] = {"connected", "websocket", "polling"};
    for (int i = 0; i < 3; i++) {
        json_t *mine = json_object_get(c, fields[i]);
        json_t *theirs = json_object_get(res, fields[i]);
        if (json_is_integer(mine) && json_is_integer(theirs))
            json_object_set_new(
                c, fields[i], json_integer(json_integer_value(mine) + json_integer_value(theirs)));
    }
    json_object_set_new(c, "nodes",
                        json_integer(json_integer_value(json_object_get(res, "nodes")) + 1));
    json_decref(res);
}

void brk_stats_flush(brk_state *b, int64_t now)
{
    json_t *send = NULL;
    pthread_mutex_lock(&b->stats_lock);
    if (b->stats_pending &&
        (b->stats_last == 0 || now - b->stats_last >= b->cfg.stats_min_interval)) {
        send = b->stats_pending;
        b->stats_pending = NULL;
        b->stats_last = now;
        json_decref(b->stats_sent);
        b->stats_sent = json_deep_copy(send); /* sent again when other nodes' counts change */
    }
    pthread_mutex_unlock(&b->stats_lock);
    if (send) {
        static const char *const rooms[] = {"stats", NULL};
        stats_cluster_clients(b, send);
        brk_broadcast(b, rooms, "stats_update", json_pack("{s:o}", "stats", send));
    }
}

/* Other nodes' client counts changed: the last stats again, with the new
 * cluster total, under the same throttle (unless newer stats are waiting). */
static void on_clients_changed(const char *topic, const json_t *payload, void *user)
{
    (void)topic, (void)payload;
    brk_state *b = user;
    pthread_mutex_lock(&b->stats_lock);
    if (!b->stats_pending && b->stats_sent)
        b->stats_pending = json_deep_copy(b->stats_sent);
    int64_t due = b->stats_last + b->cfg.stats_min_interval;
    pthread_mutex_unlock(&b->stats_lock);
    brk_stats_flush(b, now_ms(b));
    brk_housekeeper_kick(b, due);
}

/* stats_update at most once per stats_min_interval: keep the newest, the
 * housekeeper sends it when the interval has passed. */
static void on_stats(const char *topic, const json_t *payload, void *user)
{
    (void)topic;
    brk_state *b = user;
    pthread_mutex_lock(&b->stats_lock);
    json_decref(b->stats_pending);
    b->stats_pending = json_deep_copy(payload);
    int64_t due = b->stats_last + b->cfg.stats_min_interval;
    pthread_mutex_unlock(&b->stats_lock);
    brk_stats_flush(b, now_ms(b));
    brk_housekeeper_kick(b, due); /* sends the held one when its interval has passed */
}

json_t *brk_status(brk_state *b)
{
    pthread_mutex_lock(&b->lock);
    json_t *rooms = brk_rooms_status_locked(b);
    long long total = (long long)b->sessions.count;
    long long recoverable = (long long)b->recovery.count;
    long long unconnected = b->n_unconnected;
    pthread_mutex_unlock(&b->lock);
    json_t *st = json_pack(
        "{s:{s:I,s:I,s:I},s:o,s:I,s:I,s:{s:I,s:I,s:I,s:I},s:{s:I,s:I,s:I},s:I}", "clients", "total",
        (json_int_t)total, "websocket", (json_int_t)atomic_load(&b->n_websocket), "polling",
        (json_int_t)atomic_load(&b->n_polling), "rooms", rooms ? rooms : json_array(),
        "messages_in", (json_int_t)atomic_load(&b->messages_in), "messages_out",
        (json_int_t)atomic_load(&b->messages_out), "dropped", "backlog",
        (json_int_t)atomic_load(&b->dropped_backlog), "rate_limit",
        (json_int_t)atomic_load(&b->dropped_rate), "protocol",
        (json_int_t)atomic_load(&b->dropped_protocol), "write",
        (json_int_t)atomic_load(&b->dropped_write), "capacity", "max_clients",
        (json_int_t)b->cfg.max_clients, "thread_cap", (json_int_t)b->cfg.thread_cap, "threads_held",
        (json_int_t)atomic_load(&b->held), "recoverable_sessions", (json_int_t)recoverable);
    json_t *cap = json_object_get(st, "capacity");
    json_object_set_new(cap, "unconnected", json_integer((json_int_t)unconnected));
    json_object_set_new(cap, "senders", json_integer(atomic_load(&b->nsenders)));
    json_object_set_new(cap, "http_busy", json_integer(b->host->http_busy(b->host)));
    json_object_set_new(cap, "senders_added", json_integer(atomic_load(&b->senders_added)));
    return st;
}

static int m_status(const json_t *params, json_t **result, void *user)
{
    (void)params;
    *result = brk_status(user);
    return *result ? 0 : vg_method_fail(result, -ENOMEM, "INTERNAL", "out of memory");
}

/* broker.ask {sid, event, data?, timeout_ms?} -> {ack: [args]}: the server asks
 * one Socket.IO client a question and waits for its acknowledgement. */
static int m_ask(const json_t *params, json_t **result, void *user)
{
    brk_state *b = user;
    const char *sid = json_string_value(json_object_get(params, "sid"));
    const char *event = json_string_value(json_object_get(params, "event"));
    const json_t *t = json_object_get(params, "timeout_ms");
    if (!sid)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT", "sid: expected a socket id");
    if (brk_param_event(event, result) < 0)
        return -EINVAL;
    json_int_t timeout;
    if (brk_param_timeout(t, &timeout, result) < 0)
        return -EINVAL;
    return brk_socketio_ask(b, sid, event, json_object_get(params, "data"), timeout, result);
}

int brk_bus_setup(brk_state *b)
{
    vg_bus *bus = b->host->bus;
    static const struct {
        const char *topic;
        vg_event_cb cb;
    } subs[] = {
        {VG_NOTIFICATIONS_EV_CREATED, on_event},
        {VG_NOTIFICATIONS_EV_READ, on_event},
        {VG_NOTIFICATIONS_EV_CLEARED, on_event},
        {VG_MONITOR_EV_DATASET_PREFIX, on_event},
        {VG_REST_EV_STATS_UPDATED, on_stats},
        {VG_CLUSTER_EV_EVENT_LOGGED, on_logged},
        {VG_CLUSTER_EV_CLIENTS_CHANGED, on_clients_changed},
    };
    for (size_t i = 0; i < sizeof subs / sizeof *subs; i++) {
        int rc = vg_bus_subscribe(bus, subs[i].topic, subs[i].cb, b, NULL, &b->subs[b->nsubs]);
        if (rc < 0)
            return b->host->fail(b->host, "cannot subscribe to %s: %d", subs[i].topic, rc);
        b->nsubs++;
    }
    int rc = vg_bus_register_method(bus, VG_BROKER_M_STATUS, m_status, b, NULL);
    if (rc < 0)
        return b->host->fail(b->host, "cannot register broker.status: %d", rc);
    rc = vg_bus_register_method(bus, VG_BROKER_M_ASK, m_ask, b, NULL);
    if (rc < 0)
        return b->host->fail(b->host, "cannot register broker.ask: %d", rc);
    rc = brk_ext_setup(b);
    return rc < 0 ? rc : brk_admin_setup(b);
}

void brk_bus_teardown(brk_state *b)
{
    for (int i = 0; i < b->nsubs; i++)
        vg_bus_unsubscribe(b->host->bus, b->subs[i]);
    b->nsubs = 0;
}
