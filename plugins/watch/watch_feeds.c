/* Atom 1.0 feeds (RFC 4287) of the recent events, no subscription needed:
 * all, per portal, organisation, dataset and saved search. Entry ids are tag:
 * URIs built from the event's row id (stable); ETag and Last-Modified make
 * polling readers cheap (304). */
#include "watch_plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FEED_ENTRIES 50
#define SEARCH_SCAN 5000

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 8192) + n;
        char *p = realloc(b->p, cap);
        if (!p)
            return;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

static void esc(buf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            puts_(b, "&amp;");
            break;
        case '<':
            puts_(b, "&lt;");
            break;
        case '>':
            puts_(b, "&gt;");
            break;
        case '"':
            puts_(b, "&quot;");
            break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\n' || *s == '\t')
                put(b, s, 1);
        }
    }
}

static void iso(int64_t ms, char *out, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *phrase(const char *kind, bool es)
{
    static const char *const k[][3] = {
        {"down", "is down", "no está disponible"},
        {"degraded", "is degraded", "está degradado"},
        {"recovered", "recovered", "se recuperó"},
        {"removed", "was removed", "fue eliminado"},
        {"added", "was added", "fue agregado"},
        {"modified", "was modified", "fue modificado"},
        {"empty", "has no resources", "no tiene recursos"},
        {"stale", "is out of date", "está desactualizado"},
        {"content_changed", "has new content", "tiene contenido nuevo"},
        {"schema_changed", "changed the columns of its files",
         "cambió las columnas de sus archivos"},
        {"refreshed", "is up to date again", "está al día otra vez"},
        {"recreated", "has resources re-created under new ids",
         "tiene recursos recreados con otro id"},
        {"format_drift", "serves a format other than the declared one",
         "entrega un formato distinto al declarado"},
    };
    for (size_t i = 0; i < sizeof k / sizeof *k; i++)
        if (strcmp(k[i][0], kind) == 0)
            return k[i][es ? 2 : 1];
    return kind;
}

static const char *js(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void entry(watch_plugin *w, buf *b, int64_t id, const char *kind, int64_t at,
                  const char *body, bool es)
{
    json_t *it = json_loads(body, 0, NULL); /* json-own-data: written by watch_match.c */
    const json_t *d = json_object_get(it, "dataset");
    const char *portal = js(it, "portal");
    const char *title = js(d, "title") ? js(d, "title") : js(d, "name");
    char when[32], line[1024];
    iso(at, when, sizeof when);
    if (d)
        snprintf(line, sizeof line, "%s (%s) %s", title ? title : "?", portal ? portal : "?",
                 phrase(kind, es));
    else
        snprintf(line, sizeof line, "%s %s %s", "Portal", portal ? portal : "?", phrase(kind, es));
    char idtxt[32];
    snprintf(idtxt, sizeof idtxt, "%lld", (long long)id);
    puts_(b, "<entry><id>tag:");
    esc(b, w->list_host);
    puts_(b, ",2026:vigia/event/");
    puts_(b, idtxt);
    puts_(b, "</id><title>");
    esc(b, line);
    puts_(b, "</title><updated>");
    puts_(b, when);
    puts_(b, "</updated><category term=\"");
    esc(b, kind);
    puts_(b, "\"/>");
    const char *url = js(d, "url");
    if (url) {
        puts_(b, "<link rel=\"alternate\" href=\"");
        esc(b, url);
        puts_(b, "\"/>");
    }
    char sum[1024];
    snprintf(sum, sizeof sum, "%s%s%s%s%s%s%s", js(it, "previous") ? js(it, "previous") : "",
             js(it, "previous") ? " → " : "", js(it, "current") ? js(it, "current") : "",
             js(d, "organization_title") ? " · " : "",
             js(d, "organization_title") ? js(d, "organization_title") : "",
             js(it, "reason") ? " · " : "", js(it, "reason") ? js(it, "reason") : "");
    if (!sum[0])
        snprintf(sum, sizeof sum, "%s", phrase(kind, es));
    puts_(b, "<summary>");
    esc(b, sum);
    puts_(b, "</summary></entry>\n");
    json_decref(it);
}

/* What a search feed keeps: folded words, a dataset status, a portal. */
typedef struct feed_filter {
    bool on;
    char qf[512], status[32], portal[129];
} feed_filter;

static bool search_hit(const feed_filter *f, const char *body)
{
    json_t *it = json_loads(body, 0, NULL); /* json-own-data */
    const json_t *d = json_object_get(it, "dataset");
    char raw[1024], tf[1024];
    snprintf(raw, sizeof raw, "%s %s %s %s", js(d, "title") ? js(d, "title") : "",
             js(d, "name") ? js(d, "name") : "",
             js(d, "organization_title") ? js(d, "organization_title") : "",
             js(d, "organization") ? js(d, "organization") : "");
    watch_fold(raw, tf, sizeof tf);
    bool ok = d && watch_search_matches(f->qf, tf) &&
              (!f->status[0] || (js(d, "status") && !strcmp(js(d, "status"), f->status))) &&
              (!f->portal[0] || (js(it, "portal") && !strcmp(js(it, "portal"), f->portal)));
    json_decref(it);
    return ok;
}

/* The newest FEED_ENTRIES events `sql` selects (a search keeps its hits
 * among SEARCH_SCAN), as Atom entries; *top is the newest id, *newest its
 * time. Returns how many. */
static int collect(watch_plugin *w, const char *sql, const char *a1, const char *a2,
                   const feed_filter *f, bool es, buf *entries, int64_t *top, int64_t *newest)
{
    int n = 0;
    sqlite3_stmt *s = NULL;
    pthread_mutex_lock(&w->db.mu);
    if (sqlite3_prepare_v2(w->db.db, sql, -1, &s, NULL) == SQLITE_OK) {
        if (a1)
            sqlite3_bind_text(s, 1, a1, -1, SQLITE_STATIC);
        if (a2)
            sqlite3_bind_text(s, 2, a2, -1, SQLITE_STATIC);
        while (n < FEED_ENTRIES && sqlite3_step(s) == SQLITE_ROW) {
            const char *body = (const char *)sqlite3_column_text(s, 3);
            if (f->on && !search_hit(f, body))
                continue;
            int64_t id = sqlite3_column_int64(s, 0), at = sqlite3_column_int64(s, 2);
            if (!*top)
                *top = id;
            if (at > *newest)
                *newest = at;
            entry(w, entries, id, (const char *)sqlite3_column_text(s, 1), at, body, es);
            n++;
        }
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&w->db.mu);
    return n;
}

/* Sets the validators (the newest entry and the request, path and query)
 * and says whether the client's copy is still fresh (a 304). */
static bool still_fresh(vg_http_request *req, int64_t top, int n, int64_t newest)
{
    char etag[96], lm[64];
    uint64_t h = 1469598103934665603ULL;
    const char *parts[] = {vg_http_path(req), vg_http_query_string(req)};
    for (int i = 0; i < 2; i++)
        for (const char *p = parts[i] ? parts[i] : ""; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    snprintf(etag, sizeof etag, "\"%llx-%lld-%d\"", (unsigned long long)h, (long long)top, n);
    time_t lt = (time_t)(newest / 1000);
    struct tm tm;
    gmtime_r(&lt, &tm);
    strftime(lm, sizeof lm, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    vg_http_set_header(req, "ETag", etag);
    vg_http_set_header(req, "Last-Modified", lm);
    vg_http_set_header(req, "Cache-Control", "no-cache");
    const char *inm = vg_http_header(req, "If-None-Match");
    const char *ims = vg_http_header(req, "If-Modified-Since");
    bool fresh = inm ? strstr(inm, etag) != NULL || strcmp(inm, "*") == 0 : false;
    if (!inm && ims) {
        struct tm t2 = {0};
        const char *end = strptime(ims, "%a, %d %b %Y %H:%M:%S GMT", &t2);
        fresh = end && !*end && timegm(&t2) >= lt;
    }
    return fresh;
}

/* The request's path and query, escaped (the feed's id and self link). */
static void esc_target(buf *b, vg_http_request *req)
{
    esc(b, vg_http_path(req));
    if (vg_http_query_string(req)) {
        puts_(b, "?");
        esc(b, vg_http_query_string(req));
    }
}

static int reply_atom(watch_plugin *w, vg_http_request *req, const char *title, bool es,
                      int64_t newest, const buf *entries)
{
    buf b = {0};
    char when[32];
    iso(newest, when, sizeof when);
    puts_(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
              "<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"");
    puts_(&b, es ? "es" : "en");
    puts_(&b, "\">\n<id>tag:");
    esc(&b, w->list_host);
    puts_(&b, ",2026:vigia");
    esc_target(&b, req);
    puts_(&b, "</id>\n<title>Vigía: ");
    esc(&b, title);
    puts_(&b, "</title>\n<updated>");
    puts_(&b, when);
    puts_(&b, "</updated>\n<author><name>Vigía</name></author>\n<link rel=\"self\" href=\"");
    esc(&b, w->public_url);
    esc_target(&b, req);
    puts_(&b, "\"/>\n");
    if (entries->p)
        put(&b, entries->p, entries->n);
    puts_(&b, "</feed>\n");
    int rc = vg_http_reply(req, 200, "application/atom+xml; charset=utf-8", b.p, b.n);
    free(b.p);
    return rc;
}

static int reply_feed(watch_plugin *w, vg_http_request *req, const char *where, const char *a1,
                      const char *a2, const char *title)
{
    char q[512] = "", lang[8] = "";
    feed_filter f = {.on = strcmp(where, "search") == 0};
    vg_http_query(req, "lang", lang, sizeof lang);
    bool es = strcmp(lang[0] ? lang : w->default_lang, "es") == 0;
    if (f.on) {
        if (vg_http_query(req, "q", q, sizeof q) == -E2BIG)
            return vg_http_reply_error(req, 400, "INVALID_ARGUMENT", "q: at most 511 bytes");
        if (vg_http_query(req, "status", f.status, sizeof f.status) == -E2BIG)
            return vg_http_reply_error(req, 400, "INVALID_ARGUMENT", "status: at most 31 bytes");
        if (vg_http_query(req, "portal", f.portal, sizeof f.portal) > 0)
            a1 = NULL; /* filtered in search_hit */
    }
    watch_fold(q, f.qf, sizeof f.qf);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT id, kind, at_ms, body, portal FROM watch_event %s ORDER BY id DESC LIMIT %d",
             strcmp(where, "portal") == 0         ? "WHERE portal = ?1"
             : strcmp(where, "organization") == 0 ? "WHERE organization = ?1"
             : strcmp(where, "dataset") == 0      ? "WHERE portal = ?1 AND dataset = ?2"
                                                  : "",
             f.on ? SEARCH_SCAN : FEED_ENTRIES);
    buf entries = {0};
    int64_t newest = 0, top = 0;
    int n = collect(w, sql, a1, a2, &f, es, &entries, &top, &newest);
    int rc = still_fresh(req, top, n, newest)
                 ? vg_http_reply(req, 304, "application/atom+xml; charset=utf-8", NULL, 0)
                 : reply_atom(w, req, title, es, newest, &entries);
    free(entries.p);
    return rc;
}

/* "name.atom" -> "name" in out; false otherwise. */
static bool strip_atom(const char *f, char *out, size_t n)
{
    size_t len = f ? strlen(f) : 0;
    if (len <= 5 || len - 5 >= n || strcmp(f + len - 5, ".atom") != 0)
        return false;
    memcpy(out, f, len - 5);
    out[len - 5] = '\0';
    return true;
}

static int h_feed(vg_http_request *req, void *user)
{
    watch_plugin *w = user;
    const char *path = vg_http_path(req);
    char a[257], title[400];
    if (strcmp(path, "/feeds/all.atom") == 0)
        return reply_feed(w, req, "all", NULL, NULL, "all");
    if (strcmp(path, "/feeds/search.atom") == 0)
        return reply_feed(w, req, "search", NULL, NULL, "search");
    const char *f = vg_http_param(req, "f");
    if (!strip_atom(f, a, sizeof a))
        return vg_http_reply_error(req, 404, "NOT_FOUND", "feeds end in .atom, e.g. %s.atom",
                                   f ? f : "name");
    if (strncmp(path, "/feeds/portal/", 14) == 0) {
        snprintf(title, sizeof title, "portal %s", a);
        return reply_feed(w, req, "portal", a, NULL, title);
    }
    if (strncmp(path, "/feeds/organization/", 20) == 0) {
        snprintf(title, sizeof title, "organization %s", a);
        return reply_feed(w, req, "organization", a, NULL, title);
    }
    const char *p = vg_http_param(req, "p");
    snprintf(title, sizeof title, "dataset %s/%s", p ? p : "", a);
    return reply_feed(w, req, "dataset", p, a, title);
}

int watch_feeds_register(watch_plugin *w)
{
    const vg_host *h = w->host;
    const char *const pats[] = {"/feeds/all.atom", "/feeds/search.atom", "/feeds/portal/{f}",
                                "/feeds/organization/{f}", "/feeds/dataset/{p}/{f}"};
    for (size_t i = 0; i < sizeof pats / sizeof *pats; i++) {
        int rc = h->http_route(h, "GET", pats[i], h_feed, w, NULL);
        if (rc < 0)
            return rc;
    }
    return 0;
}
