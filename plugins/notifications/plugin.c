/* The notifications plugin: wires the store (store.c) and the event rules
 * (rules.c) to the host: configuration, bus methods, bus subscriptions and a
 * background thread for retention and held-back (flapping) notices. */
#include <vigia/contract/core.h>
#include <vigia/contract/monitor.h>
#include <vigia/contract/notifications.h>
#include <vigia/vigia.h>

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rules.h"
#include "store.h"
#include "texts.h"

#define TICK_MS 1000
#define PRUNE_EVERY_MS (10LL * 60 * 1000)
#define MAX_Q_BYTES 200

typedef struct nt_config {
    long long limit;
    long long history_days; /* 0: no age limit */
    long long history_max;  /* 0: no count limit */
    int language;
    long long digest_threshold;
    vg_duration_ms min_repeat;
    bool notify_modified;
    long long max_data_bytes;
    bool clear_deletes_history;
} nt_config;

typedef struct nt_plugin {
    const vg_host *host;
    nt_config cfg;
    nt_store *store;
    nt_rules *rules;
    vg_subscription *subs[5];
    bool methods_registered;
    pthread_t thread;
    bool thread_running;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    bool warned_version; /* an event of an unknown "v" was logged once */
} nt_plugin;

static const char *const languages[] = {"es", "en", NULL};

/* The one place the [notifications] section is read: check_config and init.
 * Every key is read even after a bad one, so one run reports all mistakes. */
static int read_config(const vg_host *host, const vg_config *cfg, nt_config *c)
{
    int bad = 0;
    bool limit_ok = host->config_int(host, cfg, "limit", 100, 1, 100000, &c->limit) == 0;
    bad |= !limit_ok;
    bad |= host->config_int(host, cfg, "history_days", 30, 0, 36500, &c->history_days) < 0;
    bool max_ok =
        host->config_int(host, cfg, "history_max", 100000, 0, 1000000000LL, &c->history_max) == 0;
    bad |= !max_ok;
    bad |= host->config_enum(host, cfg, "language", "es", languages, &c->language) < 0;
    bad |=
        host->config_int(host, cfg, "digest_threshold", 10, 0, 1000000, &c->digest_threshold) < 0;
    bad |= host->config_duration(host, cfg, "min_repeat", 10 * 60 * 1000, 0, 7LL * 24 * 3600 * 1000,
                                 &c->min_repeat) < 0;
    bad |= host->config_bool(host, cfg, "notify_modified", false, &c->notify_modified) < 0;
    bad |= host->config_int(host, cfg, "max_data_bytes", 65536, 1024, 16 * 1024 * 1024,
                            &c->max_data_bytes) < 0;
    bad |=
        host->config_bool(host, cfg, "clear_deletes_history", false, &c->clear_deletes_history) < 0;
    /* Cross-field rules need both keys valid. */
    if (limit_ok && max_ok && c->history_max > 0 && c->history_max < c->limit)
        bad |= host->config_fail(host, cfg, "history_max",
                                 "expected 0 (no limit) or at least limit (%lld)", c->limit) < 0;
    return bad ? -EINVAL : 0;
}

/* ---- store and rules glue ----------------------------------------------- */

static int64_t wall_clock(void *ctx)
{
    const vg_host *host = ctx;
    return host->now_wall_ms(host);
}

static int64_t mono_clock(void *ctx)
{
    const vg_host *host = ctx;
    return host->now_mono_ms(host);
}

/* Runs under the store lock, right after the row is durable. */
static void announce(const char *topic, json_t *payload, void *ctx)
{
    nt_plugin *p = ctx;
    if (json_is_object(payload))
        json_object_set_new(payload, VG_EVENT_V, json_integer(VG_NOTIFICATIONS_V));
    int rc = vg_bus_publish_new(p->host->bus, topic, payload);
    if (rc < 0)
        VG_WARN(p->host, "could not publish %s: %s", topic, strerror(-rc));
}

/* The essentials of an automatic notification's data, for when the whole of
 * it is over max_data_bytes (a huge dataset record, say). New reference. */
