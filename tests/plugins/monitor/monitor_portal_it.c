/* Integration: a portal whose API misbehaves (garbage, HTML, 500,
 * success:false, truncated, huge, failure mid-listing, stuck paging) never
 * causes a removal and raises portal.status_changed; tolerable oddities
 * (invalid UTF-8, duplicate ids) still give a complete listing; politeness:
 * per-host and global concurrency are never exceeded (the fixture counts). */
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
#include <time.h>

/* cmocka.h needs the headers above */
#include <cmocka.h>

#include "mt.h"

static long long total_datasets(vgt_server *s)
{
    int rc;
    json_t *l = mt_call(s, "datasets.list", "{\"limit\":1}", &rc);
    assert_int_equal(rc, 0);
    long long t = json_integer_value(json_object_get(l, "total"));
    json_decref(l);
    return t;
}

static void api_failures_never_remove(void **state)
{
    (void)state;
    mt_fixture fx;
    const char *args[] = {"--datasets", "23", "--resources-per-dataset", "1", NULL};
    assert_int_equal(mt_fixture_start(&fx, args), 0);
    vgt_server srv;
    /* no retries, down at the first failure, removal after one listing: each
     * case shows its own effect (monitor_trust_it covers the defaults) */
    char *ini = mt_ini(&fx, NULL,
                       "max_response_bytes = 1048576\napi_retries = 0\nfail_threshold = 1\n"
                       "remove_after = 1\n");
    assert_int_equal(vgt_server_start(&srv, "monitor,busbridge", NULL, ini), 0);
    free(ini);
    json_t *fin = mt_wait_complete(&srv, 0);
    assert_non_null(fin);
    json_decref(fin);
    assert_int_equal(total_datasets(&srv), 23);

    static const struct {
        const char *op;
        bool complete;
    } cases[] = {
        {"{\"op\":\"api_fail\",\"mode\":\"garbage\"}", false},
        {"{\"op\":\"api_fail\",\"mode\":\"html\"}", false},
        {"{\"op\":\"api_fail\",\"mode\":\"500\"}", false},
        {"{\"op\":\"api_fail\",\"mode\":\"success_false\"}", false},
        {"{\"op\":\"api_fail\",\"mode\":\"truncated\"}", false},
        {"{\"op\":\"api_fail\",\"mode\":\"huge\"}", false},
        {"{\"op\":\"api_fail\",\"mode\":\"hang\"}", false},
        {"{\"op\":\"api_fail\",\"mode\":\"500\",\"after\":2}", false},  /* mid-listing */
        {"{\"op\":\"api_fail\",\"mode\":\"html\",\"after\":3}", false}, /* mid-listing */
        {"{\"op\":\"api_fail\",\"mode\":\"bad_utf8\"}", true},
        {"{\"op\":\"api_fail\",\"mode\":\"duplicates\"}", true},
        /* incomplete, not an outage: nothing removed, the portal stays up */
        {"{\"op\":\"api_fail\",\"mode\":\"stuck\"}", false},
    };
    /* a dataset disappears meanwhile: only a complete listing may report it */
    json_t *page = mt_fixture_get(&fx, "/api/3/action/package_search?rows=1&start=7");
    char victim[64];
    snprintf(
        victim, sizeof victim, "%s",
        json_string_value(json_object_get(
            json_array_get(json_object_get(json_object_get(page, "result"), "results"), 0), "id")));
    json_decref(page);
    char op[256];
    snprintf(op, sizeof op, "{\"op\":\"remove_dataset\",\"id\":\"%s\"}", victim);
    json_decref(mt_control(&fx, op));

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fprintf(stderr, "# case %s\n", cases[i].op);
        json_decref(mt_control(&fx, cases[i].op));
        long long since;
        fin = mt_sweep(&srv, &since);
        assert_non_null(fin);
        assert_int_equal(json_is_true(json_object_get(fin, "complete")), cases[i].complete);
        json_t *ev = mt_events(&srv, since, NULL);
        if (i == 11) {
            assert_string_equal(json_string_value(json_object_get(fin, "reason")),
                                "listing_incomplete");
            assert_int_equal(mt_count(ev, "dataset.removed", NULL), 0);
            assert_int_equal(mt_count(ev, "portal.status_changed", NULL), 0);
            assert_int_equal(total_datasets(&srv), 22);
        } else if (!cases[i].complete) {
            assert_int_equal(mt_count(ev, "dataset.removed", NULL), 0);
            assert_int_equal(total_datasets(&srv), 23);
            assert_non_null(json_string_value(json_object_get(fin, "error")));
            /* counts still describe what is known */
            assert_int_equal(
                json_integer_value(json_object_get(json_object_get(fin, "counts"), "datasets")),
                23);
            /* the portal is down; the first failure announced it */
            json_t *st = mt_call(&srv, "monitor.status", NULL, NULL);
            json_t *p0 = json_array_get(json_object_get(st, "portals"), 0);
            assert_string_equal(json_string_value(json_object_get(p0, "state")), "down");
            assert_non_null(json_string_value(json_object_get(p0, "last_error")));
            json_decref(st);
            int rc;
            json_t *l = mt_call(&srv, "datasets.list", "{\"limit\":1}", &rc);
            json_t *item = json_array_get(json_object_get(l, "items"), 0);
            assert_true(json_is_true(json_object_get(item, "stale")));
            json_decref(l);
        } else {
            /* tolerable: complete; the removed dataset is reported once */
            assert_int_equal(mt_count(ev, "dataset.removed", NULL), i == 9 ? 1 : 0);
            assert_int_equal(total_datasets(&srv), 22);
        }
        if (i == 0) {
            assert_int_equal(mt_count(ev, "portal.status_changed", NULL), 1);
            json_t *pe = mt_events(&srv, since, "portal.status_changed");
            json_t *p = json_object_get(json_array_get(pe, 0), "payload");
            assert_string_equal(json_string_value(json_object_get(p, "current")), "down");
            assert_non_null(json_string_value(json_object_get(p, "error")));
            json_decref(pe);
        } else if (i < 9 || i > 9) {
            assert_int_equal(mt_count(ev, "portal.status_changed", NULL), 0);
        } else if (i == 9) { /* recovery is announced */
            json_t *pe = mt_events(&srv, since, "portal.status_changed");
            assert_int_equal(json_array_size(pe), 1);
            json_t *p = json_object_get(json_array_get(pe, 0), "payload");
            assert_string_equal(json_string_value(json_object_get(p, "previous")), "down");
            assert_string_equal(json_string_value(json_object_get(p, "current")), "up");
            json_decref(pe);
        }
        json_decref(ev);
        json_decref(fin);
        json_decref(mt_control(&fx, "{\"op\":\"api_fail\",\"mode\":\"none\"}"));
    }
    vgt_server_cleanup(&srv);
    mt_fixture_stop(&fx);
}

