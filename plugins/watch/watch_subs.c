/* What a subscription request says (target and preferences) and storing
 * it, shared by the public HTTP API (e-mail, double opt-in) and the
 * watch.subscribe method (channels that vouch for consent themselves). */
#include "watch_plugin.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <vigia/contract/delivery.h>

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int fail(watch_err *e, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char what[200];
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(e->msg, sizeof e->msg, "%s: %s", field, what);
    return -1;
}

static bool short_str(const char *s, size_t max) { return s && *s && strlen(s) <= max; }

int watch_sub_read_target(const json_t *t, watch_sub_req *r, watch_err *e)
{
    const char *type = jstr(t, "type"), *portal = jstr(t, "portal"), *id = jstr(t, "id");
    const char *org = jstr(t, "organization"), *q = jstr(t, "q"), *status = jstr(t, "status");
    if (!type)
        return fail(e, "target.type", "expected dataset, organization, portal, search or all");
    if (strcmp(type, "organization") == 0 && !org)
        org = id, id = NULL;
    const char *need = NULL;
    if (strcmp(type, "dataset") == 0) {
        if (!short_str(portal, 128) || !short_str(id, 256))
            need = "target.portal and target.id: a dataset needs both (at most 128/256 bytes)";
        org = q = status = NULL;
    } else if (strcmp(type, "organization") == 0) {
        if (!short_str(org, 256))
            need = "target.organization: required (at most 256 bytes)";
        id = q = status = NULL;
    } else if (strcmp(type, "portal") == 0) {
        if (!short_str(portal, 128))
            need = "target.portal: required (at most 128 bytes)";
        id = org = q = status = NULL;
    } else if (strcmp(type, "search") == 0) {
        if (!short_str(q, 200) && !short_str(status, 16))
            need = "target.q or target.status: a search needs one (q at most 200 bytes)";
        id = org = NULL;
    } else if (strcmp(type, "all") == 0) {
        portal = id = org = q = status = NULL;
    } else {
        need = "target.type: expected dataset, organization, portal, search or all";
    }
    if (need) {
        snprintf(e->msg, sizeof e->msg, "%s", need);
        return -1;
    }
    r->type = type, r->portal = portal, r->id = id, r->org = org, r->q = q, r->status = status;
    return 0;
}

int watch_sub_read_prefs(watch_plugin *w, const json_t *b, watch_sub_req *p, bool create,
                         watch_err *e)
{
    json_t *kinds = json_object_get(b, "kinds");
    p->kinds[0] = '\0';
    if (kinds || create) {
        if (!kinds) {
            snprintf(p->kinds, sizeof p->kinds,
                     ",down,degraded,recovered,removed,added,empty,stale,recreated,format_drift,");
        } else {
            if (!json_is_array(kinds) || json_array_size(kinds) == 0 || json_array_size(kinds) > 16)
                return fail(e, "kinds",
                            "expected an array of 1 to 16 kinds, e.g. [\"down\", \"recovered\"]");
            size_t i, o = 1;
            json_t *k;
            p->kinds[0] = ',';
            json_array_foreach (kinds, i, k) {
                const char *s = json_string_value(k);
                if (!s || (!watch_kind_valid(s) && strcmp(s, "*") != 0))
                    return fail(e, "kinds",
                                "each kind is a lower-case word (down, degraded, recovered, "
                                "removed, added, modified, empty, stale, refreshed, "
                                "recreated, format_drift, ...)");
                o += (size_t)snprintf(p->kinds + o, sizeof p->kinds - o, "%s,", s);
            }
        }
    }
    p->delivery = jstr(b, "delivery");
    if (json_object_get(b, "delivery") && !p->delivery)
        return fail(e, "delivery", "expected a string");
    if (!p->delivery && create)
        p->delivery = "immediate";
    if (p->delivery && watch_parse_delivery(p->delivery, &p->sched))
        return fail(e, "delivery",
                    "expected immediate, hourly, daily@HH:MM or weekly@DAY@HH:MM (DAY: sun..sat)");
    p->quiet = jstr(b, "quiet_hours");
    p->quiet_set = json_object_get(b, "quiet_hours") != NULL;
    p->qs = (watch_sched){.quiet_start = -1, .quiet_end = -1};
    if (p->quiet && watch_parse_quiet(p->quiet, &p->qs))
        return fail(e, "quiet_hours", "expected HH:MM-HH:MM (local time), e.g. 22:00-07:00");
    const char *sev = jstr(b, "min_severity");
    p->min_severity = 0;
    if (sev && !(p->min_severity = watch_severity_parse(sev)))
        return fail(e, "min_severity", "expected info, warning or critical");
    if (!sev && create)
        p->min_severity = 1;
    p->lang = jstr(b, "lang");
    if (p->lang && strcmp(p->lang, "es") && strcmp(p->lang, "en"))
        return fail(e, "lang", "expected es or en");
    if (!p->lang && create)
        p->lang = w->default_lang;
    p->tz = jstr(b, "tz");
    if (p->tz && w->host->tz_info(w->host, p->tz, 0, &(vg_tz_info){0}) != 0)
        return fail(e, "tz", "expected an IANA time zone name, e.g. America/Santiago");
    if (!p->tz && create)
        p->tz = w->default_tz;
    return 0;
}

