/* The extension API: plugins register namespaces and event names, and get
 * the clients' events through a bus method of theirs (the handler); they
 * emit, answer acks and manage rooms with broker.* methods. Contract:
 * include/vigia/contract/broker.h, docs/events.md. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vigia/contract/broker.h>

#include "broker.h"

#define EXT_MAX 64
#define HANDLER_MAX 128

/* ---- registrations ---- */

/* The handler of (nsp, event); event NULL asks for the namespace's own
 * registration. 1 with handler/auth filled, 0 when nobody took it. */
int brk_ext_route(brk_state *b, const char *nsp, const char *event, char *handler, size_t size,
                  int *auth)
{
    if (!atomic_load(&b->ext_any))
        return 0;
    int found = 0;
    pthread_rwlock_rdlock(&b->ext_lock);
    for (int i = 0; i < b->nexts && !found; i++) {
        brk_ext *e = &b->exts[i];
        if (strcmp(e->nsp, nsp) != 0)
            continue;
        if (strcmp(nsp, "/") == 0) {
            if (!event)
                continue;
            size_t k;
            json_t *v;
            json_array_foreach (e->events, k, v)
                if (strcmp(json_string_value(v), event) == 0) {
                    found = 1;
                    break;
                }
        } else {
            found = 1;
        }
        if (found) {
            snprintf(handler, size, "%s", e->handler);
            if (auth)
                *auth = e->auth;
        }
    }
    pthread_rwlock_unlock(&b->ext_lock);
    return found;
}

static const char *const builtin_events[] = {
    "join_room", "leave_room", "mark_notification_read", "get_notifications", "clear_notifications",
    "ping",      NULL};

static int nsp_valid(const char *nsp)
{
    size_t n = strlen(nsp);
    if (n < 1 || n > SIO_NSP_MAX || nsp[0] != '/')
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)nsp[i] < 0x21 || nsp[i] == ',' || nsp[i] == 0x7f)
            return 0;
    return 1;
}

int brk_param_event(const char *event, json_t **result)
{
    if (!event || !*event || strlen(event) > 64 || brk_sio_reserved_event(event))
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "event: expected a name of 1 to 64 characters, not a reserved one");
    return 0;
}

int brk_param_timeout(const json_t *t, json_int_t *timeout, json_t **result)
{
    *timeout = 5000;
    if (!t)
        return 0;
    if (!json_is_integer(t) || json_integer_value(t) < 1 || json_integer_value(t) > 60000)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "timeout_ms: expected an integer from 1 to 60000");
    *timeout = json_integer_value(t);
    return 0;
}

static int m_register(const json_t *params, json_t **result, void *user)
{
    brk_state *b = user;
    const char *nsp = json_string_value(json_object_get(params, "namespace"));
    const char *handler = json_string_value(json_object_get(params, "handler"));
    const json_t *events = json_object_get(params, "events");
    int auth = json_is_true(json_object_get(params, "auth"));
    if (!nsp)
        nsp = "/";
    if (!nsp_valid(nsp))
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "namespace: expected \"/\" or \"/<name>\" (no spaces or commas, "
                              "at most %d characters)",
                              SIO_NSP_MAX);
    if (!handler || !*handler || strlen(handler) >= HANDLER_MAX)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "handler: expected the name of a bus method of yours");
    int root = strcmp(nsp, "/") == 0;
    if (root && auth)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "auth: namespace \"/\" is the broker's; register your own "
                              "namespace to decide on CONNECTs");
    if (events && !json_is_array(events))
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "events: expected an array of event names");
    if (root && json_array_size(events) == 0)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "events: on \"/\" name the events you take");
    size_t k;
    json_t *v;
    json_array_foreach (events, k, v) {
        const char *name = json_string_value(v);
        if (!name || !*name || strlen(name) > 64 || brk_sio_reserved_event(name))
            return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                                  "events[%zu]: expected a name of 1 to 64 characters, not a "
                                  "reserved one",
                                  k);
        for (int i = 0; root && builtin_events[i]; i++)
            if (strcmp(name, builtin_events[i]) == 0)
                return vg_method_fail(result, -EEXIST, "CONFLICT",
                                      "events[%zu]: '%s' is one of the broker's own events", k,
                                      name);
        char other[HANDLER_MAX];
        if (root && brk_ext_route(b, "/", name, other, sizeof other, NULL) &&
            strcmp(other, handler) != 0)
            return vg_method_fail(result, -EEXIST, "CONFLICT",
                                  "events[%zu]: '%s' is taken by handler %s", k, name, other);
    }
    pthread_rwlock_wrlock(&b->ext_lock);
    int rc = 0;
    for (int i = 0; i < b->nexts && rc == 0; i++)
        if (!root && strcmp(b->exts[i].nsp, nsp) == 0)
            rc = -EEXIST;
    if (rc == 0 && b->nexts >= EXT_MAX)
        rc = -ENOSPC;
    if (rc == 0) {
        brk_ext *e = &b->exts[b->nexts];
        memset(e, 0, sizeof *e);
        snprintf(e->nsp, sizeof e->nsp, "%s", nsp);
        e->handler = strdup(handler);
        e->events = events ? json_deep_copy(events) : json_array();
        e->auth = auth;
        if (!e->handler || !e->events) {
            free(e->handler);
            json_decref(e->events);
            rc = -ENOMEM;
        } else {
            b->nexts++;
            atomic_store(&b->ext_any, 1);
        }
    }
    pthread_rwlock_unlock(&b->ext_lock);
    if (rc == -EEXIST)
        return vg_method_fail(result, rc, "CONFLICT", "namespace %s is registered already", nsp);
    if (rc == -ENOSPC)
        return vg_method_fail(result, rc, "TOO_LARGE", "at most %d registrations", EXT_MAX);
    if (rc < 0)
        return vg_method_fail(result, rc, "INTERNAL", "out of memory");
    VG_INFO(b->host, "namespace %s: events go to %s%s", nsp, handler,
            auth ? " (with an auth hook)" : "");
    *result = events ? json_pack("{s:s,s:O}", "namespace", nsp, "events", events)
                     : json_pack("{s:s,s:[]}", "namespace", nsp, "events");
    return 0;
}

