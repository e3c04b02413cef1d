/* brokertest: a test-only plugin for the broker's tests. It stands in for the
 * notifications plugin (notifications.list / mark_read / clear over an
 * in-memory list) and publishes bus events on HTTP triggers:
 *   POST /api/brokertest/notify   {title?}          -> notification.created
 *   POST /api/brokertest/publish?topic=T  <json>    -> publish T as is
 *   GET  /api/brokertest/status                      -> broker.status
 *   GET  /api/brokertest/ask?sid=&event=&timeout_ms=  -> broker.ask
 *   GET  /api/brokertest/sleep?ms=N                   -> holds a worker N ms */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vigia/vigia.h>

typedef struct bt {
    const vg_host *host;
    pthread_mutex_t lock;
    json_t *items; /* newest last */
    long long next_id;
} bt;

static json_int_t unread_locked(bt *t)
{
    json_int_t n = 0;
    size_t i;
    json_t *v;
    json_array_foreach (t->items, i, v)
        if (!json_is_true(json_object_get(v, "read")))
            n++;
    return n;
}

static int m_list(const json_t *params, json_t **result, void *user)
{
    bt *t = user;
    json_int_t limit = 20;
    long long since = -1;
    if (json_is_integer(json_object_get(params, "limit")))
        limit = json_integer_value(json_object_get(params, "limit"));
    const char *s = json_string_value(json_object_get(params, "since"));
    if (s)
        since = atoll(s);
    pthread_mutex_lock(&t->lock);
    json_t *out = json_array();
    for (size_t i = json_array_size(t->items);
         i-- > 0 && (json_int_t)json_array_size(out) < limit;) {
        json_t *v = json_array_get(t->items, i);
        if (since >= 0 && atoll(json_string_value(json_object_get(v, "id"))) <= since)
            continue;
        json_array_append(out, v);
    }
    *result = json_pack("{s:o,s:I,s:I}", "notifications", out, "unread_count", unread_locked(t),
                        "total", (json_int_t)json_array_size(t->items));
    pthread_mutex_unlock(&t->lock);
    return 0;
}

static int m_mark_read(const json_t *params, json_t **result, void *user)
{
    bt *t = user;
    const char *id = json_string_value(json_object_get(params, "id"));
    if (!id)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT", "id: expected a string");
    pthread_mutex_lock(&t->lock);
    json_t *found = NULL;
    size_t i;
    json_t *v;
    json_array_foreach (t->items, i, v)
        if (strcmp(json_string_value(json_object_get(v, "id")), id) == 0)
            found = v;
    if (!found) {
        pthread_mutex_unlock(&t->lock);
        return vg_method_fail(result, -ENOENT, "NOT_FOUND", "no notification %s", id);
    }
    json_object_set_new(found, "read", json_true());
    json_int_t unread = unread_locked(t);
    pthread_mutex_unlock(&t->lock);
    *result = json_pack("{s:s,s:I}", "notification_id", id, "unread_count", unread);
    vg_bus_publish_new(t->host->bus, "notification.read", json_deep_copy(*result));
    return 0;
}

static int m_clear(const json_t *params, json_t **result, void *user)
{
    (void)params;
    bt *t = user;
    pthread_mutex_lock(&t->lock);
    json_int_t n = (json_int_t)json_array_size(t->items);
    json_array_clear(t->items);
    pthread_mutex_unlock(&t->lock);
    *result = json_pack("{s:i,s:I}", "unread_count", 0, "cleared", n);
    vg_bus_publish_new(t->host->bus, "notification.cleared", json_pack("{s:i}", "unread_count", 0));
    return 0;
}

static int h_notify(vg_http_request *req, void *user)
{
    bt *t = user;
    const char *data;
    size_t len;
    json_t *body = NULL;
    if (vg_http_body(req, 65536, &data, &len) == 0 && len)
        body = json_loadb(data, len, 0, NULL);
    const char *title = json_string_value(json_object_get(body, "title"));
    pthread_mutex_lock(&t->lock);
    char id[24];
    snprintf(id, sizeof id, "%lld", ++t->next_id);
    json_t *n = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:n,s:n}", "id", id, "type", "info", "title",
                          title ? title : "test", "message", "from brokertest", "created_at",
                          "2026-11-28T09:00:00.000Z", "read", 0, "read_at", "data");
    json_array_append(t->items, n);
    json_int_t unread = unread_locked(t);
    pthread_mutex_unlock(&t->lock);
    json_decref(body);
    json_t *ev = json_pack("{s:o,s:I}", "notification", n, "unread_count", unread);
    vg_bus_publish_new(t->host->bus, "notification.created", json_deep_copy(ev));
    return vg_http_reply_json(req, 200, ev);
}

