/* Engine.IO packets common to both transports, the open packet and the
 * Origin check. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "broker.h"

brk_msg *brk_engine_open_msg(brk_state *b, const char *sid, int offer_websocket)
{
    char buf[256];
    int n = brk_eio_open_packet(buf, sizeof buf, sid, offer_websocket, b->cfg.ping_interval,
                                b->cfg.ping_timeout, b->cfg.max_payload);
    return n < 0 ? NULL : brk_msg_new(buf, (size_t)n);
}

int brk_engine_on_binary(brk_session *s, const unsigned char *data, size_t len)
{
    /* Binary data only ever carries attachments of a binary Socket.IO packet. */
    return brk_socketio_on_attachment(s, data, len);
}

/* A "b<base64>" packet (polling): the attachment's bytes. */
static int on_base64(brk_session *s, const char *text, size_t len)
{
    unsigned char *raw = malloc(len * 3 / 4 + 3);
    size_t n;
    if (!raw)
        return -ENOMEM;
    int rc = brk_b64_decode(text, len, raw, &n) < 0 ? -EPROTO : brk_engine_on_binary(s, raw, n);
    free(raw);
    return rc;
}

int brk_engine_on_packet(brk_session *s, const brk_eio_packet *p)
{
    brk_state *b = s->b;
    atomic_fetch_add_explicit(&b->messages_in, 1, memory_order_relaxed);
    pthread_mutex_lock(&s->lock);
    int draining = s->drain_until != 0;
    pthread_mutex_unlock(&s->lock);
    if (draining && p->type != EIO_CLOSE && p->type != EIO_PONG)
        return 0; /* disconnected by the server: input is ignored until the close */
    switch (p->type) {
    case EIO_PONG: {
        int64_t next = 0;
        pthread_mutex_lock(&s->lock);
        if (s->pong_deadline) {
            s->pong_deadline = 0;
            next = s->next_ping_at = now_ms(b) + b->cfg.ping_interval;
        }
        pthread_mutex_unlock(&s->lock);
        if (next)
            brk_housekeeper_kick(b, next);
        return 0;
    }
    case EIO_MESSAGE:
        return brk_socketio_on_message(s, p->data, p->len);
    case EIO_BINARY:
        return on_base64(s, p->data, p->len);
    case EIO_CLOSE:
        /* Node reports this as "transport close", a recoverable reason. */
        brk_session_terminate(s, "client close",
                              TERM_RECOVERABLE | TERM_CLIENT_CLOSE | TERM_CLOSE_WS);
        return 0;
    case EIO_NOOP:
        return 0;
    case EIO_PING:    /* v4: the server pings; a client ping is an error */
    case EIO_UPGRADE: /* only valid on the probe WebSocket */
    case EIO_OPEN:
    default:
        return -EPROTO;
    }
}

/* scheme://host[:port] of an Origin against the Host header */
static int same_origin(const char *origin, const char *host)
{
    if (!host)
        return 0;
    const char *p = strstr(origin, "://");
    if (!p)
        return 0;
    p += 3;
    return strcasecmp(p, host) == 0;
}

int brk_origin_allowed(brk_state *b, const char *origin, const char *host_header)
{
    if (!origin || !*origin)
        return 1; /* not a browser (or same-origin GET): nothing to check */
    size_t n = json_array_size(b->cfg.allowed_origins);
    for (size_t i = 0; i < n; i++) {
        const char *o = json_string_value(json_array_get(b->cfg.allowed_origins, i));
        if (o && (strcmp(o, "*") == 0 || strcasecmp(o, origin) == 0))
            return 1;
    }
    return same_origin(origin, host_header);
}

/* The check and the increment are one compare-and-swap on `held`, so
 * simultaneous upgrades cannot overshoot thread_cap; host->http_busy adds
 * the workers every other route uses (short requests, other plugins), so
 * the broker never takes one while thread_reserve is not free. */
int brk_worker_take(brk_state *b, int self_busy)
{
    long cap = (long)b->cfg.thread_cap;
    if (b->host->http_busy && b->host->http_busy(b->host) - (self_busy ? 1 : 0) >= cap)
        return 0;
    long cur = atomic_load(&b->held);
    do {
        if (cur >= cap)
            return 0;
    } while (!atomic_compare_exchange_weak(&b->held, &cur, cur + 1));
    return 1;
}

void brk_worker_release(brk_state *b) { atomic_fetch_sub(&b->held, 1); }
