/* busbridge: the one test-only plugin that bridges HTTP to the bus, so an
 * integration test can stand in for any plugin without writing one:
 *   POST /test/call    {"method", "params"}  -> {"rc", "result"} of vg_bus_call
 *   POST /test/publish {"topic", "payload"}  -> {"rc"} (503 when the bus refuses)
 *   GET  /test/events?since=N                -> {"events": [{seq, topic, payload}],
 *        "next": last seq, "dropped": events not kept beyond max_events}
 *   GET  /test/sleep?ms=N                    -> holds a worker N ms (0..10000), as a
 *        slow request of another plugin would
 *   bus method test.sleep {ms} or, as a broker event handler, {args: [ms]}: sleeps
 *        N ms (0..10000), as a slow method would, and answers {slept: N, ack: [{slept: N}]}
 *
 * [busbridge]
 *   max_events = 100000   events kept for /test/events (0: record none; tests that
 *                         publish large payloads in bulk set 0)
 *   record_file = PATH    at destroy, the kept events as a JSON array, so a test
 *                         sees what was published during shutdown (system.stop_requested)
 *                         after the HTTP server has stopped
 *
 * It runs any bus method for any client: it is built NO_INSTALL and loaded only
 * by tests that list it in `plugins`. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <vigia/vigia.h>

#define MAX_BODY (1024 * 1024)

typedef struct bridge {
    const vg_host *host;
    pthread_mutex_t mu;
    json_t *events; /* array of {seq, topic, payload}, ascending seq */
    long long seq, dropped, max_events;
    const char *record_file;
} bridge;

static void on_event(const char *topic, const json_t *payload, void *user)
{
    bridge *b = user;
    pthread_mutex_lock(&b->mu);
    ++b->seq;
    if ((long long)json_array_size(b->events) < b->max_events)
        json_array_append_new(b->events, json_pack("{s:I, s:s, s:O}", "seq", (json_int_t)b->seq,
                                                   "topic", topic, "payload", (json_t *)payload));
    else
        b->dropped++;
    pthread_mutex_unlock(&b->mu);
}

/* The string `key` of the request's JSON object body, the body in *in (to
 * release); or NULL after replying with the error (*rc: the reply's code). */
static const char *body_string(vg_http_request *req, const char *key, json_t **in, int *rc)
{
    const char *data = NULL;
    size_t len = 0;
    *in = NULL;
    if (vg_http_body(req, MAX_BODY, &data, &len) < 0) {
        *rc = vg_http_reply_error(req, 413, "TOO_LARGE", "body: at most %d bytes", MAX_BODY);
        return NULL;
    }
    *in = json_loadb(data, len, 0, NULL);
    const char *v = json_string_value(json_object_get(*in, key));
    if (!v) {
        json_decref(*in);
        *in = NULL;
        *rc = vg_http_reply_error(req, 400, "INVALID_ARGUMENT",
                                  "%s: expected a string in a JSON object body", key);
    }
    return v;
}

static int h_call(vg_http_request *req, void *user)
{
    bridge *b = user;
    json_t *in;
    int rc;
    const char *method = body_string(req, "method", &in, &rc);
    if (!method)
        return rc;
    json_t *result = NULL;
    rc = vg_bus_call(b->host->bus, method, json_object_get(in, "params"), &result);
    json_decref(in);
    return vg_http_reply_json(
        req, 200, json_pack("{s:i, s:o}", "rc", rc, "result", result ? result : json_null()));
}

static int h_publish(vg_http_request *req, void *user)
{
    bridge *b = user;
    json_t *in;
    int rc;
    const char *topic = body_string(req, "topic", &in, &rc);
    if (!topic)
        return rc;
    json_t *payload = json_object_get(in, "payload");
    if (!json_is_object(payload)) {
        json_decref(in);
        return vg_http_reply_error(req, 400, "INVALID_ARGUMENT", "payload: expected an object");
    }
    rc = vg_bus_publish_new(b->host->bus, topic, json_incref(payload));
    json_decref(in);
    return vg_http_reply_json(req, rc == 0 ? 200 : 503, json_pack("{s:i}", "rc", rc));
}

