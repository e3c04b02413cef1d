/* reststub: a test-only plugin that provides deterministic stand-ins for the
 * methods the rest plugin calls (notifications.*, datasets.*, monitor.*,
 * broker.status), with fixture data, so the REST tests do not depend on the
 * real plugins. It also counts the stats.updated events it receives and shows
 * the count at GET /test/stub/stats-updated.
 *
 * [reststub]
 *   notifications = 5     fixture notifications (ids 1..N, every 3rd read)
 *   datasets = 30         fixture datasets (ds-00000 ...), spread over the portals
 *   portals = datos otro  portal names
 *   odd_portal = false    add a portal whose name needs escaping in /metrics
 *   provide = notifications datasets monitor broker   which method families to register
 *
 * Magic values: datasets.get id "err-<errno>" fails with that errno
 * (einval eexist ebusy e2big eacces eagain eio); notifications.create with
 * title "conflict" fails with -EEXIST; monitor.run_now portal "busy" fails with
 * -EBUSY. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vigia/vigia.h>

typedef struct stub {
    const vg_host *host;
    pthread_mutex_t mu;
    json_t *notifications; /* array, ascending id */
    long long next_id;
    long long created_total;
    json_t *datasets; /* array of dataset objects, ascending id */
    struct ds_meta {
        const char *portal, *status, *org; /* borrowed from the dataset objects */
    } * meta;                              /* one per dataset: filter without hash lookups */
    json_t *portals;                       /* array of names */
    long long stats_updated;
    json_t *last_stats;
} stub;

static const char *const types[] = {"info", "warning", "error", "success"};

/* ---- notifications ---- */

static json_t *make_notification(long long id, const char *type, const char *title,
                                 const char *message, json_t *data, int sec)
{
    char ids[32], at[40];
    snprintf(ids, sizeof ids, "%lld", id);
    snprintf(at, sizeof at, "2026-11-28T09:%02d:%02d.000Z", (sec / 60) % 60, sec % 60);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:n, s:o}", "id", ids, "type", type, "title",
                     title, "message", message, "created_at", at, "read", 0, "read_at", "data",
                     data ? data : json_null());
}

static long long id_of(const json_t *n)
{
    return strtoll(json_string_value(json_object_get(n, "id")), NULL, 10);
}

/* Accept ids as decimal strings or integers. -1 when absent, -2 when bad. */
static long long param_id(const json_t *params, const char *key)
{
    json_t *v = json_object_get(params, key);
    if (!v)
        return -1;
    if (json_is_integer(v))
        return (long long)json_integer_value(v);
    if (json_is_string(v)) {
        char *end = NULL;
        long long n = strtoll(json_string_value(v), &end, 10);
        return end && !*end ? n : -2;
    }
    return -2;
}

static long long unread_count(stub *s)
{
    long long n = 0;
    size_t i;
    json_t *x;
    json_array_foreach (s->notifications, i, x)
        n += !json_is_true(json_object_get(x, "read"));
    return n;
}

