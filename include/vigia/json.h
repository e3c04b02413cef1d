/* Vigía public SDK: parsing JSON that comes from outside.
 *
 * jansson's parser recurses once per nesting level; on civetweb's 100 KiB
 * handler stacks a 2 KB body of a thousand '[' overflows the stack long before
 * jansson's own limit (2048). Every parse of client or portal input therefore
 * goes through vg_json_parse(): a linear pre-scan that refuses nesting deeper
 * than `max_depth` before jansson sees the text. Plugins normally call
 * host->json_parse(), which applies the configured [server] json_max_depth;
 * pure code without a host (codecs, parsers under test) calls vg_json_parse()
 * with the limit it was given. */
#ifndef VIGIA_JSON_H
#define VIGIA_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The default nesting limit ([server] json_max_depth). */
#define VG_JSON_MAX_DEPTH_DEFAULT 64

/* Deepest nesting of arrays and objects in `buf[0..len)`, counting brackets
 * outside strings only; stops counting (and returns a value > max_depth) as
 * soon as `max_depth` is exceeded, and sets *at to that byte's offset. The
 * text need not be valid JSON: jansson still judges it afterwards. */
static inline int vg_json_depth_exceeds(const char *buf, size_t len, int max_depth, size_t *at)
{
    int depth = 0;
    int in_str = 0, esc = 0;
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (in_str) {
            if (esc)
                esc = 0;
            else if (c == '\\')
                esc = 1;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"')
            in_str = 1;
        else if (c == '[' || c == '{') {
            if (++depth > max_depth) {
                if (at)
                    *at = i;
                return 1;
            }
        } else if ((c == ']' || c == '}') && depth > 0)
            depth--;
    }
    return 0;
}

/* json_loadb() behind the depth pre-check. New reference, or NULL with `err`
 * filled (when given): too deep reads "nesting deeper than N levels". */
static inline json_t *vg_json_parse(const char *buf, size_t len, size_t flags, int max_depth,
                                    json_error_t *err)
{
    size_t at = 0;
    if (!buf || vg_json_depth_exceeds(buf, len, max_depth, &at)) {
        if (err) {
            err->line = -1;
            err->column = -1;
            err->position = (int)at;
            err->source[0] = '\0';
            snprintf(err->text, sizeof err->text,
                     buf ? "nesting deeper than %d levels" : "no input", max_depth);
        }
        return NULL;
    }
    return json_loadb(buf, len, flags, err);
}

#ifdef __cplusplus
}
#endif

#endif /* VIGIA_JSON_H */
