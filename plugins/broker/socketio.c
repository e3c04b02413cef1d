/* Socket.IO v5 on top of an Engine.IO session: namespace "/", CONNECT with
 * auth and recovery, acks, and the client events of the original system. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vigia/contract/notifications.h>

#include "broker.h"

/* Queue one packet; *len_out (may be NULL) gets its size. */
static int send_sio_len(brk_session *s, int type, const char *nsp, long long id, const json_t *data,
                        size_t *len_out)
{
    size_t n;
    char *text = brk_sio_encode(type, nsp, id, data, 1, &n);
    if (!text)
        return -ENOMEM;
    if (len_out)
        *len_out = n;
    int rc = brk_session_send_text(s, text, n);
    free(text);
    return rc;
}

static int send_sio(brk_session *s, int type, const char *nsp, long long id, const json_t *data)
{
    return send_sio_len(s, type, nsp, id, data, NULL);
}

/* An answer costs the asker's rate limit by its size too: one more token per
 * ANSWER_BYTES_PER_TOKEN, so 30 requests for 100 notifications cost what
 * ~100 pings do. The bucket may go into debt; the next events are refused. */
#define ANSWER_BYTES_PER_TOKEN 16384.0

static void rate_charge_bytes(brk_session *s, size_t bytes)
{
    brk_state *b = s->b;
    if (b->cfg.rate_per_s <= 0 || bytes < ANSWER_BYTES_PER_TOKEN)
        return;
    pthread_mutex_lock(&s->lock);
    s->tokens -= (double)bytes / ANSWER_BYTES_PER_TOKEN;
    if (s->tokens < -(double)b->cfg.rate_burst)
        s->tokens = -(double)b->cfg.rate_burst;
    pthread_mutex_unlock(&s->lock);
}

static int emit_len(brk_session *s, const char *event, json_t *arg, size_t *len_out);

int brk_socketio_emit(brk_session *s, const char *event, json_t *arg)
{
    return emit_len(s, event, arg, NULL);
}

static int emit_len(brk_session *s, const char *event, json_t *arg, size_t *len_out)
{
    json_t *arr = json_pack("[s]", event);
    if (!arr) {
        json_decref(arg);
        return -ENOMEM;
    }
    if (arg)
        json_array_append_new(arr, arg);
    if (s->b->cfg.recovery_window > 0) {
        uint64_t seq = atomic_fetch_add(&s->b->offset_seq, 1) + 1;
        char off[24];
        snprintf(off, sizeof off, "%" PRIu64, seq);
        json_array_append_new(arr, json_string(off)); /* the CSR offset, last */
    }
    int rc = send_sio_len(s, SIO_EVENT, "/", -1, arr, len_out);
    json_decref(arr);
    return rc;
}

/* Server-side disconnect: leave every room, send 41, ignore further input and
 * let the client close (socket.io-client does at once). Closing here would
 * make the kernel answer the client's unread frames with an RST that can
 * destroy the 41 before the client reads it; the housekeeper closes
 * the transport after 2 s if the client does not. */
void brk_socketio_send_disconnect_and_close(brk_session *s, const char *reason)
{
    brk_state *b = s->b;
    pthread_mutex_lock(&b->lock);
    brk_rooms_leave_all_locked(b, s);
    pthread_mutex_lock(&s->lock);
    s->sio_connected = 0;
    s->drain_until = now_ms(b) + 2000;
    pthread_mutex_unlock(&s->lock);
    pthread_mutex_unlock(&b->lock);
    brk_housekeeper_kick(b, s->drain_until);
    send_sio(s, SIO_DISCONNECT, "/", -1, NULL);
    VG_DEBUG(b->host, "session %s: disconnected by the server: %s", s->sid, reason);
}

/* Answer a client event: through its ack when it asked for one, otherwise as
 * `event` (NULL: nothing on success) or as an "error" event. Steals result. */
