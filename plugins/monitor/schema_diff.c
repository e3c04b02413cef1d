/* Schema summaries (the stored and published form) and the diff of two schemas. */
#include "sniff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUMMARY_COLS 50
#define MAX_CHANGES 100

static const char *delim_name(char d)
{
    switch (d) {
    case ',':
        return ",";
    case ';':
        return ";";
    case '\t':
        return "\t";
    case '|':
        return "|";
    default:
        return "";
    }
}

json_t *mon_schema_to_json(const mon_schema *s, size_t max_cols)
{
    if (!s->is_table)
        return json_pack("{s:b,s:s}", "table", 0, "reason", s->reason);
    json_t *cols = json_array();
    size_t n = max_cols && s->ncols > max_cols ? max_cols : s->ncols;
    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            cols, json_pack("[s,s]", s->cols[i].name, mon_coltype_name(s->cols[i].type)));
    return json_pack("{s:b,s:s,s:s,s:s,s:b,s:I,s:o}", "table", 1, "format", s->format, "encoding",
                     mon_encoding_name(s->encoding), "delimiter", delim_name(s->delimiter),
                     "header", s->has_header, "ncols", (json_int_t)s->ncols, "columns", cols);
}

static mon_coltype type_parse(const char *t)
{
    for (int k = MON_COL_EMPTY; k <= MON_COL_BOOLEAN; k++)
        if (strcmp(t, mon_coltype_name((mon_coltype)k)) == 0)
            return (mon_coltype)k;
    return MON_COL_TEXT;
}

int mon_schema_from_json(const json_t *j, mon_schema *out)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(j))
        return -1;
    if (!json_is_true(json_object_get(j, "table"))) {
        const char *r = json_string_value(json_object_get(j, "reason"));
        snprintf(out->reason, sizeof out->reason, "%s", r ? r : "");
        return 0;
    }
    const char *f = json_string_value(json_object_get(j, "format"));
    const char *e = json_string_value(json_object_get(j, "encoding"));
    const char *d = json_string_value(json_object_get(j, "delimiter"));
    json_t *cols = json_object_get(j, "columns");
    if (!f || !e || !d || !json_is_array(cols) || json_array_size(cols) > MON_SNIFF_MAX_COLS)
        return -1;
    snprintf(out->format, sizeof out->format, "%s", f);
    for (int k = MON_ENC_UNKNOWN; k <= MON_ENC_LATIN1; k++)
        if (strcmp(e, mon_encoding_name((mon_encoding)k)) == 0)
            out->encoding = (mon_encoding)k;
    out->delimiter = d[0];
    out->has_header = json_is_true(json_object_get(j, "header"));
    size_t n = json_array_size(cols);
    out->cols = calloc(n ? n : 1, sizeof *out->cols);
    if (!out->cols)
        return -1;
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(cols, i);
        const char *name = json_string_value(json_array_get(c, 0));
        const char *type = json_string_value(json_array_get(c, 1));
        if (!name || !type || !(out->cols[i].name = strdup(name))) {
            mon_schema_free(out);
            return -1;
        }
        out->cols[i].type = type_parse(type);
        out->ncols = i + 1;
    }
    out->is_table = 1;
    return 0;
}

/* Columns are matched by name, in order, so duplicate names pair up first with first. */
static void match_names(const mon_schema *a, const mon_schema *b, long *a2b, long *b2a)
{
    for (size_t i = 0; i < a->ncols; i++)
        a2b[i] = -1;
    for (size_t j = 0; j < b->ncols; j++)
        b2a[j] = -1;
    for (size_t i = 0; i < a->ncols; i++)
        for (size_t j = 0; j < b->ncols; j++)
            if (b2a[j] < 0 && strcmp(a->cols[i].name, b->cols[j].name) == 0) {
                a2b[i] = (long)j;
                b2a[j] = (long)i;
                break;
            }
}

static void add(json_t *changes, json_t *c, int *truncated)
{
    if (json_array_size(changes) >= MAX_CHANGES) {
        *truncated = 1;
        json_decref(c);
        return;
    }
    json_array_append_new(changes, c);
}

