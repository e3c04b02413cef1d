/* The delivery payload (include/vigia/contract/delivery.h) as the templates
 * see it: labels in the subscriber's language, times in their zone, and the
 * schema every template is checked against at load. Keep SCHEMA and
 * tmpl_context_build in step: a name in one and not the other is either a
 * load error or a hole in a mail. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmpl.h"

static const char SCHEMA[] =
    "{\"lang\":\"\",\"kind\":\"\",\"to\":\"\",\"tz\":\"\",\"count\":0,\"shown\":0,"
    "\"more\":0,\"sent_at\":\"\",\"portals\":\"\","
    "\"links\":{\"manage\":\"\",\"unsubscribe\":\"\",\"confirm\":\"\"},"
    "\"first\":{},\"items\":[{}],"
    /* maintainer mails: which message of the outage, and whom it names */
    "\"reminder\":true,\"escalation\":true,\"recovery\":true,\"contact\":\"\","
    "\"maintainer_email\":\"\"}";

static const char ITEM_SCHEMA[] =
    "{\"kind\":\"\",\"kind_label\":\"\",\"portal\":\"\",\"at\":\"\",\"previous\":\"\","
    "\"current\":\"\",\"previous_label\":\"\",\"current_label\":\"\",\"has_change\":true,"
    "\"reason\":\"\",\"changes\":\"\",\"title\":\"\",\"org\":\"\","
    "\"dataset\":{\"id\":\"\",\"name\":\"\",\"title\":\"\",\"organization\":\"\","
    "\"organization_title\":\"\",\"url\":\"\",\"vigia_url\":\"\"}}";

json_t *tmpl_context_schema(void)
{
    json_t *s = json_loads(SCHEMA, 0, NULL);         /* json-own-data */
    json_t *item = json_loads(ITEM_SCHEMA, 0, NULL); /* json-own-data */
    if (!s || !item) {
        json_decref(s);
        json_decref(item);
        return NULL;
    }
    json_object_set(s, "first", item);
    json_array_set(json_object_get(s, "items"), 0, item);
    json_decref(item);
    return s;
}

typedef struct label {
    const char *key, *es, *en;
} label;

static const label kinds[] = {
    {"down", "dejó de responder", "went down"},
    {"degraded", "tiene recursos con fallas", "has failing resources"},
    {"recovered", "vuelve a responder", "recovered"},
    {"removed", "ya no está en el portal", "was removed from the portal"},
    {"added", "apareció en el portal", "appeared on the portal"},
    {"modified", "cambió sus metadatos", "changed its metadata"},
    {"empty", "quedó sin recursos", "has no resources left"},
    {"stale", "está desactualizado según la frecuencia que declara",
     "is out of date against the frequency it declares"},
    {"refreshed", "está al día otra vez", "is up to date again"},
    {"content_changed", "tiene contenido nuevo en sus archivos", "has new content in its files"},
    {"schema_changed", "cambió las columnas de sus archivos", "changed the columns of its files"},
    {"recreated",
     "tiene recursos recreados con otro id (los enlaces de la API al id anterior fallan)",
     "has resources re-created under new ids (API links to the old id break)"},
    {"format_drift", "entrega un formato distinto al declarado",
     "serves a format other than the declared one"},
};

static const label statuses[] = {
    {"up", "disponible", "up"},
    {"down", "caído", "down"},
    {"degraded", "degradado", "degraded"},
    {"unknown", "desconocido", "unknown"},
    {"empty", "sin recursos", "empty"},
    {"removed", "eliminado", "removed"},
};

static const char *label_of(const label *t, size_t n, const char *key, int en)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].key, key) == 0)
            return en ? t[i].en : t[i].es;
    return key;
}

const char *tmpl_kind_label(const char *kind, int en)
{
    return label_of(kinds, sizeof kinds / sizeof *kinds, kind, en);
}

const char *tmpl_status_label(const char *status, int en)
{
    return label_of(statuses, sizeof statuses / sizeof *statuses, status, en);
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* "2026-12-01T00:13:10Z" (fraction and +hh:mm allowed) -> seconds, or -1. */
static int64_t parse_iso(const char *s)
{
    int y, mo, d, h, mi, se, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &n) != 6 || mo < 1 ||
        mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return -1;
    const char *p = s + n;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    int64_t off = 0;
    if (*p == '+' || *p == '-') {
        int oh, om;
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2)
            return -1;
        off = (*p == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    } else if (*p != 'Z' && *p != '\0')
        return -1;
    return vg_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off;
}

/* "2026-12-01 21:13 UTC-03:00" in the zone (UTC when the host has no such
 * zone). */
static void local_time(const vg_host *h, char *out, size_t n, const char *tz, int64_t t)
{
    vg_tz_info ti;
    vg_civil c;
    h->tz_info(h, tz, t, &ti);
    vg_civil_from_secs(t + ti.offset_s, &c);
    int off = ti.offset_s < 0 ? -ti.offset_s : ti.offset_s;
    snprintf(out, n, "%04d-%02d-%02d %02d:%02d UTC%c%02d:%02d", c.year, c.month, c.day, c.hour,
             c.minute, ti.offset_s < 0 ? '-' : '+', off / 3600, off % 3600 / 60);
}

