/* The notification a device shows, built from a delivery.requested payload
 * (include/vigia/contract/delivery.h) in the subscriber's language: a title,
 * a short body, the URL opened on click, a tag (the device shows one notice
 * per tag, so a "recovered" takes the place of its "down") and the Topic
 * header (the push service keeps only the newest undelivered message per
 * topic). Texts are cut on UTF-8 boundaries so the JSON always fits one
 * record. */
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmpl.h"
#include "webpush.h"

#define TITLE_MAX 160
#define LINE_MAX_BYTES 200
#define BODY_MAX 1200
#define URL_MAX 1500
#define LINES 4

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* Appends `s` to buf (size n), cut at a UTF-8 boundary with "…" when it does
 * not fit in `max` more bytes. */
static void append_cut(char *buf, size_t n, const char *s, size_t max)
{
    size_t used = strlen(buf), len = strlen(s);
    if (used + 4 >= n)
        return;
    if (max > n - used - 4)
        max = n - used - 4;
    if (len <= max) {
        memcpy(buf + used, s, len + 1);
        return;
    }
    size_t cut = max;
    while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
        cut--;
    memcpy(buf + used, s, cut);
    memcpy(buf + used + cut, "…", sizeof "…");
}

static const char *title_of(const json_t *item)
{
    const json_t *d = json_object_get(item, "dataset");
    const char *t = str(d, "title");
    if (!*t)
        t = str(d, "name");
    if (!*t)
        t = str(d, "id");
    return *t ? t : str(item, "portal");
}

/* "datos · Dirección de Presupuestos · disponible → caído" */
static void detail_line(char *buf, size_t n, const json_t *item, int en)
{
    const json_t *d = json_object_get(item, "dataset");
    const char *parts[2] = {str(item, "portal"), str(d, "organization_title")};
    if (!*parts[1])
        parts[1] = str(d, "organization");
    buf[0] = '\0';
    for (int i = 0; i < 2; i++) {
        if (!*parts[i])
            continue;
        if (*buf)
            append_cut(buf, n, " · ", 8);
        append_cut(buf, n, parts[i], 80);
    }
    const char *prev = str(item, "previous"), *cur = str(item, "current");
    if (*prev && *cur) {
        char change[160];
        snprintf(change, sizeof change, "%s → %s", tmpl_status_label(prev, en),
                 tmpl_status_label(cur, en));
        if (*buf)
            append_cut(buf, n, " · ", 8);
        append_cut(buf, n, change, sizeof change);
    }
}

/* The first 24 bytes of SHA-256("<portal>/<id>") in base64url: 32 characters,
 * the most RFC 8030 allows, and the same for every message on one dataset. */
static void topic_of(const json_t *item, char out[33])
{
    const json_t *d = json_object_get(item, "dataset");
    char key[600];
    snprintf(key, sizeof key, "%s/%s", str(item, "portal"), str(d, "id"));
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)key, strlen(key), md);
    base64_encode(md, 24, out, BASE64_URL);
}

static int url_ok(const char *u)
{
    return (strncmp(u, "https://", 8) == 0 || strncmp(u, "http://", 7) == 0) &&
           strlen(u) <= URL_MAX;
}

/* One change: about one dataset, replaceable by the next one on it (its
 * tag and topic). Returns the URL to open. */
static const char *one_change(char *title, char *body, const json_t *first, int en, wp_message *out,
                              char *tagbuf, size_t tagn)
{
    append_cut(title, TITLE_MAX + 8, en ? "“" : "«", 4);
    append_cut(title, TITLE_MAX + 8, title_of(first), TITLE_MAX - 60);
    append_cut(title, TITLE_MAX + 8, en ? "” " : "» ", 4);
    append_cut(title, TITLE_MAX + 8, tmpl_kind_label(str(first, "kind"), en), 50);
    detail_line(body, BODY_MAX + 8, first, en);
    const json_t *d = json_object_get(first, "dataset");
    snprintf(tagbuf, tagn, "vigia:%.100s:%.180s", str(first, "portal"), str(d, "id"));
    topic_of(first, out->topic);
    return url_ok(str(d, "url")) ? str(d, "url") : str(d, "vigia_url");
}

