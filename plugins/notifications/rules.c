/* Event rules, digests and flap control (see rules.h). */
#include "rules.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vigia/contract/core.h>
#include <vigia/contract/monitor.h>
#include <vigia/contract/notifications.h>

#define DEFAULT_SWEEP_TIMEOUT_MS (60LL * 60 * 1000)
#define FAILING_KEPT 10 /* failing resources copied into a notification's data */
#define FLAP_BUCKETS 1024

enum kind {
    K_NONE = -1,
    K_DOWN = 0,
    K_RECOVERED,
    K_DEGRADED,
    K_ADDED,
    K_REMOVED,
    K_MODIFIED,
    K_EMPTY,       /* the dataset lists no resource any more */
    K_STALE,       /* open-data signals: overdue or delinquent against its frequency */
    K_REFRESHED,   /* updated again after being overdue */
    K_RECREATED,   /* resources re-created under new ids */
    K_FORMAT,      /* resources serve something other than their declared format */
    K_CONTENT,     /* resources' content changed (only with notify_modified) */
    K_SCHEMA,      /* resources' columns changed (schema drift) */
    K_PORTAL_DOWN, /* portal kinds: never buffered in sweeps nor digested */
    K_PORTAL_UP,
    K_PORTAL_HELD, /* a mass removal held until the next sweep confirms it */
    K_COUNT
};

static const char *const kind_names[K_COUNT] = {
    "dataset_down",           "dataset_recovered",
    "dataset_degraded",       "dataset_added",
    "dataset_removed",        "dataset_modified",
    "dataset_empty",          "dataset_stale",
    "dataset_refreshed",      "dataset_resource_recreated",
    "dataset_format_drift",   "dataset_content_changed",
    "dataset_schema_changed", "portal_down",
    "portal_recovered",       "portal_removals_held"};
static const char *const kind_types[K_COUNT] = {
    VG_NOTIFICATIONS_TYPE_ERROR,   VG_NOTIFICATIONS_TYPE_SUCCESS, VG_NOTIFICATIONS_TYPE_WARNING,
    VG_NOTIFICATIONS_TYPE_INFO,    VG_NOTIFICATIONS_TYPE_WARNING, VG_NOTIFICATIONS_TYPE_INFO,
    VG_NOTIFICATIONS_TYPE_WARNING, VG_NOTIFICATIONS_TYPE_WARNING, VG_NOTIFICATIONS_TYPE_SUCCESS,
    VG_NOTIFICATIONS_TYPE_WARNING, VG_NOTIFICATIONS_TYPE_WARNING, VG_NOTIFICATIONS_TYPE_INFO,
    VG_NOTIFICATIONS_TYPE_WARNING, VG_NOTIFICATIONS_TYPE_ERROR,   VG_NOTIFICATIONS_TYPE_SUCCESS,
    VG_NOTIFICATIONS_TYPE_WARNING};
static const nt_text_id kind_titles[K_COUNT] = {
    T_DOWN_TITLE,      T_RECOVERED_TITLE,   T_DEGRADED_TITLE,  T_ADDED_TITLE,
    T_REMOVED_TITLE,   T_MODIFIED_TITLE,    T_EMPTY_TITLE,     T_STALE_TITLE,
    T_REFRESHED_TITLE, T_RECREATED_TITLE,   T_FORMAT_TITLE,    T_CONTENT_TITLE,
    T_SCHEMA_TITLE,    T_PORTAL_DOWN_TITLE, T_PORTAL_UP_TITLE, T_PORTAL_HELD_TITLE};
static const nt_text_id kind_msgs[K_COUNT] = {
    T_DOWN_MSG,      T_RECOVERED_MSG,   T_DEGRADED_MSG,  T_ADDED_MSG,
    T_REMOVED_MSG,   T_MODIFIED_MSG,    T_EMPTY_MSG,     T_STALE_MSG,
    T_REFRESHED_MSG, T_RECREATED_MSG,   T_FORMAT_MSG,    T_CONTENT_MSG,
    T_SCHEMA_MSG,    T_PORTAL_DOWN_MSG, T_PORTAL_UP_MSG, T_PORTAL_HELD_MSG};
static const nt_text_id kind_labels[K_COUNT] = {
    T_KIND_DOWN,      T_KIND_RECOVERED,   T_KIND_DEGRADED,  T_KIND_ADDED,
    T_KIND_REMOVED,   T_KIND_MODIFIED,    T_KIND_EMPTY,     T_KIND_STALE,
    T_KIND_REFRESHED, T_KIND_RECREATED,   T_KIND_FORMAT,    T_KIND_CONTENT,
    T_KIND_SCHEMA,    T_KIND_PORTAL_DOWN, T_KIND_PORTAL_UP, T_KIND_PORTAL_HELD};
static const char *const kind_keys[K_COUNT] = {
    "down",           "recovered",   "degraded",  "added",      "removed",      "modified",
    "empty",          "stale",       "refreshed", "recreated",  "format_drift", "content_changed",
    "schema_changed", "portal_down", "portal_up", "portal_held"};

/* The open-data signals are no up/down: no flap control for them. */
static bool is_signal(int kind) { return kind >= K_STALE && kind <= K_SCHEMA; }

/* One dataset event worth a notification. */
typedef struct change {
    int kind;
    char *topic;
    json_t *payload; /* our reference */
} change;

/* Dataset events of one portal's sweep in progress. */
typedef struct sweep {
    char *portal;
    char *sweep_id;
    int64_t opened_ms;
    change **items;
    size_t n, cap;
    struct sweep *next;
} sweep;

/* Flap state of one dataset ("portal\x1fid"). */
typedef struct flap {
    char *key;
    int64_t last_ms; /* last announcement */
    int last_kind;
    long long suppressed;
    change *pending; /* latest held-back change */
    struct flap *next;
} flap;

struct nt_rules {
    pthread_mutex_t mu;
    nt_rules_options opt;
    sweep *sweeps;
    flap *flaps[FLAP_BUCKETS];
    long long tracked, suppressed_total, digests_total;
};

/* ---- small helpers ------------------------------------------------------ */

static const char *str_or(const json_t *obj, const char *key, const char *def)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s && *s ? s : def;
}

