/* The WebSocket transport: WebSocket-only sessions and the upgrade probe of
 * polling sessions (2probe / 3probe / 5). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

/* An HTTP answer to a refused upgrade (the core sends it raw, with
 * Connection: close, since civetweb has no response API for upgrades). */
static void refuse_status(vg_http_request *req, int status, const char *retry_after,
                          const char *body, size_t len)
{
    if (retry_after)
        vg_http_set_header(req, "Retry-After", retry_after);
    vg_http_reply(req, status, "application/json", body, len);
}

static int refuse(vg_http_request *req, int code)
{
    char body[96];
    int n = brk_eio_error_body(body, sizeof body, code);
    int status = brk_eio_error_status(code);
    refuse_status(req, status, NULL, body, (size_t)n);
    return 1;
}

static int ws_connect(vg_http_request *req, void *user)
{
    brk_state *b = user;
    char transport[16], eio[8], sid[32];
    if (vg_http_query(req, "transport", transport, sizeof transport) < 0 ||
        strcmp(transport, "websocket") != 0)
        return refuse(req, EIO_ERR_BAD_REQUEST);
    if (!brk_origin_allowed(b, vg_http_header(req, "Origin"), vg_http_header(req, "Host")))
        return refuse(req, EIO_ERR_FORBIDDEN);
    int qr = vg_http_query(req, "sid", sid, sizeof sid);
    if (qr < 0 && qr != -ENOENT)
        return refuse(req, EIO_ERR_UNKNOWN_SID);
    int has_sid = qr >= 0;
    if (has_sid) {
        brk_session *s = brk_session_find(b, sid);
        if (!s)
            return refuse(req, EIO_ERR_UNKNOWN_SID);
        /* A session that upgraded already (or is upgrading): the WebSocket
         * is accepted and closed at once in ws_ready, as the reference
         * server does, so clients see a close rather than an HTTP error. */
        brk_session_unref(s);
    } else if (vg_http_query(req, "EIO", eio, sizeof eio) < 0 || strcmp(eio, "4") != 0) {
        return refuse(req, EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION);
    }
    /* Admission: every WebSocket pins a civetweb worker for its whole life.
     * The worker is taken here (atomically) and kept by ws_ready: civetweb
     * calls ready for every connection this accepts (the core never skips
     * it), which releases it when no session takes it over. */
    int full = 0, pending = 0;
    if (!has_sid) {
        int rc = brk_session_admissible(b, vg_http_remote_addr(req));
        full = rc == -EBUSY;
        pending = rc == -EAGAIN;
    }
    if (!full && !pending && !brk_worker_take(b, 0))
        full = 1;
    if (full) {
        static const char body[] = "{\"code\":3,\"message\":\"Server full\"}";
        refuse_status(req, 503, "5", body, sizeof body - 1);
        return 1;
    }
    if (pending) {
        static const char body[] = "{\"code\":3,\"message\":\"Too many pending handshakes\"}";
        refuse_status(req, 503, "2", body, sizeof body - 1);
        return 1;
    }
    return 0;
}

/* Close a WebSocket refused in ws_ready. Not from inside ready itself: a
 * connection closed in civetweb's ready callback never gets its close
 * callback, so the core's record of it would leak; the housekeeper closes
 * it a moment later from its own thread. */
void brk_ws_reject(brk_state *b, vg_ws_conn *c, int code, const char *reason)
{
    brk_ws_reject_t *r = calloc(1, sizeof *r);
    if (!r) {
        vg_ws_close(c, code, reason); /* out of memory: close now (and leak a little) */
        return;
    }
    vg_ws_ref(c);
    r->c = c;
    r->code = code;
    r->reason = reason;
    pthread_mutex_lock(&b->hk_lock);
    r->next = b->rejects;
    b->rejects = r;
    pthread_mutex_unlock(&b->hk_lock);
    brk_housekeeper_kick(b, now_ms(b));
}

void brk_ws_rejects_close(brk_state *b, int close)
{
    pthread_mutex_lock(&b->hk_lock);
    brk_ws_reject_t *r = b->rejects;
    b->rejects = NULL;
    pthread_mutex_unlock(&b->hk_lock);
    while (r) {
        brk_ws_reject_t *next = r->next;
        if (close)
            vg_ws_close(r->c, r->code, r->reason);
        vg_ws_unref(r->c);
        free(r);
        r = next;
    }
}

static void ws_ready(vg_ws_conn *c, void *user)
{
    brk_state *b = user;
    char sid[32];
    /* ws_connect took a worker slot; a connection left without a session
     * (user NULL) gives it back here, the others in ws_closed. */
    if (vg_ws_query(c, "sid", sid, sizeof sid) >= 0) {
        brk_session *s = brk_session_find(b, sid);
        if (!s) {
            if (!brk_ws_is_lws(c))
                brk_worker_release(b);
            brk_ws_reject(b, c, 1000, "Session ID unknown");
            return;
        }
        pthread_mutex_lock(&s->lock);
        int bad = s->transport != TR_POLLING || s->probe || s->closed;
        if (!bad) {
            vg_ws_ref(c);
            s->probe = c;
            s->probe_at = now_ms(b);
        }
        pthread_mutex_unlock(&s->lock);
        if (!bad)
            brk_housekeeper_kick(b, s->probe_at + b->cfg.upgrade_timeout);
        if (bad) {
            brk_session_unref(s);
            if (!brk_ws_is_lws(c))
                brk_worker_release(b);
            brk_ws_reject(b, c, 1000, "Bad request");
            return;
        }
        vg_ws_set_user(c, s); /* keeps the reference from brk_session_find */
        return;
    }
    int err;
    brk_session *s = brk_session_new(b, TR_WEBSOCKET, vg_ws_remote_addr(c), &err);
    if (!s) {
        if (!brk_ws_is_lws(c))
            brk_worker_release(b);
        brk_ws_reject(b, c, 1013, err == -EAGAIN ? "Too many pending handshakes" : "Server full");
        return;
    }
    brk_msg *open = brk_engine_open_msg(b, s->sid, 0);
    pthread_mutex_lock(&s->lock);
    vg_ws_ref(c);
    s->ws = c;
    if (open)
        brk_session_enqueue_locked(s, open);
    pthread_mutex_unlock(&s->lock);
    brk_msg_unref(open);
    vg_ws_set_user(c, s); /* keeps the caller's reference */
    if (!open)
        brk_session_terminate(s, "out of memory", TERM_CLOSE_WS);
}

