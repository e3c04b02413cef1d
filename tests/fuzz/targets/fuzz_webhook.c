/* libFuzzer target: the webhook channel's bodies (plugins/webhook). The
 * payload of delivery.requested carries text from outside (dataset titles,
 * organisations, reasons from CKAN portals), so any JSON object is fed to
 * every format. Properties: the answer is either NULL with a reason or JSON
 * that parses again; Discord's documented limits hold (content 2000,
 * embed title 256, description 4096 characters); the standard body has
 * v = 1 and a type. The input is also classified as an address text. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vgt_tz.h"
#include "webhook.h"

static webhook_texts *texts;

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    if (!texts && !(texts = webhook_texts_load(err, sizeof err)))
        abort();
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    (void)webhook_addr_classify_text(text);
    json_t *p = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL); /* json-own-data */
    free(text);
    if (!p)
        return 0;
    for (int f = 0; f < WEBHOOK_FORMATS; f++) {
        err[0] = 0;
        char *b = webhook_body(&vgt_tz_host, texts, (webhook_format)f, p, 1764547200, 20, err,
                               sizeof err);
        if (!b) {
            if (!err[0])
                abort(); /* a refusal always says why */
            continue;
        }
        json_t *j = json_loads(b, 0, NULL); /* json-own-data */
        if (!j)
            abort();
        if (f == WEBHOOK_STANDARD && (json_integer_value(json_object_get(j, "v")) != 1 ||
                                      !json_is_string(json_object_get(j, "type"))))
            abort();
        if (f == WEBHOOK_DISCORD) {
            json_t *e = json_array_get(json_object_get(j, "embeds"), 0);
            if (utf8_chars(json_string_value(json_object_get(j, "content"))) > 2000 ||
                utf8_chars(json_string_value(json_object_get(e, "title"))) > 256 ||
                utf8_chars(json_string_value(json_object_get(e, "description"))) > 4096)
                abort();
        }
        json_decref(j);
        free(b);
    }
    json_decref(p);
    return 0;
}
