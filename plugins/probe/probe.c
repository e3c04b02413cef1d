/* probe: records every bus event and serves them to tests on loopback.
 *
 *   GET    /api/_probe/events?topic=T&since=N  events with seq > N whose topic
 *          is T (exact) or starts with T when T ends with '.'; all when absent
 *          -> {"events":[{"seq","topic","payload","t_ms"}], "last", "dropped"}
 *   DELETE /api/_probe/events                  forget everything recorded
 *   POST   /api/_probe/publish {"topic","payload"} -> {"rc"}: publish an event
 *
 * It records everything and lets a client publish any event, so it refuses to
 * start unless [probe] enabled_for_tests = true, and answers only loopback
 * clients. Never list it in a production configuration. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <vigia/vigia.h>

typedef struct rec {
    uint64_t seq;
    char *topic;
    json_t *payload;
    int64_t t_ms;
} rec;

typedef struct probe {
    const vg_host *host;
    pthread_mutex_t lock;
    rec *ring;
    size_t cap, head, count;
    uint64_t seq, dropped;
} probe;

typedef struct settings {
    bool enabled;
    long long max_events;
} settings;

static int read_config(const vg_host *host, const vg_config *cfg, settings *s)
{
    /* Every key is read even after a bad one, so one run reports all mistakes. */
    int bad = 0;
    bool enabled_ok = host->config_bool(host, cfg, "enabled_for_tests", false, &s->enabled) == 0;
    bad |= !enabled_ok;
    bad |= host->config_int(host, cfg, "max_events", 10000, 1, 1000000, &s->max_events) < 0;
    if (enabled_ok && !s->enabled)
        bad |=
            host->config_fail(host, cfg, "enabled_for_tests",
                              "the probe records every event and lets loopback clients publish "
                              "any: it starts only with enabled_for_tests = true (tests only)") < 0;
    return bad ? -EINVAL : 0;
}

static int probe_check_config(const vg_host *host, const vg_config *cfg)
{
    settings s;
    return read_config(host, cfg, &s);
}

static void rec_clear(rec *r)
{
    free(r->topic);
    json_decref(r->payload);
    memset(r, 0, sizeof *r);
}

/* Bus thread: copy and return, never block. */
static void on_event(const char *topic, const json_t *payload, void *user)
{
    probe *p = user;
    char *t = strdup(topic);
    if (!t)
        return;
    int64_t now = p->host->now_wall_ms(p->host);
    pthread_mutex_lock(&p->lock);
    rec *r;
    if (p->count == p->cap) {
        r = &p->ring[p->head];
        rec_clear(r);
        p->head = (p->head + 1) % p->cap;
        p->dropped++;
    } else {
        r = &p->ring[(p->head + p->count) % p->cap];
        p->count++;
    }
    r->seq = ++p->seq;
    r->topic = t;
    r->payload = json_incref((json_t *)payload);
    r->t_ms = now;
    pthread_mutex_unlock(&p->lock);
}

static int loopback_only(vg_http_request *req)
{
    const char *a = vg_http_remote_addr(req);
    if (a && (strncmp(a, "127.", 4) == 0 || strcmp(a, "::1") == 0))
        return 0;
    vg_http_reply_error(req, 403, "FORBIDDEN", "the probe answers loopback clients only");
    return -EACCES;
}

static bool topic_matches(const char *want, const char *topic)
{
    if (!*want)
        return true;
    size_t n = strlen(want);
    if (want[n - 1] == '.')
        return strncmp(topic, want, n) == 0;
    return strcmp(topic, want) == 0;
}

