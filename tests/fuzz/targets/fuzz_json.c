/* libFuzzer target: the JSON depth pre-check of the SDK (vg_json_parse in
 * include/vigia/json.h), checked against jansson itself.
 *
 * jansson on the 8 MiB main stack is the oracle: it parses the input (its own
 * limit is 2048 levels) and the true depth of what it built is measured. Then,
 * for the default, the smallest and the largest [server] json_max_depth, on a
 * civetweb-sized stack:
 *   - input the pre-check lets through must parse (and serialize, and free)
 *     without crashing, exactly as jansson alone parses it, and never be
 *     deeper than the limit;
 *   - a refusal must say "nesting deeper than N levels" and must not hit a
 *     document that is in fact within the limit. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vigia/json.h>

#include "fuzz_stack.h"

/* The default and both ends of [server] json_max_depth's range (core/server.c: 2..128);
 * keep in step with that range. */
static const int limits[] = {VG_JSON_MAX_DEPTH_DEFAULT, 2, 128};

typedef struct job {
    const char *text;
    size_t len;
    const json_t *oracle; /* jansson's own answer, or NULL */
    int oracle_depth;
} job;

static int depth_of(const json_t *v)
{
    int d = 0;
    if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach (v, i, e) {
            int c = depth_of(e);
            d = c > d ? c : d;
        }
        return d + 1;
    }
    if (json_is_object(v)) {
        const char *k;
        const json_t *e;
        json_object_foreach ((json_t *)v, k, e) {
            int c = depth_of(e);
            d = c > d ? c : d;
        }
        return d + 1;
    }
    return 0;
}

static void *parse(void *arg)
{
    const job *j = arg;
    for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++) {
        int max = limits[l];
        size_t at = 0;
        int refused = vg_json_depth_exceeds(j->text, j->len, max, &at);
        json_error_t err;
        json_t *v = vg_json_parse(j->text, j->len, JSON_DECODE_ANY, max, &err);
        if (refused) {
            char want[64];
            snprintf(want, sizeof want, "nesting deeper than %d levels", max);
            if (v || strcmp(err.text, want) != 0 || at >= j->len)
                abort();
            if (j->oracle && j->oracle_depth <= max)
                abort(); /* a valid document within the limit was refused */
            continue;
        }
        if ((v == NULL) != (j->oracle == NULL))
            abort(); /* the pre-check changed jansson's verdict */
        if (!v)
            continue;
        if (j->oracle_depth > max || !json_equal(v, j->oracle))
            abort(); /* deeper than the limit yet let through */
        char *out = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        free(out);
        json_decref(v);
    }
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1); /* exact size: ASan sees reads past the end */
    if (!text)
        return 0;
    memcpy(text, data, size);
    json_error_t err;
    json_t *oracle = json_loadb(text, size, JSON_DECODE_ANY, &err);
    job j = {text, size, oracle, oracle ? depth_of(oracle) : 0};
    fuzz_on_handler_stack(parse, &j);
    json_decref(oracle);
    free(text);
    return 0;
}