static void answer(brk_session *s, const char *name, long long id, const char *event,
                   json_t *result)
{
    if (!result)
        result = vg_error_new("INTERNAL", "out of memory");
    size_t n = 0;
    if (id >= 0) {
        json_t *args = json_pack("[o]", result);
        if (args)
            send_sio_len(s, SIO_ACK, "/", id, args, &n);
        json_decref(args);
    } else if (json_object_get(result, "error")) {
        json_object_set_new(result, "event", json_string(name));
        emit_len(s, "error", result, &n);
    } else if (event) {
        emit_len(s, event, result, &n);
    } else {
        json_decref(result);
    }
    rate_charge_bytes(s, n);
}

static json_t *call(brk_state *b, const char *method, json_t *params)
{
    json_t *res = NULL;
    vg_bus_call(b->host->bus, method, params, &res);
    json_decref(params);
    return res;
}

static json_t *room_arg(const json_t *arg, const char **room_out)
{
    *room_out = NULL;
    if (json_is_string(arg))
        *room_out = json_string_value(arg);
    else if (json_is_object(arg))
        *room_out = json_string_value(json_object_get(arg, "room"));
    if (!*room_out)
        return vg_error_new("INVALID_ARGUMENT",
                            "room: expected a string (e.g. {\"room\":\"datasets\"})");
    const char *why;
    if (!brk_room_name_valid(*room_out, &why))
        return vg_error_new("INVALID_ARGUMENT", "room: %s", why);
    return NULL;
}

/* Joins or leaves the room named in `arg` (brk_rooms_change). NULL with *rc
 * set, or a bad name's error. */
static json_t *room_change(brk_session *s, const json_t *arg, bool join, const char **name, int *rc)
{
    json_t *err = room_arg(arg, name);
    if (!err)
        *rc = brk_rooms_change(s->b, s, *name, join);
    return err;
}

static json_t *ev_join_room(brk_session *s, const json_t *arg)
{
    brk_state *b = s->b;
    const char *name;
    int rc;
    json_t *err = room_change(s, arg, true, &name, &rc);
    if (err)
        return err;
    if (rc == -E2BIG)
        return vg_error_new("TOO_MANY_ROOMS",
                            "room: at most %lld rooms per client "
                            "(max_rooms_per_client)",
                            b->cfg.max_rooms);
    if (rc < 0 && rc != -EEXIST)
        return vg_error_new("INTERNAL", "room: could not join (%d)", rc);
    return json_pack("{s:s,s:b}", "room", name, "joined", 1);
}

static json_t *ev_leave_room(brk_session *s, const json_t *arg)
{
    const char *name;
    int rc;
    json_t *err = room_change(s, arg, false, &name, &rc);
    if (err)
        return err;
    return json_pack("{s:s,s:b}", "room", name, "left", rc == 0);
}

static json_t *id_string(const json_t *v)
{
    if (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) <= 32)
        return json_string(json_string_value(v));
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        char buf[24];
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return json_string(buf);
    }
    return NULL;
}

static json_t *ev_mark_read(brk_session *s, const json_t *arg)
{
    json_t *id = id_string(json_is_object(arg) ? json_object_get(arg, "notification_id") : arg);
    if (!id)
        return vg_error_new("INVALID_ARGUMENT",
                            "notification_id: expected a notification id (string of digits)");
    return call(s->b, VG_NOTIFICATIONS_M_MARK_READ, json_pack("{s:o}", "id", id));
}