void brk_ext_free_all(brk_state *b)
{
    for (int i = 0; i < b->nexts; i++) {
        free(b->exts[i].handler);
        json_decref(b->exts[i].events);
    }
    free(b->exts);
    b->exts = NULL;
    b->nexts = 0;
}

/* ---- packets with binary attachments ---- */

void brk_packet_free(brk_packet *p)
{
    for (size_t i = 0; i < p->n; i++)
        brk_msg_unref(p->m[i]);
    free(p->m);
    p->m = NULL;
    p->n = 0;
}

/* One Socket.IO packet as its Engine.IO messages: the text, then one binary
 * message per {"_binary"} value of `args` (borrowed). `seq_out` (may be NULL)
 * gets the offset appended on "/" with recovery on (0: none). */
int brk_packet_build(brk_state *b, int type, const char *nsp, long long id, const json_t *args,
                     brk_packet *out, uint64_t *seq_out)
{
    memset(out, 0, sizeof *out);
    if (seq_out)
        *seq_out = 0;
    json_t *data = json_deep_copy(args);
    json_t *parts = data ? brk_sio_deconstruct(data) : NULL;
    if (!parts) {
        json_decref(data);
        return -ENOMEM;
    }
    size_t np = json_array_size(parts);
    if (np && type == SIO_EVENT)
        type = SIO_BINARY_EVENT;
    else if (np && type == SIO_ACK)
        type = SIO_BINARY_ACK;
    if (type == SIO_EVENT && id < 0 && strcmp(nsp, "/") == 0 && b->cfg.recovery_window > 0) {
        uint64_t seq = atomic_fetch_add(&b->offset_seq, 1) + 1;
        char off[24];
        snprintf(off, sizeof off, "%" PRIu64, seq);
        json_array_append_new(data, json_string(off));
        if (seq_out)
            *seq_out = seq;
    }
    int rc = -ENOMEM;
    size_t len;
    char *text = brk_sio_encode(type, nsp, id, data, 1, &len);
    out->m = calloc(np + 1, sizeof *out->m);
    if (!text || !out->m)
        goto done;
    if (np) {
        /* "45" + "<n>-" + the rest */
        char pre[16];
        int pl = snprintf(pre, sizeof pre, "%zu-", np);
        char *t2 = malloc(len + (size_t)pl + 1);
        if (!t2)
            goto done;
        memcpy(t2, text, 2);
        memcpy(t2 + 2, pre, (size_t)pl);
        memcpy(t2 + 2 + pl, text + 2, len - 2 + 1);
        free(text);
        text = t2;
        len += (size_t)pl;
    }
    if (!(out->m[out->n++] = brk_msg_new(text, len)))
        goto done;
    for (size_t i = 0; i < np; i++) {
        const char *s = json_string_value(json_array_get(parts, i));
        size_t sl = strlen(s), bl;
        unsigned char *raw = malloc(sl * 3 / 4 + 3);
        if (!raw)
            goto done;
        if (brk_b64_decode(s, sl, raw, &bl) < 0) {
            free(raw);
            rc = -EINVAL;
            goto done;
        }
        out->m[out->n] = brk_msg_new_binary(raw, bl);
        free(raw);
        if (!out->m[out->n++])
            goto done;
    }
    rc = 0;
done:
    free(text);
    json_decref(data);
    json_decref(parts);
    if (rc < 0)
        brk_packet_free(out);
    return rc;
}

