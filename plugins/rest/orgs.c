/* rest: the public report per organisation (the monitor's organizations.list
 * and organizations.get): JSON, or the table as CSV (?format=csv, RFC 4180,
 * UTF-8) for a spreadsheet. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vigia/contract/monitor.h>

#include "rest.h"

/* A growable text buffer; `failed` after an allocation failure. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool failed;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 4096;
        while (nc < b->len + n + 1)
            nc *= 2;
        char *p = realloc(b->p, nc);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

/* One field: quoted when it holds a comma, a quote or a line break; a leading
 * = + - @ is prefixed with ' so a spreadsheet never runs it as a formula. */
static void csv_field(sbuf *b, const json_t *v, bool last)
{
    char num[64] = "";
    const char *s = num;
    if (json_is_string(v))
        s = json_string_value(v);
    else if (json_is_integer(v))
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(num, sizeof num, "%.4g", json_real_value(v));
    bool quote = strpbrk(s, ",\"\r\n") != NULL;
    bool formula = json_is_string(v) && (*s == '=' || *s == '+' || *s == '-' || *s == '@');
    if (quote)
        sb_add(b, "\"", 1);
    if (formula)
        sb_add(b, "'", 1);
    for (const char *c = s; *c; c++) {
        sb_add(b, c, 1);
        if (*c == '"') /* a quote inside a quoted field is doubled */
            sb_add(b, "\"", 1);
    }
    if (quote)
        sb_add(b, "\"", 1);
    sb_add(b, last ? "\r\n" : ",", last ? 2 : 1);
}

static const char *const k_cols[] = {
    "portal",           "organization",        "organization_title", "datasets",
    "availability_30d", "availability_365d",   "resources",          "resources_broken",
    "broken_share",     "fresh_share",         "overdue_share",      "delinquent_share",
    "repairs",          "median_repair_hours", "schema_changes",     NULL};

static int reply_csv(rest_req *rq, const json_t *items)
{
    sbuf b = {0};
    for (size_t i = 0; k_cols[i]; i++) {
        json_t *name = json_string(k_cols[i]);
        csv_field(&b, name, !k_cols[i + 1]);
        json_decref(name);
    }
    size_t i;
    const json_t *it;
    json_array_foreach (items, i, it)
        for (size_t c = 0; k_cols[c]; c++)
            csv_field(&b, json_object_get(it, k_cols[c]), !k_cols[c + 1]);
    if (b.failed) {
        free(b.p);
        return rest_reply_error(rq, 500, "INTERNAL", "out of memory building the CSV");
    }
    vg_http_set_header(rq->req, "Content-Disposition",
                       "attachment; filename=\"vigia-organizations.csv\"");
    int rc = rest_reply_text(rq, 200, "text/csv; charset=utf-8", b.p ? b.p : "", b.len);
    free(b.p);
    return rc;
}

int rest_h_organizations(rest_req *rq)
{
    static const char *const allowed[] = {"portal", "sort", "format", NULL};
    static const char *const formats[] = {"json", "csv", NULL};
    char *portal = NULL, *sort = NULL;
    const char *format = NULL;
    if (rest_query_check(rq, allowed) < 0 || rest_query_string(rq, "portal", 100, &portal) < 0 ||
        rest_query_string(rq, "sort", 40, &sort) < 0 ||
        rest_query_enum(rq, "format", formats, &format) < 0) {
        free(portal);
        free(sort);
        return 0;
    }
    json_t *params = json_object();
    if (portal)
        json_object_set_new(params, "portal", json_string(portal));
    if (sort)
        json_object_set_new(params, "sort", json_string(sort));
    free(portal);
    free(sort);
    json_t *res = NULL;
    int rc = rest_call(rq, VG_MONITOR_M_ORGANIZATIONS_LIST, params, &res);
    json_decref(params);
    if (rc < 0)
        return 0;
    if (format && strcmp(format, "csv") == 0) {
        rc = reply_csv(rq, json_object_get(res, "items"));
        json_decref(res);
        return rc;
    }
    json_object_del(res, "took_ms"); /* a figure of this request, not of the data: keeps the ETag */
    return rest_reply_json(rq, 200, res, true);
}

int rest_h_organization(rest_req *rq)
{
    static const char *const allowed[] = {"portal", NULL};
    const char *name = vg_http_param(rq->req, "name");
    char *portal = NULL;
    if (rest_query_check(rq, allowed) < 0 || rest_query_string(rq, "portal", 100, &portal) < 0)
        return 0;
    if (!name || strlen(name) > 200) {
        free(portal);
        return rest_reply_error(rq, 400, "INVALID_ARGUMENT",
                                "expected an organisation name of at most 200 characters");
    }
    /* "-": the datasets without an organisation */
    json_t *params = json_pack("{s:s}", "name", strcmp(name, "-") == 0 ? "" : name);
    if (portal)
        json_object_set_new(params, "portal", json_string(portal));
    free(portal);
    json_t *res = NULL;
    int rc = rest_call(rq, VG_MONITOR_M_ORGANIZATIONS_GET, params, &res);
    json_decref(params);
    if (rc < 0)
        return 0;
    return rest_reply_json(rq, 200, res, true);
}
