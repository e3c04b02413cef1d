/* rest plugin: GET /metrics in the Prometheus text exposition format 0.0.4.
 * Each family comes from one bus method; a family whose plugin is not loaded
 * is left out entirely. */
#include "rest.h"

#include <stdlib.h>
#include <string.h>
#include <vigia/contract/cluster.h>
#include <vigia/contract/watch.h>

static void family(rest_buf *b, const char *name, const char *type, const char *help)
{
    rest_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void number(rest_buf *b, const json_t *v)
{
    if (json_is_integer(v))
        rest_buf_printf(b, " %lld\n", (long long)json_integer_value(v));
    else if (json_is_real(v))
        rest_buf_printf(b, " %.10g\n", json_real_value(v));
    else if (json_is_true(v))
        rest_buf_append(b, " 1\n", 3);
    else
        rest_buf_append(b, " 0\n", 3);
}

/* name{l1="v1",l2="v2"} value: labels as NULL-terminated name/value pairs. */
static void sample(rest_buf *b, const char *name, const char *const *labels, const json_t *v)
{
    rest_buf_append(b, name, strlen(name));
    if (labels && labels[0]) {
        rest_buf_append(b, "{", 1);
        for (size_t i = 0; labels[i]; i += 2) {
            rest_buf_printf(b, "%s%s=\"", i ? "," : "", labels[i]);
            rest_buf_label_value(b, labels[i + 1]);
            rest_buf_append(b, "\"", 1);
        }
        rest_buf_append(b, "}", 1);
    }
    number(b, v);
}

static void sample_int(rest_buf *b, const char *name, const char *const *labels, long long n)
{
    json_t *v = json_integer(n);
    sample(b, name, labels, v);
    json_decref(v);
}

/* A family of one unlabelled sample. */
static void family_value(rest_buf *b, const char *name, const char *type, const char *help,
                         const json_t *v)
{
    family(b, name, type, help);
    sample(b, name, NULL, v);
}

/* A family with one sample per value of `label`, read from obj[value]; a
 * value the object lacks is written as 0, so every series always exists. */
static void family_by(rest_buf *b, const char *name, const char *type, const char *help,
                      const char *label, const char *const *values, size_t n, const json_t *obj)
{
    family(b, name, type, help);
    for (size_t i = 0; i < n; i++) {
        const char *labels[] = {label, values[i], NULL};
        sample(b, name, labels, json_object_get(obj, values[i]));
    }
}

static long long dataset_total(rest_state *st, const char *portal, const char *status, int *rc)
{
    json_t *params = json_pack("{s:i, s:s, s:s}", "limit", 1, "portal", portal, "status", status);
    json_t *res = params ? rest_call_quiet(st, VG_MONITOR_M_DATASETS_LIST, params, rc) : NULL;
    json_decref(params);
    json_t *t = json_object_get(res, "total");
    long long n = json_is_integer(t) ? (long long)json_integer_value(t) : -1;
    json_decref(res);
    return n;
}

static void monitor_families(rest_state *st, rest_buf *b, const json_t *ms)
{
    const char *const *statuses = VG_MONITOR_DATASET_STATUSES;
    static const char *const results[] = {"up", "down", "restricted", "invalid"};
    json_t *portals = json_object_get(ms, "portals");
    size_t i;
    json_t *p;

    /* Datasets by status per portal, from datasets.list totals (live, not last-sweep). */
    int rc = 0;
    bool header = false;
    json_array_foreach (portals, i, p) {
        const char *name = json_string_value(json_object_get(p, "name"));
        if (!name)
            continue;
        for (size_t s = 0; statuses[s]; s++) {
            long long n = dataset_total(st, name, statuses[s], &rc);
            if (n < 0)
                break;
            if (!header) {
                family(b, "vigia_datasets", "gauge", "Datasets by current status, per portal.");
                header = true;
            }
            const char *labels[] = {"portal", name, "status", statuses[s], NULL};
            sample_int(b, "vigia_datasets", labels, n);
        }
    }

    family(b, "vigia_checks_total", "counter", "Resource checks done, by result.");
    for (size_t r = 0; r < 4; r++) {
        long long sum = 0;
        json_array_foreach (portals, i, p) {
            json_t *v = json_object_get(json_object_get(p, "checks_total"), results[r]);
            if (json_is_integer(v))
                sum += (long long)json_integer_value(v);
        }
        const char *labels[] = {"result", results[r], NULL};
        sample_int(b, "vigia_checks_total", labels, sum);
    }

    family(b, "vigia_sweep_duration_seconds", "gauge",
           "Duration of the last finished sweep, per portal.");
    json_array_foreach (portals, i, p) {
        const char *name = json_string_value(json_object_get(p, "name"));
        json_t *d = json_object_get(json_object_get(p, "last_sweep"), "duration_ms");
        if (!name || !json_is_number(d))
            continue;
        json_t *secs = json_real(json_number_value(d) / 1000.0);
        const char *labels[] = {"portal", name, NULL};
        sample(b, "vigia_sweep_duration_seconds", labels, secs);
        json_decref(secs);
    }
}

static void notification_families(rest_state *st, rest_buf *b, const json_t *ns)
{
    json_t *by_type = json_object_get(ns, "by_type");
    uint64_t created[4];
    pthread_mutex_lock(&st->mu);
    memcpy(created, st->created_by_type, sizeof created);
    pthread_mutex_unlock(&st->mu);
    family(b, "vigia_notifications_created_total", "counter",
           "Notifications created since this server started, by type.");
    for (size_t t = 0; t < 4; t++) {
        const char *labels[] = {"type", VG_NOTIFICATIONS_TYPES[t], NULL};
        sample_int(b, "vigia_notifications_created_total", labels, (long long)created[t]);
    }
    if (json_is_object(by_type))
        family_by(b, "vigia_notifications_stored", "gauge",
                  "Notifications currently stored (not cleared), by type.", "type",
                  VG_NOTIFICATIONS_TYPES, 4, by_type);
    if (json_is_number(json_object_get(ns, "unread")))
        family_value(b, "vigia_notifications_unread", "gauge", "Unread notifications.",
                     json_object_get(ns, "unread"));
}

static void broker_families(rest_state *st, rest_buf *b, const json_t *bs)
{
    (void)st;
    static const char *const transports[] = {"websocket", "polling"};
    family_by(b, "vigia_websocket_clients", "gauge", "Connected Socket.IO clients, by transport.",
              "transport", transports, 2, json_object_get(bs, "clients"));
}

static void bus_families(rest_state *st, rest_buf *b, const json_t *s)
{
    (void)st;
    family_value(b, "vigia_bus_queue_depth", "gauge", "Events waiting in the bus queue.",
                 json_object_get(s, "queue_depth"));
    family_value(b, "vigia_bus_publish_failures_total", "counter",
                 "Events the bus could not queue (queue full or stopped).",
                 json_object_get(s, "failed"));
    family_value(b, "vigia_bus_events_published_total", "counter", "Events published on the bus.",
                 json_object_get(s, "published"));
}

/* Standard Prometheus process names where they exist; malloc's split is Vigía's own. */
static void process_families(rest_state *st, rest_buf *b, const json_t *s)
{
    (void)st;
    static const struct {
        const char *key, *name, *help;
    } rows[] = {
        {"rss_bytes", "process_resident_memory_bytes", "Resident memory size in bytes."},
        {"open_fds", "process_open_fds", "Number of open file descriptors."},
        {"threads", "vigia_process_threads", "Threads in the server process."},
        {"malloc_in_use_bytes", "vigia_malloc_in_use_bytes",
         "Heap bytes allocated and not yet freed (glibc mallinfo2)."},
        {"malloc_free_bytes", "vigia_malloc_free_bytes",
         "Freed heap bytes malloc keeps for reuse instead of returning them."},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const json_t *v = json_object_get(s, rows[i].key);
        if (json_is_integer(v) && json_integer_value(v) >= 0)
            family_value(b, rows[i].name, "gauge", rows[i].help, v);
    }
}

static void http_families(rest_state *st, rest_buf *b, const json_t *s)
{
    (void)st;
    family(b, "vigia_http_requests_total", "counter",
           "HTTP requests answered, by route pattern, method and status.");
    size_t i;
    json_t *r;
    json_array_foreach (json_object_get(s, "requests"), i, r) {
        const char *route = json_string_value(json_object_get(r, "route"));
        const char *method = json_string_value(json_object_get(r, "method"));
        json_t *status = json_object_get(r, "status");
        char code[24];
        if (json_is_integer(status))
            snprintf(code, sizeof code, "%lld", (long long)json_integer_value(status));
        else
            snprintf(code, sizeof code, "%s",
                     json_string_value(status) ? json_string_value(status) : "");
        const char *labels[] = {
            "route", route ? route : "", "method", method ? method : "", "status", code, NULL};
        sample(b, "vigia_http_requests_total", labels, json_object_get(r, "count"));
    }
}

/* The watch plugin's outbox and its channels' answers (watch.status). */
static void watch_families(rest_state *st, rest_buf *b, const json_t *ws)
{
    (void)st;
    static const char *const states[] = {"pending", "leased", "dead"};
    family_by(b, "vigia_watch_outbox", "gauge", "Outbox rows by state (dead: dead letters kept).",
              "state", states, 3, json_object_get(ws, "outbox"));
    family_value(b, "vigia_watch_outbox_oldest_pending_seconds", "gauge",
                 "Age of the oldest pending outbox row (0 when none).",
                 json_object_get(ws, "oldest_pending_s"));
    static const char *const results[] = {"sent", "retry", "failed"};
    family(b, "vigia_watch_deliveries_total", "counter",
           "Channel answers since this server started, by channel and result.");
    size_t i;
    json_t *d;
    json_array_foreach (json_object_get(ws, "deliveries"), i, d) {
        const char *ch = json_string_value(json_object_get(d, "channel"));
        for (size_t r = 0; r < 3; r++) {
            const char *labels[] = {"channel", ch ? ch : "", "result", results[r], NULL};
            sample(b, "vigia_watch_deliveries_total", labels, json_object_get(d, results[r]));
        }
    }
}

/* The cluster plugin's link to Redis and what crossed it (cluster.status). */
static void cluster_families(rest_state *st, rest_buf *b, const json_t *cs)
{
    (void)st;
    family(b, "vigia_cluster_connected", "gauge", "1 while this node's Redis link is up.");
    sample(b, "vigia_cluster_connected", NULL, json_object_get(cs, "connected"));
    family(b, "vigia_cluster_events_total", "counter",
           "Events across nodes: forwarded, received, lost (not forwarded: Redis down or queue "
           "full), missed (gaps in another node's sequence).");
    static const char *const ev[] = {"forwarded", "received", "lost", "missed"};
    for (size_t i = 0; i < 4; i++) {
        char key[32];
        snprintf(key, sizeof key, "events_%s", ev[i]);
        const char *labels[] = {"result", ev[i], NULL};
        sample(b, "vigia_cluster_events_total", labels, json_object_get(cs, key));
    }
    family(b, "vigia_cluster_calls_total", "counter",
           "Method calls across nodes: forwarded from here, served here, failed (no reply).");
    static const char *const calls[] = {"forwarded", "served", "failed"};
    for (size_t i = 0; i < 3; i++) {
        char key[32];
        snprintf(key, sizeof key, "calls_%s", calls[i]);
        const char *labels[] = {"result", calls[i], NULL};
        sample(b, "vigia_cluster_calls_total", labels, json_object_get(cs, key));
    }
    family(b, "vigia_cluster_reconnects_total", "counter", "Times the Redis link came back up.");
    sample(b, "vigia_cluster_reconnects_total", NULL, json_object_get(cs, "reconnects"));
}

char *rest_metrics_render(rest_state *st, size_t *len)
{
    rest_buf b = {0};
    family(&b, "vigia_up", "gauge", "1 while the server answers.");
    rest_buf_append(&b, "vigia_up 1\n", 11);
    family(&b, "vigia_build_info", "gauge", "Server version, as a label.");
    const char *labels[] = {"version", st->host->server_version(st->host), NULL};
    sample_int(&b, "vigia_build_info", labels, 1);
    /* Each plugin's families from its status method, in this order; one whose
     * plugin is not loaded (no answer) is left out. */
    static const struct {
        const char *method;
        void (*write)(rest_state *st, rest_buf *b, const json_t *res);
    } sources[] = {
        {VG_MONITOR_M_STATUS, monitor_families}, {VG_NOTIFICATIONS_M_STATS, notification_families},
        {VG_BROKER_M_STATUS, broker_families},   {VG_CORE_M_BUS_STATS, bus_families},
        {VG_CORE_M_HTTP_STATS, http_families},   {VG_WATCH_M_STATUS, watch_families},
        {VG_CLUSTER_M_STATUS, cluster_families}, {VG_CORE_M_PROCESS_STATS, process_families}};
    for (size_t i = 0; i < sizeof sources / sizeof sources[0]; i++) {
        json_t *res = rest_call_quiet(st, sources[i].method, NULL, NULL);
        if (res)
            sources[i].write(st, &b, res);
        json_decref(res);
    }
    if (b.oom) {
        rest_buf_free(&b);
        return NULL;
    }
    *len = b.len;
    return b.data;
}