static int64_t step_id(sqlite3_stmt *s)
{
    int64_t id = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    return id;
}

int watch_sub_store(watch_plugin *w, const char *channel, const char *address,
                    const watch_sub_req *p, bool confirmed, int64_t *sid_out, int64_t *subid_out)
{
    int64_t now = watch_now(w);
    pthread_mutex_lock(&w->db.mu);
    int ok = watch_exec(&w->db, "BEGIN IMMEDIATE") == 0;
    sqlite3_stmt *s = NULL;
    /* an existing subscriber keeps its language and zone: only a manage
     * token may change them */
    ok = ok && sqlite3_prepare_v2(w->db.db,
                                  "INSERT INTO watch_subscriber(channel, address, lang, tz,"
                                  " created_ms) VALUES (?1, ?2, ?3, ?4, ?5)"
                                  " ON CONFLICT(channel, address) DO UPDATE SET"
                                  " address = excluded.address RETURNING id",
                                  -1, &s, NULL) == SQLITE_OK;
    int64_t sid = 0, subid = 0;
    if (ok) {
        sqlite3_bind_text(s, 1, channel, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, address, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, p->lang, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, p->tz, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 5, now);
        ok = (sid = step_id(s)) > 0;
    }
    s = NULL;
    ok = ok && sqlite3_prepare_v2(w->db.db,
                                  "INSERT INTO watch_subscription(subscriber, ttype, portal,"
                                  " dataset, organization, q, status, kinds, delivery,"
                                  " quiet_start, quiet_end, min_severity, created_ms, expires_ms,"
                                  " confirmed_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                                  " RETURNING id",
                                  -1, &s, NULL) == SQLITE_OK;
    if (ok) {
        const char *vals[] = {p->type, p->portal, p->id,    p->org,
                              p->q,    p->status, p->kinds, p->delivery};
        sqlite3_bind_int64(s, 1, sid);
        for (int i = 0; i < 8; i++)
            if (vals[i])
                sqlite3_bind_text(s, 2 + i, vals[i], -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 10, p->qs.quiet_start);
        sqlite3_bind_int(s, 11, p->qs.quiet_end);
        sqlite3_bind_int(s, 12, p->min_severity);
        sqlite3_bind_int64(s, 13, now);
        if (confirmed)
            sqlite3_bind_int64(s, 15, now);
        else
            sqlite3_bind_int64(s, 14, now + w->confirm_ttl_ms);
        ok = (subid = step_id(s)) > 0;
    }
    s = NULL;
    /* the double opt-in: the only message an unconfirmed address receives */
    ok = ok && (confirmed || sqlite3_prepare_v2(w->db.db,
                                                "INSERT INTO watch_outbox(key, subscriber,"
                                                " subscription, kind, body, state, next_ms,"
                                                " created_ms, updated_ms) VALUES (?1, ?2, ?3,"
                                                " '" VG_DELIVERY_KIND_CONFIRM "',"
                                                " '{\"count\":0,\"items\":[]}', 'pending', ?4,"
                                                " ?4, ?4)",
                                                -1, &s, NULL) == SQLITE_OK);
    if (ok && !confirmed) {
        char key[48];
        snprintf(key, sizeof key, "confirm-%lld", (long long)subid);
        sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 2, sid);
        sqlite3_bind_int64(s, 3, subid);
        sqlite3_bind_int64(s, 4, now);
        ok = sqlite3_step(s) == SQLITE_DONE;
    }
    sqlite3_finalize(s);
    ok = ok && watch_exec(&w->db, "COMMIT") == 0;
    if (!ok) {
        VG_ERROR(w->host, "storing a subscription failed: %s", sqlite3_errmsg(w->db.db));
        watch_exec(&w->db, "ROLLBACK");
    }
    pthread_mutex_unlock(&w->db.mu);
    if (!ok)
        return -1;
    *sid_out = sid;
    *subid_out = subid;
    return 0;
}

