/* The loader, through the real binary: each broken module is refused with a
 * message naming the file and both values; a failing required plugin stops
 * start-up with its own reason; a failing optional one is unloaded after
 * everything it registered was released. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vgt.h"
#include "vigia/version.h"

static char tmpdir[256];

static const char *fixture_dir(void) { return getenv("LOADER_FIXTURE_DIR"); }

/* Run `vigia --check-config` (or a real start when start=1, stopped at once)
 * on an INI listing `plugins`; returns the exit code, output in *out. */
static int run_vigia(const char *plugins, const char *extra, char **out)
{
    char ini[512], outp[512];
    snprintf(ini, sizeof ini, "%s/t.ini", tmpdir);
    snprintf(outp, sizeof outp, "%s/out.txt", tmpdir);
    FILE *f = fopen(ini, "w");
    assert_non_null(f);
    fprintf(
        f, "[server]\nlisten = 127.0.0.1:%d\nplugin_dir = %s\nplugins = %s\ndatabase = %s/db\n%s\n",
        vgt_free_port(), fixture_dir(), plugins, tmpdir, extra ? extra : "");
    fclose(f);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "timeout 20 '%s' --config '%s' > '%s' 2>&1", getenv("VIGIA_BIN"), ini,
             outp);
    int rc = system(cmd);
    FILE *o = fopen(outp, "r");
    assert_non_null(o);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, o);
    buf[n] = '\0';
    fclose(o);
    *out = buf;
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void expect(const char *out, const char *needle)
{
    if (!strstr(out, needle))
        fail_msg("expected \"%s\" in output:\n%s", needle, out);
}

/* The failing fixture's user_free callbacks each append a line to `marker`. */
static void expect_all_freed(const char *marker)
{
    FILE *f = fopen(marker, "r");
    assert_non_null(f);
    char buf[256];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    expect(buf, "route freed");
    expect(buf, "subscription freed");
    expect(buf, "method freed");
}

static void test_wrong_major(void **s)
{
    (void)s;
    char *out;
    assert_int_equal(run_vigia("lf_major", NULL, &out), 1);
    expect(out, "plugin 'lf_major' (");
    expect(out, "lf_major.so) refused: built for plugin ABI major 99, this server has ABI major 1");
    expect(out, "not starting: a required plugin was refused");
}

static void test_newer_minor(void **s)
{
    (void)s;
    char *out;
    assert_int_equal(run_vigia("lf_minor", NULL, &out), 1);
    char want[160];
    snprintf(want, sizeof want,
             "lf_minor.so) refused: needs plugin ABI 1.42, this server provides %d.%d",
             VG_ABI_MAJOR, VG_ABI_MINOR);
    expect(out, want);
}

static void test_bad_signature(void **s)
{
    (void)s;
    char *out;
    assert_int_equal(run_vigia("lf_sig", NULL, &out), 1);
    expect(out, "lf_sig.so) refused: build signature 'abi1;ptr4;jansson1' does not match the "
                "server's 'abi1;ptr8;jansson2'");
}

static void test_missing_symbol(void **s)
{
    (void)s;
    char *out;
    assert_int_equal(run_vigia("lf_nosym", NULL, &out), 1);
    expect(out, "lf_nosym.so) refused: no descriptor: symbol 'lf_nosym_LTX_vigia_plugin' is "
                "missing");
}

static void test_not_a_module(void **s)
{
    (void)s;
    char *out;
    assert_int_equal(run_vigia("lf_text", NULL, &out), 1);
    expect(out, "lf_text.so) refused: not a loadable module:");
    assert_int_equal(run_vigia("nothere", NULL, &out), 1);
    expect(out, "nothere.so) refused: no such file (plugin_dir = ");
    assert_int_equal(run_vigia("Bad/Name", NULL, &out), 1);
    expect(out, "'Bad/Name' is not a plugin name");
}

static void test_duplicate_name(void **s)
{
    (void)s;
    char *out;
    assert_int_equal(run_vigia("lf_good, lf_dup", NULL, &out), 1);
    expect(out, "lf_dup.so) refused: duplicate plugin name 'lf_good': already loaded from ");
}