static json_t *essential_data(const json_t *data)
{
    json_t *out = json_object();
    const char *keys[] = {"kind",    "event",  "portal", "sweep_id", "previous",
                          "current", "reason", "count",  "counts",   "suppressed"};
    for (size_t i = 0; out && i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(data, keys[i]);
        if (v)
            json_object_set(out, keys[i], v);
    }
    const json_t *ds = json_object_get(data, "dataset");
    if (out && json_is_object(ds)) {
        json_t *small = json_object();
        const char *dk[] = {"id", "portal", "name", "organization", "status"};
        for (size_t i = 0; small && i < sizeof dk / sizeof dk[0]; i++) {
            json_t *v = json_object_get(ds, dk[i]);
            if (json_is_string(v) && strlen(json_string_value(v)) <= 200)
                json_object_set(small, dk[i], v);
        }
        json_object_set_new(out, "dataset", small ? small : json_null());
    }
    if (out)
        json_object_set_new(out, "truncated", json_true());
    return out;
}

/* Writes are acknowledged only while the database is the file we opened:
 * deleted, replaced or made immutable, SQLite would write into a file nobody
 * reads again (or fault). Asked before a write and after a failed one. */
static bool storage_broken(nt_plugin *p, char *why, size_t n)
{
    const vg_host *h = p->host;
    if (h->struct_size < offsetof(vg_host, storage_ok) + sizeof h->storage_ok || !h->storage_ok)
        return false;
    return !h->storage_ok(h, why, n);
}

static int storage_refused(nt_plugin *p, json_t **result)
{
    char why[320];
    if (!storage_broken(p, why, sizeof why))
        return 0;
    return vg_method_fail(result, -EROFS, "STORAGE_UNAVAILABLE", "nothing was written: %s", why);
}

/* A notification decided by the rules. Never lost to an oversize `data`:
 * it is retried with the essentials, then without data. */
static void emit(const char *type, const char *title, const char *message, json_t *data, void *ctx)
{
    nt_plugin *p = ctx;
    nt_error err;
    char why[320];
    if (storage_broken(p, why, sizeof why)) {
        VG_WARN(p->host, "automatic notification '%s' not stored: %s", title, why);
        json_decref(data);
        return;
    }
    int rc = nt_store_create(p->store, type, title, message, data, NULL, NULL, &err);
    if (rc == -E2BIG) {
        json_t *small = essential_data(data);
        rc = nt_store_create(p->store, type, title, message, small, NULL, NULL, &err);
        json_decref(small);
        if (rc == -E2BIG)
            rc = nt_store_create(p->store, type, title, message, NULL, NULL, NULL, &err);
    }
    if (rc < 0)
        VG_WARN(p->host, "automatic notification '%s' refused: %s", title, err.message);
    json_decref(data);
}

/* Events come from the bus thread only. A payload of a major version this
 * plugin does not know is ignored, with one warning for the lot. No "v" at
 * all is a publisher from before the contract (or a test's hand-made event):
 * read as version 1. */
static void on_event(const char *topic, const json_t *payload, void *user)
{
    nt_plugin *p = user;
    bool core = strncmp(topic, VG_CORE_EV_SYSTEM_PREFIX, strlen(VG_CORE_EV_SYSTEM_PREFIX)) == 0;
    int v = vg_event_version(payload), known = core ? VG_CORE_V : VG_MONITOR_V;
    if (v != 0 && v != known) {
        if (!p->warned_version)
            VG_WARN(p->host, "ignoring %s with payload version v=%d (known: %d); later ones too",
                    topic, v, known);
        p->warned_version = true;
        return;
    }
    nt_rules_handle(p->rules, topic, payload);
}

/* ---- parameters --------------------------------------------------------- */

static int fail(json_t **result, const nt_error *err, int rc)
{
    return vg_method_fail(result, rc, err->code, "%s", err->message);
}

/* An id given as "42" or 42; 0 when absent. -1 when invalid. */
static int64_t param_id(const json_t *params, const char *key)
{
    const json_t *v = json_object_get(params, key);
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v))
        return json_integer_value(v) > 0 ? json_integer_value(v) : -1;
    if (json_is_string(v))
        return nt_parse_id(json_string_value(v));
    return -1;
}

static int param_string(const json_t *params, const char *key, const char **out, json_t **result)
{
    const json_t *v = json_object_get(params, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT", "%s: must be a string", key);
    *out = json_string_value(v);
    return 0;
}

/* ---- methods ------------------------------------------------------------ */

static int m_create(const json_t *params, json_t **result, void *user)
{
    nt_plugin *p = user;
    if (!json_is_object(params))
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "params: must be an object {type, title, message, data}");
    const char *type, *title, *message;
    int rc;
    if ((rc = param_string(params, "type", &type, result)) < 0 ||
        (rc = param_string(params, "title", &title, result)) < 0 ||
        (rc = param_string(params, "message", &message, result)) < 0)
        return rc;
    nt_error err;
    json_t *n = NULL;
    long long unread = 0;
    if ((rc = storage_refused(p, result)) < 0)
        return rc;
    rc = nt_store_create(p->store, type, title, message, json_object_get(params, "data"), &n,
                         &unread, &err);
    if (rc < 0 && (storage_refused(p, result)) < 0)
        return -EROFS;
    if (rc < 0)
        return fail(result, &err, rc);
    *result = json_pack("{s:o, s:I}", "notification", n, "unread_count", (json_int_t)unread);
    return *result ? 0 : -ENOMEM;
}

