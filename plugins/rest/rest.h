/* rest plugin: private declarations shared by its files.
 *
 * The plugin owns no data. Every route maps to bus methods of other plugins;
 * when the owner is missing the route answers 503 naming it. */
#ifndef VIGIA_REST_H
#define VIGIA_REST_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vigia/contract/broker.h>
#include <vigia/contract/core.h>
#include <vigia/contract/monitor.h>
#include <vigia/contract/notifications.h>
#include <vigia/contract/rest.h>
#include <vigia/vigia.h>

#include "util.h"

/* Plugin state: read-only after init, except the stats publisher part. */
typedef struct rest_state {
    const vg_host *host;
    size_t max_body;           /* [rest] max_body, bytes */
    json_t *allowed_origins;   /* [rest] allowed_origins: array of strings ("*" = any) */
    bool public_mark_read;     /* [rest] public_mark_read */
    bool log_requests;         /* [rest] log_requests */
    int64_t stats_interval_ms; /* [rest] stats_interval: min gap between stats.updated */
    int64_t stats_cache_ms;    /* [rest] stats_cache: reuse GET /api/stats for this long */

    /* stats.updated coalescing: event callbacks set `dirty`, one thread publishes. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool dirty;
    bool stopping;
    bool thread_running;
    pthread_t thread;
    json_t *last_published;   /* last stats.updated payload, owned */
    uint64_t published_count; /* how many stats.updated we published */
    vg_subscription *subs[4];
    bool method_registered;
    bool sync_ready; /* mu/cv initialised */
    /* notification.created events seen since start, by type (info, warning, error,
     * success): the counter behind vigia_notifications_created_total. Under mu. */
    uint64_t created_by_type[4];
    /* GET /api/stats cache: dropped by every subscribed event (generation bump). Under mu. */
    json_t *stats_cache;
    int64_t stats_cache_at;
    uint64_t generation;
} rest_state;

struct rest_route;

/* One request in flight: what the handler needs and what the access log says. */
typedef struct rest_req {
    rest_state *st;
    vg_http_request *req;
    const struct rest_route *route;
    int status; /* status we replied with (0 = none yet) */
} rest_req;

/* ---- http.c: replies, bodies, query parameters ---- */

/* Reply with a JSON body (steals `body`). With `etag`, add an ETag computed
 * from the serialized body and answer 304 when If-None-Match matches. */
int rest_reply_json(rest_req *rq, int status, json_t *body, bool etag);
int rest_reply_error(rest_req *rq, int status, const char *code, const char *fmt, ...)
    VG_PRINTF(4, 5);
/* Reply for a failed bus call: status from the errno, code/message from the
 * method's error object (borrowed, may be NULL). */
int rest_reply_call_error(rest_req *rq, const char *method, int rc, const json_t *err);
int rest_reply_text(rest_req *rq, int status, const char *content_type, const char *data,
                    size_t len);

/* Call a bus method; on failure reply the mapped error and return the negative
 * errno (the caller just returns 0). On success *result is a new reference. */
int rest_call(rest_req *rq, const char *method, const json_t *params, json_t **result);

/* Read an optional JSON object body: *out = NULL when there is none. Replies
 * 413/415/400 itself and returns a negative errno on bad input. */
int rest_read_body(rest_req *rq, json_t **out);

/* Reject query parameters not in `allowed` (NULL-terminated); replies 400. */
int rest_query_check(rest_req *rq, const char *const *allowed);
/* Typed query getters: 0 (value or default set), or reply 400 and return -EINVAL.
 * *present (may be NULL) says whether the parameter was given. */
int rest_query_int(rest_req *rq, const char *name, long long def, long long min, long long max,
                   long long *out, bool *present);
int rest_query_bool(rest_req *rq, const char *name, bool *out, bool *present);
int rest_query_enum(rest_req *rq, const char *name, const char *const *choices, const char **out);
/* String parameter of at most max_len bytes, without control characters;
 * *out is malloc'd or NULL when absent. */
int rest_query_string(rest_req *rq, const char *name, size_t max_len, char **out);

/* ---- routes.c ---- */
int rest_routes_register(rest_state *st);
/* orgs.c: the report per organisation (JSON, or CSV with ?format=csv) */
int rest_h_organizations(rest_req *rq);
int rest_h_organization(rest_req *rq);

/* ---- stats.c ---- */
/* Build the stats object (new reference, never NULL unless out of memory). */
json_t *rest_stats_build(rest_state *st);
/* The same, served from a short cache that every subscribed event invalidates. */
json_t *rest_stats_cached(rest_state *st);
/* Drop the cache (after a change made through this API: read-your-writes). */
void rest_stats_invalidate(rest_state *st);
int rest_stats_init(rest_state *st);  /* register stats.get, subscribe */
int rest_stats_start(rest_state *st); /* start the publisher thread */
void rest_stats_stop(rest_state *st);

/* ---- metrics.c ---- */
/* Prometheus text exposition; malloc'd string, *len set. NULL on OOM. */
char *rest_metrics_render(rest_state *st, size_t *len);

/* Call a method and return its result or NULL (errors ignored): used by the
 * aggregating views (stats, metrics), which simply omit what is missing. */
json_t *rest_call_quiet(rest_state *st, const char *method, const json_t *params, int *rc);

#endif /* VIGIA_REST_H */
