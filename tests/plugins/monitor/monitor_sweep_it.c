/* Integration: the real vigia with plugins=monitor,busbridge against the CKAN
 * fixture. First sweep classification, fail/recover thresholds, added /
 * removed / modified exactly once, history and roll-up, restart. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* cmocka.h needs the headers above */
#include <cmocka.h>

#include "mt.h"

static mt_fixture fx;
static vgt_server srv;
static char ids[16][40]; /* dataset ids in fixture (id) order */

/* Dataset i's behaviour in this test. */
static const char *const k_beh[] = {"up",
                                    "404",
                                    "500",
                                    "slow",
                                    "head405",
                                    "redirect",
                                    "reset",
                                    "hang",
                                    "403",
                                    "401",
                                    "up" /* ftp url */,
                                    "up" /* file url */,
                                    "redirect" /* 7 hops */,
                                    "up"};
#define NDS 14

static json_t *get_dataset(const char *id)
{
    char params[1024];
    snprintf(params, sizeof params, "{\"id\":\"%s\"}", id);
    int rc;
    json_t *d = mt_call(&srv, "datasets.get", params, &rc);
    assert_int_equal(rc, 0);
    return d;
}

static const char *ds_status(json_t *d) { return json_string_value(json_object_get(d, "status")); }

static json_t *res0(json_t *d) { return json_array_get(json_object_get(d, "resources"), 0); }

static int setup(void **state)
{
    (void)state;
    const char *args[] = {"--datasets", "14",      "--orgs", "3",         "--resources-per-dataset",
                          "1",          "--hosts", "2",      "--slow-ms", "2000",
                          "--hang-ms",  "10000",   NULL};
    if (mt_fixture_start(&fx, args) < 0)
        return -1;
    json_t *page = mt_fixture_get(&fx, "/api/3/action/package_search?rows=100&sort=id%20asc");
    json_t *results = json_object_get(json_object_get(page, "result"), "results");
    if (json_array_size(results) != NDS)
        return -1;
    for (int i = 0; i < NDS; i++) {
        snprintf(ids[i], sizeof ids[i], "%s",
                 json_string_value(json_object_get(json_array_get(results, (size_t)i), "id")));
        char op[1024];
        snprintf(op, sizeof op, "{\"op\":\"set_dataset\",\"id\":\"%s\",\"behaviour\":\"%s\"%s}",
                 ids[i], k_beh[i], i == 12 ? ",\"redirects\":7" : "");
        json_decref(mt_control(&fx, op));
    }
    json_decref(page);
    char op[1024];
    snprintf(op, sizeof op,
             "{\"op\":\"modify_dataset\",\"id\":\"%s\",\"resource_url\":{\"position\":0,"
             "\"url\":\"ftp://127.0.0.1/secret.csv\"}}",
             ids[10]);
    json_decref(mt_control(&fx, op));
    snprintf(op, sizeof op,
             "{\"op\":\"modify_dataset\",\"id\":\"%s\",\"resource_url\":{\"position\":0,"
             "\"url\":\"file:///etc/passwd\"}}",
             ids[11]);
    json_decref(mt_control(&fx, op));
    /* generous margins for a loaded machine: slow = 2 s against a 1 s threshold
     * and a 4 s timeout; hang = 10 s */
    char *ini = mt_ini(&fx, "slow_ms = 1000\n",
                       "fail_threshold = 2\nrecover_threshold = 1\ntimeout = 4s\n");
    int rc = vgt_server_start(&srv, "monitor,busbridge", NULL, ini);
    free(ini);
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    mt_stop(&srv, &fx);
    return 0;
}

