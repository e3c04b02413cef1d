/* montest: a test-only plugin that records every bus event and exposes the
 * bus to integration tests over HTTP:
 *   GET  /api/_montest/events?since=N  -> {"events":[{seq, topic, payload}], "next": N}
 *   POST /api/_montest/call {"method", "params"} -> {"rc", "result"} */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vigia/vigia.h>

typedef struct montest {
    const vg_host *host;
    pthread_mutex_t mu;
    json_t *events; /* array of {seq, topic, payload} */
    long long seq;
} montest;

static void on_event(const char *topic, const json_t *payload, void *user)
{
    montest *t = user;
    char *probe = json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!probe)
        VG_WARN(t->host, "montest: payload of %s cannot be serialised", topic);
    free(probe);
    pthread_mutex_lock(&t->mu);
    if (json_array_size(t->events) < 200000)
        json_array_append_new(t->events, json_pack("{s:I, s:s, s:O}", "seq", (json_int_t)++t->seq,
                                                   "topic", topic, "payload", (json_t *)payload));
    pthread_mutex_unlock(&t->mu);
}

static int h_events(vg_http_request *req, void *user)
{
    montest *t = user;
    char buf[32];
    long long since = 0;
    if (vg_http_query(req, "since", buf, sizeof buf) > 0)
        since = atoll(buf);
    json_t *out = json_array();
    pthread_mutex_lock(&t->mu);
    size_t i;
    json_t *e;
    json_array_foreach (t->events, i, e) {
        if (json_integer_value(json_object_get(e, "seq")) > since)
            json_array_append(out, e);
    }
    long long next = t->seq;
    pthread_mutex_unlock(&t->mu);
    return vg_http_reply_json(req, 200,
                              json_pack("{s:o, s:I}", "events", out, "next", (json_int_t)next));
}

static int h_call(vg_http_request *req, void *user)
{
    montest *t = user;
    const char *body;
    size_t len;
    if (vg_http_body(req, 1 << 20, &body, &len) < 0)
        return vg_http_reply_error(req, 413, "TOO_LARGE", "body: at most 1 MiB");
    json_t *in = json_loadb(body, len, 0, NULL);
    const char *method = json_string_value(json_object_get(in, "method"));
    if (!method) {
        json_decref(in);
        return vg_http_reply_error(req, 400, "INVALID_ARGUMENT", "method: expected a string");
    }
    json_t *result = NULL;
    int rc = vg_bus_call(t->host->bus, method, json_object_get(in, "params"), &result);
    json_decref(in);
    return vg_http_reply_json(
        req, 200, json_pack("{s:i, s:o}", "rc", rc, "result", result ? result : json_null()));
}

static void montest_free(montest *t)
{
    json_decref(t->events);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

static int montest_init(const vg_host *host, const vg_config *cfg, void **state)
{
    (void)cfg;
    montest *t = calloc(1, sizeof *t);
    if (!t)
        return host->fail(host, "out of memory");
    t->host = host;
    pthread_mutex_init(&t->mu, NULL);
    t->events = json_array();
    if (vg_bus_subscribe(host->bus, "", on_event, t, NULL, NULL) < 0 ||
        host->http_route(host, "GET", "/api/_montest/events", h_events, t, NULL) < 0 ||
        host->http_route(host, "POST", "/api/_montest/call", h_call, t, NULL) < 0) {
        montest_free(t);
        return host->fail(host, "cannot register montest routes");
    }
    *state = t;
    return 0;
}

static void montest_destroy(void *state)
{
    if (state)
        montest_free(state);
}

VG_PLUGIN_DEFINE(montest, "0.0.1", "test-only: records bus events, calls bus methods over HTTP",
                 .init = montest_init, .destroy = montest_destroy);
