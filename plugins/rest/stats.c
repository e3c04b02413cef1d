/* rest plugin: the stats object (GET /api/stats, method stats.get) and the
 * coalescing publisher of stats.updated (at most once per stats_interval). */
#include "rest.h"

#include <string.h>
#include <time.h>

/* Total of datasets.list for one filter, or -1 (with *rc) when it failed. */
static long long count_datasets(rest_state *st, const char *portal, const char *status, int *rc)
{
    json_t *params = json_pack("{s:i}", "limit", 1);
    if (!params)
        return -1;
    if (portal)
        json_object_set_new(params, "portal", json_string(portal));
    if (status)
        json_object_set_new(params, "status", json_string(status));
    json_t *res = rest_call_quiet(st, VG_MONITOR_M_DATASETS_LIST, params, rc);
    json_decref(params);
    json_t *total = json_object_get(res, "total");
    long long n = json_is_integer(total) ? (long long)json_integer_value(total) : -1;
    json_decref(res);
    return n;
}

static void note_missing(json_t *unavailable, const char *plugin)
{
    size_t i;
    json_t *v;
    json_array_foreach (unavailable, i, v) {
        if (!strcmp(json_string_value(v), plugin))
            return;
    }
    json_array_append_new(unavailable, json_string(plugin));
}

/* One count per status (they are exhaustive, so the total is their sum). */
static json_t *datasets_part(rest_state *st, json_t *unavailable)
{
    json_t *by = json_object();
    long long total = 0;
    for (size_t i = 0; by && VG_MONITOR_DATASET_STATUSES[i]; i++) {
        int rc = 0;
        long long n = count_datasets(st, NULL, VG_MONITOR_DATASET_STATUSES[i], &rc);
        if (n < 0) {
            if (rc == -ENOSYS)
                note_missing(unavailable, "monitor");
            json_decref(by);
            return json_null();
        }
        total += n;
        json_object_set_new(by, VG_MONITOR_DATASET_STATUSES[i], json_integer(n));
    }
    json_t *out = by ? json_pack("{s:I, s:o}", "total", (json_int_t)total, "by_status", by) : NULL;
    return out ? out : json_null();
}

static json_t *notifications_part(rest_state *st, json_t *unavailable)
{
    int rc = 0;
    json_t *res = rest_call_quiet(st, VG_NOTIFICATIONS_M_STATS, NULL, &rc);
    if (!res) {
        if (rc == -ENOSYS)
            note_missing(unavailable, "notifications");
        return json_null();
    }
    json_t *out = json_pack("{s:O?, s:O?}", "total", json_object_get(res, "total"), "unread",
                            json_object_get(res, "unread"));
    json_decref(res);
    return out ? out : json_null();
}

static json_t *clients_part(rest_state *st, json_t *unavailable)
{
    int rc = 0;
    json_t *res = rest_call_quiet(st, VG_BROKER_M_STATUS, NULL, &rc);
    if (!res) {
        if (rc == -ENOSYS)
            note_missing(unavailable, "broker");
        return json_null();
    }
    json_t *c = json_object_get(res, "clients");
    json_t *out =
        json_pack("{s:O?, s:O?, s:O?}", "connected", json_object_get(c, "total"), "websocket",
                  json_object_get(c, "websocket"), "polling", json_object_get(c, "polling"));
    json_decref(res);
    return out ? out : json_null();
}

