/* The HTTP long-polling transport at /socket.io/: handshake, GET (blocking
 * with a bounded wait), POST (\x1e-joined packets), CORS. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "broker.h"

static int reply_eio_error(vg_http_request *req, int code)
{
    char body[96];
    int n = brk_eio_error_body(body, sizeof body, code);
    return vg_http_reply(req, brk_eio_error_status(code), "application/json", body, (size_t)n);
}

static void cors_headers(vg_http_request *req, const char *origin)
{
    if (!origin || !*origin)
        return;
    vg_http_set_header(req, "Access-Control-Allow-Origin", origin);
    vg_http_set_header(req, "Vary", "Origin");
    vg_http_set_header(req, "Access-Control-Allow-Credentials", "true");
}

/* ---- shared with the lws transport (transport_lws.c) ---- */

const char *brk_poll_busy_body(int err, const char **retry_after)
{
    *retry_after = err == -EAGAIN ? "2" : "5";
    /* too many sessions that have not connected a namespace (from this
     * address or in all): they time out after handshake_timeout */
    return err == -EAGAIN ? "{\"code\":3,\"message\":\"Too many pending handshakes\"}"
                          : "{\"code\":3,\"message\":\"Server full\"}";
}

brk_session *brk_poll_handshake(brk_state *b, const char *ip, char *body, size_t size, int *n,
                                int *err)
{
    brk_session *s = brk_session_new(b, TR_POLLING, ip, err);
    if (!s)
        return NULL;
    *n = brk_eio_open_packet(body, size, s->sid, 1, b->cfg.ping_interval, b->cfg.ping_timeout,
                             b->cfg.max_payload);
    return s;
}

int brk_poll_timed_out(brk_session *s)
{
    brk_state *b = s->b;
    /* A request racing the housekeeper at the pong deadline: the session is
     * already over (interval + timeout without a pong), whoever runs first. */
    pthread_mutex_lock(&s->lock);
    int64_t now = now_ms(b);
    int timed_out =
        s->pong_deadline ? now >= s->pong_deadline : now >= s->next_ping_at + b->cfg.ping_timeout;
    pthread_mutex_unlock(&s->lock);
    if (timed_out)
        brk_session_terminate(s, "ping timeout", TERM_RECOVERABLE);
    return timed_out;
}

char *brk_poll_collect_locked(brk_session *s, size_t *len)
{
    brk_state *b = s->b;
    /* the whole queue joined by \x1e (unless the WebSocket took over) */
    int mine = s->transport == TR_POLLING;
    size_t total = 0;
    for (size_t i = 0; mine && i < s->q_len; i++) {
        const brk_msg *m = s->q[(s->q_head + i) % s->q_cap];
        total += (m->binary ? 2 + (m->text_len + 2) / 3 * 4 : m->text_len) + 1;
    }
    char *body = malloc(total + 4);
    size_t n = 0;
    if (!body)
        return NULL;
    while (mine && s->q_len) {
        brk_msg *m = s->q[s->q_head];
        s->q_head = (s->q_head + 1) % s->q_cap;
        s->q_len--;
        s->q_bytes -= m->text_len;
        if (n)
            body[n++] = EIO_SEPARATOR;
        if (m->binary) { /* an attachment: "b" + base64 on polling */
            body[n++] = 'b';
            n += brk_b64_encode((const unsigned char *)m->text, m->text_len, body + n);
        } else {
            memcpy(body + n, m->text, m->text_len);
            n += m->text_len;
        }
        brk_msg_unref(m);
        atomic_fetch_add_explicit(&b->messages_out, 1, memory_order_relaxed);
    }
    if (s->closed) {
        if (n)
            body[n++] = EIO_SEPARATOR;
        body[n++] = s->close_reply ? s->close_reply : '1';
    } else if (n == 0) {
        body[n++] = '6'; /* noop: upgrade in progress, timeout or stop */
    }
    *len = n;
    return body;
}