int watch_token_store(watch_plugin *w, int64_t subscriber, int64_t subscription,
                      const char *purpose, int64_t expires, char tok[44])
{
    char hash[65];
    if (watch_token_new(tok, hash))
        return -1;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(w->db.db,
                           "INSERT INTO watch_token(hash, subscriber, subscription, purpose,"
                           " expires_ms) VALUES (?, ?, ?, ?, ?)",
                           -1, &s, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(s, 1, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, subscriber);
    if (subscription > 0)
        sqlite3_bind_int64(s, 3, subscription);
    sqlite3_bind_text(s, 4, purpose, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, expires);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(s);
    return rc;
}

long watch_erase_subscriber(watch_plugin *w, const char *channel, const char *address, int64_t id)
{
    sqlite3_stmt *s = NULL;
    long n = -1;
    /* pending items have no foreign key (a storm writes too many): by hand */
    static const char *const sql[2][2] = {
        {"DELETE FROM watch_pending WHERE subscriber IN (SELECT id FROM watch_subscriber"
         " WHERE channel = ?1 AND address = ?2)",
         "DELETE FROM watch_subscriber WHERE channel = ?1 AND address = ?2"},
        {"DELETE FROM watch_pending WHERE subscriber = ?3",
         "DELETE FROM watch_subscriber WHERE id = ?3"}};
    int byid = channel == NULL;
    pthread_mutex_lock(&w->db.mu);
    int ok = watch_exec(&w->db, "BEGIN IMMEDIATE") == 0;
    for (int i = 0; ok && i < 2; i++) {
        ok = sqlite3_prepare_v2(w->db.db, sql[byid][i], -1, &s, NULL) == SQLITE_OK;
        if (ok && !byid) {
            sqlite3_bind_text(s, 1, channel, -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 2, address, -1, SQLITE_STATIC);
        } else if (ok) {
            sqlite3_bind_int64(s, 3, id);
        }
        ok = ok && sqlite3_step(s) == SQLITE_DONE;
        if (ok && i == 1)
            n = sqlite3_changes(w->db.db);
        sqlite3_finalize(s);
        s = NULL;
    }
    ok = ok && watch_exec(&w->db, "COMMIT") == 0;
    if (!ok) {
        VG_ERROR(w->host, "erasing a subscriber failed: %s", sqlite3_errmsg(w->db.db));
        watch_exec(&w->db, "ROLLBACK");
        n = -1;
    }
    pthread_mutex_unlock(&w->db.mu);
    return n;
}