static void test_required_init_failure(void **s)
{
    (void)s;
    char *out, marker[300], extra[400];
    snprintf(marker, sizeof marker, "%s/marker-required", tmpdir);
    snprintf(extra, sizeof extra, "[lf_failinit]\nmarker = %s\n", marker);
    assert_int_equal(run_vigia("lf_good, lf_failinit", extra, &out), 1);
    expect(out, "plugin 'lf_failinit' failed to initialise: cannot open its database: disk on "
                "fire (fixture)");
    expect(out, "not starting: required plugin 'lf_failinit' failed");
    /* The plugin initialised before it was destroyed on the way out. */
    expect(out, "plugin 'lf_good' destroyed");
    expect_all_freed(marker);
}

static void test_optional_init_failure(void **s)
{
    (void)s;
    char marker[300], extra[400];
    snprintf(marker, sizeof marker, "%s/marker-optional", tmpdir);
    snprintf(extra, sizeof extra, "[lf_failinit]\nmarker = %s\n", marker);
    vgt_server srv;
    setenv("VIGIA_PLUGIN_DIR", fixture_dir(), 1);
    assert_int_equal(vgt_server_start(&srv, "lf_good, lf_failinit?, lf_major?", NULL, extra), 0);
    vgt_response r;
    assert_int_equal(vgt_get(&srv, "/api/health", &r), 0);
    /* Only the good plugin is listed; the failed optional ones are gone. */
    assert_non_null(strstr(r.body, "\"name\":\"lf_good\""));
    assert_null(strstr(r.body, "lf_failinit"));
    vgt_response_free(&r);
    assert_int_equal(vgt_get(&srv, "/fixture/lf_good", &r), 0);
    assert_int_equal(r.status, 200);
    vgt_response_free(&r);
    /* The failed plugin's route was unregistered. */
    assert_int_equal(vgt_get(&srv, "/fixture/lf_failinit", &r), 0);
    assert_int_equal(r.status, 404);
    vgt_response_free(&r);
    assert_true(vgt_log_contains(&srv, "optional plugin 'lf_failinit' failed to initialise: "
                                       "cannot open its database"));
    assert_true(vgt_log_contains(&srv, "optional plugin 'lf_major' not loaded; carrying on"));
    int st = vgt_server_signal(&srv, SIGTERM);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_true(vgt_log_contains(&srv, "plugin 'lf_good' stopped"));
    vgt_server_cleanup(&srv);
    expect_all_freed(marker);
}

/* The log line of `needle` (a request line), or fail. */
static char *log_line(vgt_server *srv, const char *needle)
{
    char *log = vgt_log_read(srv);
    assert_non_null(log);
    const char *at = strstr(log, needle);
    if (!at)
        fail_msg("no log line with \"%s\" in:\n%s", needle, log);
    const char *start = at;
    while (start > log && start[-1] != '\n')
        start--;
    const char *end = strchr(at, '\n');
    char *line = strndup(start, end ? (size_t)(end - start) : strlen(start));
    free(log);
    return line;
}

/* The core names no plugin: a route's quietness and the actions listed in
 * the no-token line come from what the loaded plugins declared (issue 15). */