static json_t *ev_get_notifications(brk_session *s, const json_t *arg)
{
    json_t *params = json_object();
    json_int_t limit = 20;
    if (arg && !json_is_object(arg) && !json_is_null(arg)) {
        json_decref(params);
        return vg_error_new("INVALID_ARGUMENT", "expected an object {limit, since}");
    }
    const json_t *l = json_object_get(arg, "limit");
    if (l) {
        if (!json_is_integer(l) || json_integer_value(l) < 1 || json_integer_value(l) > 100) {
            json_decref(params);
            return vg_error_new("INVALID_ARGUMENT", "limit: expected an integer from 1 to 100");
        }
        limit = json_integer_value(l);
    }
    json_object_set_new(params, "limit", json_integer(limit));
    const json_t *since = json_object_get(arg, "since");
    if (since && !json_is_null(since)) {
        json_t *id = id_string(since);
        if (!id) {
            json_decref(params);
            return vg_error_new("INVALID_ARGUMENT", "since: expected a notification id");
        }
        if (strcmp(json_string_value(id), "0") == 0)
            json_decref(id); /* since 0: everything (ids start at 1) */
        else
            json_object_set_new(params, "since", id);
    }
    json_t *res = call(s->b, VG_NOTIFICATIONS_M_LIST, params);
    if (!res || json_object_get(res, "error"))
        return res;
    json_t *out = json_pack("{s:O?,s:O?}", "notifications", json_object_get(res, "notifications"),
                            "unread_count", json_object_get(res, "unread_count"));
    json_decref(res);
    return out;
}

static json_t *ev_clear(brk_session *s)
{
    brk_state *b = s->b;
    const vg_host *h = b->host;
    if (h->admin_token_set(h) && !s->admin)
        return vg_error_new("UNAUTHORIZED",
                            "clear_notifications needs the admin token in the CONNECT auth "
                            "payload (auth: {token})");
    /* Without a token, like the REST actions: this machine only (issue 14). */
    if (!h->admin_token_set(h) &&
        h->struct_size >= offsetof(vg_host, peer_is_loopback) + sizeof h->peer_is_loopback &&
        !h->peer_is_loopback(h, s->ip))
        return vg_error_new("FORBIDDEN",
                            "clear_notifications without [server] admin_token is allowed from "
                            "this machine only");
    return call(b, VG_NOTIFICATIONS_M_CLEAR, NULL);
}

