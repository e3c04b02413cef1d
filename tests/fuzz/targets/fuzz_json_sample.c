/* libFuzzer: the first bytes of a JSON resource -> plugins/monitor/json_sample.c. The first input
 * byte chooses where a second, shorter sample is cut. Beyond no crash/UB/leak: a table has 1 to
 * MON_SNIFF_MAX_COLS distinct names in valid UTF-8 and 1 to MON_SNIFF_MAX_ROWS objects; a
 * refusal says why; and a shorter prefix of a table never sees other columns: its names are the
 * first names of the longer sample, in the same order, from no more objects. */
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
    if (s->ncols > MON_SNIFF_MAX_COLS || s->rows_sampled < 1 ||
        s->rows_sampled > MON_SNIFF_MAX_ROWS)
        abort();
    for (size_t i = 0; i < s->ncols; i++) {
        json_t *js = json_string(s->cols[i].name);
        if (!js || strlen(s->cols[i].name) > MON_SNIFF_MAX_NAME)
            abort();
        json_decref(js);
        for (size_t k = 0; k < i; k++)
            if (strcmp(s->cols[k].name, s->cols[i].name) == 0)
                abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 20))
        return 0;
    size_t n = size - 1;
    unsigned char *b = malloc(n ? n : 1);
    if (!b)
        return 0;
    memcpy(b, data + 1, n);
    mon_schema full, part;
    if (mon_json_sample(b, n, &full) != 0)
        abort();
    check(&full);
    size_t cut = n * data[0] / 255;
    unsigned char *p = malloc(cut ? cut : 1);
    if (!p)
        abort();
    memcpy(p, b, cut);
    if (mon_json_sample(p, cut, &part) != 0)
        abort();
    check(&part);
    if (full.is_table && part.is_table) {
        if (part.ncols > full.ncols || part.rows_sampled > full.rows_sampled)
            abort();
        for (size_t i = 0; i < part.ncols; i++)
            if (strcmp(part.cols[i].name, full.cols[i].name) != 0)
                abort();
    }
    mon_schema_free(&full);
    mon_schema_free(&part);
    free(p);
    free(b);
    return 0;
}