static void first_sweep_classifies_every_behaviour(void **state)
{
    (void)state;
    json_t *fin = mt_wait_complete(&srv, 0);
    assert_non_null(fin);
    json_t *counts = json_object_get(fin, "counts");
    assert_int_equal(json_integer_value(json_object_get(counts, "datasets")), NDS);
    assert_int_equal(json_integer_value(json_object_get(counts, "resources")), NDS);
    assert_int_equal(json_integer_value(json_object_get(counts, "restricted")), 2);
    /* the baseline sweep announces nothing */
    assert_int_equal(json_integer_value(json_object_get(fin, "changes")), 0);
    json_decref(fin);
    json_t *ev = mt_events(&srv, 0, NULL);
    assert_int_equal(mt_count(ev, "dataset.added", NULL), 0);
    assert_int_equal(mt_count(ev, "dataset.status_changed", NULL), 0);
    assert_int_equal(mt_count(ev, "monitor.sweep_started", NULL), 1);
    json_decref(ev);

    struct {
        const char *rstatus, *dstatus, *reason;
        long http;
    } want[NDS] = {
        {"up", "up", "ok", 200},
        {"down", "down", "not_found", 404},
        {"down", "down", "http_5xx", 500},
        {"up", "up", "ok", 200}, /* slow once is not slow: the median of 3 decides */
        {"up", "up", "ok", 206},
        {"up", "up", "ok", 200},
        {"down", "down", "connection_error", 0},
        {"down", "down", "timeout", 0},
        {"restricted", "up", "restricted", 403},
        {"restricted", "up", "restricted", 401},
        {"unknown", "unknown", "invalid_url", 0},
        {"unknown", "unknown", "invalid_url", 0},
        {"down", "down", "too_many_redirects", 302},
        {"up", "up", "ok", 200},
    };
    for (int i = 0; i < NDS; i++) {
        json_t *d = get_dataset(ids[i]);
        json_t *r = res0(d);
        json_t *lc = json_object_get(r, "last_check");
        fprintf(stderr, "# %-9s dataset %-8s resource %-10s reason %-18s http %lld\n", k_beh[i],
                ds_status(d), json_string_value(json_object_get(r, "status")),
                json_string_value(json_object_get(lc, "reason")),
                json_integer_value(json_object_get(lc, "http_status")));
        assert_string_equal(json_string_value(json_object_get(r, "status")), want[i].rstatus);
        assert_string_equal(ds_status(d), want[i].dstatus);
        assert_string_equal(json_string_value(json_object_get(lc, "reason")), want[i].reason);
        assert_int_equal(json_integer_value(json_object_get(lc, "http_status")), want[i].http);
        if (i == 4) /* HEAD refused -> ranged GET */
            assert_string_equal(json_string_value(json_object_get(lc, "method")), "GET");
        if (i == 5) /* redirect chain followed to its end */
            assert_non_null(strstr(json_string_value(json_object_get(lc, "final_url")), "/hop/3"));
        if (i == 0) {
            assert_non_null(json_string_value(json_object_get(lc, "content_type")));
            assert_true(json_integer_value(json_object_get(lc, "content_length")) > 0);
            assert_non_null(json_object_get(d, "uptime_30d"));
        }
        if (i == 6 || i == 7)
            assert_non_null(json_string_value(json_object_get(lc, "error")));
        json_decref(d);
    }
    /* non-http URLs are never fetched; the fixture saw who we are */
    json_t *st = mt_fixture_get(&fx, "/_stats");
    assert_non_null(strstr(json_string_value(json_object_get(st, "last_user_agent")), "Vigia/"));
    assert_non_null(
        strstr(json_string_value(json_object_get(st, "last_user_agent")), "example.invalid"));
    json_decref(st);
    /* datasets.list filters */
    int rc;
    json_t *l = mt_call(&srv, "datasets.list", "{\"status\":\"down\",\"limit\":100}", &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(json_integer_value(json_object_get(l, "total")), 5);
    json_decref(l);
    l = mt_call(&srv, "datasets.list", "{\"limit\":5000}", &rc);
    assert_true(rc < 0);
    char *dump = json_dumps(l, 0);
    assert_non_null(strstr(dump, "limit"));
    free(dump);
    json_decref(l);
}

static void flip_respects_thresholds(void **state)
{
    (void)state;
    char op[1024];
    /* the hanging resource costs a full timeout per sweep: heal it for the rest */
    snprintf(op, sizeof op, "{\"op\":\"set_dataset\",\"id\":\"%s\",\"behaviour\":\"up\"}", ids[7]);
    json_decref(mt_control(&fx, op));
    snprintf(op, sizeof op, "{\"op\":\"set_dataset\",\"id\":\"%s\",\"behaviour\":\"404\"}", ids[0]);
    json_decref(mt_control(&fx, op));
    long long since;
    json_t *fin = mt_sweep(&srv, &since);
    assert_non_null(fin);
    json_decref(fin);
    json_t *d = get_dataset(ids[0]);
    assert_string_equal(ds_status(d), "up"); /* one failing sweep is not enough */
    assert_string_equal(json_string_value(json_object_get(res0(d), "status")), "down");
    json_decref(d);
    json_t *ev = mt_events(&srv, since, "dataset.status_changed");
    assert_int_equal(mt_count(ev, NULL, ids[0]), 0);
    json_decref(ev);

    fin = mt_sweep(&srv, &since);
    assert_non_null(fin);
    json_decref(fin);
    d = get_dataset(ids[0]);
    assert_string_equal(ds_status(d), "down");
    json_decref(d);
    ev = mt_events(&srv, since, "dataset.status_changed");
    assert_int_equal(mt_count(ev, NULL, ids[0]), 1);
    json_t *p = json_object_get(json_array_get(ev, 0), "payload");
    assert_string_equal(json_string_value(json_object_get(p, "previous")), "up");
    assert_string_equal(json_string_value(json_object_get(p, "current")), "down");
    assert_string_equal(json_string_value(json_object_get(p, "portal")), "fx");
    assert_true(json_integer_value(json_object_get(p, "sweep_id")) > 0);
    json_t *failing = json_object_get(p, "failing");
    assert_int_equal(json_array_size(failing), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(failing, 0), "http_status")),
                     404);
    assert_non_null(json_string_value(json_object_get(p, "checked_at")));
    json_decref(ev);

    /* recovery needs one good sweep */
    snprintf(op, sizeof op, "{\"op\":\"set_dataset\",\"id\":\"%s\",\"behaviour\":\"up\"}", ids[0]);
    json_decref(mt_control(&fx, op));
    fin = mt_sweep(&srv, &since);
    json_decref(fin);
    d = get_dataset(ids[0]);
    assert_string_equal(ds_status(d), "up");
    json_decref(d);
    ev = mt_events(&srv, since, "dataset.status_changed");
    assert_int_equal(mt_count(ev, NULL, ids[0]), 1);
    p = json_object_get(json_array_get(ev, 0), "payload");
    assert_string_equal(json_string_value(json_object_get(p, "previous")), "down");
    assert_string_equal(json_string_value(json_object_get(p, "current")), "up");
    json_decref(ev);
}

