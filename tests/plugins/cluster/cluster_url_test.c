/* cluster plugin: redis_url parsing, every field and every refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "cluster.h"

static void test_good(void **state)
{
    (void)state;
    cluster_url u;
    char err[200];
    assert_int_equal(cluster_url_parse("redis://127.0.0.1", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_string_equal(u.password, "");
    assert_false(u.tls);
    assert_int_equal(cluster_url_parse("redis://:pw@redis.lan:6380/3", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "redis.lan");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 3);
    assert_string_equal(u.user, "");
    assert_string_equal(u.password, "pw");
    assert_int_equal(cluster_url_parse("redis://vigia:p:w@h/", &u, err, sizeof err), 0);
    assert_string_equal(u.user, "vigia");
    assert_string_equal(u.password, "p:w");
    assert_string_equal(u.host, "h");
    assert_int_equal(cluster_url_parse("rediss://h:1", &u, err, sizeof err), 0);
    assert_true(u.tls);
    assert_int_equal(u.port, 1);
    /* rediss:// takes the same credentials, port and database as redis:// */
    assert_int_equal(
        cluster_url_parse("rediss://vigia:pw@redis.example:6380/2", &u, err, sizeof err), 0);
    assert_true(u.tls);
    assert_string_equal(u.user, "vigia");
    assert_string_equal(u.password, "pw");
    assert_string_equal(u.host, "redis.example");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 2);
    assert_int_equal(cluster_url_parse("rediss://", &u, err, sizeof err), -1);
    assert_non_null(strstr(err, "host"));
}

static void test_bad(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"http://h", "expected redis://"},
        {"redis://", "host"},
        {"redis://:6379", "host"},
        {"redis://h:0", "port"},
        {"redis://h:65536", "port"},
        {"redis://h:12x", "port"},
        {"redis://h:", "port"},
        {"redis://h/x", "database"},
        {"redis://h/-1", "database"},
        {"redis://pw@h", "credentials"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cluster_url u;
        char err[200] = "";
        if (cluster_url_parse(bad[i][0], &u, err, sizeof err) != -1 || !strstr(err, bad[i][1]))
            fail_msg("'%s': expected an error with '%s', got '%s'", bad[i][0], bad[i][1], err);
    }
    char longhost[400] = "redis://";
    memset(longhost + 8, 'h', 300);
    cluster_url u;
    char err[200];
    assert_int_equal(cluster_url_parse(longhost, &u, err, sizeof err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_good), cmocka_unit_test(test_bad)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
