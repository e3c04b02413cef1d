/* vg_json_parse(): the depth pre-check in front of jansson. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <vigia/json.h>

static char *nested(int levels, char open, char close)
{
    char *s = malloc((size_t)levels * 2 + 1);
    for (int i = 0; i < levels; i++) {
        s[i] = open;
        s[levels * 2 - 1 - i] = close;
    }
    s[levels * 2] = '\0';
    return s;
}

static void test_deep_arrays_refused_before_parsing(void **state)
{
    (void)state;
    char *s = nested(1000, '[', ']');
    json_error_t err;
    json_t *j = vg_json_parse(s, strlen(s), 0, 64, &err);
    assert_null(j);
    assert_string_equal(err.text, "nesting deeper than 64 levels");
    assert_int_equal(err.position, 64);
    free(s);
}

static void test_at_the_limit_parses(void **state)
{
    (void)state;
    char *s = nested(64, '[', ']');
    json_error_t err;
    json_t *j = vg_json_parse(s, strlen(s), 0, 64, &err);
    assert_non_null(j);
    json_decref(j);
    free(s);
    s = nested(65, '[', ']');
    assert_null(vg_json_parse(s, strlen(s), 0, 64, &err));
    free(s);
}

static void test_brackets_inside_strings_do_not_count(void **state)
{
    (void)state;
    const char *s = "{\"a\":\"[[[[[[[[[[{{{{{{{{\\\"[[[[[[\",\"b\":[1,[2]]}";
    json_error_t err;
    json_t *j = vg_json_parse(s, strlen(s), 0, 3, &err);
    assert_non_null(j);
    json_decref(j);
}

static void test_unbalanced_closers_do_not_underflow(void **state)
{
    (void)state;
    const char *s = "]]]]]]]]]][[[";
    assert_int_equal(vg_json_depth_exceeds(s, strlen(s), 2, NULL), 1);
    assert_int_equal(vg_json_depth_exceeds(s, strlen(s), 3, NULL), 0);
}

static void test_invalid_json_still_judged_by_jansson(void **state)
{
    (void)state;
    json_error_t err;
    assert_null(vg_json_parse("{\"a\":", 5, 0, 64, &err));
    assert_true(strstr(err.text, "nesting") == NULL);
    assert_null(vg_json_parse(NULL, 0, 0, 64, &err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deep_arrays_refused_before_parsing),
        cmocka_unit_test(test_at_the_limit_parses),
        cmocka_unit_test(test_brackets_inside_strings_do_not_count),
        cmocka_unit_test(test_unbalanced_closers_do_not_underflow),
        cmocka_unit_test(test_invalid_json_still_judged_by_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