static int parse_bool(const json_t *v, bool *out)
{
    if (!v || json_is_null(v))
        return 0;
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    const char *s = json_string_value(v);
    if (s && (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "yes"))) {
        *out = true;
        return 0;
    }
    if (s && (!strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "no") || !*s)) {
        *out = false;
        return 0;
    }
    if (json_is_integer(v)) {
        *out = json_integer_value(v) != 0;
        return 0;
    }
    return -1;
}

static int m_list(const json_t *params, json_t **result, void *user)
{
    nt_plugin *p = user;
    nt_query q = {.type = -1};
    if (params && !json_is_null(params) && !json_is_object(params))
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT", "params: must be an object");
    const json_t *v = json_object_get(params, "limit");
    if (v && !json_is_null(v)) {
        long long lim = -1;
        if (json_is_integer(v))
            lim = json_integer_value(v);
        else if (json_is_string(v))
            lim = nt_parse_id(json_string_value(v));
        if (lim < 1 || lim > NT_LIST_MAX)
            return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                                  "limit: must be an integer between 1 and %d", NT_LIST_MAX);
        q.limit = (int)lim;
    }
    if (parse_bool(json_object_get(params, "unread"), &q.unread_only) < 0)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT", "unread: must be a boolean");
    const char *type = NULL;
    int rc;
    if ((rc = param_string(params, "type", &type, result)) < 0)
        return rc;
    if (type && *type && (q.type = nt_type_parse(type)) < 0)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "type: must be one of info, warning, error, success");
    q.since = param_id(params, "since");
    q.before = param_id(params, "before");
    if (q.since < 0 || q.before < 0)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT", "%s: must be a notification id",
                              q.since < 0 ? "since" : "before");
    if ((rc = param_string(params, "q", &q.q, result)) < 0)
        return rc;
    if (q.q && strlen(q.q) > MAX_Q_BYTES)
        return vg_method_fail(result, -E2BIG, "TOO_LARGE",
                              "q: %zu bytes exceeds the limit of %d bytes", strlen(q.q),
                              MAX_Q_BYTES);
    nt_error err;
    rc = nt_store_list(p->store, &q, result, &err);
    return rc < 0 ? fail(result, &err, rc) : 0;
}

static int m_get(const json_t *params, json_t **result, void *user)
{
    nt_plugin *p = user;
    int64_t id = param_id(params, "id");
    if (id <= 0)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "id: required, a notification id such as \"42\"");
    nt_error err;
    int rc = nt_store_get(p->store, id, result, &err);
    return rc < 0 ? fail(result, &err, rc) : 0;
}

static int m_mark_read(const json_t *params, json_t **result, void *user)
{
    nt_plugin *p = user;
    int64_t id = param_id(params, "id");
    if (id <= 0)
        id = param_id(params, "notification_id"); /* the WebSocket event's name */
    if (id <= 0)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "id: required, a notification id such as \"42\"");
    nt_error err;
    long long unread = 0;
    int rc = storage_refused(p, result);
    if (rc < 0)
        return rc;
    rc = nt_store_mark_read(p->store, id, &unread, NULL, &err);
    if (rc < 0 && storage_refused(p, result) < 0)
        return -EROFS;
    if (rc < 0)
        return fail(result, &err, rc);
    char idbuf[24];
    snprintf(idbuf, sizeof idbuf, "%lld", (long long)id);
    *result = json_pack("{s:s, s:I}", "notification_id", idbuf, "unread_count", (json_int_t)unread);
    return *result ? 0 : -ENOMEM;
}

static int m_mark_all_read(const json_t *params, json_t **result, void *user)
{
    (void)params;
    nt_plugin *p = user;
    nt_error err;
    long long marked = 0;
    int rc = storage_refused(p, result);
    if (rc < 0)
        return rc;
    rc = nt_store_mark_all_read(p->store, &marked, &err);
    if (rc < 0 && storage_refused(p, result) < 0)
        return -EROFS;
    if (rc < 0)
        return fail(result, &err, rc);
    *result = json_pack("{s:I, s:I}", "unread_count", (json_int_t)0, "marked", (json_int_t)marked);
    return *result ? 0 : -ENOMEM;
}

