#include "http.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "guard.h"
#include "log.h"
#include "netaddr.h"

#define MAX_SEGMENTS 16
#define MAX_PARAMS 8
#define MAX_EXTRA_HEADERS 16

typedef struct route {
    char *method;
    char *pattern;
    char *segs[MAX_SEGMENTS];
    size_t nsegs;
    bool trailing_slash; /* "/x/" and "/x" are different routes */
    unsigned flags;      /* VG_ROUTE_* the plugin declared */
    vg_http_handler handler;
    void *user;
    vg_free_cb user_free;
    void *owner;
    struct route *next;
} route;

typedef struct ws_route {
    char *path;
    vg_ws_handlers h;
    void *user;
    vg_free_cb user_free;
    void *owner;
    core_http *http;
    bool registered; /* with civetweb */
    struct ws_route *next;
} ws_route;

typedef struct stat_row {
    char *route;
    char method[12];
    int status;
    uint64_t count;
    struct stat_row *next;
} stat_row;

struct core_http {
    struct mg_context *ctx;
    char *listen;
    char *web_root;
    char *admin_token;
    int threads;
    int64_t request_timeout_ms, websocket_timeout_ms;
    pthread_rwlock_t routes_lock;
    route *routes;
    ws_route *ws_routes;
    pthread_mutex_t stats_lock;
    stat_row *stats;
    atomic_bool stopping;
    atomic_uint_fast64_t next_ws_id;
    core_guard *guard; /* every connection a worker holds: deadlines, per-address cap */
    int64_t request_deadline_ms;
    int max_conns_per_ip;
    json_t *public_names; /* [server] public_names: Host names besides loopback/IPs */
    bool loopback_listener;
};

/* ------------------------------------------------------------------ utils */

int core_consttime_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t n = la > lb ? la : lb;
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < n; i++) {
        unsigned char ca = i < la ? (unsigned char)a[i] : 0;
        unsigned char cb = i < lb ? (unsigned char)b[i] : 0;
        diff |= ca ^ cb;
    }
    return diff == 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static size_t split_path(char *path, char **segs, size_t max)
{
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(path, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
        if (n == max)
            return max + 1;
        segs[n++] = tok;
    }
    return n;
}

static void count_request(core_http *http, const char *route_name, const char *method, int status)
{
    pthread_mutex_lock(&http->stats_lock);
    stat_row *r = http->stats;
    for (; r; r = r->next)
        if (r->status == status && strcmp(r->method, method) == 0 &&
            strcmp(r->route, route_name) == 0)
            break;
    if (!r && (r = calloc(1, sizeof *r)) && (r->route = strdup(route_name))) {
        snprintf(r->method, sizeof r->method, "%s", method);
        r->status = status;
        r->next = http->stats;
        http->stats = r;
    } else if (r && !r->route) {
        free(r);
        r = NULL;
    }
    if (r)
        r->count++;
    pthread_mutex_unlock(&http->stats_lock);
}

json_t *core_http_stats(core_http *http)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&http->stats_lock);
    for (stat_row *r = http->stats; r; r = r->next)
        json_array_append_new(arr, json_pack("{s:s, s:s, s:i, s:I}", "route", r->route, "method",
                                             r->method, "status", r->status, "count",
                                             (json_int_t)r->count));
    pthread_mutex_unlock(&http->stats_lock);
    uint64_t cut = 0, refused = 0;
    if (http->guard)
        core_guard_counts(http->guard, &cut, &refused);
    return json_pack("{s:o, s:i, s:I, s:I}", "requests", arr, "connections",
                     http && http->guard ? core_guard_busy(http->guard) : 0, "cut_at_deadline",
                     (json_int_t)cut, "refused_per_ip", (json_int_t)refused);
}

/* ---------------------------------------------------------------- request */

/* The guard's record of a connection (civetweb's per-connection user data). */
static core_conn *conn_of(const struct mg_connection *conn)
{
    return mg_get_user_connection_data(conn);
}

typedef struct core_request {
    vg_http_request pub;
    core_http *http;
    struct mg_connection *conn;
    const struct mg_request_info *ri;
    const route *route;
    const char *param_names[MAX_PARAMS];
    char *param_values[MAX_PARAMS];
    size_t nparams;
    char *path; /* decoded */
    char *body;
    size_t body_len;
    int body_state; /* 0 unread, 1 read, <0 error */
    char *hdr_names[MAX_EXTRA_HEADERS];
    char *hdr_values[MAX_EXTRA_HEADERS];
    size_t nhdrs;
    int status;
    bool replied;
} core_request;

static core_request *req_of(vg_http_request *r) { return (core_request *)r; }

static const char *rq_method(vg_http_request *r) { return req_of(r)->ri->request_method; }
static const char *rq_path(vg_http_request *r)
{
    core_request *q = req_of(r);
    return q->path ? q->path : (q->ri->local_uri ? q->ri->local_uri : "/");
}
static const char *rq_query_string(vg_http_request *r) { return req_of(r)->ri->query_string; }

static const char *rq_param(vg_http_request *r, const char *name)
{
    core_request *q = req_of(r);
    for (size_t i = 0; i < q->nparams; i++)
        if (strcmp(q->param_names[i], name) == 0)
            return q->param_values[i];
    return NULL;
}

static int get_var(const char *qs, const char *name, char *buf, size_t size)
{
    if (!qs || size == 0)
        return -ENOENT;
    int n = mg_get_var2(qs, strlen(qs), name, buf, size, 0);
    if (n == -1)
        return -ENOENT;
    if (n < 0)
        return -E2BIG;
    return n;
}

static int rq_query(vg_http_request *r, const char *name, char *buf, size_t size)
{
    return get_var(req_of(r)->ri->query_string, name, buf, size);
}

static const char *rq_header(vg_http_request *r, const char *name)
{
    return mg_get_header(req_of(r)->conn, name);
}

static const char *rq_remote_addr(vg_http_request *r) { return req_of(r)->ri->remote_addr; }

