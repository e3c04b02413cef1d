/* rest plugin: the route table and one handler per route. Each handler checks
 * its parameters, calls the owning plugin's bus method and passes the reply on. */
#include "rest.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum {
    ROUTE_ADMIN = 1,           /* needs the admin token when one is set */
    ROUTE_ADMIN_MARK_READ = 2, /* needs it when [rest] public_mark_read = false */
};

typedef int (*rest_handler)(rest_req *rq);

struct rest_route {
    const char *method;
    const char *pattern;
    rest_handler fn;
    unsigned flags;
    const char *action; /* admin routes: the action in words, for the core's no-token line */
};

typedef struct rest_binding {
    rest_state *st;
    const struct rest_route *route;
    char allow[64]; /* for OPTIONS: the methods this pattern answers */
} rest_binding;

/* ---- helpers ---- */

/* Notification ids are decimal strings of positive integers. */
static int notification_id_param(rest_req *rq, char *out, size_t size)
{
    const char *id = vg_http_param(rq->req, "id");
    long long v;
    if (!id || rest_parse_int(id, 1, REST_MAX_SAFE_INT, &v) < 0) {
        char got[64];
        rest_sanitize(id ? id : "", got, sizeof got);
        rest_reply_error(rq, 400, "INVALID_ARGUMENT",
                         "notification id must be a decimal integer between 1 and %lld (got '%s')",
                         REST_MAX_SAFE_INT, got);
        return -EINVAL;
    }
    snprintf(out, size, "%lld", v);
    return 0;
}

/* CKAN ids and names: letters, digits and . _ : - ; nothing that could climb a path. */
static int dataset_id_param(rest_req *rq, const char **out)
{
    const char *id = vg_http_param(rq->req, "id");
    size_t n = id ? strlen(id) : 0;
    bool ok = n >= 1 && n <= 200;
    for (size_t i = 0; ok && i < n; i++) {
        char c = id[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '.' || c == '_' || c == ':' || c == '-';
    }
    if (ok && (!strcmp(id, ".") || !strcmp(id, "..")))
        ok = false;
    if (!ok) {
        char got[64];
        rest_sanitize(id ? id : "", got, sizeof got);
        rest_reply_error(rq, 400, "INVALID_ARGUMENT",
                         "dataset id must be 1 to 200 characters of A-Z a-z 0-9 . _ : - (got '%s')",
                         got);
        return -EINVAL;
    }
    *out = id;
    return 0;
}

/* Reject body fields a route does not know, naming them. */
static int body_check_fields(rest_req *rq, const json_t *body, const char *const *allowed,
                             const char *list)
{
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *)body, key, v) {
        bool known = false;
        for (size_t i = 0; allowed[i]; i++)
            if (!strcmp(allowed[i], key))
                known = true;
        if (!known) {
            char got[64];
            rest_sanitize(key, got, sizeof got);
            rest_reply_error(rq, 400, "INVALID_ARGUMENT",
                             "unknown field '%s' in the request body (accepted: %s)", got, list);
            return -EINVAL;
        }
    }
    return 0;
}

/* Optional string field of a body: 1..max_len bytes. */
static int body_string(rest_req *rq, const json_t *body, const char *name, size_t max_len,
                       const char **out)
{
    json_t *v = json_object_get(body, name);
    if (!v || json_is_null(v))
        return 0;
    const char *s = json_string_value(v);
    if (!s || json_string_length(v) == 0 || json_string_length(v) > max_len ||
        strlen(s) != json_string_length(v)) {
        rest_reply_error(rq, 400, "INVALID_ARGUMENT", "%s must be a string of 1 to %zu bytes", name,
                         max_len);
        return -EINVAL;
    }
    *out = s;
    return 0;
}

/* Call, then reply 200/201/202 with the method's result. */
static int call_and_reply(rest_req *rq, const char *method, json_t *params, int status, bool etag)
{
    if (!params)
        return rest_reply_error(rq, 500, "INTERNAL", "out of memory building %s parameters",
                                method);
    json_t *res = NULL;
    int rc = rest_call(rq, method, params, &res);
    json_decref(params);
    if (rc < 0)
        return 0;
    /* A change made here shows in the next GET /api/stats, not only after its event. */
    if (!strcmp(vg_http_method(rq->req), "POST"))
        rest_stats_invalidate(rq->st);
    return rest_reply_json(rq, status, res, etag);
}

