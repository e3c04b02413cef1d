/* email: the e-mail channel. It subscribes to delivery.requested (the watch
 * plugin's outbox, include/vigia/contract/delivery.h), keeps the rows whose
 * channel is "email", and hands each to its work queue: a worker renders the
 * templates, composes the MIME message, tries SMTP once and publishes
 * delivery.result (sent, retry or failed). Retrying is the outbox's job. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <vigia/contract/delivery.h>

#include "email_plugin.h"

typedef struct email_state {
    const vg_host *host;
    email_settings s;
    email_templates *tpl;
    email_smtp *smtp;
    vg_workq *q;
} email_state;

typedef struct email_job {
    email_state *st;
    json_t *payload;
    vg_job *job; /* while it runs */
} email_job;

static const char *status_name(email_status s)
{
    return s == EMAIL_SENT    ? VG_DELIVERY_SENT
           : s == EMAIL_RETRY ? VG_DELIVERY_RETRY
                              : VG_DELIVERY_FAILED;
}

static void publish_result(email_state *st, const json_t *p, email_status status, const char *error,
                           int64_t retry_after_ms)
{
    const char *key = json_string_value(json_object_get(p, "key"));
    int rc = vg_delivery_publish_result(st->host->bus, key, "email", status_name(status), error,
                                        retry_after_ms);
    if (rc < 0)
        VG_WARN(st->host, "cannot publish the result of %s (%d): the outbox will retry it", key,
                rc);
}

/* Render and compose; EMAIL_FAILED with err when the request itself is bad. */
static char *build_message(email_state *st, const json_t *p, size_t *len, char *err, size_t errn)
{
    time_t now = (time_t)(st->host->now_wall_ms(st->host) / 1000);
    const char *to = json_string_value(json_object_get(p, "to"));
    const char *kind = json_string_value(json_object_get(p, "kind"));
    if (!to || !email_address_ok(to)) {
        snprintf(err, errn, "invalid address '%.100s'", to ? to : "");
        return NULL;
    }
    const char *confirm =
        json_string_value(json_object_get(json_object_get(p, "links"), "confirm"));
    if (kind && strcmp(kind, VG_DELIVERY_KIND_CONFIRM) == 0 && (!confirm || !*confirm)) {
        snprintf(err, errn, "a confirm message needs links.confirm");
        return NULL;
    }
    json_t *ctx = email_context_build(st->host, p, now, (int)st->s.max_items, err, errn);
    if (!ctx)
        return NULL;
    char *subject = NULL, *text = NULL, *html = NULL;
    char *msg = NULL;
    if (email_templates_render(st->tpl, ctx, &subject, &text, &html, err, errn) == 0) {
        const json_t *links = json_object_get(p, "links");
        email_msg m = {
            .from_name = st->s.from_name,
            .from_addr = st->s.from,
            .to = to,
            .subject = subject,
            .date = now,
            .key = json_string_value(json_object_get(p, "key")),
            .list_id = json_string_value(json_object_get(p, "list_id")),
            .unsubscribe = json_string_value(json_object_get(links, "unsubscribe")),
            .text = text,
            .html = html,
        };
        msg = email_compose(&m, len, err, errn);
    }
    free(subject);
    free(text);
    free(html);
    json_decref(ctx);
    return msg;
}

static int job_stop(void *ctx) { return vg_job_cancelled(((email_job *)ctx)->job); }

static int64_t job_now(void *ctx)
{
    const vg_host *h = ((email_job *)ctx)->st->host;
    return h->now_mono_ms(h);
}

/* A worker thread: one try, one result. */
static int deliver(vg_job *job, void *user)
{
    email_job *j = user;
    email_state *st = j->st;
    char err[512] = "";
    int64_t retry_after = 0;
    email_status status;
    size_t len = 0;
    char *msg = NULL;
    if (vg_job_cancelled(job)) {
        snprintf(err, sizeof err, "not sent: the server is stopping");
        status = EMAIL_RETRY;
    } else if (!(msg = build_message(st, j->payload, &len, err, sizeof err))) {
        status = strcmp(err, "out of memory") == 0 ? EMAIL_RETRY : EMAIL_FAILED;
    } else {
        const char *to = json_string_value(json_object_get(j->payload, "to"));
        j->job = job;
        email_abort ab = {job_stop, job_now, j};
        status = email_smtp_send(st->smtp, to, msg, len, &ab, vg_job_deadline_ms(job), err,
                                 sizeof err, &retry_after);
        free(msg);
    }
    const char *key = json_string_value(json_object_get(j->payload, "key"));
    if (status == EMAIL_SENT)
        VG_DEBUG(st->host, "sent %s", key);
    else
        VG_WARN(st->host, "%s %s: %s", status_name(status), key, err);
    publish_result(st, j->payload, status, err, retry_after);
    return VG_JOB_DONE;
}

