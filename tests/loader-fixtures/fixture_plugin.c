/* One source, many loader fixtures: each module is compiled with a different
 * FIXTURE_* define to break exactly one rule of the plugin ABI. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vigia/vigia.h>

#ifdef FIXTURE_BAD_SIGNATURE
#define FIXTURE_SIGNATURE "abi1;ptr4;jansson1"
#endif

#ifndef FIXTURE_ID
#error FIXTURE_ID must name the module
#endif

typedef struct fx {
    const vg_host *host;
    char marker[512];
    int refs; /* one per registration + one for the plugin state */
} fx;

static void fx_unref(fx *f)
{
    if (--f->refs == 0)
        free(f);
}

static void mark(const char *path, const char *what)
{
    FILE *f = fopen(path, "a");
    if (f) {
        fprintf(f, "%s\n", what);
        fclose(f);
    }
}

static void free_route(void *u)
{
    mark(((fx *)u)->marker, "route freed");
    fx_unref(u);
}
static void free_sub(void *u)
{
    mark(((fx *)u)->marker, "subscription freed");
    fx_unref(u);
}
static void free_method(void *u)
{
    mark(((fx *)u)->marker, "method freed");
    fx_unref(u);
}

static int route(vg_http_request *req, void *user)
{
    (void)user;
    return vg_http_reply_json(req, 200, json_pack("{s:s}", "fixture", FIXTURE_NAME));
}

static void on_event(const char *t, const json_t *p, void *u)
{
    (void)t;
    (void)p;
    (void)u;
}

static int method(const json_t *params, json_t **result, void *user)
{
    (void)params;
    (void)user;
    *result = json_pack("{s:s}", "fixture", FIXTURE_NAME);
    return 0;
}

/* WebSocket echo endpoint, for the core's WebSocket tests: refuses the
 * upgrade with 403 unless ?ok=1, echoes every (reassembled) message. */
static int ws_connect(vg_http_request *req, void *user)
{
    (void)user;
    char ok[8];
    if (vg_http_query(req, "ok", ok, sizeof ok) > 0 && strcmp(ok, "1") == 0)
        return 0;
    vg_http_reply_error(req, 403, "FORBIDDEN", "add ?ok=1");
    return 1;
}

static int ws_message(vg_ws_conn *c, int opcode, const char *data, size_t len, void *user)
{
    (void)user;
    if (len == 4 && memcmp(data, "quit", 4) == 0)
        return 0;
    return vg_ws_send(c, opcode, data, len) == 0;
}

static const vg_ws_handlers echo_handlers = {
    .connect = ws_connect,
    .message = ws_message,
    .max_message = 64,
};

#ifdef FIXTURE_WORKQ
#include <stdatomic.h>
#include <time.h>
/* A work queue left running with jobs: the core must stop it (cancelling
 * them, user_free each) before destroy. */
static atomic_int wq_freed;
static char wq_marker[512];

static int wq_job(vg_job *job, void *user)
{
    if ((intptr_t)user > 0) {
        if (vg_job_cancelled(job))
            mark(wq_marker, "job cancelled");
        return VG_JOB_DONE;
    }
    mark(wq_marker, "blocker running");
    while (!vg_job_cancelled(job)) {
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
    }
    mark(wq_marker, "blocker saw cancel");
    return VG_JOB_DONE;
}

static void wq_free(void *user)
{
    (void)user;
    atomic_fetch_add(&wq_freed, 1);
}

static void start_queue(const vg_host *host, const char *marker)
{
    snprintf(wq_marker, sizeof wq_marker, "%s", marker);
    vg_workq_opts o = VG_WORKQ_OPTS_INIT;
    o.drain_ms = 0;
    vg_workq *q;
    if (host->workq_create(host, "left", &o, &q) != 0)
        return;
    for (intptr_t i = 0; i < 4; i++)
        host->workq_submit(q, wq_job, (void *)i, wq_free);
}
#endif

static int fx_init(const vg_host *host, const vg_config *cfg, void **state)
{
    fx *f = calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    f->host = host;
    f->refs = 5;
    const char *marker;
    host->config_string(host, cfg, "marker", "/dev/null", &marker);
    snprintf(f->marker, sizeof f->marker, "%s", marker);
    const char *mode;
    host->config_string(host, cfg, "mode", "a", &mode);
    if (strcmp(mode, "a") != 0 && strcmp(mode, "b") != 0) {
        free(f);
        return host->config_fail(host, cfg, "mode", "expected a or b (fixture rule)");
    }
    char path[64];
    snprintf(path, sizeof path, "/fixture/%s", FIXTURE_NAME);
    host->http_route(host, "GET", path, route, f, free_route);
    /* Declared needs (issue 15): a quiet route, and an admin action the
     * core's no-token line must list (unless init fails). */
    snprintf(path, sizeof path, "/fixture/%s/quiet", FIXTURE_NAME);
    host->http_route_flags(host, "GET", path, VG_ROUTE_QUIET, route, f, free_route);
    host->admin_action(host, "fixture chores for " FIXTURE_NAME);
    vg_bus_subscribe(host->bus, "", on_event, f, free_sub, NULL);
    vg_bus_register_method(host->bus, FIXTURE_NAME ".ping", method, f, free_method);
    snprintf(path, sizeof path, "/fixture/%s/ws", FIXTURE_NAME);
    host->ws_route(host, path, &echo_handlers, NULL, NULL);
#ifdef FIXTURE_WORKQ
    start_queue(host, f->marker);
#endif
#ifdef FIXTURE_FAIL_INIT
    (void)state;
    fx_unref(f);
    return host->fail(host, "cannot open its database: disk on fire (fixture)");
#else
    *state = f;
    return 0;
#endif
}

static void fx_destroy(void *state)
{
#ifdef FIXTURE_WORKQ
    char line[64];
    snprintf(line, sizeof line, "destroy: %d jobs freed", atomic_load(&wq_freed));
    mark(((fx *)state)->marker, line);
#endif
    fx_unref(state);
}

#ifdef FIXTURE_SLOW_STOP
#include <unistd.h>
/* A plugin whose stop never finishes: the shutdown watchdog must end it. */
static void fx_stop(void *state)
{
    (void)state;
    sleep(60);
}
#define FX_STOP fx_stop
#else
#define FX_STOP NULL
#endif

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)

VG_API extern const vg_plugin CAT(FIXTURE_ID, _LTX_vigia_plugin);
#ifndef FIXTURE_NO_SYMBOL
VG_API const vg_plugin CAT(FIXTURE_ID, _LTX_vigia_plugin) = {
#else
VG_API const vg_plugin CAT(FIXTURE_ID, _LTX_something_else) = {
#endif
    .header =
        {
#ifdef FIXTURE_ABI_MAJOR
            .abi_major = FIXTURE_ABI_MAJOR,
#else
            .abi_major = VG_ABI_MAJOR,
#endif
#ifdef FIXTURE_ABI_MINOR
            .abi_minor = FIXTURE_ABI_MINOR,
#else
            .abi_minor = VG_ABI_MINOR,
#endif
            .struct_size = sizeof(vg_plugin),
            .name = FIXTURE_NAME,
            .version = "0.0.1",
#ifdef FIXTURE_SIGNATURE
            .build_signature = FIXTURE_SIGNATURE,
#else
            .build_signature = VG_BUILD_SIGNATURE,
#endif
        },
    .description = "loader fixture",
    .init = fx_init,
    .stop = FX_STOP,
    .destroy = fx_destroy,
};