static int probe_message(brk_session *s, vg_ws_conn *c, const brk_eio_packet *p)
{
    brk_state *b = s->b;
    if (p->type == EIO_PING && p->len == 5 && memcmp(p->data, "probe", 5) == 0) {
        if (vg_ws_send(c, VG_WS_TEXT, "3probe", 6) < 0)
            return 0;
        pthread_mutex_lock(&s->lock);
        s->upgrading = 1;
        pthread_cond_broadcast(&s->cond); /* a pending GET answers noop */
        pthread_mutex_unlock(&s->lock);
        return 1;
    }
    if (p->type == EIO_UPGRADE) {
        pthread_mutex_lock(&s->lock);
        if (s->closed || s->probe != c || !s->upgrading) {
            pthread_mutex_unlock(&s->lock);
            return 0;
        }
        s->transport = TR_WEBSOCKET;
        s->ws = c; /* the probe's reference moves over */
        s->probe = NULL;
        s->upgrading = 0;
        s->probe_at = 0;
        pthread_cond_broadcast(&s->cond);
        if (s->q_len)
            brk_session_schedule_locked(s);
        pthread_mutex_unlock(&s->lock);
        atomic_fetch_sub(&b->n_polling, 1);
        atomic_fetch_add(&b->n_websocket, 1);
        return 1;
    }
    return 0; /* anything else on a probe aborts the upgrade */
}

static int ws_message(vg_ws_conn *c, int opcode, const char *data, size_t len, void *user)
{
    brk_state *b = user;
    brk_session *s = vg_ws_get_user(c);
    if (!s)
        return 0;
    pthread_mutex_lock(&s->lock);
    int is_probe = s->probe == c;
    int is_current = s->ws == c && !s->closed;
    /* Closed by the server with a last packet (41) still to flush: ignore
     * input until the sender has written it and closed. */
    int closing = s->ws == c && s->closed && s->ws_close_pending;
    pthread_mutex_unlock(&s->lock);
    if (closing)
        return 1;
    if (!is_probe && !is_current)
        return 0;
    if (opcode == VG_WS_BINARY) {
        if (is_probe)
            return 0;
        atomic_fetch_add_explicit(&b->messages_in, 1, memory_order_relaxed);
        if (brk_engine_on_binary(s, (const unsigned char *)data, len) == 0)
            return 1;
        atomic_fetch_add(&b->dropped_protocol, 1);
        brk_session_terminate(s, "unexpected binary message", 0);
        return 0;
    }
    brk_eio_packet p;
    if (brk_eio_decode(data, len, &p) < 0) {
        if (is_probe)
            return 0;
        atomic_fetch_add(&b->dropped_protocol, 1);
        brk_session_terminate(s, "parse error", 0);
        return 0;
    }
    if (is_probe)
        return probe_message(s, c, &p);
    if (brk_engine_on_packet(s, &p) < 0) {
        atomic_fetch_add(&b->dropped_protocol, 1);
        brk_session_terminate(s, "protocol error", 0);
        return 0;
    }
    /* When the server closed the session with packets still to flush (41),
     * the sender writes them and closes; closing here would race it. */
    pthread_mutex_lock(&s->lock);
    int keep = !s->closed || s->ws_close_pending;
    pthread_mutex_unlock(&s->lock);
    return keep ? 1 : 0;
}

static void ws_closed(vg_ws_conn *c, void *user)
{
    brk_state *b = user;
    brk_session *s = vg_ws_get_user(c);
    if (!s)
        return;
    if (!brk_ws_is_lws(c)) /* civetweb pins a worker per WebSocket, lws none */
        brk_worker_release(b);
    vg_ws_set_user(c, NULL);
    int was_current = 0;
    pthread_mutex_lock(&s->lock);
    if (s->probe == c) {
        s->probe = NULL;
        s->upgrading = 0;
        s->probe_at = 0;
        vg_ws_unref(c);
        pthread_cond_broadcast(&s->cond);
    } else if (s->ws == c) {
        was_current = 1;
        s->ws = NULL;
        vg_ws_unref(c);
    }
    pthread_mutex_unlock(&s->lock);
    if (was_current)
        brk_session_terminate(s, "transport close", TERM_RECOVERABLE);
    brk_session_unref(s);
}

void brk_websocket_handlers(vg_ws_handlers *h, size_t max_message)
{
    memset(h, 0, sizeof *h);
    h->connect = ws_connect;
    h->ready = ws_ready;
    h->message = ws_message;
    h->closed = ws_closed;
    h->max_message = max_message;
}