static int n_list(const json_t *params, json_t **result, void *user)
{
    stub *s = user;
    json_t *limit_v = json_object_get(params, "limit");
    long long limit = limit_v ? (long long)json_integer_value(limit_v) : 50;
    if (limit < 1 || limit > 500)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT", "limit out of range");
    json_t *unread_v = json_object_get(params, "unread");
    const char *type = json_string_value(json_object_get(params, "type"));
    const char *q = json_string_value(json_object_get(params, "q"));
    long long since = param_id(params, "since"), before = param_id(params, "before");
    if (since == -2 || before == -2)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT", "since/before must be ids");
    pthread_mutex_lock(&s->mu);
    json_t *out = json_array();
    long long total = 0;
    for (size_t i = json_array_size(s->notifications); i-- > 0;) {
        json_t *n = json_array_get(s->notifications, i);
        long long id = id_of(n);
        if (unread_v && json_is_true(unread_v) && json_is_true(json_object_get(n, "read")))
            continue;
        if (unread_v && json_is_false(unread_v) && !json_is_true(json_object_get(n, "read")))
            continue;
        if (type && strcmp(type, json_string_value(json_object_get(n, "type"))))
            continue;
        if (since >= 0 && id <= since)
            continue;
        if (before >= 0 && id >= before)
            continue;
        if (q && !strstr(json_string_value(json_object_get(n, "title")), q) &&
            !strstr(json_string_value(json_object_get(n, "message")), q))
            continue;
        total++;
        if ((long long)json_array_size(out) < limit)
            json_array_append_new(out, json_deep_copy(n));
    }
    *result = json_pack("{s:o, s:I, s:I}", "notifications", out, "unread_count",
                        (json_int_t)unread_count(s), "total", (json_int_t)total);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static json_t *find_notification(stub *s, long long id)
{
    size_t i;
    json_t *n;
    json_array_foreach (s->notifications, i, n)
        if (id_of(n) == id)
            return n;
    return NULL;
}

static int n_get(const json_t *params, json_t **result, void *user)
{
    stub *s = user;
    long long id = param_id(params, "id");
    pthread_mutex_lock(&s->mu);
    json_t *n = find_notification(s, id);
    if (n)
        *result = json_deep_copy(n);
    pthread_mutex_unlock(&s->mu);
    if (!n)
        return vg_method_fail(result, -ENOENT, "NOT_FOUND", "notification %lld not found", id);
    return 0;
}

static int n_mark_read(const json_t *params, json_t **result, void *user)
{
    stub *s = user;
    long long id = param_id(params, "id");
    if (id < 1)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT", "id must be an id");
    pthread_mutex_lock(&s->mu);
    json_t *n = find_notification(s, id);
    if (n) {
        json_object_set_new(n, "read", json_true());
        json_object_set_new(n, "read_at", json_string("2026-11-28T10:00:00.000Z"));
    }
    long long unread = unread_count(s);
    pthread_mutex_unlock(&s->mu);
    if (!n)
        return vg_method_fail(result, -ENOENT, "NOT_FOUND", "notification %lld not found", id);
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", id);
    *result = json_pack("{s:s, s:I}", "notification_id", ids, "unread_count", (json_int_t)unread);
    vg_bus_publish_new(s->host->bus, "notification.read", json_deep_copy(*result));
    return 0;
}

static int n_mark_all_read(const json_t *params, json_t **result, void *user)
{
    (void)params;
    stub *s = user;
    pthread_mutex_lock(&s->mu);
    long long marked = unread_count(s);
    size_t i;
    json_t *n;
    json_array_foreach (s->notifications, i, n) {
        if (!json_is_true(json_object_get(n, "read"))) {
            json_object_set_new(n, "read", json_true());
            json_object_set_new(n, "read_at", json_string("2026-11-28T10:00:00.000Z"));
        }
    }
    pthread_mutex_unlock(&s->mu);
    *result = json_pack("{s:i, s:I}", "unread_count", 0, "marked", (json_int_t)marked);
    if (marked)
        vg_bus_publish_new(s->host->bus, "notification.read",
                           json_pack("{s:n, s:i, s:I}", "notification_id", "unread_count", 0,
                                     "marked", (json_int_t)marked));
    return 0;
}

static int n_clear(const json_t *params, json_t **result, void *user)
{
    (void)params;
    stub *s = user;
    pthread_mutex_lock(&s->mu);
    size_t cleared = json_array_size(s->notifications);
    json_array_clear(s->notifications);
    pthread_mutex_unlock(&s->mu);
    *result = json_pack("{s:i, s:I}", "unread_count", 0, "cleared", (json_int_t)cleared);
    vg_bus_publish_new(s->host->bus, "notification.cleared", json_pack("{s:i}", "unread_count", 0));
    return 0;
}

static int n_create(const json_t *params, json_t **result, void *user)
{
    stub *s = user;
    const char *type = NULL, *title = NULL, *message = NULL;
    json_t *data = NULL;
    if (json_unpack((json_t *)params, "{s:s, s:s, s:s, s?o}", "type", &type, "title", &title,
                    "message", &message, "data", &data) < 0)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "type, title and message are required strings");
    if (!strcmp(title, "conflict"))
        return vg_method_fail(result, -EEXIST, "CONFLICT", "a notification titled '%s' exists",
                              title);
    pthread_mutex_lock(&s->mu);
    long long id = s->next_id++;
    s->created_total++;
    json_t *n = make_notification(id, type, title, message,
                                  data && !json_is_null(data) ? json_deep_copy(data) : NULL,
                                  (int)(id % 3600));
    json_array_append_new(s->notifications, n);
    long long unread = unread_count(s);
    /* The caller gets a copy: the stored object changes later (read, read_at). */
    json_t *copy = json_deep_copy(n);
    pthread_mutex_unlock(&s->mu);
    *result = json_pack("{s:o, s:I}", "notification", copy, "unread_count", (json_int_t)unread);
    vg_bus_publish_new(s->host->bus, "notification.created", json_deep_copy(*result));
    return 0;
}

