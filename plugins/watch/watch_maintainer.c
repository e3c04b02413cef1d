/* Maintainers' alerts (the HDX freshness emailer's model, for availability):
 * a dataset that goes down and stays down for maintainer_after gets one
 * message to its CKAN maintainer_email (or author_email), a reminder every
 * maintainer_reminder (at most maintainer_max_reminders), one message to the
 * portal's escalate_to address after escalate_after, and a recovery notice
 * to whoever was told. Off by default; [watch:<portal>] turns it on.
 *
 * The state per dataset (watch_maint) is fed by the monitor's events; the
 * contacts are read with datasets.get when a message is due, so an address
 * changed on the portal is the one used. Messages wait in their own durable
 * outbox (watch_maint_msg: a maintainer is nobody's subscriber) and travel as
 * delivery.requested of kind "maintainer", keys "maint-...". Everything runs
 * on the watch plugin's one worker, never on the bus thread. */
#include "watch_maintainer.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vigia/contract/delivery.h>

#include "watch_plugin.h"
#include "watch_topics.h"

#define MIN_ 60000LL
#define HOUR_ 3600000LL
#define DAY_ 86400000LL
#define KEY_PREFIX "maint-"

static const char *const schema =
    /* one row per dataset of a portal with alerts on that is (or lately was)
     * down; last_ms outlives an outage: one message per dataset per period */
    "CREATE TABLE IF NOT EXISTS watch_maint("
    " portal TEXT NOT NULL, dataset TEXT NOT NULL, down_ms INTEGER, reason TEXT,"
    " stage INTEGER NOT NULL DEFAULT 0, escalated INTEGER NOT NULL DEFAULT 0,"
    " last_ms INTEGER, to_addr TEXT, esc_addr TEXT, dataset_json TEXT,"
    " PRIMARY KEY(portal, dataset)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS watch_maint_down ON watch_maint(down_ms)"
    " WHERE down_ms IS NOT NULL;"
    "CREATE TABLE IF NOT EXISTS watch_maint_msg("
    " id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, to_addr TEXT NOT NULL,"
    " body TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    " next_ms INTEGER NOT NULL, lease_until INTEGER, last_error TEXT,"
    " created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS watch_maint_msg_due ON watch_maint_msg(state, next_ms);"
    /* the do-not-mail list: hashes only */
    "CREATE TABLE IF NOT EXISTS watch_maint_optout("
    " addr_hash TEXT PRIMARY KEY, at_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS watch_maint_token("
    " hash TEXT PRIMARY KEY, addr_hash TEXT NOT NULL, expires_ms INTEGER NOT NULL)"
    " WITHOUT ROWID;";

/* ---- configuration ----------------------------------------------------- */

void watch_maint_free(watch_maint *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->np; i++)
        free(m->p[i].name);
    free(m->p);
    json_decref(m->inbox);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

int watch_maint_config(const vg_host *h, const vg_config *c, watch_maint **out)
{
    watch_maint *m = calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    pthread_mutex_init(&m->mu, NULL);
    int bad = 0;
    bad |= h->config_bool(h, c, "maintainer_alerts", false, &m->default_on) < 0;
    bad |= h->config_duration(h, c, "maintainer_after", DAY_, MIN_, 365 * DAY_, &m->after_ms) < 0;
    bad |= h->config_duration(h, c, "maintainer_reminder", 7 * DAY_, HOUR_, 365 * DAY_,
                              &m->reminder_ms) < 0;
    bad |= h->config_int(h, c, "maintainer_max_reminders", 2, 0, 100, &m->max_reminders) < 0;
    bad |= h->config_duration(h, c, "escalate_after", 14 * DAY_, MIN_, 3650 * DAY_,
                              &m->escalate_ms) < 0;
    bad |= h->config_string(h, c, "escalate_to", "", &m->default_escalate) < 0;
    if (m->default_escalate && *m->default_escalate && !watch_addr_ok(m->default_escalate))
        bad |= h->config_fail(h, c, "escalate_to", "expected one e-mail address") < 0;
    if (!bad && m->escalate_ms < m->after_ms)
        bad |= h->config_fail(h, c, "escalate_after", "must be at least maintainer_after") < 0;
    json_t *names = h->config_sections(h, "watch:");
    size_t n = json_is_array(names) ? json_array_size(names) : 0;
    m->p = calloc(n ? n : 1, sizeof *m->p);
    m->any_on = m->default_on;
    for (size_t i = 0; m->p && i < n; i++) {
        const char *full = json_string_value(json_array_get(names, i));
        const vg_config *ps = h->config_section(h, full);
        watch_maint_portal *p = &m->p[m->np++];
        p->name = strdup(full + strlen("watch:"));
        bad |= h->config_bool(h, ps, "maintainer_alerts", m->default_on, &p->on) < 0;
        bad |= h->config_string(h, ps, "escalate_to", m->default_escalate, &p->escalate_to) < 0;
        if (p->escalate_to && *p->escalate_to && !watch_addr_ok(p->escalate_to))
            bad |= h->config_fail(h, ps, "escalate_to", "expected one e-mail address") < 0;
        if (!p->name || !*p->name)
            bad |=
                h->config_fail(h, ps, "maintainer_alerts", "the section needs a portal name") < 0;
        m->any_on |= p->on;
    }
    json_decref(names);
    if (!m->p || bad || !out) {
        int rc = !m->p ? -ENOMEM : bad ? -EINVAL : 0;
        watch_maint_free(m);
        return rc;
    }
    m->inbox = json_array();
    if (!m->inbox) {
        watch_maint_free(m);
        return -ENOMEM;
    }
    *out = m;
    return 0;
}

