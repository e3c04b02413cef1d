/* The HTTP side: the VAPID public key the browser needs for
 * PushManager.subscribe, and the subscription endpoints. A subscription is
 * stored by the watch plugin (watch.subscribe) with channel "webpush" and the
 * canonical subscription JSON as its address; no double opt-in, since the
 * browser's permission prompt is the consent. DELETE takes the same
 * subscription object: holding its endpoint and keys is holding the browser. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vigia/contract/watch.h>

#include "webpush_plugin.h"

#define BODY_MAX 16384
#define SLOTS 512

typedef struct slot {
    char ip[48];
    int64_t since;
    long long count;
} slot;

struct wp_http {
    const vg_host *host;
    bool insecure;
    json_t *hosts;
    long long per_minute;
    char pub64[96];
    pthread_mutex_t mu;
    slot slots[SLOTS];
};

static void http_free(void *p)
{
    wp_http *h = p;
    json_decref(h->hosts);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

/* Per-IP limit on the public POST/DELETE (one minute windows). */
static int over_limit(wp_http *h, vg_http_request *req)
{
    const char *ip = vg_http_remote_addr(req);
    if (!ip)
        ip = "?";
    unsigned long hash = 5381;
    for (const char *p = ip; *p; p++)
        hash = hash * 33 + (unsigned char)*p;
    int64_t now = h->host->now_mono_ms(h->host);
    pthread_mutex_lock(&h->mu);
    slot *s = &h->slots[hash % SLOTS];
    if (strcmp(s->ip, ip) != 0 || now - s->since >= 60000) {
        /* A colliding address shares the slot until its window ends: stricter, never looser. */
        if (strcmp(s->ip, ip) == 0 || now - s->since >= 60000) {
            snprintf(s->ip, sizeof s->ip, "%s", ip);
            s->since = now;
            s->count = 0;
        }
    }
    int over = ++s->count > h->per_minute;
    pthread_mutex_unlock(&h->mu);
    if (over) {
        vg_http_set_header(req, "Retry-After", "60");
        vg_http_reply_error(req, 429, "RATE_LIMITED",
                            "remote address: at most %lld push subscription requests per minute",
                            h->per_minute);
    }
    return over;
}

static int h_key(vg_http_request *req, void *user)
{
    wp_http *h = user;
    vg_http_set_header(req, "Cache-Control", "no-cache");
    return vg_http_reply_json(req, 200, json_pack("{s:s}", "public_key", h->pub64));
}

/* The request's JSON object body with its checked subscription; NULL after
 * replying with the error. */
static json_t *read_request(wp_http *h, vg_http_request *req, char **address)
{
    const char *data = NULL;
    size_t len = 0;
    *address = NULL;
    int brc = vg_http_body(req, BODY_MAX, &data, &len);
    if (brc == -E2BIG) {
        vg_http_reply_error(req, 413, "TOO_LARGE", "body: at most %d bytes", BODY_MAX);
        return NULL;
    }
    if (brc < 0) {
        vg_http_reply_error(req, 400, "INVALID_ARGUMENT", "body: could not be read");
        return NULL;
    }
    json_error_t je;
    json_t *in = h->host->json_parse(h->host, data, len, 0, &je);
    if (!json_is_object(in)) {
        json_decref(in);
        vg_http_reply_error(req, 400, "INVALID_ARGUMENT", "body: expected a JSON object (%s)",
                            in ? "not an object" : je.text);
        return NULL;
    }
    wp_sub *sub = malloc(sizeof *sub);
    char err[256];
    if (!sub) {
        json_decref(in);
        vg_http_reply_error(req, 503, "UNAVAILABLE", "out of memory");
        return NULL;
    }
    if (wp_sub_parse(json_object_get(in, "subscription"), h->insecure, sub, err, sizeof err) < 0 ||
        wp_endpoint_allowed(sub->endpoint, h->hosts, err, sizeof err) < 0) {
        free(sub);
        json_decref(in);
        vg_http_reply_error(req, 400, "INVALID_ARGUMENT", "%s", err);
        return NULL;
    }
    *address = wp_sub_canonical(sub);
    free(sub);
    if (!*address) {
        json_decref(in);
        vg_http_reply_error(req, 503, "UNAVAILABLE", "out of memory");
        return NULL;
    }
    return in;
}