/* Every message of the packet, in one hold of s->lock so nothing lands
 * between a packet and its attachments. Caller holds s->lock. */
static int enqueue_packet_locked(brk_session *s, const brk_packet *p, brk_sched_batch *batch)
{
    for (size_t i = 0; i < p->n; i++) {
        int rc = brk_session_enqueue_batch_locked(s, p->m[i], batch);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int brk_session_send_packet(brk_session *s, const brk_packet *p)
{
    pthread_mutex_lock(&s->lock);
    int rc = enqueue_packet_locked(s, p, NULL);
    pthread_mutex_unlock(&s->lock);
    if (rc == -ENOBUFS) {
        atomic_fetch_add(&s->b->dropped_backlog, 1);
        brk_session_terminate(s, "backlog overflow", TERM_RECOVERABLE | TERM_CLOSE_WS);
    }
    return rc;
}

int brk_send_args(brk_session *s, int type, const char *nsp, long long id, const json_t *args)
{
    brk_packet p;
    int rc = brk_packet_build(s->b, type, nsp, id, args, &p, NULL);
    if (rc < 0)
        return rc;
    rc = brk_session_send_packet(s, &p);
    brk_packet_free(&p);
    return rc;
}

/* ---- sockets: the "/" socket of a session or one of its namespaces ---- */

int brk_nsp_index_locked(brk_session *s, const char *nsp)
{
    for (int i = 0; i < s->nnsps; i++)
        if (strcmp(s->nsps[i].nsp, nsp) == 0)
            return i;
    return -1;
}

/* The session holding socket `sid` (new ref) and its namespace, or NULL. */
static brk_session *find_socket(brk_state *b, const char *sid, char nsp[SIO_NSP_MAX + 1])
{
    brk_session *found = NULL;
    if (!sid || strlen(sid) > 20)
        return NULL;
    pthread_mutex_lock(&b->lock);
    for (brk_session *x = b->list; x && !found; x = x->next) {
        if (x->sio_connected && strcmp(x->sio_sid, sid) == 0) {
            strcpy(nsp, "/");
            found = x;
        }
        for (int i = 0; !found && i < x->nnsps; i++)
            if (strcmp(x->nsps[i].sid, sid) == 0) {
                strcpy(nsp, x->nsps[i].nsp);
                found = x;
            }
    }
    if (found)
        brk_session_ref(found);
    pthread_mutex_unlock(&b->lock);
    return found;
}

/* The key of a room in b->rooms: "/" rooms by their name, a namespace's
 * rooms as "<nsp>\x1f<name>" (never valid for a client's join_room). */
static int room_key(char *out, size_t size, const char *nsp, const char *room)
{
    int n = strcmp(nsp, "/") == 0 ? snprintf(out, size, "%s", room)
                                  : snprintf(out, size, "%s\x1f%s", nsp, room);
    return n > 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

static int plugin_room_valid(const char *room)
{
    size_t n = room ? strlen(room) : 0;
    if (n < 1 || n > 128)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)room[i] < 0x20 || room[i] == 0x7f)
            return 0;
    return 1;
}

/* Leave the rooms of namespace `nsp` only. Caller holds b->lock. */
void brk_rooms_leave_nsp_locked(brk_state *b, brk_session *s, const char *nsp)
{
    size_t nl = strlen(nsp);
    int root = strcmp(nsp, "/") == 0;
    for (int i = s->nrooms - 1; i >= 0; i--) {
        const char *name = s->rooms[i].r->name;
        const char *sep = strchr(name, '\x1f');
        int mine = root ? !sep : (sep && (size_t)(sep - name) == nl && !strncmp(name, nsp, nl));
        if (mine)
            brk_rooms_leave_locked(b, s, name);
    }
}

/* ---- bus events ---- */

static void publish(brk_state *b, const char *topic, json_t *payload)
{
    if (payload && vg_bus_publish_new(b->host->bus, topic, payload) < 0)
        VG_DEBUG(b->host, "%s not published (bus queue full)", topic);
}

/* The auth object as others may see it: the admin token never leaves. */
static json_t *public_auth(brk_state *b, const json_t *auth)
{
    json_t *a = json_is_object(auth) ? json_deep_copy(auth) : json_object();
    const char *token = json_string_value(json_object_get(a, "token"));
    if (token && b->host->admin_token_set(b->host) && b->host->admin_token_ok(b->host, token))
        json_object_del(a, "token");
    json_object_del(a, "pid");
    json_object_del(a, "offset");
    return a;
}

void brk_ext_connected(brk_session *s, const char *sid, const char *nsp, const json_t *auth)
{
    brk_state *b = s->b;
    if (!atomic_load(&b->ext_any))
        return;
    pthread_mutex_lock(&s->lock);
    const char *tr = s->transport == TR_WEBSOCKET ? "websocket" : "polling";
    pthread_mutex_unlock(&s->lock);
    publish(b, VG_BROKER_EV_SOCKET_CONNECTED,
            json_pack("{s:i,s:s,s:s,s:o,s:s}", VG_EVENT_V, VG_BROKER_EV_V, VG_BROKER_F_SID, sid,
                      VG_BROKER_F_NAMESPACE, nsp, VG_BROKER_F_AUTH, public_auth(b, auth),
                      VG_BROKER_F_TRANSPORT, tr));
}

void brk_ext_disconnected(brk_state *b, const char *sid, const char *nsp, const char *reason)
{
    if (!atomic_load(&b->ext_any))
        return;
    publish(b, VG_BROKER_EV_SOCKET_DISCONNECTED,
            json_pack("{s:i,s:s,s:s,s:s}", VG_EVENT_V, VG_BROKER_EV_V, VG_BROKER_F_SID, sid,
                      VG_BROKER_F_NAMESPACE, nsp, VG_BROKER_F_REASON, reason));
}

/* The sockets a terminating session had, for socket.disconnected after the
 * locks are released. Caller holds b->lock. */
json_t *brk_ext_sockets_locked(brk_session *s)
{
    if (!atomic_load(&s->b->ext_any))
        return NULL;
    json_t *a = json_array();
    if (s->sio_connected)
        json_array_append_new(a, json_pack("[ss]", s->sio_sid, "/"));
    for (int i = 0; i < s->nnsps; i++)
        json_array_append_new(a, json_pack("[ss]", s->nsps[i].sid, s->nsps[i].nsp));
    return a;
}

/* ---- namespaces of plugins: CONNECT, DISCONNECT ---- */

static void connect_error(brk_session *s, const char *nsp, const char *message, const json_t *data)
{
    json_t *e = json_pack("{s:s}", "message", message);
    if (data)
        json_object_set(e, "data", (json_t *)data);
    size_t n;
    char *text = brk_sio_encode(SIO_CONNECT_ERROR, nsp, -1, e, 1, &n);
    if (text)
        brk_session_send_text(s, text, n);
    free(text);
    json_decref(e);
}

#define MAX_NSPS_PER_SESSION 16

int brk_ext_nsp_connect(brk_session *s, const brk_sio_packet *p, int admin)
{
    brk_state *b = s->b;
    char handler[HANDLER_MAX];
    int auth = 0;
    if (!brk_ext_route(b, p->nsp, NULL, handler, sizeof handler, &auth)) {
        connect_error(s, p->nsp, "Invalid namespace", NULL);
        return 0;
    }
    char dup[21] = "";
    pthread_mutex_lock(&b->lock);
    int i = brk_nsp_index_locked(s, p->nsp), full = s->nnsps >= MAX_NSPS_PER_SESSION;
    if (i >= 0)
        memcpy(dup, s->nsps[i].sid, sizeof dup);
    pthread_mutex_unlock(&b->lock);
    if (dup[0]) {
        /* a second CONNECT to the same namespace (socket.io-client sends one
         * when connect() follows autoConnect): the same socket again */
        json_t *again = json_pack("{s:s}", "sid", dup);
        size_t n;
        char *text = brk_sio_encode(SIO_CONNECT, p->nsp, -1, again, 1, &n);
        json_decref(again);
        if (text)
            brk_session_send_text(s, text, n);
        free(text);
        return 0;
    }
    if (full) {
        connect_error(s, p->nsp, "Too many namespaces", NULL);
        return 0;
    }
    const json_t *a = p->data ? p->data : NULL;
    char sid[21]; /* chosen first: the auth hook learns the socket it admits */
    if (brk_eio_random_id(sid) < 0)
        return -EIO;
    if (auth) {
        json_t *params =
            json_pack("{s:i,s:s,s:s,s:s,s:O?,s:s,s:b}", VG_EVENT_V, VG_BROKER_EV_V, "type",
                      VG_BROKER_CALL_AUTH, VG_BROKER_F_SID, sid, VG_BROKER_F_NAMESPACE, p->nsp,
                      VG_BROKER_F_AUTH, a, "address", s->ip, "admin", admin);
        json_t *res = NULL;
        int rc = vg_bus_call(b->host->bus, handler, params, &res);
        json_decref(params);
        if (rc < 0 || !json_is_true(json_object_get(res, "accept"))) {
            const char *msg = json_string_value(json_object_get(res, "message"));
            if (rc < 0)
                VG_WARN(b->host, "namespace %s: auth handler %s failed (%d)", p->nsp, handler, rc);
            connect_error(s, p->nsp,
                          rc < 0 ? "Server error"
                          : msg  ? msg
                                 : "Not authorized",
                          rc < 0 ? NULL : json_object_get(res, "data"));
            json_decref(res);
            return 0;
        }
        json_decref(res);
    }
    pthread_mutex_lock(&b->lock);
    int rc = 0;
    if (!s->in_table) {
        rc = -EPIPE;
    } else if (s->nnsps == s->nsps_cap) {
        int cap = s->nsps_cap ? s->nsps_cap * 2 : 2;
        brk_nsp_conn *n = realloc(s->nsps, (size_t)cap * sizeof *n);
        if (!n)
            rc = -ENOMEM;
        else {
            s->nsps = n;
            s->nsps_cap = cap;
        }
    }
    if (rc == 0) {
        pthread_mutex_lock(&s->lock);
        brk_nsp_conn *c = &s->nsps[s->nnsps++];
        snprintf(c->nsp, sizeof c->nsp, "%s", p->nsp);
        memcpy(c->sid, sid, sizeof c->sid);
        pthread_mutex_unlock(&s->lock);
        brk_session_set_unconnected_locked(s, 0);
    }
    pthread_mutex_unlock(&b->lock);
    if (rc < 0) {
        /* an auth hook that admitted it may keep state for it: tell it */
        if (auth)
            brk_ext_disconnected(b, sid, p->nsp, rc == -EPIPE ? "transport close" : "server error");
        return rc == -EPIPE ? 0 : rc;
    }
    json_t *reply = json_pack("{s:s}", "sid", sid);
    size_t n;
    char *text = brk_sio_encode(SIO_CONNECT, p->nsp, -1, reply, 1, &n);
    json_decref(reply);
    if (text)
        brk_session_send_text(s, text, n);
    free(text);
    brk_ext_connected(s, sid, p->nsp, a);
    return 0;
}

/* The socket of `nsp` leaves (a client 41/nsp or broker.disconnect). */
static void nsp_leave(brk_session *s, const char *nsp, const char *reason)
{
    brk_state *b = s->b;
    char sid[21] = "";
    pthread_mutex_lock(&b->lock);
    int i = brk_nsp_index_locked(s, nsp);
    if (i >= 0) {
        brk_rooms_leave_nsp_locked(b, s, nsp);
        memcpy(sid, s->nsps[i].sid, sizeof sid);
        pthread_mutex_lock(&s->lock);
        s->nsps[i] = s->nsps[--s->nnsps];
        pthread_mutex_unlock(&s->lock);
        if (s->in_table && !s->sio_connected && s->nnsps == 0) {
            brk_session_set_unconnected_locked(s, 1);
            pthread_mutex_lock(&s->lock);
            s->opened_at = now_ms(b); /* handshake_timeout counts again */
            pthread_mutex_unlock(&s->lock);
        }
    }
    pthread_mutex_unlock(&b->lock);
    if (sid[0]) {
        brk_housekeeper_kick(b, now_ms(b) + b->cfg.handshake_timeout);
        brk_ext_disconnected(b, sid, nsp, reason);
    }
}

/* ---- client events and acks ---- */

/* A client event for a plugin: 1 when routed (answered or handed over), 0
 * when nobody registered it. `data` is [event, args...] (borrowed). */
int brk_ext_event(brk_session *s, const char *nsp, long long id, const json_t *data)
{
    brk_state *b = s->b;
    const char *event = json_string_value(json_array_get(data, 0));
    char handler[HANDLER_MAX];
    if (!event || !brk_ext_route(b, nsp, event, handler, sizeof handler, NULL))
        return 0;
    char sid[21] = "";
    pthread_mutex_lock(&b->lock);
    if (strcmp(nsp, "/") == 0) {
        memcpy(sid, s->sio_sid, sizeof sid);
    } else {
        int i = brk_nsp_index_locked(s, nsp);
        if (i >= 0)
            memcpy(sid, s->nsps[i].sid, sizeof sid);
    }
    pthread_mutex_unlock(&b->lock);
    if (!sid[0])
        return 1;
    json_t *args = json_array();
    for (size_t i = 1; i < json_array_size(data); i++)
        json_array_append(args, json_array_get(data, i));
    json_t *params = json_pack("{s:i,s:s,s:s,s:s,s:s,s:o}", VG_EVENT_V, VG_BROKER_EV_V, "type",
                               VG_BROKER_CALL_EVENT, VG_BROKER_F_SID, sid, VG_BROKER_F_NAMESPACE,
                               nsp, VG_BROKER_F_EVENT, event, VG_BROKER_F_ARGS, args);
    if (params && id >= 0) {
        char handle[48];
        snprintf(handle, sizeof handle, "%s:%lld", sid, id);
        json_object_set_new(params, VG_BROKER_F_ACK, json_string(handle));
    }
    json_t *res = NULL;
    int rc = vg_bus_call(b->host->bus, handler, params, &res);
    json_decref(params);
    if (id >= 0) {
        const json_t *ack = json_object_get(res, "ack");
        if (rc < 0) {
            json_t *err = json_pack("[O]", res);
            brk_send_args(s, SIO_ACK, nsp, id, err);
            json_decref(err);
        } else if (json_is_array(ack)) {
            brk_send_args(s, SIO_ACK, nsp, id, ack);
        }
    }
    if (rc < 0)
        VG_DEBUG(b->host, "handler %s for '%.64s' on %s failed (%d)", handler, event, nsp, rc);
    json_decref(res);
    return 1;
}

/* A client's ACK to a server event with an ack id: whoever waits gets it. */
void brk_ext_deliver_ack(brk_session *s, long long id, const json_t *data)
{
    pthread_mutex_lock(&s->lock);
    for (brk_pending_ack *a = s->acks; a; a = a->next) {
        if (a->id == id && !a->done) {
            a->result = json_incref((json_t *)data);
            a->done = 1;
            pthread_cond_broadcast(&s->cond);
            break;
        }
    }
    pthread_mutex_unlock(&s->lock); /* an ACK nobody waits for is ignored */
}

/* A packet for a namespace of a plugin. */
int brk_ext_on_nsp_packet(brk_session *s, brk_sio_packet *p)
{
    brk_state *b = s->b;
    pthread_mutex_lock(&b->lock);
    int joined = brk_nsp_index_locked(s, p->nsp) >= 0;
    pthread_mutex_unlock(&b->lock);
    if (!joined)
        return -EPROTO; /* a packet for a namespace the client has not joined */
    switch (p->type) {
    case SIO_DISCONNECT:
        nsp_leave(s, p->nsp, "client namespace disconnect");
        return 0;
    case SIO_EVENT: {
        int r = brk_socketio_rate_take(s);
        if (r < 0) {
            atomic_fetch_add(&b->dropped_rate, 1);
            brk_socketio_send_disconnect_and_close(s, "rate limit");
        } else if (r > 0) {
            brk_ext_event(s, p->nsp, p->id, p->data);
        } else if (p->id >= 0) {
            json_t *e = json_pack("[o]", vg_error_new("RATE_LIMITED",
                                                      "more than %.0f events per second "
                                                      "(rate_limit)",
                                                      b->cfg.rate_per_s));
            brk_send_args(s, SIO_ACK, p->nsp, p->id, e);
            json_decref(e);
        }
        return 0;
    }
    case SIO_ACK:
        brk_ext_deliver_ack(s, p->id, p->data);
        return 0;
    default:
        return -EPROTO;
    }
}

/* ---- methods ---- */

static brk_session *socket_arg(brk_state *b, const json_t *params, char nsp[SIO_NSP_MAX + 1],
                               json_t **result)
{
    const char *sid = json_string_value(json_object_get(params, "sid"));
    if (!sid) {
        vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT", "sid: expected a socket id");
        return NULL;
    }
    brk_session *s = find_socket(b, sid, nsp);
    if (!s)
        vg_method_fail(result, -ENOENT, "NOT_FOUND", "sid: no connected socket %.32s", sid);
    return s;
}

static int m_join_leave(const json_t *params, json_t **result, brk_state *b, int join)
{
    char nsp[SIO_NSP_MAX + 1], key[SIO_NSP_MAX + 160];
    const char *room = json_string_value(json_object_get(params, "room"));
    if (!plugin_room_valid(room))
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "room: expected 1 to 128 printable characters");
    brk_session *s = socket_arg(b, params, nsp, result);
    if (!s)
        return -ENOENT;
    room_key(key, sizeof key, nsp, room);
    int rc = brk_rooms_change(b, s, key, join);
    brk_session_unref(s);
    if (join && rc == -E2BIG)
        return vg_method_fail(result, rc, "TOO_MANY_ROOMS",
                              "room: at most %lld rooms per client (max_rooms_per_client)",
                              b->cfg.max_rooms);
    if (join && rc < 0 && rc != -EEXIST)
        return vg_method_fail(result, rc, "INTERNAL", "room: could not join (%d)", rc);
    *result = json_pack("{s:s,s:b}", "room", room, join ? "joined" : "left",
                        join ? rc == 0 || rc == -EEXIST : rc == 0);
    return 0;
}