json_t *mon_schema_diff(const mon_schema *before, const mon_schema *after)
{
    if (!before->is_table && !after->is_table)
        return NULL;
    json_t *changes = json_array();
    int trunc = 0;
    if (before->is_table && !after->is_table) {
        add(changes, json_pack("{s:s,s:s}", "kind", "table_lost", "reason", after->reason), &trunc);
        goto out;
    }
    if (!before->is_table && after->is_table) {
        add(changes, json_pack("{s:s}", "kind", "table_found"), &trunc);
        goto out;
    }
    if (before->delimiter != after->delimiter)
        add(changes,
            json_pack("{s:s,s:s,s:s}", "kind", "delimiter", "from", delim_name(before->delimiter),
                      "to", delim_name(after->delimiter)),
            &trunc);
    if (before->encoding != after->encoding)
        add(changes,
            json_pack("{s:s,s:s,s:s}", "kind", "encoding", "from",
                      mon_encoding_name(before->encoding), "to",
                      mon_encoding_name(after->encoding)),
            &trunc);

    long *a2b = malloc(sizeof(long) * (before->ncols + 1));
    long *b2a = malloc(sizeof(long) * (after->ncols + 1));
    if (!a2b || !b2a) {
        free(a2b);
        free(b2a);
        json_decref(changes);
        return NULL;
    }
    match_names(before, after, a2b, b2a);
    /* renamed: same position, same type, the old name gone and the new one new */
    for (size_t i = 0; i < before->ncols && i < after->ncols; i++) {
        if (a2b[i] >= 0 || b2a[i] >= 0 || before->cols[i].type != after->cols[i].type)
            continue;
        add(changes,
            json_pack("{s:s,s:I,s:s,s:s,s:s}", "kind", "renamed", "position", (json_int_t)(i + 1),
                      "from", before->cols[i].name, "to", after->cols[i].name, "type",
                      mon_coltype_name(after->cols[i].type)),
            &trunc);
        a2b[i] = -2; /* marks "renamed": neither removed nor added, not part of the order */
        b2a[i] = -2;
    }
    for (size_t i = 0; i < before->ncols; i++)
        if (a2b[i] == -1)
            add(changes,
                json_pack("{s:s,s:I,s:s,s:s}", "kind", "removed", "position", (json_int_t)(i + 1),
                          "name", before->cols[i].name, "type",
                          mon_coltype_name(before->cols[i].type)),
                &trunc);
    for (size_t j = 0; j < after->ncols; j++)
        if (b2a[j] == -1)
            add(changes,
                json_pack("{s:s,s:I,s:s,s:s}", "kind", "added", "position", (json_int_t)(j + 1),
                          "name", after->cols[j].name, "type",
                          mon_coltype_name(after->cols[j].type)),
                &trunc);
    /* retyped: a column known on both sides whose type changed; an all-empty sample says
     * nothing about the type, so it never counts */
    for (size_t i = 0; i < before->ncols; i++) {
        if (a2b[i] < 0)
            continue;
        mon_coltype t0 = before->cols[i].type, t1 = after->cols[a2b[i]].type;
        if (t0 != t1 && t0 != MON_COL_EMPTY && t1 != MON_COL_EMPTY)
            add(changes,
                json_pack("{s:s,s:s,s:s,s:s}", "kind", "retyped", "name", before->cols[i].name,
                          "from", mon_coltype_name(t0), "to", mon_coltype_name(t1)),
                &trunc);
    }
    /* reordered: the columns present on both sides are not in the same relative order */
    long last = -1;
    int moved = 0;
    for (size_t i = 0; i < before->ncols; i++) {
        if (a2b[i] < 0)
            continue;
        if (a2b[i] < last)
            moved = 1;
        last = a2b[i];
    }
    if (moved) {
        json_t *b = json_array(), *a = json_array();
        for (size_t i = 0; i < before->ncols && json_array_size(b) < SUMMARY_COLS; i++)
            if (a2b[i] >= 0)
                json_array_append_new(b, json_string(before->cols[i].name));
        for (size_t j = 0; j < after->ncols && json_array_size(a) < SUMMARY_COLS; j++)
            if (b2a[j] >= 0)
                json_array_append_new(a, json_string(after->cols[j].name));
        add(changes, json_pack("{s:s,s:o,s:o}", "kind", "reordered", "before", b, "after", a),
            &trunc);
    }
    free(a2b);
    free(b2a);
out:
    if (json_array_size(changes) == 0) {
        json_decref(changes);
        return NULL;
    }
    return json_pack("{s:i,s:o,s:b,s:o,s:o}", "v", 1, "changes", changes, "truncated", trunc,
                     "before", mon_schema_to_json(before, SUMMARY_COLS), "after",
                     mon_schema_to_json(after, SUMMARY_COLS));
}
