/* The real binary with the out-of-tree hello plugin: health, the plugin's
 * route, core routes and errors, a clean SIGTERM, and the installed SDK's
 * pkg-config file (a plugin compiles with its flags alone). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "vgt.h"

static vgt_server srv;

static int setup(void **state)
{
    (void)state;
    setenv("VIGIA_PLUGIN_DIR", getenv("HELLO_PLUGIN_DIR"), 1);
    return vgt_server_start(&srv, "hello", NULL, "[hello]\ngreeting = hola mundo\n");
}

static int teardown(void **state)
{
    (void)state;
    vgt_server_cleanup(&srv);
    return 0;
}

static json_t *get_json(const char *path, long expect_status)
{
    vgt_response r;
    assert_int_equal(vgt_get(&srv, path, &r), 0);
    assert_int_equal(r.status, expect_status);
    char *ct = vgt_header(&r, "Content-Type");
    assert_non_null(ct);
    assert_string_equal(ct, "application/json; charset=utf-8");
    free(ct);
    json_error_t err;
    json_t *j = json_loads(r.body, 0, &err);
    if (!j)
        fail_msg("not JSON: %s", r.body);
    vgt_response_free(&r);
    return j;
}

static void test_health_lists_plugins(void **state)
{
    (void)state;
    json_t *h = get_json("/api/health", 200);
    assert_string_equal(json_string_value(json_object_get(h, "status")), "ok");
    json_t *p = json_array_get(json_object_get(h, "plugins"), 0);
    assert_string_equal(json_string_value(json_object_get(p, "name")), "hello");
    assert_string_equal(json_string_value(json_object_get(p, "version")), "1.0.0");
    json_decref(h);
}

static void test_plugin_route_and_bus(void **state)
{
    (void)state;
    json_t *j = get_json("/hello", 200);
    assert_string_equal(json_string_value(json_object_get(j, "greeting")), "hola mundo");
    /* It subscribed to everything: at least system.started reached it. */
    assert_true(json_integer_value(json_object_get(j, "events_seen")) >= 1);
    json_decref(j);
}

static void test_core_errors(void **state)
{
    (void)state;
    json_t *j = get_json("/api/does-not-exist", 404);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                        "NOT_FOUND");
    json_decref(j);
    vgt_response r;
    assert_int_equal(vgt_http(&srv, "DELETE", "/hello", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 405);
    char *allow = vgt_header(&r, "Allow");
    assert_non_null(allow);
    assert_string_equal(allow, "GET");
    free(allow);
    vgt_response_free(&r);
    /* Static files come from web_root; traversal never leaves it. */
    assert_int_equal(vgt_get(&srv, "/../../../../etc/passwd", &r), 0);
    assert_null(strstr(r.body, "root:"));
    vgt_response_free(&r);
    assert_int_equal(vgt_get(&srv, "/%2e%2e/%2e%2e/etc/passwd", &r), 0);
    assert_null(strstr(r.body, "root:"));
    vgt_response_free(&r);
    /* A decoded NUL cannot cut a path short ("/hello%00x" is not "/hello"). */
    assert_int_equal(vgt_get(&srv, "/hello%00x", &r), 0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "encoded NUL"));
    vgt_response_free(&r);
    /* Percent-encoded characters are decoded before routing. */
    assert_int_equal(vgt_get(&srv, "/hel%6Co", &r), 0);
    assert_int_equal(r.status, 200);
    vgt_response_free(&r);
    /* Trailing slashes are significant. */
    assert_int_equal(vgt_get(&srv, "/hello/", &r), 0);
    assert_int_equal(r.status, 404);
    vgt_response_free(&r);
}

static void test_sigterm_stops_cleanly(void **state)
{
    (void)state;
    int st = vgt_server_signal(&srv, SIGTERM);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_true(vgt_log_contains(&srv, "received SIGTERM: stopping"));
    assert_true(vgt_log_contains(&srv, "plugin 'hello' stopped"));
    assert_true(vgt_log_contains(&srv, "plugin 'hello' destroyed"));
    assert_true(vgt_log_contains(&srv, "stopped cleanly"));
    /* And it comes back on the same port and database. */
    assert_int_equal(vgt_server_restart(&srv), 0);
    st = vgt_server_signal(&srv, SIGINT);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* The server runs without glibc's per-thread malloc caches (core/main.c), and
 * leaves an operator's own GLIBC_TUNABLES alone. */
static void test_runs_without_thread_caches(void **state)
{
    (void)state;
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
    static char env[65536];
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/environ", (int)srv.pid);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(env, 1, sizeof env - 1, f);
    fclose(f);
    bool found = false;
    env[n] = '\0';
    for (size_t i = 0; i < n; i += strlen(env + i) + 1) {
        if (strcmp(env + i, "GLIBC_TUNABLES=glibc.malloc.tcache_count=0") == 0)
            found = true;
    }
    assert_true(found);
#else
    skip();
#endif
}

static void test_installed_pkgconfig(void **state)
{
    (void)state;
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "PKG_CONFIG_PATH=$(find '%s' -name pkgconfig -type d | head -1) && export "
             "PKG_CONFIG_PATH && cc -std=c11 -Wall -Werror -fsyntax-only $(pkg-config --cflags "
             "vigia) '%s/examples/hello-plugin/hello.c'",
             getenv("SDK_STAGE"), getenv("VIGIA_SOURCE_DIR"));
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_lists_plugins),
        cmocka_unit_test(test_plugin_route_and_bus),
        cmocka_unit_test(test_core_errors),
        cmocka_unit_test(test_runs_without_thread_caches),
        cmocka_unit_test(test_sigterm_stops_cleanly),
        cmocka_unit_test(test_installed_pkgconfig),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
