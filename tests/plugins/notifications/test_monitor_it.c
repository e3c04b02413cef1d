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

#include "nt_it.h"
#include "vgt.h"

typedef struct fixture {
    pid_t pid;
    int port;
    char base[64];
} fixture;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static json_t *fixture_http(const fixture *f, const char *method, const char *path,
                            const char *body)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", f->base, path);
    vgt_response r = {0};
    const char *hdr[] = {"Content-Type: application/json", NULL};
    vgt_http(NULL, method, url, hdr, body, body ? strlen(body) : 0, &r);
    json_t *j = r.status == 200 && r.body ? json_loads(r.body, 0, NULL) : NULL;
    vgt_response_free(&r);
    return j;
}

static int fixture_start(fixture *f)
{
    char bin[4096], port[16];
    snprintf(bin, sizeof bin, "%s/tests/fixtures/ckan-fixture/ckan-fixture",
             getenv("VIGIA_BUILD_DIR"));
    f->port = vgt_free_port();
    snprintf(port, sizeof port, "%d", f->port);
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d", f->port);
    f->pid = fork();
    if (f->pid < 0)
        return -1;
    if (f->pid == 0) {
        execl(bin, bin, "--port", port, "--datasets", "4", "--orgs", "2", "--resources-per-dataset",
              "1", "--hosts", "1", "--scenario", "plain", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 250; i++) {
        json_t *st = fixture_http(f, "GET", "/_stats", NULL);
        if (st) {
            json_decref(st);
            return 0;
        }
        sleep_ms(20);
    }
    return -1;
}

static void fixture_stop(fixture *f)
{
    if (f->pid > 0) {
        kill(f->pid, SIGTERM);
        waitpid(f->pid, NULL, 0);
        f->pid = 0;
    }
}

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
    fixture fx = {0};
    assert_int_equal(fixture_start(&fx), 0);
    json_t *page =
        fixture_http(&fx, "GET", "/api/3/action/package_search?rows=10&sort=id%20asc", NULL);
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
        fixture_stop(&fx);
        fail_msg("server did not start");
    }
    /* the baseline sweep (started by the monitor itself) announces nothing */
    sweeps w = {.s = &s, .n = 1};
    assert_true(vgt_wait_until(sweeps_done, &w, 60000));

    char op[512];
    snprintf(op, sizeof op, "{\"op\":\"set_dataset\",\"id\":\"%s\",\"behaviour\":\"404\"}", id);
    json_decref(fixture_http(&fx, "POST", "/_control", op));
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
    json_decref(fixture_http(&fx, "POST", "/_control", op));
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
    fixture_stop(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dataset_down_in_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
