/* The methods channel plugins call to hold subscriptions of their own
 * (contract/watch.h): subscribe (consent vouched for by the caller), forget,
 * and who a manage token belongs to. */
#include "watch_plugin.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <vigia/contract/watch.h>

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* A channel's name: what delivery.requested carries; a word, not "email"
 * (the e-mail channel's subscribers go through the double opt-in). */
static bool channel_ok(const char *c)
{
    size_t n = c ? strlen(c) : 0;
    if (n == 0 || n > 31 || strcmp(c, VG_WATCH_CHANNEL_EMAIL) == 0)
        return false;
    for (const char *p = c; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
            return false;
    return true;
}

static int read_who(const json_t *params, const char **channel, const char **address,
                    json_t **result)
{
    *channel = jstr(params, "channel");
    *address = jstr(params, "address");
    if (!channel_ok(*channel))
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "channel: expected a lower-case word of at most 31 bytes, not "
                              "\"email\" (e-mail subscribers use POST /api/subscriptions)");
    if (!*address || !**address || strlen(*address) > VG_WATCH_ADDRESS_MAX)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "address: expected a non-empty string of at most %d bytes",
                              VG_WATCH_ADDRESS_MAX);
    return 0;
}

static int m_subscribe(const json_t *params, json_t **result, void *user)
{
    watch_plugin *w = user;
    const char *channel, *address;
    int rc = read_who(params, &channel, &address, result);
    if (rc)
        return rc;
    watch_sub_req p = {0};
    watch_err e;
    if (watch_sub_read_target(json_object_get(params, "target"), &p, &e) ||
        watch_sub_read_prefs(w, params, &p, true, &e))
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT", "%s", e.msg);
    if (w->host->struct_size >= offsetof(vg_host, storage_ok) + sizeof(void *) &&
        !w->host->storage_ok(w->host, NULL, 0))
        return vg_method_fail(result, -EIO, "UNAVAILABLE", "storage: the database is not writable");
    int64_t sid, subid;
    if (watch_sub_store(w, channel, address, &p, true, &sid, &subid))
        return vg_method_fail(result, -EIO, "UNAVAILABLE", "storage: could not save the request");
    char tok[44];
    pthread_mutex_lock(&w->db.mu);
    int trc = watch_token_store(w, sid, 0, "manage", watch_now(w) + w->manage_ttl_ms, tok);
    pthread_mutex_unlock(&w->db.mu);
    if (trc)
        return vg_method_fail(result, -EIO, "UNAVAILABLE", "storage: could not save a token");
    char url[512];
    snprintf(url, sizeof url, "%s/api/subscriptions/manage?token=%s", w->public_url, tok);
    *result = json_pack("{s:i, s:I, s:I, s:s, s:s}", "v", VG_WATCH_V, "subscriber", (json_int_t)sid,
                        "subscription", (json_int_t)subid, "manage_token", tok, "manage_url", url);
    watch_kick(w);
    return *result ? 0 : -ENOMEM;
}

static int m_forget(const json_t *params, json_t **result, void *user)
{
    watch_plugin *w = user;
    const char *channel, *address;
    int rc = read_who(params, &channel, &address, result);
    if (rc)
        return rc;
    long n = watch_erase_subscriber(w, channel, address, 0);
    if (n < 0)
        return vg_method_fail(result, -EIO, "UNAVAILABLE", "storage: could not erase");
    *result = json_pack("{s:i, s:I}", "v", VG_WATCH_V, "removed", (json_int_t)n);
    return 0;
}

/* An operator's erasure request for an e-mail address (also reachable from
 * the command line with vigia --call, with or without the server running). */
static int m_erase(const json_t *params, json_t **result, void *user)
{
    watch_plugin *w = user;
    const char *email = jstr(params, "email");
    size_t n = email ? strlen(email) : 0;
    if (n < 3 || n > 254 || !strchr(email, '@'))
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "email: expected an e-mail address (at most 254 bytes)");
    char addr[256];
    for (size_t i = 0; i <= n; i++) /* stored lower-cased, as the API stores it */
        addr[i] = (email[i] >= 'A' && email[i] <= 'Z') ? (char)(email[i] + 32) : email[i];
    long erased = watch_erase_subscriber(w, VG_WATCH_CHANNEL_EMAIL, addr, 0);
    if (erased < 0)
        return vg_method_fail(result, -EIO, "UNAVAILABLE", "storage: could not erase");
    *result = json_pack("{s:i, s:b}", "v", VG_WATCH_V, "erased", erased > 0);
    return 0;
}

static int m_subscriber(const json_t *params, json_t **result, void *user)
{
    watch_plugin *w = user;
    const char *tok = jstr(params, "token");
    if (!tok || !*tok || strlen(tok) > 127)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "token: expected the manage token (at most 127 bytes)");
    char hash[65];
    watch_token_hash(tok, hash);
    sqlite3_stmt *s = NULL;
    json_t *out = NULL;
    pthread_mutex_lock(&w->db.mu);
    if (sqlite3_prepare_v2(w->db.db,
                           "SELECT r.id, r.channel, r.address, r.lang, r.tz FROM watch_token t"
                           " JOIN watch_subscriber r ON r.id = t.subscriber"
                           " WHERE t.hash = ?1 AND t.purpose = 'manage' AND t.expires_ms > ?2",
                           -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, hash, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, watch_now(w));
        if (sqlite3_step(s) == SQLITE_ROW)
            out = json_pack("{s:i, s:I, s:s, s:s, s:s, s:s}", "v", VG_WATCH_V, "subscriber",
                            (json_int_t)sqlite3_column_int64(s, 0), "channel",
                            sqlite3_column_text(s, 1), "address", sqlite3_column_text(s, 2), "lang",
                            sqlite3_column_text(s, 3), "tz", sqlite3_column_text(s, 4));
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&w->db.mu);
    if (!out)
        return vg_method_fail(result, -ENOENT, "NOT_FOUND", "token: unknown or expired");
    *result = out;
    return 0;
}

int watch_channels_register(watch_plugin *w)
{
    vg_bus *bus = w->host->bus;
    int rc;
    if ((rc = vg_bus_register_method(bus, VG_WATCH_M_SUBSCRIBE, m_subscribe, w, NULL)) < 0 ||
        (rc = vg_bus_register_method(bus, VG_WATCH_M_FORGET, m_forget, w, NULL)) < 0 ||
        (rc = vg_bus_register_method(bus, VG_WATCH_M_SUBSCRIBER, m_subscriber, w, NULL)) < 0 ||
        (rc = vg_bus_register_method(bus, VG_WATCH_M_ERASE, m_erase, w, NULL)) < 0)
        return rc;
    return 0;
}
