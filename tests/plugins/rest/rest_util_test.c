/* Unit tests of the rest plugin's pure helpers: errno mapping, parameter
 * parsing, ETag matching, CORS origins, loopback detection, Prometheus escaping. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util.h"

static void test_errno_mapping(void **state)
{
    (void)state;
    assert_int_equal(rest_status_for_errno(-EINVAL), 400);
    assert_int_equal(rest_status_for_errno(-ENOENT), 404);
    assert_int_equal(rest_status_for_errno(-EEXIST), 409);
    assert_int_equal(rest_status_for_errno(-EBUSY), 409);
    assert_int_equal(rest_status_for_errno(-E2BIG), 413);
    assert_int_equal(rest_status_for_errno(-EACCES), 401);
    assert_int_equal(rest_status_for_errno(-ENOSYS), 503);
    assert_int_equal(rest_status_for_errno(-EAGAIN), 503);
    assert_int_equal(rest_status_for_errno(-EIO), 500);
    assert_int_equal(rest_status_for_errno(-ENOMEM), 500);
    assert_string_equal(rest_code_for_status(404), "NOT_FOUND");
    assert_string_equal(rest_code_for_status(500), "INTERNAL");
}

static void test_parse_int(void **state)
{
    (void)state;
    long long v = 0;
    assert_int_equal(rest_parse_int("50", 1, 500, &v), 0);
    assert_int_equal(v, 50);
    assert_int_equal(rest_parse_int("500", 1, 500, &v), 0);
    assert_int_equal(rest_parse_int("501", 1, 500, &v), -EINVAL);
    assert_int_equal(rest_parse_int("0", 1, 500, &v), -EINVAL);
    assert_int_equal(rest_parse_int("-1", 0, 5, &v), -EINVAL);
    assert_int_equal(rest_parse_int("-1", -5, 5, &v), 0);
    assert_int_equal(v, -1);
    assert_int_equal(rest_parse_int("", 0, 5, &v), -EINVAL);
    assert_int_equal(rest_parse_int("-", 0, 5, &v), -EINVAL);
    assert_int_equal(rest_parse_int("+3", 0, 5, &v), -EINVAL);
    assert_int_equal(rest_parse_int(" 3", 0, 5, &v), -EINVAL);
    assert_int_equal(rest_parse_int("3 ", 0, 5, &v), -EINVAL);
    assert_int_equal(rest_parse_int("3x", 0, 5, &v), -EINVAL);
    assert_int_equal(rest_parse_int("0x3", 0, 5, &v), -EINVAL);
    assert_int_equal(rest_parse_int("99999999999999999999999", 0, REST_MAX_SAFE_INT, &v), -EINVAL);
    assert_int_equal(rest_parse_int("9007199254740991", 0, REST_MAX_SAFE_INT, &v), 0);
    assert_int_equal(rest_parse_int("9007199254740992", 0, REST_MAX_SAFE_INT, &v), -EINVAL);
    assert_int_equal(rest_parse_int(NULL, 0, 5, &v), -EINVAL);
}

static void test_parse_bool(void **state)
{
    (void)state;
    bool b = false;
    assert_int_equal(rest_parse_bool("true", &b), 0);
    assert_true(b);
    assert_int_equal(rest_parse_bool("0", &b), 0);
    assert_false(b);
    assert_int_equal(rest_parse_bool("YES", &b), 0);
    assert_true(b);
    assert_int_equal(rest_parse_bool("off", &b), 0);
    assert_false(b);
    assert_int_equal(rest_parse_bool("2", &b), -EINVAL);
    assert_int_equal(rest_parse_bool("", &b), -EINVAL);
    assert_int_equal(rest_parse_bool("truee", &b), -EINVAL);
}

static void test_etag(void **state)
{
    (void)state;
    char tag[32];
    /* FNV-1a 64 reference values. */
    assert_true(rest_fnv1a64("", 0) == 0xcbf29ce484222325ULL);
    assert_true(rest_fnv1a64("a", 1) == 0xaf63dc4c8601ec8cULL);
    rest_etag_format(0xaf63dc4c8601ec8cULL, tag, sizeof tag);
    assert_string_equal(tag, "\"af63dc4c8601ec8c\"");
    assert_true(rest_etag_matches("\"af63dc4c8601ec8c\"", tag));
    assert_true(rest_etag_matches("W/\"af63dc4c8601ec8c\"", tag));
    assert_true(rest_etag_matches("\"x\", \"af63dc4c8601ec8c\"", tag));
    assert_true(rest_etag_matches("*", tag));
    assert_false(rest_etag_matches("\"af63dc4c8601ec8\"", tag));
    assert_false(rest_etag_matches("af63dc4c8601ec8c", tag));
    assert_false(rest_etag_matches("", tag));
    assert_false(rest_etag_matches(NULL, tag));
    assert_false(rest_etag_matches("\"", tag));
    assert_false(rest_etag_matches("W/", tag));
}

