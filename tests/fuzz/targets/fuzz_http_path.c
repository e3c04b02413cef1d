/* libFuzzer target: the core's request-target decoding (core/http.c): path
 * split, per-segment URL decoding with the %00 refusal, strict route matching
 * with {param} capture against the routes the plugins really register, and
 * query variables (get_var over civetweb's mg_get_var2, what every plugin's
 * vg_http_query reads). Those helpers are static, so this file compiles
 * http.c itself; dispatch runs the same steps request_dispatch does, in the
 * same order, without a civetweb connection.
 *
 * Input: a request target "path?query" as civetweb hands it over (a C
 * string: it stops at the first NUL). Checks, beyond "no crash": a decoded
 * string never shrinks past a NUL, captured params are non-empty, a query
 * value always fits its buffer and is NUL-terminated at the length returned. */
#include "../../../core/http.c"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static core_http *g_http;

static int no_handler(vg_http_request *r, void *user)
{
    (void)r, (void)user;
    return 0;
}

static void init_routes(void)
{
    if (g_http)
        return;
    static const char *const routes[][2] = {
        {"GET", "/api/health"},
        {"GET", "/api/stats"},
        {"GET", "/api/notifications"},
        {"POST", "/api/notifications"},
        {"GET", "/api/notifications/{id}"},
        {"POST", "/api/notifications/{id}/read"},
        {"DELETE", "/api/notifications/{id}"},
        {"GET", "/api/datasets"},
        {"GET", "/api/datasets/{id}"},
        {"GET", "/api/datasets/{id}/history"},
        {"POST", "/api/portals/{portal}/sweep"},
        {"GET", "/metrics"},
        {"*", "/socket.io/"},
        {"GET", "/api/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}"},
    };
    core_log_set_level(VG_LOG_ERROR);
    core_http_options opt = {.listen = "127.0.0.1:0"};
    g_http = core_http_new(&opt);
    if (!g_http)
        abort();
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (core_http_route(g_http, g_http, routes[i][0], routes[i][1], no_handler, NULL, NULL) !=
            0)
            abort();
}

static void dispatch(const char *raw)
{
    char *copy = strdup(raw), *decoded = strdup(raw);
    core_request *q = calloc(1, sizeof *q);
    if (!copy || !decoded || !q)
        abort();
    q->path = decoded;
    char *segs[MAX_SEGMENTS + 1];
    size_t n = split_path(copy, segs, MAX_SEGMENTS);
    bool bad = decode_in_place(decoded) != 0;
    for (size_t i = 0; !bad && i < n && i < MAX_SEGMENTS; i++)
        bad = decode_in_place(segs[i]) != 0;
    if (!bad) {
        if (strlen(decoded) > strlen(raw))
            abort();
        bool trailing = ends_with_slash(raw);
        if (strstr(raw, "//"))
            n = MAX_SEGMENTS + 1;
        if (n <= MAX_SEGMENTS) {
            for (route *rt = g_http->routes; rt; rt = rt->next) {
                if (!route_matches(rt, segs, n, trailing, NULL))
                    continue;
                route_matches(rt, segs, n, trailing, q);
                for (size_t p = 0; p < q->nparams; p++)
                    if (!q->param_values[p] || !*q->param_values[p])
                        abort();
                (void)is_api_path(decoded);
                break;
            }
        }
    }
    request_cleanup(q);
    free(q);
    free(copy);
}

static void query(const char *qs)
{
    static const char *const names[] = {
        "limit",  "offset", "q",    "unread", "since",     "before", "type", "status",
        "portal", "sort",   "days", "EIO",    "transport", "sid",    "",     "_"};
    static const size_t sizes[] = {1, 2, 16, 33, 64, 202, 4096};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            char *buf = malloc(sizes[s]); /* exact size: ASan sees any overrun */
            if (!buf)
                abort();
            int n = get_var(qs, names[k], buf, sizes[s]);
            if (n >= 0 && ((size_t)n >= sizes[s] || buf[n] != '\0'))
                abort();
            if (n < 0 && n != -ENOENT && n != -E2BIG)
                abort();
            free(buf);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_routes();
    char *target = malloc(size + 1);
    if (!target)
        return 0;
    memcpy(target, data, size);
    target[size] = '\0';
    char *qs = strchr(target, '?');
    if (qs)
        *qs++ = '\0';
    dispatch(target);
    if (qs)
        query(qs);
    free(target);
    return 0;
}
