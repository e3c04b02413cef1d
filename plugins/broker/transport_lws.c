/* The libwebsockets transport ([broker] transport = lws): Engine.IO over
 * WebSocket and long-polling on its own port (lws_listen), served by
 * lws_threads event loops (one per core by default). One accept thread
 * listens and hands each new socket to the next loop; a connection stays
 * on its loop. Debian's lws 4.1 is built for a single service thread per
 * context (LWS_MAX_SMP 1), so each loop is a context of its own.
 *
 * The seam: the session logic (websocket.c, session.c, engine.c, socketio.c)
 * talks to a connection only through vg_ws_conn's ops (send, send_frame,
 * close, query, remote_addr...). civetweb's connections come from the core;
 * this file provides the same ops on an lws connection, so everything above
 * the transport is shared.
 *
 * Threading: each lws context is single-threaded. Other threads (senders, the
 * housekeeper) never touch a struct lws: they append the frame (built once
 * by the broker) to the connection's out-buffer under t->lock, put it on
 * the pending list and wake the loop (lws_cancel_service, once per batch);
 * the loop asks for a writable callback and hands the whole buffer to lws
 * in one write, so a burst of messages to a client costs one send(), not
 * one each. Writes never block: a connection whose backlog exceeds
 * max_backlog_bytes / max_backlog fails the send with -EIO and its session
 * is dropped, as a slow civetweb client is.
 *
 * Receiving: lws hands messages over in fragments as they arrive; they are
 * accumulated up to max_payload and the connection is closed with 1009 past
 * it, so a frame header declaring gigabytes allocates nothing. A message
 * must be complete within lws_message_timeout, or the connection is closed. */
#include <errno.h>
#include <libwebsockets.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"

/* A received message waiting for the connection's call worker. */
typedef struct lws_in {
    struct lws_in *next;
    int binary;
    size_t len;
    char data[]; /* NUL-terminated */
} lws_in;

typedef struct brk_lws_conn {
    vg_ws_conn base; /* first: the ops the session logic calls */
    atomic_int refs;
    struct brk_lws *t;
    uint64_t id;
    void *user;
    char ip[48];
    char *query; /* "a=b&c=d", decoded by lws */
    char *origin, *host;

    /* under t->lock */
    struct lws *wsi; /* NULL once closed */
    /* Frames waiting for the socket, already framed and back to back, so
     * one writable callback sends a burst in one write; LWS_PRE bytes of
     * room first. Freed once handed to lws: an idle connection holds none. */
    unsigned char *obuf;
    size_t olen, ocap;
    size_t out_len, out_bytes; /* messages and bytes in obuf */
    /* what lws still holds of the last hand-over (its socket was choked):
     * counted in the backlog until the next writable callback */
    size_t held_len, held_bytes;
    /* Messages that may call a slow bus method (Socket.IO CONNECT and
     * EVENT, attachments) run on a worker of t->calls, never on the loop;
     * while one runs, the connection's later messages wait here, in order,
     * and the loop stops reading it. */
    lws_in *in_head, *in_tail;
    size_t in_n, in_bytes;
    int job;        /* a worker handles this connection's messages */
    int job_closed; /* lws closed it meanwhile: the worker calls `closed` */
    int rx_resume;  /* the worker is done: the loop reads it again */
    int rx_dead;    /* a message ended the connection: ignore the rest */
    /* permessage-deflate was negotiated: lws compresses each message, so
     * frames go one lws_write each from dbuf (loop thread only), taken
     * whole from obuf; dpos: the next frame, dend: the end */
    int deflate;
    unsigned char *dbuf;
    size_t dpos, dend, dmsgs, dbytes;
    int close_code; /* 0: no close asked */
    char close_reason[64];
    int pending; /* on t->pending */
    struct brk_lws_conn *pend_next;
    atomic_int closed;

    /* loop thread only */
    char *rx;
    size_t rx_len, rx_cap;
    int rx_active, rx_binary;
} brk_lws_conn;

/* Long-polling on the loop (polling requests never block it): a GET with
 * nothing queued waits on t->waiting, checked every LWS_POLL_TICK_MS. */
typedef struct lws_poll {
    struct lws *wsi;
    brk_session *s;   /* a waiting GET's session (referenced) */
    int waiting;      /* on t->waiting */
    int64_t deadline; /* monotonic ms */
    int post;         /* collecting a POST body */
    int too_big;
    char *in;
    size_t in_len, in_cap;
    int status; /* the answer, written on HTTP_WRITEABLE */
    const char *ctype;
    const char *retry_after;
    char *out;
    size_t out_len;
    char origin[256];
    int answered;
    int is_options;
    char allow_headers[256];
    char sid[32];             /* a POST's, read before its body (the headers go then) */
    int octet;                /* a POST with Content-Type application/octet-stream */
    int close;                /* the request said Connection: close */
    struct lws_post_job *job; /* its packets on a call worker (under t->lock) */
    struct lws_poll *prev, *next;
} lws_poll;

/* lws's per-connection data: a WebSocket's conn, or an HTTP request's poll. */
typedef struct lws_pss {
    struct brk_lws_conn *c;
    lws_poll *p;
} lws_pss;

/* A POST whose packets may call a bus method, on a call worker; answered
 * on the loop (t->posts_done) unless its request went away meanwhile. */
typedef struct lws_post_job {
    struct brk_lws *t;
    brk_session *s; /* referenced */
    char *in;
    size_t len;
    int code;    /* brk_poll_post's */
    lws_poll *p; /* NULL once the request is gone (under t->lock) */
    struct lws_post_job *next;
} lws_post_job;

enum { LWS_POLL_TICK_MS = 10 };

typedef struct brk_lws {
    /* The upgrade this loop admitted and counted per address, until its ESTABLISHED takes the
     * count over: check and count are one step under ip_lock, so two loops cannot both admit
     * the last connection an address may have. */
    struct lws *reserved_wsi;
    char reserved_ip[48];
    brk_state *b;
    struct lws_context *ctx;
    pthread_t thread;
    int started;
    atomic_int stop;
    pthread_mutex_t lock;
    atomic_int any_pending; /* t->pending is not empty (read without the lock) */
    int dead;               /* under lock: the context is being destroyed */
    brk_lws_conn *pending;
    struct brk_lws_set *set;
    int index;
    uint64_t next_id; /* loop thread only */
    int *adopt;       /* under lock: accepted sockets for this loop */
    size_t nadopt, adopt_cap;
    struct lws_protocols protocols[2];
    lws_poll *waiting; /* loop thread only */
    lws_sorted_usec_list_t poll_sul;
    int poll_scheduled;
    vg_workq *calls;          /* client messages that may call the bus */
    lws_post_job *posts_done; /* under lock: to answer on the loop */
    struct lws_vhost *vhost;
} brk_lws;

/* Every loop: lws_threads event loops (Debian's lws 4.1 is built for one
 * service thread per context, so each loop is a context of its own), fed
 * by one accept thread that hands each new socket to the next loop in
 * turn. A connection lives on one loop for its whole life. */
typedef struct brk_lws_set {
    brk_state *b;
    int n;
    brk_lws *loops;
    int listen_fd;
    pthread_t acceptor;
    int acceptor_started;
    atomic_int stop;
    pthread_mutex_t ip_lock;
    brk_smap per_ip; /* under ip_lock: ip -> long long open connections */
    vg_workq *calls;
} brk_lws_set;

/* Caller holds t->lock. */
static int grow_adopt(brk_lws *t)
{
    size_t cap = t->adopt_cap ? t->adopt_cap * 2 : 64;
    int *n = realloc(t->adopt, cap * sizeof *n);
    if (!n)
        return -ENOMEM;
    t->adopt = n;
    t->adopt_cap = cap;
    return 0;
}

static const vg_ws_ops lws_ops;

int brk_ws_is_lws(const vg_ws_conn *c) { return c && c->ops == &lws_ops; }

