/* Binary attachments: base64 both ways, and the placeholder swap between a
 * Socket.IO packet ({"_placeholder":true,"num":k} + attachments) and the
 * bus JSON ({"_binary":"<base64>"}). Pure: jansson only. */
#include <errno.h>
#include <string.h>

#include "base64.h"
#include "sio.h"

size_t brk_b64_encode(const unsigned char *in, size_t len, char *out)
{
    return base64_encode(in, len, out, BASE64_STD);
}

/* Standard or URL-safe alphabet, padding optional; stray low bits pass, as
 * in Node's decoder (lib/base64). */
int brk_b64_decode(const char *in, size_t len, unsigned char *out, size_t *out_len)
{
    long n =
        base64_decode(in, len, out, base64_decoded_max(len), BASE64_ANY | BASE64_LAX_BITS, NULL, 0);
    if (n < 0)
        return -EINVAL;
    *out_len = (size_t)n;
    return 0;
}

static int is_placeholder(const json_t *v, size_t *num)
{
    if (!json_is_object(v) || json_object_size(v) != 2 ||
        !json_is_true(json_object_get(v, "_placeholder")))
        return 0;
    const json_t *n = json_object_get(v, "num");
    if (!json_is_integer(n) || json_integer_value(n) < 0)
        return -1;
    *num = (size_t)json_integer_value(n);
    return 1;
}

static int is_binary(const json_t *v)
{
    return json_is_object(v) && json_object_size(v) == 1 &&
           json_is_string(json_object_get(v, BRK_BINARY_KEY));
}

/* Replace each placeholder in `v` (in place) by {"_binary": parts[num]}. */
static int reconstruct(json_t *v, const json_t *parts, int *used)
{
    size_t num;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *x = json_array_get(v, i);
            int p = is_placeholder(x, &num);
            if (p < 0 || (p && num >= json_array_size(parts)))
                return -EINVAL;
            if (p) {
                json_array_set_new(v, i,
                                   json_pack("{s:O}", BRK_BINARY_KEY, json_array_get(parts, num)));
                (*used)++;
            } else if (reconstruct(x, parts, used) < 0) {
                return -EINVAL;
            }
        }
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach (v, k, x) {
            int p = is_placeholder(x, &num);
            if (p < 0 || (p && num >= json_array_size(parts)))
                return -EINVAL;
            if (p) {
                json_object_set_new(v, k,
                                    json_pack("{s:O}", BRK_BINARY_KEY, json_array_get(parts, num)));
                (*used)++;
            } else if (reconstruct(x, parts, used) < 0) {
                return -EINVAL;
            }
        }
    }
    return 0;
}

int brk_sio_reconstruct(json_t *data, const json_t *parts)
{
    int used = 0;
    if (reconstruct(data, parts, &used) < 0)
        return -EINVAL;
    (void)used; /* extra attachments are ignored, as socket.io-parser does */
    return 0;
}

static json_t *placeholder(size_t n)
{
    return json_pack("{s:b,s:I}", "_placeholder", 1, "num", (json_int_t)n);
}

/* Replace each {"_binary": b64} in `v` (in place) by a placeholder; the
 * base64 strings go to `parts` in order. */
static int deconstruct(json_t *v, json_t *parts)
{
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *x = json_array_get(v, i);
            if (is_binary(x)) {
                json_array_append(parts, json_object_get(x, BRK_BINARY_KEY));
                json_array_set_new(v, i, placeholder(json_array_size(parts) - 1));
            } else if (deconstruct(x, parts) < 0) {
                return -EINVAL;
            }
        }
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach (v, k, x) {
            if (is_binary(x)) {
                json_array_append(parts, json_object_get(x, BRK_BINARY_KEY));
                json_object_set_new(v, k, placeholder(json_array_size(parts) - 1));
            } else if (deconstruct(x, parts) < 0) {
                return -EINVAL;
            }
        }
    }
    return 0;
}

json_t *brk_sio_deconstruct(json_t *data)
{
    json_t *parts = json_array();
    if (parts && deconstruct(data, parts) < 0) {
        json_decref(parts);
        return NULL;
    }
    return parts;
}