static int m_join(const json_t *params, json_t **result, void *user)
{
    return m_join_leave(params, result, user, 1);
}

static int m_leave(const json_t *params, json_t **result, void *user)
{
    return m_join_leave(params, result, user, 0);
}

static int m_ack(const json_t *params, json_t **result, void *user)
{
    brk_state *b = user;
    const char *h = json_string_value(json_object_get(params, "ack"));
    const json_t *args = json_object_get(params, "args");
    const char *colon = h ? strchr(h, ':') : NULL;
    if (!colon || colon == h || colon - h > 20 || !colon[1])
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "ack: expected the handle of a client event (\"<sid>:<id>\")");
    if (args && !json_is_array(args))
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT", "args: expected an array");
    char sid[21], nsp[SIO_NSP_MAX + 1];
    memcpy(sid, h, (size_t)(colon - h));
    sid[colon - h] = '\0';
    char *end;
    long long id = strtoll(colon + 1, &end, 10);
    if (*end || id < 0)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT", "ack: bad id");
    json_t *p = json_pack("{s:s}", "sid", sid);
    brk_session *s = socket_arg(b, p, nsp, result);
    json_decref(p);
    if (!s)
        return -ENOENT;
    json_t *empty = json_array();
    int rc = brk_send_args(s, SIO_ACK, nsp, id, args ? args : empty);
    json_decref(empty);
    brk_session_unref(s);
    if (rc == -EINVAL)
        return vg_method_fail(result, rc, "INVALID_ARGUMENT",
                              "args: a _binary value is not "
                              "valid base64");
    if (rc < 0)
        return vg_method_fail(result, rc, "UNAVAILABLE", "could not queue the ack (%d)", rc);
    *result = json_pack("{s:b}", "sent", 1);
    return 0;
}

