/* The admin view (read-only): what the socket.io Admin UI shows its users.
 * broker.admin on the bus, GET /api/broker/admin over HTTP (admin token;
 * without one configured, this machine only). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <vigia/contract/broker.h>

#include "broker.h"

#define SLOWEST 10

/* Messages per second over the last full second (the housekeeper wakes at
 * least once a second). */
void brk_admin_sample(brk_state *b, int64_t now)
{
    pthread_mutex_lock(&b->stats_lock);
    int64_t dt = now - b->rate_at;
    if (b->rate_at == 0 || dt >= 1000) {
        long in = atomic_load(&b->messages_in), out = atomic_load(&b->messages_out);
        if (b->rate_at) {
            b->in_per_s = (double)(in - b->rate_in) * 1000.0 / (double)dt;
            b->out_per_s = (double)(out - b->rate_out) * 1000.0 / (double)dt;
        }
        b->rate_at = now;
        b->rate_in = in;
        b->rate_out = out;
    }
    pthread_mutex_unlock(&b->stats_lock);
}

typedef struct slow {
    const brk_session *s;
    size_t len, bytes;
    int transport;
} slow;

json_t *brk_admin(brk_state *b)
{
    json_t *nsps = json_object(), *rooms = json_array(), *slowest = json_array();
    slow top[SLOWEST];
    int ntop = 0;
    long long main_sockets = 0;
    pthread_mutex_lock(&b->lock);
    long long total = (long long)b->sessions.count;
    for (brk_session *s = b->list; s; s = s->next) {
        main_sockets += s->sio_connected != 0;
        for (int i = 0; i < s->nnsps; i++) {
            json_t *n = json_object_get(nsps, s->nsps[i].nsp);
            json_object_set_new(nsps, s->nsps[i].nsp,
                                json_integer(n ? json_integer_value(n) + 1 : 1));
        }
        pthread_mutex_lock(&s->lock);
        slow x = {s, s->q_len, s->q_bytes, s->transport};
        pthread_mutex_unlock(&s->lock);
        if (x.len == 0)
            continue;
        /* insertion into the top SLOWEST by queued messages */
        if (ntop == SLOWEST && top[SLOWEST - 1].len >= x.len)
            continue; /* not slower than the fastest of the top */
        int k = ntop < SLOWEST ? ntop++ : SLOWEST - 1;
        while (k > 0 && top[k - 1].len < x.len) {
            top[k] = top[k - 1];
            k--;
        }
        top[k] = x;
    }
    for (int i = 0; i < ntop; i++) {
        const brk_session *s = top[i].s;
        json_array_append_new(
            slowest,
            json_pack("{s:s,s:s,s:s,s:I,s:I}", "sid", s->sio_connected ? s->sio_sid : "", "session",
                      s->sid, "transport",
                      top[i].transport == TR_WEBSOCKET ? "websocket" : "polling", "backlog",
                      (json_int_t)top[i].len, "backlog_bytes", (json_int_t)top[i].bytes));
    }
    json_t *rs = brk_rooms_status_locked(b);
    pthread_mutex_unlock(&b->lock);
    size_t k;
    json_t *r;
    json_array_foreach (rs, k, r) {
        /* a plugin namespace's rooms are "<nsp>\x1f<name>" inside */
        const char *name = json_string_value(json_object_get(r, "name"));
        const char *sep = name ? strchr(name, '\x1f') : NULL;
        json_t *nsp = sep ? json_stringn(name, (size_t)(sep - name)) : json_string("/");
        json_array_append_new(rooms, json_pack("{s:o,s:s,s:O}", "namespace", nsp, "name",
                                               sep ? sep + 1 : name, "members",
                                               json_object_get(r, "members")));
    }
    json_decref(rs);
    json_t *nlist = json_array();
    json_array_append_new(nlist, json_pack("{s:s,s:I,s:s}", "name", "/", "sockets",
                                           (json_int_t)main_sockets, "owner", "broker"));
    const char *name;
    json_t *v;
    json_object_foreach (nsps, name, v) {
        char handler[128] = "";
        brk_ext_route(b, name, NULL, handler, sizeof handler, NULL);
        json_array_append_new(
            nlist, json_pack("{s:s,s:O,s:s}", "name", name, "sockets", v, "owner", handler));
    }
    json_decref(nsps);
    pthread_mutex_lock(&b->stats_lock);
    double in_s = b->in_per_s, out_s = b->out_per_s;
    pthread_mutex_unlock(&b->stats_lock);
    return json_pack("{s:{s:I,s:I,s:I},s:o,s:o,s:{s:I,s:I,s:f,s:f},s:{s:I,s:I,s:I,s:I},s:o}",
                     "sockets", "total", (json_int_t)total, "websocket",
                     (json_int_t)atomic_load(&b->n_websocket), "polling",
                     (json_int_t)atomic_load(&b->n_polling), "namespaces", nlist, "rooms", rooms,
                     "messages", "in", (json_int_t)atomic_load(&b->messages_in), "out",
                     (json_int_t)atomic_load(&b->messages_out), "in_per_s", in_s, "out_per_s",
                     out_s, "dropped", "backlog", (json_int_t)atomic_load(&b->dropped_backlog),
                     "rate_limit", (json_int_t)atomic_load(&b->dropped_rate), "protocol",
                     (json_int_t)atomic_load(&b->dropped_protocol), "write",
                     (json_int_t)atomic_load(&b->dropped_write), "slowest", slowest);
}

static int m_admin(const json_t *params, json_t **result, void *user)
{
    (void)params;
    *result = brk_admin(user);
    return *result ? 0 : vg_method_fail(result, -ENOMEM, "INTERNAL", "out of memory");
}

static int h_admin(vg_http_request *req, void *user)
{
    brk_state *b = user;
    const vg_host *h = b->host;
    if (vg_http_require_admin(req) < 0)
        return 0; /* answered 401 */
    if (!h->admin_token_set(h) &&
        h->struct_size >= offsetof(vg_host, peer_is_loopback) + sizeof h->peer_is_loopback &&
        !h->peer_is_loopback(h, vg_http_remote_addr(req)))
        return vg_http_reply_error(req, 403, "FORBIDDEN",
                                   "the broker admin view without [server] admin_token is "
                                   "served to this machine only");
    json_t *a = brk_admin(b);
    char *body = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    if (!body)
        return vg_http_reply_error(req, 500, "INTERNAL", "out of memory");
    vg_http_set_header(req, "Cache-Control", "no-store");
    int rc = vg_http_reply(req, 200, "application/json", body, strlen(body));
    free(body);
    return rc;
}

int brk_admin_setup(brk_state *b)
{
    const vg_host *h = b->host;
    int rc = vg_bus_register_method(h->bus, VG_BROKER_M_ADMIN, m_admin, b, NULL);
    if (rc == 0)
        rc = h->http_route(h, "GET", "/api/broker/admin", h_admin, b, NULL);
    if (rc < 0)
        return h->fail(h, "cannot register the admin view: %d", rc);
    return 0;
}