static void conn_free_in(brk_lws_conn *c)
{
    for (lws_in *m = c->in_head, *n; m; m = n) {
        n = m->next;
        free(m);
    }
    c->in_head = c->in_tail = NULL;
    c->in_n = c->in_bytes = 0;
}

static void conn_free_out(brk_lws_conn *c)
{
    free(c->dbuf);
    c->dbuf = NULL;
    free(c->obuf);
    c->obuf = NULL;
    c->olen = c->ocap = 0;
    c->out_len = c->out_bytes = 0;
    c->held_len = c->held_bytes = 0;
}

static void op_ref(vg_ws_conn *vc) { atomic_fetch_add(&((brk_lws_conn *)vc)->refs, 1); }

static void op_unref(vg_ws_conn *vc)
{
    brk_lws_conn *c = (brk_lws_conn *)vc;
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    conn_free_out(c);
    conn_free_in(c);
    free(c->rx);
    free(c->query);
    free(c->origin);
    free(c->host);
    free(c);
}

/* Put c on the pending list (caller holds t->lock). Returns 1 when the loop
 * must be woken: the list was empty (otherwise a wake-up is on its way).
 * Wake-ups are few on purpose: lws 4.1 delivers each one to every
 * connection's callback (EVENT_WAIT_CANCELLED), O(connections). */
static int pend_locked(brk_lws_conn *c)
{
    if (c->pending)
        return 0; /* listed, or in a batch being drained: written soon */
    c->pending = 1;
    op_ref(&c->base);
    int first = c->t->pending == NULL;
    c->pend_next = c->t->pending;
    c->t->pending = c;
    atomic_store(&c->t->any_pending, 1);
    return first;
}

/* Append one frame: `hdr` (hlen bytes, may be 0) then `data`. */
static int enqueue(brk_lws_conn *c, const unsigned char *hdr, size_t hlen, const void *data,
                   size_t len)
{
    brk_lws *t = c->t;
    brk_config *cfg = &t->b->cfg;
    size_t flen = hlen + len;
    pthread_mutex_lock(&t->lock);
    if (!c->wsi || c->close_code || t->dead) {
        pthread_mutex_unlock(&t->lock);
        return -EPIPE;
    }
    /* The client is not reading: drop it rather than buffer without bound. */
    if (c->out_len + c->held_len + 1 > (size_t)cfg->max_backlog ||
        c->out_bytes + c->held_bytes + len > (size_t)cfg->max_backlog_bytes) {
        c->close_code = 1008;
        snprintf(c->close_reason, sizeof c->close_reason, "backlog");
        if (pend_locked(c))
            lws_cancel_service(t->ctx);
        pthread_mutex_unlock(&t->lock);
        return -EIO;
    }
    if (LWS_PRE + c->olen + flen > c->ocap) {
        size_t cap = c->ocap ? c->ocap : 1024;
        while (cap < LWS_PRE + c->olen + flen)
            cap *= 2;
        unsigned char *n = realloc(c->obuf, cap);
        if (!n) {
            pthread_mutex_unlock(&t->lock);
            return -EIO;
        }
        c->obuf = n;
        c->ocap = cap;
    }
    unsigned char *o = c->obuf + LWS_PRE + c->olen;
    if (hlen)
        memcpy(o, hdr, hlen);
    memcpy(o + hlen, data, len);
    c->olen += flen;
    c->out_len++;
    c->out_bytes += len;
    /* under t->lock: brk_lws_stop sets dead under it before destroying ctx */
    if (pend_locked(c))
        lws_cancel_service(t->ctx);
    pthread_mutex_unlock(&t->lock);
    return 0;
}