/* sweep_id may be a string or a number; "" when absent. */
static void sweep_id_of(const json_t *payload, char *buf, size_t size)
{
    const json_t *v = json_object_get(payload, VG_MONITOR_F_SWEEP_ID);
    buf[0] = 0;
    if (json_is_string(v))
        snprintf(buf, size, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(buf, size, "%lld", (long long)json_integer_value(v));
}

/* Cut to at most `max` bytes at a UTF-8 boundary, ending with "…". */
static void truncate_utf8(char *s, size_t max)
{
    size_t len = strlen(s);
    if (len <= max || max < 4)
        return;
    size_t cut = max - 3;
    while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
        cut--;
    memcpy(s + cut, "\xe2\x80\xa6", 3);
    s[cut + 3] = 0;
}

static void change_free(change *c)
{
    if (!c)
        return;
    free(c->topic);
    json_decref(c->payload);
    free(c);
}

static change *change_new(int kind, const char *topic, const json_t *payload)
{
    change *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->kind = kind;
    c->topic = strdup(topic);
    c->payload = json_deep_copy(payload);
    if (!c->topic || !c->payload) {
        change_free(c);
        return NULL;
    }
    return c;
}

static int status_kind(const char *previous, const char *current)
{
    if (!current)
        return K_NONE;
    if (strcmp(current, VG_MONITOR_DATASET_DOWN) == 0)
        return K_DOWN;
    if (strcmp(current, VG_MONITOR_DATASET_DEGRADED) == 0)
        return K_DEGRADED;
    if (strcmp(current, VG_MONITOR_DATASET_EMPTY) == 0)
        return K_EMPTY;
    if (strcmp(current, VG_MONITOR_DATASET_UP) == 0 && previous &&
        (strcmp(previous, VG_MONITOR_DATASET_DOWN) == 0 ||
         strcmp(previous, VG_MONITOR_DATASET_DEGRADED) == 0))
        return K_RECOVERED;
    return K_NONE;
}

static bool fresh_late(const char *s)
{
    return strcmp(s, VG_MONITOR_FRESHNESS_OVERDUE) == 0 ||
           strcmp(s, VG_MONITOR_FRESHNESS_DELINQUENT) == 0;
}

/* Late (overdue, then delinquent) is news, and so is fresh after late; due
 * is only the period ending. */
static int freshness_kind(const char *previous, const char *current)
{
    if (strcmp(current, VG_MONITOR_FRESHNESS_OVERDUE) == 0 && !fresh_late(previous))
        return K_STALE;
    if (strcmp(current, VG_MONITOR_FRESHNESS_DELINQUENT) == 0)
        return K_STALE;
    if (strcmp(current, VG_MONITOR_FRESHNESS_FRESH) == 0 && fresh_late(previous))
        return K_REFRESHED;
    return K_NONE;
}

static int classify(const nt_rules *r, const char *topic, const json_t *p)
{
    if (strcmp(topic, VG_MONITOR_EV_PORTAL_STATUS_CHANGED) == 0) {
        const char *prev = str_or(p, VG_MONITOR_F_PREVIOUS, ""),
                   *cur = str_or(p, VG_MONITOR_F_CURRENT, "");
        if (!str_or(p, VG_MONITOR_F_PORTAL, NULL))
            return K_NONE;
        if (strcmp(cur, VG_MONITOR_PORTAL_DOWN) == 0)
            return K_PORTAL_DOWN;
        return strcmp(cur, VG_MONITOR_PORTAL_UP) == 0 && strcmp(prev, VG_MONITOR_PORTAL_DOWN) == 0
                   ? K_PORTAL_UP
                   : K_NONE;
    }
    if (strcmp(topic, VG_MONITOR_EV_PORTAL_WARNING_RAISED) == 0)
        return str_or(p, VG_MONITOR_F_PORTAL, NULL) &&
                       strcmp(str_or(p, "reason", ""), VG_MONITOR_WARNING_MASS_REMOVAL_HELD) == 0
                   ? K_PORTAL_HELD
                   : K_NONE;
    if (!json_is_object(json_object_get(p, VG_MONITOR_F_DATASET)))
        return K_NONE;
    if (strcmp(topic, VG_MONITOR_EV_DATASET_STATUS_CHANGED) == 0)
        return status_kind(str_or(p, VG_MONITOR_F_PREVIOUS, NULL),
                           str_or(p, VG_MONITOR_F_CURRENT, NULL));
    if (strcmp(topic, VG_MONITOR_EV_DATASET_ADDED) == 0)
        return K_ADDED;
    if (strcmp(topic, VG_MONITOR_EV_DATASET_REMOVED) == 0)
        return K_REMOVED;
    if (strcmp(topic, VG_MONITOR_EV_DATASET_MODIFIED) == 0)
        return r->opt.notify_modified ? K_MODIFIED : K_NONE;
    if (strcmp(topic, VG_MONITOR_EV_DATASET_FRESHNESS_CHANGED) == 0)
        return freshness_kind(str_or(p, VG_MONITOR_F_PREVIOUS, ""),
                              str_or(p, VG_MONITOR_F_CURRENT, ""));
    if (strcmp(topic, VG_MONITOR_EV_DATASET_CONTENT_CHANGED) == 0) /* a modification */
        return r->opt.notify_modified && json_array_size(json_object_get(p, "resources"))
                   ? K_CONTENT
                   : K_NONE;
    if (strcmp(topic, VG_MONITOR_EV_DATASET_SCHEMA_CHANGED) == 0) /* breaks readers: always */
        return json_array_size(json_object_get(p, "resources")) ? K_SCHEMA : K_NONE;
    if (strcmp(topic, VG_MONITOR_EV_DATASET_RESOURCE_RECREATED) == 0)
        return json_array_size(json_object_get(p, "resources")) ? K_RECREATED : K_NONE;
    if (strcmp(topic, VG_MONITOR_EV_DATASET_FORMAT_DRIFT) == 0) {
        /* an HTML page for data is already a degraded status: said once */
        size_t i;
        const json_t *res;
        json_array_foreach (json_object_get(p, "resources"), i, res)
            if (strcmp(str_or(res, "served", ""), VG_MONITOR_SERVED_HTML) != 0)
                return K_FORMAT;
        return K_NONE;
    }
    return K_NONE;
}

static nt_text_id status_label(const char *status)
{
    if (!status)
        return T_STATUS_UNKNOWN;
    if (strcmp(status, VG_MONITOR_DATASET_UP) == 0)
        return T_STATUS_UP;
    if (strcmp(status, VG_MONITOR_DATASET_DOWN) == 0)
        return T_STATUS_DOWN;
    if (strcmp(status, VG_MONITOR_DATASET_DEGRADED) == 0)
        return T_STATUS_DEGRADED;
    if (strcmp(status, VG_MONITOR_DATASET_EMPTY) == 0)
        return T_STATUS_EMPTY;
    return T_STATUS_UNKNOWN;
}

/* ---- wording ------------------------------------------------------------ */

/* The monitor's reason codes (checker.c), in words. */
static const struct {
    const char *code;
    nt_text_id text;
} reason_codes[] = {
    {VG_MONITOR_REASON_TIMEOUT, T_WHY_TIMEOUT},
    {VG_MONITOR_REASON_CONNECTION_ERROR, T_WHY_CONNECTION},
    {VG_MONITOR_REASON_TOO_MANY_REDIRECTS, T_WHY_REDIRECTS},
    {VG_MONITOR_REASON_HTTP_5XX, T_WHY_SERVER},
    {VG_MONITOR_REASON_NOT_FOUND, T_WHY_NOT_FOUND},
    {VG_MONITOR_REASON_HTTP_ERROR, T_WHY_HTTP},
    {VG_MONITOR_REASON_INVALID_URL, T_WHY_INVALID_URL},
    {VG_MONITOR_REASON_SLOW, T_WHY_SLOW},
    {VG_MONITOR_REASON_RESTRICTED, T_WHY_RESTRICTED},
    {VG_MONITOR_REASON_UNKNOWN, T_WHY_UNKNOWN},
    {VG_MONITOR_REASON_HTML_INSTEAD_OF_DATA, T_WHY_HTML},
    {VG_MONITOR_REASON_LOGIN_REQUIRED, T_WHY_LOGIN},
};

/* "no encontrado, HTTP 404" for one failing resource; NULL when nothing is
 * known (or out of memory). An unknown code is shown as it is. */
static char *resource_reason(nt_lang lang, const json_t *f)
{
    const char *code = str_or(f, VG_MONITOR_F_REASON, NULL);
    const char *why = code;
    for (size_t i = 0; code && i < sizeof reason_codes / sizeof reason_codes[0]; i++)
        if (strcmp(code, reason_codes[i].code) == 0)
            why = nt_text(lang, reason_codes[i].text);
    const json_t *http = json_object_get(f, "http_status");
    char status[24];
    if (json_is_integer(http))
        snprintf(status, sizeof status, "%lld", (long long)json_integer_value(http));
    if (why && json_is_integer(http))
        return nt_text_render(lang, T_WHY_WITH_HTTP,
                              (const char *const[]){"why", why, "status", status, NULL});
    if (json_is_integer(http))
        return nt_text_render(lang, T_REASON_HTTP, (const char *const[]){"status", status, NULL});
    return why ? strdup(why) : NULL;
}

/* One schema change in words ("new column «x»"), appended to `sb`. */
static void schema_change_text(nt_lang lang, const json_t *ch, nt_sb *sb)
{
    static const struct {
        const char *kind;
        nt_text_id text;
    } kinds[] = {{VG_MONITOR_SCHEMA_ADDED, T_SCHEMA_ADDED},
                 {VG_MONITOR_SCHEMA_REMOVED, T_SCHEMA_REMOVED},
                 {VG_MONITOR_SCHEMA_RENAMED, T_SCHEMA_RENAMED},
                 {VG_MONITOR_SCHEMA_RETYPED, T_SCHEMA_RETYPED},
                 {VG_MONITOR_SCHEMA_REORDERED, T_SCHEMA_REORDERED},
                 {VG_MONITOR_SCHEMA_DELIMITER, T_SCHEMA_DELIMITER},
                 {VG_MONITOR_SCHEMA_ENCODING, T_SCHEMA_ENCODING},
                 {VG_MONITOR_SCHEMA_TABLE_LOST, T_SCHEMA_TABLE_LOST},
                 {VG_MONITOR_SCHEMA_TABLE_FOUND, T_SCHEMA_TABLE_FOUND}};
    const char *kind = str_or(ch, "kind", "");
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strcmp(kind, kinds[i].kind) != 0)
            continue;
        char from[64], to[64];
        /* a tab delimiter is shown as \t */
        snprintf(from, sizeof from, "%s",
                 strcmp(str_or(ch, "from", "?"), "\t") == 0 ? "\\t" : str_or(ch, "from", "?"));
        snprintf(to, sizeof to, "%s",
                 strcmp(str_or(ch, "to", "?"), "\t") == 0 ? "\\t" : str_or(ch, "to", "?"));
        const char *vars[] = {"name",   str_or(ch, "name", "?"),   "from", from, "to", to,
                              "reason", str_or(ch, "reason", "?"), NULL};
        char *one = nt_text_render(lang, kinds[i].text, vars);
        if (one) {
            if (sb->len)
                nt_sb_add(sb, "; ");
            nt_sb_add(sb, one);
        }
        free(one);
        return;
    }
}

