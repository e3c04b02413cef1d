/* The rest plugin over the real plugins (notifications, monitor, broker) with
 * the monitor sweeping the CKAN fixture: every route answers with real data. */
#include "rest_test_util.h"

#include <signal.h>
#include <sys/wait.h>

static vgt_server srv;
static pid_t fixture_pid;

static int fixture_up(void *arg)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/_stats", *(int *)arg);
    vgt_response r;
    int ok = vgt_http(&srv, "GET", url, NULL, NULL, 0, &r) == 0 && r.status == 200;
    vgt_response_free(&r);
    return ok;
}

static int teardown(void **state)
{
    (void)state;
    int rc = vgt_server_stop_clean(&srv);
    if (fixture_pid > 0) {
        kill(fixture_pid, SIGTERM);
        waitpid(fixture_pid, NULL, 0);
    }
    return rc;
}

static int setup(void **state)
{
    (void)state;
    const char *bd = getenv("VIGIA_BUILD_DIR");
    char bin[4096], port[16];
    snprintf(bin, sizeof bin, "%s/tests/fixtures/ckan-fixture/ckan-fixture", bd ? bd : ".");
    int fport = vgt_free_port();
    snprintf(port, sizeof port, "%d", fport);
    fixture_pid = fork();
    if (fixture_pid < 0)
        return -1;
    if (fixture_pid == 0) {
        execl(bin, bin, "--port", port, "--datasets", "20", "--scenario", "mixed", "--seed", "7",
              (char *)NULL);
        _exit(127);
    }
    if (!vgt_wait_until(fixture_up, &fport, 10000)) {
        fprintf(stderr, "ckan-fixture did not come up\n");
        teardown(state);
        return -1;
    }
    char ini[1024];
    snprintf(ini, sizeof ini,
             "[monitor]\napi_delay = 0\ntimeout = 2s\nconnect_timeout = 1s\n"
             "contact_url = https://example.invalid/vigia-tests\n"
             "[monitor:fx]\nbase_url = http://127.0.0.1:%d\ninterval = 1h\nrows = 5\n"
             /* the loopback fixture is ours: no polite pause in the body pass */
             "content_per_host = 8\ncontent_per_host_interval = 0\n",
             fport);
    if (rt_start(&srv, "notifications, monitor, broker, rest", "admin_token = s3cret", ini) != 0) {
        teardown(state); /* cmocka skips the group teardown when setup fails */
        return -1;
    }
    return 0;
}

static json_t *get(const char *path) { return rt_req_json(&srv, "GET", path, NULL, NULL, 200); }

static int swept(void *arg)
{
    (void)arg;
    json_t *j = get("/api/portals");
    json_t *ls = json_object_get(json_array_get(json_object_get(j, "portals"), 0), "last_sweep");
    int ok = json_is_string(json_object_get(ls, "finished_at"));
    json_decref(j);
    return ok;
}

static void test_full_stack(void **state)
{
    (void)state;
    /* The monitor sweeps at start; 20 datasets, 3 resources each. */
    assert_true(vgt_wait_until(swept, NULL, 60000));

    json_t *j = get("/api/datasets?limit=5&sort=name");
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 20);
    json_t *items = json_object_get(j, "items");
    assert_int_equal(json_array_size(items), 5);
    char id[128];
    snprintf(id, sizeof id, "%s",
             json_string_value(json_object_get(json_array_get(items, 0), "id")));
    json_decref(j);

    char path[256];
    snprintf(path, sizeof path, "/api/datasets/%s", id);
    j = get(path);
    assert_true(json_array_size(json_object_get(j, "resources")) >= 1);
    json_decref(j);
    snprintf(path, sizeof path, "/api/datasets/%s/history?days=3", id);
    j = get(path);
    assert_true(json_is_array(json_object_get(j, "checks")));
    assert_true(json_is_array(json_object_get(j, "daily")));
    json_decref(j);
    vgt_response r;
    rt_req(&srv, "GET", "/api/datasets/no-such-dataset", NULL, NULL, &r);
    rt_expect_error(&r, 404, "NOT_FOUND", NULL);
    vgt_response_free(&r);

    j = get("/api/stats");
    json_t *ds = json_object_get(j, "datasets");
    assert_int_equal(json_integer_value(json_object_get(ds, "total")), 20);
    json_t *by = json_object_get(ds, "by_status");
    long long sum = 0;
    const char *k;
    json_t *v;
    json_object_foreach (by, k, v)
        sum += json_integer_value(v);
    assert_int_equal(sum, 20);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "last_sweep"), "portal")), "fx");
    assert_int_equal(json_array_size(json_object_get(j, "unavailable")), 0);
    json_decref(j);

    j = get("/api/websockets/status");
    assert_true(json_is_integer(json_object_get(json_object_get(j, "clients"), "total")));
    json_decref(j);

    rt_req(&srv, "GET", "/metrics", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "vigia_datasets{portal=\"fx\",status=\"up\"} "));
    assert_non_null(strstr(r.body, "vigia_sweep_duration_seconds{portal=\"fx\"} "));
    assert_non_null(strstr(r.body, "vigia_checks_total{result=\"up\"} "));
    assert_non_null(strstr(r.body, "vigia_websocket_clients{transport=\"websocket\"} 0\n"));
    /* counted by the core after the reply: look for a request made well before */
    assert_non_null(strstr(r.body,
                           "vigia_http_requests_total{route=\"/api/portals\",method=\"GET\","
                           "status=\"200\"} "));
    vgt_response_free(&r);

    /* A sweep on demand: started, or refused with 409 while one runs. */
    const char *tok[] = {TOKEN_HDR, NULL};
    rt_req(&srv, "POST", "/api/monitor/run", tok, NULL, &r);
    assert_true(r.status == 202 || r.status == 409);
    vgt_response_free(&r);
    rt_req(&srv, "POST", "/api/monitor/run?portal=nope", tok, NULL, &r);
    rt_expect_error(&r, 404, "NOT_FOUND", "nope");
    vgt_response_free(&r);
    rt_req(&srv, "POST", "/api/monitor/run", NULL, NULL, &r);
    rt_expect_error(&r, 401, "UNAUTHORIZED", NULL);
    vgt_response_free(&r);

    /* The notifications plugin announced the start: mark it read. */
    j = get("/api/notifications?limit=1");
    json_t *n = json_array_get(json_object_get(j, "notifications"), 0);
    assert_non_null(n);
    snprintf(path, sizeof path, "/api/notifications/%s/read",
             json_string_value(json_object_get(n, "id")));
    json_decref(j);
    rt_req(&srv, "POST", path, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    vgt_response_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_full_stack)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
