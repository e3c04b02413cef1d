/* webhook: the webhook channel. It subscribes to delivery.requested (the
 * watch plugin's outbox, include/vigia/contract/delivery.h), keeps the rows
 * whose channel is "webhook" (their "to" is an endpoint id), and hands each
 * to its work queue: a worker builds the body in the endpoint's format,
 * signs it (Standard Webhooks), POSTs it once and publishes delivery.result.
 * Retrying is the outbox's job; this plugin keeps the endpoint's failure
 * record and disables an endpoint that failed for disable_after. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vigia/contract/delivery.h>
#include <vigia/contract/notifications.h>
#include <vigia/contract/webhook.h>

#include "email.h"
#include "webhook_plugin.h"

typedef struct webhook_job {
    webhook_state *st;
    json_t *payload;
    bool test; /* a sample from POST /api/webhooks/{id}/test: no outbox row */
    vg_job *job;
} webhook_job;

static const char *status_name(webhook_status s)
{
    return s == WEBHOOK_SENT    ? VG_DELIVERY_SENT
           : s == WEBHOOK_RETRY ? VG_DELIVERY_RETRY
           : s == WEBHOOK_GONE  ? VG_DELIVERY_GONE
                                : VG_DELIVERY_FAILED;
}

static void publish_result(webhook_state *st, const char *key, webhook_status status,
                           const char *error, int64_t retry_after_ms)
{
    int rc = vg_delivery_publish_result(st->host->bus, key, VG_WEBHOOK_CHANNEL, status_name(status),
                                        error, retry_after_ms);
    if (rc < 0)
        VG_WARN(st->host, "cannot publish the result of %s (%d): the outbox will retry it", key,
                rc);
}

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

static int job_stop(void *ctx) { return vg_job_cancelled(((webhook_job *)ctx)->job); }

/* Build, sign and POST; the result in the contract's terms. */
static webhook_status try_once(webhook_state *st, webhook_job *j, webhook_ep *ep, char *err,
                               size_t errn, int64_t *retry_after)
{
    const char *key = json_string_value(json_object_get(j->payload, "key"));
    int64_t now = st->host->now_wall_ms(st->host);
    json_t *p = json_copy(j->payload);
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
                         .ctx = j};
    int http = 0;
    webhook_status s = webhook_client_post(st->client, &post, &http, err, errn, retry_after);
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

/* A worker thread: one try, one result. */
static int deliver(vg_job *job, void *user)
{
    webhook_job *j = user;
    webhook_state *st = j->st;
    char err[768] = "";
    int64_t retry_after = 0;
    webhook_status status;
    const char *key = json_string_value(json_object_get(j->payload, "key"));
    const char *to = json_string_value(json_object_get(j->payload, "to"));
    webhook_ep *ep = malloc(sizeof *ep); /* ~4 KiB: off the worker's stack */
    int found = ep ? webhook_store_get(&st->store, to ? to : "", ep) : -ENOMEM;
    j->job = job;
    if (vg_job_cancelled(job)) {
        snprintf(err, sizeof err, "not sent: the server is stopping");
        status = WEBHOOK_RETRY;
    } else if (found == -ENOENT) {
        snprintf(err, sizeof err, "no webhook endpoint '%.64s' (deleted)", to ? to : "");
        status = WEBHOOK_GONE;
    } else if (found < 0) {
        snprintf(err, sizeof err, "cannot read the endpoint (%d)", found);
        status = WEBHOOK_RETRY;
    } else if (ep->disabled_ms && !j->test) {
        snprintf(err, sizeof err, "the endpoint %s is disabled", ep->id);
        status = WEBHOOK_FAILED;
    } else {
        status = try_once(st, j, ep, err, sizeof err, &retry_after);
    }
    free(ep);
    atomic_fetch_add(status == WEBHOOK_SENT    ? &st->sent
                     : status == WEBHOOK_RETRY ? &st->retry
                     : status == WEBHOOK_GONE  ? &st->gone
                                               : &st->failed,
                     1);
    if (status == WEBHOOK_SENT)
        VG_DEBUG(st->host, "sent %s to %s", key, to);
    else
        VG_WARN(st->host, "%s %s to %s: %s", status_name(status), key, to, err);
    if (!j->test)
        publish_result(st, key, status, err, retry_after);
    return VG_JOB_DONE;
}

static void job_free(void *user)
{
    webhook_job *j = user;
    json_decref(j->payload);
    free(j);
}

