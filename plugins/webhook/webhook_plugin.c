/* webhook: the webhook channel. It subscribes to delivery.requested (the
 * watch plugin's outbox, include/vigia/contract/delivery.h), keeps the rows
 * whose channel is "webhook" (their "to" is an endpoint id; include/vigia/
 * channel.h does the queueing, the answer and the counts): a worker builds
 * the body in the endpoint's format, signs it (Standard Webhooks) and POSTs
 * it once.
 * Retrying is the outbox's job; this plugin keeps the endpoint's failure
 * record and disables an endpoint that failed for disable_after. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vigia/contract/notifications.h>
#include <vigia/contract/webhook.h>

#include "webhook_plugin.h"

/* The owner learns it from the operator's notification list (and the log);
 * a public endpoint's state also shows in its GET. */
static void tell_disabled(webhook_state *st, const webhook_ep *ep, const char *why)
{
    VG_WARN(st->host, "endpoint %s (%.300s) disabled: %s", ep->id, ep->url, why);
    char title[160], msg[1400];
    snprintf(title, sizeof title, "Webhook %s disabled", ep->id);
    snprintf(msg, sizeof msg,
             "Deliveries to %.300s stopped: %.600s. Fix the receiver, then delete the endpoint and "
             "register it again (DELETE /api/webhooks/%s).",
             ep->url, why, ep->id);
    json_t *p =
        json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", VG_NOTIFICATIONS_N_TYPE, "warning", "title",
                  title, "message", msg, "data", "webhook", ep->id, "url", ep->url);
    json_t *res = NULL;
    int rc = p ? vg_bus_call(st->host->bus, VG_NOTIFICATIONS_M_CREATE, p, &res) : -ENOMEM;
    if (rc < 0)
        VG_DEBUG(st->host, "no notification for the disabled endpoint %s (%d)", ep->id, rc);
    json_decref(p);
    json_decref(res);
}

static int job_stop(void *ctx) { return vg_job_cancelled((vg_job *)ctx); }

/* Build, sign and POST; the result in the contract's terms. */
static webhook_status try_once(webhook_state *st, vg_channel_msg *m, webhook_ep *ep)
{
    const char *key = m->key;
    char *err = m->error;
    size_t errn = sizeof m->error;
    int64_t now = st->host->now_wall_ms(st->host);
    json_t *p = json_copy((json_t *)m->payload);
    if (!p) {
        snprintf(err, errn, "out of memory");
        return WEBHOOK_RETRY;
    }
    /* The subscriber's language is the endpoint's unless the row says. */
    const char *lang = json_string_value(json_object_get(p, "lang"));
    if (!lang || (strcmp(lang, "es") != 0 && strcmp(lang, "en") != 0))
        json_object_set_new(p, "lang", json_string(ep->lang));
    char *body = webhook_body(st->host, st->texts, (webhook_format)ep->format, p,
                              (time_t)(now / 1000), (int)st->s.max_items, err, errn);
    json_decref(p);
    if (!body)
        return strcmp(err, "out of memory") == 0 ? WEBHOOK_RETRY : WEBHOOK_FAILED;
    char sig[2 * 64 + 8];
    long long ts = (long long)(now / 1000);
    if (webhook_sign(ep->secret, key, ts, body, strlen(body), sig, sizeof sig / 2) != 0) {
        free(body);
        snprintf(err, errn, "the endpoint's secret is malformed");
        return WEBHOOK_FAILED;
    }
    /* After a rotation the previous secret signs too for rotate_grace, so a
     * receiver can switch over without losing deliveries (the spec allows
     * several space-separated signatures). */
    if (ep->prev_secret[0] && now < ep->prev_until_ms) {
        size_t n = strlen(sig);
        sig[n] = ' ';
        if (webhook_sign(ep->prev_secret, key, ts, body, strlen(body), sig + n + 1,
                         sizeof sig - n - 1) != 0)
            sig[n] = 0;
    }
    webhook_post post = {.url = ep->url,
                         .msg_id = key,
                         .ts = ts,
                         .signature = sig,
                         .body = body,
                         .len = strlen(body),
                         .stop = job_stop,
                         .ctx = m->job};
    int http = 0;
    webhook_status s = webhook_client_post(st->client, &post, &http, err, errn, &m->retry_after_ms);
    free(body);
    int64_t since = 0, done = st->host->now_wall_ms(st->host);
    if (webhook_store_outcome(&st->store, ep->id, s == WEBHOOK_SENT, http,
                              s == WEBHOOK_SENT ? NULL : err, done, &since) == -EIO)
        VG_WARN(st->host, "cannot record the outcome for %s", ep->id);
    if (s == WEBHOOK_GONE) {
        if (webhook_store_disable(&st->store, ep->id, "the receiver answered 410 Gone", done) == 0)
            tell_disabled(st, ep, "the receiver answered 410 Gone");
    } else if (s != WEBHOOK_SENT && since > 0 && done - since >= st->s.disable_after) {
        char why[700];
        snprintf(why, sizeof why, "failing for %lld s (disable_after), last error: %.500s",
                 (long long)((done - since) / 1000), err);
        if (webhook_store_disable(&st->store, ep->id, why, done) == 0)
            tell_disabled(st, ep, why);
        s = WEBHOOK_FAILED;
    }
    return s;
}

/* The key goes into a header line: no control characters, a sane length. */
static bool key_ok(const char *key)
{
    size_t n = strlen(key);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f)
            return false;
    return n <= 200;
}