/* ---- notifications ---- */

static int h_notifications_list(rest_req *rq)
{
    static const char *const allowed[] = {"limit", "unread", "type", "since", "before", "q", NULL};
    long long limit, since, before;
    bool unread = false, has_unread, has_since, has_before;
    const char *type = NULL;
    char *q = NULL;
    if (rest_query_check(rq, allowed) < 0 ||
        rest_query_int(rq, "limit", 50, 1, 500, &limit, NULL) < 0 ||
        rest_query_bool(rq, "unread", &unread, &has_unread) < 0 ||
        rest_query_enum(rq, "type", VG_NOTIFICATIONS_TYPES, &type) < 0 ||
        rest_query_int(rq, "since", 0, 0, REST_MAX_SAFE_INT, &since, &has_since) < 0 ||
        rest_query_int(rq, "before", 0, 1, REST_MAX_SAFE_INT, &before, &has_before) < 0 ||
        rest_query_string(rq, "q", 200, &q) < 0)
        return 0;
    if (has_since && has_before && since >= before) {
        free(q);
        return rest_reply_error(rq, 400, "INVALID_ARGUMENT",
                                "since (%lld) must be smaller than before (%lld)", since, before);
    }
    json_t *params = json_pack("{s:I}", "limit", (json_int_t)limit);
    if (params && has_unread)
        json_object_set_new(params, "unread", json_boolean(unread));
    if (params && type)
        json_object_set_new(params, "type", json_string(type));
    char idbuf[32];
    if (params && has_since && since > 0) { /* since=0 means from the start */
        snprintf(idbuf, sizeof idbuf, "%lld", since);
        json_object_set_new(params, "since", json_string(idbuf));
    }
    if (params && has_before) {
        snprintf(idbuf, sizeof idbuf, "%lld", before);
        json_object_set_new(params, "before", json_string(idbuf));
    }
    if (params && q)
        json_object_set_new(params, "q", json_string(q));
    free(q);
    return call_and_reply(rq, VG_NOTIFICATIONS_M_LIST, params, 200, true);
}

static int h_notification_read(rest_req *rq)
{
    char id[32];
    json_t *body = NULL;
    if (rest_query_check(rq, NULL) < 0 || notification_id_param(rq, id, sizeof id) < 0 ||
        rest_read_body(rq, &body) < 0)
        return 0;
    json_decref(body); /* nothing to read from it; parsed only to refuse garbage */
    return call_and_reply(rq, VG_NOTIFICATIONS_M_MARK_READ, json_pack("{s:s}", "id", id), 200,
                          false);
}

static int h_notifications_clear(rest_req *rq)
{
    json_t *body = NULL;
    if (rest_query_check(rq, NULL) < 0 || rest_read_body(rq, &body) < 0)
        return 0;
    json_decref(body);
    return call_and_reply(rq, VG_NOTIFICATIONS_M_CLEAR, json_object(), 200, false);
}

static int h_notifications_read_all(rest_req *rq)
{
    json_t *body = NULL;
    if (rest_query_check(rq, NULL) < 0 || rest_read_body(rq, &body) < 0)
        return 0;
    json_decref(body);
    return call_and_reply(rq, VG_NOTIFICATIONS_M_MARK_ALL_READ, json_object(), 200, false);
}