static void added_removed_modified_once(void **state)
{
    (void)state;
    json_t *added = mt_control(&fx, "{\"op\":\"add_dataset\",\"name\":\"nuevo-conjunto\","
                                    "\"resources\":2}");
    const char *nid = json_string_value(
        json_object_get(json_array_get(json_object_get(added, "results"), 0), "id"));
    assert_non_null(nid);
    char new_id[40];
    snprintf(new_id, sizeof new_id, "%s", nid);
    json_decref(added);
    char op[1024];
    snprintf(op, sizeof op, "{\"op\":\"modify_dataset\",\"id\":\"%s\",\"title\":\"Nuevo titulo\"}",
             ids[13]);
    json_decref(mt_control(&fx, op));
    snprintf(op, sizeof op, "{\"op\":\"remove_dataset\",\"id\":\"%s\"}", ids[2]);
    json_decref(mt_control(&fx, op));

    long long since;
    json_t *fin = mt_sweep(&srv, &since);
    assert_non_null(fin);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(fin, "counts"), "datasets")), NDS);
    json_decref(fin);
    long long since2;
    fin = mt_sweep(&srv, &since2); /* a second sweep must announce nothing new */
    json_decref(fin);
    json_t *ev = mt_events(&srv, since, NULL);
    assert_int_equal(mt_count(ev, "dataset.added", NULL), 1);
    assert_int_equal(mt_count(ev, "dataset.added", new_id), 1);
    assert_int_equal(mt_count(ev, "dataset.removed", NULL), 1);
    assert_int_equal(mt_count(ev, "dataset.removed", ids[2]), 1);
    assert_int_equal(mt_count(ev, "dataset.modified", NULL), 1);
    assert_int_equal(mt_count(ev, "dataset.modified", ids[13]), 1);
    size_t i;
    json_t *e;
    json_array_foreach (ev, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "topic")), "dataset.modified"))
            continue;
        json_t *ch = json_object_get(json_object_get(e, "payload"), "changes");
        assert_string_equal(json_string_value(json_object_get(json_object_get(ch, "title"), "new")),
                            "Nuevo titulo");
        assert_non_null(json_object_get(ch, "metadata_modified"));
    }
    json_decref(ev);
    int rc;
    char params[1024];
    snprintf(params, sizeof params, "{\"id\":\"%s\"}", ids[2]);
    json_t *gone = mt_call(&srv, "datasets.get", params, &rc);
    assert_true(rc < 0);
    json_decref(gone);
    /* a URL change is a modification too */
    /* the same healthy file as dataset 0's, under another URL */
    char path[256];
    snprintf(path, sizeof path, "/api/3/action/package_show?id=%s", ids[0]);
    json_t *show = mt_fixture_get(&fx, path);
    const char *url0 = json_string_value(json_object_get(
        json_array_get(json_object_get(json_object_get(show, "result"), "resources"), 0), "url"));
    assert_non_null(url0);
    snprintf(op, sizeof op,
             "{\"op\":\"modify_dataset\",\"id\":\"%s\",\"resource_url\":{\"position\":0,"
             "\"url\":\"%s?v=2\"}}",
             ids[13], url0);
    json_decref(show);
    json_decref(mt_control(&fx, op));
    fin = mt_sweep(&srv, &since);
    json_decref(fin);
    ev = mt_events(&srv, since, "dataset.modified");
    assert_int_equal(json_array_size(ev), 1);
    json_t *ch = json_object_get(json_object_get(json_array_get(ev, 0), "payload"), "changes");
    assert_int_equal(json_array_size(json_object_get(ch, "urls_changed")), 1);
    json_decref(ev);
}

