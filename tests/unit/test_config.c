/* Configuration: every error names file:line, the key, what was expected and
 * what was found; unknown keys and sections are warnings. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "log.h"
#include "server.h"

static void assert_contains(const char *hay, const char *needle)
{
    if (!hay || !strstr(hay, needle))
        fail_msg("expected to find \"%s\" in \"%s\"", needle, hay ? hay : "(null)");
}

static core_config *parse_capturing(const char *text, char **log)
{
    core_log_capture_start();
    core_config *cfg = core_config_parse_string("test.ini", text);
    *log = core_log_capture_take();
    return cfg;
}

static void test_malformed_line(void **state)
{
    (void)state;
    char *log;
    core_config *cfg = parse_capturing("[server]\nlisten = 127.0.0.1:1\nthis is not a key\n", &log);
    assert_null(cfg);
    assert_contains(log, "test.ini:3: malformed line (expected '[section]' or 'key = value')");
    free(log);
}

static void test_key_outside_section_and_duplicates(void **state)
{
    (void)state;
    char *log;
    assert_null(parse_capturing("orphan = 1\n[s]\na = 1\n", &log));
    assert_contains(log, "test.ini:1: key 'orphan' is outside any [section]");
    free(log);
    assert_null(parse_capturing("[s]\na = 1\nb = 2\na = 3\n", &log));
    assert_contains(log, "test.ini:4: [s] a: duplicate key (first set at line 2)");
    free(log);
}

static void test_overlong_line(void **state)
{
    (void)state;
    char text[600] = "[s]\nkey = ";
    size_t n = strlen(text);
    memset(text + n, 'x', 400);
    text[n + 400] = '\n';
    text[n + 401] = '\0';
    char *log;
    assert_null(parse_capturing(text, &log));
    assert_contains(log, "test.ini:2: line longer than");
    free(log);
}

static void test_typed_getters(void **state)
{
    (void)state;
    char *log;
    core_config *cfg = parse_capturing("[m]\n"
                                       "n = 42\n"
                                       "big = 999999\n"
                                       "word = abc\n"
                                       "flag = yes\n"
                                       "badflag = maybe\n"
                                       "every = 5m\n"
                                       "slow = 250ms\n"
                                       "badtime = 10 minutes\n"
                                       "list = a, b  c,,d\n"
                                       "lang = en\n"
                                       "badlang = fr\n",
                                       &log);
    free(log);
    assert_non_null(cfg);
    const vg_config *m = core_config_section(cfg, "m");
    char err[512];
    long long v;
    assert_int_equal(core_cfg_int(m, "n", 1, 0, 100, &v, err, sizeof err), 0);
    assert_int_equal(v, 42);
    assert_int_equal(core_cfg_int(m, "absent", 7, 0, 100, &v, err, sizeof err), 0);
    assert_int_equal(v, 7);
    assert_int_equal(core_cfg_int(m, "big", 1, 0, 1000, &v, err, sizeof err), -EINVAL);
    assert_string_equal(err,
                        "test.ini:3: [m] big: expected an integer from 0 to 1000, found '999999'");
    assert_int_equal(core_cfg_int(m, "word", 1, 0, 1000, &v, err, sizeof err), -EINVAL);
    assert_string_equal(err,
                        "test.ini:4: [m] word: expected an integer from 0 to 1000, found 'abc'");

    bool b;
    assert_int_equal(core_cfg_bool(m, "flag", false, &b, err, sizeof err), 0);
    assert_true(b);
    assert_int_equal(core_cfg_bool(m, "badflag", false, &b, err, sizeof err), -EINVAL);
    assert_contains(err, "test.ini:6: [m] badflag: expected a boolean");
    assert_contains(err, "found 'maybe'");

    int64_t d;
    assert_int_equal(core_cfg_duration(m, "every", 0, 0, 86400000, &d, err, sizeof err), 0);
    assert_int_equal(d, 300000);
    assert_int_equal(core_cfg_duration(m, "slow", 0, 0, 86400000, &d, err, sizeof err), 0);
    assert_int_equal(d, 250);
    assert_int_equal(core_cfg_duration(m, "badtime", 0, 1000, 86400000, &d, err, sizeof err),
                     -EINVAL);
    assert_string_equal(err, "test.ini:9: [m] badtime: expected a duration from 1s to 1d with a "
                             "unit (ms, s, m, h, d), like 30s or 5m, found '10 minutes'");
    assert_int_equal(core_cfg_duration(m, "every", 0, 0, 60000, &d, err, sizeof err), -EINVAL);
    assert_contains(err, "from 0s to 1m");

    json_t *l;
    assert_int_equal(core_cfg_list(m, "list", NULL, &l, err, sizeof err), 0);
    assert_int_equal(json_array_size(l), 4);
    assert_string_equal(json_string_value(json_array_get(l, 2)), "c");
    json_decref(l);

    static const char *const langs[] = {"es", "en", NULL};
    int idx;
    assert_int_equal(core_cfg_enum(m, "lang", "es", langs, &idx, err, sizeof err), 0);
    assert_int_equal(idx, 1);
    assert_int_equal(core_cfg_enum(m, "badlang", "es", langs, &idx, err, sizeof err), -EINVAL);
    assert_string_equal(err, "test.ini:12: [m] badlang: expected one of es, en, found 'fr'");

    const char *s;
    assert_int_equal(core_cfg_require(m, "m", "url", &s, err, sizeof err), -EINVAL);
    assert_string_equal(err, "test.ini:1: [m] url: required key is missing");
    assert_int_equal(core_cfg_require(NULL, "portal", "url", &s, err, sizeof err), -EINVAL);
    assert_string_equal(err, "[portal] url: required key is missing (the section is absent)");

    /* Every key read above is known; nothing is left to warn about. */
    core_log_capture_start();
    assert_int_equal(core_config_warn_unused(m, "m"), 0);
    free(core_log_capture_take());
    core_config_free(cfg);
}

