/* libFuzzer: a CKAN contact field (maintainer_email, author_email: free text
 * from a portal) -> plugins/watch/watch_addr.c. Beyond no crash/UB: what is
 * taken is a piece of the input, a valid plain address that fits its
 * buffer; a buffer too small for it is never written past nor cut. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "watch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *in = malloc(size + 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    char out[256], small[16];
    if (watch_first_address(in, out, sizeof out)) {
        size_t n = strlen(out);
        if (!watch_addr_ok(out) || n == 0 || n > 254 || !strstr(in, out) ||
            strchr(out, '@') != strrchr(out, '@'))
            abort();
        /* the same field with a buffer too small: false, or a shorter address */
        if (watch_first_address(in, small, sizeof small) && strlen(small) >= sizeof small)
            abort();
    } else if (out[0] != '\0') {
        abort();
    }
    free(in);
    return 0;
}