static int op_send(vg_ws_conn *vc, int opcode, const void *data, size_t len)
{
    /* a server frame's header: FIN + opcode, the length, no mask */
    unsigned char hdr[10];
    size_t hlen;
    hdr[0] = (unsigned char)(0x80 | (opcode & 0x0f));
    if (len < 126) {
        hdr[1] = (unsigned char)len;
        hlen = 2;
    } else if (len <= 0xffff) {
        hdr[1] = 126;
        hdr[2] = (unsigned char)(len >> 8);
        hdr[3] = (unsigned char)len;
        hlen = 4;
    } else {
        hdr[1] = 127;
        for (int i = 0; i < 8; i++)
            hdr[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
        hlen = 10;
    }
    return enqueue((brk_lws_conn *)vc, hdr, hlen, data, len);
}

/* The broker builds each frame once (an unmasked server frame): it is
 * queued as it is. */
static int op_send_frame(vg_ws_conn *vc, const void *frame, size_t len)
{
    const unsigned char *f = frame;
    if (len < 2)
        return -EINVAL;
    size_t hdr = (f[1] & 0x7f) == 126 ? 4 : (f[1] & 0x7f) == 127 ? 10 : 2;
    if (len < hdr || (f[1] & 0x80))
        return -EINVAL;
    return enqueue((brk_lws_conn *)vc, NULL, 0, frame, len);
}

static int op_close(vg_ws_conn *vc, int code, const char *reason)
{
    brk_lws_conn *c = (brk_lws_conn *)vc;
    brk_lws *t = c->t;
    pthread_mutex_lock(&t->lock);
    if (c->wsi && !c->close_code && !t->dead) {
        c->close_code = code ? code : 1000;
        snprintf(c->close_reason, sizeof c->close_reason, "%s", reason ? reason : "");
        pend_locked(c);
        lws_cancel_service(t->ctx);
    }
    pthread_mutex_unlock(&t->lock);
    atomic_store(&c->closed, 1);
    return 0;
}

static void op_set_user(vg_ws_conn *vc, void *data) { ((brk_lws_conn *)vc)->user = data; }
static void *op_get_user(vg_ws_conn *vc) { return ((brk_lws_conn *)vc)->user; }

static int op_query(vg_ws_conn *vc, const char *name, char *buf, size_t size)
{
    brk_lws_conn *c = (brk_lws_conn *)vc;
    size_t nl = strlen(name);
    for (const char *p = c->query; p && *p;) {
        const char *end = strchr(p, '&');
        size_t l = end ? (size_t)(end - p) : strlen(p);
        if (l > nl && p[nl] == '=' && memcmp(p, name, nl) == 0) {
            size_t vl = l - nl - 1;
            if (vl + 1 > size)
                return -ENOSPC;
            memcpy(buf, p + nl + 1, vl);
            buf[vl] = 0;
            return (int)vl;
        }
        p = end ? end + 1 : p + l;
    }
    return -ENOENT;
}

static const char *op_header(vg_ws_conn *vc, const char *name)
{
    brk_lws_conn *c = (brk_lws_conn *)vc;
    if (strcasecmp(name, "Origin") == 0)
        return c->origin;
    if (strcasecmp(name, "Host") == 0)
        return c->host;
    return NULL;
}

static const char *op_remote_addr(vg_ws_conn *vc) { return ((brk_lws_conn *)vc)->ip; }
static int op_is_closed(vg_ws_conn *vc) { return atomic_load(&((brk_lws_conn *)vc)->closed); }
static uint64_t op_id(vg_ws_conn *vc) { return ((brk_lws_conn *)vc)->id; }

static const vg_ws_ops lws_ops = {
    .send = op_send,
    .send_frame = op_send_frame,
    .close = op_close,
    .ref = op_ref,
    .unref = op_unref,
    .set_user = op_set_user,
    .get_user = op_get_user,
    .query = op_query,
    .header = op_header,
    .remote_addr = op_remote_addr,
    .is_closed = op_is_closed,
    .id = op_id,
};

/* ---- loop thread ---- */

static char *hdr_dup(struct lws *wsi, enum lws_token_indexes tok)
{
    int n = lws_hdr_total_length(wsi, tok);
    if (n <= 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (s && lws_hdr_copy(wsi, s, n + 1, tok) < 0) {
        free(s);
        return NULL;
    }
    return s;
}

static char *query_dup(struct lws *wsi)
{
    size_t cap = 256, len = 0;
    char *q = malloc(cap), frag[256];
    if (!q)
        return NULL;
    q[0] = 0;
    for (int i = 0; lws_hdr_copy_fragment(wsi, frag, sizeof frag, WSI_TOKEN_HTTP_URI_ARGS, i) > 0;
         i++) {
        size_t fl = strlen(frag);
        if (len + fl + 2 > cap) {
            if (cap > 8192)
                break; /* a silly query: the rest is ignored */
            char *n = realloc(q, cap * 2 + fl);
            if (!n)
                break;
            q = n;
            cap = cap * 2 + fl;
        }
        if (len)
            q[len++] = '&';
        memcpy(q + len, frag, fl + 1);
        len += fl;
    }
    return q;
}

/* Caller holds t->set->ip_lock. */
static long long *ip_count(brk_lws *t, const char *ip, int create)
{
    long long *n = brk_smap_get(&t->set->per_ip, ip);
    if (!n && create) {
        n = calloc(1, sizeof *n);
        if (n && brk_smap_put(&t->set->per_ip, ip, n) < 0) {
            free(n);
            n = NULL;
        }
    }
    return n;
}

/* An HTTP answer before (instead of) the upgrade, or to a plain request. */
static int http_reply(struct lws *wsi, int status, const char *retry_after, const char *body,
                      size_t len)
{
    unsigned char hb[LWS_PRE + 512], *start = hb + LWS_PRE, *p = start, *end = hb + sizeof hb;
    if (lws_add_http_common_headers(wsi, (unsigned int)status, "application/json", len, &p, end) ||
        (retry_after && lws_add_http_header_by_name(wsi, (const unsigned char *)"retry-after:",
                                                    (const unsigned char *)retry_after,
                                                    (int)strlen(retry_after), &p, end)) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    unsigned char out[LWS_PRE + 128];
    if (len > sizeof out - LWS_PRE)
        return -1;
    memcpy(out + LWS_PRE, body, len);
    if (lws_write(wsi, out + LWS_PRE, len, LWS_WRITE_HTTP_FINAL) < 0)
        return -1;
    return 1;
}

static int eio_refuse(struct lws *wsi, int code)
{
    char body[96];
    int n = brk_eio_error_body(body, sizeof body, code);
    return http_reply(wsi, brk_eio_error_status(code), NULL, body, (size_t)n);
}

/* Gives back the per-address count of an admitted upgrade that was refused later or never
 * reached ESTABLISHED (loop thread). */
static void release_reservation(brk_lws *t)
{
    if (!t->reserved_wsi)
        return;
    pthread_mutex_lock(&t->set->ip_lock);
    long long *n = ip_count(t, t->reserved_ip, 0);
    if (n && --*n <= 0)
        free(brk_smap_del(&t->set->per_ip, t->reserved_ip));
    pthread_mutex_unlock(&t->set->ip_lock);
    t->reserved_wsi = NULL;
}

/* Before the handshake, as websocket.c's connect does on civetweb: path,
 * query, Origin/Host, then admission (max_clients, pending handshakes, and
 * lws_max_per_ip open connections from one address). */
static int confirm_upgrade(brk_lws *t, struct lws *wsi)
{
    brk_state *b = t->b;
    char uri[64], ip[48], buf[64], sid[32];
    if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0 ||
        strncmp(uri, "/socket.io", 10) != 0 || (uri[10] && strcmp(uri + 10, "/") != 0)) {
        static const char nf[] = "{\"error\":\"not found\"}";
        return http_reply(wsi, 404, NULL, nf, sizeof nf - 1);
    }
    const char *tr = lws_get_urlarg_by_name(wsi, "transport=", buf, sizeof buf);
    if (!tr || strcmp(tr, "websocket") != 0)
        return eio_refuse(wsi, EIO_ERR_BAD_REQUEST);
    char *origin = hdr_dup(wsi, WSI_TOKEN_ORIGIN), *host = hdr_dup(wsi, WSI_TOKEN_HOST);
    int ok = brk_origin_allowed(b, origin, host);
    free(origin);
    free(host);
    if (!ok)
        return eio_refuse(wsi, EIO_ERR_FORBIDDEN);
    int has_sid = lws_get_urlarg_by_name(wsi, "sid=", sid, sizeof sid) != NULL;
    const char *eio = lws_get_urlarg_by_name(wsi, "EIO=", buf, sizeof buf);
    if (!has_sid && (!eio || strcmp(eio, "4") != 0))
        return eio_refuse(wsi, EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION);
    lws_get_peer_simple(wsi, ip, sizeof ip);
    release_reservation(t); /* an earlier upgrade on this loop that never got established */
    pthread_mutex_lock(&t->set->ip_lock);
    long long *n = ip_count(t, ip, 1);
    int full = !n || *n >= b->cfg.lws_max_per_ip;
    if (!full) {
        (*n)++;
        t->reserved_wsi = wsi;
        snprintf(t->reserved_ip, sizeof t->reserved_ip, "%s", ip);
    }
    pthread_mutex_unlock(&t->set->ip_lock);
    if (full) {
        static const char body[] =
            "{\"code\":3,\"message\":\"Too many connections from this address\"}";
        return http_reply(wsi, 503, "5", body, sizeof body - 1);
    }
    if (!has_sid) {
        int rc = brk_session_admissible(b, ip);
        if (rc < 0)
            release_reservation(t);
        if (rc == -EBUSY) {
            static const char body[] = "{\"code\":3,\"message\":\"Server full\"}";
            return http_reply(wsi, 503, "5", body, sizeof body - 1);
        }
        if (rc == -EAGAIN) {
            static const char body[] = "{\"code\":3,\"message\":\"Too many pending handshakes\"}";
            return http_reply(wsi, 503, "2", body, sizeof body - 1);
        }
    }
    return 0;
}

static void poll_answer(brk_lws *t, lws_poll *p, int status, const char *ctype, const char *body,
                        size_t len);
static void poll_error(brk_lws *t, lws_poll *p, int code);

static void post_job_free(lws_post_job *j)
{
    brk_session_unref(j->s);
    free(j->in);
    free(j);
}

/* Loop thread: the POSTs whose workers are done (detached from their
 * requests by the caller, under t->lock). */
static void posts_answer(brk_lws *t, lws_post_job *j)
{
    while (j) {
        lws_post_job *next = j->next;
        if (j->p) {
            if (j->code >= 0)
                poll_error(t, j->p, j->code);
            else
                poll_answer(t, j->p, 200, "text/html", "ok", 2);
        }
        post_job_free(j);
        j = next;
    }
}

static int post_job_run(vg_job *job, void *user)
{
    lws_post_job *j = user;
    brk_lws *t = j->t;
    /* cancelled at stop: nothing is taken, the request is gone anyway */
    j->code = vg_job_cancelled(job) ? EIO_ERR_BAD_REQUEST : brk_poll_post(j->s, j->in, j->len);
    pthread_mutex_lock(&t->lock);
    if (j->p && !t->dead) { /* the loop answers and frees it */
        int first = !t->posts_done && !t->pending;
        j->next = t->posts_done;
        t->posts_done = j;
        atomic_store(&t->any_pending, 1);
        if (first)
            lws_cancel_service(t->ctx);
        j = NULL;
    } else if (j->p) {
        j->p->job = NULL;
    }
    pthread_mutex_unlock(&t->lock);
    if (j)
        post_job_free(j);
    return VG_JOB_DONE;
}

/* Loop thread: a request going away leaves its POST's worker to finish
 * alone (or its answer, when done, to be dropped). */
static void poll_detach_job(brk_lws *t, lws_poll *p)
{
    pthread_mutex_lock(&t->lock);
    if (p->job)
        p->job->p = NULL;
    p->job = NULL;
    pthread_mutex_unlock(&t->lock);
}

/* 1 when a polling payload holds a packet that may call a bus method (see
 * may_call): a Socket.IO CONNECT, EVENT or BINARY_EVENT, or an attachment. */
static int payload_may_call(const char *in, size_t len)
{
    for (size_t i = 0; i < len;) {
        const char *end = memchr(in + i, EIO_SEPARATOR, len - i);
        size_t n = end ? (size_t)(end - (in + i)) : len - i;
        if (n >= 1 && in[i] == 'b')
            return 1;
        if (n >= 2 && in[i] == '4' && (in[i + 1] == '0' || in[i + 1] == '2' || in[i + 1] == '5'))
            return 1;
        i += n + 1;
    }
    return 0;
}

static void drain_pending(brk_lws *t)
{
    if (!atomic_load(&t->any_pending))
        return; /* the common case: another connection's copy of the wake-up */
    pthread_mutex_lock(&t->lock);
    brk_lws_conn *c = t->pending;
    t->pending = NULL;
    lws_post_job *done = t->posts_done;
    t->posts_done = NULL;
    int *fds = t->adopt;
    size_t nfds = t->nadopt;
    t->adopt = NULL;
    t->nadopt = t->adopt_cap = 0;
    atomic_store(&t->any_pending, 0);
    for (lws_post_job *j = done; j; j = j->next)
        if (j->p)
            j->p->job = NULL;
    pthread_mutex_unlock(&t->lock);
    posts_answer(t, done);
    /* new connections from the accept thread (lws makes them non-blocking;
     * on failure it has closed the socket, or never took it: rare) */
    for (size_t i = 0; i < nfds; i++)
        lws_adopt_socket_vhost(t->vhost, fds[i]);
    free(fds);
    /* Each stays flagged pending until handled here, so a sender cannot
     * relink it (and its pend_next) into the new list meanwhile. */
    while (c) {
        pthread_mutex_lock(&t->lock);
        brk_lws_conn *next = c->pend_next;
        c->pend_next = NULL;
        c->pending = 0;
        struct lws *wsi = c->wsi; /* only this thread clears it */
        int resume = c->rx_resume;
        c->rx_resume = 0;
        pthread_mutex_unlock(&t->lock);
        if (wsi && resume)
            lws_rx_flow_control(wsi, 1);
        if (wsi)
            lws_callback_on_writable(wsi);
        op_unref(&c->base);
        c = next;
    }
}

/* Hand everything queued to lws in one write (the frames are complete, so
 * LWS_WRITE_HTTP sends them as they are). When the socket takes only part,
 * lws keeps the rest and calls back only once it is sent; until then that
 * part still counts in the connection's backlog. */
static int on_writable_deflate(brk_lws_conn *c, struct lws *wsi);

/* The end of a writable turn: 0 to go on, or -1 to close with the code and
 * reason asked (op_close, a backlog overflow) once the queue is flushed. */
static int close_if_asked(struct lws *wsi, int code, const char *reason)
{
    if (!code)
        return 0;
    lws_close_reason(wsi, (enum lws_close_status)code, (unsigned char *)reason, strlen(reason));
    return -1;
}

static int on_writable(brk_lws_conn *c, struct lws *wsi)
{
    brk_lws *t = c->t;
    if (c->deflate)
        return on_writable_deflate(c, wsi);
    pthread_mutex_lock(&t->lock);
    c->held_len = c->held_bytes = 0; /* lws sent what it held */
    int code = c->close_code;
    char reason[64];
    memcpy(reason, c->close_reason, sizeof reason);
    /* a backlog overflow closes at once: the queue is not flushed */
    int overflow = code == 1008 && strcmp(reason, "backlog") == 0;
    unsigned char *buf = NULL;
    size_t len = 0, msgs = 0, bytes = 0;
    if (c->olen && !overflow) {
        buf = c->obuf;
        len = c->olen;
        msgs = c->out_len;
        bytes = c->out_bytes;
        c->obuf = NULL;
        c->olen = c->ocap = 0;
        c->out_len = c->out_bytes = 0;
    }
    pthread_mutex_unlock(&t->lock);
    if (buf) {
        int rc = lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_HTTP);
        free(buf);
        if (rc < 0)
            return -1;
        if (lws_send_pipe_choked(wsi)) {
            pthread_mutex_lock(&t->lock);
            c->held_len = msgs;
            c->held_bytes = bytes;
            pthread_mutex_unlock(&t->lock);
        }
        /* more may have come meanwhile; a close waits for the flush */
        lws_callback_on_writable(wsi);
        return 0;
    }
    return close_if_asked(wsi, code, reason);
}

/* Messages that may call a bus method, which may be slow (a plugin's event
 * handler or auth hook, the built-in events' notifications.* calls):
 * Socket.IO CONNECT ("40"), EVENT ("42"), BINARY_EVENT ("45") and
 * attachments. Pongs, acks, upgrades and closes stay on the loop. */
static int may_call(int binary, const char *data, size_t len)
{
    return binary ||
           (len >= 2 && data[0] == '4' && (data[1] == '0' || data[1] == '2' || data[1] == '5'));
}

/* A worker: the connection's waiting messages in order, then, when lws
 * closed it meanwhile, its `closed` (held back so it never runs while a
 * message of the same connection is being handled). */
static int call_job(vg_job *job, void *user)
{
    brk_lws_conn *c = user;
    brk_lws *t = c->t;
    brk_state *b = t->b;
    for (;;) {
        pthread_mutex_lock(&t->lock);
        lws_in *m = c->in_head;
        if (!m) {
            c->job = 0;
            int closed = c->job_closed;
            c->job_closed = 0;
            if (!closed && c->wsi && !t->dead) {
                c->rx_resume = 1;
                if (pend_locked(c))
                    lws_cancel_service(t->ctx);
            }
            pthread_mutex_unlock(&t->lock);
            if (closed)
                b->ws_handlers.closed(&c->base, b);
            return VG_JOB_DONE;
        }
        c->in_head = m->next;
        if (!c->in_head)
            c->in_tail = NULL;
        c->in_n--;
        c->in_bytes -= m->len;
        int dead = c->rx_dead;
        pthread_mutex_unlock(&t->lock);
        /* cancelled at stop: the messages are dropped, `closed` still runs */
        if (!dead && !vg_job_cancelled(job) &&
            !b->ws_handlers.message(&c->base, m->binary ? VG_WS_BINARY : VG_WS_TEXT, m->data,
                                    m->len, b)) {
            pthread_mutex_lock(&t->lock);
            c->rx_dead = 1;
            pthread_mutex_unlock(&t->lock);
            op_close(&c->base, 1000, "");
        }
        free(m);
    }
}

static void call_job_free(void *user) { op_unref(user); }

enum { LWS_IN_MAX = 256 }; /* messages waiting for a worker, per connection */

/* One whole message: handled here, or queued for the connection's worker. */
static int deliver(brk_lws_conn *c, struct lws *wsi)
{
    brk_lws *t = c->t;
    brk_state *b = t->b;
    int binary = c->rx_binary;
    pthread_mutex_lock(&t->lock);
    if (c->rx_dead) {
        pthread_mutex_unlock(&t->lock);
        return 0;
    }
    /* A pong ("3") is handled at once even behind a slow call: it only
     * moves the ping deadline, so the caller is not dropped for a ping
     * timeout while its own method runs. */
    int pong = !binary && c->rx_len == 1 && c->rx[0] == '3';
    if (pong || (!c->job && !may_call(binary, c->rx, c->rx_len))) {
        pthread_mutex_unlock(&t->lock);
        if (!b->ws_handlers.message(&c->base, binary ? VG_WS_BINARY : VG_WS_TEXT, c->rx, c->rx_len,
                                    b)) {
            lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
            return -1;
        }
        return 0;
    }
    /* lws stops reading once the first is queued; a few more may already be
     * in its buffer, never an unbounded number */
    lws_in *m = NULL;
    if (c->in_n < LWS_IN_MAX && (m = malloc(sizeof *m + c->rx_len + 1)) != NULL) {
        m->next = NULL;
        m->binary = binary;
        m->len = c->rx_len;
        memcpy(m->data, c->rx, c->rx_len + 1);
        if (c->in_tail)
            c->in_tail->next = m;
        else
            c->in_head = m;
        c->in_tail = m;
        c->in_n++;
        c->in_bytes += m->len;
    }
    int start = m && !c->job;
    if (start)
        c->job = 1;
    pthread_mutex_unlock(&t->lock);
    if (!m) {
        static const char r[] = "too many messages waiting";
        lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)r, sizeof r - 1);
        return -1;
    }
    if (!start)
        return 0;
    op_ref(&c->base); /* the job's, released by call_job_free */
    if (b->host->workq_submit(t->calls, call_job, c, call_job_free) < 0) {
        pthread_mutex_lock(&t->lock);
        c->job = 0;
        conn_free_in(c);
        pthread_mutex_unlock(&t->lock);
        static const char r[] = "server busy";
        lws_close_reason(wsi, (enum lws_close_status)1013, (unsigned char *)r, sizeof r - 1);
        return -1;
    }
    lws_rx_flow_control(wsi, 0);
    return 0;
}

