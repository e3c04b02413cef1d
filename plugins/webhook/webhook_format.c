/* The body of each format. "standard" is Vigía's own documented JSON
 * (docs/subscriptions.md); the chat formats carry a title and a plain text
 * rendered from webhook_texts.c in the subscriber's language, shaped as each
 * service documents its incoming webhooks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vigia/contract/webhook.h>

#include "tmpl.h"
#include "webhook.h"
#include "webhook_texts.h"

/* Discord: content 2000, embed title 256, description 4096; the others take
 * more, but a chat message longer than this is unreadable anyway. */
#define TEXT_MAX 3500
#define TITLE_MAX 250
#define TEAMS_LINES 60

static const char *const format_names[WEBHOOK_FORMATS] = {
    VG_WEBHOOK_FORMAT_STANDARD, VG_WEBHOOK_FORMAT_SLACK, VG_WEBHOOK_FORMAT_DISCORD,
    VG_WEBHOOK_FORMAT_TEAMS};

int webhook_format_parse(const char *name)
{
    for (int i = 0; name && i < WEBHOOK_FORMATS; i++)
        if (strcmp(name, format_names[i]) == 0)
            return i;
    return -1;
}

const char *webhook_format_name(webhook_format f)
{
    return (unsigned)f < WEBHOOK_FORMATS ? format_names[f] : "?";
}

typedef struct compiled {
    const webhook_text *src;
    tmpl_template *title, *text;
} compiled;

struct webhook_texts {
    size_t n;
    compiled c[];
};

void webhook_texts_free(webhook_texts *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        tmpl_free(t->c[i].title);
        tmpl_free(t->c[i].text);
    }
    free(t);
}

webhook_texts *webhook_texts_load(char *err, size_t errn)
{
    json_t *schema = tmpl_context_schema();
    webhook_texts *t = calloc(1, sizeof *t + webhook_builtin_text_count * sizeof(compiled));
    if (!schema || !t) {
        snprintf(err, errn, "out of memory");
        json_decref(schema);
        free(t);
        return NULL;
    }
    for (size_t i = 0; i < webhook_builtin_text_count; i++) {
        const webhook_text *w = &webhook_builtin_texts[i];
        char name[64];
        t->c[i].src = w;
        t->n = i + 1;
        snprintf(name, sizeof name, "%s/%s.title", w->lang, w->kind);
        if (!(t->c[i].title = tmpl_compile(name, w->title, schema, 0, err, errn)))
            goto fail;
        snprintf(name, sizeof name, "%s/%s.text", w->lang, w->kind);
        if (!(t->c[i].text = tmpl_compile(name, w->text, schema, 0, err, errn)))
            goto fail;
    }
    json_decref(schema);
    return t;
fail:
    json_decref(schema);
    webhook_texts_free(t);
    return NULL;
}

static const compiled *find_text(const webhook_texts *t, const char *lang, const char *kind)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->c[i].src->lang, lang) == 0 && strcmp(t->c[i].src->kind, kind) == 0)
            return &t->c[i];
    return NULL;
}

/* Cut `s` to at most `max` bytes without splitting a UTF-8 sequence, marking
 * the cut with an ellipsis. */
static void cut_utf8(char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return;
    size_t at = max - 3;
    while (at > 0 && ((unsigned char)s[at] & 0xc0) == 0x80)
        at--;
    memcpy(s + at, "…", 4);
}

