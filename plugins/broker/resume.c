/* Connection state recovery across nodes (docs/cluster.md). The broker knows
 * no Redis: it speaks the cluster plugin's contract, and alone (no cluster
 * plugin) nothing here does anything.
 *   - Offsets: the cluster logs every shared event and gives it an offset
 *     that is the same on every node; broadcasts use it, so a client's last
 *     offset means the same thing everywhere. This node's own shared events
 *     are broadcast when they come back logged (cluster.event_logged), in
 *     the cluster's order, not when first published.
 *   - Sessions: a recoverable socket's state (pid, sid, rooms) goes out as
 *     socket.state_saved whenever it changes (its own join_room, or a
 *     plugin's broker.join), so that it survives a kill -9; and again every
 *     half of the cluster's session_ttl while it stays connected, so that a
 *     socket idle longer than that is still known when its node dies.
 *   - Resume: a CONNECT with a pid this node does not know asks
 *     cluster.recover and replays what the log has after the offset. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vigia/contract/broker.h>
#include <vigia/contract/cluster.h>

#include "broker.h"

void brk_resume_setup(brk_state *b)
{
    if (b->cfg.recovery_window <= 0)
        return;
    json_t *res = NULL;
    int rc = vg_bus_call(b->host->bus, VG_CLUSTER_M_REPLAY_TOPICS, NULL, &res);
    json_t *topics = json_object_get(res, "topics");
    if (rc == 0 && json_is_array(topics) && json_array_size(topics) > 0) {
        /* Local offsets start at the log's present, so that an offset from a
         * client that saw no logged event yet still places it in the log. */
        json_int_t at = json_integer_value(json_object_get(res, "offset"));
        if (at <= 0) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            at = (json_int_t)vg_cluster_offset((unsigned long long)ts.tv_sec * 1000ULL +
                                                   (unsigned long long)ts.tv_nsec / 1000000,
                                               0);
        }
        uint_fast64_t cur = atomic_load(&b->offset_seq);
        while (cur < (uint64_t)at && !atomic_compare_exchange_weak(&b->offset_seq, &cur, at))
            ;
        atomic_store(&b->replay_topics, json_incref(topics));
        json_int_t ttl = json_integer_value(json_object_get(res, "session_ttl_ms"));
        b->state_refresh_ms = ttl > 0 ? (int64_t)ttl / 2 : 0;
        VG_INFO(b->host, "connection state recovery across nodes through the cluster's log");
    }
    json_decref(res);
}

void brk_resume_free(brk_state *b) { json_decref(atomic_exchange(&b->replay_topics, NULL)); }

static int shared(const json_t *topics, const char *topic)
{
    size_t i;
    json_t *p;
    json_array_foreach (topics, i, p) {
        const char *s = json_string_value(p);
        size_t n = s ? strlen(s) : 0;
        if (n && (s[n - 1] == '.' ? strncmp(topic, s, n) == 0 : strcmp(topic, s) == 0))
            return 1;
    }
    return 0;
}

int64_t brk_resume_offset(brk_state *b, const char *topic, const json_t *payload)
{
    json_t *topics = atomic_load(&b->replay_topics);
    if (!topics)
        return 0;
    if (json_object_get(payload, VG_CLUSTER_F_ORIGIN)) {
        json_int_t off = json_integer_value(json_object_get(payload, VG_CLUSTER_F_OFFSET));
        return off > 0 ? off : 0;
    }
    return shared(topics, topic) ? -1 : 0;
}

json_t *brk_resume_state_locked(brk_state *b, brk_session *s, int64_t ttl_ms)
{
    if (b->cfg.recovery_window <= 0 || !atomic_load(&b->replay_topics) || !s->pid[0])
        return NULL;
    s->saved_at = ttl_ms == 0 ? now_ms(b) : 0; /* 0: connected, refreshed by the housekeeper */
    if (ttl_ms < 0)
        return json_pack("{s:i,s:s}", VG_EVENT_V, VG_BROKER_EV_V, VG_BROKER_F_PID, s->pid);
    json_t *rooms = json_array();
    for (int i = 0; i < s->nrooms; i++)
        if (!strchr(s->rooms[i].r->name, '\x1f')) /* a plugin namespace's: not recovered */
            json_array_append_new(rooms, json_string(s->rooms[i].r->name));
    return json_pack("{s:i,s:s,s:s,s:o,s:I}", VG_EVENT_V, VG_BROKER_EV_V, VG_BROKER_F_PID, s->pid,
                     VG_BROKER_F_SID, s->sio_sid, VG_BROKER_F_ROOMS, rooms, VG_BROKER_F_TTL_MS,
                     (json_int_t)ttl_ms);
}