static void test_unknown_keys_and_sections(void **state)
{
    (void)state;
    char *log;
    core_config *cfg = parse_capturing("[a]\nknown = 1\ntypo = 2\n[stray]\nx = 1\n", &log);
    free(log);
    const vg_config *a = core_config_section(cfg, "a");
    const char *s;
    char err[256];
    core_cfg_string(a, "known", NULL, &s, err, sizeof err);
    core_log_capture_start();
    assert_int_equal(core_config_warn_unused(a, "a"), 1);
    assert_int_equal(core_config_warn_unknown_sections(cfg), 1);
    log = core_log_capture_take();
    assert_contains(log, "WARN [a] test.ini:3: [a] typo: unknown key (ignored)");
    assert_contains(log, "test.ini:4: [stray]: unknown section");
    free(log);
    core_config_free(cfg);
}

static void test_server_settings(void **state)
{
    (void)state;
    char *log;
    core_config *cfg = parse_capturing("[server]\nthreads = 100000\nlisten = nowhere\n"
                                       "log_level = loud\nplugins = a, b?\n",
                                       &log);
    free(log);
    core_settings set;
    core_log_capture_start();
    assert_int_equal(core_settings_load(cfg, &set), -EINVAL);
    log = core_log_capture_take();
    assert_contains(log, "test.ini:2: [server] threads: expected an integer from 8 to 60000, "
                         "found '100000'");
    assert_contains(log, "test.ini:4: [server] log_level: expected one of error, warn, info, "
                         "debug, found 'loud'");
    assert_contains(log, "[server] listen: expected address:port like 127.0.0.1:8080, found "
                         "'nowhere'");
    free(log);
    assert_int_equal(json_array_size(set.plugins), 2);
    core_settings_free(&set);
    core_config_free(cfg);
}

static void test_duration_parser(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(core_parse_duration_ms("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(core_parse_duration_ms("1.5s", &v), 0);
    assert_int_equal(v, 1500);
    assert_int_equal(core_parse_duration_ms("2h", &v), 0);
    assert_int_equal(v, 7200000);
    assert_int_equal(core_parse_duration_ms("1d", &v), 0);
    assert_int_equal(v, 86400000);
    assert_int_equal(core_parse_duration_ms("30", &v), -EINVAL);
    assert_int_equal(core_parse_duration_ms("-1s", &v), -EINVAL);
    assert_int_equal(core_parse_duration_ms("s", &v), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed_line),
        cmocka_unit_test(test_key_outside_section_and_duplicates),
        cmocka_unit_test(test_overlong_line),
        cmocka_unit_test(test_typed_getters),
        cmocka_unit_test(test_unknown_keys_and_sections),
        cmocka_unit_test(test_server_settings),
        cmocka_unit_test(test_duration_parser),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