static void iso_utc(char *out, size_t n, time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* Slack's three escapes (&, <, >): its text is mrkdwn with <url|label> links. */
static char *slack_escape(const char *s)
{
    tmpl_buf b = {0};
    for (; *s; s++) {
        if (*s == '&')
            tmpl_buf_adds(&b, "&amp;");
        else if (*s == '<')
            tmpl_buf_adds(&b, "&lt;");
        else if (*s == '>')
            tmpl_buf_adds(&b, "&gt;");
        else
            tmpl_buf_add(&b, s, 1);
    }
    char *out = tmpl_buf_take(&b, NULL);
    return out ? out : strdup("");
}

/* The link a chat message leads to: the first change on Vigía (or the
 * portal), else the manage page. */
static const char *main_link(const json_t *ctx)
{
    const json_t *ds = json_object_get(json_object_get(ctx, "first"), "dataset");
    if (*jstr(ds, "vigia_url"))
        return jstr(ds, "vigia_url");
    if (*jstr(ds, "url"))
        return jstr(ds, "url");
    return jstr(json_object_get(ctx, "links"), "manage");
}

/* Red for bad news, green for recoveries, amber for the rest. */
static int color_of(const json_t *ctx)
{
    const char *k = jstr(json_object_get(ctx, "first"), "kind");
    if (strcmp(k, "down") == 0 || strcmp(k, "removed") == 0)
        return 0xd93025;
    if (strcmp(k, "recovered") == 0 || strcmp(k, "added") == 0)
        return 0x188038;
    return 0xf9ab00;
}

static const char *type_of(const char *kind)
{
    if (strcmp(kind, "digest") == 0)
        return VG_WEBHOOK_TYPE_DIGEST;
    if (strcmp(kind, "maintainer") == 0)
        return VG_WEBHOOK_TYPE_MAINTAINER;
    if (strcmp(kind, "test") == 0)
        return VG_WEBHOOK_TYPE_TEST;
    return VG_WEBHOOK_TYPE_ALERT;
}

static json_t *standard_body(const json_t *p, const json_t *ctx, const char *title,
                             const char *text, const char *ts)
{
    const json_t *links = json_object_get(p, "links");
    json_t *l = json_object();
    if (*jstr(links, "manage"))
        json_object_set_new(l, "manage", json_string(jstr(links, "manage")));
    if (*jstr(links, "unsubscribe"))
        json_object_set_new(l, "unsubscribe", json_string(jstr(links, "unsubscribe")));
    const json_t *items = json_object_get(p, "items");
    json_t *data =
        json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:o, s:o}", "key", jstr(p, "key"), "kind",
                  jstr(p, "kind"), "lang", jstr(ctx, "lang"), "tz", jstr(ctx, "tz"), "count",
                  json_integer_value(json_object_get(ctx, "count")), "title", title, "text", text,
                  "items", json_is_array(items) ? json_deep_copy(items) : json_array(), "links", l);
    return json_pack("{s:i, s:s, s:s, s:o}", "v", VG_WEBHOOK_V, "type", type_of(jstr(p, "kind")),
                     "timestamp", ts, "data", data);
}

static json_t *slack_body(const json_t *ctx, const char *title, const char *text)
{
    char *t = slack_escape(title), *x = slack_escape(text);
    char color[8];
    snprintf(color, sizeof color, "#%06x", color_of(ctx));
    json_t *att = json_pack("{s:s, s:s, s:s, s:s, s:s}", "fallback", t, "color", color, "title", t,
                            "text", x, "footer", "Vigía");
    const char *link = main_link(ctx);
    if (att && *link)
        json_object_set_new(att, "title_link", json_string(link));
    json_t *b = json_pack("{s:s, s:[o]}", "text", t, "attachments", att);
    free(t);
    free(x);
    return b;
}

static json_t *discord_body(const json_t *ctx, const char *title, const char *text, const char *ts)
{
    json_t *embed = json_pack("{s:s, s:s, s:i, s:s}", "title", title, "description", text, "color",
                              color_of(ctx), "timestamp", ts);
    const char *link = main_link(ctx);
    if (embed && *link)
        json_object_set_new(embed, "url", json_string(link));
    /* allowed_mentions: a dataset called "@everyone" must not ping a server */
    return json_pack("{s:s, s:s, s:[o], s:{s:[]}}", "username", "Vigía", "content", title, "embeds",
                     embed, "allowed_mentions", "parse");
}