/* With permessage-deflate: one message per writable callback through
 * lws_write, which compresses it (lws sends what the compressor still holds
 * before it calls back again). Frames are sent from dbuf in order, so the
 * LWS_PRE bytes lws writes before a payload only overwrite frames already
 * sent, or dbuf's own room. What dbuf holds counts in the backlog. */
static int on_writable_deflate(brk_lws_conn *c, struct lws *wsi)
{
    brk_lws *t = c->t;
    pthread_mutex_lock(&t->lock);
    int code = c->close_code;
    char reason[64];
    memcpy(reason, c->close_reason, sizeof reason);
    int overflow = code == 1008 && strcmp(reason, "backlog") == 0;
    if (!c->dbuf && c->olen && !overflow) {
        c->dbuf = c->obuf;
        c->dpos = LWS_PRE;
        c->dend = LWS_PRE + c->olen;
        c->dmsgs = c->out_len;
        c->dbytes = c->out_bytes;
        c->obuf = NULL;
        c->olen = c->ocap = 0;
        c->out_len = c->out_bytes = 0;
    }
    pthread_mutex_unlock(&t->lock);
    if (c->dbuf && !overflow) {
        unsigned char *f = c->dbuf + c->dpos;
        size_t avail = c->dend - c->dpos, hlen = 2, plen = f[1] & 0x7f;
        if (plen == 126) {
            hlen = 4;
            plen = (size_t)f[2] << 8 | f[3];
        } else if (plen == 127) {
            hlen = 10;
            plen = 0;
            for (int i = 0; i < 8; i++)
                plen = plen << 8 | f[2 + i];
        }
        if (avail < hlen || avail - hlen < plen)
            return -1; /* cannot happen: enqueue appends whole frames */
        int rc = lws_write(wsi, f + hlen, plen,
                           (f[0] & 0x0f) == VG_WS_BINARY ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
        c->dpos += hlen + plen;
        pthread_mutex_lock(&t->lock);
        c->dmsgs = c->dmsgs ? c->dmsgs - 1 : 0;
        c->dbytes = c->dbytes > plen ? c->dbytes - plen : 0;
        if (c->dpos >= c->dend) {
            free(c->dbuf);
            c->dbuf = NULL;
            c->dmsgs = c->dbytes = 0;
        }
        c->held_len = c->dmsgs;
        c->held_bytes = c->dbytes;
        pthread_mutex_unlock(&t->lock);
        if (rc < 0)
            return -1;
        lws_callback_on_writable(wsi);
        return 0;
    }
    return close_if_asked(wsi, code, reason);
}

/* Appends n bytes to a growing buffer, room kept for a NUL; -1 when out of
 * memory (the buffer is left as it was). */
static int buf_append(char **buf, size_t *len, size_t *cap, const char *in, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 1024;
        while (c < *len + n + 1)
            c *= 2;
        char *nb = realloc(*buf, c);
        if (!nb)
            return -1;
        *buf = nb;
        *cap = c;
    }
    memcpy(*buf + *len, in, n);
    *len += n;
    return 0;
}