static int n_stats(const json_t *params, json_t **result, void *user)
{
    (void)params;
    stub *s = user;
    pthread_mutex_lock(&s->mu);
    json_t *by =
        json_pack("{s:i, s:i, s:i, s:i}", "info", 0, "warning", 0, "error", 0, "success", 0);
    size_t i;
    json_t *n;
    json_array_foreach (s->notifications, i, n) {
        const char *t = json_string_value(json_object_get(n, "type"));
        json_object_set_new(by, t, json_integer(json_integer_value(json_object_get(by, t)) + 1));
    }
    *result = json_pack(
        "{s:I, s:I, s:I, s:o, s:I, s:i, s:i}", "total",
        (json_int_t)json_array_size(s->notifications), "unread", (json_int_t)unread_count(s),
        "in_memory", (json_int_t)json_array_size(s->notifications), "by_type", by, "created_total",
        (json_int_t)s->created_total, "suppressed", 0, "digests", 0);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* ---- datasets ---- */

static const char *status_for(size_t i)
{
    size_t r = i % 10;
    return r <= 5 ? "up" : r <= 7 ? "down" : r == 8 ? "degraded" : "unknown";
}

static json_t *make_dataset(stub *s, size_t i)
{
    char id[32], name[32], title[48], org[16], orgt[32], url[96];
    snprintf(id, sizeof id, "ds-%05zu", i);
    snprintf(name, sizeof name, "dataset-%05zu", i);
    snprintf(title, sizeof title, "Dataset %zu", i);
    snprintf(org, sizeof org, "org-%zu", i % 7);
    snprintf(orgt, sizeof orgt, "Organization %zu", i % 7);
    const char *portal =
        json_string_value(json_array_get(s->portals, i % json_array_size(s->portals)));
    snprintf(url, sizeof url, "https://datos.example/dataset/%s", name);
    const char *status = status_for(i);
    bool no_org = i % 11 == 5;
    bool checked = strcmp(status, "unknown") != 0;
    /* uptime_30d (a percentage) and latency_ms (ms): null until checked, as the monitor */
    json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:s, s:s, s:s?}", "id", id, "portal",
                          portal, "name", name, "title", title, "organization", no_org ? NULL : org,
                          "organization_title", no_org ? NULL : orgt, "url", url, "status", status,
                          "last_checked", checked ? "2026-11-28T08:00:00Z" : NULL);
    json_object_set_new(d, "uptime_30d", checked ? json_real(97.5) : json_null());
    json_object_set_new(d, "latency_ms", checked ? json_real(120.0) : json_null());
    return d;
}