static json_t *teams_body(const json_t *ctx, const char *title, const char *text)
{
    json_t *body = json_array();
    json_array_append_new(body, json_pack("{s:s, s:s, s:s, s:s, s:b}", "type", "TextBlock", "text",
                                          title, "weight", "Bolder", "size", "Medium", "wrap", 1));
    /* One TextBlock per line: Teams folds single newlines inside one. */
    const char *s = text;
    for (int n = 0; *s && n < TEAMS_LINES; n++) {
        const char *e = strchr(s, '\n');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len)
            json_array_append_new(body, json_pack("{s:s, s:s%, s:b, s:s}", "type", "TextBlock",
                                                  "text", s, len, "wrap", 1, "spacing", "None"));
        s = e ? e + 1 : s + len;
    }
    json_t *actions = json_array();
    const char *link = main_link(ctx);
    int en = strcmp(jstr(ctx, "lang"), "en") == 0;
    if (*link)
        json_array_append_new(actions, json_pack("{s:s, s:s, s:s}", "type", "Action.OpenUrl",
                                                 "title", en ? "Open" : "Abrir", "url", link));
    const char *manage = jstr(json_object_get(ctx, "links"), "manage");
    if (*manage && strcmp(manage, link) != 0)
        json_array_append_new(actions,
                              json_pack("{s:s, s:s, s:s}", "type", "Action.OpenUrl", "title",
                                        en ? "Manage" : "Administrar", "url", manage));
    json_t *card = json_pack("{s:s, s:s, s:s, s:o, s:o}", "$schema",
                             "http://adaptivecards.io/schemas/adaptive-card.json", "type",
                             "AdaptiveCard", "version", "1.4", "body", body, "actions", actions);
    return json_pack("{s:s, s:[{s:s, s:n, s:o}]}", "type", "message", "attachments", "contentType",
                     "application/vnd.microsoft.card.adaptive", "contentUrl", "content", card);
}

char *webhook_body(const vg_host *h, const webhook_texts *t, webhook_format f,
                   const json_t *payload, time_t now, int max_items, char *err, size_t errn)
{
    const char *kind = jstr(payload, "kind");
    if (strcmp(kind, "confirm") == 0) {
        snprintf(err, errn, "kind confirm is for e-mail only");
        return NULL;
    }
    json_t *ctx = tmpl_context_build(h, payload, now, max_items, err, errn);
    if (!ctx)
        return NULL;
    const compiled *c = find_text(t, jstr(ctx, "lang"), kind);
    if (!c) {
        snprintf(err, errn, "no text for kind '%.32s'", kind);
        json_decref(ctx);
        return NULL;
    }
    tmpl_buf tb = {0}, xb = {0};
    tmpl_render(c->title, ctx, &tb);
    tmpl_render(c->text, ctx, &xb);
    char *title = tmpl_buf_take(&tb, NULL), *text = tmpl_buf_take(&xb, NULL);
    char ts[32];
    iso_utc(ts, sizeof ts, now);
    json_t *body = NULL;
    if (title && text) {
        for (char *q = title; *q; q++)
            if (*q == '\n' || *q == '\r')
                *q = ' ';
        cut_utf8(title, TITLE_MAX);
        if (f == WEBHOOK_STANDARD) {
            body = standard_body(payload, ctx, title, text, ts);
        } else {
            cut_utf8(text, TEXT_MAX);
            body = f == WEBHOOK_SLACK     ? slack_body(ctx, title, text)
                   : f == WEBHOOK_DISCORD ? discord_body(ctx, title, text, ts)
                                          : teams_body(ctx, title, text);
        }
    }
    char *out = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (!out)
        snprintf(err, errn, "out of memory");
    json_decref(body);
    json_decref(ctx);
    free(title);
    free(text);
    return out;
}

json_t *webhook_sample_payload(const char *key, const char *lang, time_t now)
{
    char at[32];
    iso_utc(at, sizeof at, now);
    int en = lang && strcmp(lang, "en") == 0;
    return json_pack(
        "{s:i, s:s, s:s, s:s, s:s, s:s, s:i, s:[{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, "
        "s:s, s:s, s:s, s:s, s:s, s:s}}], s:{}}",
        "v", 1, "key", key, "channel", VG_WEBHOOK_CHANNEL, "lang", en ? "en" : "es", "tz", "UTC",
        "kind", "test", "count", 1, "items", "topic", "dataset.status_changed", "kind", "down",
        "portal", "example", "at", at, "previous", "up", "current", "down", "reason",
        en ? "sample: HTTP 503 from the resource" : "muestra: HTTP 503 del recurso", "dataset",
        "id", "00000000-0000-0000-0000-000000000000", "name", "sample-dataset", "title",
        en ? "Sample dataset" : "Dataset de muestra", "organization", "example-org",
        "organization_title", en ? "Example organization" : "Organización de ejemplo", "url",
        "https://example.org/dataset/sample-dataset", "vigia_url", "", "links");
}