int brk_poll_post(brk_session *s, const char *data, size_t len)
{
    brk_state *b = s->b;
    pthread_mutex_lock(&s->lock);
    int bad = s->transport != TR_POLLING || s->post_active || s->closed;
    int overlap = s->post_active;
    if (!bad)
        s->post_active = 1;
    pthread_mutex_unlock(&s->lock);
    if (bad) {
        if (overlap)
            brk_session_terminate(s, "overlapping POST", 0);
        return EIO_ERR_BAD_REQUEST;
    }
    size_t pos = 0;
    brk_eio_packet p;
    int err = 0, rc;
    while ((rc = brk_eio_payload_next(data, len, &pos, &p)) == 1) {
        if (brk_engine_on_packet(s, &p) < 0) {
            err = 1;
            break;
        }
    }
    if (rc < 0)
        err = 1;
    pthread_mutex_lock(&s->lock);
    s->post_active = 0;
    pthread_mutex_unlock(&s->lock);
    if (err) {
        atomic_fetch_add(&b->dropped_protocol, 1);
        brk_session_terminate(s, "parse error", 0);
        return EIO_ERR_BAD_REQUEST;
    }
    return -1;
}

/* ---- civetweb: blocking handlers on its worker threads ---- */

static int reply_busy(vg_http_request *req, int err)
{
    const char *retry, *body = brk_poll_busy_body(err, &retry);
    vg_http_set_header(req, "Retry-After", retry);
    return vg_http_reply(req, 503, "application/json", body, strlen(body));
}

static int handshake(brk_state *b, vg_http_request *req)
{
    char eio[8];
    if (strcmp(vg_http_method(req), "GET") != 0)
        return reply_eio_error(req, EIO_ERR_BAD_HANDSHAKE_METHOD);
    if (vg_http_query(req, "EIO", eio, sizeof eio) < 0 || strcmp(eio, "4") != 0)
        return reply_eio_error(req, EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION);
    int err, n = 0;
    char body[256];
    brk_session *s = brk_poll_handshake(b, vg_http_remote_addr(req), body, sizeof body, &n, &err);
    if (!s)
        return reply_busy(req, err);
    brk_session_unref(s);
    vg_http_set_header(req, "Cache-Control", "no-store");
    return vg_http_reply(req, 200, "text/plain; charset=UTF-8", body, (size_t)n);
}

static int poll_get(brk_state *b, brk_session *s, vg_http_request *req)
{
    pthread_mutex_lock(&s->lock);
    if (s->transport != TR_POLLING) {
        pthread_mutex_unlock(&s->lock);
        return reply_eio_error(req, EIO_ERR_BAD_REQUEST);
    }
    if (s->poll_pending) {
        /* Overlapping GET: 400 here, "1" to the first one, session closed. */
        pthread_mutex_unlock(&s->lock);
        brk_session_terminate(s, "overlapping GET", 0);
        return reply_eio_error(req, EIO_ERR_BAD_REQUEST);
    }
    if (s->upgrading && !s->poll_pending) {
        /* A new GET while "5" may be on its way on the probe (a client that
         * sent "2probe" and "5" at once): wait for the upgrade to settle;
         * once it is done this sid takes no more polls. */
        struct timespec until;
        brk_deadline_after(&until, 1000);
        while (s->upgrading && s->transport == TR_POLLING && !s->closed)
            if (pthread_cond_timedwait(&s->cond, &s->lock, &until) == ETIMEDOUT)
                break;
        if (s->transport != TR_POLLING) {
            pthread_mutex_unlock(&s->lock);
            return reply_eio_error(req, EIO_ERR_BAD_REQUEST);
        }
    }
    int would_wait = s->q_len == 0 && !s->closed && !s->upgrading;
    if (would_wait && !brk_worker_take(b, 1)) {
        /* Waiting would pin one more worker thread than the reserve allows. */
        pthread_mutex_unlock(&s->lock);
        return reply_busy(req, -EBUSY);
    }
    if (!would_wait)
        atomic_fetch_add(&b->held, 1); /* answers at once: no admission */
    s->poll_pending = 1;
    /* Bounded: a ping is due within ping_interval anyway. */
    struct timespec deadline;
    brk_deadline_after(&deadline, b->cfg.ping_interval + 1000);
    while (s->q_len == 0 && !s->closed && !s->upgrading && s->transport == TR_POLLING &&
           !atomic_load(&b->stopping)) {
        if (pthread_cond_timedwait(&s->cond, &s->lock, &deadline) == ETIMEDOUT)
            break;
    }
    size_t n = 0;
    char *body = brk_poll_collect_locked(s, &n);
    s->poll_pending = 0;
    brk_worker_release(b);
    pthread_mutex_unlock(&s->lock);
    if (!body)
        return -ENOMEM;
    vg_http_set_header(req, "Cache-Control", "no-store");
    int rc = vg_http_reply(req, 200, "text/plain; charset=UTF-8", body, n);
    free(body);
    return rc;
}

