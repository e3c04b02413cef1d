/* Matching: a monitor event becomes a stored event (the feeds read it) and
 * one pending item per interested subscriber, found through the indexes of
 * watch_subscription (by dataset, organisation, portal; saved searches are
 * few and evaluated against the event's dataset), never a scan. */
#include "watch.h"
#include "watch_topics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static bool late(const char *s)
{
    return s && (strcmp(s, VG_MONITOR_FRESHNESS_OVERDUE) == 0 ||
                 strcmp(s, VG_MONITOR_FRESHNESS_DELINQUENT) == 0);
}

/* The open-data signals: stale (overdue, then delinquent), refreshed (fresh
 * after stale), recreated, format_drift (not when every drifting resource
 * serves HTML: the status change, degraded, says it). */
static const char *signal_kind(const char *topic, const json_t *p)
{
    if (strcmp(topic, WATCH_T_FRESHNESS) == 0) {
        const char *cur = jstr(p, "current"), *prev = jstr(p, "previous");
        if (cur && strcmp(cur, VG_MONITOR_FRESHNESS_DELINQUENT) == 0)
            return "stale";
        if (cur && strcmp(cur, VG_MONITOR_FRESHNESS_OVERDUE) == 0 && !late(prev))
            return "stale";
        if (cur && strcmp(cur, VG_MONITOR_FRESHNESS_FRESH) == 0 && late(prev))
            return "refreshed";
        return NULL;
    }
    if (strcmp(topic, WATCH_T_RECREATED) == 0)
        return "recreated";
    if (strcmp(topic, WATCH_T_CONTENT) == 0)
        return "content_changed";
    if (strcmp(topic, WATCH_T_SCHEMA) == 0)
        return "schema_changed";
    if (strcmp(topic, WATCH_T_FORMAT) == 0) {
        size_t i;
        const json_t *r;
        json_array_foreach (json_object_get(p, "resources"), i, r) {
            const char *served = jstr(r, "served");
            if (served && strcmp(served, VG_MONITOR_SERVED_HTML) != 0)
                return "format_drift";
        }
    }
    return NULL;
}

const char *watch_event_kind(const char *topic, const json_t *p)
{
    const char *sig = signal_kind(topic, p);
    if (sig)
        return sig;
    if (strcmp(topic, WATCH_T_ADDED) == 0)
        return "added";
    if (strcmp(topic, WATCH_T_REMOVED) == 0)
        return "removed";
    if (strcmp(topic, WATCH_T_MODIFIED) == 0)
        return "modified";
    if (strcmp(topic, WATCH_T_STATUS) == 0 || strcmp(topic, WATCH_T_PORTAL) == 0) {
        const char *cur = jstr(p, "current"), *prev = jstr(p, "previous");
        if (!cur)
            return NULL;
        if (strcmp(cur, "down") == 0)
            return "down";
        if (strcmp(cur, "degraded") == 0)
            return "degraded";
        if (strcmp(cur, "empty") == 0)
            return "empty";
        if (strcmp(cur, "up") == 0 && prev && strcmp(prev, "unknown") != 0)
            return "recovered";
    }
    return NULL;
}

enum { Q_DATASET, Q_ORG, Q_PORTAL, Q_WIDE, Q_EVENT, Q_PENDING, Q_COUNT };

static const char *const sqls[Q_COUNT] = {
#define COLS                                                                                       \
    "SELECT s.id, s.subscriber, s.kinds, s.delivery, s.quiet_start, s.quiet_end,"                  \
    " s.min_severity, s.q, s.status, r.tz, s.portal, s.ttype FROM watch_subscription s"            \
    " JOIN watch_subscriber r ON r.id = s.subscriber WHERE "
    COLS "s.ttype = 'dataset' AND s.confirmed_ms IS NOT NULL AND s.portal = ?1 AND s.dataset = ?2",
    COLS "s.ttype = 'organization' AND s.confirmed_ms IS NOT NULL AND s.organization = ?3"
         " AND (s.portal IS NULL OR s.portal = ?1)",
    COLS "s.ttype = 'portal' AND s.confirmed_ms IS NOT NULL",
    COLS "s.ttype IN ('all', 'search') AND s.confirmed_ms IS NOT NULL",
#undef COLS
    "INSERT INTO watch_event(topic, kind, portal, dataset, organization, at_ms, body)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)",
    "INSERT INTO watch_pending(subscriber, subscription, event, digest, due_ms)"
    " VALUES (?, ?, ?, ?, ?)",
};

typedef struct ev {
    const char *kind, *portal, *dataset, *org, *status;
    char text[1024]; /* folded title, name, organisation */
    int severity;
    int64_t id;
} ev;