static int rq_body(vg_http_request *r, size_t max, const char **data, size_t *len)
{
    core_request *q = req_of(r);
    if (q->body_state == 0) {
        long long cl = q->ri->content_length;
        if (cl > (long long)max) {
            q->body_state = -E2BIG;
        } else {
            size_t cap = cl >= 0 ? (size_t)cl + 1 : 4096;
            q->body = malloc(cap);
            q->body_len = 0;
            q->body_state = q->body ? 1 : -ENOMEM;
            while (q->body_state == 1) {
                if (q->body_len + 1 >= cap) {
                    if (cap > max + 1) {
                        q->body_state = -E2BIG;
                        break;
                    }
                    char *nb = realloc(q->body, cap * 2);
                    if (!nb) {
                        q->body_state = -ENOMEM;
                        break;
                    }
                    q->body = nb;
                    cap *= 2;
                }
                int n = mg_read(q->conn, q->body + q->body_len, cap - 1 - q->body_len);
                if (n < 0) {
                    q->body_state = -EIO;
                    break;
                }
                if (n == 0)
                    break;
                q->body_len += (size_t)n;
                if (q->body_len > max)
                    q->body_state = -E2BIG;
            }
            if (q->body_state == 1)
                q->body[q->body_len] = '\0';
        }
        if (q->body_state == 1)
            core_guard_disarm(q->http->guard, conn_of(q->conn));
    }
    if (q->body_state < 0)
        return q->body_state;
    if (q->body_len > max)
        return -E2BIG;
    *data = q->body;
    *len = q->body_len;
    return 0;
}

static int rq_set_header(vg_http_request *r, const char *name, const char *value)
{
    core_request *q = req_of(r);
    if (q->replied)
        return -EALREADY;
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
        return -EINVAL;
    for (size_t i = 0; i < q->nhdrs; i++) {
        if (strcasecmp(q->hdr_names[i], name) == 0) {
            char *v = strdup(value);
            if (!v)
                return -ENOMEM;
            free(q->hdr_values[i]);
            q->hdr_values[i] = v;
            return 0;
        }
    }
    if (q->nhdrs == MAX_EXTRA_HEADERS)
        return -ENOSPC;
    q->hdr_names[q->nhdrs] = strdup(name);
    q->hdr_values[q->nhdrs] = strdup(value);
    if (!q->hdr_names[q->nhdrs] || !q->hdr_values[q->nhdrs]) {
        free(q->hdr_names[q->nhdrs]);
        free(q->hdr_values[q->nhdrs]);
        return -ENOMEM;
    }
    q->nhdrs++;
    return 0;
}

/* civetweb 1.15 refuses mg_response_header_start on a WebSocket upgrade
 * request, so a connect handler refusing the upgrade answers with a raw
 * response and closes the connection. */
static int reply_raw(core_request *q, int status, const char *content_type, const void *data,
                     size_t len)
{
    const char *text = mg_get_response_code_text(q->conn, status);
    mg_printf(q->conn, "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Length: %zu\r\n", status,
              text ? text : "", len);
    if (content_type && len)
        mg_printf(q->conn, "Content-Type: %s\r\n", content_type);
    for (size_t i = 0; i < q->nhdrs; i++)
        mg_printf(q->conn, "%s: %s\r\n", q->hdr_names[i], q->hdr_values[i]);
    mg_printf(q->conn, "\r\n");
    if (len && mg_write(q->conn, data, len) != (int)len)
        return -EIO;
    return 0;
}

static int rq_reply(vg_http_request *r, int status, const char *content_type, const void *data,
                    size_t len)
{
    core_request *q = req_of(r);
    if (q->replied)
        return -EALREADY;
    q->replied = true;
    q->status = status;
    bool no_body = status == 204 || status == 304 || (status >= 100 && status < 200);
    if (mg_response_header_start(q->conn, status) != 0)
        return reply_raw(q, status, content_type, data, no_body ? 0 : len);
    if (!no_body) {
        char cl[32];
        snprintf(cl, sizeof cl, "%zu", len);
        if (content_type)
            mg_response_header_add(q->conn, "Content-Type", content_type, -1);
        mg_response_header_add(q->conn, "Content-Length", cl, -1);
    }
    for (size_t i = 0; i < q->nhdrs; i++)
        mg_response_header_add(q->conn, q->hdr_names[i], q->hdr_values[i], -1);
    mg_response_header_send(q->conn);
    if (!no_body && len && strcmp(q->ri->request_method, "HEAD") != 0) {
        if (mg_write(q->conn, data, len) != (int)len)
            return -EIO;
    }
    return 0;
}

static int rq_reply_json(vg_http_request *r, int status, json_t *body)
{
    char *s = body ? json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(body);
    if (!s)
        return rq_reply(r, 500, "application/json; charset=utf-8",
                        "{\"error\":{\"code\":\"INTERNAL\",\"message\":\"out of memory\"}}", 56);
    int rc = rq_reply(r, status, "application/json; charset=utf-8", s, strlen(s));
    free(s);
    return rc;
}

static int rq_reply_errorv(vg_http_request *r, int status, const char *code, const char *fmt,
                           va_list ap)
{
    return rq_reply_json(r, status, vg_error_newv(code, fmt, ap));
}

static int rq_reply_error(vg_http_request *r, int status, const char *code, const char *fmt, ...)
    VG_PRINTF(4, 5);
static int rq_reply_error(vg_http_request *r, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = rq_reply_errorv(r, status, code, fmt, ap);
    va_end(ap);
    return rc;
}