static int poll_post(brk_state *b, brk_session *s, vg_http_request *req)
{
    const char *ct = vg_http_header(req, "Content-Type");
    if (ct && strncasecmp(ct, "application/octet-stream", 24) == 0)
        return reply_eio_error(req, EIO_ERR_BAD_REQUEST);
    const char *data;
    size_t len;
    int rc = vg_http_body(req, (size_t)b->cfg.max_payload, &data, &len);
    if (rc == -E2BIG) {
        static const char msg[] = "{\"code\":3,\"message\":\"Payload too large\"}";
        return vg_http_reply(req, 413, "application/json", msg, sizeof msg - 1);
    }
    if (rc < 0)
        return reply_eio_error(req, EIO_ERR_BAD_REQUEST);
    int code = brk_poll_post(s, data, len);
    if (code >= 0)
        return reply_eio_error(req, code);
    vg_http_set_header(req, "Cache-Control", "no-store");
    return vg_http_reply(req, 200, "text/html", "ok", 2);
}

int brk_polling_handler(vg_http_request *req, void *user)
{
    brk_state *b = user;
    const char *method = vg_http_method(req);
    const char *origin = vg_http_header(req, "Origin");
    if (!brk_origin_allowed(b, origin, vg_http_header(req, "Host")))
        return reply_eio_error(req, EIO_ERR_FORBIDDEN);
    cors_headers(req, origin);
    if (strcmp(method, "OPTIONS") == 0) {
        vg_http_set_header(req, "Access-Control-Allow-Methods", "GET,POST,OPTIONS");
        const char *h = vg_http_header(req, "Access-Control-Request-Headers");
        if (h)
            vg_http_set_header(req, "Access-Control-Allow-Headers", h);
        return vg_http_reply(req, 204, "text/plain", "", 0);
    }
    char transport[16], sid[32];
    if (vg_http_query(req, "transport", transport, sizeof transport) < 0)
        return reply_eio_error(req, EIO_ERR_UNKNOWN_TRANSPORT);
    if (strcmp(transport, "websocket") == 0) {
        /* not an Upgrade request (those go to the WebSocket handler) */
        return reply_eio_error(req, EIO_ERR_BAD_REQUEST);
    }
    if (strcmp(transport, "polling") != 0)
        return reply_eio_error(req, EIO_ERR_UNKNOWN_TRANSPORT);
    int qr = vg_http_query(req, "sid", sid, sizeof sid);
    if (qr == -ENOENT)
        return handshake(b, req);
    if (qr < 0)
        return reply_eio_error(req, EIO_ERR_UNKNOWN_SID); /* too long to be one of ours */
    brk_session *s = brk_session_find(b, sid);
    if (!s && strcmp(method, "GET") == 0 && brk_closing_take(b, sid)) {
        vg_http_set_header(req, "Cache-Control", "no-store");
        return vg_http_reply(req, 200, "text/plain; charset=UTF-8", "6", 1);
    }
    if (!s)
        return reply_eio_error(req, EIO_ERR_UNKNOWN_SID);
    if (brk_poll_timed_out(s)) {
        brk_session_unref(s);
        return reply_eio_error(req, EIO_ERR_UNKNOWN_SID);
    }
    int rc;
    if (strcmp(method, "GET") == 0)
        rc = poll_get(b, s, req);
    else if (strcmp(method, "POST") == 0)
        rc = poll_post(b, s, req);
    else
        rc = reply_eio_error(req, EIO_ERR_BAD_REQUEST);
    brk_session_unref(s);
    return rc;
}
