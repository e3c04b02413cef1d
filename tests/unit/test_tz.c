/* core/tzdb.c behind host->tz_info (include/vigia/tz.h): offsets from the
 * TZif transition table and from its POSIX footer past the table, on both
 * sides of real DST changes (zdump gives the instants); names that are not
 * zones; and zone files that are cut or corrupt, which give a reason and
 * never a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tzdb.h"

#define ZONEINFO "/usr/share/zoneinfo"

static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    return vg_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

/* Offset and abbreviation at t, the lookup succeeding. */
static void expect(const char *zone, int64_t t, int offset_h, int dst, const char *abbr)
{
    vg_tz_info ti;
    char why[160] = "";
    assert_int_equal(core_tz_info(zone, t, &ti, why, sizeof why), 0);
    assert_int_equal(ti.offset_s, offset_h * 3600);
    assert_int_equal(ti.is_dst, dst);
    assert_string_equal(ti.abbr, abbr);
}

static void santiago_changes_at_the_instants_zdump_gives(void **state)
{
    (void)state;
    /* From the table: DST ends 2026-04-05 03:00Z, starts 2026-09-06 04:00Z. */
    expect("America/Santiago", utc(2026, 4, 5, 2, 59, 59), -3, 1, "-03");
    expect("America/Santiago", utc(2026, 4, 5, 3, 0, 0), -4, 0, "-04");
    expect("America/Santiago", utc(2026, 9, 6, 3, 59, 59), -4, 0, "-04");
    expect("America/Santiago", utc(2026, 9, 6, 4, 0, 0), -3, 1, "-03");
    /* Past the table, from the footer "<-04>4<-03>,M9.1.6/24,M4.1.6/24":
     * a southern zone, DST across the new year. */
    expect("America/Santiago", utc(2061, 1, 15, 12, 0, 0), -3, 1, "-03");
    expect("America/Santiago", utc(2061, 4, 3, 2, 59, 59), -3, 1, "-03");
    expect("America/Santiago", utc(2061, 4, 3, 3, 0, 0), -4, 0, "-04");
    expect("America/Santiago", utc(2061, 9, 4, 3, 59, 59), -4, 0, "-04");
    expect("America/Santiago", utc(2061, 9, 4, 4, 0, 0), -3, 1, "-03");
    /* 2026-12-01 00:13:10Z is 2026-11-30 21:13:10 there. */
    vg_tz_info ti;
    vg_civil c;
    assert_int_equal(core_tz_info("America/Santiago", 1796083990, &ti, NULL, 0), 0);
    vg_civil_from_secs(1796083990 + ti.offset_s, &c);
    assert_int_equal(c.year, 2026);
    assert_int_equal(c.month, 11);
    assert_int_equal(c.day, 30);
    assert_int_equal(c.hour, 21);
    assert_int_equal(c.minute, 13);
    assert_int_equal(c.wday, 1); /* a Monday */
}

static void madrid_and_utc(void **state)
{
    (void)state;
    expect("Europe/Madrid", utc(2026, 7, 1, 0, 0, 0), 2, 1, "CEST");
    expect("Europe/Madrid", utc(2026, 12, 1, 0, 0, 0), 1, 0, "CET");
    /* Footer "CET-1CEST,M3.5.0,M10.5.0/3": the last Sundays of March and October. */
    expect("Europe/Madrid", utc(2045, 3, 26, 0, 59, 59), 1, 0, "CET");
    expect("Europe/Madrid", utc(2045, 3, 26, 1, 0, 0), 2, 1, "CEST");
    expect("Europe/Madrid", utc(2045, 10, 29, 0, 59, 59), 2, 1, "CEST");
    expect("Europe/Madrid", utc(2045, 10, 29, 1, 0, 0), 1, 0, "CET");
    expect("UTC", 0, 0, 0, "UTC");
    expect("UTC", utc(2100, 6, 1, 0, 0, 0), 0, 0, "UTC");
    expect("Etc/UTC", -1000000000LL, 0, 0, "UTC");
    /* Extreme instants are clamped, not overflowed. */
    vg_tz_info ti;
    assert_int_equal(core_tz_info("Europe/Madrid", INT64_MAX, &ti, NULL, 0), 0);
    assert_int_equal(core_tz_info("Europe/Madrid", INT64_MIN, &ti, NULL, 0), 0);
}