static int d_list(const json_t *params, json_t **result, void *user)
{
    stub *s = user;
    const char *portal = json_string_value(json_object_get(params, "portal"));
    const char *status = json_string_value(json_object_get(params, "status"));
    const char *org = json_string_value(json_object_get(params, "organization"));
    const char *q = json_string_value(json_object_get(params, "q"));
    const char *sort = json_string_value(json_object_get(params, "sort"));
    json_t *lv = json_object_get(params, "limit"), *ov = json_object_get(params, "offset");
    long long limit = lv ? (long long)json_integer_value(lv) : 50;
    long long offset = ov ? (long long)json_integer_value(ov) : 0;
    bool desc = false;
    if (sort && strcmp(sort, "name") && strcmp(sort, "id")) {
        if (!strcmp(sort, "-name") || !strcmp(sort, "-id"))
            desc = true;
        else
            return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                                  "sort must be one of name, -name, id, -id (got '%s')", sort);
    }
    json_t *items = json_array();
    long long total = 0;
    size_t n = json_array_size(s->datasets);
    for (size_t k = 0; k < n; k++) {
        size_t idx = desc ? n - 1 - k : k;
        const struct ds_meta *m = &s->meta[idx];
        if (portal && strcmp(portal, m->portal))
            continue;
        if (status && strcmp(status, m->status))
            continue;
        if (org && (!m->org || strcmp(org, m->org)))
            continue;
        json_t *d = json_array_get(s->datasets, idx);
        if (q && !strstr(json_string_value(json_object_get(d, "title")), q) &&
            !strstr(json_string_value(json_object_get(d, "name")), q))
            continue;
        if (total >= offset && total < offset + limit)
            json_array_append_new(items, json_deep_copy(d));
        total++;
    }
    *result = json_pack("{s:o, s:I, s:I, s:I}", "items", items, "total", (json_int_t)total, "limit",
                        (json_int_t)limit, "offset", (json_int_t)offset);
    return 0;
}

/* Magic ids that make datasets.get fail with a given errno. */
static int magic_error(const char *id, json_t **result)
{
    static const struct {
        const char *id;
        int rc;
        const char *code;
    } m[] = {{"err-einval", -EINVAL, "INVALID_ARGUMENT"},
             {"err-eexist", -EEXIST, "CONFLICT"},
             {"err-ebusy", -EBUSY, "CONFLICT"},
             {"err-e2big", -E2BIG, "TOO_LARGE"},
             {"err-eacces", -EACCES, "UNAUTHORIZED"},
             {"err-eagain", -EAGAIN, "UNAVAILABLE"},
             {"err-eio", -EIO, "INTERNAL"}};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (!strcmp(id, m[i].id))
            return vg_method_fail(result, m[i].rc, m[i].code, "stub failure %s", m[i].id);
    return 0;
}

static json_t *find_dataset(stub *s, const char *id)
{
    if (strncmp(id, "ds-", 3))
        return NULL;
    char *end = NULL;
    long long i = strtoll(id + 3, &end, 10);
    if (!end || *end || i < 0 || (size_t)i >= json_array_size(s->datasets))
        return NULL;
    json_t *d = json_array_get(s->datasets, (size_t)i);
    return strcmp(json_string_value(json_object_get(d, "id")), id) ? NULL : d;
}

static int d_get(const json_t *params, json_t **result, void *user)
{
    stub *s = user;
    const char *id = json_string_value(json_object_get(params, "id"));
    if (!id)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT", "id is required");
    int rc = magic_error(id, result);
    if (rc < 0)
        return rc;
    const char *portal = json_string_value(json_object_get(params, "portal"));
    /* "ds-shared" exists in both portals, as the monitor's AMBIGUOUS answer */
    if (!strcmp(id, "ds-shared") && !portal)
        return vg_method_fail(result, -EEXIST, "AMBIGUOUS",
                              "dataset '%s' exists in several portals (datos, otro): say which "
                              "with portal",
                              id);
    json_t *d = find_dataset(s, !strcmp(id, "ds-shared") ? "ds-00001" : id);
    if (d && portal && strcmp(id, "ds-shared") &&
        strcmp(json_string_value(json_object_get(d, "portal")), portal))
        d = NULL;
    if (!d)
        return vg_method_fail(result, -ENOENT, "NOT_FOUND", "dataset '%s' not found", id);
    json_t *out = json_deep_copy(d);
    if (!strcmp(id, "ds-shared")) {
        json_object_set_new(out, "id", json_string(id));
        json_object_set_new(out, "portal", json_string(portal));
    }
    json_t *res = json_pack(
        "[{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:i, s:i, s:n}}]", "id", "res-1", "name", "data.csv",
        "url", "https://datos.example/files/data.csv", "format", "CSV", "status",
        json_string_value(json_object_get(d, "status")), "last_check", "checked_at",
        "2026-11-28T08:00:00Z", "http_status", 200, "latency_ms", 120, "reason");
    json_object_set_new(out, "resources", res);
    json_object_del(out, "latency_ms"); /* a list figure: the detail has its resources' */
    json_object_set_new(out, "uptime_30d", json_real(97.5)); /* a percentage, as the monitor */
    *result = out;
    return 0;
}

