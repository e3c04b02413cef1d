/* libFuzzer target: the declared update frequency (plugins/monitor/
 * frequency.c: mon_freq_parse, mon_freq_declared) and CKAN timestamps
 * (freshness.c: mon_iso_parse_ms), the text of outside portals.
 *
 * Input: any bytes. They are parsed as a frequency text, as a timestamp, and
 * (when they are a JSON object) as a package dict whose declared frequency
 * is then parsed. Checks, beyond "no crash": a recognised frequency has a
 * period of at least a minute and at most a century; a declared text without
 * a schedule has period 0; a parsed timestamp is after 1900 and before 10000. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "monitor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_freq(const char *s)
{
    long long p = -1;
    int rc = mon_freq_parse(s, &p);
    if (rc > 0 && (p < 60 || p > 100LL * 365 * 86400))
        abort();
    if (rc == 0 && p != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = 0;
    mon_utf8_sanitize(s, size); /* the listing sanitises before anything reads it */
    check_freq(s);
    int64_t t = mon_iso_parse_ms(s);
    if (t != -1 && (t < -2208988800000LL - 86400000LL || t > 253402300800000LL + 86400000LL))
        abort();
    json_t *o = json_loadb(s, strlen(s), JSON_DECODE_ANY, NULL);
    if (json_is_object(o)) {
        const char *f = mon_freq_declared(o);
        if (f)
            check_freq(f);
    }
    json_decref(o);
    free(s);
    return 0;
}
