/* webpush: the Web Push channel (RFC 8030, 8291, 8292). It subscribes to
 * delivery.requested (the watch plugin's outbox,
 * include/vigia/contract/delivery.h), keeps the rows whose channel is
 * "webpush" (their `to` is a browser's push subscription; include/vigia/
 * channel.h does the queueing and the answer): a worker builds the
 * notification in the subscriber's language, encrypts it for that browser
 * and POSTs it to the browser's push service with a VAPID signature; sent,
 * gone, retry or failed goes back as delivery.result. Retrying is the
 * outbox's job. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <vigia/contract/webpush.h>

#include "webpush_plugin.h"

typedef struct wp_state {
    const vg_host *host;
    wp_settings s;
    EVP_PKEY *key;
    char pub64[96];
    wp_sender *send;
    vg_channel *ch;
} wp_state;

/* The portal's address for messages about several datasets: portal_url, or
 * the base of the manage link (the watch's public_url). */
static void home_of(const wp_state *st, const json_t *p, char *out, size_t n)
{
    if (*st->s.home) {
        snprintf(out, n, "%s", st->s.home);
        return;
    }
    const char *m = json_string_value(json_object_get(json_object_get(p, "links"), "manage"));
    const char *api = m ? strstr(m, "/api/") : NULL;
    if (api && (size_t)(api - m) + 2 <= n)
        snprintf(out, n, "%.*s/", (int)(api - m), m);
    else
        snprintf(out, n, "%s", "");
}

static int job_stop(void *ctx) { return vg_job_cancelled((vg_job *)ctx); }

/* A worker thread (channel.h): one try. */
static int wp_deliver(vg_channel_msg *m, void *user)
{
    wp_state *st = user;
    const json_t *p = m->payload;
    const char *kind = json_string_value(json_object_get(p, "kind"));
    if (kind && strcmp(kind, VG_DELIVERY_KIND_CONFIRM) == 0)
        return vg_channel_say(m, WP_FAILED,
                              "webpush has no confirmation message (the browser's permission is "
                              "the consent)");
    char *err = m->error;
    size_t errn = sizeof m->error;
    json_error_t je;
    json_t *o = st->host->json_parse(st->host, m->to, strlen(m->to), 0, &je);
    wp_sub *sub = malloc(sizeof *sub);
    wp_status s = WP_FAILED;
    if (!sub) {
        snprintf(err, errn, "out of memory");
        s = WP_RETRY;
    } else if (!o) {
        snprintf(err, errn, "to: not a push subscription (JSON)");
    } else if (wp_sub_parse(o, st->s.insecure, sub, err, errn) == 0 &&
               wp_endpoint_allowed(sub->endpoint, st->s.hosts, err, errn) == 0) {
        char home[1024];
        wp_message msg;
        home_of(st, p, home, sizeof home);
        if (wp_message_build(p, home, &msg, err, errn) == 0) {
            wp_abort ab = {job_stop, m->job};
            int64_t now = st->host->now_mono_ms(st->host);
            int64_t deadline = vg_job_deadline_ms(m->job);
            int64_t budget = deadline == INT64_MAX ? INT64_MAX : deadline - now;
            s = wp_send(st->send, sub, &msg, st->host->now_wall_ms(st->host) / 1000, budget, &ab,
                        err, errn, &m->retry_after_ms);
            wp_message_free(&msg);
        } else if (strcmp(err, "out of memory") == 0) {
            s = WP_RETRY;
        }
    }
    free(sub);
    json_decref(o);
    return s;
}

