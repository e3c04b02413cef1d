/* The subscription API: subscribe (double opt-in), confirm, manage, edit,
 * unsubscribe (RFC 8058 one-click target) and erase. No answer tells whether
 * an address is known. */
#include "watch_plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vigia/contract/delivery.h>

#define HOUR_MS 3600000LL
#define BODY_MAX 16384

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int bad(vg_http_request *req, const char *field, const char *what)
{
    return vg_http_reply_error(req, 400, "INVALID_ARGUMENT", "%s: %s", field, what);
}

/* Per-IP limit on every public endpoint. */
static int over_ip_limit(watch_plugin *w, vg_http_request *req)
{
    char key[96];
    const char *ip = vg_http_remote_addr(req);
    snprintf(key, sizeof key, "req|%s", ip ? ip : "?");
    if (!watch_limit_hit(w->limits, key, w->lim_requests, 60000, w->host->now_mono_ms(w->host)))
        return 0;
    vg_http_set_header(req, "Retry-After", "60");
    vg_http_reply_error(req, 429, "RATE_LIMITED",
                        "remote address: at most %lld requests per minute to the subscription "
                        "endpoints",
                        w->lim_requests);
    return 1;
}

static bool email_ok(const char *e)
{
    size_t n = e ? strlen(e) : 0;
    if (n < 3 || n > 254)
        return false;
    const char *at = strchr(e, '@');
    if (!at || at == e || strchr(at + 1, '@') || !strchr(at + 1, '.') || at[1] == '.' ||
        e[n - 1] == '.' || at - e > 64)
        return false;
    for (const char *p = e; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '<' || *p == '>' || *p == ',' || *p == ';' ||
            *p == '"' || *p == '\\' || (unsigned char)*p >= 0x7f)
            return false;
    return true;
}

/* Lower-cases the address: Alice@ and alice@ are one subscriber (and one
 * rate-limit bucket), as every mail provider in practice treats them. */