static void names_that_are_no_zone(void **state)
{
    (void)state;
    static const char *const invalid[] = {
        "",
        "../etc/passwd",
        "/etc/passwd",
        "America/../../x",
        "Europe/Madrid\n",
        "a b",
        "Abcdefghijklmnopqrstuvwxyz/Abcdefghijklmnopqrstuvwxyz/ABCDEFGHIJKLM"};
    vg_tz_info ti;
    char why[160];
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) {
        assert_int_equal(core_tz_info(invalid[i], 0, &ti, why, sizeof why), -EINVAL);
        assert_int_equal(ti.offset_s, 0);
        assert_string_equal(ti.abbr, "UTC");
    }
    assert_int_equal(core_tz_info(NULL, 0, &ti, why, sizeof why), -EINVAL);
    assert_int_equal(core_tz_info("Mars/Olympus", 0, &ti, why, sizeof why), -ENOENT);
    assert_string_equal(why, "no such time zone");
    assert_string_equal(ti.abbr, "UTC");
    /* A directory of zones is not a zone. */
    assert_int_equal(core_tz_info("America", 0, &ti, why, sizeof why), -ENOENT);
}

static size_t be32(const unsigned char *p)
{
    return (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char *buf = malloc(1 << 16);
    assert_non_null(buf);
    *len = fread(buf, 1, 1 << 16, f);
    fclose(f);
    return buf;
}

static void spit(const char *dir, const char *name, const unsigned char *buf, size_t len)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    fclose(f);
}

static void cut_and_corrupt_files_give_a_reason(void **state)
{
    (void)state;
    size_t len;
    unsigned char *buf = slurp(ZONEINFO "/America/Santiago", &len);
    char dir[] = "/tmp/vigia-tz-XXXXXX";
    assert_non_null(mkdtemp(dir));
    spit(dir, "Cut_Header", buf, 30);
    spit(dir, "Cut_V1", buf, 500);
    spit(dir, "Cut_V2", buf, 1500);
    spit(dir, "Empty", buf, 0);
    unsigned char *bad = malloc(len);
    memcpy(bad, buf, len);
    memcpy(bad, "TZxx", 4);
    spit(dir, "No_Magic", bad, len);
    /* The v2 block's first transition index points past the types. */
    memcpy(bad, buf, len);
    size_t v1 = 44 + 5 * be32(buf + 32) + 6 * be32(buf + 36) + be32(buf + 40) + 8 * be32(buf + 28) +
                be32(buf + 24) + be32(buf + 20);
    assert_true(v1 + 44 < len);
    size_t v2_idx = v1 + 44 + 8 * be32(buf + v1 + 32); /* after the 64-bit times */
    bad[v2_idx] = 200;
    spit(dir, "Bad_Index", bad, len);
    core_tz_set_dir(dir);
    static const struct {
        const char *name, *why;
    } cases[] = {
        {"Cut_Header", "truncated: 30 bytes, a TZif header needs 44"},
        {"Cut_V1", "truncated: the v1 data block needs"},
        {"Cut_V2", "truncated: the v2 data block needs"},
        {"Empty", "truncated: 0 bytes"},
        {"No_Magic", "not a TZif file"},
        {"Bad_Index", "v2 block: transition 0 names time type 200 of "},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        vg_tz_info ti;
        char why[160] = "";
        assert_int_equal(core_tz_info(cases[i].name, 0, &ti, why, sizeof why), -EBADMSG);
        if (strncmp(why, cases[i].why, strlen(cases[i].why)) != 0)
            fail_msg("%s: '%s', expected '%s...'", cases[i].name, why, cases[i].why);
        assert_string_equal(ti.abbr, "UTC");
    }
    core_tz_set_dir(ZONEINFO);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[300];
        snprintf(path, sizeof path, "%s/%s", dir, cases[i].name);
        unlink(path);
    }
    rmdir(dir);
    /* Every prefix of a real file: refused with a reason or parsed whole,
     * never read past its end (the sanitizer build watches). */
    for (size_t n = 0; n < len; n++) {
        char why[160] = "";
        unsigned char *copy = malloc(n ? n : 1);
        memcpy(copy, buf, n);
        core_tz_zone *z = core_tz_parse(copy, n, why, sizeof why);
        if (z) {
            vg_tz_info ti;
            core_tz_at(z, 0, &ti);
            core_tz_free(z);
        } else
            assert_true(why[0] != '\0');
        free(copy);
    }
    /* Every byte flipped: the same. */
    for (size_t i = 0; i < len; i++) {
        char why[160] = "";
        memcpy(bad, buf, len);
        bad[i] ^= 0xff;
        core_tz_zone *z = core_tz_parse(bad, len, why, sizeof why);
        if (z) {
            vg_tz_info ti;
            core_tz_at(z, utc(2030, 1, 1, 0, 0, 0), &ti);
            assert_true(ti.offset_s > -26 * 3600 && ti.offset_s < 26 * 3600);
            core_tz_free(z);
        } else
            assert_true(why[0] != '\0');
    }
    free(bad);
    free(buf);
}

static int teardown(void **state)
{
    (void)state;
    core_tz_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(santiago_changes_at_the_instants_zdump_gives),
        cmocka_unit_test(madrid_and_utc),
        cmocka_unit_test(names_that_are_no_zone),
        cmocka_unit_test(cut_and_corrupt_files_give_a_reason),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