int wp_config_read(const vg_host *host, const vg_config *cfg, wp_settings *s)
{
    memset(s, 0, sizeof *s);
    int bad = 0;
    bad |= host->config_require(host, cfg, "vapid_subject", &s->subject) < 0;
    bad |= host->config_string(host, cfg, "vapid_key_file", "", &s->key_file) < 0;
    bad |= host->config_string(host, cfg, "portal_url", "", &s->home) < 0;
    bad |= host->config_string(host, cfg, "ca_file", "", &s->ca_file) < 0;
    /* RFC 8030 leaves the upper bound to the push service; four weeks is what they keep. */
    bad |= host->config_duration(host, cfg, "ttl", 86400000, 0, 28LL * 86400000, &s->ttl) < 0;
    bad |= host->config_duration(host, cfg, "connect_timeout", 10000, 100, 300000,
                                 &s->connect_timeout) < 0;
    bad |= host->config_duration(host, cfg, "timeout", 30000, 100, 600000, &s->timeout) < 0;
    bad |= host->config_int(host, cfg, "threads", 2, 1, 32, &s->threads) < 0;
    bad |= host->config_int(host, cfg, "queue", 1000, 1, 100000, &s->queue) < 0;
    bad |= host->config_int(host, cfg, "requests_per_ip", 30, 1, 100000, &s->requests_per_ip) < 0;
    bad |= host->config_bool(host, cfg, "allow_insecure_push_endpoints", false, &s->insecure) < 0;
    /* The browsers' push services (Chrome, Edge, Firefox, Safari and their
     * derivatives): a subscription elsewhere is refused, so a client cannot
     * make the server POST to hosts of its choosing. */
    bad |= host->config_list(host, cfg, "push_hosts",
                             "fcm.googleapis.com, *.push.services.mozilla.com, "
                             "*.notify.windows.com, *.push.apple.com",
                             &s->hosts) < 0;
    if (bad)
        return -EINVAL;
    char why[160];
    if (wp_subject_ok(s->subject, why, sizeof why) < 0)
        return host->config_fail(host, cfg, "vapid_subject", "%s", why);
    if (*s->home && strncmp(s->home, "https://", 8) != 0 && strncmp(s->home, "http://", 7) != 0)
        return host->config_fail(host, cfg, "portal_url", "an http(s) URL");
    size_t i;
    const json_t *v;
    json_array_foreach (s->hosts, i, v) {
        const char *h = json_string_value(v);
        for (const char *p = h; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' ||
                  (*p == '*' && (p == h && (p[1] == '.' || !p[1])))))
                return host->config_fail(host, cfg, "push_hosts",
                                         "lower-case host names, '*.' before a domain, or *");
    }
    if (*s->ca_file && access(s->ca_file, R_OK) != 0)
        return host->config_fail(host, cfg, "ca_file", "cannot read: %s", strerror(errno));
    if (!json_array_size(s->hosts))
        return host->config_fail(host, cfg, "push_hosts", "at least one host (or *)");
    return 0;
}

void wp_settings_free(wp_settings *s)
{
    json_decref(s->hosts);
    s->hosts = NULL;
}

static int wp_check_config(const vg_host *host, const vg_config *cfg)
{
    wp_settings s;
    int rc = wp_config_read(host, cfg, &s);
    if (rc == 0 && *s.key_file) {
        EVP_PKEY *k = wp_keystore_load(host, cfg, &s);
        rc = k ? 0 : -EINVAL;
        EVP_PKEY_free(k);
    }
    wp_settings_free(&s);
    return rc;
}

static void state_free(wp_state *st)
{
    vg_channel_free(st->ch); /* stops the queue before what it uses goes */
    wp_sender_free(st->send);
    EVP_PKEY_free(st->key);
    wp_settings_free(&st->s);
    free(st);
}

static int wp_init(const vg_host *host, const vg_config *cfg, void **out)
{
    wp_state *st = calloc(1, sizeof *st);
    if (!st)
        return host->fail(host, "out of memory");
    st->host = host;
    int rc = wp_config_read(host, cfg, &st->s);
    unsigned char pub[WP_KEY_LEN];
    if (rc == 0 && !(st->key = wp_keystore_load(host, cfg, &st->s)))
        rc = -EINVAL;
    if (rc == 0 && wp_key_public(st->key, pub) < 0)
        rc = host->fail(host, "the VAPID key has no public point");
    if (rc == 0) {
        base64_encode(pub, WP_KEY_LEN, st->pub64, BASE64_URL);
        if (!(st->send = wp_sender_new(st->key, st->pub64, &st->s)))
            rc = host->fail(host, "out of memory");
    }
    if (rc == 0 && (rc = wp_http_register(host, &st->s, st->pub64)) < 0)
        rc = host->fail(host, "cannot register the /api/push routes (%d)", rc);
    if (rc == 0)
        rc = vg_channel_register_sized(host, VG_WEBPUSH_CHANNEL, wp_deliver, st, st->s.threads,
                                       st->s.queue, &st->ch);
    if (rc != 0) {
        state_free(st);
        return rc;
    }
    VG_INFO(host, "VAPID key %s (%s), subject %s, %lld thread%s", st->pub64,
            *st->s.key_file ? st->s.key_file : "kept in the database", st->s.subject, st->s.threads,
            st->s.threads == 1 ? "" : "s");
    if (st->s.insecure)
        VG_WARN(host, "allow_insecure_push_endpoints: http:// endpoints on loopback accepted "
                      "(tests only)");
    *out = st;
    return 0;
}

static void wp_stop(void *state)
{
    wp_state *st = state;
    /* Jobs still running when the drain ends see vg_job_cancelled() and
     * their transfer is aborted from the progress callback. */
    vg_channel_stop(st->ch);
}

static void wp_destroy(void *state)
{
    state_free(state);
    wp_crypto_cleanup();
}

VG_PLUGIN_DEFINE(webpush, "1.0.0",
                 "Web Push channel: delivery.requested to browsers (RFC 8291/8292)",
                 .check_config = wp_check_config, .init = wp_init, .stop = wp_stop,
                 .destroy = wp_destroy);