/* A portal's settings: its own section, else [watch]'s defaults. */
static void portal_of(const watch_maint *m, const char *portal, bool *on, const char **esc)
{
    *on = m->default_on;
    *esc = m->default_escalate ? m->default_escalate : "";
    for (size_t i = 0; portal && i < m->np; i++)
        if (strcmp(m->p[i].name, portal) == 0) {
            *on = m->p[i].on;
            *esc = m->p[i].escalate_to ? m->p[i].escalate_to : "";
        }
}

/* ---- small helpers ------------------------------------------------------ */

static void iso_utc(int64_t ms, char *out, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static bool opted_out(watch_plugin *w, const char *addr)
{
    char h[65];
    watch_maint_addr_hash(addr, h);
    sqlite3_stmt *s = NULL;
    bool out = false;
    if (sqlite3_prepare_v2(w->db.db, "SELECT 1 FROM watch_maint_optout WHERE addr_hash = ?", -1, &s,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, h, -1, SQLITE_STATIC);
        out = sqlite3_step(s) == SQLITE_ROW;
    }
    sqlite3_finalize(s);
    return out;
}

/* ---- events: the state per dataset ------------------------------------- */

/* Bus thread: keep what matters of a status change or removal of a portal
 * with alerts on, and hand it to the worker. */
static void on_event(const char *topic, const json_t *p, void *user)
{
    watch_plugin *w = user;
    watch_maint *m = w->maint;
    const char *portal = json_string_value(json_object_get(p, VG_MONITOR_F_PORTAL));
    const json_t *ds = json_object_get(p, VG_MONITOR_F_DATASET);
    const char *id = json_string_value(json_object_get(ds, VG_MONITOR_DS_ID));
    bool on;
    const char *esc;
    portal_of(m, portal, &on, &esc);
    if (!portal || !id || !on || json_integer_value(json_object_get(p, "v")) != VG_MONITOR_V)
        return;
    const char *cur = json_string_value(json_object_get(p, VG_MONITOR_F_CURRENT));
    const char *prev = json_string_value(json_object_get(p, VG_MONITOR_F_PREVIOUS));
    const char *what;
    if (strcmp(topic, WATCH_T_REMOVED) == 0)
        what = "removed";
    else if (cur && strcmp(cur, VG_MONITOR_DATASET_DOWN) == 0)
        what = "down";
    else if (prev && strcmp(prev, VG_MONITOR_DATASET_DOWN) == 0 && cur &&
             strcmp(cur, VG_MONITOR_DATASET_UNKNOWN) != 0)
        what = "up"; /* unknown (the portal unreachable) is no recovery */
    else
        return;
    const char *reason = json_string_value(
        json_object_get(json_array_get(json_object_get(p, VG_MONITOR_F_FAILING), 0), "reason"));
    json_t *e = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:I}", "what", what, "portal", portal, "id",
                          id, "current", cur, "reason", reason, "at", (json_int_t)watch_now(w));
    bool submit = false;
    pthread_mutex_lock(&m->mu);
    if (e && json_array_append_new(m->inbox, e) == 0 && !m->drain_queued)
        submit = m->drain_queued = true;
    pthread_mutex_unlock(&m->mu);
    if (submit)
        watch_maint_kick(w);
}