static void history_and_rollup(void **state)
{
    (void)state;
    /* dataset 1 (404) has been down in every sweep so far; dataset 0 was down twice */
    json_t *st = mt_call(&srv, "monitor.status", NULL, NULL);
    json_t *p0 = json_array_get(json_object_get(st, "portals"), 0);
    assert_string_equal(json_string_value(json_object_get(p0, "name")), "fx");
    assert_string_equal(json_string_value(json_object_get(p0, "state")), "up");
    assert_non_null(json_object_get(json_object_get(p0, "last_sweep"), "duration_ms"));
    assert_true(json_integer_value(json_object_get(json_object_get(p0, "checks_total"), "down")) >
                0);
    json_decref(st);
    json_t *fin = NULL;
    int sweeps = 0;
    json_t *ev = mt_events(&srv, 0, "monitor.sweep_finished");
    sweeps = (int)json_array_size(ev);
    json_decref(ev);
    (void)fin;
    char params[1024];
    snprintf(params, sizeof params, "{\"id\":\"%s\",\"days\":30}", ids[0]);
    int rc;
    json_t *h = mt_call(&srv, "datasets.history", params, &rc);
    assert_int_equal(rc, 0);
    json_t *checks = json_object_get(h, "checks");
    json_t *daily = json_object_get(h, "daily");
    assert_int_equal(json_array_size(checks), (size_t)sweeps);
    assert_int_equal(json_array_size(daily), 1);
    json_t *day = json_array_get(daily, 0);
    assert_int_equal(json_integer_value(json_object_get(day, "checks")), sweeps);
    assert_int_equal(json_integer_value(json_object_get(day, "ok")), sweeps - 2);
    double up = json_real_value(json_object_get(day, "uptime"));
    double want = 100.0 * (sweeps - 2) / sweeps;
    assert_true(up > want - 0.01 && up < want + 0.01);
    assert_true(json_is_number(json_object_get(day, "mean_latency_ms")));
    json_decref(h);
    snprintf(params, sizeof params, "{\"id\":\"%s\",\"days\":400}", ids[0]);
    h = mt_call(&srv, "datasets.history", params, &rc);
    assert_true(rc < 0);
    json_decref(h);
}

static void restart_keeps_status_without_reannouncing(void **state)
{
    (void)state;
    assert_true(WIFEXITED(vgt_server_signal(&srv, SIGTERM)));
    assert_int_equal(vgt_server_restart(&srv), 0);
    /* before any sweep the stored status is served */
    json_t *d = get_dataset(ids[1]);
    assert_string_equal(ds_status(d), "down");
    json_decref(d);
    json_t *fin = mt_wait_complete(&srv, 0);
    assert_non_null(fin);
    json_t *ev = mt_events(&srv, 0, NULL);
    char *dump = json_dumps(ev, JSON_COMPACT);
    if (json_integer_value(json_object_get(fin, "changes")) != 0)
        fprintf(stderr, "# events after restart: %s\n", dump);
    free(dump);
    assert_int_equal(json_integer_value(json_object_get(fin, "changes")), 0);
    json_decref(fin);
    assert_int_equal(mt_count(ev, "dataset.added", NULL), 0);
    assert_int_equal(mt_count(ev, "dataset.status_changed", NULL), 0);
    assert_int_equal(mt_count(ev, "dataset.modified", NULL), 0);
    json_decref(ev);
    d = get_dataset(ids[1]);
    assert_string_equal(ds_status(d), "down");
    json_decref(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_sweep_classifies_every_behaviour),
        cmocka_unit_test(flip_respects_thresholds),
        cmocka_unit_test(added_removed_modified_once),
        cmocka_unit_test(history_and_rollup),
        cmocka_unit_test(restart_keeps_status_without_reannouncing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
