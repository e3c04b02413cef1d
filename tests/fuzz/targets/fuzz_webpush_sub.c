/* libFuzzer target: what a browser (or anyone) posts to
 * POST /api/push/subscriptions, and what the channel reads back from the
 * outbox: a PushSubscription JSON checked by wp_sub_parse, its canonical
 * form, and the base64url decoder under it; and the same bytes as a
 * delivery.requested payload for the notification builder.
 *   - a subscription accepted once is accepted again from its canonical
 *     form, which is a fixed point (the watch's address must be stable);
 *   - base64url: whatever decodes, re-encodes and decodes to the same bytes;
 *   - a notification, when built, fits one record (WP_MAX_PLAINTEXT) and is
 *     valid JSON. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vigia/json.h>

#include "webpush.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    unsigned char raw[512];
    long n = base64_decode(s, strlen(s), raw, sizeof raw, BASE64_ANY, NULL, 0);
    if (n >= 0) {
        char *again = malloc(base64_encoded_len((size_t)n, BASE64_URL) + 1);
        unsigned char raw2[512];
        base64_encode(raw, (size_t)n, again, BASE64_URL);
        if (base64_decode(again, strlen(again), raw2, sizeof raw2, BASE64_ANY, NULL, 0) != n ||
            memcmp(raw, raw2, (size_t)n) != 0)
            abort();
        free(again);
    }
    json_t *o = vg_json_parse(s, size, 0, VG_JSON_MAX_DEPTH_DEFAULT, NULL);
    if (o) {
        wp_sub *sub = malloc(sizeof *sub);
        char err[256];
        if (wp_sub_parse(o, size & 1, sub, err, sizeof err) == 0) {
            char *c = wp_sub_canonical(sub);
            json_t *o2 = c ? json_loads(c, 0, NULL) : NULL;
            wp_sub *sub2 = malloc(sizeof *sub2);
            if (!o2 || wp_sub_parse(o2, size & 1, sub2, err, sizeof err) != 0)
                abort();
            char *c2 = wp_sub_canonical(sub2);
            if (!c2 || strcmp(c, c2) != 0)
                abort();
            free(c2);
            free(sub2);
            json_decref(o2);
            free(c);
        }
        free(sub);
        wp_message m;
        if (wp_message_build(o, "https://vigia.example.org/", &m, err, sizeof err) == 0) {
            json_t *p = json_loadb(m.payload, m.len, 0, NULL);
            if (!p || m.len > WP_MAX_PLAINTEXT || strlen(m.topic) > 32)
                abort();
            json_decref(p);
            wp_message_free(&m);
        }
        json_decref(o);
    }
    free(s);
    return 0;
}