/* `changes` is free-form in the contract: a string, or a list of strings. */
static json_t *changes_text(const json_t *c)
{
    if (json_is_string(c))
        return json_string(json_string_value(c));
    tmpl_buf b = {0};
    size_t i;
    json_t *v;
    json_array_foreach (c, i, v) {
        if (!json_is_string(v))
            continue;
        if (b.len)
            tmpl_buf_adds(&b, "; ");
        tmpl_buf_adds(&b, json_string_value(v));
    }
    char *s = tmpl_buf_take(&b, NULL);
    json_t *r = json_string(s ? s : "");
    free(s);
    return r;
}

static json_t *item_build(const vg_host *h, const json_t *in, const char *tz, int en)
{
    const json_t *ds = json_object_get(in, "dataset");
    const char *kind = str(in, "kind"), *prev = str(in, "previous"), *cur = str(in, "current");
    char at[64] = "";
    int64_t t = parse_iso(str(in, "at"));
    if (t >= 0)
        local_time(h, at, sizeof at, tz, t);
    const char *title = str(ds, "title");
    if (!*title)
        title = *str(ds, "name") ? str(ds, "name") : str(ds, "id");
    const char *org =
        *str(ds, "organization_title") ? str(ds, "organization_title") : str(ds, "organization");
    json_t *d = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", str(ds, "id"), "name", str(ds, "name"),
        "title", str(ds, "title"), "organization", str(ds, "organization"), "organization_title",
        str(ds, "organization_title"), "url", str(ds, "url"), "vigia_url", str(ds, "vigia_url"));
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:o, s:s, s:s, s:o}", "kind", kind,
        "kind_label", tmpl_kind_label(kind, en), "portal", str(in, "portal"), "at", at, "previous",
        prev, "current", cur, "previous_label", tmpl_status_label(prev, en), "current_label",
        tmpl_status_label(cur, en), "has_change", *prev && *cur && strcmp(prev, cur) != 0, "reason",
        str(in, "reason"), "changes", changes_text(json_object_get(in, "changes")), "title", title,
        "org", org, "dataset", d);
}

json_t *tmpl_context_build(const vg_host *h, const json_t *p, time_t now, int max_items, char *err,
                           size_t errn)
{
    const char *lang = str(p, "lang"), *tz = str(p, "tz"), *kind = str(p, "kind");
    if (strcmp(lang, "es") != 0 && strcmp(lang, "en") != 0) {
        snprintf(err, errn, "lang must be es or en, found '%.32s'", lang);
        return NULL;
    }
    if (!*kind) {
        snprintf(err, errn, "no kind");
        return NULL;
    }
    if (!*tz)
        tz = "UTC";
    int en = lang[0] == 'e' && lang[1] == 'n';
    const json_t *items = json_object_get(p, "items");
    const json_t *links = json_object_get(p, "links");
    json_t *out_items = json_array();
    size_t i;
    const json_t *it;
    json_array_foreach (items, i, it) {
        if ((int)i >= max_items)
            break;
        json_array_append_new(out_items, item_build(h, it, tz, en));
    }
    size_t shown = json_array_size(out_items);
    json_int_t count = json_integer_value(json_object_get(p, "count"));
    if (count < (json_int_t)json_array_size(items))
        count = (json_int_t)json_array_size(items);
    /* The portals named in the items, once each, for subjects of digests. */
    tmpl_buf portals = {0};
    json_array_foreach (out_items, i, it) {
        const char *pn = str(it, "portal");
        int seen = 0;
        for (size_t k = 0; k < i && !seen; k++)
            seen = strcmp(str(json_array_get(out_items, k), "portal"), pn) == 0;
        if (*pn && !seen) {
            if (portals.len)
                tmpl_buf_adds(&portals, ", ");
            tmpl_buf_adds(&portals, pn);
        }
    }
    char *ps = tmpl_buf_take(&portals, NULL);
    char sent[64];
    local_time(h, sent, sizeof sent, tz, (int64_t)now);
    json_t *first =
        json_array_size(out_items) ? json_incref(json_array_get(out_items, 0)) : json_object();
    json_t *ctx = json_pack(
        "{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:{s:s, s:s, s:s}, s:o, s:o}", "lang", lang,
        "kind", kind, "to", str(p, "to"), "tz", tz, "count", count, "shown", (json_int_t)shown,
        "more", count - (json_int_t)shown, "sent_at", sent, "portals", ps ? ps : "", "links",
        "manage", str(links, "manage"), "unsubscribe", str(links, "unsubscribe"), "confirm",
        str(links, "confirm"), "first", first, "items", out_items);
    free(ps);
    const char *stage = str(p, "stage");
    if (ctx) {
        json_object_set_new(ctx, "reminder", json_boolean(strcmp(stage, "reminder") == 0));
        json_object_set_new(ctx, "escalation", json_boolean(strcmp(stage, "escalation") == 0));
        json_object_set_new(ctx, "recovery", json_boolean(strcmp(stage, "recovery") == 0));
        json_object_set_new(ctx, "contact", json_string(str(p, "contact")));
        json_object_set_new(ctx, "maintainer_email", json_string(str(p, "maintainer_email")));
    }
    if (!ctx)
        snprintf(err, errn, "cannot build the template context (out of memory)");
    return ctx;
}