static void test_declared_route_flags_and_admin_actions(void **s)
{
    (void)s;
    vgt_server srv;
    setenv("VIGIA_PLUGIN_DIR", fixture_dir(), 1);
    assert_int_equal(vgt_server_start(&srv, "lf_good, lf_failinit?", NULL, NULL), 0);
    vgt_response r;
    assert_int_equal(vgt_get(&srv, "/fixture/lf_good/quiet", &r), 0);
    assert_int_equal(r.status, 200);
    vgt_response_free(&r);
    assert_int_equal(vgt_get(&srv, "/fixture/lf_good", &r), 0);
    assert_int_equal(r.status, 200);
    vgt_response_free(&r);
    /* Both are counted; only the undeclared one is logged at info. */
    assert_int_equal(vgt_get(&srv, "/api/health", &r), 0);
    vgt_response_free(&r);
    char *quiet = log_line(&srv, "GET /fixture/lf_good/quiet 200");
    char *loud = log_line(&srv, "GET /fixture/lf_good 200");
    if (!strstr(quiet, "DEBUG") || !strstr(loud, "INFO"))
        fail_msg("expected the quiet route at DEBUG and the other at INFO:\n%s\n%s", quiet, loud);
    free(quiet);
    free(loud);
    /* The loaded plugin's words, not the failed optional one's. */
    assert_true(vgt_log_contains(&srv, "no [server] admin_token: actions (lf_good: fixture chores "
                                       "for lf_good) answer loopback peers only"));
    assert_false(vgt_log_contains(&srv, "fixture chores for lf_failinit"));
    int st = vgt_server_signal(&srv, SIGTERM);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    vgt_server_cleanup(&srv);
}

static void test_plugin_rule_names_the_line(void **s)
{
    (void)s;
    char *out;
    assert_int_equal(run_vigia("lf_good", "[lf_good]\nmarker = /dev/null\nmode = c\n", &out), 1);
    expect(out, "t.ini:8: [lf_good] mode: expected a or b (fixture rule), found 'c'");
    expect(out, "plugin 'lf_good' failed to initialise: ");
}

static void test_shutdown_bound(void **s)
{
    (void)s;
    vgt_server srv;
    setenv("VIGIA_PLUGIN_DIR", fixture_dir(), 1);
    assert_int_equal(vgt_server_start(&srv, "lf_good, lf_slowstop", "shutdown_timeout = 1s", NULL),
                     0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int st = vgt_server_signal(&srv, SIGTERM);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 2);
    assert_true(secs < 5.0);
    assert_true(vgt_log_contains(&srv, "shutdown took longer than shutdown_timeout (1000 ms) "
                                       "while stopping plugin lf_slowstop; exiting now"));
    vgt_server_cleanup(&srv);
}

static void test_check_config_mode(void **s)
{
    (void)s;
    char ini[512], cmd[1024];
    snprintf(ini, sizeof ini, "%s/c.ini", tmpdir);
    FILE *f = fopen(ini, "w");
    fprintf(f, "[server]\nplugin_dir = %s\nplugins = lf_good\nthreads = 9999999\n", fixture_dir());
    fclose(f);
    snprintf(cmd, sizeof cmd, "'%s' --check-config '%s' > %s/cc.txt 2>&1", getenv("VIGIA_BIN"), ini,
             tmpdir);
    int rc = system(cmd);
    assert_int_equal(WEXITSTATUS(rc), 1);
    char outp[300];
    snprintf(outp, sizeof outp, "%s/cc.txt", tmpdir);
    FILE *o = fopen(outp, "r");
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, o);
    buf[n] = '\0';
    fclose(o);
    expect(buf, "c.ini:4: [server] threads: expected an integer from 8 to 60000, found '9999999'");
    expect(buf, "configuration has errors");
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* A plugin that leaves a work queue running (a job blocked, three queued):
 * at shutdown the core stops it before destroy: the running job sees the
 * cancel, the queued ones get their cancel call, every user_free has run. */
static void test_core_stops_left_work_queue(void **s)
{
    (void)s;
    char marker[300], extra[400];
    snprintf(marker, sizeof marker, "%s/marker-workq", tmpdir);
    snprintf(extra, sizeof extra, "[lf_workq]\nmarker = %s\n", marker);
    vgt_server srv;
    setenv("VIGIA_PLUGIN_DIR", fixture_dir(), 1);
    assert_int_equal(vgt_server_start(&srv, "lf_workq", NULL, extra), 0);
    assert_int_equal(vgt_server_stop_clean(&srv), 0);
    FILE *f = fopen(marker, "r");
    assert_non_null(f);
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    expect(buf, "blocker running\n");
    expect(buf, "blocker saw cancel\n");
    /* The queue was stopped before destroy (and before the bus clean-up). */
    assert_true(strstr(buf, "blocker saw cancel") < strstr(buf, "subscription freed"));
    assert_int_equal(count(buf, "job cancelled"), 3);
    expect(buf, "destroy: 4 jobs freed");
}