/* A change to the files in `list`: {count}, {name} of the first and {what}
 * (taken from `what`), in the text for one or for many. */
static char *render_what(nt_lang lang, const json_t *list, nt_sb *what, nt_text_id one,
                         nt_text_id many)
{
    const json_t *f = json_array_get(list, 0);
    char *whats = nt_sb_take(what);
    char count[24];
    snprintf(count, sizeof count, "%zu", json_array_size(list));
    const char *vars[] = {"count", count,
                          "name",  str_or(f, "name", str_or(f, "url", "?")),
                          "what",  whats ? whats : "",
                          NULL};
    char *out = nt_text_render(lang, json_array_size(list) == 1 ? one : many, vars);
    free(whats);
    return out;
}

/* "the columns of resource «x» changed: new column «y»; ..." (at most 5 changes in words). */
static char *schema_reason(nt_lang lang, const json_t *list)
{
    const json_t *f = json_array_get(list, 0);
    nt_sb what = {0};
    size_t i;
    const json_t *ch;
    json_array_foreach (json_object_get(f, "changes"), i, ch)
        if (i < 5)
            schema_change_text(lang, ch, &what);
    if (json_array_size(json_object_get(f, "changes")) > 5)
        nt_sb_add(&what, "; …");
    return render_what(lang, list, &what, T_REASON_SCHEMA_ONE, T_REASON_SCHEMA_MANY);
}

/* "<first failing resource>: <why>" (and how many more). */
static char *reason_failing(nt_lang lang, const json_t *p)
{
    const json_t *failing = json_object_get(p, VG_MONITOR_F_FAILING);
    size_t n = json_array_size(failing);
    if (n == 0)
        return strdup(nt_text(lang, T_REASON_NONE));
    const json_t *f = json_array_get(failing, 0);
    const char *name = str_or(f, "name", str_or(f, "url", str_or(f, "id", "?")));
    char *why = resource_reason(lang, f);
    const char *reason = why ? why : nt_text(lang, T_REASON_NONE);
    char count[24];
    snprintf(count, sizeof count, "%zu", n);
    char *out =
        nt_text_render(lang, n == 1 ? T_REASON_FAILING_ONE : T_REASON_FAILING_MANY,
                       (const char *const[]){"name", name, "reason", reason, "count", count, NULL});
    free(why);
    return out;
}