static int run(watch_plugin *w, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(w->db.db, sql, -1, &s, NULL) != SQLITE_OK)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    for (int i = 0; fmt[i]; i++) {
        if (fmt[i] == 's') {
            const char *v = va_arg(ap, const char *);
            if (v)
                sqlite3_bind_text(s, i + 1, v, -1, SQLITE_TRANSIENT);
        } else
            sqlite3_bind_int64(s, i + 1, va_arg(ap, int64_t));
    }
    va_end(ap);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(s);
    return rc;
}

/* Queues one message (idempotent on its key). body: the delivery payload
 * without links, which are minted when it is sent. */
static int enqueue(watch_plugin *w, const char *key, const char *to, json_t *body, int64_t now)
{
    char *txt = json_dumps(body, JSON_COMPACT);
    if (!txt)
        return -1;
    int rc = run(w,
                 "INSERT OR IGNORE INTO watch_maint_msg(key, to_addr, body, state, next_ms,"
                 " created_ms, updated_ms) VALUES (?, ?, ?, 'pending', ?, ?, ?)",
                 "sssiii", key, to, txt, now, now, now);
    free(txt);
    return rc;
}

/* One item in delivery.h's shape, from datasets.get's answer (or, failing
 * it, the ids alone). */
static json_t *item_of(watch_plugin *w, const char *portal, const char *id, const json_t *ds,
                       const char *kind, const char *prev, const char *cur, const char *reason,
                       int64_t at)
{
    char when[32], link[1024];
    iso_utc(at, when, sizeof when);
    watch_dataset_link(w, portal, id, link, sizeof link);
    json_t *d = json_pack("{s:s, s:s}", "id", id, "vigia_url", link);
    static const char *const keys[] = {"name", "title", "organization", "organization_title",
                                       "url"};
    for (size_t i = 0; d && i < sizeof keys / sizeof *keys; i++) {
        const char *v = json_string_value(json_object_get(ds, keys[i]));
        if (v)
            json_object_set_new(d, keys[i], json_string(v));
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:o}", "topic", WATCH_T_STATUS, "kind",
                     kind, "portal", portal, "at", when, "previous", prev, "current", cur, "reason",
                     reason, "dataset", d);
}

static json_t *body_of(watch_plugin *w, const char *stage, const char *contact, json_t *item)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s?, s:[o], s:i}", "kind", VG_DELIVERY_KIND_MAINTAINER,
                     "stage", stage, "lang", w->default_lang, "tz", w->default_tz, "contact",
                     contact, "items", item, "count", 1);
}

/* Leaving "down": who was told hears it is back; nothing else is sent.
 * 0, or -1 when a write failed (the caller rolls back). */
static int on_up(watch_plugin *w, const char *portal, const char *id, const char *cur, int64_t at)
{
    sqlite3_stmt *s = NULL;
    int64_t down = 0;
    char to[256] = "", esc[256] = "";
    json_t *ds = NULL;
    if (sqlite3_prepare_v2(w->db.db,
                           "SELECT down_ms, coalesce(to_addr, ''), coalesce(esc_addr, ''),"
                           " coalesce(dataset_json, '{}')"
                           " FROM watch_maint WHERE portal = ? AND dataset = ?"
                           " AND down_ms IS NOT NULL",
                           -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, portal, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, id, -1, SQLITE_STATIC);
        if (sqlite3_step(s) == SQLITE_ROW) {
            down = sqlite3_column_int64(s, 0);
            snprintf(to, sizeof to, "%s", (const char *)sqlite3_column_text(s, 1));
            snprintf(esc, sizeof esc, "%s", (const char *)sqlite3_column_text(s, 2));
            /* our own text, written by json_dumps in send_due() */
            ds = json_loads((const char *)sqlite3_column_text(s, 3), 0, NULL); /* json-own-data */
        }
    }
    sqlite3_finalize(s);
    if (!down) {
        json_decref(ds);
        return 0;
    }
    int bad = 0;
    const char *addrs[2] = {to, esc};
    for (int i = 0; i < 2; i++) {
        if (!*addrs[i] || (i == 1 && strcmp(esc, to) == 0))
            continue;
        char key[600];
        snprintf(key, sizeof key, KEY_PREFIX "%s-%s-%lld-recovered-%d", portal, id, (long long)down,
                 i);
        /* the dataset's fields as the alert had them */
        json_t *b = body_of(w, "recovery", NULL,
                            item_of(w, portal, id, ds, "recovered", VG_MONITOR_DATASET_DOWN,
                                    cur ? cur : VG_MONITOR_DATASET_UP, NULL, at));
        bad |= !b || enqueue(w, key, addrs[i], b, at) != 0;
        json_decref(b);
    }
    json_decref(ds);
    bad |= run(
        w,
        "UPDATE watch_maint SET down_ms = NULL, reason = NULL, stage = 0, escalated = 0,"
        " to_addr = NULL, esc_addr = NULL, dataset_json = NULL WHERE portal = ? AND dataset = ?",
        "ss", portal, id);
    /* never told about anything: nothing to remember */
    bad |= run(w, "DELETE FROM watch_maint WHERE portal = ? AND dataset = ? AND last_ms IS NULL",
               "ss", portal, id);
    return bad ? -1 : 0;
}