/* Token bucket: 1 = allowed, 0 = refused (answer an error), -1 = disconnect. */
static int rate_take(brk_session *s)
{
    brk_state *b = s->b;
    if (b->cfg.rate_per_s <= 0)
        return 1;
    int64_t now = now_ms(b);
    pthread_mutex_lock(&s->lock);
    s->tokens += (double)(now - s->tokens_at) * b->cfg.rate_per_s / 1000.0;
    if (s->tokens > (double)b->cfg.rate_burst)
        s->tokens = (double)b->cfg.rate_burst;
    s->tokens_at = now;
    int rc;
    if (s->tokens >= 1.0) {
        s->tokens -= 1.0;
        s->strikes = 0;
        rc = 1;
    } else {
        rc = ++s->strikes > b->cfg.rate_strikes ? -1 : 0;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int brk_socketio_rate_take(brk_session *s) { return rate_take(s); }

static int on_event(brk_session *s, const brk_sio_packet *p)
{
    brk_state *b = s->b;
    const char *name = json_string_value(json_array_get(p->data, 0));
    const json_t *arg = json_array_get(p->data, 1);
    int r = rate_take(s);
    if (r < 0) {
        atomic_fetch_add(&b->dropped_rate, 1);
        brk_socketio_send_disconnect_and_close(s, "rate limit");
        return 0;
    }
    if (r == 0) {
        answer(s, name ? name : "", p->id, NULL,
               vg_error_new("RATE_LIMITED",
                            "more than %.0f events per second (rate_limit); "
                            "keep going and the connection is closed",
                            b->cfg.rate_per_s));
        return 0;
    }
    if (!name) {
        answer(s, "", p->id, NULL, vg_error_new("UNKNOWN_EVENT", "event names are strings"));
        return 0;
    }
    if (strcmp(name, "join_room") == 0)
        answer(s, name, p->id, "joined_room", ev_join_room(s, arg));
    else if (strcmp(name, "leave_room") == 0)
        answer(s, name, p->id, "left_room", ev_leave_room(s, arg));
    else if (strcmp(name, "mark_notification_read") == 0)
        answer(s, name, p->id, NULL, ev_mark_read(s, arg));
    else if (strcmp(name, "get_notifications") == 0)
        answer(s, name, p->id, "recent_notifications", ev_get_notifications(s, arg));
    else if (strcmp(name, "clear_notifications") == 0)
        answer(s, name, p->id, NULL, ev_clear(s));
    else if (strcmp(name, "ping") == 0)
        answer(s, name, p->id, "pong",
               json_pack("{s:I}", "timestamp", (json_int_t)b->host->now_wall_ms(b->host)));
    else if (!brk_ext_event(s, "/", p->id, p->data)) /* a plugin's event? */
        answer(s, name, p->id, NULL, vg_error_new("UNKNOWN_EVENT", "unknown event '%.64s'", name));
    return 0;
}

static void send_recent(brk_session *s)
{
    brk_state *b = s->b;
    json_t *res = call(b, VG_NOTIFICATIONS_M_LIST,
                       json_pack("{s:I}", "limit", (json_int_t)b->cfg.recent_limit));
    json_t *out;
    if (res && !json_object_get(res, "error"))
        out = json_pack("{s:O?,s:O?}", "notifications", json_object_get(res, "notifications"),
                        "unread_count", json_object_get(res, "unread_count"));
    else
        out = json_pack("{s:[],s:i,s:O?}", "notifications", "unread_count", 0, "error",
                        json_object_get(res, "error"));
    json_decref(res);
    if (out)
        brk_socketio_emit(s, "recent_notifications", out);
}

static int on_connect(brk_session *s, const brk_sio_packet *p)
{
    brk_state *b = s->b;
    const vg_host *h = b->host;
    const json_t *auth = p->data;
    const char *token = json_string_value(json_object_get(auth, "token"));
    if (strcmp(p->nsp, "/") != 0) /* a plugin's namespace, or Invalid namespace */
        return brk_ext_nsp_connect(
            s, p, !h->admin_token_set(h) || (token && h->admin_token_ok(h, token)));
    if (s->sio_connected)
        return -EPROTO; /* duplicate CONNECT */
    if (token && !h->admin_token_ok(h, token)) {
        json_t *e =
            json_pack("{s:s,s:{s:s}}", "message", "Not authorized", "data", "code", "UNAUTHORIZED");
        send_sio(s, SIO_CONNECT_ERROR, "/", -1, e);
        json_decref(e);
        return 0;
    }
    int admin = !h->admin_token_set(h) || (token && h->admin_token_ok(h, token));
    const char *pid = json_string_value(json_object_get(auth, "pid"));
    const char *offset = json_string_value(json_object_get(auth, "offset"));

    pthread_mutex_lock(&b->lock);
    int recovered = pid && offset && brk_recovery_restore_locked(b, s, pid, offset);
    if (!recovered && pid && offset && atomic_load(&b->replay_topics)) {
        pthread_mutex_unlock(&b->lock); /* asks the cluster: Redis */
        recovered = brk_resume_remote(b, s, pid, offset);
        pthread_mutex_lock(&b->lock);
    }
    if (!recovered) {
        if (brk_eio_random_id(s->sio_sid) < 0 || brk_eio_random_id(s->pid) < 0) {
            pthread_mutex_unlock(&b->lock);
            return -EIO;
        }
        if (b->cfg.auto_join)
            brk_rooms_join_locked(b, s, "notifications");
    }
    brk_session_set_unconnected_locked(s, 0);
    pthread_mutex_lock(&s->lock);
    s->sio_connected = 1;
    s->admin = admin;
    pthread_mutex_unlock(&s->lock);
    json_t *state = brk_resume_state_locked(b, s, 0);
    pthread_mutex_unlock(&b->lock);
    brk_resume_publish(b, state);

    /* pid only when recovery is on: a client that gets one expects offsets */
    json_t *reply = b->cfg.recovery_window > 0
                        ? json_pack("{s:s,s:s}", "sid", s->sio_sid, "pid", s->pid)
                        : json_pack("{s:s}", "sid", s->sio_sid);
    send_sio(s, SIO_CONNECT, "/", -1, reply);
    json_decref(reply);
    if (!recovered && b->cfg.recent_limit > 0)
        send_recent(s);
    brk_ext_connected(s, s->sio_sid, "/", auth); /* also gives the client its first offset */
    return 0;
}

/* A binary event or ack. One that a plugin takes (an event it registered,
 * any event of its namespace, an ack) waits for its attachments and is then
 * handled like a text one; the broker's own events refuse binary. It is an
 * event like any other for the rate limit, and its attachments (at most 10,
 * brk_sio_decode) must follow at once before any other packet. */
static int on_binary(brk_session *s, brk_sio_packet *p)
{
    brk_state *b = s->b;
    int root = strcmp(p->nsp, "/") == 0;
    pthread_mutex_lock(&b->lock);
    int joined = root ? s->sio_connected : brk_nsp_index_locked(s, p->nsp) >= 0;
    pthread_mutex_unlock(&b->lock);
    if (!joined)
        return -EPROTO;
    const char *name = json_string_value(json_array_get(p->data, 0));
    char handler[128];
    int routed = p->type == SIO_BINARY_ACK ||
                 (name && brk_ext_route(b, p->nsp, name, handler, sizeof handler, NULL));
    int r = p->type == SIO_BINARY_EVENT ? rate_take(s) : 1;
    if (r < 0) {
        atomic_fetch_add(&b->dropped_rate, 1);
        brk_socketio_send_disconnect_and_close(s, "rate limit");
        return 0;
    }
    if (routed && r > 0) {
        pthread_mutex_lock(&s->lock);
        s->bin_pkt = *p;
        p->data = NULL; /* kept until the attachments are in */
        s->bin_left = p->attachments;
        s->bin_bytes = 0;
        json_decref(s->bin_parts);
        s->bin_parts = json_array();
        pthread_mutex_unlock(&s->lock);
        return p->attachments == 0 ? brk_socketio_on_attachment(s, NULL, 0) : 0;
    }
    pthread_mutex_lock(&s->lock);
    s->skip_attachments = p->attachments;
    pthread_mutex_unlock(&s->lock);
    if (p->type != SIO_BINARY_EVENT)
        return 0;
    json_t *err = r == 0 ? vg_error_new("RATE_LIMITED",
                                        "more than %.0f events per second (rate_limit); "
                                        "keep going and the connection is closed",
                                        b->cfg.rate_per_s)
                         : vg_error_new("UNSUPPORTED", "binary packets are not supported");
    if (root) {
        answer(s, name ? name : "", p->id, NULL, err);
    } else {
        json_t *args = json_pack("[o]", err);
        if (p->id >= 0)
            brk_send_args(s, SIO_ACK, p->nsp, p->id, args);
        json_decref(args);
    }
    return 0;
}

int brk_socketio_on_attachment(brk_session *s, const unsigned char *data, size_t len)
{
    brk_state *b = s->b;
    pthread_mutex_lock(&s->lock);
    if (s->skip_attachments > 0 || (s->drain_until && s->bin_left <= 0)) {
        if (s->skip_attachments > 0)
            s->skip_attachments--;
        pthread_mutex_unlock(&s->lock);
        return 0; /* a refused packet's, or input after a 41 */
    }
    if (!s->bin_parts || (data && s->bin_left <= 0)) {
        pthread_mutex_unlock(&s->lock);
        return -EPROTO; /* binary data nobody announced */
    }
    if (data) {
        /* the packet's attachments together stay within max_payload */
        if (s->bin_bytes + len > (size_t)b->cfg.max_payload) {
            pthread_mutex_unlock(&s->lock);
            return -EMSGSIZE;
        }
        char *b64 = malloc(len / 3 * 4 + 5);
        if (!b64) {
            pthread_mutex_unlock(&s->lock);
            return -ENOMEM;
        }
        brk_b64_encode(data, len, b64);
        json_array_append_new(s->bin_parts, json_string(b64));
        free(b64);
        s->bin_bytes += len;
        s->bin_left--;
    }
    if (s->bin_left > 0) {
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    brk_sio_packet p = s->bin_pkt;
    json_t *parts = s->bin_parts;
    memset(&s->bin_pkt, 0, sizeof s->bin_pkt);
    s->bin_parts = NULL;
    pthread_mutex_unlock(&s->lock);
    int rc = brk_sio_reconstruct(p.data, parts) < 0 ? -EPROTO : 0;
    json_decref(parts);
    if (rc == 0 && p.type == SIO_BINARY_ACK)
        brk_ext_deliver_ack(s, p.id, p.data);
    else if (rc == 0)
        brk_ext_event(s, p.nsp, p.id, p.data);
    brk_sio_packet_clear(&p);
    return rc;
}

/* JSON nested deeper than [server] json_max_depth (never parsed): a CONNECT
 * gets CONNECT_ERROR, an event of a connected socket an error (through its
 * ack when it has one; it costs a token like any event), anything else is a
 * protocol error and closes the session. */
static int too_deep(brk_session *s, const brk_sio_packet *p)
{
    brk_state *b = s->b;
    VG_DEBUG(b->host, "session %s: JSON nested deeper than %d levels", s->sid,
             b->cfg.json_max_depth);
    if (p->type == SIO_CONNECT && !s->sio_connected) {
        json_t *e = json_pack("{s:s,s:{s:s,s:i}}", "message", "Invalid payload", "data", "code",
                              "TOO_DEEP", "max_depth", b->cfg.json_max_depth);
        send_sio(s, SIO_CONNECT_ERROR, p->nsp, -1, e);
        json_decref(e);
        return 0;
    }
    if ((p->type == SIO_EVENT || p->type == SIO_BINARY_EVENT) && s->sio_connected &&
        strcmp(p->nsp, "/") == 0) {
        int r = rate_take(s);
        if (r < 0) {
            atomic_fetch_add(&b->dropped_rate, 1);
            brk_socketio_send_disconnect_and_close(s, "rate limit");
            return 0;
        }
        if (p->type == SIO_BINARY_EVENT)
            return -EPROTO; /* its attachments could not be skipped reliably */
        answer(s, "", p->id, NULL,
               vg_error_new("INVALID_ARGUMENT",
                            "JSON nested deeper than %d levels ([server] json_max_depth)",
                            b->cfg.json_max_depth));
        return 0;
    }
    return -EPROTO;
}

int brk_socketio_on_message(brk_session *s, const char *data, size_t len)
{
    brk_state *b = s->b;
    brk_sio_packet p;
    const char *why = NULL;
    int drc = brk_sio_decode(data, len, b->cfg.json_max_depth, &p, &why);
    if (drc == -E2BIG)
        return too_deep(s, &p);
    if (drc < 0) {
        VG_DEBUG(b->host, "session %s: malformed Socket.IO packet: %s", s->sid, why);
        return -EPROTO;
    }
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    int reconstructing = s->skip_attachments > 0 || s->bin_left > 0;
    pthread_mutex_unlock(&s->lock);
    if (reconstructing) {
        rc = -EPROTO; /* a packet before the attachments it announced (socket.io-parser too) */
    } else if (p.type == SIO_CONNECT) {
        rc = on_connect(s, &p);
    } else if (p.type == SIO_BINARY_EVENT || p.type == SIO_BINARY_ACK) {
        rc = on_binary(s, &p);
    } else if (strcmp(p.nsp, "/") != 0) {
        rc = brk_ext_on_nsp_packet(s, &p); /* a plugin's namespace */
    } else if (!s->sio_connected) {
        rc = -EPROTO; /* a packet for a namespace the client has not joined */
    } else {
        switch (p.type) {
        case SIO_DISCONNECT: {
            char gone[21];
            memcpy(gone, s->sio_sid, sizeof gone);
            pthread_mutex_lock(&b->lock);
            brk_rooms_leave_nsp_locked(b, s, "/"); /* a plugin namespace's stay */
            if (s->in_table && s->nnsps == 0)
                brk_session_set_unconnected_locked(s, 1);
            pthread_mutex_lock(&s->lock);
            s->sio_connected = 0;
            s->opened_at = now_ms(b); /* handshake_timeout counts again */
            pthread_mutex_unlock(&s->lock);
            pthread_mutex_unlock(&b->lock);
            brk_housekeeper_kick(b,
                                 s->opened_at + (b->cfg.connect_timeout < b->cfg.handshake_timeout
                                                     ? b->cfg.connect_timeout
                                                     : b->cfg.handshake_timeout));
            brk_ext_disconnected(b, gone, "/", "client namespace disconnect");
            break;
        }
        case SIO_EVENT:
            rc = on_event(s, &p);
            break;
        case SIO_ACK:
            brk_ext_deliver_ack(s, p.id, p.data);
            break;
        default:
            rc = -EPROTO; /* CONNECT_ERROR from a client */
        }
    }
    brk_sio_packet_clear(&p);
    return rc;
}

static brk_session *find_socket(brk_state *b, const char *sio_sid)
{
    brk_session *found = NULL;
    pthread_mutex_lock(&b->lock);
    for (brk_session *x = b->list; x; x = x->next)
        if (x->sio_connected && strcmp(x->sio_sid, sio_sid) == 0) {
            found = x;
            brk_session_ref(x);
            break;
        }
    pthread_mutex_unlock(&b->lock);
    return found;
}

int brk_socketio_ask(brk_state *b, const char *sio_sid, const char *event, const json_t *data,
                     int64_t timeout_ms, json_t **result)
{
    brk_session *s = find_socket(b, sio_sid);
    if (!s)
        return vg_method_fail(result, -ENOENT, "NOT_FOUND", "sid: no connected socket %.32s",
                              sio_sid);
    brk_pending_ack a = {0};
    pthread_mutex_lock(&s->lock);
    a.id = s->next_ack_id++;
    a.next = s->acks;
    s->acks = &a;
    pthread_mutex_unlock(&s->lock);

    json_t *args = json_pack("[sO?]", event, data);
    int rc = args ? send_sio(s, SIO_EVENT, "/", a.id, args) : -ENOMEM;
    json_decref(args);

    struct timespec deadline;
    brk_deadline_after(&deadline, timeout_ms);
    pthread_mutex_lock(&s->lock);
    while (rc == 0 && !a.done && !s->closed) {
        if (pthread_cond_timedwait(&s->cond, &s->lock, &deadline) == ETIMEDOUT)
            break;
    }
    for (brk_pending_ack **pp = &s->acks; *pp; pp = &(*pp)->next)
        if (*pp == &a) {
            *pp = a.next;
            break;
        }
    int closed = s->closed;
    pthread_mutex_unlock(&s->lock);
    brk_session_unref(s);
    if (a.done) {
        *result = json_pack("{s:o}", "ack", a.result);
        return 0;
    }
    if (rc < 0)
        return vg_method_fail(result, rc, "INTERNAL", "could not queue the event (%d)", rc);
    if (closed)
        return vg_method_fail(result, -EPIPE, "UNAVAILABLE", "the socket disconnected");
    return vg_method_fail(result, -ETIMEDOUT, "TIMEOUT", "no ack within %lld ms",
                          (long long)timeout_ms);
}