static void test_origins(void **state)
{
    (void)state;
    json_t *list = json_pack("[s, s]", "https://dash.example.org", "http://localhost:3000/");
    assert_true(rest_origin_allowed(list, "https://dash.example.org"));
    assert_true(rest_origin_allowed(list, "HTTPS://DASH.example.org"));
    assert_true(rest_origin_allowed(list, "http://localhost:3000"));
    assert_false(rest_origin_allowed(list, "https://dash.example.org.evil.com"));
    assert_false(rest_origin_allowed(list, "https://evil.com"));
    assert_false(rest_origin_allowed(list, ""));
    assert_false(rest_origin_allowed(list, NULL));
    json_t *any = json_pack("[s]", "*");
    assert_true(rest_origin_allowed(any, "https://x.y"));
    json_t *none = json_array();
    assert_false(rest_origin_allowed(none, "https://x.y"));
    json_decref(list);
    json_decref(any);
    json_decref(none);
}

static void test_same_origin(void **state)
{
    (void)state;
    assert_true(rest_same_origin("http://127.0.0.1:8080", "127.0.0.1:8080"));
    assert_true(rest_same_origin("HTTPS://Example.org", "example.org"));
    assert_false(rest_same_origin("http://127.0.0.1:8081", "127.0.0.1:8080"));
    assert_false(rest_same_origin("https://evil.example", "127.0.0.1:8080"));
    assert_false(rest_same_origin("null", "127.0.0.1:8080"));
    assert_false(rest_same_origin("http://127.0.0.1:8080", NULL));
}

static void test_content_type_and_text(void **state)
{
    (void)state;
    assert_true(rest_is_json_content_type("application/json"));
    assert_true(rest_is_json_content_type("Application/JSON; charset=utf-8"));
    assert_false(rest_is_json_content_type("application/jsonx"));
    assert_false(rest_is_json_content_type("text/plain"));
    assert_false(rest_is_json_content_type(NULL));
    assert_true(rest_valid_text("abc", 3, 3));
    assert_false(rest_valid_text("abcd", 4, 3));
    assert_false(rest_valid_text("a\nb", 3, 10));
    assert_false(rest_valid_text("", 0, 10));
    char buf[64];
    rest_sanitize("a\x01"
                  "b",
                  buf, sizeof buf);
    assert_string_equal(buf, "a?b");
    rest_sanitize("0123456789012345678901234567890123456789XYZ", buf, sizeof buf);
    assert_string_equal(buf, "0123456789012345678901234567890123456789...");
    /* bytes that are not UTF-8 would make the JSON encoder refuse the message */
    rest_sanitize("q\xff\xc3(\xed\xa0\x80", buf, sizeof buf);
    assert_string_equal(buf, "q?"
                             "?(?"
                             "?"
                             "?");
    rest_sanitize("\xc3\xb1"
                  "and\xc3\xba",
                  buf, sizeof buf); /* ñandú is kept */
    assert_string_equal(buf, "\xc3\xb1"
                             "and\xc3\xba");
    /* the 40-byte cut never splits a character */
    rest_sanitize("012345678901234567890123456789012345678\xc3\xb1", buf, sizeof buf);
    assert_string_equal(buf, "012345678901234567890123456789012345678...");
    /* jansson quotes the token up to the error: "\<e0> cut inside a character */
    char scrub[] = "invalid escape near '\"\\\xe0' \xc3\xb1 \xff";
    rest_utf8_scrub(scrub);
    assert_string_equal(scrub, "invalid escape near '\"\\?' \xc3\xb1 ?");
    char small[4];
    rest_sanitize("\xc3\xb1\xc3\xb1", small, sizeof small);
    assert_string_equal(small, "\xc3\xb1");
}

static void test_prometheus(void **state)
{
    (void)state;
    rest_buf b = {0};
    rest_buf_label_value(&b, "a\"b\\c\nd");
    assert_string_equal(b.data, "a\\\"b\\\\c\\nd");
    for (int i = 0; i < 1000; i++)
        rest_buf_printf(&b, "%d,", i);
    assert_false(b.oom);
    assert_true(b.len > 3000);
    rest_buf_free(&b);
    assert_true(rest_prom_valid_name("vigia_up", false));
    assert_true(rest_prom_valid_name("a:b", false));
    assert_false(rest_prom_valid_name("a:b", true));
    assert_false(rest_prom_valid_name("1a", false));
    assert_false(rest_prom_valid_name("a-b", false));
    assert_false(rest_prom_valid_name("", false));
}

static void test_join(void **state)
{
    (void)state;
    char buf[12] = "";
    rest_join(buf, sizeof buf, ", ", "GET");
    rest_join(buf, sizeof buf, ", ", "POST");
    assert_string_equal(buf, "GET, POST");
    rest_join(buf, sizeof buf, ", ", "OPTIONS"); /* truncated, still terminated */
    assert_int_equal(strlen(buf), 11);
    rest_join(buf, sizeof buf, ", ", "X");
    assert_int_equal(strlen(buf), 11);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errno_mapping),
        cmocka_unit_test(test_parse_int),
        cmocka_unit_test(test_parse_bool),
        cmocka_unit_test(test_etag),
        cmocka_unit_test(test_origins),
        cmocka_unit_test(test_same_origin),
        cmocka_unit_test(test_content_type_and_text),
        cmocka_unit_test(test_prometheus),
        cmocka_unit_test(test_join),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