static void rx_reset(brk_lws_conn *c)
{
    c->rx_len = 0;
    c->rx_active = 0;
    /* a large message's buffer is not kept for the connection's life */
    if (c->rx_cap > 4096) {
        free(c->rx);
        c->rx = NULL;
        c->rx_cap = 0;
    }
}

static int on_receive(brk_lws_conn *c, struct lws *wsi, const char *in, size_t len)
{
    brk_state *b = c->t->b;
    if (!c->rx_active) {
        c->rx_active = 1;
        c->rx_binary = lws_frame_is_binary(wsi);
        int secs = (int)((b->cfg.lws_message_timeout + 999) / 1000);
        lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, secs);
    }
    if (c->rx_len + len > (size_t)b->cfg.max_payload) {
        atomic_fetch_add(&b->dropped_protocol, 1);
        static const char r[] = "message too large";
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)r, sizeof r - 1);
        return -1;
    }
    if (buf_append(&c->rx, &c->rx_len, &c->rx_cap, in, len) < 0)
        return -1;
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
        return 0;
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
    c->rx[c->rx_len] = 0;
    int rc = deliver(c, wsi);
    rx_reset(c);
    return rc;
}

/* ---- long-polling (loop thread only) ---- */

static void poll_answer(brk_lws *t, lws_poll *p, int status, const char *ctype, const char *body,
                        size_t len)
{
    (void)t;
    free(p->out);
    p->out = malloc(len + 1);
    p->out_len = p->out ? len : 0;
    if (p->out)
        memcpy(p->out, body, len);
    p->status = p->out ? status : 500;
    p->ctype = ctype;
    p->answered = 1;
    lws_callback_on_writable(p->wsi);
}

static void poll_error(brk_lws *t, lws_poll *p, int code)
{
    char body[96];
    int n = brk_eio_error_body(body, sizeof body, code);
    poll_answer(t, p, brk_eio_error_status(code), "application/json", body, (size_t)n);
}

static void poll_unwait(brk_lws *t, lws_poll *p)
{
    if (!p->waiting)
        return;
    if (p->prev)
        p->prev->next = p->next;
    else
        t->waiting = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->prev = p->next = NULL;
    p->waiting = 0;
}

/* A waiting GET's answer: the whole queue joined by \x1e, the close packet,
 * or a noop; as polling.c's poll_get. Caller holds s->lock. */
static void poll_collect_locked(brk_lws *t, lws_poll *p)
{
    (void)t;
    size_t n = 0;
    char *body = brk_poll_collect_locked(p->s, &n);
    p->s->poll_pending = 0;
    free(p->out);
    p->out = body;
    p->out_len = body ? n : 0;
    p->status = body ? 200 : 500;
    p->ctype = "text/plain; charset=UTF-8";
    p->answered = 1;
}

static void poll_release(lws_poll *p)
{
    if (!p->s)
        return;
    pthread_mutex_lock(&p->s->lock);
    p->s->poll_pending = 0;
    pthread_mutex_unlock(&p->s->lock);
    brk_session_unref(p->s);
    p->s = NULL;
}

static void poll_scan(lws_sorted_usec_list_t *sul)
{
    brk_lws *t = lws_container_of(sul, brk_lws, poll_sul);
    brk_state *b = t->b;
    int64_t now = now_ms(b);
    t->poll_scheduled = 0;
    for (lws_poll *p = t->waiting, *next; p; p = next) {
        next = p->next;
        brk_session *s = p->s;
        pthread_mutex_lock(&s->lock);
        int ready = s->q_len || s->closed || s->upgrading || s->transport != TR_POLLING ||
                    now >= p->deadline || atomic_load(&t->stop);
        if (ready)
            poll_collect_locked(t, p);
        pthread_mutex_unlock(&s->lock);
        if (ready) {
            poll_unwait(t, p);
            brk_session_unref(s);
            p->s = NULL;
            lws_callback_on_writable(p->wsi);
        }
    }
    if (t->waiting) {
        t->poll_scheduled = 1;
        lws_sul_schedule(t->ctx, 0, &t->poll_sul, poll_scan, LWS_POLL_TICK_MS * LWS_US_PER_MS);
    }
}