/* An optional plugin failed init (its slot emptied), then a required one
 * fails: the way out must skip the empty slot (it used to crash on it). */
static void test_optional_then_required_failure(void **s)
{
    (void)s;
    char *out;
    assert_int_equal(run_vigia("lf_good, lf_failinit?, lf_other", "[lf_other]\nmode = c\n", &out),
                     1);
    expect(out, "optional plugin 'lf_failinit' failed to initialise");
    expect(out, "not starting: required plugin 'lf_other' failed");
    expect(out, "plugin 'lf_good' destroyed");
}

/* --check-config: unknown keys warn (exit 0); with --strict they are errors,
 * each printed once. */
static void test_check_config_strict(void **s)
{
    (void)s;
    char ini[512], cmd[1024], outp[300];
    snprintf(ini, sizeof ini, "%s/s.ini", tmpdir);
    snprintf(outp, sizeof outp, "%s/s.txt", tmpdir);
    FILE *f = fopen(ini, "w");
    fprintf(f,
            "[server]\nplugin_dir = %s\nplugins = lf_good\ntiemout = 5\n[lf_good]\nmode = "
            "a\nmarkr = x\n[nobody]\nk = v\n",
            fixture_dir());
    fclose(f);
    static char buf[8192];
    for (int strict = 0; strict <= 1; strict++) {
        snprintf(cmd, sizeof cmd, "'%s' --check-config '%s' %s > '%s' 2>&1", getenv("VIGIA_BIN"),
                 ini, strict ? "--strict" : "", outp);
        int rc = system(cmd);
        assert_int_equal(WEXITSTATUS(rc), strict ? 1 : 0);
        FILE *o = fopen(outp, "r");
        size_t n = fread(buf, 1, sizeof buf - 1, o);
        buf[n] = '\0';
        fclose(o);
        assert_int_equal(count(buf, "s.ini:4: [server] tiemout: unknown key"), 1);
        /* lf_good has no check_config: its keys cannot be judged, so none is flagged. */
        assert_int_equal(count(buf, "[lf_good] markr: unknown key"), 0);
        expect(buf, "plugin 'lf_good' has no configuration check: its keys are not checked");
        assert_int_equal(count(buf, "s.ini:8: [nobody]: unknown section"), 1);
        if (strict) {
            expect(buf, "2 unknown keys or sections (listed above) are errors with --strict");
            expect(buf, "configuration has errors");
        } else {
            expect(buf, "configuration OK");
        }
    }
    /* --strict alone is a usage error. */
    snprintf(cmd, sizeof cmd, "'%s' --strict > /dev/null 2>&1", getenv("VIGIA_BIN"));
    assert_int_equal(WEXITSTATUS(system(cmd)), 2);
}

static int setup(void **s)
{
    (void)s;
    return vgt_tmpdir(tmpdir, sizeof tmpdir, "loader");
}

static int teardown(void **s)
{
    (void)s;
    return vgt_rmtree(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrong_major),
        cmocka_unit_test(test_declared_route_flags_and_admin_actions),
        cmocka_unit_test(test_newer_minor),
        cmocka_unit_test(test_bad_signature),
        cmocka_unit_test(test_missing_symbol),
        cmocka_unit_test(test_not_a_module),
        cmocka_unit_test(test_duplicate_name),
        cmocka_unit_test(test_required_init_failure),
        cmocka_unit_test(test_optional_init_failure),
        cmocka_unit_test(test_check_config_mode),
        cmocka_unit_test(test_shutdown_bound),
        cmocka_unit_test(test_optional_then_required_failure),
        cmocka_unit_test(test_core_stops_left_work_queue),
        cmocka_unit_test(test_check_config_strict),
        cmocka_unit_test(test_plugin_rule_names_the_line),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
