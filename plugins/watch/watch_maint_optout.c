/* The maintainers' opt-out: the "stop these notices" link of a maintainer
 * mail. GET shows a page with one button (a GET never changes anything: a
 * mail scanner following links opts nobody out); POST, from that button or
 * a mail client's RFC 8058 one-click, puts the address's hash on the
 * do-not-mail list. The token names the address only through its hash. */
#include <stdio.h>
#include <string.h>

#include "watch_maintainer.h"
#include "watch_plugin.h"

void watch_maint_addr_hash(const char *addr, char hash[65])
{
    char low[256];
    size_t n = 0;
    for (; addr[n] && n < sizeof low - 1; n++)
        low[n] = (char)(addr[n] >= 'A' && addr[n] <= 'Z' ? addr[n] + 32 : addr[n]);
    low[n] = '\0';
    watch_token_hash(low, hash);
}

static const char page_fmt[] =
    "<!DOCTYPE html>\n<html lang=\"es\"><head><meta charset=\"utf-8\">"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    "<title>Vigía</title></head>\n<body style=\"font-family:sans-serif;max-width:36em;"
    "margin:2em auto;padding:0 1em\">\n%s\n</body></html>\n";

static int reply_page(vg_http_request *req, int status, const char *inner)
{
    char html[4096];
    int n = snprintf(html, sizeof html, page_fmt, inner);
    vg_http_set_header(req, "Cache-Control", "no-store");
    vg_http_set_header(req, "Content-Security-Policy", "default-src 'none'; form-action 'self'");
    return vg_http_reply(req, status, "text/html; charset=utf-8", html, (size_t)n);
}

static bool wants_html(vg_http_request *req)
{
    const char *acc = vg_http_header(req, "Accept");
    return acc && strstr(acc, "text/html");
}

/* The address hash behind a live token, or false. */
static bool token_addr(watch_plugin *w, const char *tok, char ah[65])
{
    char hash[65];
    watch_token_hash(tok, hash);
    sqlite3_stmt *s = NULL;
    bool ok = false;
    pthread_mutex_lock(&w->db.mu);
    if (sqlite3_prepare_v2(w->db.db,
                           "SELECT addr_hash FROM watch_maint_token WHERE hash = ? AND"
                           " expires_ms > ?",
                           -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, hash, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, watch_now(w));
        if (sqlite3_step(s) == SQLITE_ROW) {
            snprintf(ah, 65, "%s", (const char *)sqlite3_column_text(s, 0));
            ok = true;
        }
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&w->db.mu);
    return ok;
}

static int h_optout(vg_http_request *req, void *user)
{
    watch_plugin *w = user;
    char key[96], tok[128], ah[65];
    const char *ip = vg_http_remote_addr(req);
    snprintf(key, sizeof key, "req|%s", ip ? ip : "?");
    if (watch_limit_hit(w->limits, key, w->lim_requests, 60000, w->host->now_mono_ms(w->host))) {
        vg_http_set_header(req, "Retry-After", "60");
        return vg_http_reply_error(req, 429, "TOO_MANY_REQUESTS",
                                   "requests_per_ip: at most %lld a minute", w->lim_requests);
    }
    bool html = wants_html(req);
    if (vg_http_query(req, "token", tok, sizeof tok) <= 0 ||
        tok[strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")] ||
        !token_addr(w, tok, ah)) {
        if (html)
            return reply_page(req, 404,
                              "<p>Este enlace no es válido o ya venció.</p>"
                              "<p lang=\"en\">This link is not valid or has expired.</p>");
        return vg_http_reply_error(req, 404, "NOT_FOUND", "token: unknown or expired");
    }
    if (strcmp(vg_http_method(req), "GET") == 0) {
        /* the token is URL-safe (checked above): no escaping needed */
        char inner[1024];
        snprintf(inner, sizeof inner,
                 "<p>¿Dejar de recibir los avisos de Vigía sobre datasets caídos en esta "
                 "dirección?</p><p lang=\"en\">Stop Vigía's notices about datasets that are "
                 "down at this address?</p>"
                 "<form method=\"post\" action=\"/api/maintainers/optout?token=%s\">"
                 "<button type=\"submit\">No enviar más avisos / Stop these notices</button>"
                 "</form>",
                 tok);
        return reply_page(req, 200, inner);
    }
    pthread_mutex_lock(&w->db.mu);
    sqlite3_stmt *s = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(w->db.db,
                           "INSERT OR IGNORE INTO watch_maint_optout(addr_hash, at_ms)"
                           " VALUES (?, ?)",
                           -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, ah, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, watch_now(w));
        rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&w->db.mu);
    if (rc)
        return vg_http_reply_error(req, 503, "UNAVAILABLE", "cannot store the opt-out now: retry");
    if (html)
        return reply_page(req, 200,
                          "<p>Listo: esta dirección no recibirá más avisos de Vigía.</p>"
                          "<p lang=\"en\">Done: this address will get no more notices from "
                          "Vigía.</p>");
    return vg_http_reply_json(req, 200, json_pack("{s:b}", "opted_out", 1));
}

int watch_maint_optout_register(watch_plugin *w)
{
    const vg_host *h = w->host;
    int rc = h->http_route(h, "GET", "/api/maintainers/optout", h_optout, w, NULL);
    if (rc >= 0)
        rc = h->http_route(h, "POST", "/api/maintainers/optout", h_optout, w, NULL);
    return rc < 0 ? rc : 0;
}