static void poll_get(brk_lws *t, lws_poll *p, brk_session *s)
{
    brk_state *b = t->b;
    pthread_mutex_lock(&s->lock);
    if (s->transport != TR_POLLING) {
        pthread_mutex_unlock(&s->lock);
        brk_session_unref(s);
        return poll_error(t, p, EIO_ERR_BAD_REQUEST);
    }
    if (s->poll_pending) { /* overlapping GET: 400 here, "1" to the first */
        pthread_mutex_unlock(&s->lock);
        brk_session_terminate(s, "overlapping GET", 0);
        brk_session_unref(s);
        return poll_error(t, p, EIO_ERR_BAD_REQUEST);
    }
    s->poll_pending = 1;
    p->s = s; /* the reference moves over */
    if (s->q_len || s->closed) {
        poll_collect_locked(t, p);
        pthread_mutex_unlock(&s->lock);
        brk_session_unref(s);
        p->s = NULL;
        lws_callback_on_writable(p->wsi);
        return;
    }
    pthread_mutex_unlock(&s->lock);
    /* Bounded: a ping is due within ping_interval anyway. */
    p->deadline = now_ms(b) + b->cfg.ping_interval + 1000;
    p->waiting = 1;
    p->next = t->waiting;
    if (t->waiting)
        t->waiting->prev = p;
    t->waiting = p;
    if (!t->poll_scheduled) {
        t->poll_scheduled = 1;
        lws_sul_schedule(t->ctx, 0, &t->poll_sul, poll_scan, LWS_POLL_TICK_MS * LWS_US_PER_MS);
    }
}

static void poll_post_done(brk_lws *t, lws_poll *p, brk_session *s)
{
    if (p->octet) {
        brk_session_unref(s);
        return poll_error(t, p, EIO_ERR_BAD_REQUEST);
    }
    if (p->too_big) {
        brk_session_unref(s);
        static const char msg[] = "{\"code\":3,\"message\":\"Payload too large\"}";
        return poll_answer(t, p, 413, "application/json", msg, sizeof msg - 1);
    }
    if (payload_may_call(p->in, p->in_len)) {
        lws_post_job *j = calloc(1, sizeof *j);
        if (j) {
            j->t = t;
            j->s = s; /* the reference moves over */
            j->in = p->in;
            j->len = p->in_len;
            j->p = p;
            p->in = NULL;
            p->in_len = p->in_cap = 0;
            pthread_mutex_lock(&t->lock);
            p->job = j;
            pthread_mutex_unlock(&t->lock);
            if (t->b->host->workq_submit(t->calls, post_job_run, j, NULL) == 0)
                return;
            poll_detach_job(t, p);
            post_job_free(j); /* no user_free was given: freed here */
            static const char busy[] = "{\"code\":3,\"message\":\"Server busy\"}";
            p->retry_after = "2";
            return poll_answer(t, p, 503, "application/json", busy, sizeof busy - 1);
        }
    }
    int code = brk_poll_post(s, p->in ? p->in : "", p->in_len);
    if (code >= 0) {
        brk_session_unref(s);
        return poll_error(t, p, code);
    }
    brk_session_unref(s);
    poll_answer(t, p, 200, "text/html", "ok", 2);
}

/* The session of a request with a sid, answered already when there is none. */
static brk_session *poll_session(brk_lws *t, lws_poll *p, const char *sid, int is_get)
{
    brk_state *b = t->b;
    brk_session *s = brk_session_find(b, sid);
    if (!s && is_get && brk_closing_take(b, sid)) {
        poll_answer(t, p, 200, "text/plain; charset=UTF-8", "6", 1);
        return NULL;
    }
    if (!s) {
        poll_error(t, p, EIO_ERR_UNKNOWN_SID);
        return NULL;
    }
    if (brk_poll_timed_out(s)) {
        brk_session_unref(s);
        poll_error(t, p, EIO_ERR_UNKNOWN_SID);
        return NULL;
    }
    return s;
}

/* A plain HTTP request on the lws port: Engine.IO long-polling at /socket.io/. */
static int on_http(brk_lws *t, lws_pss *pss, struct lws *wsi)
{
    brk_state *b = t->b;
    lws_poll *p = pss->p;
    if (p) { /* keep-alive: a new transaction on the same connection */
        poll_detach_job(t, p);
        poll_unwait(t, p);
        poll_release(p);
        free(p->in);
        free(p->out);
        memset(p, 0, sizeof *p);
    } else if (!(p = pss->p = calloc(1, sizeof *p))) {
        return -1;
    }
    p->wsi = wsi;
    char uri[64], buf[64], sid[32];
    char *conn = hdr_dup(wsi, WSI_TOKEN_CONNECTION);
    p->close = conn && strcasestr(conn, "close") != NULL;
    free(conn);
    int is_get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
    int is_post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
    int is_options = lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0;
    /* other methods (PUT, DELETE...) get Engine.IO's 400 like on civetweb */
    enum lws_token_indexes ut =
        is_get                                               ? WSI_TOKEN_GET_URI
        : is_post                                            ? WSI_TOKEN_POST_URI
        : is_options                                         ? WSI_TOKEN_OPTIONS_URI
        : lws_hdr_total_length(wsi, WSI_TOKEN_PUT_URI) > 0   ? WSI_TOKEN_PUT_URI
        : lws_hdr_total_length(wsi, WSI_TOKEN_PATCH_URI) > 0 ? WSI_TOKEN_PATCH_URI
                                                             : WSI_TOKEN_DELETE_URI;
    if (lws_hdr_copy(wsi, uri, sizeof uri, ut) <= 0 || strncmp(uri, "/socket.io", 10) != 0 ||
        (uri[10] && strcmp(uri + 10, "/") != 0)) {
        static const char nf[] = "{\"error\":\"not found\"}";
        poll_answer(t, p, 404, "application/json", nf, sizeof nf - 1);
        return 0;
    }
    char *origin = hdr_dup(wsi, WSI_TOKEN_ORIGIN), *host = hdr_dup(wsi, WSI_TOKEN_HOST);
    int ok = brk_origin_allowed(b, origin, host);
    if (origin && ok)
        snprintf(p->origin, sizeof p->origin, "%s", origin);
    free(origin);
    free(host);
    if (!ok) {
        poll_error(t, p, EIO_ERR_FORBIDDEN);
        return 0;
    }
    if (is_options) {
        p->is_options = 1;
        char *h = hdr_dup(wsi, WSI_TOKEN_HTTP_AC_REQUEST_HEADERS);
        if (h)
            snprintf(p->allow_headers, sizeof p->allow_headers, "%s", h);
        free(h);
        poll_answer(t, p, 204, "text/plain", "", 0);
        return 0;
    }
    const char *tr = lws_get_urlarg_by_name(wsi, "transport=", buf, sizeof buf);
    if (!tr || (strcmp(tr, "polling") != 0 && strcmp(tr, "websocket") != 0)) {
        poll_error(t, p, EIO_ERR_UNKNOWN_TRANSPORT);
        return 0;
    }
    if (strcmp(tr, "websocket") == 0) { /* not an Upgrade request */
        poll_error(t, p, EIO_ERR_BAD_REQUEST);
        return 0;
    }
    /* lws_get_urlarg_by_name returns a pointer into buf, past "name=" */
    const char *sidv = lws_get_urlarg_by_name(wsi, "sid=", sid, sizeof sid);
    if (!sidv) {
        if (!is_get) {
            poll_error(t, p, EIO_ERR_BAD_HANDSHAKE_METHOD);
            return 0;
        }
        const char *eio = lws_get_urlarg_by_name(wsi, "EIO=", buf, sizeof buf);
        if (!eio || strcmp(eio, "4") != 0) {
            poll_error(t, p, EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION);
            return 0;
        }
        char ip[48], body[256];
        lws_get_peer_simple(wsi, ip, sizeof ip);
        int err, n = 0;
        brk_session *s = brk_poll_handshake(b, ip, body, sizeof body, &n, &err);
        if (!s) {
            const char *busy = brk_poll_busy_body(err, &p->retry_after);
            poll_answer(t, p, 503, "application/json", busy, strlen(busy));
            return 0;
        }
        brk_session_unref(s);
        poll_answer(t, p, 200, "text/plain; charset=UTF-8", body, (size_t)n);
        return 0;
    }
    if (!is_get && !is_post) {
        poll_error(t, p, EIO_ERR_BAD_REQUEST);
        return 0;
    }
    if (is_post) { /* the body follows (HTTP_BODY), answered at its end */
        p->post = 1;
        snprintf(p->sid, sizeof p->sid, "%s", sidv);
        char *ct = hdr_dup(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE);
        p->octet = ct && strncasecmp(ct, "application/octet-stream", 24) == 0;
        free(ct);
        return 0;
    }
    brk_session *s = poll_session(t, p, sidv, 1);
    if (s)
        poll_get(t, p, s);
    return 0;
}