/* One transaction for the batch: 0, or -1 and nothing written. */
static int apply_events(watch_plugin *w, json_t *batch)
{
    size_t i;
    json_t *e;
    int bad = 0;
    if (watch_exec(&w->db, "BEGIN IMMEDIATE"))
        return -1;
    json_array_foreach (batch, i, e) {
        const char *what = json_string_value(json_object_get(e, "what"));
        const char *portal = json_string_value(json_object_get(e, "portal"));
        const char *id = json_string_value(json_object_get(e, "id"));
        int64_t at = json_integer_value(json_object_get(e, "at"));
        if (strcmp(what, "down") == 0)
            /* a new outage keeps last_ms: the period guard spans outages */
            bad |=
                run(w,
                    "INSERT INTO watch_maint(portal, dataset, down_ms, reason) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT(portal, dataset) DO UPDATE SET"
                    " down_ms = coalesce(down_ms, excluded.down_ms),"
                    " reason = coalesce(excluded.reason, reason)",
                    "ssis", portal, id, at, json_string_value(json_object_get(e, "reason")));
        else if (strcmp(what, "up") == 0)
            bad |= on_up(w, portal, id, json_string_value(json_object_get(e, "current")), at);
        else
            bad |= run(w, "DELETE FROM watch_maint WHERE portal = ? AND dataset = ?", "ss", portal,
                       id);
    }
    if (bad || watch_exec(&w->db, "COMMIT")) {
        watch_exec(&w->db, "ROLLBACK");
        return -1;
    }
    return 0;
}

/* ---- the scan: who is due a message ------------------------------------ */

typedef struct due {
    char portal[128], id[256], reason[64], told[256];
    int64_t down_ms, last_ms;
    int stage, escalated;
} due;

/* Reads the contact with datasets.get (the worker thread, no lock held). */
static json_t *lookup(watch_plugin *w, const char *portal, const char *id, bool *gone)
{
    json_t *res = NULL;
    json_t *params = json_pack("{s:s, s:s}", "id", id, "portal", portal);
    int rc = vg_bus_call(w->host->bus, VG_MONITOR_M_DATASETS_GET, params, &res);
    json_decref(params);
    *gone = false;
    if (rc < 0) {
        const char *code =
            json_string_value(json_object_get(json_object_get(res, "error"), "code"));
        *gone = code && strcmp(code, "NOT_FOUND") == 0;
        json_decref(res);
        return NULL;
    }
    return res;
}

/* Decides and queues the messages of one due dataset. Caller holds db.mu
 * inside a transaction; 0, or -1 when a write failed (it rolls back). */