static int m_clear(const json_t *params, json_t **result, void *user)
{
    (void)params;
    nt_plugin *p = user;
    nt_error err;
    long long cleared = 0;
    int rc = storage_refused(p, result);
    if (rc < 0)
        return rc;
    rc = nt_store_clear(p->store, &cleared, &err);
    if (rc < 0 && storage_refused(p, result) < 0)
        return -EROFS;
    if (rc < 0)
        return fail(result, &err, rc);
    nt_store_stats s;
    nt_store_stats_get(p->store, &s);
    *result = json_pack("{s:I, s:I}", "unread_count", (json_int_t)s.unread, "cleared",
                        (json_int_t)cleared);
    return *result ? 0 : -ENOMEM;
}

static int m_stats(const json_t *params, json_t **result, void *user)
{
    (void)params;
    nt_plugin *p = user;
    nt_store_stats s;
    nt_rules_stats r;
    nt_store_stats_get(p->store, &s);
    nt_rules_stats_get(p->rules, &r);
    *result = json_pack(
        "{s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I}, s:I, s:I, s:I, s:I, s:I, s:s}", "total",
        (json_int_t)s.total, "unread", (json_int_t)s.unread, "in_memory", (json_int_t)s.in_memory,
        "by_type", VG_NOTIFICATIONS_TYPE_INFO, (json_int_t)s.by_type[NT_INFO],
        VG_NOTIFICATIONS_TYPE_WARNING, (json_int_t)s.by_type[NT_WARNING],
        VG_NOTIFICATIONS_TYPE_ERROR, (json_int_t)s.by_type[NT_ERROR], VG_NOTIFICATIONS_TYPE_SUCCESS,
        (json_int_t)s.by_type[NT_SUCCESS], "created_total", (json_int_t)s.created_total,
        "suppressed", (json_int_t)r.suppressed, "digests", (json_int_t)r.digests, "history",
        (json_int_t)s.history, "buffered", (json_int_t)r.buffered, "language",
        nt_lang_name((nt_lang)p->cfg.language));
    return *result ? 0 : -ENOMEM;
}

static const struct {
    const char *name;
    vg_method_cb cb;
} methods[] = {
    {VG_NOTIFICATIONS_M_CREATE, m_create},
    {VG_NOTIFICATIONS_M_LIST, m_list},
    {VG_NOTIFICATIONS_M_GET, m_get},
    {VG_NOTIFICATIONS_M_MARK_READ, m_mark_read},
    {VG_NOTIFICATIONS_M_MARK_ALL_READ, m_mark_all_read},
    {VG_NOTIFICATIONS_M_CLEAR, m_clear},
    {VG_NOTIFICATIONS_M_STATS, m_stats},
};

/* ---- background: flap notices and retention ---------------------------- */

