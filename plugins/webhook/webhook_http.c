/* The endpoint API (docs/subscriptions.md, "Webhooks"). The operator (admin
 * token) manages every endpoint; with public_webhooks = true a subscriber
 * holding a manage link (?token=) manages the endpoints they made. Each
 * endpoint is a watch subscriber of channel "webhook" whose address is the
 * endpoint id, so the watch plugin's matching, preferences and outbox apply
 * to it unchanged. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vigia/contract/webhook.h>

#include "webhook_plugin.h"

#define BODY_MAX 16384
#define WATCH_SUBSCRIBE "watch.subscribe"
#define WATCH_FORGET "watch.forget"
#define WATCH_SUBSCRIBER "watch.subscriber"
#define ADMIN (-1)
#define REPLIED (-2)

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* "http://<host>" or "https://<host>" with host = the request's Host. */
static bool same_origin(const char *origin, const char *host)
{
    const char *rest = !strncmp(origin, "http://", 7)    ? origin + 7
                       : !strncmp(origin, "https://", 8) ? origin + 8
                                                         : NULL;
    return rest && host && strcmp(rest, host) == 0;
}

/* Without an admin token the operator's actions are open to whoever reaches
 * them, so (as the core's other admin actions) only this machine's peers,
 * and never a web page of another origin open in a browser here (CSRF: a
 * page could register an endpoint of its choosing). */
static bool open_action_refused(webhook_state *st, vg_http_request *req)
{
    const vg_host *h = st->host;
    if (h->admin_token_set(h))
        return false;
    bool local =
        h->struct_size >= offsetof(vg_host, peer_is_loopback) + sizeof h->peer_is_loopback &&
        h->peer_is_loopback(h, vg_http_remote_addr(req));
    if (!local) {
        vg_http_reply_error(
            req, 403, "FORBIDDEN",
            "no [server] admin_token is set, so webhook endpoints are managed "
            "from this machine only; set admin_token to manage them from elsewhere");
        return true;
    }
    const char *origin = vg_http_header(req, "Origin");
    const char *site = vg_http_header(req, "Sec-Fetch-Site");
    if ((origin && *origin && !same_origin(origin, vg_http_header(req, "Host"))) ||
        (site && (!strcmp(site, "cross-site") || !strcmp(site, "same-site")))) {
        vg_http_reply_error(req, 403, "CROSS_ORIGIN",
                            "a web page of another origin may not manage webhook endpoints");
        return true;
    }
    return false;
}

/* ADMIN for the operator, a watch subscriber id for a manage link, or
 * REPLIED when the request was refused (the reply is sent). */
static int64_t who(webhook_state *st, vg_http_request *req)
{
    char tok[160];
    const char *auth = vg_http_header(req, "Authorization");
    int has_token = vg_http_query(req, "token", tok, sizeof tok) > 0;
    if (!has_token || !st->s.public_webhooks || (auth && *auth))
        return vg_http_require_admin(req) < 0 || open_action_refused(st, req) ? REPLIED : ADMIN;
    json_t *p = json_pack("{s:i, s:s}", "v", 1, "token", tok), *res = NULL;
    int rc = p ? vg_bus_call(st->host->bus, WATCH_SUBSCRIBER, p, &res) : -ENOMEM;
    json_int_t id = json_integer_value(json_object_get(res, "subscriber"));
    json_decref(p);
    json_decref(res);
    if (rc == 0 && id > 0)
        return (int64_t)id;
    if (rc == -ENOSYS)
        vg_http_reply_error(req, 503, "UNAVAILABLE", "the watch plugin is not loaded");
    else
        vg_http_reply_error(req, 404, "NOT_FOUND", "token: unknown or expired");
    return REPLIED;
}

/* The endpoint `id` when `owner` may see it; replies 404 otherwise. */
static json_t *visible(webhook_state *st, vg_http_request *req, int64_t owner, const char *id,
                       webhook_ep *ep)
{
    json_t *v = NULL;
    if (id && webhook_store_get(&st->store, id, ep) == 0 && (owner == ADMIN || ep->owner == owner))
        v = webhook_store_view(&st->store, id);
    if (!v)
        vg_http_reply_error(req, 404, "NOT_FOUND", "id: no webhook endpoint '%.64s'", id ? id : "");
    return v;
}