/* A sweep held back: how many datasets would have been removed. */
static char *reason_portal_held(nt_lang lang, const json_t *p)
{
    char cand[24], total[24], pct[24];
    snprintf(cand, sizeof cand, "%lld",
             (long long)json_integer_value(json_object_get(p, "candidates")));
    snprintf(total, sizeof total, "%lld",
             (long long)json_integer_value(json_object_get(p, "datasets")));
    snprintf(pct, sizeof pct, "%.0f",
             json_number_value(json_object_get(p, "max_removed_fraction")) * 100);
    return nt_text_render(
        lang, T_REASON_PORTAL_HELD,
        (const char *const[]){"candidates", cand, "datasets", total, "percent", pct, NULL});
}

/* Out of date against the declared frequency. */
static char *reason_stale(nt_lang lang, const json_t *p)
{
    const char *cur = str_or(p, VG_MONITOR_F_CURRENT, "");
    char day[11];
    snprintf(day, sizeof day, "%s", str_or(p, "last_update", "?"));
    const char *vars[] = {"state",
                          nt_text(lang, strcmp(cur, VG_MONITOR_FRESHNESS_DELINQUENT) == 0
                                            ? T_FRESH_DELINQUENT
                                            : T_FRESH_OVERDUE),
                          "frequency",
                          str_or(p, "frequency", "?"),
                          "last_update",
                          day,
                          NULL};
    return nt_text_render(lang, T_REASON_STALE, vars);
}

/* Which files changed, and what of them. */
static char *reason_content(nt_lang lang, const json_t *p)
{
    const json_t *list = json_object_get(p, "resources");
    const json_t *f = json_array_get(list, 0);
    nt_sb what = {0};
    size_t i;
    const json_t *w;
    json_array_foreach (json_object_get(f, "changed"), i, w) {
        if (i)
            nt_sb_add(&what, ", ");
        nt_sb_add(&what, json_string_value(w) ? json_string_value(w) : "?");
    }
    return render_what(lang, list, &what, T_REASON_CONTENT_ONE, T_REASON_CONTENT_MANY);
}

/* Resources re-created under new ids, or serving another format. */
static char *reason_resources(nt_lang lang, const json_t *p, int kind)
{
    const json_t *list = json_object_get(p, "resources");
    const json_t *f = json_array_get(list, 0);
    size_t n = json_array_size(list);
    char count[24], fmt[32], served[16];
    snprintf(count, sizeof count, "%zu", n);
    snprintf(fmt, sizeof fmt, "%s", str_or(f, "format", str_or(f, "mimetype", "?")));
    snprintf(served, sizeof served, "%s", str_or(f, "served", "?"));
    for (char *u = served; *u; u++) /* ZIP, PDF, HTML: format names as people write them */
        *u = (char)(*u >= 'a' && *u <= 'z' ? *u - 32 : *u);
    const char *vars[] = {"count",  count,
                          "name",   str_or(f, "name", str_or(f, "url", "?")),
                          "old",    str_or(f, "old_id", "?"),
                          "new",    str_or(f, "new_id", "?"),
                          "format", fmt,
                          "served", served,
                          NULL};
    nt_text_id t = kind == K_RECREATED ? (n == 1 ? T_REASON_RECREATED_ONE : T_REASON_RECREATED_MANY)
                                       : (n == 1 ? T_REASON_FORMAT_ONE : T_REASON_FORMAT_MANY);
    return nt_text_render(lang, t, vars);
}

/* The metadata changes, listed. */
static char *reason_modified(nt_lang lang, const json_t *p)
{
    const json_t *ch = json_object_get(p, VG_MONITOR_F_CHANGES);
    nt_sb b = {0};
    struct {
        const char *key;
        nt_text_id text;
        bool counted;
    } parts[] = {{"metadata_modified", T_CHANGE_METADATA, false},
                 {"title", T_CHANGE_TITLE, false},
                 {"resources_added", T_CHANGE_RES_ADDED, true},
                 {"resources_removed", T_CHANGE_RES_REMOVED, true},
                 {"urls_changed", T_CHANGE_URLS, true},
                 {"resources_recreated", T_CHANGE_RES_RECREATED, true}};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        const json_t *v = json_object_get(ch, parts[i].key);
        if (!v || (parts[i].counted && json_array_size(v) == 0))
            continue;
        char count[24];
        snprintf(count, sizeof count, "%zu", json_array_size(v));
        char *t = nt_text_render(lang, parts[i].text, (const char *const[]){"count", count, NULL});
        if (b.len)
            nt_sb_add(&b, ", ");
        nt_sb_add(&b, t);
        free(t);
    }
    if (!b.len)
        nt_sb_add(&b, nt_text(lang, T_CHANGE_METADATA));
    return nt_sb_take(&b);
}

static char *reason_text(const nt_rules *r, const change *c)
{
    nt_lang lang = r->opt.lang;
    const json_t *p = c->payload;
    switch (c->kind) {
    case K_DOWN:
    case K_DEGRADED:
        return reason_failing(lang, p);
    case K_RECOVERED:
        return strdup(nt_text(lang, T_REASON_RECOVERED));
    case K_PORTAL_DOWN:
        return strdup(str_or(p, "error", nt_text(lang, T_REASON_NONE)));
    case K_PORTAL_UP:
        return strdup(nt_text(lang, T_REASON_PORTAL_UP));
    case K_PORTAL_HELD:
        return reason_portal_held(lang, p);
    case K_ADDED:
        return strdup(nt_text(lang, T_REASON_ADDED));
    case K_REMOVED:
        return strdup(nt_text(lang, T_REASON_REMOVED));
    case K_EMPTY:
        return strdup(nt_text(lang, T_REASON_EMPTY));
    case K_STALE:
        return reason_stale(lang, p);
    case K_REFRESHED: {
        char day[11];
        snprintf(day, sizeof day, "%s", str_or(p, "last_update", "?"));
        return nt_text_render(lang, T_REASON_REFRESHED,
                              (const char *const[]){"last_update", day, NULL});
    }
    case K_CONTENT:
        return reason_content(lang, p);
    case K_SCHEMA:
        return schema_reason(lang, json_object_get(p, "resources"));
    case K_RECREATED:
    case K_FORMAT:
        return reason_resources(lang, p, c->kind);
    case K_MODIFIED:
        return reason_modified(lang, p);
    default:
        return strdup("");
    }
}

static const char *dataset_label(const json_t *ds)
{
    return str_or(ds, VG_MONITOR_DS_TITLE,
                  str_or(ds, VG_MONITOR_DS_NAME, str_or(ds, VG_MONITOR_DS_ID, "?")));
}