static int m_disconnect(const json_t *params, json_t **result, void *user)
{
    brk_state *b = user;
    char nsp[SIO_NSP_MAX + 1];
    brk_session *s = socket_arg(b, params, nsp, result);
    if (!s)
        return -ENOENT;
    if (strcmp(nsp, "/") == 0) {
        brk_socketio_send_disconnect_and_close(s, "server namespace disconnect");
    } else {
        size_t n;
        char *text = brk_sio_encode(SIO_DISCONNECT, nsp, -1, NULL, 1, &n);
        if (text)
            brk_session_send_text(s, text, n);
        free(text);
        nsp_leave(s, nsp, "server namespace disconnect");
    }
    brk_session_unref(s);
    *result = json_pack("{s:b}", "disconnected", 1);
    return 0;
}

/* ---- broker.emit ---- */

typedef struct target {
    brk_session *s;
    char sid[21];
    brk_pending_ack ack;
} target;

typedef struct targets {
    target *v;
    size_t n, cap;
} targets;

static int targets_add(targets *t, brk_session *s, const char *sid)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        target *v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        t->v = v;
        t->cap = cap;
    }
    memset(&t->v[t->n], 0, sizeof t->v[t->n]);
    t->v[t->n].s = s;
    brk_session_ref(s);
    memcpy(t->v[t->n].sid, sid, 21);
    t->n++;
    return 0;
}