static int on_http_body(brk_lws *t, lws_poll *p, const char *in, size_t len)
{
    if (!p || !p->post || p->too_big)
        return 0;
    if (p->in_len + len > (size_t)t->b->cfg.max_payload) {
        p->too_big = 1; /* answered 413 at the end; nothing more kept */
        return 0;
    }
    if (buf_append(&p->in, &p->in_len, &p->in_cap, in, len) < 0)
        return -1;
    return 0;
}

static int on_http_body_done(brk_lws *t, lws_poll *p, struct lws *wsi)
{
    if (!p || !p->post)
        return 0;
    p->post = 0;
    (void)wsi;
    brk_session *s = poll_session(t, p, p->sid, 0);
    if (s)
        poll_post_done(t, p, s);
    return 0;
}

static void on_http_closed(brk_lws *t, lws_pss *pss);

static int on_http_writable(brk_lws *t, lws_pss *pss, struct lws *wsi)
{
    lws_poll *p = pss ? pss->p : NULL;
    if (!p || !p->answered)
        return 0;
    p->answered = 0;
    size_t hlen = 1024 + strlen(p->origin) + strlen(p->allow_headers);
    unsigned char *hb = malloc(LWS_PRE + hlen + p->out_len);
    if (!hb)
        return -1;
    unsigned char *start = hb + LWS_PRE, *q = start, *end = start + hlen;
#define ADD_HDR(name, val)                                                                         \
    lws_add_http_header_by_name(wsi, (const unsigned char *)(name), (const unsigned char *)(val),  \
                                (int)strlen(val), &q, end)
    int bad =
        lws_add_http_common_headers(wsi, (unsigned int)p->status, p->ctype, p->out_len, &q, end) ||
        ADD_HDR("cache-control:", "no-store");
    if (!bad && p->retry_after)
        bad = ADD_HDR("retry-after:", p->retry_after);
    /* lws closes the connection after an error status or a request's
     * Connection: close; say so, or a pooling client reuses it and sees a
     * hang-up */
    if (!bad && (p->status >= 400 || p->close))
        bad = ADD_HDR("connection:", "close");
    if (!bad && p->origin[0])
        bad = ADD_HDR("access-control-allow-origin:", p->origin) || ADD_HDR("vary:", "Origin") ||
              ADD_HDR("access-control-allow-credentials:", "true");
    if (!bad && p->is_options) {
        bad = ADD_HDR("access-control-allow-methods:", "GET,POST,OPTIONS");
        if (!bad && p->allow_headers[0])
            bad = ADD_HDR("access-control-allow-headers:", p->allow_headers);
    }
#undef ADD_HDR
    if (bad || lws_finalize_write_http_header(wsi, start, &q, end)) {
        free(hb);
        return -1;
    }
    int rc = 0;
    if (p->out_len) {
        memcpy(hb + LWS_PRE, p->out, p->out_len);
        rc = lws_write(wsi, hb + LWS_PRE, p->out_len, LWS_WRITE_HTTP_FINAL);
    }
    free(hb);
    /* The transaction is over: free its state now (lws may free or reuse
     * the per-connection data at its end without a CLOSED_HTTP for it). */
    on_http_closed(t, pss);
    if (rc < 0)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static void on_http_closed(brk_lws *t, lws_pss *pss)
{
    lws_poll *p = pss ? pss->p : NULL;
    if (!p)
        return;
    poll_detach_job(t, p);
    poll_unwait(t, p);
    poll_release(p);
    free(p->in);
    free(p->out);
    free(p);
    pss->p = NULL;
}

static int lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len)
{
    brk_lws *t = lws_context_user(lws_get_context(wsi));
    lws_pss *pss = user;
    brk_lws_conn **pc = pss ? &pss->c : NULL;
    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (t)
            drain_pending(t);
        return 0;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return confirm_upgrade(t, wsi);
    case LWS_CALLBACK_ESTABLISHED: {
        brk_lws_conn *c = calloc(1, sizeof *c);
        if (!c)
            return -1;
        c->base.ops = &lws_ops;
        atomic_init(&c->refs, 1); /* the loop's, until CLOSED */
        c->t = t;
        c->wsi = wsi;
        c->id = (uint64_t)t->index << 48 | ++t->next_id;
        lws_get_peer_simple(wsi, c->ip, sizeof c->ip);
        c->query = query_dup(wsi);
        c->origin = hdr_dup(wsi, WSI_TOKEN_ORIGIN);
        c->host = hdr_dup(wsi, WSI_TOKEN_HOST);
        if (t->b->cfg.lws_deflate) { /* lws accepts the client's offer */
            char *ext = hdr_dup(wsi, WSI_TOKEN_EXTENSIONS);
            c->deflate = ext && strstr(ext, "permessage-deflate") != NULL;
            free(ext);
        }
        if (t->reserved_wsi == wsi) { /* counted when its upgrade was admitted */
            t->reserved_wsi = NULL;
        } else {
            pthread_mutex_lock(&t->set->ip_lock);
            long long *n = ip_count(t, c->ip, 1);
            if (n)
                (*n)++;
            pthread_mutex_unlock(&t->set->ip_lock);
        }
        *pc = c;
        t->b->ws_handlers.ready(&c->base, t->b);
        return 0;
    }
    case LWS_CALLBACK_RECEIVE:
        if (!pc || !*pc)
            return -1;
        return on_receive(*pc, wsi, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (!pc || !*pc)
            return 0;
        return on_writable(*pc, wsi);
    case LWS_CALLBACK_CLOSED: {
        if (!pc || !*pc)
            return 0;
        brk_lws_conn *c = *pc;
        *pc = NULL;
        pthread_mutex_lock(&t->lock);
        c->wsi = NULL;
        conn_free_out(c);
        int later = c->job; /* a worker handles its messages: it calls `closed` */
        if (later)
            c->job_closed = 1;
        pthread_mutex_unlock(&t->lock);
        atomic_store(&c->closed, 1);
        pthread_mutex_lock(&t->set->ip_lock);
        long long *n = ip_count(t, c->ip, 0);
        if (n && --*n <= 0)
            free(brk_smap_del(&t->set->per_ip, c->ip));
        pthread_mutex_unlock(&t->set->ip_lock);
        if (!later)
            t->b->ws_handlers.closed(&c->base, t->b);
        op_unref(&c->base);
        return 0;
    }
    case LWS_CALLBACK_HTTP:
        return on_http(t, pss, wsi);
    case LWS_CALLBACK_HTTP_BODY:
        return on_http_body(t, pss ? pss->p : NULL, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return on_http_body_done(t, pss ? pss->p : NULL, wsi);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return on_http_writable(t, pss, wsi);
    case LWS_CALLBACK_CLOSED_HTTP:
        on_http_closed(t, pss);
        return 0;
    default:
        return 0;
    }
}

static void *loop_main(void *arg)
{
    brk_lws *t = arg;
    while (!atomic_load(&t->stop))
        if (lws_service(t->ctx, 0) < 0)
            break;
    return NULL;
}

static void lws_log(int level, const char *line)
{
    (void)level;
    (void)line; /* lws's own chatter; the broker logs what matters */
}

/* Hand an accepted socket to loop t (it adopts it on its own thread). */
static void hand_over(brk_lws *t, int fd)
{
    pthread_mutex_lock(&t->lock);
    if (t->dead || (t->nadopt == t->adopt_cap && grow_adopt(t) < 0)) {
        pthread_mutex_unlock(&t->lock);
        close(fd);
        return;
    }
    int first = !t->nadopt && !t->pending && !t->posts_done;
    t->adopt[t->nadopt++] = fd;
    atomic_store(&t->any_pending, 1);
    if (first)
        lws_cancel_service(t->ctx);
    pthread_mutex_unlock(&t->lock);
}

static void *acceptor_main(void *arg)
{
    brk_lws_set *set = arg;
    unsigned next = 0;
    while (!atomic_load(&set->stop)) {
        int fd = accept4(set->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (atomic_load(&set->stop))
                break;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                struct timespec ts = {0, 10 * 1000000L}; /* out of descriptors: breathe */
                nanosleep(&ts, NULL);
            }
            continue;
        }
        hand_over(&set->loops[next++ % (unsigned)set->n], fd);
    }
    return NULL;
}