/* A worker thread (channel.h): one try. */
static int webhook_deliver(vg_channel_msg *m, void *user)
{
    webhook_state *st = user;
    if (!key_ok(m->key))
        return vg_channel_say(m, WEBHOOK_FAILED,
                              "key: at most 200 bytes without control characters (it is the "
                              "webhook-id header)");
    webhook_ep *ep = malloc(sizeof *ep); /* ~4 KiB: off the worker's stack */
    int found = ep ? webhook_store_get(&st->store, m->to, ep) : -ENOMEM;
    webhook_status status;
    if (found == -ENOENT)
        status = vg_channel_say(m, WEBHOOK_GONE, "no webhook endpoint '%.64s' (deleted)", m->to);
    else if (found < 0)
        status = vg_channel_say(m, WEBHOOK_RETRY, "cannot read the endpoint (%d)", found);
    else if (ep->disabled_ms && m->from_outbox) /* a test message still goes */
        status = vg_channel_say(m, WEBHOOK_FAILED, "the endpoint %s is disabled", ep->id);
    else
        status = try_once(st, m, ep);
    free(ep);
    return status;
}

int webhook_send_test(webhook_state *st, const char *id, const char *lang)
{
    char key[96];
    int64_t now = st->host->now_wall_ms(st->host);
    snprintf(key, sizeof key, "test-%s-%lld", id, (long long)now);
    json_t *p = webhook_sample_payload(key, lang, (time_t)(now / 1000));
    if (!p)
        return -ENOMEM;
    json_object_set_new(p, "to", json_string(id));
    return vg_channel_submit(st->ch, p, 0);
}

static int m_status(const json_t *params, json_t **result, void *user)
{
    (void)params;
    webhook_state *st = user;
    int64_t total = 0, disabled = 0, failing = 0;
    if (webhook_store_counts(&st->store, &total, &disabled, &failing) != 0)
        return -EIO;
    vg_channel_counts c = vg_channel_get_counts(st->ch);
    *result = json_pack(
        "{s:i, s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I}}", "v", VG_WEBHOOK_V, "endpoints", "total",
        (json_int_t)total, "disabled", (json_int_t)disabled, "failing", (json_int_t)failing,
        "deliveries", "sent", (json_int_t)c.by_status[WEBHOOK_SENT], "retry",
        (json_int_t)c.by_status[WEBHOOK_RETRY], "failed", (json_int_t)c.by_status[WEBHOOK_FAILED],
        "gone", (json_int_t)c.by_status[WEBHOOK_GONE]);
    return *result ? 0 : -ENOMEM;
}

static int webhook_check_config(const vg_host *host, const vg_config *cfg)
{
    webhook_settings s;
    return webhook_config_read(host, cfg, &s);
}

static void state_free(webhook_state *st)
{
    vg_channel_free(st->ch); /* stops the queue before what it uses goes */
    webhook_texts_free(st->texts);
    webhook_client_free(st->client);
    if (st->store.db)
        webhook_store_close(&st->store);
    free(st);
}

static int webhook_init(const vg_host *host, const vg_config *cfg, void **out)
{
    webhook_state *st = calloc(1, sizeof *st);
    if (!st)
        return host->fail(host, "out of memory");
    st->host = host;
    char err[512], ua[96];
    snprintf(ua, sizeof ua, "Vigia-Webhooks/%s", host->server_version(host));
    int rc = webhook_config_read(host, cfg, &st->s);
    if (rc == 0 && webhook_store_open(&st->store, host->database_path(host), err, sizeof err))
        rc = host->fail(host, "webhook store: %s", err);
    if (rc == 0 && !(st->texts = webhook_texts_load(err, sizeof err)))
        rc = host->fail(host, "webhook texts: %s", err);
    if (rc == 0 && !(st->client = webhook_client_new(&st->s, ua)))
        rc = host->fail(host, "out of memory");
    if (rc == 0)
        rc = vg_channel_register_sized(host, VG_WEBHOOK_CHANNEL, webhook_deliver, st, st->s.threads,
                                       st->s.queue, &st->ch);
    if (rc == 0 &&
        (rc = vg_bus_register_method(host->bus, VG_WEBHOOK_M_STATUS, m_status, st, NULL)) < 0)
        rc = host->fail(host, "cannot register %s (%d)", VG_WEBHOOK_M_STATUS, rc);
    if (rc == 0)
        rc = webhook_http_register(st);
    if (rc != 0) {
        state_free(st);
        return rc;
    }
    if (st->s.allow_private)
        VG_WARN(host, "allow_private_webhooks = true: endpoints may reach this machine and its "
                      "private networks");
    VG_INFO(host, "delivering to webhook endpoints (%lld thread%s%s)", st->s.threads,
            st->s.threads == 1 ? "" : "s", st->s.public_webhooks ? ", public registration on" : "");
    *out = st;
    return 0;
}

static void webhook_stop(void *state)
{
    webhook_state *st = state;
    vg_channel_stop(st->ch);
}

static void webhook_destroy(void *state) { state_free(state); }

VG_PLUGIN_DEFINE(webhook, "1.0.0", "Webhook channel: signed HTTP deliveries (Standard Webhooks)",
                 .check_config = webhook_check_config, .init = webhook_init, .stop = webhook_stop,
                 .destroy = webhook_destroy);
