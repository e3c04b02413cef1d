/* The out-of-tree examples in the real binary, observed with the installed
 * test kit (the probe plugin). The spool (blocking I/O through a work queue):
 * every event becomes one line, in order; at SIGTERM the queue drains and
 * every event is accounted for; an unwritable file is retried with backoff
 * and then given up; the probe refuses to start without its key. The
 * channel example (a delivery channel through channel.h) answers each of its
 * rows with the contract's statuses. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "vgt.h"

static char tmpdir[256];

static json_t *get_json(vgt_server *s, const char *path)
{
    vgt_response r;
    assert_int_equal(vgt_get(s, path, &r), 0);
    if (r.status != 200)
        fail_msg("GET %s: %ld %s", path, r.status, r.body);
    json_error_t err;
    json_t *j = json_loads(r.body, 0, &err);
    vgt_response_free(&r);
    assert_non_null(j);
    return j;
}

static void publish(vgt_server *s, int id)
{
    char body[200];
    snprintf(body, sizeof body,
             "{\"topic\":\"notification.created\",\"payload\":{\"id\":%d,\"title\":\"n%d\"}}", id,
             id);
    vgt_response r;
    assert_int_equal(vgt_post_json(s, "/api/_probe/publish", body, &r), 0);
    if (r.status != 200)
        fail_msg("publish: %ld %s", r.status, r.body);
    vgt_response_free(&r);
}

typedef struct probe_wait {
    vgt_server *s;
    const char *topic;
    size_t want;
} probe_wait;

static size_t probe_count(vgt_server *s, const char *topic)
{
    char path[200];
    snprintf(path, sizeof path, "/api/_probe/events?topic=%s", topic);
    json_t *j = get_json(s, path);
    size_t n = json_array_size(json_object_get(j, "events"));
    json_decref(j);
    return n;
}

static int probe_has(void *arg)
{
    probe_wait *w = arg;
    return probe_count(w->s, w->topic) >= w->want;
}

/* Lines of `path`, each checked to be {"id": i, ...} in order from `first`. */
static int check_lines(const char *path, int first)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        json_error_t err;
        json_t *j = json_loads(line, 0, &err);
        if (!j)
            fail_msg("line %d is not JSON: %s", n + 1, line);
        if (json_integer_value(json_object_get(j, "id")) != first + n)
            fail_msg("line %d: expected id %d, found %s", n + 1, first + n, line);
        json_decref(j);
        n++;
    }
    fclose(f);
    return n;
}

static int start(vgt_server *s, const char *file)
{
    char extra[600];
    snprintf(extra, sizeof extra, "[probe]\nenabled_for_tests = true\n[spool]\nfile = %s\n", file);
    return vgt_server_start(s, "probe, spool", "shutdown_timeout = 20s", extra);
}