static int submit(webhook_state *st, json_t *payload, bool test)
{
    webhook_job *j = calloc(1, sizeof *j);
    if (!j) {
        json_decref(payload);
        return -ENOMEM;
    }
    j->st = st;
    j->payload = payload;
    j->test = test;
    return st->host->workq_submit(st->q, deliver, j, job_free);
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
    return submit(st, p, true);
}

/* Bus thread: filter and queue, never block. */
static void on_requested(const char *topic, const json_t *payload, void *user)
{
    (void)topic;
    webhook_state *st = user;
    const char *key = NULL;
    int mine = vg_delivery_request_key(payload, VG_WEBHOOK_CHANNEL, &key);
    if (mine <= 0) {
        if (mine < 0)
            VG_WARN(st->host, "%s without a key ignored: nobody could match its result",
                    VG_DELIVERY_REQUESTED);
        return;
    }
    /* The key goes into a header line: no control characters, a sane length. */
    size_t n = strlen(key);
    bool bad = n > 200;
    for (size_t i = 0; i < n && !bad; i++)
        bad = (unsigned char)key[i] < 0x20 || key[i] == 0x7f;
    if (bad) {
        publish_result(st, key, WEBHOOK_FAILED,
                       "key: at most 200 bytes without control characters (it is the webhook-id "
                       "header)",
                       0);
        return;
    }
    int rc = submit(st, json_incref((json_t *)payload), false);
    if (rc < 0)
        publish_result(st, key, WEBHOOK_RETRY,
                       rc == -EAGAIN      ? "the webhook queue is full"
                       : rc == -ESHUTDOWN ? "the webhook channel is stopping"
                                          : "out of memory",
                       rc == -EAGAIN ? 5000 : 0);
}

static int m_status(const json_t *params, json_t **result, void *user)
{
    (void)params;
    webhook_state *st = user;
    int64_t total = 0, disabled = 0, failing = 0;
    if (webhook_store_counts(&st->store, &total, &disabled, &failing) != 0)
        return -EIO;
    *result = json_pack(
        "{s:i, s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I}}", "v", VG_WEBHOOK_V, "endpoints", "total",
        (json_int_t)total, "disabled", (json_int_t)disabled, "failing", (json_int_t)failing,
        "deliveries", "sent", (json_int_t)atomic_load(&st->sent), "retry",
        (json_int_t)atomic_load(&st->retry), "failed", (json_int_t)atomic_load(&st->failed), "gone",
        (json_int_t)atomic_load(&st->gone));
    return *result ? 0 : -ENOMEM;
}

static int webhook_check_config(const vg_host *host, const vg_config *cfg)
{
    webhook_settings s;
    return webhook_config_read(host, cfg, &s);
}

static void state_free(webhook_state *st)
{
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
    if (rc == 0) {
        vg_workq_opts o = VG_WORKQ_OPTS_INIT;
        o.threads = (int)st->s.threads;
        o.capacity = (int)st->s.queue;
        o.submit_wait_ms = 0; /* submitted from the bus thread */
        o.max_attempts = 1;   /* one try: the outbox retries */
        o.drain_ms = host->shutdown_timeout_ms(host) / 2;
        rc = host->workq_create(host, "webhook", &o, &st->q);
    }
    if (rc == 0 &&
        (rc = vg_bus_subscribe(host->bus, VG_DELIVERY_REQUESTED, on_requested, st, NULL, NULL)) < 0)
        rc = host->fail(host, "cannot subscribe to %s (%d)", VG_DELIVERY_REQUESTED, rc);
    if (rc == 0 &&
        (rc = vg_bus_register_method(host->bus, VG_WEBHOOK_M_STATUS, m_status, st, NULL)) < 0)
        rc = host->fail(host, "cannot register %s (%d)", VG_WEBHOOK_M_STATUS, rc);
    if (rc == 0)
        rc = webhook_http_register(st);
    if (rc != 0) {
        if (st->q)
            host->workq_stop(st->q);
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
    st->host->workq_stop(st->q);
}

static void webhook_destroy(void *state) { state_free(state); }

VG_PLUGIN_DEFINE(webhook, "1.0.0", "Webhook channel: signed HTTP deliveries (Standard Webhooks)",
                 .check_config = webhook_check_config, .init = webhook_init, .stop = webhook_stop,
                 .destroy = webhook_destroy);