static const char *org_label(const nt_rules *r, const json_t *ds)
{
    return str_or(ds, VG_MONITOR_DS_ORGANIZATION_TITLE,
                  str_or(ds, VG_MONITOR_DS_ORGANIZATION, nt_text(r->opt.lang, T_NO_ORG)));
}

/* Builds and emits one single notification for `c`, showing how many earlier
 * changes of that dataset were held back. */
static void emit_single(nt_rules *r, const change *c, long long held_back)
{
    nt_lang lang = r->opt.lang;
    const json_t *p = c->payload;
    const json_t *ds = json_object_get(p, VG_MONITOR_F_DATASET);
    const char *portal = str_or(p, VG_MONITOR_F_PORTAL, str_or(ds, VG_MONITOR_F_PORTAL, "?"));
    char *reason = reason_text(r, c);
    const char *prev = str_or(p, VG_MONITOR_F_PREVIOUS, NULL);
    const char *vars[] = {"dataset",
                          dataset_label(ds),
                          "organization",
                          org_label(r, ds),
                          "portal",
                          portal,
                          "previous",
                          nt_text(lang, status_label(prev)),
                          "reason",
                          reason ? reason : "",
                          NULL};
    char *title = nt_text_render(lang, kind_titles[c->kind], vars);
    char *msg = nt_text_render(lang, kind_msgs[c->kind], vars);
    if (msg && held_back > 0) {
        char count[24];
        snprintf(count, sizeof count, "%lld", held_back);
        char *extra =
            nt_text_render(lang, T_SUPPRESSED, (const char *const[]){"count", count, NULL});
        nt_sb b = {0};
        nt_sb_add(&b, msg);
        nt_sb_add(&b, extra);
        free(extra);
        free(msg);
        msg = nt_sb_take(&b);
    }
    json_t *data =
        json_pack("{s:s, s:s, s:s, s:O?, s:s}", "kind", kind_names[c->kind], "event", c->topic,
                  "portal", portal, "dataset", ds, "reason", reason ? reason : "");
    if (data) {
        const char *keys[] = {"sweep_id",  "previous",  "current",     "checked_at", "changes",
                              "resources", "frequency", "period_days", "last_update"};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            json_t *v = json_object_get(p, keys[i]);
            if (v)
                json_object_set(data, keys[i], v);
        }
        const json_t *failing = json_object_get(p, "failing");
        if (json_is_array(failing)) {
            json_t *kept = json_array();
            for (size_t i = 0; kept && i < json_array_size(failing) && i < FAILING_KEPT; i++)
                json_array_append(kept, json_array_get(failing, i));
            json_object_set_new(data, "failing", kept ? kept : json_null());
            json_object_set_new(data, "failing_total",
                                json_integer((json_int_t)json_array_size(failing)));
        }
        json_object_set_new(data, "suppressed", json_integer(held_back));
    }
    if (title && msg && data) {
        truncate_utf8(title, r->opt.max_title_bytes);
        truncate_utf8(msg, r->opt.max_message_bytes);
        r->opt.emit(kind_types[c->kind], title, msg, data, r->opt.emit_ctx);
        data = NULL;
    }
    json_decref(data);
    free(title);
    free(msg);
    free(reason);
}

/* ---- flap control ------------------------------------------------------- */