static void test_appends_in_order_and_drains_at_stop(void **state)
{
    (void)state;
    char file[300];
    snprintf(file, sizeof file, "%s/out.jsonl", tmpdir);
    vgt_server s;
    assert_int_equal(start(&s, file), 0);
    for (int i = 0; i < 50; i++)
        publish(&s, i);
    probe_wait w = {&s, "spool.appended", 50};
    assert_true(vgt_wait_until(probe_has, &w, 10000));
    assert_int_equal(check_lines(file, 0), 50);
    /* The probe recorded the events themselves too; `since` skips what was
     * seen, DELETE forgets, a bad `since` is refused. */
    assert_int_equal(probe_count(&s, "notification.created"), 50);
    assert_int_equal(probe_count(&s, "notification."), 50);
    json_t *all = get_json(&s, "/api/_probe/events");
    json_int_t last = json_integer_value(json_object_get(all, "last"));
    assert_true(last >= 100);
    json_decref(all);
    char path[120];
    snprintf(path, sizeof path, "/api/_probe/events?since=%lld", (long long)last);
    json_t *none = get_json(&s, path);
    assert_int_equal(json_array_size(json_object_get(none, "events")), 0);
    json_decref(none);
    vgt_response r;
    assert_int_equal(vgt_get(&s, "/api/_probe/events?since=abc", &r), 0);
    assert_int_equal(r.status, 400);
    vgt_response_free(&r);
    assert_int_equal(vgt_http(&s, "DELETE", "/api/_probe/events", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    vgt_response_free(&r);
    assert_int_equal(probe_count(&s, ""), 0);

    /* 300 more, then SIGTERM at once: the queue drains or cancels, and every
     * event is either a line or counted as cancelled or refused. */
    for (int i = 50; i < 350; i++)
        publish(&s, i);
    assert_int_equal(vgt_server_signal(&s, SIGTERM), 0);
    int lines = check_lines(file, 0);
    char *log = vgt_log_read(&s);
    const char *st = strstr(log, "stopped: ");
    assert_non_null(st);
    long written, failed, refused, cancelled;
    assert_int_equal(sscanf(st, "stopped: %ld written, %ld failed, %ld refused, %ld cancelled",
                            &written, &failed, &refused, &cancelled),
                     4);
    print_message("spool at stop: %d lines, %ld written, %ld refused, %ld cancelled\n", lines,
                  written, refused, cancelled);
    assert_int_equal(written, lines);
    assert_int_equal(failed, 0);
    assert_int_equal(written + refused + cancelled, 350);
    assert_non_null(strstr(log, "stopped cleanly"));
    free(log);
    vgt_server_cleanup(&s);
}

static void test_unwritable_file_is_retried_then_given_up(void **state)
{
    (void)state;
    char file[300];
    snprintf(file, sizeof file, "%s/no-such-dir/out.jsonl", tmpdir);
    vgt_server s;
    assert_int_equal(start(&s, file), 0);
    publish(&s, 1);
    /* 5 attempts with 200 ms .. 5 s backoff: about 1.5 to 3 s in all. */
    for (int i = 0; i < 100 && !vgt_log_contains(&s, "(attempt 5)"); i++)
        usleep(100000);
    assert_true(vgt_log_contains(&s, "(attempt 1): No such file or directory"));
    assert_true(vgt_log_contains(&s, "(attempt 5): No such file or directory"));
    usleep(200000);
    assert_true(vgt_log_contains(&s, "work queue 'append': job failed: No such file or directory"));
    json_t *j = get_json(&s, "/spool/stats");
    assert_int_equal(json_integer_value(json_object_get(j, "failed")), 1);
    json_decref(j);
    assert_int_equal(vgt_server_stop_clean(&s), 0);
}

static void test_probe_refuses_without_key(void **state)
{
    (void)state;
    vgt_server s;
    /* Not started: the probe is listed without enabled_for_tests. */
    assert_int_not_equal(vgt_server_start(&s, "probe", NULL, NULL), 0);
    assert_true(vgt_log_contains(&s, "[probe] enabled_for_tests: the probe records every event"));
    assert_true(vgt_log_contains(&s, "not starting: required plugin 'probe' failed"));
    vgt_server_cleanup(&s);
}

static void publish_request(vgt_server *s, const char *channel, const char *key, const char *to)
{
    char body[400];
    snprintf(body, sizeof body,
             "{\"topic\":\"delivery.requested\",\"payload\":{\"v\":1,\"channel\":\"%s\","
             "\"key\":\"%s\",\"to\":\"%s\",\"kind\":\"alert\",\"items\":[]}}",
             channel, key, to);
    vgt_response r;
    assert_int_equal(vgt_post_json(s, "/api/_probe/publish", body, &r), 0);
    if (r.status != 200)
        fail_msg("publish: %ld %s", r.status, r.body);
    vgt_response_free(&r);
}

/* The result the channel published for `key` (new reference), or NULL. */
static json_t *result_for(vgt_server *s, const char *key)
{
    json_t *j = get_json(s, "/api/_probe/events?topic=delivery.result");
    json_t *found = NULL, *ev;
    size_t i;
    json_array_foreach (json_object_get(j, "events"), i, ev) {
        json_t *p = json_object_get(ev, "payload");
        const char *k = json_string_value(json_object_get(p, "key"));
        if (k && strcmp(k, key) == 0)
            found = json_incref(p);
    }
    json_decref(j);
    return found;
}

/* Built as an outside author would, with the README's pkg-config recipe, into
 * a plugin directory of its own next to the probe. */
static void build_channel_example(char *plugdir, size_t n)
{
    static char cmd[2048]; /* off the stack: the caller holds a vgt_server */
    snprintf(plugdir, n, "%s/channel", tmpdir);
    snprintf(cmd, sizeof cmd,
             "set -e; PKG_CONFIG_PATH=$(find '%s' -name pkgconfig -type d | head -1); export "
             "PKG_CONFIG_PATH; mkdir -p '%s'; cc -std=c11 -Wall -Wextra -Werror -shared -fPIC "
             "$(pkg-config --cflags vigia) -o '%s/inbox.so' '%s/examples/channel-plugin/inbox.c' "
             "$(pkg-config --libs vigia) -Wl,-z,defs; cp '%s/probe.so' '%s/probe.so'",
             getenv("SDK_STAGE"), plugdir, plugdir, getenv("VIGIA_SOURCE_DIR"),
             getenv("SPOOL_PLUGIN_DIR"), plugdir);
    assert_int_equal(system(cmd), 0);
}

/* alice's inbox holds k1 only: k3 was the e-mail channel's. */
static void check_inbox(const char *dir)
{
    static char file[400], line[1024]; /* off the stack: the caller holds a vgt_server */
    snprintf(file, sizeof file, "%s/alice.jsonl", dir);
    FILE *f = fopen(file, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    assert_non_null(strstr(line, "\"key\":\"k1\""));
    assert_null(fgets(line, sizeof line, f));
    fclose(f);
}

/* The channel example (examples/channel-plugin, built against the installed
 * SDK through include/vigia/channel.h): its rows are written and answered
 * with the contract's statuses; other channels' rows and keyless ones are
 * left alone. */
static void test_channel_example(void **state)
{
    (void)state;
    char plugdir[300], dir[300], extra[700];
    build_channel_example(plugdir, sizeof plugdir);
    setenv("VIGIA_PLUGIN_DIR", plugdir, 1);
    snprintf(dir, sizeof dir, "%s/inbox", tmpdir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(extra, sizeof extra, "[probe]\nenabled_for_tests = true\n[inbox]\ndir = %s\n", dir);
    vgt_server s;
    assert_int_equal(vgt_server_start(&s, "probe, inbox", NULL, extra), 0);
    publish_request(&s, "inbox", "k1", "alice");
    publish_request(&s, "inbox", "k2", "Bad/name");
    publish_request(&s, "email", "k3", "alice");
    publish_request(&s, "inbox", "", "alice");
    probe_wait w = {&s, "delivery.result", 2};
    assert_true(vgt_wait_until(probe_has, &w, 10000));
    json_t *r1 = result_for(&s, "k1"), *r2 = result_for(&s, "k2");
    assert_non_null(r1);
    assert_non_null(r2);
    assert_string_equal(json_string_value(json_object_get(r1, "status")), "sent");
    assert_string_equal(json_string_value(json_object_get(r1, "channel")), "inbox");
    assert_int_equal(json_integer_value(json_object_get(r1, "v")), 1);
    assert_null(json_object_get(r1, "error"));
    assert_string_equal(json_string_value(json_object_get(r2, "status")), "failed");
    assert_non_null(strstr(json_string_value(json_object_get(r2, "error")), "found 'Bad/name'"));
    json_decref(r1);
    json_decref(r2);
    check_inbox(dir);
    assert_true(vgt_log_contains(&s, "delivery.requested without a key ignored"));
    assert_int_equal(probe_count(&s, "delivery.result"), 2);
    assert_int_equal(vgt_server_stop_clean(&s), 0);
    setenv("VIGIA_PLUGIN_DIR", getenv("SPOOL_PLUGIN_DIR"), 1);
}

/* The README's pkg-config recipe builds a module the server loads. */
static void test_pkgconfig_recipe(void **state)
{
    (void)state;
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "set -e; PKG_CONFIG_PATH=$(find '%s' -name pkgconfig -type d | head -1); export "
             "PKG_CONFIG_PATH; mkdir -p '%s/pc'; cc -std=c11 -Wall -Wextra -Werror -shared -fPIC "
             "$(pkg-config --cflags vigia) -o '%s/pc/spool.so' '%s/examples/spool-plugin/spool.c' "
             "$(pkg-config --libs vigia) -Wl,-z,defs; "
             "printf '[server]\\nplugin_dir = %s/pc\\nplugins = spool\\n[spool]\\nfile = "
             "x\\n' > '%s/pc/t.ini'; '%s' --check-config '%s/pc/t.ini' --strict",
             getenv("SDK_STAGE"), tmpdir, tmpdir, getenv("VIGIA_SOURCE_DIR"), tmpdir, tmpdir,
             getenv("VIGIA_BIN"), tmpdir);
    assert_int_equal(system(cmd), 0);
}

static int setup(void **s)
{
    (void)s;
    setenv("VIGIA_PLUGIN_DIR", getenv("SPOOL_PLUGIN_DIR"), 1);
    return vgt_tmpdir(tmpdir, sizeof tmpdir, "spool");
}

static int teardown(void **s)
{
    (void)s;
    return vgt_rmtree(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_appends_in_order_and_drains_at_stop),
        cmocka_unit_test(test_unwritable_file_is_retried_then_given_up),
        cmocka_unit_test(test_probe_refuses_without_key),
        cmocka_unit_test(test_pkgconfig_recipe),
        cmocka_unit_test(test_channel_example),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