static int d_history(const json_t *params, json_t **result, void *user)
{
    stub *s = user;
    const char *id = json_string_value(json_object_get(params, "id"));
    json_int_t days = json_integer_value(json_object_get(params, "days"));
    if (!id || !find_dataset(s, id))
        return vg_method_fail(result, -ENOENT, "NOT_FOUND", "dataset '%s' not found", id ? id : "");
    json_t *daily = json_array();
    for (json_int_t d = 0; d < days; d++) {
        char day[16];
        snprintf(day, sizeof day, "2026-%02d-%02d", d < 27 ? 11 : 10, d < 27 ? (int)(28 - d) : 28);
        json_array_append_new(daily, json_pack("{s:s, s:f, s:i, s:i}", "day", day, "uptime", 100.0,
                                               "checks", 24, "mean_latency_ms", 110));
    }
    *result = json_pack("{s:s, s:I, s:[{s:s, s:s, s:s, s:i, s:i}], s:o}", "id", id, "days", days,
                        "checks", "resource_id", "res-1", "checked_at", "2026-11-28T08:00:00Z",
                        "status", "up", "http_status", 200, "latency_ms", 120, "daily", daily);
    return 0;
}

/* datasets.changes: one of each signal, newest first */
static int d_changes(const json_t *params, json_t **result, void *user)
{
    stub *s = user;
    const char *id = json_string_value(json_object_get(params, "id"));
    json_int_t days = json_integer_value(json_object_get(params, "days"));
    if (!id || !find_dataset(s, id))
        return vg_method_fail(result, -ENOENT, "NOT_FOUND", "dataset '%s' not found", id ? id : "");
    json_t *changes =
        json_pack("[{s:s, s:s, s:I, s:s, s:s, s:s, s:f, s:s},"
                  " {s:s, s:s, s:I, s:[{s:s, s:s, s:s, s:s, s:s}]},"
                  " {s:s, s:s, s:I, s:s, s:s}]",
                  "at", "2026-11-28T08:00:00.000Z", "topic", "dataset.freshness_changed",
                  "sweep_id", (json_int_t)41, "previous", "due", "current", "overdue", "frequency",
                  "Mensual", "period_days", 30.0, "last_update", "2026-09-30T02:00:08.746Z", "at",
                  "2026-11-27T08:00:00.000Z", "topic", "dataset.resource_recreated", "sweep_id",
                  (json_int_t)40, "resources", "old_id", "res-0", "new_id", "res-1", "name",
                  "data.csv", "url", "https://datos.example/files/data.csv", "matched_by", "url",
                  "at", "2026-11-26T08:00:00.000Z", "topic", "dataset.status_changed", "sweep_id",
                  (json_int_t)39, "previous", "down", "current", "up");
    *result = json_pack("{s:{s:s, s:s, s:{s:s, s:s, s:f, s:s, s:s}}, s:I, s:o}", "dataset", "id",
                        id, "portal", "datos", "freshness", "state", "overdue", "frequency",
                        "Mensual", "period_days", 30.0, "last_update", "2026-09-30T02:00:08.746Z",
                        "since", "2026-11-28T08:00:00.000Z", "days", days, "changes", changes);
    return 0;
}

