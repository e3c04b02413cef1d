/* watch plugin: configuration, lifecycle and wiring (bus, work queue,
 * routes, the ticker thread). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vigia/contract/delivery.h>

#include "watch_maintainer.h"
#include "watch_plugin.h"
#include "watch_topics.h"

typedef struct watch_cfg {
    const char *public_url, *lang_s, *tz;
    long long max_items, max_attempts, feed_max, lease_batch, lim_addr, lim_ip, lim_global,
        lim_requests;
    vg_duration_ms window, lease, backoff_min, backoff_max, tick, confirm_ttl, manage_ttl,
        retention, outbox_retention;
    bool test_clock;
    int lang;
} watch_cfg;

#define MIN_ 60000LL
#define HOUR_ 3600000LL
#define DAY_ 86400000LL

/* The one place the [watch] section is read: check_config and init. */
static int read_config(const vg_host *h, const vg_config *c, watch_cfg *o)
{
    static const char *const langs[] = {"es", "en", NULL};
    int rc;
    if (!VG_HOST_HAS(h, tz_info))
        return h->fail(h, "this core is too old for the watch plugin (needs ABI 1.3: tz_info)");
    if ((rc = h->config_string(h, c, "public_url", "", &o->public_url)) < 0 ||
        (rc = h->config_enum(h, c, "language", "es", langs, &o->lang)) < 0 ||
        (rc = h->config_string(h, c, "time_zone", "America/Santiago", &o->tz)) < 0 ||
        (rc = h->config_duration(h, c, "group_window", 10000, 0, HOUR_, &o->window)) < 0 ||
        (rc = h->config_int(h, c, "max_items", 20, 1, 1000, &o->max_items)) < 0 ||
        (rc = h->config_int(h, c, "max_attempts", 8, 1, 100, &o->max_attempts)) < 0 ||
        (rc = h->config_duration(h, c, "lease", 2 * MIN_, 100, DAY_, &o->lease)) < 0 ||
        (rc = h->config_duration(h, c, "backoff_min", 30000, 10, DAY_, &o->backoff_min)) < 0 ||
        (rc = h->config_duration(h, c, "backoff_max", 6 * HOUR_, 10, 7 * DAY_, &o->backoff_max)) <
            0 ||
        (rc = h->config_duration(h, c, "tick", 1000, 20, MIN_, &o->tick)) < 0 ||
        (rc = h->config_int(h, c, "lease_batch", 200, 1, 100000, &o->lease_batch)) < 0 ||
        (rc = h->config_duration(h, c, "confirm_ttl", 48 * HOUR_, MIN_, 30 * DAY_,
                                 &o->confirm_ttl)) < 0 ||
        (rc = h->config_duration(h, c, "manage_ttl", 90 * DAY_, HOUR_, 3650 * DAY_,
                                 &o->manage_ttl)) < 0 ||
        (rc = h->config_duration(h, c, "feed_retention", 30 * DAY_, HOUR_, 3650 * DAY_,
                                 &o->retention)) < 0 ||
        (rc = h->config_int(h, c, "feed_max", 10000, 100, 10000000, &o->feed_max)) < 0 ||
        (rc = h->config_duration(h, c, "outbox_retention", 7 * DAY_, MIN_, 3650 * DAY_,
                                 &o->outbox_retention)) < 0 ||
        (rc = h->config_int(h, c, "confirm_per_address", 3, 0, 1000000, &o->lim_addr)) < 0 ||
        (rc = h->config_int(h, c, "confirm_per_ip", 10, 0, 1000000, &o->lim_ip)) < 0 ||
        (rc = h->config_int(h, c, "confirm_global", 500, 0, 100000000, &o->lim_global)) < 0 ||
        (rc = h->config_int(h, c, "requests_per_ip", 60, 0, 1000000, &o->lim_requests)) < 0 ||
        (rc = h->config_bool(h, c, "test_clock", false, &o->test_clock)) < 0)
        return rc;
    o->lang_s = langs[o->lang];
    if (h->tz_info(h, o->tz, 0, &(vg_tz_info){0}) != 0)
        return h->config_fail(h, c, "time_zone", "expected an IANA time zone name");
    if (o->public_url[0] && strncmp(o->public_url, "http://", 7) != 0 &&
        strncmp(o->public_url, "https://", 8) != 0)
        return h->config_fail(h, c, "public_url", "expected an http:// or https:// URL");
    if (o->backoff_max < o->backoff_min)
        return h->config_fail(h, c, "backoff_max", "must be at least backoff_min");
    return 0;
}