/* The sockets of `nsp` in `room` (NULL: the whole namespace). */
static int collect(brk_state *b, const char *nsp, const char *room, targets *t)
{
    int root = strcmp(nsp, "/") == 0, rc = 0;
    pthread_mutex_lock(&b->lock);
    if (room) {
        char key[SIO_NSP_MAX + 160];
        room_key(key, sizeof key, nsp, room);
        brk_room *r = brk_smap_get(&b->rooms, key);
        for (size_t k = 0; r && k < r->n && rc == 0; k++) {
            brk_session *s = r->members[k];
            int i = root ? -1 : brk_nsp_index_locked(s, nsp);
            if (root ? s->sio_connected : i >= 0)
                rc = targets_add(t, s, root ? s->sio_sid : s->nsps[i].sid);
        }
    } else {
        for (brk_session *s = b->list; s && rc == 0; s = s->next) {
            int i = root ? -1 : brk_nsp_index_locked(s, nsp);
            if (root ? s->sio_connected : i >= 0)
                rc = targets_add(t, s, root ? s->sio_sid : s->nsps[i].sid);
        }
    }
    pthread_mutex_unlock(&b->lock);
    return rc;
}

/* With acks: every target gets its own ack id, then all are waited for
 * until one common deadline. */
static int emit_with_acks(const char *nsp, targets *t, const json_t *args, int64_t timeout_ms,
                          json_t **result)
{
    for (size_t i = 0; i < t->n; i++) {
        brk_session *s = t->v[i].s;
        pthread_mutex_lock(&s->lock);
        t->v[i].ack.id = s->next_ack_id++;
        t->v[i].ack.next = s->acks;
        s->acks = &t->v[i].ack;
        pthread_mutex_unlock(&s->lock);
        if (brk_send_args(s, SIO_EVENT, nsp, t->v[i].ack.id, args) < 0) {
            pthread_mutex_lock(&s->lock);
            t->v[i].ack.done = -1; /* not sent: reported missing */
            pthread_mutex_unlock(&s->lock);
        }
    }
    struct timespec deadline;
    brk_deadline_after(&deadline, timeout_ms);
    json_t *acks = json_array(), *missing = json_array();
    for (size_t i = 0; i < t->n; i++) {
        brk_session *s = t->v[i].s;
        brk_pending_ack *a = &t->v[i].ack;
        pthread_mutex_lock(&s->lock);
        while (!a->done && !s->closed)
            if (pthread_cond_timedwait(&s->cond, &s->lock, &deadline) == ETIMEDOUT)
                break;
        for (brk_pending_ack **pp = &s->acks; *pp; pp = &(*pp)->next)
            if (*pp == a) {
                *pp = a->next;
                break;
            }
        pthread_mutex_unlock(&s->lock);
        if (a->done == 1)
            json_array_append_new(acks, json_pack("{s:s,s:o}", "sid", t->v[i].sid, "args",
                                                  a->result ? a->result : json_array()));
        else
            json_array_append_new(missing, json_string(t->v[i].sid));
    }
    *result = json_pack("{s:o,s:o}", "acks", acks, "missing", missing);
    return 0;
}