static int h_events(vg_http_request *req, void *user)
{
    probe *p = user;
    if (loopback_only(req))
        return 0;
    char topic[256] = "", since_s[32] = "";
    if (vg_http_query(req, "topic", topic, sizeof topic) == -E2BIG)
        return vg_http_reply_error(req, 400, "INVALID_ARGUMENT", "topic: at most 255 bytes");
    uint64_t since = 0;
    if (vg_http_query(req, "since", since_s, sizeof since_s) > 0) {
        char *end;
        since = strtoull(since_s, &end, 10);
        if (*end)
            return vg_http_reply_error(req, 400, "INVALID_ARGUMENT",
                                       "since: expected a sequence number, found '%s'", since_s);
    }
    if (strcmp(vg_http_method(req), "DELETE") == 0) {
        pthread_mutex_lock(&p->lock);
        for (size_t i = 0; i < p->count; i++)
            rec_clear(&p->ring[(p->head + i) % p->cap]);
        p->head = p->count = 0;
        pthread_mutex_unlock(&p->lock);
        return vg_http_reply_json(req, 200, json_pack("{s:b}", "cleared", 1));
    }
    json_t *arr = json_array();
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->count; i++) {
        rec *r = &p->ring[(p->head + i) % p->cap];
        if (r->seq > since && topic_matches(topic, r->topic))
            json_array_append_new(arr, json_pack("{s:I, s:s, s:O, s:I}", "seq", (json_int_t)r->seq,
                                                 "topic", r->topic, "payload", r->payload, "t_ms",
                                                 (json_int_t)r->t_ms));
    }
    json_t *body = json_pack("{s:o, s:I, s:I}", "events", arr, "last", (json_int_t)p->seq,
                             "dropped", (json_int_t)p->dropped);
    pthread_mutex_unlock(&p->lock);
    return vg_http_reply_json(req, 200, body);
}

static int h_publish(vg_http_request *req, void *user)
{
    probe *p = user;
    if (loopback_only(req))
        return 0;
    const char *data;
    size_t len;
    if (vg_http_body(req, 1 << 20, &data, &len) != 0)
        return vg_http_reply_error(req, 413, "TOO_LARGE", "body: at most 1 MiB");
    json_error_t err;
    json_t *b = p->host->json_parse(p->host, data, len, 0, &err);
    const char *topic = json_string_value(json_object_get(b, "topic"));
    if (!topic) {
        json_decref(b);
        return vg_http_reply_error(req, 400, "INVALID_ARGUMENT",
                                   "expected {\"topic\": string, \"payload\": object}");
    }
    json_t *payload = json_incref(json_object_get(b, "payload"));
    int rc = vg_bus_publish_new(p->host->bus, topic, payload);
    json_decref(b);
    return vg_http_reply_json(req, rc == 0 ? 200 : 400, json_pack("{s:i}", "rc", rc));
}

static void probe_destroy(void *state)
{
    probe *p = state;
    if (!p)
        return;
    for (size_t i = 0; i < p->count; i++)
        rec_clear(&p->ring[(p->head + i) % p->cap]);
    free(p->ring);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static int probe_init(const vg_host *host, const vg_config *cfg, void **state)
{
    settings s;
    int rc = read_config(host, cfg, &s);
    if (rc)
        return rc;
    probe *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->host = host;
    p->cap = (size_t)s.max_events;
    p->ring = calloc(p->cap, sizeof *p->ring);
    pthread_mutex_init(&p->lock, NULL);
    if (!p->ring) {
        probe_destroy(p);
        return -ENOMEM;
    }
    /* Registrations are released by the core before destroy (no user_free:
     * the state outlives them). */
    if ((rc = vg_bus_subscribe(host->bus, "", on_event, p, NULL, NULL)) < 0 ||
        (rc = host->http_route(host, "GET", "/api/_probe/events", h_events, p, NULL)) < 0 ||
        (rc = host->http_route(host, "DELETE", "/api/_probe/events", h_events, p, NULL)) < 0 ||
        (rc = host->http_route(host, "POST", "/api/_probe/publish", h_publish, p, NULL)) < 0) {
        probe_destroy(p);
        return host->fail(host, "cannot register its routes (%d)", rc);
    }
    VG_WARN(host, "test probe enabled: recording every event (at most %lld); not for production",
            s.max_events);
    *state = p;
    return 0;
}

VG_PLUGIN_DEFINE(probe, "1.0.0", "Test kit: records bus events for tests (loopback only)",
                 .check_config = probe_check_config, .init = probe_init, .destroy = probe_destroy);