static int h_events(vg_http_request *req, void *user)
{
    bridge *b = user;
    char buf[32];
    long long since = 0;
    if (vg_http_query(req, "since", buf, sizeof buf) > 0) {
        char *end = NULL;
        since = strtoll(buf, &end, 10);
        if (!end || *end)
            return vg_http_reply_error(req, 400, "INVALID_ARGUMENT", "since: expected a number");
    }
    json_t *out = json_array();
    pthread_mutex_lock(&b->mu);
    size_t i;
    json_t *e;
    json_array_foreach (b->events, i, e)
        if (json_integer_value(json_object_get(e, "seq")) > since)
            json_array_append_new(out, json_deep_copy(e));
    json_t *reply = json_pack("{s:o, s:I, s:I}", "events", out, "next", (json_int_t)b->seq,
                              "dropped", (json_int_t)b->dropped);
    pthread_mutex_unlock(&b->mu);
    return vg_http_reply_json(req, 200, reply);
}

static int h_sleep(vg_http_request *req, void *user)
{
    (void)user;
    char ms[16] = "0";
    vg_http_query(req, "ms", ms, sizeof ms);
    long v = atol(ms);
    if (v < 0 || v > 10000)
        return vg_http_reply_error(req, 400, "INVALID_ARGUMENT", "ms: 0 to 10000");
    struct timespec ts = {v / 1000, (v % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    return vg_http_reply_json(req, 200, json_pack("{s:i}", "slept", (int)v));
}

static int m_sleep(const json_t *params, json_t **result, void *user)
{
    (void)user;
    const json_t *v = json_object_get(params, "ms");
    if (!v)
        v = json_array_get(json_object_get(params, "args"), 0);
    json_int_t ms = json_integer_value(v);
    if (!json_is_integer(v) || ms < 0 || ms > 10000) {
        *result = vg_error_new("INVALID_ARGUMENT", "ms: 0 to 10000");
        return -EINVAL;
    }
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    *result = json_pack("{s:I,s:[{s:I}]}", "slept", ms, "ack", "slept", ms);
    return 0;
}

static void bridge_destroy(void *state)
{
    bridge *b = state;
    if (!b)
        return;
    /* Events arrive until just before destroy: every one is in b->events. */
    if (b->record_file && b->record_file[0] &&
        json_dump_file(b->events, b->record_file, JSON_COMPACT) != 0)
        VG_ERROR(b->host, "cannot write %s", b->record_file);
    json_decref(b->events);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

static int bridge_init(const vg_host *host, const vg_config *cfg, void **state)
{
    bridge *b = calloc(1, sizeof *b);
    if (!b)
        return host->fail(host, "out of memory");
    b->host = host;
    b->events = json_array();
    pthread_mutex_init(&b->mu, NULL);
    int rc;
    if ((rc = host->config_int(host, cfg, "max_events", 100000, 0, 10000000, &b->max_events)) < 0 ||
        (rc = host->config_string(host, cfg, "record_file", "", &b->record_file)) < 0) {
        bridge_destroy(b);
        return rc;
    }
    if ((rc = host->http_route(host, "POST", "/test/call", h_call, b, NULL)) < 0 ||
        (rc = host->http_route(host, "POST", "/test/publish", h_publish, b, NULL)) < 0 ||
        (rc = host->http_route(host, "GET", "/test/events", h_events, b, NULL)) < 0 ||
        (rc = host->http_route(host, "GET", "/test/sleep", h_sleep, b, NULL)) < 0 ||
        (rc = vg_bus_subscribe(host->bus, "", on_event, b, NULL, NULL)) < 0 ||
        (rc = vg_bus_register_method(host->bus, "test.sleep", m_sleep, NULL, NULL)) < 0) {
        bridge_destroy(b);
        return host->fail(host, "busbridge registration failed: %d", rc);
    }
    *state = b;
    return 0;
}

VG_PLUGIN_DEFINE(busbridge, "0.0.1",
                 "test-only: bus calls, publishing and recorded events over HTTP",
                 .init = bridge_init, .destroy = bridge_destroy);
