/* libFuzzer: the first bytes of a "CSV" file from a portal -> plugins/monitor/sniff.c. The first
 * input byte chooses whether the rest is a cut prefix. Beyond no crash/UB/leak: a table has 1 to
 * MON_SNIFF_MAX_COLS columns, a known delimiter, names in valid UTF-8 within the name limit, at
 * most MON_SNIFF_MAX_ROWS rows; a refusal says why; the stored summary reads back to a schema
 * with no difference, and the diff against the other reading of the same bytes holds together. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sniff.h"

static void check(const mon_schema *s)
{
    if (!s->is_table) {
        if (!s->reason[0] || s->ncols || s->cols)
            abort();
        return;
    }
    if (s->reason[0] || s->ncols < 1 || s->ncols > MON_SNIFF_MAX_COLS ||
        !strchr(",;\t|", s->delimiter) || !s->delimiter || s->rows_sampled > MON_SNIFF_MAX_ROWS ||
        s->ragged_rows > s->rows_sampled)
        abort();
    for (size_t i = 0; i < s->ncols; i++) {
        const char *n = s->cols[i].name;
        json_t *js = json_string(n); /* NULL for invalid UTF-8 */
        if (!n || strlen(n) > MON_SNIFF_MAX_NAME || !js)
            abort();
        json_decref(js);
    }
    json_t *j = mon_schema_to_json(s, 0);
    mon_schema back;
    if (!j || mon_schema_from_json(j, &back) != 0)
        abort();
    json_t *d = mon_schema_diff(s, &back);
    if (d)
        abort();
    json_decref(j);
    mon_schema_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 20))
        return 0;
    int truncated = data[0] & 1;
    size_t n = size - 1;
    unsigned char *b = malloc(n ? n : 1); /* exact size: any over-read is caught */
    if (!b)
        return 0;
    memcpy(b, data + 1, n);
    mon_schema a, c;
    if (mon_sniff_csv(b, n, truncated, &a) != 0)
        abort();
    check(&a);
    if (mon_sniff_csv(b, n, !truncated, &c) != 0)
        abort();
    check(&c);
    json_t *d = mon_schema_diff(&a, &c);
    if (d && json_array_size(json_object_get(d, "changes")) == 0)
        abort();
    json_decref(d);
    mon_schema_free(&a);
    mon_schema_free(&c);
    free(b);
    return 0;
}