/* organizations.list / organizations.get: two organisations of the report */
static json_t *org_item(const char *name, const char *title, long long datasets, double av30,
                        double broken, double overdue)
{
    json_t *spark = json_array();
    for (int i = 0; i < 30; i++)
        json_array_append_new(spark, i < 27 ? json_null() : json_real(av30));
    return json_pack("{s:s, s:s, s:s, s:I, s:{s:I, s:I, s:I, s:I, s:I}, s:I, s:I,"
                     " s:{s:I, s:I, s:I, s:I, s:I}, s:f, s:f, s:f, s:f, s:f, s:f, s:I, s:f, s:I,"
                     " s:o}",
                     "portal", "datos", "organization", name, "organization_title", title,
                     "datasets", (json_int_t)datasets, "status", "up", (json_int_t)(datasets - 1),
                     "down", (json_int_t)1, "degraded", (json_int_t)0, "empty", (json_int_t)0,
                     "unknown", (json_int_t)0, "resources", (json_int_t)(datasets * 3),
                     "resources_broken", (json_int_t)(broken * (double)datasets * 3), "freshness",
                     "fresh", (json_int_t)(datasets / 2), "due", (json_int_t)0, "overdue",
                     (json_int_t)(datasets / 4), "delinquent", (json_int_t)0, "unknown",
                     (json_int_t)(datasets - datasets / 2 - datasets / 4), "availability_30d", av30,
                     "availability_365d", av30 + 0.5, "broken_share", broken, "fresh_share", 0.6667,
                     "overdue_share", overdue, "delinquent_share", 0.0, "repairs", (json_int_t)3,
                     "median_repair_hours", 26.5, "schema_changes", (json_int_t)(datasets / 5),
                     "availability_daily", spark);
}

static int o_list(const json_t *params, json_t **result, void *user)
{
    (void)params;
    (void)user;
    json_t *items = json_pack(
        "[o, o]", org_item("dipres", "Dirección de Presupuestos", 12, 96.4, 0.0833, 0.3333),
        org_item("minsal", "Ministerio de Salud", 8, 99.1, 0.0, 0.25));
    *result = json_pack("{s:o, s:i, s:s, s:s, s:i}", "items", items, "total", 2, "sort",
                        "organization", "generated_at", "2026-11-28T09:00:00.000Z", "took_ms", 3);
    return 0;
}

static int o_get(const json_t *params, json_t **result, void *user)
{
    (void)user;
    const char *name = json_string_value(json_object_get(params, "name"));
    if (!name || strcmp(name, "dipres") != 0)
        return vg_method_fail(result, -ENOENT, "NOT_FOUND", "no organisation named '%s'",
                              name ? name : "");
    json_t *o = org_item("dipres", "Dirección de Presupuestos", 12, 96.4, 0.0833, 0.3333);
    json_object_set_new(
        o, "to_fix",
        json_pack("[{s:s, s:s, s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s, s:s, s:s, s:s}]", "id",
                  "ds-00003", "name", "presupuesto-2024", "title", "Presupuesto 2024", "status",
                  "down", "why", "down", "since", "2026-11-27T22:10:00.000Z", "id", "ds-00007",
                  "name", "ejecucion-mensual", "title", "Ejecución mensual", "status", "up",
                  "freshness", "overdue", "frequency", "Mensual", "why", "overdue"));
    json_object_set_new(json_array_get(json_object_get(o, "to_fix"), 1), "since",
                        json_string("2026-10-01T00:00:00.000Z"));
    *result = o;
    return 0;
}

/* ---- monitor, broker ---- */

static int m_status(const json_t *params, json_t **result, void *user)
{
    (void)params;
    stub *s = user;
    json_t *out = json_array();
    size_t i;
    json_t *p;
    json_array_foreach (s->portals, i, p) {
        char finished[48];
        snprintf(finished, sizeof finished, "2026-11-28T08:%02zu:30Z", i % 60);
        json_array_append_new(
            out, json_pack("{s:O, s:s, s:s, s:{s:s, s:s, s:I, s:{s:i, s:i, s:i, s:i, s:i}, s:b},"
                           " s:s, s:n, s:{s:i, s:i, s:i, s:i}}",
                           "name", p, "url", "https://datos.example", "state", "idle", "last_sweep",
                           "started_at", "2026-11-28T08:00:00Z", "finished_at", finished,
                           "duration_ms", (json_int_t)(1500 + 1000 * i), "counts", "datasets", 10,
                           "up", 6, "down", 2, "degraded", 1, "unknown", 1, "complete", 1,
                           "next_sweep_at", "2026-11-28T09:00:00Z", "last_error", "checks_total",
                           "up", 100, "down", 20, "restricted", 3, "invalid", 1));
    }
    *result = json_pack("{s:o}", "portals", out);
    return 0;
}