/* The item as the contract describes it (delivery.h). */
static json_t *item_json(const char *topic, const char *kind, const json_t *p, int64_t now)
{
    char at[32];
    time_t secs = (time_t)(now / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *it = json_pack("{s:s, s:s, s:s}", "topic", topic, "kind", kind, "at", at);
    const char *keys[] = {"portal", "previous", "current",   "reason",    "changes",
                          "error",  "returned", "resources", "frequency", "last_update"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        json_t *v = json_object_get(p, keys[i]);
        if (v && !json_is_null(v))
            json_object_set(it, keys[i], v);
    }
    const json_t *d = json_object_get(p, "dataset");
    if (json_is_object(d)) {
        json_t *dj = json_object();
        const char *dk[] = {"id",  "name",  "title", "organization", "organization_title",
                            "url", "status"};
        for (size_t i = 0; i < sizeof dk / sizeof *dk; i++) {
            json_t *v = json_object_get(d, dk[i]);
            if (v && !json_is_null(v))
                json_object_set(dj, dk[i], v);
        }
        json_object_set_new(it, "dataset", dj);
    }
    return it;
}

/* One candidate subscription, from an indexed query or the batch's cache. */
typedef struct cand {
    int64_t id, subscriber;
    char kinds[256], delivery[32], status[16], tz[64], portal[132];
    bool search;
    char *qfold; /* NULL: no query */
    int quiet_start, quiet_end, min_severity;
} cand;

static void cand_read(sqlite3_stmt *q, cand *c, bool fold)
{
    c->id = sqlite3_column_int64(q, 0);
    c->subscriber = sqlite3_column_int64(q, 1);
    const char *t;
    snprintf(c->kinds, sizeof c->kinds, "%s",
             (t = (const char *)sqlite3_column_text(q, 2)) ? t : "");
    snprintf(c->delivery, sizeof c->delivery, "%s",
             (t = (const char *)sqlite3_column_text(q, 3)) ? t : "");
    c->quiet_start = sqlite3_column_int(q, 4);
    c->quiet_end = sqlite3_column_int(q, 5);
    c->min_severity = sqlite3_column_int(q, 6);
    c->qfold = NULL;
    const char *qt = (const char *)sqlite3_column_text(q, 7);
    if (fold && qt && *qt) {
        size_t n = strlen(qt) + 1;
        if ((c->qfold = malloc(n)))
            watch_fold(qt, c->qfold, n);
    }
    snprintf(c->status, sizeof c->status, "%s",
             (t = (const char *)sqlite3_column_text(q, 8)) ? t : "");
    snprintf(c->tz, sizeof c->tz, "%s", (t = (const char *)sqlite3_column_text(q, 9)) ? t : "UTC");
    snprintf(c->portal, sizeof c->portal, "%s",
             (t = (const char *)sqlite3_column_text(q, 10)) ? t : "");
    t = (const char *)sqlite3_column_text(q, 11);
    c->search = t && strcmp(t, "search") == 0;
}

static int consider(const cand *c, sqlite3_stmt *ins, const ev *e, const char *needle, int64_t now,
                    const watch_match_opts *o, long *written)
{
    if (!strstr(c->kinds, needle) && !strstr(c->kinds, ",*,"))
        return 0;
    if (e->severity < c->min_severity)
        return 0;
    if (c->portal[0] && (!e->portal || strcmp(c->portal, e->portal) != 0))
        return 0;
    if (c->search && !e->dataset)
        return 0;
    if (c->status[0] && (!e->status || strcmp(c->status, e->status) != 0))
        return 0;
    if (c->qfold && (!e->dataset || !watch_search_matches(c->qfold, e->text)))
        return 0;
    watch_sched s = {0};
    if (watch_parse_delivery(c->delivery, &s))
        return 0;
    s.quiet_start = c->quiet_start;
    s.quiet_end = c->quiet_end;
    int64_t due = watch_due_ms(&s, o->host, c->tz, now, o->window_ms, e->severity >= 3);
    sqlite3_reset(ins);
    sqlite3_bind_int64(ins, 1, c->subscriber);
    sqlite3_bind_int64(ins, 2, c->id);
    sqlite3_bind_int64(ins, 3, e->id);
    sqlite3_bind_int(ins, 4, s.mode != WATCH_IMMEDIATE);
    sqlite3_bind_int64(ins, 5, due);
    if (sqlite3_step(ins) != SQLITE_DONE)
        return -1;
    (*written)++;
    return 0;
}

static int match_rows(sqlite3_stmt *q, sqlite3_stmt *ins, const ev *e, int64_t now,
                      const watch_match_opts *o, long *written)
{
    char needle[40];
    snprintf(needle, sizeof needle, ",%s,", e->kind);
    int rc;
    cand c;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        cand_read(q, &c, false); /* indexed targets carry no query */
        if (consider(&c, ins, e, needle, now, o, written))
            return -1;
    }
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Subscriptions to everything, to a whole portal and saved searches apply to
 * many events: read once per batch (through their partial indexes) and
 * evaluated in memory for each event. */
typedef struct wide {
    cand *v;
    size_t n;
} wide;

static int wide_load(sqlite3_stmt *q, wide *w)
{
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (w->n == cap) {
            cap = cap ? cap * 2 : 64;
            cand *v = realloc(w->v, cap * sizeof *v);
            if (!v)
                return -1;
            w->v = v;
        }
        cand_read(q, &w->v[w->n++], true);
    }
    return rc == SQLITE_DONE ? 0 : -1;
}