static int watch_check_config(const vg_host *host, const vg_config *cfg)
{
    watch_cfg c;
    int rc = read_config(host, cfg, &c);
    int mrc = watch_maint_config(host, cfg, NULL);
    return rc ? rc : mrc;
}

static void *ticker_main(void *arg)
{
    watch_plugin *w = arg;
    pthread_mutex_lock(&w->tmu);
    while (!w->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (w->tick_ms % 1000) * 1000000LL;
        ts.tv_sec += (time_t)(w->tick_ms / 1000 + ns / 1000000000LL);
        ts.tv_nsec = (long)(ns % 1000000000LL);
        pthread_cond_timedwait(&w->tcv, &w->tmu, &ts);
        if (w->stopping)
            break;
        pthread_mutex_unlock(&w->tmu);
        watch_kick(w);
        watch_maint_kick(w);
        pthread_mutex_lock(&w->tmu);
    }
    pthread_mutex_unlock(&w->tmu);
    return NULL;
}

static void watch_destroy(void *state)
{
    watch_plugin *w = state;
    if (!w)
        return;
    watch_db_close(&w->db);
    json_decref(w->inbox);
    watch_limits_free(w->limits);
    watch_maint_free(w->maint);
    pthread_mutex_destroy(&w->inmu);
    pthread_mutex_destroy(&w->tmu);
    pthread_cond_destroy(&w->tcv);
    free(w);
}

/* The settings as the plugin keeps them (public_url without its trailing
 * slashes, and its host part for List-Id and tag: URIs). */
static void apply_config(watch_plugin *w, const watch_cfg *cp)
{
    const watch_cfg c = *cp;
    const vg_host *host = w->host;
    if (c.public_url[0])
        snprintf(w->public_url, sizeof w->public_url, "%s", c.public_url);
    else
        snprintf(w->public_url, sizeof w->public_url, "http://%s", host->listen_address(host));
    size_t n = strlen(w->public_url);
    while (n > 0 && w->public_url[n - 1] == '/')
        w->public_url[--n] = '\0';
    /* the host part of public_url names the List-Id and the tag: URIs */
    const char *hs = strstr(w->public_url, "://") + 3;
    size_t hl = strcspn(hs, ":/");
    snprintf(w->list_host, sizeof w->list_host, "%.*s", (int)hl, hs);
    w->default_lang = c.lang_s;
    w->default_tz = c.tz;
    w->mo.window_ms = c.window;
    w->mo.host = host;
    w->oo = (watch_outbox_opts){.max_items = (int)c.max_items,
                                .max_attempts = (int)c.max_attempts,
                                .lease_ms = c.lease,
                                .backoff_min_ms = c.backoff_min,
                                .backoff_max_ms = c.backoff_max};
    w->confirm_ttl_ms = c.confirm_ttl;
    w->manage_ttl_ms = c.manage_ttl;
    w->tick_ms = c.tick;
    w->retention_ms = c.retention;
    w->outbox_retention_ms = c.outbox_retention;
    w->feed_max = c.feed_max;
    w->lease_batch = c.lease_batch;
    w->lim_addr = c.lim_addr;
    w->lim_ip = c.lim_ip;
    w->lim_global = c.lim_global;
    w->lim_requests = c.lim_requests;
    w->test_clock = c.test_clock;
}

/* The queue (one worker: every write of the plugin is serialised on it), the
 * subscriptions, routes and methods. 0 or a negative errno. */