static int send_due(watch_plugin *w, const due *d, const json_t *ds, int64_t now)
{
    watch_maint *m = w->maint;
    bool on;
    const char *esc;
    int bad = 0;
    portal_of(m, d->portal, &on, &esc);
    if (!on) /* turned off since: forget it */
        return run(w, "DELETE FROM watch_maint WHERE portal = ? AND dataset = ?", "ss", d->portal,
                   d->id);
    const json_t *c = json_object_get(ds, "contact");
    char to[256] = "";
    const char *name = NULL;
    if (watch_first_address(json_string_value(json_object_get(c, "maintainer_email")), to,
                            sizeof to))
        name = json_string_value(json_object_get(c, "maintainer"));
    else if (watch_first_address(json_string_value(json_object_get(c, "author_email")), to,
                                 sizeof to))
        name = json_string_value(json_object_get(c, "author"));
    if (to[0] && opted_out(w, to))
        to[0] = '\0';
    int64_t down_for = now - d->down_ms;
    const char *reason = d->reason[0] ? d->reason : NULL;
    char key[600];
    /* what the recovery notice will say of the dataset */
    json_t *keep = json_object();
    static const char *const keys[] = {"name", "title", "organization", "organization_title",
                                       "url"};
    for (size_t i = 0; keep && i < sizeof keys / sizeof *keys; i++)
        if (json_is_string(json_object_get(ds, keys[i])))
            json_object_set(keep, keys[i], json_object_get(ds, keys[i]));
    char *kept = keep ? json_dumps(keep, JSON_COMPACT) : NULL;
    json_decref(keep);
    bad |= run(w, "UPDATE watch_maint SET dataset_json = ? WHERE portal = ? AND dataset = ?", "sss",
               kept, d->portal, d->id);
    free(kept);
    /* the maintainer: first message, then reminders, one per period */
    bool period = d->last_ms == 0 || now - d->last_ms >= m->reminder_ms;
    const char *stage = NULL;
    if (d->stage == 0 && down_for >= m->after_ms && period)
        stage = "first";
    else if (d->stage >= 1 && d->stage - 1 < m->max_reminders && period)
        stage = "reminder";
    if (stage) {
        if (to[0]) {
            snprintf(key, sizeof key, KEY_PREFIX "%s-%s-%lld-%d", d->portal, d->id,
                     (long long)d->down_ms, d->stage);
            json_t *b = body_of(w, stage, name,
                                item_of(w, d->portal, d->id, ds, "down", NULL,
                                        VG_MONITOR_DATASET_DOWN, reason, d->down_ms));
            bad |= !b || enqueue(w, key, to, b, now) != 0;
            json_decref(b);
        }
        /* counted even without an address: the next try is a period later */
        bad |= run(
            w,
            "UPDATE watch_maint SET stage = stage + 1, last_ms = ?, to_addr = coalesce(?, to_addr)"
            " WHERE portal = ? AND dataset = ?",
            "isss", now, to[0] ? to : NULL, d->portal, d->id);
    }
    /* the portal's escalation address, once per outage (a portal without
     * one passes the stage too, so the scan stops looking at it) */
    if (!d->escalated && down_for >= m->escalate_ms) {
        if (*esc && !opted_out(w, esc)) {
            snprintf(key, sizeof key, KEY_PREFIX "%s-%s-%lld-escalation", d->portal, d->id,
                     (long long)d->down_ms);
            json_t *b = body_of(w, "escalation", name,
                                item_of(w, d->portal, d->id, ds, "down", NULL,
                                        VG_MONITOR_DATASET_DOWN, reason, d->down_ms));
            /* who was told before: this outage's maintainer address, if any */
            const char *told = d->told[0] ? d->told : to;
            if (b)
                json_object_set_new(b, "maintainer_email", json_string(told));
            bad |= !b || enqueue(w, key, esc, b, now) != 0;
            json_decref(b);
        }
        bad |= run(
            w,
            "UPDATE watch_maint SET escalated = 1, esc_addr = ? WHERE portal = ? AND dataset = ?",
            "sss", *esc ? esc : NULL, d->portal, d->id);
    }
    return bad ? -1 : 0;
}

