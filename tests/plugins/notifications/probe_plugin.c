/* notifications_probe: a test-only plugin that lets an integration test reach
 * the bus over HTTP, standing in for the monitor (publisher) and for the
 * broker (listener):
 *   POST /test/publish {"topic", "payload"}  -> publishes the event
 *   POST /test/call    {"method", "params"}  -> {"rc", "result"} of vg_bus_call
 *   GET  /test/events                        -> {"events": [{topic, payload}]}
 *        every notification.* / notifications.* / monitor.* event seen, in order. */
#include <vigia/vigia.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BODY (1024 * 1024)

typedef struct probe {
    const vg_host *host;
    pthread_mutex_t mu;
    json_t *events;
} probe;

static void on_event(const char *topic, const json_t *payload, void *user)
{
    probe *p = user;
    pthread_mutex_lock(&p->mu);
    json_array_append_new(p->events,
                          json_pack("{s:s, s:O}", "topic", topic, "payload", (json_t *)payload));
    pthread_mutex_unlock(&p->mu);
}

static json_t *read_body(vg_http_request *req)
{
    const char *data = NULL;
    size_t len = 0;
    if (vg_http_body(req, MAX_BODY, &data, &len) < 0)
        return NULL;
    return json_loadb(data, len, 0, NULL);
}

static int h_publish(vg_http_request *req, void *user)
{
    probe *p = user;
    json_t *body = read_body(req);
    const char *topic = json_string_value(json_object_get(body, "topic"));
    json_t *payload = json_object_get(body, "payload");
    if (!topic || !json_is_object(payload)) {
        json_decref(body);
        return vg_http_reply_error(req, 400, "INVALID_ARGUMENT", "want {topic, payload}");
    }
    int rc = vg_bus_publish_new(p->host->bus, topic, json_incref(payload));
    json_decref(body);
    return vg_http_reply_json(req, rc == 0 ? 200 : 503, json_pack("{s:i}", "rc", rc));
}

static int h_call(vg_http_request *req, void *user)
{
    probe *p = user;
    json_t *body = read_body(req);
    const char *method = json_string_value(json_object_get(body, "method"));
    if (!method) {
        json_decref(body);
        return vg_http_reply_error(req, 400, "INVALID_ARGUMENT", "want {method, params}");
    }
    json_t *result = NULL;
    int rc = vg_bus_call(p->host->bus, method, json_object_get(body, "params"), &result);
    json_decref(body);
    return vg_http_reply_json(
        req, 200, json_pack("{s:i, s:o}", "rc", rc, "result", result ? result : json_null()));
}

static int h_events(vg_http_request *req, void *user)
{
    probe *p = user;
    pthread_mutex_lock(&p->mu);
    json_t *copy = json_deep_copy(p->events);
    pthread_mutex_unlock(&p->mu);
    return vg_http_reply_json(req, 200, json_pack("{s:o}", "events", copy ? copy : json_array()));
}

static void probe_destroy(void *state)
{
    probe *p = state;
    if (!p)
        return;
    json_decref(p->events);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static int probe_init(const vg_host *host, const vg_config *cfg, void **state)
{
    (void)cfg;
    probe *p = calloc(1, sizeof *p);
    if (!p)
        return host->fail(host, "out of memory");
    p->host = host;
    p->events = json_array();
    pthread_mutex_init(&p->mu, NULL);
    *state = p;
    int rc;
    if ((rc = host->http_route(host, "POST", "/test/publish", h_publish, p, NULL)) < 0 ||
        (rc = host->http_route(host, "POST", "/test/call", h_call, p, NULL)) < 0 ||
        (rc = host->http_route(host, "GET", "/test/events", h_events, p, NULL)) < 0 ||
        (rc = vg_bus_subscribe(host->bus, "notification.", on_event, p, NULL, NULL)) < 0 ||
        (rc = vg_bus_subscribe(host->bus, "notifications.", on_event, p, NULL, NULL)) < 0 ||
        (rc = vg_bus_subscribe(host->bus, "monitor.", on_event, p, NULL, NULL)) < 0) {
        *state = NULL;
        probe_destroy(p);
        return host->fail(host, "probe registration failed: %d", rc);
    }
    return 0;
}

VG_PLUGIN_DEFINE(notifications_probe, "0.0.1", "Test probe for the notifications plugin",
                 .init = probe_init, .destroy = probe_destroy);
