/* Vigía public SDK: HTTP routes and WebSocket endpoints.
 *
 * Routes are registered through the host (plugin.h: host->http_route) with a
 * method ("GET", "POST", ... or "*") and a path pattern. A pattern segment
 * written {name} matches one path segment, readable with vg_http_param().
 * The core answers 405 with an Allow header when the path matches but the
 * method does not, 404 JSON for unknown /api/ paths, and serves web_root for
 * everything else.
 *
 * Handlers run on civetweb worker threads ([server] threads of them) whose
 * stacks are 100 KiB: keep big buffers on the heap. Many run at once, so
 * handlers must be thread-safe. A handler may block briefly (a database
 * query, a bus call) but each blocked handler holds a worker: for slow work
 * (outbound HTTP, retries) submit a job to a work queue (workq.h) and reply
 * 202. A handler may call any host function, the bus and vg_http_* on its
 * own request, and must send exactly one reply.
 *
 * Routes may be registered at any time after init starts; plugins need not
 * remove them. Handlers can run from the moment the server listens (before
 * the plugin's start) until the HTTP server stops, which is after every
 * plugin's stop and before any destroy. A route's user_free runs after the
 * plugin's destroy.
 *
 * The core names no plugin and no path of its own besides /api/health: what
 * a route needs of it (a quieter access log, ...) the plugin declares with
 * host->http_route_flags (VG_ROUTE_* below). Every answered request is
 * counted by route pattern, method and status (the stats behind /metrics). */
#ifndef VIGIA_HTTP_H
#define VIGIA_HTTP_H

#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vg_http_request vg_http_request;
typedef struct vg_ws_conn vg_ws_conn;

/* Route flags for host->http_route_flags (ABI 1.2). */
enum {
    /* The access log line goes out at debug level, not info: for endpoints a
     * client polls all the time (long-polls, transports), whose lines would
     * drown the rest. The request is still counted. */
    VG_ROUTE_QUIET = 1u << 0,
    VG_ROUTE_FLAGS_KNOWN = VG_ROUTE_QUIET,
};

/* Return 0 once a reply has been sent; a negative errno makes the core send a
 * 500 if nothing was sent yet. */
typedef int (*vg_http_handler)(vg_http_request *req, void *user);

typedef struct vg_http_ops {
    const char *(*method)(vg_http_request *req);
    const char *(*path)(vg_http_request *req);         /* decoded, without the query */
    const char *(*query_string)(vg_http_request *req); /* raw, may be NULL */
    const char *(*param)(vg_http_request *req, const char *name);
    int (*query)(vg_http_request *req, const char *name, char *buf, size_t size);
    const char *(*header)(vg_http_request *req, const char *name);
    const char *(*remote_addr)(vg_http_request *req);
    int (*body)(vg_http_request *req, size_t max, const char **data, size_t *len);
    int (*set_header)(vg_http_request *req, const char *name, const char *value);
    int (*reply)(vg_http_request *req, int status, const char *content_type, const void *data,
                 size_t len);
    int (*reply_json)(vg_http_request *req, int status, json_t *body);
    int (*reply_errorv)(vg_http_request *req, int status, const char *code, const char *fmt,
                        va_list ap);
    int (*require_admin)(vg_http_request *req);
    int (*replied)(vg_http_request *req);
    int (*write)(vg_http_request *req, const void *data, size_t len);
} vg_http_ops;

struct vg_http_request {
    const vg_http_ops *ops;
};

/* "GET", "POST", ... Borrowed for the request's lifetime. */
static inline const char *vg_http_method(vg_http_request *r) { return r->ops->method(r); }
/* The URL-decoded path, e.g. "/api/datasets/abc". */
static inline const char *vg_http_path(vg_http_request *r) { return r->ops->path(r); }
/* The raw query string without '?', or NULL. */
static inline const char *vg_http_query_string(vg_http_request *r)
{
    return r->ops->query_string(r);
}
/* Value of a {name} path segment, URL-decoded, or NULL. */
static inline const char *vg_http_param(vg_http_request *r, const char *name)
{
    return r->ops->param(r, name);
}
/* URL-decoded query variable into buf. Returns its length, -ENOENT when
 * absent, -E2BIG when it does not fit in `size` (including the NUL). */