/* Forward a watch error with its own message. */
static int watch_error(vg_http_request *req, int rc, json_t *res)
{
    const json_t *e = json_object_get(res, "error");
    const char *msg = jstr(e, "message");
    if (rc == -ENOSYS)
        return vg_http_reply_error(req, 503, "UNAVAILABLE",
                                   "the watch plugin is not loaded: endpoints cannot subscribe");
    if (rc == -EINVAL || rc == -ENOENT)
        return vg_http_reply_error(req, 400, "INVALID_ARGUMENT", "%s",
                                   msg ? msg : "the watch plugin refused the subscription");
    return vg_http_reply_error(req, 503, "UNAVAILABLE", "watch: %s", msg ? msg : "failed");
}

/* watch.subscribe for endpoint `id` with the target and preferences of `b`. */
static int subscribe(webhook_state *st, const char *id, const char *lang, const json_t *b,
                     json_t **res)
{
    json_t *p = json_pack("{s:i, s:s, s:s, s:s, s:O}", "v", 1, "channel", VG_WEBHOOK_CHANNEL,
                          "address", id, "lang", lang, "target", json_object_get(b, "target"));
    if (!p)
        return -ENOMEM;
    static const char *const opt[] = {"kinds", "delivery", "quiet_hours", "min_severity", "tz"};
    for (size_t i = 0; i < sizeof opt / sizeof *opt; i++)
        if (json_object_get(b, opt[i]))
            json_object_set(p, opt[i], json_object_get(b, opt[i]));
    int rc = vg_bus_call(st->host->bus, WATCH_SUBSCRIBE, p, res);
    json_decref(p);
    return rc;
}

static json_t *read_body(vg_http_request *req, webhook_state *st)
{
    const char *data;
    size_t len;
    int rc = vg_http_body(req, BODY_MAX, &data, &len);
    if (rc == -E2BIG) {
        vg_http_reply_error(req, 413, "TOO_LARGE", "body: at most %d bytes", BODY_MAX);
        return NULL;
    }
    json_error_t e;
    json_t *b = rc == 0 ? st->host->json_parse(st->host, data, len, 0, &e) : NULL;
    if (!json_is_object(b)) {
        vg_http_reply_error(req, 400, "INVALID_ARGUMENT", "body: a JSON object is required%s%s",
                            b || rc ? "" : ": ", b || rc ? "" : e.text);
        json_decref(b);
        return NULL;
    }
    return b;
}