static void job_free(void *user)
{
    email_job *j = user;
    json_decref(j->payload);
    free(j);
}

/* Bus thread: filter and queue, never block. */
static void on_requested(const char *topic, const json_t *payload, void *user)
{
    (void)topic;
    email_state *st = user;
    const char *key = NULL;
    int mine = vg_delivery_request_key(payload, "email", &key);
    if (mine <= 0) {
        if (mine < 0)
            VG_WARN(st->host, "%s without a key ignored: nobody could match its result",
                    VG_DELIVERY_REQUESTED);
        return;
    }
    email_job *j = malloc(sizeof *j);
    if (!j)
        return; /* the outbox's lease makes it a retry */
    j->st = st;
    j->payload = json_incref((json_t *)payload);
    int rc = st->host->workq_submit(st->q, deliver, j, job_free);
    if (rc < 0)
        publish_result(st, payload, EMAIL_RETRY,
                       rc == -EAGAIN ? "the email queue is full" : "the email channel is stopping",
                       rc == -EAGAIN ? 5000 : 0);
}

static int email_check_config(const vg_host *host, const vg_config *cfg)
{
    email_settings s;
    int rc = email_config_read(host, cfg, &s);
    if (rc == 0) {
        char err[512];
        email_templates *t = email_templates_load(s.templates_dir, err, sizeof err);
        if (!t)
            rc = host->config_fail(host, cfg, "templates_dir", "%s", err);
        email_templates_free(t);
    }
    email_settings_free(&s);
    return rc;
}

static void state_free(email_state *st)
{
    email_templates_free(st->tpl);
    email_smtp_free(st->smtp);
    email_settings_free(&st->s);
    free(st);
}

static int email_init(const vg_host *host, const vg_config *cfg, void **out)
{
    email_state *st = calloc(1, sizeof *st);
    if (!st)
        return host->fail(host, "out of memory");
    st->host = host;
    char err[512];
    int rc = email_config_read(host, cfg, &st->s);
    if (rc == 0 && !(st->tpl = email_templates_load(st->s.templates_dir, err, sizeof err)))
        rc = host->config_fail(host, cfg, "templates_dir", "%s", err);
    if (rc == 0 && !(st->smtp = email_smtp_new(&st->s)))
        rc = host->fail(host, "out of memory");
    if (rc == 0) {
        vg_workq_opts o = VG_WORKQ_OPTS_INIT;
        o.threads = (int)st->s.threads;
        o.capacity = (int)st->s.queue;
        o.submit_wait_ms = 0; /* submitted from the bus thread */
        o.max_attempts = 1;   /* one try: the outbox retries */
        o.drain_ms = host->shutdown_timeout_ms(host) / 2;
        rc = host->workq_create(host, "email", &o, &st->q);
    }
    if (rc == 0) {
        rc = vg_bus_subscribe(host->bus, VG_DELIVERY_REQUESTED, on_requested, st, NULL, NULL);
        if (rc < 0) {
            host->workq_stop(st->q);
            rc = host->fail(host, "cannot subscribe to %s (%d)", VG_DELIVERY_REQUESTED, rc);
        }
    }
    if (rc != 0) {
        state_free(st);
        return rc;
    }
    VG_INFO(host, "sending through %s as %s (%lld thread%s)", st->s.url, st->s.from, st->s.threads,
            st->s.threads == 1 ? "" : "s");
    *out = st;
    return 0;
}

static void email_stop(void *state)
{
    email_state *st = state;
    /* The queue drains for half the shutdown budget (workq.h); transfers
     * still running then are cut, so the stop ends in time. */
    email_smtp_stop_in(st->smtp, st->host->shutdown_timeout_ms(st->host) / 2);
    st->host->workq_stop(st->q);
}

static void email_destroy(void *state) { state_free(state); }

VG_PLUGIN_DEFINE(email, "1.0.0", "E-mail channel: delivery.requested over SMTP (libcurl)",
                 .check_config = email_check_config, .init = email_init, .stop = email_stop,
                 .destroy = email_destroy);
