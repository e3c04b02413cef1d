/* email: the e-mail channel. It subscribes to delivery.requested (the watch
 * plugin's outbox, include/vigia/contract/delivery.h), keeps the rows whose
 * channel is "email" (include/vigia/channel.h does the queueing and the
 * answer): a worker renders the templates, composes the MIME message and
 * tries SMTP once; sent, retry or failed goes back as delivery.result.
 * Retrying is the outbox's job. */
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
    vg_channel *ch;
} email_state;

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
    json_t *ctx = tmpl_context_build(st->host, p, now, (int)st->s.max_items, err, errn);
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

/* What the SMTP transfer polls to know it must give up. */
typedef struct email_watch {
    vg_job *job;
    const vg_host *host;
} email_watch;

static int job_stop(void *ctx) { return vg_job_cancelled(((email_watch *)ctx)->job); }

static int64_t job_now(void *ctx)
{
    const vg_host *h = ((email_watch *)ctx)->host;
    return h->now_mono_ms(h);
}

/* A worker thread (channel.h): one try. */
static int email_send(vg_channel_msg *m, void *user)
{
    email_state *st = user;
    size_t len = 0;
    char *msg = build_message(st, m->payload, &len, m->error, sizeof m->error);
    if (!msg)
        return strcmp(m->error, "out of memory") == 0 ? EMAIL_RETRY : EMAIL_FAILED;
    email_watch w = {m->job, st->host};
    email_abort ab = {job_stop, job_now, &w};
    email_status status =
        email_smtp_send(st->smtp, m->to, msg, len, &ab, vg_job_deadline_ms(m->job), m->error,
                        sizeof m->error, &m->retry_after_ms);
    free(msg);
    return status;
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
    vg_channel_free(st->ch); /* stops the queue before what it uses goes */
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
    if (rc == 0)
        rc = vg_channel_register_sized(host, "email", email_send, st, st->s.threads, st->s.queue,
                                       &st->ch);
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
    vg_channel_stop(st->ch);
}

static void email_destroy(void *state) { state_free(state); }

VG_PLUGIN_DEFINE(email, "1.0.0", "E-mail channel: delivery.requested over SMTP (libcurl)",
                 .check_config = email_check_config, .init = email_init, .stop = email_stop,
                 .destroy = email_destroy);