static int h_notifications_test(rest_req *rq)
{
    static const char *const fields[] = {"type", "title", "message", "data", NULL};
    json_t *body = NULL;
    if (rest_query_check(rq, NULL) < 0 || rest_read_body(rq, &body) < 0)
        return 0;
    const char *type = "info";
    const char *title = "Test notification";
    const char *message = "This is a test notification sent through the REST API.";
    int bad = 0;
    if (body) {
        bad = body_check_fields(rq, body, fields, "type, title, message, data") < 0 ||
              body_string(rq, body, "type", 16, &type) < 0 ||
              body_string(rq, body, "title", 256, &title) < 0 ||
              body_string(rq, body, "message", 4096, &message) < 0;
        json_t *data = json_object_get(body, "data");
        if (!bad && data && !json_is_object(data) && !json_is_null(data)) {
            rest_reply_error(rq, 400, "INVALID_ARGUMENT", "data must be a JSON object or null");
            bad = 1;
        }
    }
    if (!bad) {
        bool known = false;
        for (size_t i = 0; VG_NOTIFICATIONS_TYPES[i]; i++)
            if (!strcmp(VG_NOTIFICATIONS_TYPES[i], type))
                known = true;
        if (!known) {
            char got[64];
            rest_sanitize(type, got, sizeof got);
            rest_reply_error(rq, 400, "INVALID_ARGUMENT",
                             "type must be one of info, warning, error, success (got '%s')", got);
            bad = 1;
        }
    }
    if (bad) {
        json_decref(body);
        return 0;
    }
    json_t *data = json_object_get(body, "data");
    json_t *params =
        json_pack("{s:s, s:s, s:s, s:o}", "type", type, "title", title, "message", message, "data",
                  data && json_is_object(data) ? json_incref(data) : json_pack("{s:b}", "test", 1));
    json_decref(body);
    return call_and_reply(rq, VG_NOTIFICATIONS_M_CREATE, params, 201, false);
}

static int h_websockets_status(rest_req *rq)
{
    if (rest_query_check(rq, NULL) < 0)
        return 0;
    return call_and_reply(rq, VG_BROKER_M_STATUS, json_object(), 200, true);
}

/* ---- datasets, portals, monitor ---- */

static int h_datasets_list(rest_req *rq)
{
    static const char *const allowed[] = {"portal", "status", "organization", "q",
                                          "sort",   "limit",  "offset",       NULL};
    long long limit, offset;
    const char *status = NULL;
    char *portal = NULL, *org = NULL, *q = NULL, *sort = NULL;
    int bad = rest_query_check(rq, allowed) < 0 ||
              rest_query_int(rq, "limit", 50, 1, 500, &limit, NULL) < 0 ||
              rest_query_int(rq, "offset", 0, 0, 100000000, &offset, NULL) < 0 ||
              rest_query_enum(rq, "status", VG_MONITOR_DATASET_STATUSES, &status) < 0 ||
              rest_query_string(rq, "portal", 100, &portal) < 0 ||
              rest_query_string(rq, "organization", 200, &org) < 0 ||
              rest_query_string(rq, "q", 200, &q) < 0 ||
              rest_query_string(rq, "sort", 40, &sort) < 0;
    if (!bad && sort) {
        /* A field name, optionally prefixed with '-' for descending; the monitor says which. */
        const char *p = sort[0] == '-' ? sort + 1 : sort;
        bool ok = *p != '\0';
        for (; ok && *p; p++)
            ok = (*p >= 'a' && *p <= 'z') || *p == '_';
        if (!ok) {
            char got[64];
            rest_sanitize(sort, got, sizeof got);
            rest_reply_error(rq, 400, "INVALID_ARGUMENT",
                             "sort must be a field name, optionally prefixed with '-' (got '%s')",
                             got);
            bad = 1;
        }
    }
    json_t *params = NULL;
    if (!bad) {
        params = json_pack("{s:I, s:I}", "limit", (json_int_t)limit, "offset", (json_int_t)offset);
        if (params && status)
            json_object_set_new(params, "status", json_string(status));
        if (params && portal)
            json_object_set_new(params, "portal", json_string(portal));
        if (params && org)
            json_object_set_new(params, "organization", json_string(org));
        if (params && q)
            json_object_set_new(params, "q", json_string(q));
        if (params && sort)
            json_object_set_new(params, "sort", json_string(sort));
    }
    free(portal);
    free(org);
    free(q);
    free(sort);
    if (bad)
        return 0;
    return call_and_reply(rq, VG_MONITOR_M_DATASETS_LIST, params, 200, true);
}

/* Identity is (portal, id): `portal` picks one; without it an id found in
 * several portals answers 409 listing them (the monitor decides). */
static json_t *with_portal(json_t *params, char *portal)
{
    if (params && portal)
        json_object_set_new(params, "portal", json_string(portal));
    free(portal);
    return params;
}