static void politeness_limits_hold(void **state)
{
    (void)state;
    mt_fixture fx;
    const char *args[] = {"--datasets", "60", "--resources-per-dataset", "3", "--hosts", "3", NULL};
    assert_int_equal(mt_fixture_start(&fx, args), 0);
    /* slow answers keep requests overlapping, so the limits are what bounds them */
    json_decref(mt_control(&fx, "{\"op\":\"set_all\",\"behaviour\":\"slow\",\"delay_ms\":40}"));
    vgt_server srv;
    char *ini = mt_ini(&fx, "concurrency = 5\n", "per_host = 2\nper_host_interval = 5ms\n");
    assert_int_equal(vgt_server_start(&srv, "monitor,busbridge", NULL, ini), 0);
    free(ini);
    json_t *fin = mt_wait_complete(&srv, 0);
    assert_non_null(fin);
    json_decref(fin);
    json_t *st = mt_fixture_get(&fx, "/_stats");
    char *dump = json_dumps(st, JSON_COMPACT);
    fprintf(stderr, "# fixture stats: %s\n", dump);
    free(dump);
    assert_int_equal(json_integer_value(json_object_get(st, "resource_requests")), 180);
    long long per_host = json_integer_value(json_object_get(st, "max_concurrent_per_host"));
    long long total = json_integer_value(json_object_get(st, "max_concurrent"));
    assert_true(per_host <= 2);
    assert_true(per_host >= 2); /* the test would prove nothing otherwise */
    assert_true(total <= 5);
    assert_true(total >= 4);
    json_decref(st);
    vgt_server_cleanup(&srv);
    mt_fixture_stop(&fx);
}