static int h_create(vg_http_request *req, void *user)
{
    webhook_state *st = user;
    int64_t owner = who(st, req);
    if (owner == REPLIED)
        return 0;
    json_t *b = read_body(req, st);
    if (!b)
        return 0;
    char err[512];
    const char *url = jstr(b, "url"), *fmt = jstr(b, "format"), *lang = jstr(b, "lang");
    const json_t *target = json_object_get(b, "target");
    webhook_ep *ep = calloc(1, sizeof *ep);
    json_t *res = NULL, *view = NULL;
    int64_t total = 0, dis, fail;
    int rc = 0;
    if (!ep)
        rc = vg_http_reply_error(req, 503, "UNAVAILABLE", "out of memory");
    else if (webhook_url_check(url, st->s.allow_private, err, sizeof err) != 0)
        rc = vg_http_reply_error(req, 400, "INVALID_ARGUMENT", "%s", err);
    else if (fmt && webhook_format_parse(fmt) < 0)
        rc = vg_http_reply_error(req, 400, "INVALID_ARGUMENT",
                                 "format: one of standard, slack, discord, teams");
    else if (lang && strcmp(lang, "es") != 0 && strcmp(lang, "en") != 0)
        rc = vg_http_reply_error(req, 400, "INVALID_ARGUMENT", "lang: es or en");
    else if (target && !json_is_object(target))
        rc = vg_http_reply_error(req, 400, "INVALID_ARGUMENT", "target: an object");
    else if (owner != ADMIN && !target)
        rc = vg_http_reply_error(req, 400, "INVALID_ARGUMENT", "target: required");
    else if (webhook_store_counts(&st->store, &total, &dis, &fail) == 0 &&
             total >= st->s.max_endpoints)
        rc = vg_http_reply_error(req, 409, "LIMIT", "at most %lld endpoints (max_endpoints)",
                                 st->s.max_endpoints);
    else if (webhook_id_new(ep->id) != 0 || webhook_secret_new(ep->secret) != 0)
        rc = vg_http_reply_error(req, 503, "UNAVAILABLE", "no randomness for the secret");
    else {
        snprintf(ep->url, sizeof ep->url, "%s", url);
        ep->format = fmt ? webhook_format_parse(fmt) : WEBHOOK_STANDARD;
        snprintf(ep->lang, sizeof ep->lang, "%s", lang ? lang : "es");
        ep->owner = owner == ADMIN ? 0 : owner;
        if (webhook_store_insert(&st->store, ep, st->host->now_wall_ms(st->host)) != 0)
            rc = vg_http_reply_error(req, 503, "UNAVAILABLE", "cannot store the endpoint");
        else if (target && (rc = subscribe(st, ep->id, ep->lang, b, &res)) != 0) {
            webhook_store_delete(&st->store, ep->id);
            rc = watch_error(req, rc, res);
        } else if (!(view = webhook_store_view(&st->store, ep->id)))
            rc = vg_http_reply_error(req, 503, "UNAVAILABLE", "cannot read the endpoint back");
        else {
            /* The secret is shown here and after a rotation, never again. */
            json_object_set_new(view, "secret", json_string(ep->secret));
            if (res)
                json_object_set(view, "subscription", res);
            VG_INFO(st->host, "endpoint %s registered (%s, %s)%s", ep->id,
                    webhook_format_name((webhook_format)ep->format), ep->url,
                    owner == ADMIN ? "" : " with a manage link");
            rc = vg_http_reply_json(req, 201, view);
        }
    }
    free(ep);
    json_decref(res);
    json_decref(b);
    return rc < 0 ? rc : 0;
}

static int h_list(vg_http_request *req, void *user)
{
    webhook_state *st = user;
    int64_t owner = who(st, req);
    if (owner == REPLIED)
        return 0;
    json_t *l = webhook_store_list(&st->store, owner == ADMIN ? -1 : owner);
    if (!l)
        return vg_http_reply_error(req, 503, "UNAVAILABLE", "cannot read the endpoints");
    return vg_http_reply_json(req, 200, json_pack("{s:o}", "endpoints", l));
}

/* Endpoint `id` as the caller may see it (new reference), or NULL once the
 * answer (401/403/404) is given. */
static json_t *endpoint_of(webhook_state *st, vg_http_request *req, const char *id, webhook_ep *ep)
{
    int64_t owner = who(st, req);
    return owner == REPLIED ? NULL : visible(st, req, owner, id, ep);
}

static int h_one(vg_http_request *req, void *user)
{
    webhook_state *st = user;
    const char *m = vg_http_method(req), *id = vg_http_param(req, "id");
    if (strcmp(m, "GET") != 0 && strcmp(m, "DELETE") != 0) {
        vg_http_set_header(req, "Allow", "GET, DELETE");
        return vg_http_reply_error(req, 405, "METHOD_NOT_ALLOWED", "GET or DELETE");
    }
    webhook_ep ep;
    json_t *v = endpoint_of(st, req, id, &ep);
    if (!v)
        return 0;
    if (strcmp(m, "GET") == 0)
        return vg_http_reply_json(req, 200, v);
    json_decref(v);
    json_t *p = json_pack("{s:i, s:s, s:s}", "v", 1, "channel", VG_WEBHOOK_CHANNEL, "address", id),
           *res = NULL;
    int rc = p ? vg_bus_call(st->host->bus, WATCH_FORGET, p, &res) : -ENOMEM;
    json_decref(p);
    json_decref(res);
    if (rc < 0 && rc != -ENOSYS)
        return vg_http_reply_error(req, 503, "UNAVAILABLE",
                                   "cannot remove the endpoint's subscriptions (%d)", rc);
    if (webhook_store_delete(&st->store, id) == -EIO)
        return vg_http_reply_error(req, 503, "UNAVAILABLE", "cannot delete the endpoint");
    VG_INFO(st->host, "endpoint %s deleted", id);
    return vg_http_reply_json(req, 200, json_pack("{s:s, s:b}", "id", id, "deleted", 1));
}