static int h_dataset_get(rest_req *rq)
{
    static const char *const allowed[] = {"portal", NULL};
    const char *id;
    char *portal = NULL;
    if (rest_query_check(rq, allowed) < 0 || dataset_id_param(rq, &id) < 0 ||
        rest_query_string(rq, "portal", 100, &portal) < 0)
        return 0;
    return call_and_reply(rq, VG_MONITOR_M_DATASETS_GET,
                          with_portal(json_pack("{s:s}", "id", id), portal), 200, true);
}

static int h_dataset_history(rest_req *rq)
{
    static const char *const allowed[] = {"days", "portal", NULL};
    const char *id;
    long long days;
    char *portal = NULL;
    if (rest_query_check(rq, allowed) < 0 || dataset_id_param(rq, &id) < 0 ||
        rest_query_int(rq, "days", 30, 1, 365, &days, NULL) < 0 ||
        rest_query_string(rq, "portal", 100, &portal) < 0)
        return 0;
    return call_and_reply(
        rq, VG_MONITOR_M_DATASETS_HISTORY,
        with_portal(json_pack("{s:s, s:I}", "id", id, "days", (json_int_t)days), portal), 200,
        true);
}

/* The dataset's history of changes: every dataset event (status,
 * freshness, format drift, re-created resources, metadata...), newest first. */
static int h_dataset_changes(rest_req *rq)
{
    static const char *const allowed[] = {"days", "limit", "portal", NULL};
    const char *id;
    long long days, limit;
    char *portal = NULL;
    if (rest_query_check(rq, allowed) < 0 || dataset_id_param(rq, &id) < 0 ||
        rest_query_int(rq, "days", 30, 1, 366, &days, NULL) < 0 ||
        rest_query_int(rq, "limit", 100, 1, 1000, &limit, NULL) < 0 ||
        rest_query_string(rq, "portal", 100, &portal) < 0)
        return 0;
    return call_and_reply(rq, VG_MONITOR_M_DATASETS_CHANGES,
                          with_portal(json_pack("{s:s, s:I, s:I}", "id", id, "days",
                                                (json_int_t)days, "limit", (json_int_t)limit),
                                      portal),
                          200, true);
}

static int h_portals(rest_req *rq)
{
    if (rest_query_check(rq, NULL) < 0)
        return 0;
    return call_and_reply(rq, VG_MONITOR_M_STATUS, json_object(), 200, true);
}

static int h_monitor_run(rest_req *rq)
{
    static const char *const allowed[] = {"portal", NULL};
    static const char *const fields[] = {"portal", NULL};
    json_t *body = NULL;
    char *qportal = NULL;
    if (rest_query_check(rq, allowed) < 0 || rest_query_string(rq, "portal", 100, &qportal) < 0)
        return 0;
    if (rest_read_body(rq, &body) < 0) {
        free(qportal);
        return 0;
    }
    const char *portal = qportal;
    if (body && (body_check_fields(rq, body, fields, "portal") < 0 ||
                 body_string(rq, body, "portal", 100, &portal) < 0)) {
        json_decref(body);
        free(qportal);
        return 0;
    }
    json_t *params = json_object();
    if (params && portal)
        json_object_set_new(params, "portal", json_string(portal));
    json_decref(body);
    free(qportal);
    return call_and_reply(rq, VG_MONITOR_M_RUN_NOW, params, 202, false);
}

static int h_stats(rest_req *rq)
{
    if (rest_query_check(rq, NULL) < 0)
        return 0;
    return rest_reply_json(rq, 200, rest_stats_cached(rq->st), true);
}

