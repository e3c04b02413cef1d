/* rest plugin: descriptor, configuration and lifecycle.
 *
 * [rest]
 *   max_body = 65536          largest accepted request body, bytes (413 beyond)
 *   allowed_origins =         CORS origins, e.g. "https://dash.example.org" ("*" = any)
 *   public_mark_read = true   false: marking a notification read needs the admin token
 *   log_requests = false      also log each request here (the core already logs method, path,
 *                           status, duration and peer; never the token)
 *   stats_interval = 1s       shortest gap between two stats.updated events
 *   stats_cache = 250ms       GET /api/stats reuses its answer this long, unless an event
 *                           (notification.*, sweep finished, status change) came in; 0 = off */
#include "rest.h"

#include <stdlib.h>
#include <string.h>

/* Reads every key even after a bad one, so one run reports all the mistakes. */
static int read_config(rest_state *st, const vg_config *cfg)
{
    const vg_host *h = st->host;
    long long max_body = 65536;
    bool public_mark_read = true, log_requests = false;
    vg_duration_ms interval = 1000, cache = 250;
    int bad = 0;
    bad |= h->config_int(h, cfg, "max_body", 65536, 64, 64LL * 1024 * 1024, &max_body) < 0;
    bad |= h->config_list(h, cfg, "allowed_origins", NULL, &st->allowed_origins) < 0;
    bad |= h->config_bool(h, cfg, "public_mark_read", true, &public_mark_read) < 0;
    bad |= h->config_bool(h, cfg, "log_requests", false, &log_requests) < 0;
    bad |= h->config_duration(h, cfg, "stats_interval", 1000, 100, 3600 * 1000, &interval) < 0;
    bad |= h->config_duration(h, cfg, "stats_cache", 250, 0, 60 * 1000, &cache) < 0;
    st->max_body = (size_t)max_body;
    st->public_mark_read = public_mark_read;
    st->log_requests = log_requests;
    st->stats_interval_ms = interval;
    st->stats_cache_ms = cache;
    return bad ? -EINVAL : 0;
}

static int rest_check_config(const vg_host *host, const vg_config *cfg)
{
    rest_state tmp = {.host = host};
    int rc = read_config(&tmp, cfg);
    json_decref(tmp.allowed_origins);
    return rc;
}

static void rest_destroy(void *state);

static int rest_init(const vg_host *host, const vg_config *cfg, void **state)
{
    rest_state *st = calloc(1, sizeof *st);
    if (!st)
        return host->fail(host, "out of memory");
    st->host = host;
    *state = st;
    int rc = read_config(st, cfg);
    if (rc < 0)
        goto fail;
    if ((rc = rest_stats_init(st)) < 0)
        goto fail;
    if ((rc = rest_routes_register(st)) < 0)
        goto fail;
    return 0;
fail:
    rest_destroy(st);
    *state = NULL;
    return rc;
}

static int rest_start(void *state)
{
    rest_state *st = state;
    /* The no-token warning is the core's (one place, one rule). */
    return rest_stats_start(st);
}

static void rest_stop(void *state) { rest_stats_stop(state); }

static void rest_destroy(void *state)
{
    rest_state *st = state;
    if (!st)
        return;
    rest_stats_stop(st);
    if (st->sync_ready) {
        pthread_mutex_destroy(&st->mu);
        pthread_cond_destroy(&st->cv);
    }
    json_decref(st->last_published);
    json_decref(st->stats_cache);
    json_decref(st->allowed_origins);
    free(st);
}

VG_PLUGIN_DEFINE(rest, "1.0.0",
                 "REST API and Prometheus metrics over the other plugins' bus methods",
                 .check_config = rest_check_config, .init = rest_init, .start = rest_start,
                 .stop = rest_stop, .destroy = rest_destroy);
