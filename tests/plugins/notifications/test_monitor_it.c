/* End to end with the real monitor: the CKAN fixture serves a small portal,
 * the monitor sweeps it, a resource starts answering 404, and the next sweep
 * becomes a persisted "Dataset caído" notification (and later "recuperado").
 * Plugins: notifications, monitor, busbridge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mt.h" /* the CKAN fixture process, shared with the monitor tests */
#include "nt_it.h"
#include "vgt.h"

/* Waiting for the n-th monitor.sweep_finished seen by the probe. */
typedef struct sweeps {
    const vgt_server *s;
    size_t n;
} sweeps;

static int sweeps_done(void *arg)
{
    sweeps *w = arg;
    json_t *ev = vgt_bus_events(w->s, 0, "monitor.sweep_finished");
    size_t n = json_array_size(ev);
    json_decref(ev);
    return n >= w->n;
}

static void run_sweep(const vgt_server *s, size_t nth)
{
    json_t *r = vgt_bus_call(s, "monitor.run_now", json_pack("{s:s}", "portal", "fx"));
    assert_non_null(r);
    assert_int_equal(json_integer_value(json_object_get(r, "rc")), 0);
    json_decref(r);
    sweeps w = {.s = s, .n = nth};
    assert_true(vgt_wait_until(sweeps_done, &w, 60000));
}

static void test_dataset_down_in_fixture(void **state)
{
    (void)state;
    static const char *const args[] = {
        "--datasets", "4",          "--orgs", "2", "--resources-per-dataset", "1", "--hosts",
        "1",          "--scenario", "plain",  NULL};
    mt_fixture fx = {0};
    assert_int_equal(mt_fixture_start(&fx, args), 0);
    json_t *page = mt_fixture_get(&fx, "/api/3/action/package_search?rows=10&sort=id%20asc");
    json_t *ds = json_array_get(json_object_get(json_object_get(page, "result"), "results"), 0);
    assert_non_null(ds);
    char id[128], title[256], want[300];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(ds, "id")));
    snprintf(title, sizeof title, "%s", json_string_value(json_object_get(ds, "title")));
    json_decref(page);

    char ini[1024];
    snprintf(ini, sizeof ini,
             "[notifications]\nmin_repeat = 0\n\n"
             "[monitor]\napi_delay = 0\ntimeout = 2s\nconnect_timeout = 1s\n"
             "contact_url = https://example.invalid/vigia-tests\nannounce_initial = false\n\n"
             "[monitor:fx]\nbase_url = %s\ninterval = 1h\nrows = 5\nfail_threshold = 1\n"
             "recover_threshold = 1\n",
             fx.base);
    vgt_server s = {0};
    if (vgt_server_start(&s, "notifications, monitor, " VGT_BUS_PLUGIN, NULL, ini) != 0) {
        mt_fixture_stop(&fx);
        fail_msg("server did not start");
    }
    /* the baseline sweep (started by the monitor itself) announces nothing */
    sweeps w = {.s = &s, .n = 1};
    assert_true(vgt_wait_until(sweeps_done, &w, 60000));

    char op[512];
    snprintf(op, sizeof op, "{\"op\":\"set_dataset\",\"id\":\"%s\",\"behaviour\":\"404\"}", id);
    json_decref(mt_control(&fx, op));
    run_sweep(&s, 2);
    snprintf(want, sizeof want, "Dataset caído: %s", title);
    json_t *ev = wait_created(&s, want);
    if (!ev) {
        char *log = vgt_log_read(&s);
        fprintf(stderr, "%s\n", log ? log : "");
        free(log);
        fail_msg("no notification '%s'", want);
    }
    json_t *n = json_object_get(ev, "notification");
    assert_string_equal(json_string_value(json_object_get(n, "type")), "error");
    assert_non_null(
        strstr(json_string_value(json_object_get(n, "message")), "no encontrado, HTTP 404"));
    json_t *data = json_object_get(n, "data");
    assert_string_equal(json_string_value(json_object_get(json_object_get(data, "dataset"), "id")),
                        id);
    assert_string_equal(json_string_value(json_object_get(data, "current")), "down");
    json_decref(ev);

    /* persisted: it survives a kill -9 */
    int status = vgt_server_signal(&s, SIGKILL);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(vgt_server_restart(&s), 0);
    json_t *list = list_all(&s);
    assert_non_null(find_by_title(list, want));
    json_decref(list);

    /* and the recovery, once the monitor's own first sweep after the restart is done */
    w.n = 1;
    assert_true(vgt_wait_until(sweeps_done, &w, 60000));
    snprintf(op, sizeof op, "{\"op\":\"set_dataset\",\"id\":\"%s\",\"behaviour\":\"up\"}", id);
    json_decref(mt_control(&fx, op));
    run_sweep(&s, 2); /* the probe's record starts again after the restart */
    snprintf(want, sizeof want, "Dataset recuperado: %s", title);
    ev = wait_created(&s, want);
    assert_non_null(ev);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(ev, "notification"), "type")), "success");
    json_decref(ev);

    status = vgt_server_signal(&s, SIGTERM);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    vgt_server_cleanup(&s);
    mt_fixture_stop(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dataset_down_in_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
