/* Issue 14, item 1: a 2 KB body nested 1,000 levels deep, with no token, once
 * killed the server (jansson's recursive parser overflowed the 100 KiB worker
 * stack). Now it is a 400 naming the limit, and the server lives on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vgt.h"

static vgt_server srv;

static int setup(void **state)
{
    (void)state;
    return vgt_server_start(&srv, "notifications, rest", NULL, NULL);
}

static int teardown(void **state)
{
    (void)state;
    return vgt_server_stop_clean(&srv);
}

static char *nested(int depth)
{
    char *b = malloc((size_t)depth * 2 + 1);
    memset(b, '[', (size_t)depth);
    memset(b + depth, ']', (size_t)depth);
    b[depth * 2] = '\0';
    return b;
}

static void post_deep(const char *path, int depth)
{
    char *body = nested(depth);
    vgt_response r;
    assert_int_equal(vgt_post_json(&srv, path, body, &r), 0);
    if (r.status != 400 || !strstr(r.body, "nested too deep") || !strstr(r.body, "json_max_depth"))
        fail_msg("POST %s with depth %d: expected 400 naming the limit, got %ld: %s", path, depth,
                 r.status, r.body);
    vgt_response_free(&r);
    free(body);
}

static void test_deep_bodies_are_refused(void **state)
{
    (void)state;
    post_deep("/api/notifications/1/read", 1000);
    post_deep("/api/notifications/1/read", 30000);
    post_deep("/api/notifications/test", 1000);
    post_deep("/api/notifications/clear", 5000);
    vgt_response r;
    assert_int_equal(vgt_get(&srv, "/api/health", &r), 0);
    assert_int_equal(r.status, 200);
    vgt_response_free(&r);
}

static void test_shallow_body_still_parses(void **state)
{
    (void)state;
    /* 60 levels is within the default limit of 64: a normal 400 about the
     * body's shape, not about nesting. */
    char *inner = nested(60);
    char body[256];
    snprintf(body, sizeof body, "{\"x\":%s}", inner);
    free(inner);
    vgt_response r;
    assert_int_equal(vgt_post_json(&srv, "/api/notifications/test", body, &r), 0);
    assert_int_equal(r.status, 400);
    assert_null(strstr(r.body, "nested too deep"));
    vgt_response_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deep_bodies_are_refused),
        cmocka_unit_test(test_shallow_body_still_parses),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