/* organizations / exclude_organizations restrict what a portal monitors */
static void organisation_filters(void **state)
{
    (void)state;
    mt_fixture fx;
    const char *args[] = {"--datasets", "24", "--orgs", "4", "--resources-per-dataset", "1", NULL};
    assert_int_equal(mt_fixture_start(&fx, args), 0);
    vgt_server srv;
    /* two portals on the same fixture: one includes two orgs, one excludes one */
    char *extra = NULL;
    assert_true(asprintf(&extra,
                         "[monitor]\napi_delay = 0\ntimeout = 2s\n"
                         "[monitor:incl]\nbase_url = %s\ninterval = 1h\nrows = 5\n"
                         "organizations = ministerio_de_salud, municipalidad_de_maule\n"
                         "[monitor:excl]\nbase_url = %s\ninterval = 1h\nrows = 5\n"
                         "exclude_organizations = ministerio_de_salud\n",
                         fx.base, fx.base) > 0);
    assert_int_equal(vgt_server_start(&srv, "monitor,busbridge", NULL, extra), 0);
    free(extra);
    /* both portals sweep at start */
    for (int i = 0; i < 600; i++) {
        json_t *ev = mt_events(&srv, 0, "monitor.sweep_finished");
        size_t n = json_array_size(ev);
        json_decref(ev);
        if (n >= 2)
            break;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    int rc;
    json_t *l = mt_call(&srv, "datasets.list", "{\"portal\":\"incl\",\"limit\":100}", &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(json_integer_value(json_object_get(l, "total")), 12); /* orgs 0 and 3 */
    size_t i;
    json_t *d;
    json_array_foreach (json_object_get(l, "items"), i, d) {
        const char *org = json_string_value(json_object_get(d, "organization"));
        assert_true(strcmp(org, "ministerio_de_salud") == 0 ||
                    strcmp(org, "municipalidad_de_maule") == 0);
    }
    json_decref(l);
    l = mt_call(&srv, "datasets.list", "{\"portal\":\"excl\",\"limit\":100}", &rc);
    assert_int_equal(json_integer_value(json_object_get(l, "total")), 18);
    json_decref(l);
    l = mt_call(&srv, "datasets.list",
                "{\"portal\":\"excl\",\"organization\":\"ministerio_de_salud\"}", &rc);
    assert_int_equal(json_integer_value(json_object_get(l, "total")), 0);
    json_decref(l);
    /* the include list went to the portal as fq, not filtered after a full listing */
    json_t *st = mt_fixture_get(&fx, "/_stats");
    assert_true(json_integer_value(json_object_get(st, "package_search")) <= 3 + 5 + 2);
    json_decref(st);
    vgt_server_cleanup(&srv);
    mt_fixture_stop(&fx);
}

/* per_host_interval spaces the starts of checks on one host */
static void per_host_interval_spaces_requests(void **state)
{
    (void)state;
    mt_fixture fx;
    const char *args[] = {"--datasets", "12", "--resources-per-dataset", "1", NULL};
    assert_int_equal(mt_fixture_start(&fx, args), 0);
    vgt_server srv;
    char *ini = mt_ini(&fx, NULL, "per_host = 4\nper_host_interval = 100ms\n");
    assert_int_equal(vgt_server_start(&srv, "monitor,busbridge", NULL, ini), 0);
    free(ini);
    json_t *fin = mt_wait_sweep(&srv, 0, 60000);
    assert_non_null(fin);
    json_decref(fin);
    json_t *st = mt_call(&srv, "monitor.status", NULL, NULL);
    json_t *last = json_object_get(json_array_get(json_object_get(st, "portals"), 0), "last_sweep");
    long long checks_ms = json_integer_value(json_object_get(last, "checks_ms"));
    fprintf(stderr, "# 12 checks on one host at >= 100 ms apart took %lld ms\n", checks_ms);
    assert_true(checks_ms >= 1050); /* 11 gaps of 100 ms */
    json_decref(st);
    vgt_server_cleanup(&srv);
    mt_fixture_stop(&fx);
}

/* SIGTERM in the middle of a sweep whose every resource hangs: the server
 * must be gone well before the 30 s transfer timeout. */
static void stop_cancels_sweep(void **state)
{
    (void)state;
    mt_fixture fx;
    const char *args[] = {"--datasets", "40", "--resources-per-dataset", "2", "--hang-ms",
                          "60000",      NULL};
    assert_int_equal(mt_fixture_start(&fx, args), 0);
    json_decref(mt_control(&fx, "{\"op\":\"set_all\",\"behaviour\":\"hang\"}"));
    vgt_server srv;
    /* mt_ini sets timeout = 2s in [monitor]: the portal overrides it */
    char *ini = mt_ini(&fx, NULL, "timeout = 30s\n");
    assert_int_equal(vgt_server_start(&srv, "monitor,busbridge", NULL, ini), 0);
    free(ini);
    /* wait until checks are in flight */
    for (int i = 0; i < 200; i++) {
        json_t *st = mt_fixture_get(&fx, "/_stats");
        long long cur = json_integer_value(json_object_get(st, "current_concurrent"));
        json_decref(st);
        if (cur > 0)
            break;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int status = vgt_server_signal(&srv, SIGTERM);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    fprintf(stderr, "# stopped in %.2f s\n", secs);
    assert_true(WIFEXITED(status));
    assert_true(secs < 6.0); /* the whole server, far below the 30 s transfer timeout */
    assert_true(vgt_log_contains(&srv, "sweep cancelled"));
    /* the monitor's own share, from the log: SIGTERM -> "plugin 'monitor' stopped" */
    char *log = vgt_log_read(&srv);
    assert_non_null(log);
    const char *a = strstr(log, "received SIGTERM");
    const char *b = strstr(log, "plugin 'monitor' stopped");
    assert_non_null(a);
    assert_non_null(b);
    while (a > log && a[-1] != '\n')
        a--;
    while (b > log && b[-1] != '\n')
        b--;
    int ah, am, bh, bm;
    double as, bs;
    assert_int_equal(sscanf(a, "%*4d-%*2d-%*2dT%d:%d:%lfZ", &ah, &am, &as), 3);
    assert_int_equal(sscanf(b, "%*4d-%*2d-%*2dT%d:%d:%lfZ", &bh, &bm, &bs), 3);
    double monitor_secs = (bh - ah) * 3600.0 + (bm - am) * 60.0 + (bs - as);
    fprintf(stderr, "# monitor stopped %.3f s after SIGTERM\n", monitor_secs);
    assert_true(monitor_secs < 2.0);
    free(log);
    vgt_server_cleanup(&srv);
    mt_fixture_stop(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(api_failures_never_remove),
        cmocka_unit_test(politeness_limits_hold),
        cmocka_unit_test(organisation_filters),
        cmocka_unit_test(per_host_interval_spaces_requests),
        cmocka_unit_test(stop_cancels_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