/* The most recently finished sweep over all portals. */
static json_t *last_sweep_part(rest_state *st, json_t *unavailable, json_t **portals_out)
{
    int rc = 0;
    *portals_out = json_null();
    json_t *res = rest_call_quiet(st, VG_MONITOR_M_STATUS, NULL, &rc);
    if (!res) {
        if (rc == -ENOSYS)
            note_missing(unavailable, "monitor");
        return json_null();
    }
    json_t *best = NULL, *best_portal = NULL;
    const char *best_at = NULL;
    json_t *states = json_object();
    size_t i;
    json_t *p;
    json_array_foreach (json_object_get(res, "portals"), i, p) {
        const char *state = json_string_value(json_object_get(p, "state"));
        if (state && states) {
            json_t *n = json_object_get(states, state);
            json_object_set_new(states, state, json_integer(n ? json_integer_value(n) + 1 : 1));
        }
        json_t *ls = json_object_get(p, "last_sweep");
        const char *at = json_string_value(json_object_get(ls, "finished_at"));
        /* ISO-8601 UTC strings of one format order like the times they name. */
        if (at && (!best_at || strcmp(at, best_at) > 0)) {
            best_at = at;
            best = ls;
            best_portal = json_object_get(p, "name");
        }
    }
    json_t *out = json_null();
    if (best) {
        out = json_deep_copy(best);
        if (out && json_is_object(out))
            json_object_set(out, "portal", best_portal ? best_portal : json_null());
        else if (!out)
            out = json_null();
    }
    if (states) {
        json_decref(*portals_out);
        *portals_out = json_pack("{s:I, s:o}", "total",
                                 (json_int_t)json_array_size(json_object_get(res, "portals")),
                                 "by_state", states);
        if (!*portals_out)
            *portals_out = json_null();
    }
    json_decref(res);
    return out;
}

static json_t *bus_part(rest_state *st)
{
    json_t *res = rest_call_quiet(st, VG_CORE_M_BUS_STATS, NULL, NULL);
    if (!res)
        return json_null();
    json_t *out = json_pack(
        "{s:O?, s:O?, s:O?, s:O?, s:O?}", "published", json_object_get(res, "published"),
        "delivered", json_object_get(res, "delivered"), "failed", json_object_get(res, "failed"),
        "queue_depth", json_object_get(res, "queue_depth"), "queue_high_water",
        json_object_get(res, "queue_high_water"));
    json_decref(res);
    return out ? out : json_null();
}

json_t *rest_stats_build(rest_state *st)
{
    json_t *unavailable = json_array();
    if (!unavailable)
        return NULL;
    json_t *portals = NULL;
    json_t *datasets = datasets_part(st, unavailable);
    json_t *notifications = notifications_part(st, unavailable);
    json_t *clients = clients_part(st, unavailable);
    json_t *last_sweep = last_sweep_part(st, unavailable, &portals);
    json_t *bus = bus_part(st);
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "datasets", datasets, "notifications",
                     notifications, "clients", clients, "portals", portals, "last_sweep",
                     last_sweep, "bus", bus, "unavailable", unavailable);
}

void rest_stats_invalidate(rest_state *st)
{
    pthread_mutex_lock(&st->mu);
    st->generation++;
    json_decref(st->stats_cache);
    st->stats_cache = NULL;
    pthread_mutex_unlock(&st->mu);
}

json_t *rest_stats_cached(rest_state *st)
{
    if (st->stats_cache_ms <= 0)
        return rest_stats_build(st);
    int64_t now = st->host->now_mono_ms(st->host);
    pthread_mutex_lock(&st->mu);
    if (st->stats_cache && now - st->stats_cache_at < st->stats_cache_ms) {
        json_t *hit = json_deep_copy(st->stats_cache);
        pthread_mutex_unlock(&st->mu);
        return hit;
    }
    uint64_t gen = st->generation;
    pthread_mutex_unlock(&st->mu);

    json_t *fresh = rest_stats_build(st);
    pthread_mutex_lock(&st->mu);
    /* Keep it only if no event arrived while we were building it. */
    if (fresh && gen == st->generation) {
        json_decref(st->stats_cache);
        st->stats_cache = json_deep_copy(fresh);
        st->stats_cache_at = now;
    }
    pthread_mutex_unlock(&st->mu);
    return fresh;
}

/* ---- stats.get ---- */

static int stats_get(const json_t *params, json_t **result, void *user)
{
    (void)params;
    json_t *s = rest_stats_build(user);
    if (!s)
        return vg_method_fail(result, -ENOMEM, "INTERNAL", "out of memory building stats");
    *result = s;
    return 0;
}

/* ---- stats.updated publisher ---- */

/* The bus gets its own copy, with the payload's version: no json_t is shared
 * between threads. */
static json_t *versioned(const json_t *stats)
{
    json_t *copy = json_deep_copy(stats);
    if (json_is_object(copy))
        json_object_set_new(copy, VG_EVENT_V, json_integer(VG_REST_V));
    return copy;
}