static unsigned hash_key(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static flap *flap_get(nt_rules *r, const change *c)
{
    const json_t *p = c->payload;
    const json_t *ds = json_object_get(p, VG_MONITOR_F_DATASET);
    const char *portal = str_or(p, VG_MONITOR_F_PORTAL, str_or(ds, VG_MONITOR_F_PORTAL, ""));
    const char *id = str_or(ds, "id", str_or(ds, "name", ""));
    size_t len = strlen(portal) + strlen(id) + 2;
    char *key = malloc(len);
    if (!key)
        return NULL;
    snprintf(key, len, "%s\x1f%s", portal, id);
    unsigned b = hash_key(key) % FLAP_BUCKETS;
    for (flap *f = r->flaps[b]; f; f = f->next)
        if (strcmp(f->key, key) == 0) {
            free(key);
            return f;
        }
    flap *f = calloc(1, sizeof *f);
    if (!f) {
        free(key);
        return NULL;
    }
    f->key = key;
    f->last_kind = K_NONE;
    f->next = r->flaps[b];
    r->flaps[b] = f;
    r->tracked++;
    return f;
}

/* May `c` be announced now? Returns the number of held-back changes to show
 * (>= 0), or -1 when it is held back itself (it then becomes the pending one;
 * *c is taken over in that case). */
static long long flap_admit(nt_rules *r, change **cp, int64_t now)
{
    change *c = *cp;
    flap *f = r->opt.min_repeat_ms > 0 ? flap_get(r, c) : NULL;
    if (!f)
        return 0; /* no flap control (or out of memory: announce) */
    if (f->last_kind == K_NONE || now - f->last_ms >= r->opt.min_repeat_ms) {
        long long shown = f->suppressed;
        f->suppressed = 0;
        f->last_ms = now;
        f->last_kind = c->kind;
        change_free(f->pending);
        f->pending = NULL;
        return shown;
    }
    f->suppressed++;
    r->suppressed_total++;
    change_free(f->pending);
    f->pending = c;
    *cp = NULL;
    return -1;
}

static void emit_digest(nt_rules *r, const char *portal, const char *sweep_id, change **items,
                        size_t n);

static const char *portal_of(const change *c)
{
    return str_or(
        c->payload, VG_MONITOR_F_PORTAL,
        str_or(json_object_get(c->payload, VG_MONITOR_F_DATASET), VG_MONITOR_F_PORTAL, "?"));
}

/* Announce held-back latest states whose min_repeat has passed (grouped per
 * portal: more than digest_threshold of them are one digest, so a portal
 * recovering at once does not come back as a storm), forget idle datasets. */
static void flap_tick(nt_rules *r, int64_t now)
{
    change **due = NULL;
    long long *held = NULL;
    size_t n = 0, cap = 0;
    for (int b = 0; b < FLAP_BUCKETS; b++) {
        flap **pp = &r->flaps[b];
        while (*pp) {
            flap *f = *pp;
            bool is_due = now - f->last_ms >= r->opt.min_repeat_ms;
            if (is_due && f->pending) {
                change *c = f->pending;
                f->pending = NULL;
                if (c->kind != f->last_kind && n == cap) {
                    size_t ncap = cap ? cap * 2 : 16;
                    change **d = realloc(due, ncap * sizeof *d);
                    long long *h = d ? realloc(held, ncap * sizeof *h) : NULL;
                    if (d)
                        due = d;
                    if (h) {
                        held = h;
                        cap = ncap;
                    }
                }
                if (c->kind != f->last_kind && n < cap) {
                    /* the latest state differs from what people saw: say it */
                    due[n] = c;
                    held[n++] = f->suppressed - 1;
                    f->suppressed = 0;
                    f->last_ms = now;
                    f->last_kind = c->kind;
                } else {
                    change_free(c);
                }
            } else if (is_due && !f->pending && f->suppressed == 0) {
                *pp = f->next;
                free(f->key);
                free(f);
                r->tracked--;
                continue;
            }
            pp = &f->next;
        }
    }
    /* portal-level changes are always single notices */
    for (size_t i = 0; i < n; i++)
        if (due[i]->kind >= K_PORTAL_DOWN) {
            emit_single(r, due[i], held[i]);
            change_free(due[i]);
            due[i] = NULL;
        }
    /* dataset changes: one portal at a time */
    change **group = n ? calloc(n, sizeof *group) : NULL;
    for (size_t i = 0; group && i < n; i++) {
        if (!due[i])
            continue;
        const char *portal = portal_of(due[i]);
        size_t ng = 0;
        for (size_t k = i; k < n; k++)
            if (due[k] && strcmp(portal_of(due[k]), portal) == 0)
                group[ng++] = due[k];
        if ((long long)ng > r->opt.digest_threshold) {
            emit_digest(r, portal, "", group, ng);
        } else {
            for (size_t k = i; k < n; k++)
                if (due[k] && strcmp(portal_of(due[k]), portal) == 0)
                    emit_single(r, due[k], held[k]);
        }
        /* `portal` points into due[i]: free the others of the group first */
        for (size_t k = i + 1; k < n; k++)
            if (due[k] && strcmp(portal_of(due[k]), portal) == 0) {
                change_free(due[k]);
                due[k] = NULL;
            }
        change_free(due[i]);
        due[i] = NULL;
    }
    for (size_t i = 0; i < n; i++)
        change_free(due[i]); /* only left over when calloc failed */
    free(group);
    free(due);
    free(held);
}

/* ---- digests ------------------------------------------------------------ */

static json_t *counts_object(const long long *counts)
{
    json_t *o = json_object();
    for (int k = 0; o && k < K_COUNT; k++)
        if (counts[k])
            json_object_set_new(o, kind_keys[k], json_integer(counts[k]));
    return o;
}

/* "caídos: 12, recuperados: 3" (label first: no singular/plural to get wrong) */
static void counts_text(const nt_rules *r, const long long *counts, nt_sb *b)
{
    bool first = true;
    for (int k = 0; k < K_COUNT; k++) {
        if (!counts[k])
            continue;
        char num[32];
        snprintf(num, sizeof num, ": %lld", counts[k]);
        if (!first)
            nt_sb_add(b, ", ");
        nt_sb_add(b, nt_text(r->opt.lang, kind_labels[k]));
        nt_sb_add(b, num);
        first = false;
    }
}

typedef struct org_group {
    const char *org;  /* key: organisation name, "" when none */
    const json_t *ds; /* the first dataset seen, for the label */
    long long counts[K_COUNT];
    size_t first, n; /* indexes into the ordered list */
} org_group;

/* A sweep's changes grouped by organisation, in first-seen order. */
typedef struct digest {
    change **items;
    size_t n, ng;
    long long counts[K_COUNT];
    org_group *groups;
    size_t *order; /* item indexes grouped by organisation */
} digest;

static void digest_free(digest *d)
{
    free(d->groups);
    free(d->order);
}

/* Groups d->items; -1 when out of memory. */
static int digest_group(digest *d)
{
    size_t n = d->n;
    d->groups = calloc(n ? n : 1, sizeof *d->groups);
    d->order = calloc(n ? n : 1, sizeof *d->order);
    size_t *group_of = calloc(n ? n : 1, sizeof *group_of);
    json_t *index = json_object(); /* organisation -> group, so many orgs stay linear */
    int rc = -1;
    if (!d->groups || !d->order || !group_of || !index)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const json_t *ds = json_object_get(d->items[i]->payload, "dataset");
        const char *org = str_or(ds, VG_MONITOR_DS_ORGANIZATION, "");
        const json_t *known = json_object_get(index, org);
        size_t g = known ? (size_t)json_integer_value(known) : d->ng;
        if (g == d->ng) {
            d->groups[g].org = org;
            d->groups[g].ds = ds;
            json_object_set_new(index, org, json_integer((json_int_t)g));
            d->ng++;
        }
        d->groups[g].counts[d->items[i]->kind]++;
        d->groups[g].n++;
        group_of[i] = g;
        d->counts[d->items[i]->kind]++;
    }
    /* counting sort of the items by group, keeping their order */
    for (size_t g = 0, pos = 0; g < d->ng; g++) {
        d->groups[g].first = pos;
        pos += d->groups[g].n;
    }
    size_t *fill = calloc(d->ng ? d->ng : 1, sizeof *fill);
    if (!fill)
        goto out;
    for (size_t i = 0; i < n; i++)
        d->order[d->groups[group_of[i]].first + fill[group_of[i]]++] = i;
    free(fill);
    rc = 0;
out:
    json_decref(index);
    free(group_of);
    return rc;
}

/* The message: totals, then organisations while they fit. */
static char *digest_message(nt_rules *r, const digest *d)
{
    nt_sb summary = {0}, orgs = {0};
    counts_text(r, d->counts, &summary);
    size_t budget = r->opt.max_message_bytes > 300 ? r->opt.max_message_bytes - 300 : 0;
    size_t shown = 0;
    for (size_t g = 0; g < d->ng; g++) {
        nt_sb one = {0};
        nt_sb_add(&one, org_label(r, d->groups[g].ds));
        nt_sb_add(&one, " (");
        counts_text(r, d->groups[g].counts, &one);
        nt_sb_add(&one, ")");
        if (one.s && orgs.len + one.len + summary.len + 8 > budget) {
            nt_sb_free(&one);
            break;
        }
        if (shown++)
            nt_sb_add(&orgs, nt_text(r->opt.lang, T_LIST_SEP));
        nt_sb_add(&orgs, one.s);
        nt_sb_free(&one);
    }
    if (shown < d->ng) {
        char more[24];
        snprintf(more, sizeof more, "%zu", d->ng - shown);
        char *t =
            nt_text_render(r->opt.lang, T_DIGEST_MORE, (const char *const[]){"count", more, NULL});
        if (shown)
            nt_sb_add(&orgs, nt_text(r->opt.lang, T_LIST_SEP));
        nt_sb_add(&orgs, t);
        free(t);
    }
    char *sum_s = nt_sb_take(&summary), *orgs_s = nt_sb_take(&orgs);
    char *msg = nt_text_render(
        r->opt.lang, T_DIGEST_MSG,
        (const char *const[]){"summary", sum_s ? sum_s : "", "orgs", orgs_s ? orgs_s : "", NULL});
    free(sum_s);
    free(orgs_s);
    return msg;
}