static inline int vg_http_query(vg_http_request *r, const char *name, char *buf, size_t size)
{
    return r->ops->query(r, name, buf, size);
}
/* Request header value (case-insensitive name), or NULL. */
static inline const char *vg_http_header(vg_http_request *r, const char *name)
{
    return r->ops->header(r, name);
}
static inline const char *vg_http_remote_addr(vg_http_request *r) { return r->ops->remote_addr(r); }
/* Read the whole body (at most `max` bytes; the core keeps it for the
 * request's lifetime and NUL-terminates it). Returns 0, -E2BIG when the body
 * is larger than `max` (reply 413), -EIO on a read error. */
static inline int vg_http_body(vg_http_request *r, size_t max, const char **data, size_t *len)
{
    return r->ops->body(r, max, data, len);
}
/* Add a response header; call before the reply. */
static inline int vg_http_set_header(vg_http_request *r, const char *name, const char *value)
{
    return r->ops->set_header(r, name, value);
}
/* Send a whole reply with Content-Length. */
static inline int vg_http_reply(vg_http_request *r, int status, const char *content_type,
                                const void *data, size_t len)
{
    return r->ops->reply(r, status, content_type, data, len);
}
/* Send `body` as application/json; charset=utf-8. Steals `body`. */
static inline int vg_http_reply_json(vg_http_request *r, int status, json_t *body)
{
    return r->ops->reply_json(r, status, body);
}
/* Send {"error":{"code": code, "message": ...}} with `status`. */
static inline int vg_http_reply_error(vg_http_request *r, int status, const char *code,
                                      const char *fmt, ...) VG_PRINTF(4, 5);
static inline int vg_http_reply_error(vg_http_request *r, int status, const char *code,
                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = r->ops->reply_errorv(r, status, code, fmt, ap);
    va_end(ap);
    return rc;
}
/* 0 when no admin_token is configured or the request carries
 * "Authorization: Bearer <token>" (compared in constant time). Otherwise it
 * has already replied 401 and returns -EACCES. */
static inline int vg_http_require_admin(vg_http_request *r) { return r->ops->require_admin(r); }
/* 1 once a reply (or its headers) has been sent. */
static inline int vg_http_replied(vg_http_request *r) { return r->ops->replied(r); }
/* Raw write after a reply sent with status headers only (streaming); rarely
 * needed. Returns bytes written or a negative errno. */
static inline int vg_http_write(vg_http_request *r, const void *data, size_t len)
{
    return r->ops->write(r, data, len);
}

/* ---------------------------------------------------------------------------
 * WebSocket endpoints (host->ws_route).
 *
 * The core owns the connection object and protects against civetweb's reuse
 * of its connection structs: once a connection is closed, every send on its
 * vg_ws_conn returns -EPIPE, whatever thread holds it. Fragmented messages are
 * reassembled by the core (up to the route's max_message, beyond which the
 * connection is closed with 1009), CLOSE frames are answered, ping/pong is
 * done by civetweb.
 *
 * connect runs on the worker thread of the upgrade request; ready, message
 * and closed on the worker thread that holds the connection (one per open
 * WebSocket, for its whole life: admit against host->http_busy). message
 * calls for one connection never overlap. closed also runs when the server
 * stops (after every plugin's stop, before destroy).
 *
 * A send blocks while the peer's socket buffer is full (up to civetweb's
 * request timeout, rounded up to 2 s). Never send from a broadcast loop or a
 * bus callback: queue, and send from your own sender threads. A short write
 * closes the connection (the stream would be corrupt) and returns -EIO. */

enum {
    VG_WS_TEXT = 0x1,
    VG_WS_BINARY = 0x2,
    VG_WS_CLOSE = 0x8,
    VG_WS_PING = 0x9,
    VG_WS_PONG = 0xA,
};

typedef struct vg_ws_handlers {
    /* Before the handshake. Return 0 to accept; anything else refuses it. To
     * refuse with an HTTP answer, reply through `req` first. May be NULL. */
    int (*connect)(vg_http_request *req, void *user);
    /* The handshake is done; sends are allowed from here on. */
    void (*ready)(vg_ws_conn *c, void *user);
    /* One whole message (opcode TEXT or BINARY), reassembled. Return 1 to keep
     * the connection, 0 to close it. */
    int (*message)(vg_ws_conn *c, int opcode, const char *data, size_t len, void *user);
    /* The connection is gone; sends now fail with -EPIPE. Called exactly once
     * for every connection that got `ready`. */
    void (*closed)(vg_ws_conn *c, void *user);
    /* Largest message accepted after reassembly; 0 means 1 MiB. */
    size_t max_message;
} vg_ws_handlers;