static int rq_require_admin(vg_http_request *r)
{
    core_request *q = req_of(r);
    if (!core_http_admin_token_set(q->http))
        return 0;
    const char *auth = mg_get_header(q->conn, "Authorization");
    if (!auth) {
        rq_set_header(r, "WWW-Authenticate", "Bearer");
        rq_reply_error(r, 401, "UNAUTHORIZED",
                       "this action needs the admin token: send 'Authorization: Bearer <token>'");
        return -EACCES;
    }
    if (strncasecmp(auth, "Bearer ", 7) != 0 ||
        !core_consttime_equal(auth + 7, q->http->admin_token)) {
        rq_set_header(r, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
        rq_reply_error(r, 401, "UNAUTHORIZED", "the admin token is wrong");
        return -EACCES;
    }
    return 0;
}

static int rq_replied(vg_http_request *r) { return req_of(r)->replied; }

static int rq_write(vg_http_request *r, const void *data, size_t len)
{
    int n = mg_write(req_of(r)->conn, data, len);
    return n < 0 ? -EIO : n;
}

static const vg_http_ops request_ops = {
    .method = rq_method,
    .path = rq_path,
    .query_string = rq_query_string,
    .param = rq_param,
    .query = rq_query,
    .header = rq_header,
    .remote_addr = rq_remote_addr,
    .body = rq_body,
    .set_header = rq_set_header,
    .reply = rq_reply,
    .reply_json = rq_reply_json,
    .reply_errorv = rq_reply_errorv,
    .require_admin = rq_require_admin,
    .replied = rq_replied,
    .write = rq_write,
};

static void request_cleanup(core_request *q)
{
    for (size_t i = 0; i < q->nparams; i++)
        free(q->param_values[i]);
    for (size_t i = 0; i < q->nhdrs; i++) {
        free(q->hdr_names[i]);
        free(q->hdr_values[i]);
    }
    free(q->body);
    free(q->path);
}

/* Match `segs` against a route; fills params on success. */
static bool ends_with_slash(const char *p)
{
    size_t n = strlen(p);
    return n > 1 && p[n - 1] == '/';
}

static bool route_matches(const route *rt, char **segs, size_t n, bool trailing, core_request *q)
{
    if (rt->nsegs != n || rt->trailing_slash != trailing)
        return false;
    size_t np = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = rt->segs[i];
        if (p[0] == '{') {
            if (np == MAX_PARAMS || !*segs[i])
                return false;
            np++;
        } else if (strcmp(p, segs[i]) != 0) {
            return false;
        }
    }
    if (q) {
        q->nparams = 0;
        for (size_t i = 0; i < n; i++) {
            const char *p = rt->segs[i];
            if (p[0] == '{') {
                q->param_names[q->nparams] = p + 1; /* stored without braces, see below */
                q->param_values[q->nparams] = strdup(segs[i]);
                q->nparams++;
            }
        }
    }
    return true;
}

static bool is_api_path(const char *path)
{
    return strncmp(path, "/api/", 5) == 0 || strcmp(path, "/api") == 0;
}

/* URL-decode in place; -1 when the encoding is broken or decodes to a NUL
 * (which would silently cut the string short). */
static int decode_in_place(char *s)
{
    size_t len = strlen(s);
    char *tmp = malloc(len + 1);
    if (!tmp)
        return -1;
    int n = mg_url_decode(s, (int)len, tmp, (int)len + 1, 0);
    int rc = (n < 0 || strlen(tmp) != (size_t)n) ? -1 : 0;
    if (rc == 0)
        memcpy(s, tmp, (size_t)n + 1);
    free(tmp);
    return rc;
}

static int request_dispatch(core_http *http, struct mg_connection *conn,
                            const struct mg_request_info *ri, const char *raw, double t0);

/* DNS rebinding: a page whose name resolves to this server sends its own
 * name as Host; only this server's names (and addresses) are served. */