/* One organisation's entry, its dataset list cut at `cap` (*truncated set). */
static json_t *digest_org(nt_rules *r, const digest *d, size_t g, size_t cap, bool *truncated)
{
    const org_group *og = &d->groups[g];
    json_t *dsl = json_array();
    for (size_t k = 0; dsl && k < og->n; k++) {
        if (k >= cap) {
            *truncated = true;
            break;
        }
        const change *c = d->items[d->order[og->first + k]];
        const json_t *ds = json_object_get(c->payload, VG_MONITOR_F_DATASET);
        char *reason = reason_text(r, c);
        json_array_append_new(dsl, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id",
                                             str_or(ds, "id", ""), "name", str_or(ds, "name", ""),
                                             "title", dataset_label(ds), "url",
                                             str_or(ds, "url", ""), "kind", kind_keys[c->kind],
                                             "reason", reason ? reason : ""));
        free(reason);
    }
    const json_t *org = json_object_get(og->ds, "organization");
    return json_pack("{s:O, s:s, s:I, s:o, s:o}", "organization", org ? org : json_null(),
                     "organization_title", org_label(r, og->ds), "count", (json_int_t)og->n,
                     "counts", counts_object(og->counts), "datasets", dsl ? dsl : json_array());
}

/* Data: every dataset, grouped; lists trimmed per organisation until the
 * JSON fits max_data_bytes. */
static json_t *digest_data(nt_rules *r, const digest *d, const char *portal, const char *sweep_id)
{
    static const size_t caps[] = {(size_t)-1, 50, 20, 5, 1, 0};
    json_t *data = NULL;
    for (size_t ci = 0; ci < sizeof caps / sizeof caps[0]; ci++) {
        json_decref(data);
        data =
            json_pack("{s:s, s:s, s:s, s:I, s:o}", "kind", "digest", "portal", portal, "sweep_id",
                      sweep_id, "count", (json_int_t)d->n, "counts", counts_object(d->counts));
        json_t *glist = json_array();
        bool truncated = false;
        for (size_t g = 0; data && glist && g < d->ng; g++)
            json_array_append_new(glist, digest_org(r, d, g, caps[ci], &truncated));
        if (!data || !glist) {
            json_decref(glist);
            continue;
        }
        json_object_set_new(data, "organizations", glist);
        json_object_set_new(data, "truncated", json_boolean(truncated));
        char *dump = json_dumps(data, JSON_COMPACT);
        size_t len = dump ? strlen(dump) : (size_t)-1;
        free(dump);
        if (len <= r->opt.max_data_bytes)
            break;
        if (ci + 1 == sizeof caps / sizeof caps[0]) {
            /* even bare organisation entries do not fit: keep the totals */
            json_object_set_new(data, "organizations", json_array());
            json_object_set_new(data, "truncated", json_true());
        }
    }
    return data;
}

static void emit_digest(nt_rules *r, const char *portal, const char *sweep_id, change **items,
                        size_t n)
{
    digest d = {.items = items, .n = n};
    if (digest_group(&d) < 0) {
        digest_free(&d);
        return;
    }
    const long long *counts = d.counts;
    const char *type = counts[K_DOWN] ? VG_NOTIFICATIONS_TYPE_ERROR
                       : counts[K_DEGRADED] || counts[K_REMOVED] || counts[K_EMPTY]
                           ? VG_NOTIFICATIONS_TYPE_WARNING
                       : counts[K_RECOVERED] == (long long)n ? VG_NOTIFICATIONS_TYPE_SUCCESS
                                                             : VG_NOTIFICATIONS_TYPE_INFO;
    char total[24];
    snprintf(total, sizeof total, "%zu", n);
    char *title = nt_text_render(r->opt.lang, T_DIGEST_TITLE,
                                 (const char *const[]){"portal", portal, "count", total, NULL});
    char *msg = digest_message(r, &d);
    json_t *data = digest_data(r, &d, portal, sweep_id);
    if (title && msg && data) {
        truncate_utf8(title, r->opt.max_title_bytes);
        truncate_utf8(msg, r->opt.max_message_bytes);
        r->digests_total++;
        r->opt.emit(type, title, msg, data, r->opt.emit_ctx);
        data = NULL;
    }
    json_decref(data);
    free(title);
    free(msg);
    digest_free(&d);
}

/* ---- sweeps ------------------------------------------------------------- */

static void sweep_free(sweep *s)
{
    for (size_t i = 0; i < s->n; i++)
        change_free(s->items[i]);
    free(s->items);
    free(s->portal);
    free(s->sweep_id);
    free(s);
}

/* Announce a sweep's buffered changes: flap control first, then one digest
 * when more than digest_threshold remain, else singles. Frees the sweep. */
static void sweep_flush(nt_rules *r, sweep *s, int64_t now)
{
    change **kept = calloc(s->n ? s->n : 1, sizeof *kept);
    long long *held = calloc(s->n ? s->n : 1, sizeof *held);
    size_t nk = 0;
    for (size_t i = 0; kept && held && i < s->n; i++) {
        long long h = is_signal(s->items[i]->kind) ? 0 : flap_admit(r, &s->items[i], now);
        if (h >= 0) {
            held[nk] = h;
            kept[nk++] = s->items[i];
        }
    }
    if (kept && held) {
        if ((long long)nk > r->opt.digest_threshold)
            emit_digest(r, s->portal, s->sweep_id, kept, nk);
        else
            for (size_t i = 0; i < nk; i++)
                emit_single(r, kept[i], held[i]);
    }
    free(kept);
    free(held);
    sweep_free(s);
}

static sweep **sweep_find(nt_rules *r, const char *portal)
{
    sweep **pp = &r->sweeps;
    while (*pp && strcmp((*pp)->portal, portal) != 0)
        pp = &(*pp)->next;
    return pp;
}

static sweep *sweep_open(nt_rules *r, const char *portal, const char *sweep_id, int64_t now)
{
    sweep *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->portal = strdup(portal);
    s->sweep_id = strdup(sweep_id);
    s->opened_ms = now;
    if (!s->portal || !s->sweep_id) {
        sweep_free(s);
        return NULL;
    }
    s->next = r->sweeps;
    r->sweeps = s;
    return s;
}

static void sweep_close(nt_rules *r, const char *portal, int64_t now)
{
    sweep **pp = sweep_find(r, portal);
    if (*pp) {
        sweep *s = *pp;
        *pp = s->next;
        sweep_flush(r, s, now);
    }
}