static int m_run_now(const json_t *params, json_t **result, void *user)
{
    stub *s = user;
    const char *portal = json_string_value(json_object_get(params, "portal"));
    if (portal && !strcmp(portal, "busy"))
        return vg_method_fail(result, -EBUSY, "CONFLICT", "a sweep of 'busy' is already running");
    if (portal) {
        size_t i;
        json_t *p;
        json_array_foreach (s->portals, i, p)
            if (!strcmp(json_string_value(p), portal)) {
                *result = json_pack("{s:[s]}", "started", portal);
                return 0;
            }
        return vg_method_fail(result, -ENOENT, "NOT_FOUND", "no portal named '%s'", portal);
    }
    *result = json_pack("{s:O}", "started", s->portals);
    return 0;
}

static int b_status(const json_t *params, json_t **result, void *user)
{
    (void)params;
    (void)user;
    *result = json_pack("{s:{s:i, s:i, s:i}, s:[{s:s, s:i}], s:i, s:i, s:{s:i, s:i, s:i}}",
                        "clients", "total", 3, "websocket", 2, "polling", 1, "rooms", "name",
                        "notifications", "members", 3, "messages_in", 10, "messages_out", 20,
                        "dropped", "backlog", 0, "rate_limit", 0, "protocol", 0);
    return 0;
}

/* ---- stats.updated counter ---- */

static void on_stats(const char *topic, const json_t *payload, void *user)
{
    (void)topic;
    stub *s = user;
    pthread_mutex_lock(&s->mu);
    s->stats_updated++;
    json_decref(s->last_stats);
    s->last_stats = json_deep_copy(payload);
    pthread_mutex_unlock(&s->mu);
}

static int h_stats_updated(vg_http_request *req, void *user)
{
    stub *s = user;
    pthread_mutex_lock(&s->mu);
    /* A copy: the reply is serialized after the lock is released. */
    json_t *body = json_pack("{s:I, s:o?}", "count", (json_int_t)s->stats_updated, "last",
                             s->last_stats ? json_deep_copy(s->last_stats) : NULL);
    pthread_mutex_unlock(&s->mu);
    return vg_http_reply_json(req, 200, body);
}

/* ---- lifecycle ---- */

static int reg(stub *s, const char *name, vg_method_cb cb)
{
    int rc = vg_bus_register_method(s->host->bus, name, cb, s, NULL);
    return rc < 0 ? s->host->fail(s->host, "cannot register %s", name) : 0;
}

static int has_word(const json_t *list, const char *w)
{
    size_t i;
    json_t *v;
    json_array_foreach (list, i, v)
        if (!strcmp(json_string_value(v), w))
            return 1;
    return 0;
}