static void wide_free(wide *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->v[i].qfold);
    free(w->v);
}

static int bind_text(sqlite3_stmt *s, int i, const char *v)
{
    return v ? sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, i);
}

long watch_match_events(watch_db *w, json_t *const *topics, json_t *const *payloads, size_t n,
                        int64_t now, const watch_match_opts *o)
{
    sqlite3_stmt *st[Q_COUNT] = {0};
    long written = 0;
    int rc = 0;
    for (int i = 0; i < Q_COUNT && rc == 0; i++)
        if (sqlite3_prepare_v2(w->db, sqls[i], -1, &st[i], NULL) != SQLITE_OK)
            rc = -1;
    if (rc == 0 && watch_exec(w, "BEGIN IMMEDIATE"))
        rc = -1;
    wide wd = {0};
    if (rc == 0)
        rc = wide_load(st[Q_WIDE], &wd);
    if (rc == 0) /* portal subscriptions too: one read per batch, not per event */
        rc = wide_load(st[Q_PORTAL], &wd);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *topic = json_string_value(topics[i]);
        const json_t *p = payloads[i];
        ev e = {0};
        if (!topic || !(e.kind = watch_event_kind(topic, p)))
            continue;
        const json_t *d = json_object_get(p, "dataset");
        e.portal = jstr(p, "portal");
        e.dataset = jstr(d, "id");
        e.org = jstr(d, "organization");
        e.status = jstr(d, "status");
        e.severity = watch_kind_severity(e.kind);
        char raw[1024];
        snprintf(raw, sizeof raw, "%s %s %s %s", jstr(d, "title") ? jstr(d, "title") : "",
                 jstr(d, "name") ? jstr(d, "name") : "",
                 jstr(d, "organization_title") ? jstr(d, "organization_title") : "",
                 e.org ? e.org : "");
        watch_fold(raw, e.text, sizeof e.text);
        json_t *item = item_json(topic, e.kind, p, now);
        char *body = json_dumps(item, JSON_COMPACT);
        json_decref(item);
        sqlite3_stmt *ie = st[Q_EVENT];
        sqlite3_reset(ie);
        bind_text(ie, 1, topic);
        bind_text(ie, 2, e.kind);
        bind_text(ie, 3, e.portal);
        bind_text(ie, 4, e.dataset);
        bind_text(ie, 5, e.org);
        sqlite3_bind_int64(ie, 6, now);
        bind_text(ie, 7, body ? body : "{}");
        free(body);
        if (sqlite3_step(ie) != SQLITE_DONE) {
            rc = -1;
            break;
        }
        e.id = sqlite3_last_insert_rowid(w->db);
        int which[2], nq = 0;
        if (e.dataset) {
            which[nq++] = Q_DATASET;
            if (e.org)
                which[nq++] = Q_ORG;
        }
        for (int k = 0; k < nq && rc == 0; k++) {
            sqlite3_stmt *q = st[which[k]];
            sqlite3_reset(q);
            sqlite3_clear_bindings(q);
            bind_text(q, 1, e.portal);
            if (which[k] == Q_DATASET)
                bind_text(q, 2, e.dataset);
            if (which[k] == Q_ORG)
                bind_text(q, 3, e.org);
            rc = match_rows(q, st[Q_PENDING], &e, now, o, &written);
        }
        char needle[40];
        snprintf(needle, sizeof needle, ",%s,", e.kind);
        for (size_t k = 0; k < wd.n && rc == 0; k++)
            rc = consider(&wd.v[k], st[Q_PENDING], &e, needle, now, o, &written);
    }
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(st[i]);
    wide_free(&wd);
    if (rc == 0 && watch_exec(w, "COMMIT") == 0)
        return written;
    watch_exec(w, "ROLLBACK");
    return -1;
}
