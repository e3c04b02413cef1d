/* Integration: identity is (portal, id) through REST. Two CKAN fixtures with
 * the same seed are two portals whose datasets share every id; the real
 * vigia (monitor, rest, busbridge) must never answer one portal's dataset for
 * the other's: ?portal= picks, no portal on a shared id is 409 naming both.
 * Search (q) ignores case and Spanish/Portuguese accents. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mt.h"

static mt_fixture fa, fb;
static vgt_server srv;
static char shared_id[40];

static int setup(void **state)
{
    (void)state;
    const char *args[] = {"--datasets", "4",      "--orgs", "2", "--resources-per-dataset",
                          "1",          "--seed", "11",     NULL};
    if (mt_fixture_start(&fa, args) < 0 || mt_fixture_start(&fb, args) < 0)
        return -1;
    /* portal "alfa" also has a dataset with an accented title */
    json_t *r = mt_control(
        &fa, "{\"op\":\"add_dataset\",\"name\":\"arboles-urbanos\","
             "\"title\":\"Cat\\u00e1logo de \\u00e1rboles urbanos de \\u00d1u\\u00f1oa\","
             "\"resources\":1}");
    json_decref(r);
    json_t *page = mt_fixture_get(&fb, "/api/3/action/package_search?rows=10&sort=id%20asc");
    json_t *first = json_array_get(json_object_get(json_object_get(page, "result"), "results"), 0);
    snprintf(shared_id, sizeof shared_id, "%s", json_string_value(json_object_get(first, "id")));
    json_decref(page);
    char *ini = NULL;
    if (asprintf(&ini,
                 "[monitor]\napi_delay = 0\ntimeout = 2s\nconnect_timeout = 1s\ninterval = 1h\n"
                 "[monitor:alfa]\nbase_url = %s\n[monitor:beta]\nbase_url = %s\n",
                 fa.base, fb.base) < 0)
        return -1;
    int rc = vgt_server_start(&srv, "monitor,rest,busbridge", NULL, ini);
    free(ini);
    if (rc)
        return rc;
    for (int i = 0; i < 600; i++) { /* both portals' first sweeps */
        json_t *ev = mt_events(&srv, 0, "monitor.sweep_finished");
        size_t n = json_array_size(ev);
        json_decref(ev);
        if (n >= 2)
            return 0;
        usleep(100 * 1000);
    }
    return -1;
}

static int teardown(void **state)
{
    (void)state;
    vgt_server_cleanup(&srv);
    mt_fixture_stop(&fa);
    mt_fixture_stop(&fb);
    return 0;
}

static json_t *get(const char *path, long want)
{
    vgt_response r;
    assert_int_equal(vgt_get(&srv, path, &r), 0);
    if (r.status != want)
        fail_msg("%s: %ld %s", path, r.status, r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    vgt_response_free(&r);
    assert_non_null(j);
    return j;
}

static void shared_id_needs_its_portal(void **state)
{
    (void)state;
    char path[256];
    /* both portals hold the id */
    json_t *l = get("/api/datasets?limit=100", 200);
    assert_int_equal(json_integer_value(json_object_get(l, "total")), 9);
    json_decref(l);
    snprintf(path, sizeof path, "/api/datasets/%s", shared_id);
    json_t *e = get(path, 409);
    const char *msg = json_string_value(json_object_get(json_object_get(e, "error"), "message"));
    fprintf(stderr, "# %s -> 409 %s\n", path, msg);
    assert_string_equal(json_string_value(json_object_get(json_object_get(e, "error"), "code")),
                        "AMBIGUOUS");
    assert_non_null(strstr(msg, "alfa"));
    assert_non_null(strstr(msg, "beta"));
    json_decref(e);
    const char *const portals[] = {"alfa", "beta"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "/api/datasets/%s?portal=%s", shared_id, portals[i]);
        json_t *d = get(path, 200);
        assert_string_equal(json_string_value(json_object_get(d, "portal")), portals[i]);
        assert_string_equal(json_string_value(json_object_get(d, "id")), shared_id);
        json_decref(d);
        snprintf(path, sizeof path, "/api/datasets/%s/history?portal=%s&days=2", shared_id,
                 portals[i]);
        d = get(path, 200);
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(d, "dataset"), "portal")),
            portals[i]);
        json_decref(d);
    }
    snprintf(path, sizeof path, "/api/datasets/%s/history", shared_id);
    json_decref(get(path, 409));
    snprintf(path, sizeof path, "/api/datasets/%s?portal=gamma", shared_id);
    json_decref(get(path, 404));
    /* an id only one portal has needs no portal */
    json_t *only = get("/api/datasets?q=arboles", 200);
    const char *id =
        json_string_value(json_object_get(json_array_get(json_object_get(only, "items"), 0), "id"));
    assert_non_null(id);
    snprintf(path, sizeof path, "/api/datasets/%s", id);
    json_decref(only);
    json_t *d = get(path, 200);
    assert_string_equal(json_string_value(json_object_get(d, "portal")), "alfa");
    json_decref(d);
}

static void search_ignores_case_and_accents(void **state)
{
    (void)state;
    static const char *const queries[] = {"arboles",  "%C3%81RBOLES" /* ÁRBOLES */,
                                          "catalogo", "CAT%C3%81LOGO",
                                          "nunoa",    "%C3%B1u%C3%B1oa" /* ñuñoa */};
    for (size_t i = 0; i < sizeof queries / sizeof *queries; i++) {
        char path[128];
        snprintf(path, sizeof path, "/api/datasets?q=%s", queries[i]);
        json_t *l = get(path, 200);
        fprintf(stderr, "# q=%s -> %lld\n", queries[i],
                (long long)json_integer_value(json_object_get(l, "total")));
        assert_int_equal(json_integer_value(json_object_get(l, "total")), 1);
        assert_string_equal(json_string_value(json_object_get(
                                json_array_get(json_object_get(l, "items"), 0), "name")),
                            "arboles-urbanos");
        json_decref(l);
    }
    /* LIKE wildcards in q stay plain text */
    json_t *l = get("/api/datasets?q=%25", 200);
    assert_int_equal(json_integer_value(json_object_get(l, "total")), 0);
    json_decref(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shared_id_needs_its_portal),
        cmocka_unit_test(search_ignores_case_and_accents),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
