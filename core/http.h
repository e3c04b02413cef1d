/* civetweb glue: one catch-all request handler that dispatches to routes
 * registered by plugins (method + {param} patterns), 404/405 for the API,
 * static files from web_root for the rest; WebSocket endpoints wrapped in
 * connection objects that survive civetweb's reuse of its structs. */
#ifndef CORE_HTTP_H
#define CORE_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "vigia/bus.h"
#include "vigia/http.h"

typedef struct core_http core_http;

typedef struct core_http_options {
    const char *listen;   /* "127.0.0.1:8080" */
    const char *web_root; /* may be NULL: no static files */
    int threads;
    int64_t request_timeout_ms;
    int64_t websocket_timeout_ms;
    const char *admin_token;     /* NULL or "" for none */
    int64_t request_deadline_ms; /* whole headers + body of one request */
    int max_conns_per_ip;        /* connections held by workers, per peer address */
    json_t *public_names;        /* Host names served besides loopback/IP literals (borrowed) */
} core_http_options;

core_http *core_http_new(const core_http_options *opt);
/* Start civetweb and check that the port really accepts connections. */
int core_http_start(core_http *http, char *err, size_t errlen);
/* Stop civetweb (waits for handlers to return). */
void core_http_stop(core_http *http);
void core_http_free(core_http *http);

/* `owner` identifies who registered (for core_http_release_owner). */
int core_http_route(core_http *http, void *owner, const char *method, const char *pattern,
                    vg_http_handler handler, void *user, vg_free_cb user_free);
/* The same with VG_ROUTE_* flags (vigia/http.h); unknown flags are -EINVAL. */
int core_http_route_flags(core_http *http, void *owner, const char *method, const char *pattern,
                          unsigned flags, vg_http_handler handler, void *user,
                          vg_free_cb user_free);
int core_http_ws_route(core_http *http, void *owner, const char *path, const vg_ws_handlers *h,
                       void *user, vg_free_cb user_free);
/* Remove (and user_free) every route `owner` registered. Only before
 * core_http_start or after core_http_stop for WebSocket routes. */
void core_http_release_owner(core_http *http, void *owner);

int core_http_admin_token_ok(const core_http *http, const char *token);
/* Configured worker threads, and how many serve a request or hold a WebSocket now. */
int core_http_threads(const core_http *http);
int core_http_busy(core_http *http);
bool core_http_admin_token_set(const core_http *http);
const char *core_http_listen(const core_http *http);

/* {requests:[{route, method, status, count}]}: new reference. */
json_t *core_http_stats(core_http *http);

/* Constant-time string equality (exposed for tests). */
int core_consttime_equal(const char *a, const char *b);

#endif