void brk_resume_publish(brk_state *b, json_t *ev)
{
    if (!ev)
        return;
    const char *topic = json_object_get(ev, VG_BROKER_F_SID) ? VG_BROKER_EV_STATE_SAVED
                                                             : VG_BROKER_EV_STATE_DROPPED;
    if (vg_bus_has_subscribers(b->host->bus, topic))
        vg_bus_publish_new(b->host->bus, topic, ev);
    else
        json_decref(ev);
}

static int in_rooms(brk_session *s, const char *const *rooms)
{
    if (!rooms)
        return 1;
    for (int i = 0; rooms[i]; i++)
        if (brk_session_in_room_locked(s, rooms[i]))
            return 1;
    return 0;
}

int brk_resume_remote(brk_state *b, brk_session *s, const char *pid, const char *offset)
{
    if (!atomic_load(&b->replay_topics))
        return 0;
    char *end;
    errno = 0;
    unsigned long long off = strtoull(offset, &end, 10);
    if (errno || *end || end == offset || strlen(pid) >= sizeof s->pid)
        return 0;
    json_t *params = json_pack("{s:s,s:I}", "pid", pid, "offset", (json_int_t)off);
    json_t *res = NULL;
    int rc = vg_bus_call(b->host->bus, VG_CLUSTER_M_RECOVER, params, &res);
    json_decref(params);
    const char *sid = json_string_value(json_object_get(res, VG_BROKER_F_SID));
    json_t *rooms = json_object_get(res, VG_BROKER_F_ROOMS);
    json_t *events = json_object_get(res, "events");
    if (rc != 0 || !json_is_true(json_object_get(res, "found")) || !sid ||
        strlen(sid) >= sizeof s->sio_sid || !json_is_array(rooms) || !json_is_array(events)) {
        if (rc == 0 && !json_is_true(json_object_get(res, "found")))
            VG_DEBUG(b->host, "session not resumed from the cluster: %s",
                     json_string_value(json_object_get(res, "reason")));
        json_decref(res);
        return 0;
    }
    pthread_mutex_lock(&b->lock);
    snprintf(s->sio_sid, sizeof s->sio_sid, "%s", sid);
    snprintf(s->pid, sizeof s->pid, "%s", pid);
    size_t i;
    json_t *name;
    json_array_foreach (rooms, i, name)
        if (json_is_string(name))
            brk_rooms_join_locked(b, s, json_string_value(name));
    /* What the log has after the offset, then what this node broadcast
     * since the log was read (the rooms are joined: nothing is lost after). */
    uint64_t last = off;
    pthread_mutex_lock(&s->lock);
    json_t *ev;
    json_array_foreach (events, i, ev) {
        const char *topic = json_string_value(json_object_get(ev, "topic"));
        json_int_t eo = json_integer_value(json_object_get(ev, "offset"));
        brk_render r;
        if (!topic || eo <= 0 || (uint64_t)eo <= last ||
            !brk_bus_render(topic, json_object_get(ev, "payload"), &r))
            continue;
        last = (uint64_t)eo;
        if (in_rooms(s, r.to)) {
            brk_msg *m = brk_broadcast_msg(b, r.event, r.arg, (uint64_t)eo);
            if (m) {
                brk_session_enqueue_locked(s, m);
                brk_msg_unref(m);
            }
        }
        json_decref(r.arg);
    }
    for (size_t k = 0; b->log && k < b->log_len; k++) {
        brk_log_entry *e = &b->log[(b->log_head + k) % (size_t)b->cfg.recovery_log_max];
        if (e->seq > last && in_rooms(s, (const char *const *)e->rooms))
            brk_session_enqueue_locked(s, e->m);
    }
    pthread_mutex_unlock(&s->lock);
    s->resume_upto = last; /* the log's events that reach this node later: sent already */
    pthread_mutex_unlock(&b->lock);
    VG_INFO(b->host, "session %s resumed from another node (%zu logged events after offset %llu)",
            sid, json_array_size(events), off);
    json_decref(res);
    return 1;
}