static int start_work(watch_plugin *w)
{
    const vg_host *host = w->host;
    vg_workq_opts o = VG_WORKQ_OPTS_INIT;
    o.threads = 1;
    o.capacity = 10000;
    o.submit_wait_ms = 0;
    o.max_attempts = 1000;
    o.backoff_min_ms = 200;
    o.backoff_max_ms = 10000;
    o.drain_ms = 1000;
    const char *topics[] = {WATCH_T_STATUS,  WATCH_T_ADDED,     WATCH_T_REMOVED,   WATCH_T_MODIFIED,
                            WATCH_T_PORTAL,  WATCH_T_FRESHNESS, WATCH_T_RECREATED, WATCH_T_FORMAT,
                            WATCH_T_CONTENT, WATCH_T_SCHEMA};
    int rc = host->workq_create(host, "watch", &o, &w->q);
    for (size_t i = 0; i < sizeof topics / sizeof *topics && rc >= 0; i++)
        rc = vg_bus_subscribe(host->bus, topics[i], watch_on_event, w, NULL, NULL);
    if (rc >= 0)
        rc = vg_bus_subscribe(host->bus, VG_DELIVERY_RESULT, watch_on_result, w, NULL, NULL);
    if (rc >= 0)
        rc = watch_http_register(w);
    if (rc >= 0)
        rc = watch_feeds_register(w);
    if (rc >= 0)
        rc = watch_status_register(w);
    if (rc >= 0)
        rc = watch_channels_register(w);
    if (rc >= 0)
        rc = watch_maint_init(w);
    return rc;
}

static int watch_init(const vg_host *host, const vg_config *cfg, void **state)
{
    watch_cfg c;
    int rc = read_config(host, cfg, &c);
    watch_maint *maint = NULL;
    int mrc = watch_maint_config(host, cfg, &maint);
    if (rc || mrc)
        return rc ? rc : mrc;
    watch_plugin *w = calloc(1, sizeof *w);
    if (!w) {
        watch_maint_free(maint);
        return -ENOMEM;
    }
    w->maint = maint;
    w->host = host;
    pthread_mutex_init(&w->inmu, NULL);
    pthread_mutex_init(&w->tmu, NULL);
    pthread_cond_init(&w->tcv, NULL);
    w->inbox = json_array();
    w->limits = watch_limits_new();
    apply_config(w, &c);
    char err[512];
    if (!w->inbox || !w->limits) {
        watch_destroy(w);
        return -ENOMEM;
    }
    if (watch_db_open(&w->db, host->database_path(host), err, sizeof err)) {
        watch_destroy(w);
        return host->fail(host, "database %s", err);
    }
    rc = start_work(w);
    if (rc < 0 && !w->q) { /* workq_create said why */
        watch_destroy(w);
        return rc;
    }
    if (rc < 0) {
        host->workq_stop(w->q);
        watch_destroy(w);
        return host->fail(host, "cannot register its routes and subscriptions (%d)", rc);
    }
    if (w->test_clock)
        VG_WARN(host, "[watch] test_clock = true: loopback clients may set the clock (tests only)");
    *state = w;
    return 0;
}

static int watch_start(void *state)
{
    watch_plugin *w = state;
    if (pthread_create(&w->ticker, NULL, ticker_main, w) != 0)
        return -1;
    w->ticker_running = true;
    watch_kick(w); /* resume what a previous run left in the outbox */
    watch_maint_kick(w);
    return 0;
}

static void watch_stop(void *state)
{
    watch_plugin *w = state;
    if (w->ticker_running) {
        pthread_mutex_lock(&w->tmu);
        w->stopping = true;
        pthread_cond_signal(&w->tcv);
        pthread_mutex_unlock(&w->tmu);
        pthread_join(w->ticker, NULL);
        w->ticker_running = false;
    }
    w->host->workq_stop(w->q);
}

VG_PLUGIN_DEFINE(watch, "1.0.0",
                 "Watchlists: subscriptions without an account, digests, a durable outbox, Atom "
                 "feeds",
                 .check_config = watch_check_config, .init = watch_init, .start = watch_start,
                 .stop = watch_stop, .destroy = watch_destroy);