/* ---- public ------------------------------------------------------------- */

nt_rules *nt_rules_new(const nt_rules_options *opt)
{
    if (!opt || !opt->emit || !opt->now_ms)
        return NULL;
    nt_rules *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->opt = *opt;
    if (!r->opt.sweep_timeout_ms)
        r->opt.sweep_timeout_ms = DEFAULT_SWEEP_TIMEOUT_MS;
    if (!r->opt.max_title_bytes)
        r->opt.max_title_bytes = 256;
    if (!r->opt.max_message_bytes)
        r->opt.max_message_bytes = 4096;
    if (!r->opt.max_data_bytes)
        r->opt.max_data_bytes = 65536;
    if (pthread_mutex_init(&r->mu, NULL) != 0) {
        free(r);
        return NULL;
    }
    return r;
}

void nt_rules_free(nt_rules *r)
{
    if (!r)
        return;
    while (r->sweeps) {
        sweep *s = r->sweeps;
        r->sweeps = s->next;
        sweep_free(s);
    }
    for (int b = 0; b < FLAP_BUCKETS; b++)
        while (r->flaps[b]) {
            flap *f = r->flaps[b];
            r->flaps[b] = f->next;
            change_free(f->pending);
            free(f->key);
            free(f);
        }
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static void system_started(nt_rules *r, const json_t *p)
{
    const char *version = str_or(p, "version", "?");
    const json_t *plugins = json_object_get(p, "plugins");
    char count[24];
    snprintf(count, sizeof count, "%zu", json_array_size(plugins));
    const char *vars[] = {"version", version, "plugins", count, NULL};
    char *title = nt_text_render(r->opt.lang, T_SYSTEM_STARTED_TITLE, vars);
    char *msg = nt_text_render(r->opt.lang, T_SYSTEM_STARTED_MSG, vars);
    json_t *data = json_pack("{s:s, s:s, s:s, s:O}", "kind", "system_started", "event",
                             VG_CORE_EV_SYSTEM_STARTED, "version", version, "plugins",
                             plugins ? plugins : json_null());
    if (title && msg && data) {
        r->opt.emit(VG_NOTIFICATIONS_TYPE_INFO, title, msg, data, r->opt.emit_ctx);
        data = NULL;
    }
    json_decref(data);
    free(title);
    free(msg);
}

void nt_rules_handle(nt_rules *r, const char *topic, const json_t *payload)
{
    if (!r || !topic || !json_is_object(payload))
        return;
    pthread_mutex_lock(&r->mu);
    int64_t now = r->opt.now_ms(r->opt.clock_ctx);
    char sid[128];
    sweep_id_of(payload, sid, sizeof sid);
    const char *portal = str_or(payload, VG_MONITOR_F_PORTAL, NULL);

    if (strcmp(topic, VG_CORE_EV_SYSTEM_STARTED) == 0) {
        system_started(r, payload);
    } else if (strcmp(topic, VG_MONITOR_EV_SWEEP_STARTED) == 0) {
        if (portal && *sid) {
            sweep_close(r, portal, now); /* a previous sweep that never finished */
            sweep_open(r, portal, sid, now);
        }
    } else if (strcmp(topic, VG_MONITOR_EV_SWEEP_FINISHED) == 0) {
        if (portal)
            sweep_close(r, portal, now);
    } else if (strcmp(topic, VG_MONITOR_EV_PORTAL_STATUS_CHANGED) == 0) {
        int kind = classify(r, topic, payload);
        change *c = kind == K_NONE ? NULL : change_new(kind, topic, payload);
        if (c) {
            long long held = flap_admit(r, &c, now);
            if (held >= 0)
                emit_single(r, c, held);
        }
        change_free(c);
    } else if (strcmp(topic, VG_MONITOR_EV_PORTAL_WARNING_RAISED) == 0) {
        /* raised once per held batch by the monitor: no flap control needed */
        int kind = classify(r, topic, payload);
        change *c = kind == K_NONE ? NULL : change_new(kind, topic, payload);
        if (c)
            emit_single(r, c, 0);
        change_free(c);
    } else if (strncmp(topic, VG_MONITOR_EV_DATASET_PREFIX, strlen(VG_MONITOR_EV_DATASET_PREFIX)) ==
               0) {
        int kind = classify(r, topic, payload);
        change *c = kind == K_NONE ? NULL : change_new(kind, topic, payload);
        if (c && portal && *sid) {
            /* Part of a sweep: wait for its end (open one if we missed the start). */
            sweep *s = *sweep_find(r, portal);
            if (s && strcmp(s->sweep_id, sid) != 0) {
                sweep_close(r, portal, now);
                s = NULL;
            }
            if (!s)
                s = sweep_open(r, portal, sid, now);
            if (s && s->n == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 16;
                change **items = realloc(s->items, cap * sizeof *items);
                if (items) {
                    s->items = items;
                    s->cap = cap;
                }
            }
            if (s && s->n < s->cap) {
                s->items[s->n++] = c;
                c = NULL;
            }
        }
        if (c) {
            /* No sweep (or no memory to buffer): at once. */
            long long held = is_signal(c->kind) ? 0 : flap_admit(r, &c, now);
            if (held >= 0)
                emit_single(r, c, held);
        }
        change_free(c);
    }
    pthread_mutex_unlock(&r->mu);
}

void nt_rules_tick(nt_rules *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    int64_t now = r->opt.now_ms(r->opt.clock_ctx);
    sweep **pp = &r->sweeps;
    while (*pp) {
        sweep *s = *pp;
        if (now - s->opened_ms >= r->opt.sweep_timeout_ms) {
            *pp = s->next;
            sweep_flush(r, s, now);
        } else {
            pp = &s->next;
        }
    }
    if (r->opt.min_repeat_ms > 0)
        flap_tick(r, now);
    pthread_mutex_unlock(&r->mu);
}

void nt_rules_flush(nt_rules *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    int64_t now = r->opt.now_ms(r->opt.clock_ctx);
    while (r->sweeps) {
        sweep *s = r->sweeps;
        r->sweeps = s->next;
        sweep_flush(r, s, now);
    }
    pthread_mutex_unlock(&r->mu);
}

void nt_rules_stats_get(nt_rules *r, nt_rules_stats *out)
{
    pthread_mutex_lock(&r->mu);
    out->suppressed = r->suppressed_total;
    out->digests = r->digests_total;
    out->buffered = 0;
    for (sweep *s = r->sweeps; s; s = s->next)
        out->buffered += (long long)s->n;
    out->tracked = r->tracked;
    pthread_mutex_unlock(&r->mu);
}