static int listen_on(const char *spec)
{
    char host[128];
    const char *colon = strrchr(spec, ':');
    snprintf(host, sizeof host, "%.*s", colon ? (int)(colon - spec) : 0, spec);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if (getaddrinfo(host[0] ? host : NULL, colon ? colon + 1 : "0", &hints, &res) != 0 || !res)
        return -EINVAL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    int rc = fd < 0 ? -errno : 0;
    if (rc == 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (rc == 0 && (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0))
        rc = -errno;
    freeaddrinfo(res);
    if (rc < 0) {
        if (fd >= 0)
            close(fd);
        return rc;
    }
    return fd;
}

static void loops_stop(brk_lws_set *set);

int brk_lws_start(brk_state *b)
{
    brk_lws_set *set = calloc(1, sizeof *set);
    if (!set)
        return -ENOMEM;
    set->b = b;
    set->listen_fd = -1;
    pthread_mutex_init(&set->ip_lock, NULL);
    set->n = (int)b->cfg.lws_threads;
    set->loops = calloc((size_t)set->n, sizeof *set->loops);
    if (!set->loops || brk_smap_init(&set->per_ip, 1024) < 0) {
        free(set->loops);
        pthread_mutex_destroy(&set->ip_lock);
        free(set);
        return -ENOMEM;
    }
    b->lws = set;

    vg_workq_opts wo = VG_WORKQ_OPTS_INIT;
    wo.threads = (int)b->cfg.lws_call_threads;
    /* at most one job per connection */
    wo.capacity = (int)(b->cfg.max_clients < 1000000 ? b->cfg.max_clients + 1 : 1000000);
    wo.submit_wait_ms = 0; /* the loop never waits: a full queue refuses (1013) */
    wo.max_attempts = 1;
    wo.drain_ms = 0; /* at stop, waiting messages are dropped (`closed` still runs) */
    if (b->host->workq_create(b->host, "lws-calls", &wo, &set->calls) < 0) {
        loops_stop(set);
        return -ENOMEM;
    }
    set->listen_fd = listen_on(b->cfg.lws_listen);
    if (set->listen_fd < 0) {
        int rc = set->listen_fd;
        loops_stop(set);
        return rc;
    }

    lws_set_log_level(LLL_ERR, lws_log);
    /* off by default: zlib's state costs memory per connection (see
     * docs/operations.md §6 for the figures) */
    static const struct lws_extension deflate_ext[] = {
        {"permessage-deflate", lws_extension_callback_pm_deflate,
         "permessage-deflate; client_no_context_takeover; client_max_window_bits"},
        {NULL, NULL, NULL}};
    for (int i = 0; i < set->n; i++) {
        brk_lws *t = &set->loops[i];
        t->b = b;
        t->set = set;
        t->index = i;
        t->calls = set->calls;
        pthread_mutex_init(&t->lock, NULL);
        t->protocols[0].name = "engine.io";
        t->protocols[0].callback = lws_cb;
        t->protocols[0].per_session_data_size = sizeof(lws_pss);
        t->protocols[0].rx_buffer_size = 4096;
        struct lws_context_creation_info info;
        memset(&info, 0, sizeof info);
        info.port = CONTEXT_PORT_NO_LISTEN_SERVER; /* the accept thread listens */
        info.protocols = t->protocols;
        info.gid = -1;
        info.uid = -1;
        info.user = t;
        info.count_threads = 1;
        info.timeout_secs = (unsigned int)((b->cfg.handshake_timeout + 999) / 1000);
        info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
        info.max_http_header_pool = 1024;
        if (b->cfg.lws_deflate)
            info.extensions = deflate_ext;
        t->ctx = lws_create_context(&info);
        t->vhost = t->ctx ? lws_get_vhost_by_name(t->ctx, "default") : NULL;
        if (!t->vhost || pthread_create(&t->thread, NULL, loop_main, t) != 0) {
            loops_stop(set);
            return -EAGAIN;
        }
        t->started = 1;
    }
    if (pthread_create(&set->acceptor, NULL, acceptor_main, set) != 0) {
        loops_stop(set);
        return -EAGAIN;
    }
    set->acceptor_started = 1;
    return 0;
}

/* Stops the accept thread, then every loop; frees everything. */
static void loops_stop(brk_lws_set *set)
{
    brk_state *b = set->b;
    atomic_store(&set->stop, 1);
    if (set->listen_fd >= 0)
        shutdown(set->listen_fd, SHUT_RDWR); /* wakes accept() */
    if (set->acceptor_started)
        pthread_join(set->acceptor, NULL);
    if (set->listen_fd >= 0)
        close(set->listen_fd);
    for (int i = 0; i < set->n; i++) {
        brk_lws *t = &set->loops[i];
        if (t->started) {
            atomic_store(&t->stop, 1);
            pthread_mutex_lock(&t->lock);
            lws_cancel_service(t->ctx);
            pthread_mutex_unlock(&t->lock);
            pthread_join(t->thread, NULL);
        }
        pthread_mutex_lock(&t->lock);
        t->dead = 1;
        pthread_mutex_unlock(&t->lock);
        /* closes every connection: their `closed` runs here, on this
         * thread, or on its call worker when one is busy with its messages */
        if (t->ctx)
            lws_context_destroy(t->ctx);
    }
    if (set->calls)
        b->host->workq_stop(set->calls);
    for (int i = 0; i < set->n; i++) {
        brk_lws *t = &set->loops[i];
        brk_lws_conn *c = t->pending;
        t->pending = NULL;
        while (c) {
            brk_lws_conn *next = c->pend_next;
            op_unref(&c->base);
            c = next;
        }
        for (size_t k = 0; k < t->nadopt; k++)
            close(t->adopt[k]);
        free(t->adopt);
        if (t->b) /* initialised */
            pthread_mutex_destroy(&t->lock);
    }
    brk_smap_free(&set->per_ip, free);
    pthread_mutex_destroy(&set->ip_lock);
    free(set->loops);
    free(set);
    b->lws = NULL;
}

void brk_lws_stop(brk_state *b)
{
    if (b->lws)
        loops_stop(b->lws);
}
