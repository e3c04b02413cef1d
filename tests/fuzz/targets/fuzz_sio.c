/* libFuzzer target: the Socket.IO v5 codec (plugins/broker/sio.c) and the
 * binary attachments' base64 and placeholders (binary.c), on a
 * handler-sized stack. The input is an Engine.IO message payload without the
 * '4' (what the broker hands brk_sio_decode). Checks, beyond "no crash": a decoded
 * packet is well formed, and encoding it then decoding again gives the same
 * packet (the server's own replies must parse). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_stack.h"
#include "sio.h"

/* The largest [server] json_max_depth the core accepts: the worst case for the stack. */
#define DEPTH 128

typedef struct job {
    const char *text;
    size_t len;
} job;

static void check_roundtrip(const brk_sio_packet *p)
{
    /* Binary types lose their attachment count in brk_sio_encode (the server never sends them). */
    if (p->type == SIO_BINARY_EVENT || p->type == SIO_BINARY_ACK)
        return;
    size_t n = 0;
    char *enc = brk_sio_encode(p->type, p->nsp, p->id, p->data, 0, &n);
    if (!enc)
        abort();
    brk_sio_packet q;
    const char *why = NULL;
    if (brk_sio_decode(enc, n, DEPTH, &q, &why) != 0)
        abort(); /* the server's own packet does not decode */
    if (q.type != p->type || strcmp(q.nsp, p->nsp) != 0 || q.id != p->id ||
        (p->data == NULL) != (q.data == NULL) || (p->data && !json_equal(p->data, q.data)))
        abort();
    brk_sio_packet_clear(&q);
    free(enc);
}

static void *decode(void *arg)
{
    const job *j = arg;
    brk_sio_packet p;
    const char *why = NULL;
    if (brk_sio_decode(j->text, j->len, DEPTH, &p, &why) == 0) {
        if (p.type < SIO_CONNECT || p.type > SIO_BINARY_ACK || p.nsp[0] != '/' ||
            strlen(p.nsp) > SIO_NSP_MAX || p.attachments < 0 || p.attachments > 10)
            abort();
        check_roundtrip(&p);
        if ((p.type == SIO_BINARY_EVENT || p.type == SIO_BINARY_ACK) && p.data) {
            /* attachments in place of the placeholders, then back (binary.c) */
            json_t *parts = json_array();
            for (int k = 0; k < p.attachments; k++)
                json_array_append_new(parts, json_string("AQID"));
            if (brk_sio_reconstruct(p.data, parts) == 0) {
                json_t *back = brk_sio_deconstruct(p.data);
                if (!back)
                    abort();
                json_decref(back);
            }
            json_decref(parts);
        }
        if (p.data && json_is_array(p.data) && json_is_string(json_array_get(p.data, 0)))
            (void)brk_sio_reserved_event(json_string_value(json_array_get(p.data, 0)));
        brk_sio_packet_clear(&p);
    } else if (!why) {
        abort(); /* a refusal always says why */
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
    job j = {text, size};
    fuzz_on_handler_stack(decode, &j);
    /* the input as a "b<base64>" attachment: what decodes re-encodes the same */
    unsigned char *raw = malloc(size * 3 / 4 + 3), *raw2 = malloc(size * 3 / 4 + 3);
    char *b64 = malloc(size + 8);
    size_t n, n2;
    if (raw && raw2 && b64 && brk_b64_decode(text, size, raw, &n) == 0) {
        brk_b64_encode(raw, n, b64);
        if (brk_b64_decode(b64, strlen(b64), raw2, &n2) != 0 || n2 != n || memcmp(raw, raw2, n))
            abort();
    }
    free(raw);
    free(raw2);
    free(b64);
    free(text);
    return 0;
}