static void email_norm(const char *in, char *out, size_t size)
{
    snprintf(out, size, "%s", in);
    for (char *p = out; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p += 32;
}

/* The per-address bucket: a digest, so long addresses never share one. */
static bool addr_key(const char *addr, char *key, size_t size)
{
    char h[65];
    watch_token_hash(addr, h);
    snprintf(key, size, "addr|%s", h);
    return true;
}

static int bad_err(vg_http_request *req, const watch_err *e)
{
    return vg_http_reply_error(req, 400, "INVALID_ARGUMENT", "%s", e->msg);
}

/* The request's JSON object, or NULL once the error is answered (413, 400
 * with `what` when the body is not an object). */
static json_t *read_object(watch_plugin *w, vg_http_request *req, const char *what)
{
    const char *data;
    size_t len;
    if (vg_http_body(req, BODY_MAX, &data, &len) != 0) {
        vg_http_reply_error(req, 413, "TOO_LARGE", "body: at most %d bytes", BODY_MAX);
        return NULL;
    }
    json_error_t jerr;
    json_t *b = w->host->json_parse(w->host, data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(b)) {
        json_decref(b);
        bad(req, "body", what);
        return NULL;
    }
    return b;
}

static int h_subscribe(vg_http_request *req, void *user)
{
    watch_plugin *w = user;
    if (over_ip_limit(w, req))
        return 0;
    json_t *b = read_object(w, req, "expected a JSON object {email, target, kinds, ...}");
    if (!b)
        return 0;
    int rc = 0;
    const char *email = jstr(b, "email");
    watch_sub_req p = {0};
    watch_err e;
    if (!email_ok(email)) {
        rc = bad(req, "email", "expected an e-mail address (at most 254 bytes)");
        goto out;
    }
    if (watch_sub_read_target(json_object_get(b, "target"), &p, &e) ||
        watch_sub_read_prefs(w, b, &p, true, &e)) {
        rc = bad_err(req, &e);
        goto out;
    }
    char addr[256];
    email_norm(email, addr, sizeof addr);
    /* confirmation mails: per address, per IP, global */
    int64_t mono = w->host->now_mono_ms(w->host);
    char key[320];
    const char *ip = vg_http_remote_addr(req);
    snprintf(key, sizeof key, "ip|%s", ip ? ip : "?");
    const char *lim_field = NULL;
    long long lim = 0;
    if (watch_limit_hit(w->limits, "global", w->lim_global, HOUR_MS, mono))
        lim_field = "server", lim = w->lim_global;
    else if (watch_limit_hit(w->limits, key, w->lim_ip, HOUR_MS, mono))
        lim_field = "remote address", lim = w->lim_ip;
    else if (addr_key(addr, key, sizeof key) &&
             watch_limit_hit(w->limits, key, w->lim_addr, HOUR_MS, mono))
        lim_field = "email", lim = w->lim_addr;
    if (lim_field) {
        vg_http_set_header(req, "Retry-After", "3600");
        rc = vg_http_reply_error(req, 429, "RATE_LIMITED",
                                 "%s: at most %lld confirmation requests per hour", lim_field, lim);
        goto out;
    }
    if (w->host->struct_size >= offsetof(vg_host, storage_ok) + sizeof(void *) &&
        !w->host->storage_ok(w->host, NULL, 0)) {
        rc = vg_http_reply_error(req, 503, "UNAVAILABLE", "storage: the database is not writable");
        goto out;
    }
    int64_t sid, subid;
    if (watch_sub_store(w, "email", addr, &p, false, &sid, &subid)) {
        rc = vg_http_reply_error(req, 503, "UNAVAILABLE", "storage: could not save the request");
        goto out;
    }
    watch_kick(w);
    /* the same answer for a new, a known or a confirmed address */
    rc = vg_http_reply_json(req, 202,
                            json_pack("{s:s, s:s}", "status", "pending", "message",
                                      "If this address can receive mail, a confirmation link has "
                                      "been sent to it. Nothing else is sent before it is "
                                      "followed."));
out:
    json_decref(b);
    return rc;
}

/* token (query) -> subscriber id for `purpose`; replies 404 itself on failure. */
static int64_t token_owner(watch_plugin *w, vg_http_request *req, const char *purpose,
                           int64_t *subscription)
{
    char tok[128], hash[65];
    if (vg_http_query(req, "token", tok, sizeof tok) <= 0) {
        vg_http_reply_error(req, 400, "INVALID_ARGUMENT",
                            "token: required (the link from the message), at most 127 bytes");
        return -1;
    }
    watch_token_hash(tok, hash);
    sqlite3_stmt *s = NULL;
    int64_t owner = 0;
    pthread_mutex_lock(&w->db.mu);
    if (sqlite3_prepare_v2(w->db.db,
                           "SELECT subscriber, coalesce(subscription, 0) FROM watch_token"
                           " WHERE hash = ?1 AND purpose = ?2 AND expires_ms > ?3",
                           -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, hash, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, purpose, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, watch_now(w));
        if (sqlite3_step(s) == SQLITE_ROW) {
            owner = sqlite3_column_int64(s, 0);
            if (subscription)
                *subscription = sqlite3_column_int64(s, 1);
        }
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&w->db.mu);
    if (owner <= 0) {
        vg_http_reply_error(req, 404, "NOT_FOUND", "token: unknown or expired");
        return -1;
    }
    return owner;
}

static long run_owned(watch_plugin *w, const char *sql, int64_t a, int64_t b)
{
    sqlite3_stmt *s = NULL;
    long n = -1;
    pthread_mutex_lock(&w->db.mu);
    if (sqlite3_prepare_v2(w->db.db, sql, -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, a);
        if (sqlite3_bind_parameter_count(s) >= 2)
            sqlite3_bind_int64(s, 2, b);
        if (sqlite3_bind_parameter_count(s) >= 3)
            sqlite3_bind_int64(s, 3, watch_now(w));
        if (sqlite3_step(s) == SQLITE_DONE)
            n = sqlite3_changes(w->db.db);
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&w->db.mu);
    return n;
}

static int h_confirm(watch_plugin *w, vg_http_request *req)
{
    int64_t sub = 0;
    int64_t owner = token_owner(w, req, "confirm", &sub);
    if (owner < 0)
        return 0;
    long n = run_owned(w,
                       "UPDATE watch_subscription SET confirmed_ms = ?3, expires_ms = NULL"
                       " WHERE subscriber = ?1 AND id = ?2",
                       owner, sub);
    run_owned(w,
              "DELETE FROM watch_token WHERE subscriber = ?1 AND subscription = ?2"
              " AND purpose = 'confirm'",
              owner, sub);
    if (n != 1)
        return vg_http_reply_error(req, 404, "NOT_FOUND", "token: the subscription is gone");
    return vg_http_reply_json(
        req, 200, json_pack("{s:b, s:I}", "confirmed", 1, "subscription", (json_int_t)sub));
}

static json_t *sub_json(sqlite3_stmt *s)
{
    json_t *t = json_object();
    const char *k[] = {"type", "portal", "id", "organization", "q", "status"};
    for (int i = 0; i < 6; i++)
        if (sqlite3_column_type(s, 1 + i) != SQLITE_NULL)
            json_object_set_new(t, k[i], json_string((const char *)sqlite3_column_text(s, 1 + i)));
    json_t *kinds = json_array();
    char buf[512];
    snprintf(buf, sizeof buf, "%s", (const char *)sqlite3_column_text(s, 7));
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        json_array_append_new(kinds, json_string(tok));
    static const char *const sev[] = {"info", "info", "warning", "critical"};
    int qs = sqlite3_column_int(s, 9), qe = sqlite3_column_int(s, 10),
        ms = sqlite3_column_int(s, 11);
    char quiet[48] = "";
    if (qs >= 0)
        snprintf(quiet, sizeof quiet, "%02d:%02d-%02d:%02d", qs / 60, qs % 60, qe / 60, qe % 60);
    return json_pack(
        "{s:I, s:o, s:o, s:s, s:o, s:s, s:b}", "id", (json_int_t)sqlite3_column_int64(s, 0),
        "target", t, "kinds", kinds, "delivery", (const char *)sqlite3_column_text(s, 8),
        "quiet_hours", qs >= 0 ? json_string(quiet) : json_null(), "min_severity",
        sev[ms >= 0 && ms <= 3 ? ms : 1], "confirmed", sqlite3_column_type(s, 12) != SQLITE_NULL);
}

static int h_manage(watch_plugin *w, vg_http_request *req)
{
    int64_t owner = token_owner(w, req, "manage", NULL);
    if (owner < 0)
        return 0;
    json_t *subs = json_array(), *out = NULL;
    sqlite3_stmt *s = NULL;
    pthread_mutex_lock(&w->db.mu);
    if (sqlite3_prepare_v2(w->db.db,
                           "SELECT address, lang, tz, channel FROM watch_subscriber"
                           " WHERE id = ?",
                           -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, owner);
        if (sqlite3_step(s) == SQLITE_ROW)
            out = json_pack("{s:s, s:s, s:s, s:s}", "channel", sqlite3_column_text(s, 3), "address",
                            sqlite3_column_text(s, 0), "lang", sqlite3_column_text(s, 1), "tz",
                            sqlite3_column_text(s, 2));
        /* the page names an e-mail subscriber by its address */
        if (out && strcmp((const char *)sqlite3_column_text(s, 3), "email") == 0)
            json_object_set(out, "email", json_object_get(out, "address"));
    }
    sqlite3_finalize(s);
    s = NULL;
    if (out && sqlite3_prepare_v2(w->db.db,
                                  "SELECT id, ttype, portal, dataset, organization, q, status,"
                                  " kinds, delivery, quiet_start, quiet_end, min_severity,"
                                  " confirmed_ms FROM watch_subscription WHERE subscriber = ?"
                                  " ORDER BY id",
                                  -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, owner);
        while (sqlite3_step(s) == SQLITE_ROW)
            json_array_append_new(subs, sub_json(s));
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&w->db.mu);
    if (!out) {
        json_decref(subs);
        return vg_http_reply_error(req, 404, "NOT_FOUND", "token: unknown or expired");
    }
    json_object_set_new(out, "subscriptions", subs);
    vg_http_set_header(req, "Cache-Control", "no-store");
    return vg_http_reply_json(req, 200, out);
}

static int h_patch(watch_plugin *w, vg_http_request *req, int64_t subid)
{
    int64_t owner = token_owner(w, req, "manage", NULL);
    if (owner < 0)
        return 0;
    json_t *b = read_object(w, req, "expected a JSON object of the fields to change");
    if (!b)
        return 0;
    watch_sub_req p;
    watch_err e;
    if (watch_sub_read_prefs(w, b, &p, false, &e)) {
        json_decref(b);
        return bad_err(req, &e);
    }
    pthread_mutex_lock(&w->db.mu);
    sqlite3_stmt *s = NULL;
    int n = -1;
    if (sqlite3_prepare_v2(w->db.db,
                           "UPDATE watch_subscription SET kinds = coalesce(?3, kinds),"
                           " delivery = coalesce(?4, delivery),"
                           " quiet_start = CASE WHEN ?5 THEN ?6 ELSE quiet_start END,"
                           " quiet_end = CASE WHEN ?5 THEN ?7 ELSE quiet_end END,"
                           " min_severity = coalesce(?8, min_severity)"
                           " WHERE id = ?1 AND subscriber = ?2",
                           -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, subid);
        sqlite3_bind_int64(s, 2, owner);
        if (p.kinds[0])
            sqlite3_bind_text(s, 3, p.kinds, -1, SQLITE_STATIC);
        if (p.delivery)
            sqlite3_bind_text(s, 4, p.delivery, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 5, p.quiet_set);
        sqlite3_bind_int(s, 6, p.qs.quiet_start);
        sqlite3_bind_int(s, 7, p.qs.quiet_end);
        if (p.min_severity)
            sqlite3_bind_int(s, 8, p.min_severity);
        if (sqlite3_step(s) == SQLITE_DONE)
            n = sqlite3_changes(w->db.db);
    }
    sqlite3_finalize(s);
    s = NULL;
    if (n == 1 && (p.lang || p.tz) &&
        sqlite3_prepare_v2(w->db.db,
                           "UPDATE watch_subscriber SET lang = coalesce(?2, lang),"
                           " tz = coalesce(?3, tz) WHERE id = ?1",
                           -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, owner);
        if (p.lang)
            sqlite3_bind_text(s, 2, p.lang, -1, SQLITE_STATIC);
        if (p.tz)
            sqlite3_bind_text(s, 3, p.tz, -1, SQLITE_STATIC);
        sqlite3_step(s);
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&w->db.mu);
    json_decref(b);
    if (n != 1)
        return vg_http_reply_error(req, 404, "NOT_FOUND", "id: no subscription %lld for this token",
                                   (long long)subid);
    return vg_http_reply_json(req, 200, json_pack("{s:b}", "updated", 1));
}

static int h_delete_one(watch_plugin *w, vg_http_request *req, int64_t subid)
{
    int64_t owner = token_owner(w, req, "manage", NULL);
    if (owner < 0)
        return 0;
    long n = run_owned(w, "DELETE FROM watch_subscription WHERE subscriber = ?1 AND id = ?2", owner,
                       subid);
    if (n != 1)
        return vg_http_reply_error(req, 404, "NOT_FOUND", "id: no subscription %lld for this token",
                                   (long long)subid);
    return vg_http_reply_json(req, 200, json_pack("{s:i}", "unsubscribed", 1));
}

/* RFC 8058: the mail client POSTs "List-Unsubscribe=One-Click" here. */
static int h_unsubscribe(watch_plugin *w, vg_http_request *req)
{
    int64_t owner = token_owner(w, req, "manage", NULL);
    if (owner < 0)
        return 0;
    char idbuf[24];
    long n;
    if (vg_http_query(req, "id", idbuf, sizeof idbuf) > 0)
        n = run_owned(w, "DELETE FROM watch_subscription WHERE subscriber = ?1 AND id = ?2", owner,
                      strtoll(idbuf, NULL, 10));
    else
        n = run_owned(w, "DELETE FROM watch_subscription WHERE subscriber = ?1", owner, 0);
    return vg_http_reply_json(req, 200,
                              json_pack("{s:I}", "unsubscribed", (json_int_t)(n < 0 ? 0 : n)));
}

/* Right to be forgotten: every row about the address goes (tokens,
 * subscriptions, pending items and outbox rows cascade). With the admin
 * token, ?email= erases an address on request without its link. */
static int h_erase(watch_plugin *w, vg_http_request *req)
{
    char email[256];
    int64_t owner;
    if (vg_http_query(req, "email", email, sizeof email) > 0) {
        if (vg_http_require_admin(req) != 0)
            return 0;
        char addr[256];
        email_norm(email, addr, sizeof addr);
        long n = watch_erase_subscriber(w, "email", addr, 0);
        if (n < 0)
            return vg_http_reply_error(req, 503, "UNAVAILABLE", "storage: could not erase");
        return vg_http_reply_json(req, 200, json_pack("{s:b}", "erased", n > 0));
    }
    if ((owner = token_owner(w, req, "manage", NULL)) < 0)
        return 0;
    long n = watch_erase_subscriber(w, NULL, NULL, owner);
    if (n < 0)
        return vg_http_reply_error(req, 503, "UNAVAILABLE", "storage: could not erase");
    return vg_http_reply_json(req, 200, json_pack("{s:b}", "erased", n > 0));
}

/* A browser opening a mailed confirm, manage or unsubscribe link (Accept:
 * text/html) is sent to the portal's page, which asks before unsubscribing
 * (a GET never changes anything) and calls these endpoints with fetch; API
 * clients get JSON. The token and id are only passed on when URL-safe. */
static int to_page(watch_plugin *w, vg_http_request *req, const char *what)
{
    char tok[128], id[24], loc[512];
    const char *acc = vg_http_header(req, "Accept");
    if (!acc || !strstr(acc, "text/html") || vg_http_query(req, "token", tok, sizeof tok) <= 0 ||
        tok[strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")])
        return 0;
    if (vg_http_query(req, "id", id, sizeof id) <= 0)
        snprintf(id, sizeof id, "all");
    else if (id[strspn(id, "0123456789")])
        return 0;
    if (strcmp(what, "unsubscribe") == 0)
        snprintf(loc, sizeof loc, "%s/manage.html#token=%s&unsubscribe=%s", w->public_url, tok, id);
    else
        snprintf(loc, sizeof loc, "%s/manage.html#%s=%s", w->public_url,
                 strcmp(what, "confirm") == 0 ? "confirm" : "token", tok);
    vg_http_set_header(req, "Location", loc);
    vg_http_set_header(req, "Vary", "Accept");
    vg_http_reply(req, 303, "text/plain; charset=utf-8", "", 0);
    return 1;
}

static int h_dispatch(vg_http_request *req, void *user)
{
    watch_plugin *w = user;
    if (over_ip_limit(w, req))
        return 0;
    const char *what = vg_http_param(req, "what");
    const char *m = vg_http_method(req);
    if ((strcmp(what, "confirm") == 0 || strcmp(what, "manage") == 0 ||
         strcmp(what, "unsubscribe") == 0) &&
        strcmp(m, "GET") == 0 && to_page(w, req, what))
        return 0;
    /* Confirming is a POST (the page's button): a GET never confirms, so a
     * mail scanner that follows the link, even one running the page's
     * JavaScript, subscribes nobody. */
    if (strcmp(what, "confirm") == 0 && strcmp(m, "POST") == 0)
        return h_confirm(w, req);
    if (strcmp(what, "confirm") == 0 && strcmp(m, "GET") == 0) {
        vg_http_set_header(req, "Allow", "POST");
        return vg_http_reply_error(req, 405, "METHOD_NOT_ALLOWED",
                                   "confirm: POST this URL to confirm (a GET changes nothing)");
    }
    if (strcmp(what, "manage") == 0 && strcmp(m, "GET") == 0)
        return h_manage(w, req);
    if (strcmp(what, "unsubscribe") == 0 && strcmp(m, "POST") == 0)
        return h_unsubscribe(w, req);
    if (strcmp(what, "subscriber") == 0 && strcmp(m, "DELETE") == 0)
        return h_erase(w, req);
    char *end;
    long long id = strtoll(what, &end, 10);
    if (*end || id <= 0)
        return vg_http_reply_error(req, 404, "NOT_FOUND", "no such subscription resource: %s %s", m,
                                   what);
    if (strcmp(m, "PATCH") == 0)
        return h_patch(w, req, id);
    if (strcmp(m, "DELETE") == 0)
        return h_delete_one(w, req, id);
    vg_http_set_header(req, "Allow", "PATCH, DELETE");
    return vg_http_reply_error(req, 405, "METHOD_NOT_ALLOWED", "%s: use PATCH or DELETE", m);
}

static int h_clock(vg_http_request *req, void *user)
{
    watch_plugin *w = user;
    if (!w->host->peer_is_loopback(w->host, vg_http_remote_addr(req)))
        return vg_http_reply_error(req, 403, "FORBIDDEN", "loopback only");
    const char *data;
    size_t len;
    json_error_t jerr;
    if (vg_http_body(req, 1024, &data, &len) != 0)
        return bad(req, "body", "at most 1024 bytes");
    json_t *b = w->host->json_parse(w->host, data, len, 0, &jerr);
    json_t *v = json_object_get(b, "now_ms");
    if (!json_is_integer(v)) {
        json_decref(b);
        return bad(req, "now_ms", "expected an integer (Unix ms; 0: the real clock)");
    }
    atomic_store(&w->fake_now, (int64_t)json_integer_value(v));
    json_decref(b);
    watch_kick(w);
    return vg_http_reply_json(req, 200, json_pack("{s:I}", "now_ms", (json_int_t)watch_now(w)));
}

int watch_http_register(watch_plugin *w)
{
    const vg_host *h = w->host;
    int rc;
    if ((rc = h->http_route(h, "POST", "/api/subscriptions", h_subscribe, w, NULL)) < 0 ||
        (rc = h->http_route(h, "*", "/api/subscriptions/{what}", h_dispatch, w, NULL)) < 0)
        return rc;
    if (w->test_clock)
        rc = h->http_route(h, "POST", "/api/_watch/clock", h_clock, w, NULL);
    return rc < 0 ? rc : 0;
}