static int h_action(vg_http_request *req, void *user)
{
    webhook_state *st = user;
    const char *id = vg_http_param(req, "id"), *what = vg_http_param(req, "action");
    webhook_ep ep;
    json_t *v = endpoint_of(st, req, id, &ep);
    if (!v)
        return 0;
    int64_t now = st->host->now_wall_ms(st->host);
    if (strcmp(what, "rotate") == 0) {
        char secret[WEBHOOK_SECRET_MAX];
        json_decref(v);
        if (webhook_secret_new(secret) != 0 ||
            webhook_store_rotate(&st->store, id, secret, now + st->s.rotate_grace) != 0)
            return vg_http_reply_error(req, 503, "UNAVAILABLE", "cannot rotate the secret");
        VG_INFO(st->host, "endpoint %s: secret rotated", id);
        return vg_http_reply_json(req, 200,
                                  json_pack("{s:s, s:s, s:I}", "id", id, "secret", secret,
                                            "previous_secret_until_ms",
                                            (json_int_t)(now + st->s.rotate_grace)));
    }
    if (strcmp(what, "test") == 0) {
        json_decref(v);
        int rc = webhook_send_test(st, id, ep.lang);
        if (rc < 0)
            return vg_http_reply_error(req, 503, "UNAVAILABLE", "cannot queue the test (%d)", rc);
        return vg_http_reply_json(req, 202, json_pack("{s:s, s:b}", "id", id, "queued", 1));
    }
    if (strcmp(what, "enable") == 0) {
        json_decref(v);
        if (webhook_store_enable(&st->store, id) != 0)
            return vg_http_reply_error(req, 503, "UNAVAILABLE", "cannot enable the endpoint");
        VG_INFO(st->host, "endpoint %s enabled again", id);
        return vg_http_reply_json(req, 200, webhook_store_view(&st->store, id));
    }
    if (strcmp(what, "subscriptions") == 0) {
        json_decref(v);
        json_t *b = read_body(req, st), *res = NULL;
        if (!b)
            return 0;
        int rc;
        if (!json_is_object(json_object_get(b, "target")))
            rc = vg_http_reply_error(req, 400, "INVALID_ARGUMENT", "target: required (an object)");
        else if ((rc = subscribe(st, id, ep.lang, b, &res)) != 0)
            rc = watch_error(req, rc, res);
        else
            rc = vg_http_reply_json(req, 201, json_incref(res));
        json_decref(res);
        json_decref(b);
        return rc < 0 ? rc : 0;
    }
    json_decref(v);
    return vg_http_reply_error(req, 404, "NOT_FOUND",
                               "action: one of rotate, test, enable, subscriptions");
}

int webhook_http_register(webhook_state *st)
{
    const vg_host *h = st->host;
    int rc;
    if ((rc = h->http_route(h, "POST", "/api/webhooks", h_create, st, NULL)) < 0 ||
        (rc = h->http_route(h, "GET", "/api/webhooks", h_list, st, NULL)) < 0 ||
        (rc = h->http_route(h, "*", "/api/webhooks/{id}", h_one, st, NULL)) < 0 ||
        (rc = h->http_route(h, "POST", "/api/webhooks/{id}/{action}", h_action, st, NULL)) < 0)
        return h->fail(h, "cannot register the webhook routes (%d)", rc);
    if (h->struct_size > offsetof(vg_host, admin_action))
        h->admin_action(h, "manage webhook endpoints");
    return 0;
}
