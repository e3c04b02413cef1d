/* The rest plugin over the REAL notifications plugin (no stub): the
 * notification routes end to end, with SQLite persistence behind them. */
#include "rest_test_util.h"

#include <signal.h>

static vgt_server srv;

static int setup(void **state)
{
    (void)state;
    return rt_start(&srv, "notifications, rest", "admin_token = s3cret", NULL);
}

/* A clean stop (SIGTERM, exit 0) also lets ASan's leak check run in sanitizer builds. */
static int teardown(void **state)
{
    (void)state;
    return vgt_server_stop_clean(&srv);
}

static json_t *call(const char *method, const char *path, const char *body, long status)
{
    const char *hdrs[] = {TOKEN_HDR, "Content-Type: application/json", NULL};
    return rt_req_json(&srv, method, path, hdrs, body, status);
}

static long long total_now(void)
{
    json_t *j = call("GET", "/api/notifications?limit=1", NULL, 200);
    long long t = json_integer_value(json_object_get(j, "total"));
    json_decref(j);
    return t;
}

static int has_any(void *arg)
{
    (void)arg;
    return total_now() > 0;
}

static int metrics_has_two_warnings(void *arg)
{
    (void)arg;
    vgt_response r;
    rt_req(&srv, "GET", "/metrics", NULL, NULL, &r);
    int ok = r.status == 200 &&
             strstr(r.body, "vigia_notifications_created_total{type=\"warning\"} 2\n") != NULL;
    vgt_response_free(&r);
    return ok;
}

static void test_real_notifications(void **state)
{
    (void)state;
    /* The plugin announces the start itself, on the bus thread: let that land first
     * (if it ever stops doing so, the wait just times out), then count from there. */
    vgt_wait_until(has_any, NULL, 3000);
    long long t0 = total_now();
    char ids[4][32];
    for (int i = 0; i < 4; i++) {
        char body[128];
        snprintf(body, sizeof body, "{\"type\":\"%s\",\"title\":\"Prueba %d\",\"message\":\"m%d\"}",
                 i % 2 ? "warning" : "info", i, i);
        json_t *j = call("POST", "/api/notifications/test", body, 201);
        json_t *n = json_object_get(j, "notification");
        snprintf(ids[i], sizeof ids[i], "%s", json_string_value(json_object_get(n, "id")));
        char title[32];
        snprintf(title, sizeof title, "Prueba %d", i);
        assert_string_equal(json_string_value(json_object_get(n, "title")), title);
        assert_true(json_is_integer(json_object_get(j, "unread_count")));
        json_decref(j);
    }
    assert_int_equal(total_now(), t0 + 4);

    /* Paging by id: newest two, then the two before them. */
    json_t *j = call("GET", "/api/notifications?limit=2", NULL, 200);
    json_t *list = json_object_get(j, "notifications");
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "id")), ids[3]);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1), "id")), ids[2]);
    json_decref(j);
    char path[128];
    snprintf(path, sizeof path, "/api/notifications?limit=2&before=%s", ids[2]);
    j = call("GET", path, NULL, 200);
    list = json_object_get(j, "notifications");
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "id")), ids[1]);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1), "id")), ids[0]);
    json_decref(j);
    j = call("GET", "/api/notifications?type=warning&q=prueba", NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 2);
    json_decref(j);

    /* Mark one read; unknown ids are the owner's 404. */
    snprintf(path, sizeof path, "/api/notifications/%s/read", ids[1]);
    j = call("POST", path, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(j, "notification_id")), ids[1]);
    json_decref(j);
    j = call("POST", "/api/notifications/987654/read", NULL, 404);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                        "NOT_FOUND");
    json_decref(j);
    /* An empty title is refused before it reaches the owner. */
    j = call("POST", "/api/notifications/test", "{\"title\":\"\"}", 400);
    json_decref(j);

    j = call("GET", "/api/stats", NULL, 200);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(j, "notifications"), "total")), t0 + 4);
    assert_true(json_is_null(json_object_get(j, "datasets")));
    json_decref(j);

    /* notification.created events arrive on the bus thread: wait for them. */
    assert_true(vgt_wait_until(metrics_has_two_warnings, NULL, 5000));
    vgt_response r;

    j = call("POST", "/api/notifications/read-all", NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(j, "unread_count")), 0);
    json_decref(j);
    j = call("POST", "/api/notifications/clear", NULL, 200);
    assert_true(json_integer_value(json_object_get(j, "cleared")) >= 4);
    json_decref(j);
    assert_int_equal(total_now(), 0);

    /* The datasets routes need the monitor. */
    rt_req(&srv, "GET", "/api/datasets", NULL, NULL, &r);
    rt_expect_error(&r, 503, "UNAVAILABLE", "plugin 'monitor' is not loaded");
    vgt_response_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_real_notifications)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
