/* libFuzzer target: the TZif parser behind host->tz_info (core/tzdb.c). Zone
 * files come from outside the program (the system's zoneinfo directory, or
 * whatever an operator puts there). Checks, beyond "no crash": a refusal
 * always says why; a parsed zone answers for any instant, with an offset
 * inside ±26 h and a NUL-terminated abbreviation, and the same instant gives
 * the same answer twice. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tzdb.h"

static void check(const core_tz_zone *z, int64_t t)
{
    vg_tz_info a, b;
    core_tz_at(z, t, &a);
    core_tz_at(z, t, &b);
    if (a.offset_s <= -26 * 3600 || a.offset_s >= 26 * 3600 || (a.is_dst != 0 && a.is_dst != 1) ||
        memchr(a.abbr, '\0', sizeof a.abbr) == NULL || memcmp(&a, &b, sizeof a) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size heap copy, so ASan sees any read past the end. */
    unsigned char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    char why[200] = "";
    core_tz_zone *z = core_tz_parse(buf, size, why, sizeof why);
    if (!z && !why[0])
        abort();
    if (z) {
        static const int64_t at[] = {INT64_MIN,  -5000000000LL, -1,           0,        1,
                                     1796083990, 2208988800,    4102444800LL, INT64_MAX};
        for (size_t i = 0; i < sizeof at / sizeof *at; i++)
            check(z, at[i]);
        /* Instants the input itself names (its last 8 bytes), and a year of
         * days around them: the footer's rule arithmetic. */
        if (size >= 8) {
            int64_t t;
            memcpy(&t, buf + size - 8, sizeof t);
            for (int d = -400; d <= 400; d += 7)
                check(z, t / 2 + (int64_t)d * 86400);
        }
        core_tz_free(z);
    }
    free(buf);
    return 0;
}