static int h_metrics(rest_req *rq)
{
    if (rest_query_check(rq, NULL) < 0)
        return 0;
    size_t len = 0;
    char *text = rest_metrics_render(rq->st, &len);
    if (!text)
        return rest_reply_error(rq, 500, "INTERNAL", "out of memory rendering metrics");
    vg_http_set_header(rq->req, "Cache-Control", "no-store");
    int rc = rest_reply_text(rq, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
    return rc;
}

static const struct rest_route routes[] = {
    {"GET", "/api/notifications", h_notifications_list, 0},
    {"POST", "/api/notifications/{id}/read", h_notification_read, ROUTE_ADMIN_MARK_READ,
     "mark a notification read"},
    {"POST", "/api/notifications/clear", h_notifications_clear, ROUTE_ADMIN, "clear notifications"},
    {"POST", "/api/notifications/test", h_notifications_test, ROUTE_ADMIN,
     "send a test notification"},
    {"POST", "/api/notifications/read-all", h_notifications_read_all, ROUTE_ADMIN,
     "mark every notification read"},
    {"GET", "/api/websockets/status", h_websockets_status, 0},
    {"GET", "/api/datasets", h_datasets_list, 0},
    {"GET", "/api/datasets/{id}", h_dataset_get, 0},
    {"GET", "/api/datasets/{id}/history", h_dataset_history, 0},
    {"GET", "/api/datasets/{id}/changes", h_dataset_changes, 0},
    {"GET", "/api/organizations", rest_h_organizations, 0},
    {"GET", "/api/organizations/{name}", rest_h_organization, 0},
    {"GET", "/api/portals", h_portals, 0},
    {"POST", "/api/monitor/run", h_monitor_run, ROUTE_ADMIN, "run a monitor sweep"},
    {"GET", "/api/stats", h_stats, 0},
    {"GET", "/metrics", h_metrics, 0},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

/* ---- dispatch: CORS, admin token, the handler, the access log ---- */

static bool cors_headers(rest_req *rq)
{
    /* Answers differ by Origin whenever CORS is configured: tell caches. */
    if (json_array_size(rq->st->allowed_origins))
        vg_http_set_header(rq->req, "Vary", "Origin");
    const char *origin = vg_http_header(rq->req, "Origin");
    if (!origin || !rest_origin_allowed(rq->st->allowed_origins, origin))
        return false;
    vg_http_set_header(rq->req, "Access-Control-Allow-Origin", origin);
    vg_http_set_header(rq->req, "Access-Control-Expose-Headers", "ETag, Retry-After");
    return true;
}

static int preflight(rest_req *rq, const rest_binding *b)
{
    char methods[80];
    snprintf(methods, sizeof methods, "%s, OPTIONS", b->allow);
    vg_http_set_header(rq->req, "Allow", methods);
    if (cors_headers(rq)) {
        vg_http_set_header(rq->req, "Access-Control-Allow-Methods", methods);
        vg_http_set_header(rq->req, "Access-Control-Allow-Headers",
                           "Authorization, Content-Type, If-None-Match");
        vg_http_set_header(rq->req, "Access-Control-Max-Age", "600");
    }
    return rest_reply_text(rq, 204, "text/plain; charset=utf-8", NULL, 0);
}

/* CSRF: a web page may POST to us from the browser of someone on this
 * machine or network. Actions accept only our own origin or [rest]
 * allowed_origins; requests without Origin or Sec-Fetch-Site (curl, scripts)
 * are not from a browser page. Replies 403 and returns true when refused. */
static bool cross_site_refused(rest_req *rq)
{
    const char *origin = vg_http_header(rq->req, "Origin");
    const char *site = vg_http_header(rq->req, "Sec-Fetch-Site");
    char got[64];
    if (origin && *origin) {
        if (rest_same_origin(origin, vg_http_header(rq->req, "Host")) ||
            rest_origin_allowed(rq->st->allowed_origins, origin))
            return false;
        rest_sanitize(origin, got, sizeof got);
        rest_reply_error(rq, 403, "CROSS_ORIGIN",
                         "a page from '%s' may not call this action: it is neither this server's "
                         "origin nor in [rest] allowed_origins",
                         got);
        return true;
    }
    if (site && (!strcmp(site, "cross-site") || !strcmp(site, "same-site"))) {
        rest_sanitize(site, got, sizeof got);
        rest_reply_error(rq, 403, "CROSS_ORIGIN",
                         "a %s browser request without Origin may not call this action", got);
        return true;
    }
    return false;
}

/* Without an admin token an action is open to whoever reaches it: only
 * this machine's peers may. */
static bool remote_without_token(rest_req *rq)
{
    const vg_host *h = rq->st->host;
    if (h->admin_token_set(h) || h->peer_is_loopback(h, vg_http_remote_addr(rq->req)))
        return false;
    rest_reply_error(rq, 403, "FORBIDDEN",
                     "no [server] admin_token is set, so this action is allowed from this machine "
                     "only; set admin_token to allow it from elsewhere");
    return true;
}

/* A write is refused before it starts while the database is gone: the owner
 * would acknowledge it into a file nobody reads again. */
static bool storage_refused(rest_req *rq)
{
    const vg_host *h = rq->st->host;
    char why[320];
    if (h->struct_size < offsetof(vg_host, storage_ok) + sizeof h->storage_ok || !h->storage_ok ||
        h->storage_ok(h, why, sizeof why))
        return false;
    rest_reply_error(rq, 503, "STORAGE_UNAVAILABLE", "nothing was written: %s", why);
    return true;
}

static int dispatch(vg_http_request *req, void *user)
{
    rest_binding *b = user;
    rest_state *st = b->st;
    rest_req rq = {.st = st, .req = req, .route = b->route, .status = 0};
    int64_t t0 = st->host->now_mono_ms(st->host);

    if (!b->route) {
        preflight(&rq, b);
    } else {
        cors_headers(&rq);
        unsigned f = b->route->flags;
        bool admin = (f & ROUTE_ADMIN) || ((f & ROUTE_ADMIN_MARK_READ) && !st->public_mark_read);
        bool mutating = strcmp(b->route->method, "GET") != 0;
        if (mutating && cross_site_refused(&rq)) {
            /* replied 403 */
        } else if (admin && remote_without_token(&rq)) {
            /* replied 403 */
        } else if (admin && vg_http_require_admin(req) < 0) {
            rq.status = 401; /* the core replied */
        } else if (mutating && storage_refused(&rq)) {
            /* replied 503 */
        } else {
            b->route->fn(&rq);
            if (!vg_http_replied(req))
                rest_reply_error(&rq, 500, "INTERNAL", "the handler sent no reply");
        }
    }
    if (st->log_requests)
        VG_INFO(st->host, "%s %s %d %lldms", vg_http_method(req), vg_http_path(req), rq.status,
                (long long)(st->host->now_mono_ms(st->host) - t0));
    return 0;
}

static int bind_route(rest_state *st, const char *method, const char *pattern,
                      const struct rest_route *route, const char *allow)
{
    rest_binding *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    b->st = st;
    b->route = route;
    snprintf(b->allow, sizeof b->allow, "%s", allow ? allow : "");
    int rc = st->host->http_route(st->host, method, pattern, dispatch, b, free);
    if (rc < 0)
        return st->host->fail(st->host, "cannot register %s %s: %s", method, pattern,
                              strerror(-rc));
    return 0;
}

/* The actions the admin token guards here, for the core's no-token line. */
static int declare_admin_actions(rest_state *st)
{
    const vg_host *h = st->host;
    for (size_t i = 0; i < N_ROUTES; i++) {
        unsigned f = routes[i].flags;
        bool admin = (f & ROUTE_ADMIN) || ((f & ROUTE_ADMIN_MARK_READ) && !st->public_mark_read);
        if (admin && h->admin_action(h, routes[i].action) < 0)
            return h->fail(h, "out of memory");
    }
    return 0;
}

int rest_routes_register(rest_state *st)
{
    /* The core names no plugin: the loopback test and the no-token line are
     * declared through the host (ABI 1.2, issue 15). */
    const vg_host *h = st->host;
    if (h->struct_size < offsetof(vg_host, peer_is_loopback) + sizeof h->peer_is_loopback)
        return h->fail(h, "this core is too old for the rest plugin (needs ABI 1.2 of issue 15)");
    int rc = declare_admin_actions(st);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < N_ROUTES; i++) {
        rc = bind_route(st, routes[i].method, routes[i].pattern, &routes[i], NULL);
        if (rc < 0)
            return rc;
    }
    /* One OPTIONS route per distinct pattern, for CORS preflight. */
    for (size_t i = 0; i < N_ROUTES; i++) {
        bool seen = false;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(routes[j].pattern, routes[i].pattern))
                seen = true;
        if (seen)
            continue;
        char allow[64] = "";
        for (size_t j = i; j < N_ROUTES; j++)
            if (!strcmp(routes[j].pattern, routes[i].pattern))
                rest_join(allow, sizeof allow, ", ", routes[j].method);
        rc = bind_route(st, "OPTIONS", routes[i].pattern, NULL, allow);
        if (rc < 0)
            return rc;
    }
    return 0;
}