static int h_publish(vg_http_request *req, void *user)
{
    bt *t = user;
    char topic[128];
    if (vg_http_query(req, "topic", topic, sizeof topic) < 0)
        return vg_http_reply_error(req, 400, "INVALID_ARGUMENT", "topic: required");
    const char *data;
    size_t len;
    json_t *body = NULL;
    if (vg_http_body(req, 1 << 20, &data, &len) == 0 && len)
        body = json_loadb(data, len, 0, NULL);
    int rc = vg_bus_publish_new(t->host->bus, topic, body ? body : json_object());
    return vg_http_reply_json(req, rc ? 503 : 200, json_pack("{s:i}", "rc", rc));
}

static int h_status(vg_http_request *req, void *user)
{
    bt *t = user;
    json_t *res = NULL;
    int rc = vg_bus_call(t->host->bus, "broker.status", NULL, &res);
    return vg_http_reply_json(req, rc ? 500 : 200, res);
}

/* GET /api/brokertest/ask?sid=S&event=E&timeout_ms=N -> broker.ask (data: {"q":"?"}) */
static int h_ask(vg_http_request *req, void *user)
{
    bt *t = user;
    char sid[64], event[80], timeout[16];
    if (vg_http_query(req, "sid", sid, sizeof sid) < 0 ||
        vg_http_query(req, "event", event, sizeof event) < 0)
        return vg_http_reply_error(req, 400, "INVALID_ARGUMENT", "sid and event are required");
    json_t *params = json_pack("{s:s,s:s,s:{s:s}}", "sid", sid, "event", event, "data", "q", "?");
    if (vg_http_query(req, "timeout_ms", timeout, sizeof timeout) >= 0)
        json_object_set_new(params, "timeout_ms", json_integer(atoll(timeout)));
    json_t *res = NULL;
    int rc = vg_bus_call(t->host->bus, "broker.ask", params, &res);
    json_decref(params);
    return vg_http_reply_json(req, rc ? 504 : 200, res);
}

/* GET /api/brokertest/sleep?ms=N: holds a worker like a slow request of
 * another plugin would (admission counts every busy worker). */
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

static void bt_free(bt *t)
{
    json_decref(t->items);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static int bt_init(const vg_host *host, const vg_config *cfg, void **state)
{
    (void)cfg;
    bt *t = calloc(1, sizeof *t);
    if (!t)
        return host->fail(host, "out of memory");
    t->host = host;
    pthread_mutex_init(&t->lock, NULL);
    t->items = json_array();
    int rc = 0;
    rc |= vg_bus_register_method(host->bus, "notifications.list", m_list, t, NULL);
    rc |= vg_bus_register_method(host->bus, "notifications.mark_read", m_mark_read, t, NULL);
    rc |= vg_bus_register_method(host->bus, "notifications.clear", m_clear, t, NULL);
    rc |= host->http_route(host, "POST", "/api/brokertest/notify", h_notify, t, NULL);
    rc |= host->http_route(host, "POST", "/api/brokertest/publish", h_publish, t, NULL);
    rc |= host->http_route(host, "GET", "/api/brokertest/status", h_status, t, NULL);
    rc |= host->http_route(host, "GET", "/api/brokertest/ask", h_ask, t, NULL);
    rc |= host->http_route(host, "GET", "/api/brokertest/sleep", h_sleep, t, NULL);
    if (rc) {
        bt_free(t);
        return host->fail(host, "registration failed");
    }
    *state = t;
    return 0;
}

static void bt_destroy(void *state) { bt_free(state); }

VG_PLUGIN_DEFINE(brokertest, "0.0.1", "test stand-in for notifications, publishes on HTTP triggers",
                 .init = bt_init, .destroy = bt_destroy);