static int m_emit(const json_t *params, json_t **result, void *user)
{
    brk_state *b = user;
    const char *nsp = json_string_value(json_object_get(params, "namespace"));
    const char *event = json_string_value(json_object_get(params, "event"));
    const json_t *args = json_object_get(params, "args");
    const json_t *to = json_object_get(params, "to");
    const json_t *t = json_object_get(params, "timeout_ms");
    int want_ack = json_is_true(json_object_get(params, "ack"));
    if (brk_param_event(event, result) < 0)
        return -EINVAL;
    if (args && !json_is_array(args))
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT", "args: expected an array");
    if (to && !json_is_object(to))
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "to: expected {sid}, {room} or {} (the whole namespace)");
    json_int_t timeout;
    if (brk_param_timeout(t, &timeout, result) < 0)
        return -EINVAL;
    const char *sid = json_string_value(json_object_get(to, "sid"));
    const char *room = json_string_value(json_object_get(to, "room"));
    if (room && !plugin_room_valid(room))
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "to.room: expected 1 to 128 printable characters");
    char snsp[SIO_NSP_MAX + 1];
    targets tg = {0};
    int rc = 0;
    if (sid) {
        brk_session *s = socket_arg(b, to, snsp, result);
        if (!s)
            return -ENOENT;
        nsp = snsp;
        rc = targets_add(&tg, s, sid);
        brk_session_unref(s);
    } else {
        if (!nsp)
            nsp = "/";
        if (!nsp_valid(nsp))
            return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                                  "namespace: expected \"/\" or \"/<name>\"");
        rc = collect(b, nsp, room, &tg);
    }
    json_t *all = json_pack("[s]", event);
    size_t k;
    json_t *v;
    json_array_foreach (args, k, v)
        json_array_append(all, v);
    if (rc == 0 && want_ack) {
        rc = emit_with_acks(nsp, &tg, all, timeout, result);
    } else if (rc == 0) {
        /* built once for every recipient, like a broadcast */
        brk_packet p;
        uint64_t seq = 0;
        rc = brk_packet_build(b, SIO_EVENT, nsp, -1, all, &p, &seq);
        size_t sent = 0;
        if (rc == 0 && seq && p.n == 1 && !sid) {
            const char *rooms[2] = {room, NULL};
            pthread_mutex_lock(&b->lock);
            brk_recovery_log_append_locked(b, seq, p.m[0], room ? rooms : NULL);
            pthread_mutex_unlock(&b->lock);
        }
        for (size_t i = 0; rc == 0 && i < tg.n; i++)
            if (brk_session_send_packet(tg.v[i].s, &p) == 0)
                sent++;
        if (rc == 0) {
            brk_packet_free(&p);
            *result = json_pack("{s:I}", "sent", (json_int_t)sent);
        }
    }
    json_decref(all);
    for (size_t i = 0; i < tg.n; i++)
        brk_session_unref(tg.v[i].s);
    free(tg.v);
    if (rc == -EINVAL)
        return vg_method_fail(result, rc, "INVALID_ARGUMENT",
                              "args: a _binary value is not valid base64");
    if (rc < 0)
        return vg_method_fail(result, rc, "INTERNAL", "out of memory");
    return 0;
}

int brk_ext_setup(brk_state *b)
{
    static const struct {
        const char *name;
        vg_method_cb cb;
    } m[] = {
        {VG_BROKER_M_REGISTER, m_register}, {VG_BROKER_M_EMIT, m_emit},
        {VG_BROKER_M_ACK, m_ack},           {VG_BROKER_M_JOIN, m_join},
        {VG_BROKER_M_LEAVE, m_leave},       {VG_BROKER_M_DISCONNECT, m_disconnect},
    };
    if (!(b->exts = calloc(EXT_MAX, sizeof *b->exts)))
        return b->host->fail(b->host, "out of memory");
    for (size_t i = 0; i < sizeof m / sizeof *m; i++) {
        int rc = vg_bus_register_method(b->host->bus, m[i].name, m[i].cb, b, NULL);
        if (rc < 0)
            return b->host->fail(b->host, "cannot register %s: %d", m[i].name, rc);
    }
    return 0;
}