static bool host_refused(core_request *q)
{
    const char *host = mg_get_header(q->conn, "Host");
    if (core_host_allowed(host, q->http->public_names, q->http->loopback_listener))
        return false;
    char shown[80];
    size_t j = 0;
    for (const char *p = host; *p && j + 1 < sizeof shown; p++)
        shown[j++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
    shown[j] = '\0';
    rq_set_header(&q->pub, "Connection", "close");
    rq_reply_error(&q->pub, 421, "MISDIRECTED_REQUEST",
                   "Host '%s' is not a name of this server: add it to [server] public_names "
                   "(on a loopback listener only loopback names are accepted by default)",
                   shown);
    core_log("http", VG_LOG_INFO, "%s refused: Host '%s' is not in public_names (%s)",
             q->ri->request_method, shown, q->ri->remote_addr);
    return true;
}

static int request_handler(struct mg_connection *conn, void *cbdata)
{
    core_http *http = cbdata;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    /* civetweb runs with decode_url=no: we decode ourselves, per segment, so a
     * %00 cannot cut a path short and a %2F stays inside its segment. */
    const char *raw = ri->local_uri ? ri->local_uri : "/";
    double t0 = now_ms();
    /* Without a body the request is whole: its time is the handler's now (a
     * long-poll may wait). With one, the deadline runs until it is read. */
    const char *te = mg_get_header(conn, "Transfer-Encoding");
    if (ri->content_length <= 0 && !te)
        core_guard_disarm(http->guard, conn_of(conn));
    return request_dispatch(http, conn, ri, raw, t0);
}

static int request_dispatch(core_http *http, struct mg_connection *conn,
                            const struct mg_request_info *ri, const char *raw, double t0)
{
    core_request *q = calloc(1, sizeof *q);
    char *copy = strdup(raw);
    char *decoded = strdup(raw);
    if (!q || !copy || !decoded) {
        free(q);
        free(copy);
        free(decoded);
        mg_send_http_error(conn, 500, "out of memory");
        return 500;
    }
    q->pub.ops = &request_ops;
    q->http = http;
    q->conn = conn;
    q->ri = ri;
    q->path = decoded;

    if (host_refused(q)) {
        count_request(http, "bad_host", ri->request_method, 421);
        request_cleanup(q);
        free(q);
        free(copy);
        return 421;
    }

    char *segs[MAX_SEGMENTS + 1];
    size_t n = split_path(copy, segs, MAX_SEGMENTS);
    bool bad = decode_in_place(decoded) != 0;
    for (size_t i = 0; !bad && i < n && i < MAX_SEGMENTS; i++)
        bad = decode_in_place(segs[i]) != 0;
    if (bad) {
        rq_reply_error(&q->pub, 400, "INVALID_ARGUMENT",
                       "the path is not valid URL encoding or contains an encoded NUL (%%00)");
        count_request(http, "bad_path", ri->request_method, 400);
        core_log("http", VG_LOG_INFO, "%s %s 400 (bad path encoding) %s", ri->request_method, raw,
                 ri->remote_addr);
        request_cleanup(q);
        free(q);
        free(copy);
        return 400;
    }
    const char *path = decoded;
    /* Strict paths: "/api/x/" and "/api//x" never match the route "/api/x". */
    bool trailing = ends_with_slash(raw);
    if (strstr(raw, "//"))
        n = MAX_SEGMENTS + 1;

    pthread_rwlock_rdlock(&http->routes_lock);
    route *match = NULL;
    char allow[128] = "";
    if (n <= MAX_SEGMENTS) {
        for (route *rt = http->routes; rt; rt = rt->next) {
            if (!route_matches(rt, segs, n, trailing, NULL))
                continue;
            if (strcmp(rt->method, "*") == 0 || strcmp(rt->method, ri->request_method) == 0 ||
                (strcmp(rt->method, "GET") == 0 && strcmp(ri->request_method, "HEAD") == 0)) {
                match = rt;
                break;
            }
            if (!strstr(allow, rt->method)) {
                size_t l = strlen(allow);
                snprintf(allow + l, sizeof allow - l, "%s%s", l ? ", " : "", rt->method);
            }
        }
    }
    vg_http_handler handler = NULL;
    void *user = NULL;
    const char *route_name = "static";
    unsigned flags = 0;
    if (match) {
        route_matches(match, segs, n, trailing, q);
        flags = match->flags;
        handler = match->handler;
        user = match->user;
        route_name = match->pattern;
    }
    pthread_rwlock_unlock(&http->routes_lock);
    /* Route objects live until core_http_release_owner, which only runs when
     * civetweb is stopped, so using `match` after the unlock is safe. */

    int status = 0;
    if (handler) {
        int rc = handler(&q->pub, user);
        if (!q->replied)
            rq_reply_error(&q->pub, 500, "INTERNAL", "the handler for %s %s failed: %s",
                           ri->request_method, route_name, rc < 0 ? strerror(-rc) : "no reply");
        status = q->status;
    } else if (allow[0]) {
        rq_set_header(&q->pub, "Allow", allow);
        rq_reply_error(&q->pub, 405, "METHOD_NOT_ALLOWED", "%s is not allowed on %s (allowed: %s)",
                       ri->request_method, path, allow);
        status = 405;
        route_name = "method_not_allowed";
    } else if (is_api_path(path) || !http->web_root) {
        rq_reply_error(&q->pub, 404, "NOT_FOUND", "no such endpoint: %s %s", ri->request_method,
                       path);
        status = 404;
        route_name = "not_found";
    }

    if (status) {
        double dt = now_ms() - t0;
        count_request(http, route_name, ri->request_method, status);
        bool quiet = (flags & VG_ROUTE_QUIET) != 0;
        core_log("http", quiet ? VG_LOG_DEBUG : VG_LOG_INFO, "%s %s %d %.1fms %s",
                 ri->request_method, path, status, dt, ri->remote_addr);
    }
    request_cleanup(q);
    free(q);
    free(copy);
    /* 0 hands the request to civetweb's static file server (web_root). */
    return status;
}

/* -------------------------------------------------------------- websocket */

typedef struct ws_hdr {
    char *name, *value;
} ws_hdr;

typedef struct core_ws {
    vg_ws_conn pub;
    ws_route *route;
    core_http *http;
    struct mg_connection *conn;
    pthread_mutex_t lock; /* writers + closed flag; taken by the close handler */
    atomic_int refs;
    bool closed, ready, close_notified;
    void *user;
    uint64_t id;
    char *query;
    char remote[48];
    ws_hdr *headers;
    size_t nheaders;
    char *frag;
    size_t frag_len, frag_cap;
    int frag_opcode;
} core_ws;

static core_ws *ws_of(vg_ws_conn *c) { return (core_ws *)c; }

static core_ws *ws_of_conn(const struct mg_connection *conn)
{
    core_conn *c = conn_of(conn);
    return c ? c->user : NULL;
}

static void ws_free(core_ws *w)
{
    for (size_t i = 0; i < w->nheaders; i++) {
        free(w->headers[i].name);
        free(w->headers[i].value);
    }
    free(w->headers);
    free(w->query);
    free(w->frag);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

static void ws_ref(vg_ws_conn *c) { atomic_fetch_add(&ws_of(c)->refs, 1); }
static void ws_unref(vg_ws_conn *c)
{
    core_ws *w = ws_of(c);
    if (atomic_fetch_sub(&w->refs, 1) == 1)
        ws_free(w);
}

/* Caller holds w->lock. */
static int ws_write_locked(core_ws *w, const void *frame, size_t len)
{
    if (w->closed || !w->ready || atomic_load(&w->http->stopping))
        return -EPIPE;
    mg_lock_connection(w->conn);
    int rc = mg_write(w->conn, frame, len);
    mg_unlock_connection(w->conn);
    if (rc != (int)len) {
        /* A short write leaves a truncated frame on the wire: the stream is
         * corrupt, so this connection is finished. */
        w->closed = true;
        mg_close_connection(w->conn);
        return -EIO;
    }
    return 0;
}

static int ws_send_frame(vg_ws_conn *c, const void *frame, size_t len)
{
    core_ws *w = ws_of(c);
    pthread_mutex_lock(&w->lock);
    int rc = ws_write_locked(w, frame, len);
    pthread_mutex_unlock(&w->lock);
    return rc;
}

static int ws_send(vg_ws_conn *c, int opcode, const void *data, size_t len)
{
    unsigned char small[512];
    unsigned char *frame = len + 10 <= sizeof small ? small : malloc(len + 10);
    if (!frame)
        return -ENOMEM;
    size_t flen = vg_ws_build_frame(frame, opcode, data, len);
    int rc = ws_send_frame(c, frame, flen);
    if (frame != small)
        free(frame);
    return rc;
}

static int ws_close_locked(core_ws *w, int code, const char *reason)
{
    if (w->closed || !w->ready)
        return -EPIPE;
    unsigned char payload[125];
    size_t rl = reason ? strlen(reason) : 0;
    if (rl > sizeof payload - 2)
        rl = sizeof payload - 2;
    payload[0] = (unsigned char)(code >> 8);
    payload[1] = (unsigned char)code;
    if (rl)
        memcpy(payload + 2, reason, rl);
    unsigned char frame[140];
    size_t flen = vg_ws_build_frame(frame, VG_WS_CLOSE, payload, rl + 2);
    ws_write_locked(w, frame, flen);
    w->closed = true;
    mg_close_connection(w->conn);
    return 0;
}

static int ws_close(vg_ws_conn *c, int code, const char *reason)
{
    core_ws *w = ws_of(c);
    pthread_mutex_lock(&w->lock);
    int rc = ws_close_locked(w, code, reason);
    pthread_mutex_unlock(&w->lock);
    return rc;
}

static void ws_set_user(vg_ws_conn *c, void *data) { ws_of(c)->user = data; }
static void *ws_get_user(vg_ws_conn *c) { return ws_of(c)->user; }
static int ws_query(vg_ws_conn *c, const char *name, char *buf, size_t size)
{
    return get_var(ws_of(c)->query, name, buf, size);
}
static const char *ws_header(vg_ws_conn *c, const char *name)
{
    core_ws *w = ws_of(c);
    for (size_t i = 0; i < w->nheaders; i++)
        if (strcasecmp(w->headers[i].name, name) == 0)
            return w->headers[i].value;
    return NULL;
}
static const char *ws_remote_addr(vg_ws_conn *c) { return ws_of(c)->remote; }
static int ws_is_closed(vg_ws_conn *c)
{
    core_ws *w = ws_of(c);
    pthread_mutex_lock(&w->lock);
    int closed = w->closed;
    pthread_mutex_unlock(&w->lock);
    return closed;
}
static uint64_t ws_id(vg_ws_conn *c) { return ws_of(c)->id; }

static const vg_ws_ops ws_ops = {
    .send = ws_send,
    .send_frame = ws_send_frame,
    .close = ws_close,
    .ref = ws_ref,
    .unref = ws_unref,
    .set_user = ws_set_user,
    .get_user = ws_get_user,
    .query = ws_query,
    .header = ws_header,
    .remote_addr = ws_remote_addr,
    .is_closed = ws_is_closed,
    .id = ws_id,
};

static int ws_connect_cb(const struct mg_connection *cconn, void *cbdata)
{
    ws_route *wr = cbdata;
    struct mg_connection *conn = (struct mg_connection *)cconn;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    core_ws *w = calloc(1, sizeof *w);
    if (!w)
        return 1;
    w->pub.ops = &ws_ops;
    w->route = wr;
    w->http = wr->http;
    w->conn = conn;
    atomic_init(&w->refs, 1);
    pthread_mutex_init(&w->lock, NULL);
    w->id = atomic_fetch_add(&wr->http->next_ws_id, 1) + 1;
    snprintf(w->remote, sizeof w->remote, "%s", ri->remote_addr);
    w->query = ri->query_string ? strdup(ri->query_string) : NULL;
    w->headers = calloc((size_t)ri->num_headers + 1, sizeof *w->headers);
    for (int i = 0; w->headers && i < ri->num_headers; i++) {
        w->headers[i].name = strdup(ri->http_headers[i].name);
        w->headers[i].value = strdup(ri->http_headers[i].value ? ri->http_headers[i].value : "");
        w->nheaders++;
    }
    if (atomic_load(&wr->http->stopping)) {
        ws_free(w);
        return 1;
    }
    core_request hq = {.pub.ops = &request_ops, .http = wr->http, .conn = conn, .ri = ri};
    if (host_refused(&hq)) {
        request_cleanup(&hq);
        count_request(wr->http, wr->path, "WS", 421);
        ws_free(w);
        return 1;
    }
    if (wr->h.connect) {
        core_request q = {.pub.ops = &request_ops, .http = wr->http, .conn = conn, .ri = ri};
        int rc = wr->h.connect(&q.pub, wr->user);
        int status = q.replied ? q.status : (rc ? 403 : 101);
        request_cleanup(&q);
        count_request(wr->http, wr->path, "WS", status);
        if (rc != 0) {
            core_log("http", VG_LOG_DEBUG, "WebSocket %s refused (%d) %s", wr->path, status,
                     ri->remote_addr);
            ws_free(w);
            return 1;
        }
    }
    core_conn *cc = conn_of(conn);
    if (!cc) {
        ws_free(w);
        return 1;
    }
    /* A WebSocket lives long: no request deadline (the per-address cap still
     * counts it), but a frame larger than its messages may be is cut. */
    core_guard_websocket(wr->http->guard, cc,
                         wr->h.max_message ? wr->h.max_message : (size_t)1 << 20);
    cc->user = w;
    return 0;
}

static void ws_ready_cb(struct mg_connection *conn, void *cbdata)
{
    ws_route *wr = cbdata;
    core_ws *w = ws_of_conn(conn);
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->ready = true;
    pthread_mutex_unlock(&w->lock);
    if (wr->h.ready)
        wr->h.ready(&w->pub, wr->user);
}

static int ws_protocol_error(core_ws *w, int code, const char *why)
{
    core_log("http", VG_LOG_DEBUG, "WebSocket %llu from %s closed: %s", (unsigned long long)w->id,
             w->remote, why);
    ws_close(&w->pub, code, why);
    return 0;
}

static int frag_append(core_ws *w, const char *data, size_t len, size_t max)
{
    if (w->frag_len + len > max)
        return -E2BIG;
    if (w->frag_len + len + 1 > w->frag_cap) {
        size_t cap = w->frag_cap ? w->frag_cap : 1024;
        while (cap < w->frag_len + len + 1)
            cap *= 2;
        char *nf = realloc(w->frag, cap);
        if (!nf)
            return -ENOMEM;
        w->frag = nf;
        w->frag_cap = cap;
    }
    memcpy(w->frag + w->frag_len, data, len);
    w->frag_len += len;
    w->frag[w->frag_len] = '\0';
    return 0;
}

static int ws_data_cb(struct mg_connection *conn, int bits, char *data, size_t len, void *cbdata)
{
    ws_route *wr = cbdata;
    core_ws *w = ws_of_conn(conn);
    if (!w)
        return 0;
    core_guard_ws_frame(conn_of(conn));
    int opcode = bits & 0x0f;
    bool fin = (bits & 0x80) != 0;
    size_t max = wr->h.max_message ? wr->h.max_message : (size_t)1 << 20;

    switch (opcode) {
    case VG_WS_CLOSE: {
        /* civetweb does not answer CLOSE; echo the code so browsers see a clean close. */
        int code = len >= 2 ? (((unsigned char)data[0]) << 8 | (unsigned char)data[1]) : 1000;
        ws_close(&w->pub, code == 1005 ? 1000 : code, NULL);
        return 0;
    }
    case VG_WS_PING: {
        pthread_mutex_lock(&w->lock);
        unsigned char frame[140];
        size_t flen = vg_ws_build_frame(frame, VG_WS_PONG, data, len > 125 ? 125 : len);
        ws_write_locked(w, frame, flen);
        pthread_mutex_unlock(&w->lock);
        return 1;
    }
    case VG_WS_PONG:
        return 1;
    case VG_WS_TEXT:
    case VG_WS_BINARY:
        if (w->frag_opcode)
            return ws_protocol_error(w, 1002, "new message inside a fragmented one");
        if (len > max)
            return ws_protocol_error(w, 1009, "message too big");
        if (fin) {
            if (!wr->h.message)
                return 1;
            return wr->h.message(&w->pub, opcode, data, len, wr->user) ? 1 : 0;
        }
        w->frag_opcode = opcode;
        w->frag_len = 0;
        if (frag_append(w, data, len, max) != 0)
            return ws_protocol_error(w, 1009, "message too big");
        return 1;
    case 0x0:
        if (!w->frag_opcode)
            return ws_protocol_error(w, 1002, "continuation frame without a message");
        if (frag_append(w, data, len, max) != 0)
            return ws_protocol_error(w, 1009, "message too big");
        if (fin) {
            int op = w->frag_opcode;
            w->frag_opcode = 0;
            int keep =
                wr->h.message ? wr->h.message(&w->pub, op, w->frag, w->frag_len, wr->user) : 1;
            w->frag_len = 0;
            if (w->frag_cap > 65536) {
                free(w->frag);
                w->frag = NULL;
                w->frag_cap = 0;
            }
            return keep ? 1 : 0;
        }
        return 1;
    default:
        return ws_protocol_error(w, 1002, "unknown opcode");
    }
}

static void ws_close_cb(const struct mg_connection *conn, void *cbdata)
{
    ws_route *wr = cbdata;
    core_ws *w = ws_of_conn(conn);
    if (!w)
        return;
    conn_of(conn)->user = NULL;
    pthread_mutex_lock(&w->lock);
    w->closed = true;
    bool notify = w->ready && !w->close_notified;
    w->close_notified = true;
    pthread_mutex_unlock(&w->lock);
    if (notify && wr->h.closed)
        wr->h.closed(&w->pub, wr->user);
    ws_unref(&w->pub);
}

/* ------------------------------------------------------------ registration */

int core_http_route(core_http *http, void *owner, const char *method, const char *pattern,
                    vg_http_handler handler, void *user, vg_free_cb user_free)
{
    return core_http_route_flags(http, owner, method, pattern, 0, handler, user, user_free);
}

int core_http_route_flags(core_http *http, void *owner, const char *method, const char *pattern,
                          unsigned flags, vg_http_handler handler, void *user, vg_free_cb user_free)
{
    int rc = 0;
    route *rt = NULL;
    if (!method || !pattern || pattern[0] != '/' || !handler || (flags & ~VG_ROUTE_FLAGS_KNOWN)) {
        rc = -EINVAL;
        goto fail;
    }
    rt = calloc(1, sizeof *rt);
    if (!rt || !(rt->method = strdup(method)) || !(rt->pattern = strdup(pattern))) {
        rc = -ENOMEM;
        goto fail;
    }
    /* Keep a private copy split into segments; {name} is stored as "{name". */
    char *segcopy = strdup(pattern);
    if (!segcopy) {
        rc = -ENOMEM;
        goto fail;
    }
    char *segs[MAX_SEGMENTS + 1];
    size_t n = split_path(segcopy, segs, MAX_SEGMENTS);
    if (n > MAX_SEGMENTS) {
        free(segcopy);
        rc = -EINVAL;
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(segs[i]);
        if (segs[i][0] == '{') {
            if (l < 3 || segs[i][l - 1] != '}') {
                free(segcopy);
                rc = -EINVAL;
                goto fail;
            }
            segs[i][l - 1] = '\0';
        }
        rt->segs[i] = strdup(segs[i]);
    }
    rt->nsegs = n;
    rt->trailing_slash = ends_with_slash(pattern);
    rt->flags = flags;
    free(segcopy);
    rt->handler = handler;
    rt->user = user;
    rt->user_free = user_free;
    rt->owner = owner;

    pthread_rwlock_wrlock(&http->routes_lock);
    for (route *o = http->routes; o; o = o->next) {
        if (strcmp(o->pattern, pattern) == 0 && strcmp(o->method, method) == 0) {
            pthread_rwlock_unlock(&http->routes_lock);
            core_log("http", VG_LOG_ERROR, "route %s %s is already registered", method, pattern);
            rc = -EEXIST;
            goto fail;
        }
    }
    /* Append: earlier registrations win on overlapping patterns. */
    route **pp = &http->routes;
    while (*pp)
        pp = &(*pp)->next;
    *pp = rt;
    pthread_rwlock_unlock(&http->routes_lock);
    return 0;

fail:
    if (rt) {
        for (size_t i = 0; i < rt->nsegs; i++)
            free(rt->segs[i]);
        free(rt->method);
        free(rt->pattern);
        free(rt);
    }
    if (user_free)
        user_free(user);
    return rc;
}

static void ws_register_with_civetweb(core_http *http, ws_route *wr)
{
    if (http->ctx && !wr->registered) {
        mg_set_websocket_handler(http->ctx, wr->path, ws_connect_cb, ws_ready_cb, ws_data_cb,
                                 ws_close_cb, wr);
        wr->registered = true;
    }
}

int core_http_ws_route(core_http *http, void *owner, const char *path, const vg_ws_handlers *h,
                       void *user, vg_free_cb user_free)
{
    if (!path || path[0] != '/' || !h) {
        if (user_free)
            user_free(user);
        return -EINVAL;
    }
    ws_route *wr = calloc(1, sizeof *wr);
    if (!wr || !(wr->path = strdup(path))) {
        free(wr);
        if (user_free)
            user_free(user);
        return -ENOMEM;
    }
    wr->h = *h;
    wr->user = user;
    wr->user_free = user_free;
    wr->owner = owner;
    wr->http = http;
    pthread_rwlock_wrlock(&http->routes_lock);
    for (ws_route *o = http->ws_routes; o; o = o->next) {
        if (strcmp(o->path, path) == 0) {
            pthread_rwlock_unlock(&http->routes_lock);
            free(wr->path);
            free(wr);
            if (user_free)
                user_free(user);
            return -EEXIST;
        }
    }
    wr->next = http->ws_routes;
    http->ws_routes = wr;
    ws_register_with_civetweb(http, wr);
    pthread_rwlock_unlock(&http->routes_lock);
    return 0;
}

void core_http_release_owner(core_http *http, void *owner)
{
    route *freed = NULL;
    ws_route *wfreed = NULL;
    pthread_rwlock_wrlock(&http->routes_lock);
    for (route **pp = &http->routes; *pp;) {
        route *rt = *pp;
        if (rt->owner == owner) {
            *pp = rt->next;
            rt->next = freed;
            freed = rt;
        } else {
            pp = &rt->next;
        }
    }
    for (ws_route **pp = &http->ws_routes; *pp;) {
        ws_route *wr = *pp;
        if (wr->owner == owner) {
            if (wr->registered && http->ctx)
                mg_set_websocket_handler(http->ctx, wr->path, NULL, NULL, NULL, NULL, NULL);
            *pp = wr->next;
            wr->next = wfreed;
            wfreed = wr;
        } else {
            pp = &wr->next;
        }
    }
    pthread_rwlock_unlock(&http->routes_lock);
    while (freed) {
        route *next = freed->next;
        if (freed->user_free)
            freed->user_free(freed->user);
        for (size_t i = 0; i < freed->nsegs; i++)
            free(freed->segs[i]);
        free(freed->method);
        free(freed->pattern);
        free(freed);
        freed = next;
    }
    while (wfreed) {
        ws_route *next = wfreed->next;
        if (wfreed->user_free)
            wfreed->user_free(wfreed->user);
        free(wfreed->path);
        free(wfreed);
        wfreed = next;
    }
}

/* --------------------------------------------------------------- lifecycle */

core_http *core_http_new(const core_http_options *opt)
{
    core_http *http = calloc(1, sizeof *http);
    if (!http)
        return NULL;
    http->listen = strdup(opt->listen ? opt->listen : "127.0.0.1:8080");
    http->web_root = opt->web_root && *opt->web_root ? strdup(opt->web_root) : NULL;
    http->admin_token = opt->admin_token && *opt->admin_token ? strdup(opt->admin_token) : NULL;
    http->threads = opt->threads > 0 ? opt->threads : 64;
    http->request_timeout_ms = opt->request_timeout_ms > 0 ? opt->request_timeout_ms : 5000;
    http->websocket_timeout_ms = opt->websocket_timeout_ms > 0 ? opt->websocket_timeout_ms : 10000;
    pthread_rwlock_init(&http->routes_lock, NULL);
    pthread_mutex_init(&http->stats_lock, NULL);
    atomic_init(&http->stopping, false);
    atomic_init(&http->next_ws_id, 0);
    http->request_deadline_ms = opt->request_deadline_ms > 0 ? opt->request_deadline_ms : 10000;
    http->max_conns_per_ip = opt->max_conns_per_ip > 0 ? opt->max_conns_per_ip : 32;
    http->public_names = opt->public_names ? json_incref(opt->public_names) : json_array();
    http->loopback_listener = core_listen_is_loopback(http->listen);
    return http;
}

const char *core_http_listen(const core_http *http) { return http->listen; }

int core_http_admin_token_ok(const core_http *http, const char *token)
{
    if (!http->admin_token)
        return 1;
    return token && core_consttime_equal(token, http->admin_token);
}

bool core_http_admin_token_set(const core_http *http) { return http->admin_token != NULL; }

static int init_connection_cb(const struct mg_connection *conn, void **conn_data)
{
    core_http *http = mg_get_user_data(mg_get_context(conn));
    *conn_data = core_guard_open(http->guard, conn);
    return 0;
}

/* civetweb fills the peer right after init_connection, before it reads the
 * request; the guard asks under its lock, before connection_close can run. */
static int conn_peer(const void *key, char *ip, size_t ipsize, int *port)
{
    const struct mg_request_info *ri = mg_get_request_info(key);
    if (!ri || !ri->remote_port || !ri->remote_addr[0])
        return -EAGAIN;
    snprintf(ip, ipsize, "%s", ri->remote_addr);
    *port = ri->remote_port;
    return 0;
}

/* The next request on a kept-alive connection gets a whole deadline too. */
static void end_request_cb(const struct mg_connection *conn, int status)
{
    (void)status;
    core_http *http = mg_get_user_data(mg_get_context(conn));
    core_guard_arm(http->guard, conn_of(conn));
}

static void connection_close_cb(const struct mg_connection *conn)
{
    core_http *http = mg_get_user_data(mg_get_context(conn));
    core_guard_close(http->guard, conn_of(conn));
}

static int listen_port_of(const char *listen)
{
    if (strchr(listen, ','))
        return 0; /* several listeners: match on the peer alone */
    const char *colon = strrchr(listen, ':');
    return atoi(colon ? colon + 1 : listen);
}

static int log_message_cb(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    core_log("civetweb", VG_LOG_WARN, "%s", message);
    return 1;
}

/* civetweb 1.15 can report success with no accept thread (see
 * docs/civetweb.md §1.2): prove the port answers. */
static int self_test_port(const char *listen, char *err, size_t errlen)
{
    char host[64] = "127.0.0.1";
    int port = 0;
    const char *colon = strrchr(listen, ':');
    if (colon) {
        size_t hl = (size_t)(colon - listen);
        if (hl && hl < sizeof host) {
            memcpy(host, listen, hl);
            host[hl] = '\0';
        }
        port = atoi(colon + 1);
    } else {
        port = atoi(listen);
    }
    if (strcmp(host, "0.0.0.0") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return 0; /* a hostname: nothing cheap to test */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    close(fd);
    if (rc != 0) {
        snprintf(err, errlen, "the HTTP server started but %s:%d does not accept connections (%s)",
                 host, port, strerror(errno));
        return -EIO;
    }
    return 0;
}

int core_http_start(core_http *http, char *err, size_t errlen)
{
    char threads[16], rto[24], wto[24];
    snprintf(threads, sizeof threads, "%d", http->threads);
    snprintf(rto, sizeof rto, "%lld", (long long)http->request_timeout_ms);
    snprintf(wto, sizeof wto, "%lld", (long long)http->websocket_timeout_ms);
    const char *options[40];
    int i = 0;
    options[i++] = "listening_ports";
    options[i++] = http->listen;
    options[i++] = "num_threads";
    options[i++] = threads;
    options[i++] = "tcp_nodelay";
    options[i++] = "1";
    options[i++] = "enable_websocket_ping_pong";
    options[i++] = "yes";
    options[i++] = "websocket_timeout_ms";
    options[i++] = wto;
    options[i++] = "request_timeout_ms";
    options[i++] = rto;
    options[i++] = "enable_keep_alive";
    options[i++] = "yes";
    options[i++] = "keep_alive_timeout_ms";
    options[i++] = "5000";
    options[i++] = "listen_backlog";
    options[i++] = "1024";
    options[i++] = "connection_queue";
    options[i++] = "256";
    options[i++] = "enable_directory_listing";
    options[i++] = "no";
    /* civetweb's default "*" answers every CORS preflight itself, for every
     * path, before our handlers run; the plugins decide CORS instead. */
    options[i++] = "access_control_allow_origin";
    options[i++] = "";
    options[i++] = "decode_url";
    options[i++] = "no";
    if (http->web_root) {
        options[i++] = "document_root";
        options[i++] = http->web_root;
        options[i++] = "index_files";
        options[i++] = "index.html";
    }
    options[i++] = NULL;

    struct mg_callbacks cb;
    memset(&cb, 0, sizeof cb);
    cb.log_message = log_message_cb;
    cb.init_connection = init_connection_cb;
    cb.end_request = end_request_cb;
    cb.connection_close = connection_close_cb;
    http->guard = core_guard_new(http->request_deadline_ms, http->max_conns_per_ip,
                                 listen_port_of(http->listen), http->threads, conn_peer);
    if (!http->guard || core_guard_start(http->guard) != 0) {
        core_guard_free(http->guard);
        http->guard = NULL;
        snprintf(err, errlen, "cannot start the connection watchdog: out of resources");
        return -ENOMEM;
    }
    struct mg_init_data init = {
        .callbacks = &cb, .user_data = http, .configuration_options = options};
    struct mg_error_data ed;
    char ebuf[256] = "";
    memset(&ed, 0, sizeof ed);
    ed.text = ebuf;
    ed.text_buffer_size = sizeof ebuf;
    http->ctx = mg_start2(&init, &ed);
    if (!http->ctx) {
        core_guard_free(http->guard);
        http->guard = NULL;
        snprintf(err, errlen, "cannot start the HTTP server on %s: %s", http->listen,
                 ebuf[0] ? ebuf : "unknown error");
        return -EIO;
    }
    mg_set_request_handler(http->ctx, "**", request_handler, http);
    pthread_rwlock_wrlock(&http->routes_lock);
    for (ws_route *wr = http->ws_routes; wr; wr = wr->next)
        ws_register_with_civetweb(http, wr);
    pthread_rwlock_unlock(&http->routes_lock);
    int rc = self_test_port(http->listen, err, errlen);
    if (rc) {
        mg_stop(http->ctx);
        http->ctx = NULL;
        core_guard_free(http->guard);
        http->guard = NULL;
        return rc;
    }
    return 0;
}

void core_http_stop(core_http *http)
{
    if (!http || !http->ctx)
        return;
    atomic_store(&http->stopping, true);
    mg_stop(http->ctx);
    http->ctx = NULL;
    core_guard_free(http->guard);
    http->guard = NULL;
    pthread_rwlock_wrlock(&http->routes_lock);
    for (ws_route *wr = http->ws_routes; wr; wr = wr->next)
        wr->registered = false;
    pthread_rwlock_unlock(&http->routes_lock);
}

void core_http_free(core_http *http)
{
    if (!http)
        return;
    core_http_stop(http);
    pthread_mutex_lock(&http->stats_lock);
    while (http->stats) {
        stat_row *n = http->stats->next;
        free(http->stats->route);
        free(http->stats);
        http->stats = n;
    }
    pthread_mutex_unlock(&http->stats_lock);
    if (http->routes || http->ws_routes)
        core_http_release_owner(http, NULL);
    pthread_rwlock_destroy(&http->routes_lock);
    pthread_mutex_destroy(&http->stats_lock);
    free(http->listen);
    free(http->web_root);
    free(http->admin_token);
    json_decref(http->public_names);
    free(http);
}

int core_http_threads(const core_http *http) { return http ? http->threads : 0; }

int core_http_busy(core_http *http)
{
    return http && http->guard ? core_guard_active(http->guard) : 0;
}