/* A bus error as an HTTP answer: the code picks the status, the message stays. */
static int reply_bus_error(vg_http_request *req, int rc, json_t *result)
{
    const json_t *e = json_object_get(result, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    int status = 500;
    if (rc == -ENOSYS) {
        code = "UNAVAILABLE";
        msg = "subscriptions need the watch plugin, which is not loaded";
    }
    static const struct {
        const char *code;
        int status;
    } map[] = {{"INVALID_ARGUMENT", 400}, {"UNAUTHORIZED", 401}, {"NOT_FOUND", 404},
               {"CONFLICT", 409},         {"TOO_LARGE", 413},    {"RATE_LIMITED", 429},
               {"UNAVAILABLE", 503}};
    for (size_t i = 0; code && i < sizeof map / sizeof *map; i++)
        if (strcmp(map[i].code, code) == 0)
            status = map[i].status;
    if (status == 429 || status == 503)
        vg_http_set_header(req, "Retry-After", "60");
    return vg_http_reply_error(req, status, code ? code : "INTERNAL", "%s",
                               msg ? msg : "the subscription could not be stored");
}

/* The rate limit and the request of a subscribe or forget: the body (NULL
 * once answered) and the watch's parameters {v, channel, address} (NULL
 * when out of memory). */
static json_t *begin(wp_http *h, vg_http_request *req, json_t **params)
{
    if (over_limit(h, req))
        return NULL;
    char *address;
    json_t *in = read_request(h, req, &address);
    if (!in)
        return NULL;
    *params =
        json_pack("{s:i, s:s, s:s}", "v", VG_WATCH_V, "channel", "webpush", "address", address);
    free(address);
    return in;
}

static int h_subscribe(vg_http_request *req, void *user)
{
    wp_http *h = user;
    json_t *params = NULL, *in = begin(h, req, &params);
    if (!in)
        return 0;
    /* The same preferences an e-mail subscription takes; watch checks them. */
    static const char *const pass[] = {"target",   "kinds",       "lang",        "tz",
                                       "delivery", "quiet_hours", "min_severity"};
    for (size_t i = 0; params && i < sizeof pass / sizeof *pass; i++) {
        json_t *v = json_object_get(in, pass[i]);
        if (v)
            json_object_set(params, pass[i], v);
    }
    json_decref(in);
    if (!params)
        return vg_http_reply_error(req, 503, "UNAVAILABLE", "out of memory");
    json_t *result = NULL;
    int rc = vg_bus_call(h->host->bus, VG_WATCH_M_SUBSCRIBE, params, &result);
    json_decref(params);
    if (rc < 0) {
        rc = reply_bus_error(req, rc, result);
        json_decref(result);
        return rc;
    }
    /* The manage link goes to this browser only, as a mail would go to its address. */
    json_t *out =
        json_pack("{s:O*, s:O*, s:O*, s:O*}", "subscriber", json_object_get(result, "subscriber"),
                  "subscription", json_object_get(result, "subscription"), "manage_token",
                  json_object_get(result, "manage_token"), "manage_url",
                  json_object_get(result, "manage_url"));
    json_decref(result);
    return vg_http_reply_json(req, 201, out);
}

static int h_forget(vg_http_request *req, void *user)
{
    wp_http *h = user;
    json_t *params = NULL, *in = begin(h, req, &params);
    if (!in)
        return 0;
    json_decref(in);
    if (!params)
        return vg_http_reply_error(req, 503, "UNAVAILABLE", "out of memory");
    json_t *result = NULL;
    int rc = vg_bus_call(h->host->bus, VG_WATCH_M_FORGET, params, &result);
    json_decref(params);
    if (rc < 0) {
        rc = reply_bus_error(req, rc, result);
        json_decref(result);
        return rc;
    }
    return vg_http_reply_json(req, 200, result);
}

int wp_http_register(const vg_host *host, const wp_settings *s, const char *pub64)
{
    wp_http *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    h->host = host;
    h->insecure = s->insecure;
    h->hosts = json_incref(s->hosts);
    h->per_minute = s->requests_per_ip;
    snprintf(h->pub64, sizeof h->pub64, "%s", pub64);
    pthread_mutex_init(&h->mu, NULL);
    /* The three routes share h; the first registration owns it. */
    int rc = host->http_route(host, "GET", "/api/push/vapid-public-key", h_key, h, http_free);
    if (rc == 0)
        rc = host->http_route(host, "POST", "/api/push/subscriptions", h_subscribe, h, NULL);
    if (rc == 0)
        rc = host->http_route(host, "DELETE", "/api/push/subscriptions", h_forget, h, NULL);
    return rc;
}