static void scan(watch_plugin *w, int64_t now)
{
    watch_maint *m = w->maint;
    due *list = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *s = NULL;
    pthread_mutex_lock(&w->db.mu);
    /* due: a maintainer stage (first or a reminder) a period after the last
     * message, or the escalation; each row passes each stage once */
    if (sqlite3_prepare_v2(
            w->db.db,
            "SELECT portal, dataset, down_ms, coalesce(last_ms, 0), stage, escalated,"
            " coalesce(reason, ''), coalesce(to_addr, '') FROM watch_maint WHERE down_ms IS NOT "
            "NULL"
            " AND down_ms <= ?1 AND ((stage <= ?2 AND coalesce(last_ms, 0) <= ?3)"
            " OR (escalated = 0 AND down_ms <= ?4)) ORDER BY down_ms LIMIT 1000",
            -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, now - m->after_ms);
        sqlite3_bind_int64(s, 2, m->max_reminders);
        sqlite3_bind_int64(s, 3, now - m->reminder_ms);
        sqlite3_bind_int64(s, 4, now - m->escalate_ms);
        while (sqlite3_step(s) == SQLITE_ROW) {
            int64_t last = sqlite3_column_int64(s, 3);
            int stage = sqlite3_column_int(s, 4), esc = sqlite3_column_int(s, 5);
            int64_t down = sqlite3_column_int64(s, 2);
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                due *nl = realloc(list, cap * sizeof *nl);
                if (!nl)
                    break;
                list = nl;
            }
            due *d = &list[n++];
            snprintf(d->portal, sizeof d->portal, "%s", (const char *)sqlite3_column_text(s, 0));
            snprintf(d->id, sizeof d->id, "%s", (const char *)sqlite3_column_text(s, 1));
            snprintf(d->reason, sizeof d->reason, "%s", (const char *)sqlite3_column_text(s, 6));
            snprintf(d->told, sizeof d->told, "%s", (const char *)sqlite3_column_text(s, 7));
            d->down_ms = down;
            d->last_ms = last;
            d->stage = stage;
            d->escalated = esc;
        }
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&w->db.mu);
    for (size_t i = 0; i < n; i++) {
        bool gone;
        json_t *ds = lookup(w, list[i].portal, list[i].id, &gone);
        if (!ds && !gone)
            continue; /* the monitor is not answering: the next scan tries again */
        pthread_mutex_lock(&w->db.mu);
        if (!watch_exec(&w->db, "BEGIN IMMEDIATE")) {
            int rc = gone ? run(w, "DELETE FROM watch_maint WHERE portal = ? AND dataset = ?", "ss",
                                list[i].portal, list[i].id)
                          : send_due(w, &list[i], ds, now);
            if (rc || watch_exec(&w->db, "COMMIT")) {
                /* nothing of it is kept: the next scan tries it again */
                VG_WARN(w->host, "maintainer alert for %s/%s not stored: %s", list[i].portal,
                        list[i].id, sqlite3_errmsg(w->db.db));
                watch_exec(&w->db, "ROLLBACK");
            }
        }
        pthread_mutex_unlock(&w->db.mu);
        json_decref(ds);
    }
    free(list);
}

/* ---- the outbox: its rows as payloads (the loop is watch_box_*) --------- */

static int new_optout_token(watch_plugin *w, const char *addr, int64_t now, char tok[44])
{
    char hash[65], ah[65];
    if (watch_token_new(tok, hash))
        return -1;
    watch_maint_addr_hash(addr, ah);
    return run(w, "INSERT INTO watch_maint_token(hash, addr_hash, expires_ms) VALUES (?, ?, ?)",
               "ssi", hash, ah, now + w->manage_ttl_ms);
}

const watch_box watch_maint_box = {"watch_maint_msg", NULL};

/* One due message as its delivery.requested payload, with a fresh opt-out
 * link; an address that opted out since is dead-lettered. */
static json_t *build(watch_plugin *w, sqlite3_stmt *s, int64_t now, const char **dead)
{
    const char *key = (const char *)sqlite3_column_text(s, 1);
    const char *to = (const char *)sqlite3_column_text(s, 2);
    if (opted_out(w, to)) {
        *dead = "opted out";
        return NULL;
    }
    /* our own text, written by json_dumps in enqueue() */
    json_t *p = json_loads((const char *)sqlite3_column_text(s, 3), 0, NULL); /* json-own-data */
    char tok[44], url[512], list_id[300];
    if (!p || new_optout_token(w, to, now, tok)) {
        json_decref(p);
        return NULL;
    }
    snprintf(url, sizeof url, "%s/api/maintainers/optout?token=%s", w->public_url, tok);
    const char *portal = json_string_value(
        json_object_get(json_array_get(json_object_get(p, "items"), 0), "portal"));
    snprintf(list_id, sizeof list_id, "maintainers.%s.vigia.%s", portal ? portal : "all",
             w->list_host);
    json_object_set_new(p, "v", json_integer(VG_DELIVERY_V));
    json_object_set_new(p, "key", json_string(key));
    json_object_set_new(p, "channel", json_string("email"));
    json_object_set_new(p, "to", json_string(to));
    json_object_set_new(p, "links", json_pack("{s:s, s:s}", "unsubscribe", url, "manage", ""));
    json_object_set_new(p, "list_id", json_string(list_id));
    return p;
}