static void on_event(const char *topic, const json_t *payload, void *user)
{
    rest_state *st = user;
    int type = -1;
    if (!strcmp(topic, VG_NOTIFICATIONS_EV_CREATED)) {
        const char *t = json_string_value(json_object_get(
            json_object_get(payload, VG_NOTIFICATIONS_F_NOTIFICATION), VG_NOTIFICATIONS_N_TYPE));
        for (int i = 0; t && i < VG_NOTIFICATIONS_TYPE_COUNT; i++)
            if (!strcmp(t, VG_NOTIFICATIONS_TYPES[i]))
                type = i;
    }
    pthread_mutex_lock(&st->mu);
    if (type >= 0)
        st->created_by_type[type]++;
    st->generation++;
    json_decref(st->stats_cache);
    st->stats_cache = NULL;
    st->dirty = true;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
}

static struct timespec deadline_after(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* Equal apart from the bus counters, which move with every event. */
static int same_stats(const json_t *a, const json_t *b)
{
    if (!a || !b)
        return 0;
    json_t *ca = json_copy((json_t *)a), *cb = json_copy((json_t *)b);
    int same = 0;
    if (ca && cb) {
        json_object_del(ca, "bus");
        json_object_del(cb, "bus");
        same = json_equal(ca, cb);
    }
    json_decref(ca);
    json_decref(cb);
    return same;
}

static void *publisher(void *arg)
{
    rest_state *st = arg;
    int64_t last_pub = -st->stats_interval_ms;
    pthread_mutex_lock(&st->mu);
    while (!st->stopping) {
        if (!st->dirty) {
            pthread_cond_wait(&st->cv, &st->mu);
            continue;
        }
        int64_t wait = last_pub + st->stats_interval_ms - st->host->now_mono_ms(st->host);
        if (wait > 0) {
            /* Coalesce: everything that happens until then becomes one update. */
            struct timespec ts = deadline_after(wait);
            pthread_cond_timedwait(&st->cv, &st->mu, &ts);
            continue;
        }
        st->dirty = false;
        pthread_mutex_unlock(&st->mu);

        json_t *stats = rest_stats_build(st);
        last_pub = st->host->now_mono_ms(st->host);
        if (stats && !same_stats(stats, st->last_published)) {
            /* The bus gets its own copy: no json_t is shared between threads. */
            if (vg_bus_publish_new(st->host->bus, VG_REST_EV_STATS_UPDATED, versioned(stats)) == 0)
                st->published_count++;
            json_decref(st->last_published);
            st->last_published = stats;
        } else {
            json_decref(stats);
        }
        pthread_mutex_lock(&st->mu);
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

int rest_stats_init(rest_state *st)
{
    static const char *const topics[] = {VG_NOTIFICATIONS_EV_PREFIX, VG_MONITOR_EV_SWEEP_FINISHED,
                                         VG_MONITOR_EV_DATASET_STATUS_CHANGED};
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, &ca);
    pthread_condattr_destroy(&ca);
    st->sync_ready = true;

    int rc = vg_bus_register_method(st->host->bus, VG_REST_M_STATS_GET, stats_get, st, NULL);
    if (rc < 0)
        return st->host->fail(st->host, "cannot register method stats.get: %s", strerror(-rc));
    st->method_registered = true;
    for (size_t i = 0; i < sizeof topics / sizeof *topics; i++) {
        rc = vg_bus_subscribe(st->host->bus, topics[i], on_event, st, NULL, &st->subs[i]);
        if (rc < 0)
            return st->host->fail(st->host, "cannot subscribe to %s: %s", topics[i], strerror(-rc));
    }
    return 0;
}

int rest_stats_start(rest_state *st)
{
    st->stopping = false;
    int rc = pthread_create(&st->thread, NULL, publisher, st);
    if (rc)
        return st->host->fail(st->host, "cannot start the stats publisher: %s", strerror(rc));
    st->thread_running = true;
    return 0;
}

void rest_stats_stop(rest_state *st)
{
    for (size_t i = 0; i < 4; i++) {
        if (st->subs[i])
            vg_bus_unsubscribe(st->host->bus, st->subs[i]);
        st->subs[i] = NULL;
    }
    if (st->thread_running) {
        pthread_mutex_lock(&st->mu);
        st->stopping = true;
        pthread_cond_signal(&st->cv);
        pthread_mutex_unlock(&st->mu);
        pthread_join(st->thread, NULL);
        st->thread_running = false;
    }
}