typedef struct vg_ws_ops {
    int (*send)(vg_ws_conn *c, int opcode, const void *data, size_t len);
    int (*send_frame)(vg_ws_conn *c, const void *frame, size_t len);
    int (*close)(vg_ws_conn *c, int code, const char *reason);
    void (*ref)(vg_ws_conn *c);
    void (*unref)(vg_ws_conn *c);
    void (*set_user)(vg_ws_conn *c, void *data);
    void *(*get_user)(vg_ws_conn *c);
    int (*query)(vg_ws_conn *c, const char *name, char *buf, size_t size);
    const char *(*header)(vg_ws_conn *c, const char *name);
    const char *(*remote_addr)(vg_ws_conn *c);
    int (*is_closed)(vg_ws_conn *c);
    uint64_t (*id)(vg_ws_conn *c);
} vg_ws_ops;

struct vg_ws_conn {
    const vg_ws_ops *ops;
};

/* Send one unfragmented message. 0, -EPIPE (closed), -EIO (write failed or
 * short; the connection is now closed). */
static inline int vg_ws_send(vg_ws_conn *c, int opcode, const void *data, size_t len)
{
    return c->ops->send(c, opcode, data, len);
}
/* Send a frame built by the caller (header + payload, unmasked), e.g. one
 * built once for a broadcast. Same results as vg_ws_send. */
static inline int vg_ws_send_frame(vg_ws_conn *c, const void *frame, size_t len)
{
    return c->ops->send_frame(c, frame, len);
}
/* Send CLOSE with `code` and mark the connection closed. */
static inline int vg_ws_close(vg_ws_conn *c, int code, const char *reason)
{
    return c->ops->close(c, code, reason);
}
/* Keep the object alive beyond `closed` (e.g. while it sits in a queue). */
static inline void vg_ws_ref(vg_ws_conn *c) { c->ops->ref(c); }
static inline void vg_ws_unref(vg_ws_conn *c) { c->ops->unref(c); }
static inline void vg_ws_set_user(vg_ws_conn *c, void *data) { c->ops->set_user(c, data); }
static inline void *vg_ws_get_user(vg_ws_conn *c) { return c->ops->get_user(c); }
/* Query variable of the upgrade request; as vg_http_query. */
static inline int vg_ws_query(vg_ws_conn *c, const char *name, char *buf, size_t size)
{
    return c->ops->query(c, name, buf, size);
}
/* Header of the upgrade request (copied at connect time), or NULL. */
static inline const char *vg_ws_header(vg_ws_conn *c, const char *name)
{
    return c->ops->header(c, name);
}
static inline const char *vg_ws_remote_addr(vg_ws_conn *c) { return c->ops->remote_addr(c); }
static inline int vg_ws_is_closed(vg_ws_conn *c) { return c->ops->is_closed(c); }
/* Unique for the server's lifetime (never reused, unlike civetweb's structs). */
static inline uint64_t vg_ws_id(vg_ws_conn *c) { return c->ops->id(c); }

/* Build a server-to-client frame (FIN set, unmasked) into `out`, which must
 * have room for len + 10 bytes. Returns the frame length. */
static inline size_t vg_ws_build_frame(unsigned char *out, int opcode, const void *data, size_t len)
{
    size_t h = 0;
    out[h++] = (unsigned char)(0x80 | (opcode & 0x0f));
    if (len < 126) {
        out[h++] = (unsigned char)len;
    } else if (len <= 0xffff) {
        out[h++] = 126;
        out[h++] = (unsigned char)(len >> 8);
        out[h++] = (unsigned char)len;
    } else {
        out[h++] = 127;
        for (int i = 7; i >= 0; i--)
            out[h++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    for (size_t i = 0; i < len; i++)
        out[h + i] = ((const unsigned char *)data)[i];
    return h + len;
}

#ifdef __cplusplus
}
#endif

#endif /* VIGIA_HTTP_H */
