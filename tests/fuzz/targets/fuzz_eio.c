/* libFuzzer target: the Engine.IO v4 codec (plugins/broker/eio.c). The input
 * is a polling payload (packets joined by \x1e) or one WebSocket text frame.
 * Checks, beyond "no crash": every decoded packet points inside the input, and
 * re-encoding a decoded packet gives back its bytes. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size heap copy, so ASan sees any read past the end. */
    char *body = malloc(size ? size : 1);
    if (!body)
        return 0;
    memcpy(body, data, size);

    brk_eio_packet p;
    if (brk_eio_decode(body, size, &p) == 0) {
        if (p.data != body + 1 || p.len != size - 1)
            abort();
        if (p.type != EIO_BINARY) {
            char *out = malloc(p.len + 1);
            if (!out || brk_eio_encode(out, p.type, p.data, p.len) != size ||
                memcmp(out, body, size) != 0)
                abort();
            free(out);
        }
    }

    size_t pos = 0;
    int rc, parts = 0;
    while ((rc = brk_eio_payload_next(body, size, &pos, &p)) == 1) {
        if (p.data < body || p.data + p.len > body + size || ++parts > (int)size)
            abort();
    }
    if (rc != 0 && rc != -EINVAL)
        abort();

    char buf[160];
    int code = size ? data[0] % 8 : 0;
    brk_eio_error_body(buf, sizeof buf, code);
    free(body);
    return 0;
}