/* Several changes (or a digest): a count, then the first LINES. Returns
 * the tag (one notice for all digests, one for all other groups). */
static const char *many_changes(char *title, char *body, const char *kind, const json_t *items,
                                json_int_t count, int en)
{
    snprintf(title, TITLE_MAX + 8,
             strcmp(kind, "digest") == 0
                 ? (en ? "Vigía digest: %lld changes" : "Resumen de Vigía: %lld cambios")
                 : (en ? "Vigía: %lld changes in what you follow"
                       : "Vigía: %lld cambios en lo que sigues"),
             (long long)count);
    for (size_t i = 0; i < json_array_size(items) && i < LINES; i++) {
        const json_t *it = json_array_get(items, i);
        char line[LINE_MAX_BYTES + 8] = "";
        append_cut(line, sizeof line, title_of(it), 100);
        append_cut(line, sizeof line, " ", 2);
        append_cut(line, sizeof line, tmpl_kind_label(str(it, "kind"), en), 60);
        if (*body)
            append_cut(body, BODY_MAX + 8, "\n", 2);
        append_cut(body, BODY_MAX + 8, line, LINE_MAX_BYTES);
    }
    if (count > LINES) {
        char more[64];
        snprintf(more, sizeof more, en ? "\n… and %lld more" : "\n… y %lld más",
                 (long long)(count - LINES));
        append_cut(body, BODY_MAX + 8, more, sizeof more);
    }
    return strcmp(kind, "digest") == 0 ? "vigia:digest" : "vigia:changes";
}

int wp_message_build(const json_t *req, const char *home, wp_message *out, char *err, size_t errn)
{
    memset(out, 0, sizeof *out);
    out->urgency = "normal";
    const char *lang = str(req, "lang");
    int en = strcmp(lang, "en") == 0;
    const char *kind = str(req, "kind");
    const json_t *items = json_object_get(req, "items");
    size_t n = json_array_size(items);
    json_int_t count = json_integer_value(json_object_get(req, "count"));
    if (count < (json_int_t)n)
        count = (json_int_t)n;
    if (!n) {
        snprintf(err, errn, "items: a %s message needs at least one change",
                 *kind ? kind : "delivery");
        return -1;
    }
    char *title = calloc(1, TITLE_MAX + 8), *body = calloc(1, BODY_MAX + 8);
    if (!title || !body) {
        free(title);
        free(body);
        snprintf(err, errn, "out of memory");
        return -1;
    }
    const json_t *first = json_array_get(items, 0);
    const char *first_kind = str(first, "kind");
    const char *url = "", *tag;
    char tagbuf[300];
    for (size_t i = 0; i < n; i++)
        if (strcmp(str(json_array_get(items, i), "kind"), "down") == 0)
            out->urgency = "high";
    if (count == 1 && strcmp(kind, "digest") != 0) {
        url = one_change(title, body, first, en, out, tagbuf, sizeof tagbuf);
        tag = tagbuf;
    } else {
        tag = many_changes(title, body, kind, items, count, en);
    }
    if (!url_ok(url))
        url = home && url_ok(home) ? home : "/";
    json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "v", 1, "title", title,
                          "body", body, "url", url, "tag", tag, "lang", en ? "en" : "es", "kind",
                          count == 1 ? first_kind
                          : *kind    ? kind
                                     : "alert",
                          "count", count);
    free(title);
    free(body);
    out->payload = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!out->payload) {
        snprintf(err, errn, "cannot build the payload (invalid UTF-8 in a title?)");
        return -1;
    }
    out->len = strlen(out->payload);
    if (out->len > WP_MAX_PLAINTEXT) {
        snprintf(err, errn, "payload: %zu bytes, at most %d", out->len, WP_MAX_PLAINTEXT);
        wp_message_free(out);
        return -1;
    }
    return 0;
}

void wp_message_free(wp_message *m)
{
    free(m->payload);
    m->payload = NULL;
}