static void stub_destroy(void *state)
{
    stub *s = state;
    if (!s)
        return;
    json_decref(s->notifications);
    json_decref(s->datasets);
    free(s->meta);
    json_decref(s->portals);
    json_decref(s->last_stats);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static int stub_init(const vg_host *host, const vg_config *cfg, void **state)
{
    stub *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->host = host;
    pthread_mutex_init(&s->mu, NULL);
    *state = s;
    long long nn = 0, nd = 0;
    bool odd = false;
    json_t *provide = NULL;
    int rc;
    if ((rc = host->config_int(host, cfg, "notifications", 5, 0, 100000, &nn)) < 0 ||
        (rc = host->config_int(host, cfg, "datasets", 30, 0, 1000000, &nd)) < 0 ||
        (rc = host->config_list(host, cfg, "portals", "datos otro", &s->portals)) < 0 ||
        (rc = host->config_bool(host, cfg, "odd_portal", false, &odd)) < 0 ||
        (rc = host->config_list(host, cfg, "provide", "notifications datasets monitor broker",
                                &provide)) < 0)
        goto fail;
    if (odd)
        json_array_append_new(s->portals, json_string("odd \"portal\"\\\nname"));
    if (json_array_size(s->portals) == 0)
        json_array_append_new(s->portals, json_string("datos"));

    s->notifications = json_array();
    s->next_id = 1;
    for (long long i = 1; i <= nn; i++) {
        char title[48], msg[96];
        snprintf(title, sizeof title, "Notification %lld", i);
        snprintf(msg, sizeof msg, "Dataset ds-%05lld changed state", i);
        json_t *n =
            make_notification(i, types[(i - 1) % 4], title, msg,
                              i % 2 ? json_pack("{s:s}", "dataset_id", "ds-00001") : NULL, (int)i);
        if (i % 3 == 0) {
            json_object_set_new(n, "read", json_true());
            json_object_set_new(n, "read_at", json_string("2026-11-28T09:59:00.000Z"));
        }
        json_array_append_new(s->notifications, n);
        s->next_id = i + 1;
        s->created_total++;
    }
    s->datasets = json_array();
    s->meta = calloc(nd ? (size_t)nd : 1, sizeof *s->meta);
    if (!s->meta) {
        rc = -ENOMEM;
        goto fail;
    }
    for (long long i = 0; i < nd; i++) {
        json_t *d = make_dataset(s, (size_t)i);
        json_array_append_new(s->datasets, d);
        s->meta[i].portal = json_string_value(json_object_get(d, "portal"));
        s->meta[i].status = json_string_value(json_object_get(d, "status"));
        s->meta[i].org = json_string_value(json_object_get(d, "organization"));
    }

    rc = 0;
    if (has_word(provide, "notifications")) {
        if ((rc = reg(s, "notifications.list", n_list)) < 0 ||
            (rc = reg(s, "notifications.get", n_get)) < 0 ||
            (rc = reg(s, "notifications.mark_read", n_mark_read)) < 0 ||
            (rc = reg(s, "notifications.mark_all_read", n_mark_all_read)) < 0 ||
            (rc = reg(s, "notifications.clear", n_clear)) < 0 ||
            (rc = reg(s, "notifications.create", n_create)) < 0 ||
            (rc = reg(s, "notifications.stats", n_stats)) < 0)
            goto fail;
    }
    if (has_word(provide, "datasets")) {
        if ((rc = reg(s, "datasets.list", d_list)) < 0 ||
            (rc = reg(s, "datasets.get", d_get)) < 0 ||
            (rc = reg(s, "datasets.history", d_history)) < 0 ||
            (rc = reg(s, "datasets.changes", d_changes)) < 0 ||
            (rc = reg(s, "organizations.list", o_list)) < 0 ||
            (rc = reg(s, "organizations.get", o_get)) < 0)
            goto fail;
    }
    if (has_word(provide, "monitor")) {
        if ((rc = reg(s, "monitor.status", m_status)) < 0 ||
            (rc = reg(s, "monitor.run_now", m_run_now)) < 0)
            goto fail;
    }
    if (has_word(provide, "broker") && (rc = reg(s, "broker.status", b_status)) < 0)
        goto fail;
    if ((rc = vg_bus_subscribe(host->bus, "stats.updated", on_stats, s, NULL, NULL)) < 0 ||
        (rc = host->http_route(host, "GET", "/test/stub/stats-updated", h_stats_updated, s, NULL)) <
            0)
        goto fail;
    json_decref(provide);
    return 0;
fail:
    json_decref(provide);
    stub_destroy(s);
    *state = NULL;
    return rc < 0 ? rc : -EINVAL;
}

VG_PLUGIN_DEFINE(reststub, "0.0.1", "Deterministic stand-in methods for the rest plugin's tests",
                 .init = stub_init, .destroy = stub_destroy);