static void *background(void *arg)
{
    nt_plugin *p = arg;
    int64_t next_prune = 0; /* prune once right after start */
    pthread_mutex_lock(&p->mu);
    while (!p->stopping) {
        pthread_mutex_unlock(&p->mu);
        nt_rules_tick(p->rules);
        int64_t now = p->host->now_mono_ms(p->host);
        if (now >= next_prune) {
            nt_error err;
            long long deleted = 0;
            if (nt_store_prune(p->store, p->cfg.history_days * 86400000LL, p->cfg.history_max,
                               &deleted, &err) < 0)
                VG_WARN(p->host, "retention: %s", err.message);
            else if (deleted > 0)
                VG_INFO(p->host, "retention: removed %lld old notifications", deleted);
            next_prune = now + PRUNE_EVERY_MS;
        }
        pthread_mutex_lock(&p->mu);
        if (p->stopping)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += TICK_MS / 1000;
        pthread_cond_timedwait(&p->cv, &p->mu, &ts);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ---- lifecycle ---------------------------------------------------------- */

static int nt_check_config(const vg_host *host, const vg_config *cfg)
{
    nt_config c;
    return read_config(host, cfg, &c);
}

static void unregister_all(nt_plugin *p)
{
    for (size_t i = 0; i < sizeof p->subs / sizeof p->subs[0]; i++)
        if (p->subs[i]) {
            vg_bus_unsubscribe(p->host->bus, p->subs[i]);
            p->subs[i] = NULL;
        }
    if (p->methods_registered) {
        for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
            vg_bus_unregister_method(p->host->bus, methods[i].name);
        p->methods_registered = false;
    }
}

static void nt_destroy(void *state)
{
    nt_plugin *p = state;
    if (!p)
        return;
    nt_rules_free(p->rules);
    nt_store_close(p->store);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static int nt_init(const vg_host *host, const vg_config *cfg, void **state)
{
    nt_plugin *p = calloc(1, sizeof *p);
    if (!p)
        return host->fail(host, "out of memory");
    p->host = host;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = read_config(host, cfg, &p->cfg);
    if (rc < 0) {
        nt_destroy(p);
        return rc;
    }
    nt_store_options so = {
        .path = host->database_path(host),
        .limit = (int)p->cfg.limit,
        .max_data_bytes = (size_t)p->cfg.max_data_bytes,
        .clear_deletes_history = p->cfg.clear_deletes_history,
        .now_wall_ms = wall_clock,
        .clock_ctx = (void *)host,
        .announce = announce,
        .announce_ctx = p,
    };
    nt_error err;
    if ((rc = nt_store_open(&so, &p->store, &err)) < 0) {
        host->fail(host, "%s", err.message);
        nt_destroy(p);
        return rc;
    }
    nt_rules_options ro = {
        .lang = (nt_lang)p->cfg.language,
        .digest_threshold = p->cfg.digest_threshold,
        .min_repeat_ms = p->cfg.min_repeat,
        .notify_modified = p->cfg.notify_modified,
        .max_title_bytes = NT_DEFAULT_MAX_TITLE,
        .max_message_bytes = NT_DEFAULT_MAX_MESSAGE,
        .max_data_bytes = (size_t)p->cfg.max_data_bytes,
        .now_ms = mono_clock,
        .clock_ctx = (void *)host,
        .emit = emit,
        .emit_ctx = p,
    };
    p->rules = nt_rules_new(&ro);
    if (!p->rules) {
        host->fail(host, "out of memory");
        nt_destroy(p);
        return -ENOMEM;
    }
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        rc = vg_bus_register_method(host->bus, methods[i].name, methods[i].cb, p, NULL);
        if (rc < 0) {
            host->fail(host, "cannot register %s: %s", methods[i].name, strerror(-rc));
            p->methods_registered = true; /* unregister the ones that made it */
            unregister_all(p);
            nt_destroy(p);
            return rc;
        }
    }
    p->methods_registered = true;
    static const char *const topics[] = {
        VG_MONITOR_EV_DATASET_PREFIX, VG_MONITOR_EV_PREFIX, VG_CORE_EV_SYSTEM_STARTED,
        VG_MONITOR_EV_PORTAL_STATUS_CHANGED, VG_MONITOR_EV_PORTAL_WARNING_RAISED};
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++) {
        rc = vg_bus_subscribe(host->bus, topics[i], on_event, p, NULL, &p->subs[i]);
        if (rc < 0) {
            host->fail(host, "cannot subscribe to %s: %s", topics[i], strerror(-rc));
            unregister_all(p);
            nt_destroy(p);
            return rc;
        }
    }
    nt_store_stats s;
    nt_store_stats_get(p->store, &s);
    VG_INFO(host, "%lld notifications (%lld unread, %lld in history), last id %lld, language %s",
            s.total, s.unread, s.history, (long long)s.last_id,
            nt_lang_name((nt_lang)p->cfg.language));
    *state = p;
    return 0;
}

static int nt_start(void *state)
{
    nt_plugin *p = state;
    int rc = pthread_create(&p->thread, NULL, background, p);
    if (rc != 0) {
        VG_ERROR(p->host, "cannot start the background thread: %s", strerror(rc));
        return -rc;
    }
    p->thread_running = true;
    return 0;
}

static void nt_stop(void *state)
{
    nt_plugin *p = state;
    /* Nothing of ours may run once stop returns: subscriptions and methods go
     * first (both wait for callbacks in flight), then the thread. */
    unregister_all(p);
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (p->thread_running) {
        pthread_join(p->thread, NULL);
        p->thread_running = false;
    }
    /* Changes of a sweep cut short by the shutdown are still announced. */
    nt_rules_flush(p->rules);
}

VG_PLUGIN_DEFINE(notifications, "1.0.0",
                 "Typed, persistent notifications with read state, retention and storm control",
                 .check_config = nt_check_config, .init = nt_init, .start = nt_start,
                 .stop = nt_stop, .destroy = nt_destroy);
