/* Schema of a JSON array of objects from the first bytes of a file. The sample is a prefix, so a
 * whole-document parser would refuse it: each complete top-level object is delimited here (string
 * aware, depth bounded) and only that object is handed to jansson. */
#include <vigia/json.h>

#include "sniff.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { M_BOOL = 1, M_INT = 2, M_NUM = 4, M_DATE = 8 };

static void why(mon_schema *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->reason, sizeof s->reason, fmt, ap);
    va_end(ap);
    s->is_table = 0;
}

static int ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* End (one past '}') of the value starting at b[i] == '{' or '['; 0 when cut by the end,
 * (size_t)-1 when nested deeper than the limit or unbalanced brackets. */
static size_t value_end(const unsigned char *b, size_t len, size_t i)
{
    int depth = 0, in_str = 0;
    for (; i < len; i++) {
        unsigned char c = b[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"')
            in_str = 1;
        else if (c == '{' || c == '[') {
            if (++depth > MON_JSON_MAX_DEPTH)
                return (size_t)-1;
        } else if (c == '}' || c == ']') {
            if (--depth == 0)
                return i + 1;
            if (depth < 0)
                return (size_t)-1;
        }
    }
    return 0;
}

typedef struct {
    mon_schema *s;
    unsigned *mask;
    size_t *nonempty;
} acc;

/* Column of a key, added when new. Long keys are cut first (on a UTF-8 boundary) so the same
 * long key in every object stays one column. */
static int column_of(acc *a, const char *key)
{
    size_t kl = strlen(key);
    if (kl > MON_SNIFF_MAX_NAME) {
        kl = MON_SNIFF_MAX_NAME;
        while (kl > 0 && ((unsigned char)key[kl] & 0xC0) == 0x80)
            kl--;
    }
    for (size_t i = 0; i < a->s->ncols; i++)
        if (strncmp(a->s->cols[i].name, key, kl) == 0 && a->s->cols[i].name[kl] == 0)
            return (int)i;
    if (a->s->ncols >= MON_SNIFF_MAX_COLS)
        return -2;
    size_t n = a->s->ncols;
    mon_column *c = realloc(a->s->cols, sizeof *c * (n + 1));
    if (!c)
        return -1;
    a->s->cols = c;
    unsigned *m = realloc(a->mask, sizeof *m * (n + 1));
    if (!m)
        return -1;
    a->mask = m;
    size_t *ne = realloc(a->nonempty, sizeof *ne * (n + 1));
    if (!ne)
        return -1;
    a->nonempty = ne;
    char *name = malloc(kl + 1);
    if (!name)
        return -1;
    memcpy(name, key, kl);
    name[kl] = 0;
    c[n].name = name;
    c[n].type = MON_COL_EMPTY;
    m[n] = ~0u;
    ne[n] = 0;
    a->s->ncols = n + 1;
    return (int)n;
}

static unsigned value_mask(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL:
        return ~0u;
    case JSON_TRUE:
    case JSON_FALSE:
        return M_BOOL;
    case JSON_INTEGER:
        return M_INT | M_NUM;
    case JSON_REAL:
        return M_NUM;
    case JSON_STRING: {
        size_t n = json_string_length(v);
        if (n == 0)
            return ~0u;
        /* JSON says its own types: strings are text unless they read as a date */
        return mon_cell_type(json_string_value(v), n) == MON_COL_DATE ? M_DATE : 0;
    }
    default:
        return 0; /* objects and arrays: text */
    }
}

int mon_json_sample(const unsigned char *buf, size_t len, mon_schema *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->format, sizeof out->format, "json");
    out->encoding = MON_ENC_UTF8;
    size_t i = 0;
    if (len >= 3 && buf[0] == 0xEF && buf[1] == 0xBB && buf[2] == 0xBF)
        i = 3, out->encoding = MON_ENC_UTF8_BOM;
    while (i < len && ws(buf[i]))
        i++;
    if (i >= len) {
        why(out, "empty sample");
        return 0;
    }
    if (buf[i] != '[') {
        why(out, "not a JSON array of objects (starts with '%c')",
            buf[i] >= 0x20 && buf[i] < 0x7F ? buf[i] : '?');
        return 0;
    }
    i++;
    acc a = {out, NULL, NULL};
    int rc = 0;
    for (;;) {
        while (i < len && (ws(buf[i]) || buf[i] == ','))
            i++;
        if (i >= len || buf[i] == ']')
            break; /* cut by the sample, or the end of the array */
        if (buf[i] != '{') {
            why(out, "element %zu of the array is not an object", out->rows_sampled + 1);
            goto done;
        }
        size_t e = value_end(buf, len, i);
        if (e == 0)
            break; /* the object the sample cut */
        if (e == (size_t)-1) {
            why(out, "element %zu nests deeper than %d or has unbalanced brackets",
                out->rows_sampled + 1, MON_JSON_MAX_DEPTH);
            goto done;
        }
        json_error_t err;
        json_t *o =
            vg_json_parse((const char *)buf + i, e - i, JSON_ALLOW_NUL, MON_JSON_MAX_DEPTH, &err);
        if (!o) {
            why(out, "element %zu: %s", out->rows_sampled + 1, err.text);
            goto done;
        }
        const char *k;
        json_t *v;
        json_object_foreach (o, k, v) {
            int c = column_of(&a, k);
            if (c == -1) {
                json_decref(o);
                rc = -1;
                goto done;
            }
            if (c == -2) {
                json_decref(o);
                why(out, "more than %d keys", MON_SNIFF_MAX_COLS);
                goto done;
            }
            unsigned m = value_mask(v);
            if (m != ~0u)
                a.nonempty[c]++;
            a.mask[c] &= m;
        }
        json_decref(o);
        i = e;
        if (++out->rows_sampled >= MON_SNIFF_MAX_ROWS)
            break;
    }
    if (out->rows_sampled == 0) {
        why(out, "no complete object in the sample");
        goto done;
    }
    for (size_t c = 0; c < out->ncols; c++) {
        unsigned m = a.mask[c];
        mon_coltype t = MON_COL_TEXT;
        if (a.nonempty[c] == 0)
            t = MON_COL_EMPTY;
        else if (m & M_BOOL)
            t = MON_COL_BOOLEAN;
        else if (m & M_INT)
            t = MON_COL_INTEGER;
        else if (m & M_NUM)
            t = MON_COL_NUMBER;
        else if (m & M_DATE)
            t = MON_COL_DATE;
        out->cols[c].type = t;
    }
    out->has_header = 1;
    out->is_table = 1;
done:
    free(a.mask);
    free(a.nonempty);
    if (!out->is_table || rc)
        mon_schema_free(out);
    return rc;
}