bool watch_maint_key(const char *key)
{
    return key && strncmp(key, KEY_PREFIX, strlen(KEY_PREFIX)) == 0;
}

/* ---- the job ------------------------------------------------------------ */

static void housekeeping(watch_plugin *w, int64_t now)
{
    watch_maint *m = w->maint;
    run(w, "DELETE FROM watch_maint_token WHERE expires_ms <= ?", "i", now);
    run(w, "DELETE FROM watch_maint_msg WHERE state IN ('sent', 'dead') AND updated_ms <= ?", "i",
        now - w->outbox_retention_ms);
    /* back up and quiet for a period: the address is forgotten */
    run(w, "DELETE FROM watch_maint WHERE down_ms IS NULL AND coalesce(last_ms, 0) <= ?", "i",
        now - m->reminder_ms);
}

static int maint_job(vg_job *job, void *user)
{
    watch_plugin *w = user;
    watch_maint *m = w->maint;
    atomic_store(&m->tick_queued, false);
    if (vg_job_cancelled(job))
        return VG_JOB_DONE;
    pthread_mutex_lock(&m->mu);
    json_t *batch = m->inbox;
    m->inbox = json_array();
    m->drain_queued = false;
    pthread_mutex_unlock(&m->mu);
    int64_t now = watch_now(w);
    pthread_mutex_lock(&w->db.mu);
    if (json_array_size(batch) && apply_events(w, batch) < 0) {
        /* back in front of what came since: applied by the next run */
        VG_WARN(w->host, "maintainers' alerts: %zu events not stored (%s); will retry",
                json_array_size(batch), sqlite3_errmsg(w->db.db));
        pthread_mutex_lock(&m->mu);
        json_array_extend(batch, m->inbox);
        json_decref(m->inbox);
        m->inbox = batch;
        batch = NULL;
        pthread_mutex_unlock(&m->mu);
    }
    if (now - m->last_house >= MIN_ || now < m->last_house) {
        housekeeping(w, now);
        m->last_house = now;
    }
    pthread_mutex_unlock(&w->db.mu);
    json_decref(batch);
    /* the scan reads every long-down dataset: not more than twice a minute
     * of the clock (a test clock jumps, and a jump is a reason to look) */
    if (now - m->last_scan >= 30000 || now < m->last_scan) {
        m->last_scan = now;
        scan(w, now);
    }
    pthread_mutex_lock(&w->db.mu);
    watch_box_expire_leases(&w->db, &watch_maint_box, now, &w->oo);
    json_t *out = watch_lease_due(w, &watch_maint_box,
                                  "SELECT id, key, to_addr, body FROM watch_maint_msg WHERE state ="
                                  " 'pending' AND next_ms <= ?1 ORDER BY next_ms LIMIT ?2",
                                  100, build, now);
    pthread_mutex_unlock(&w->db.mu);
    watch_publish_leased(w, &watch_maint_box, out);
    json_decref(out);
    return VG_JOB_DONE;
}

void watch_maint_kick(watch_plugin *w)
{
    watch_maint *m = w->maint;
    bool expected = false;
    if (!m || !m->any_on)
        return;
    if (atomic_compare_exchange_strong(&m->tick_queued, &expected, true) &&
        w->host->workq_submit(w->q, maint_job, w, NULL) != 0)
        atomic_store(&m->tick_queued, false);
}

int watch_maint_init(watch_plugin *w)
{
    int rc;
    if (watch_exec(&w->db, schema))
        return w->host->fail(w->host, "maintainer tables: %s", sqlite3_errmsg(w->db.db));
    /* the opt-out link of a mail sent earlier keeps working when it is off */
    if ((rc = watch_maint_optout_register(w)) < 0)
        return rc;
    if (!w->maint->any_on)
        return 0;
    const char *topics[] = {WATCH_T_STATUS, WATCH_T_REMOVED};
    for (size_t i = 0; i < 2 && rc >= 0; i++)
        rc = vg_bus_subscribe(w->host->bus, topics[i], on_event, w, NULL, NULL);
    return rc < 0 ? rc : 0;
}
