/* Integration: the real server with plugins = notifications, busbridge.
 * The probe publishes monitor-like events and records notification.* events;
 * we check a dataset going down becomes a persisted, correctly worded
 * notification plus a notification.created event, and that a kill -9 right
 * after creating notifications loses none of them. */
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
#include <unistd.h>

#include "nt_it.h"
#include "vgt.h"

#define PLUGINS PROBE_PLUGINS

static json_t *down_event(const char *id, const char *title, const char *sweep_id)
{
    json_t *p = json_pack(
        "{s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}, s:s, s:s, s:[{s:s, s:s, s:s, s:s, "
        "s:s, s:i}], s:s}",
        "portal", "datos", "dataset", "id", id, "portal", "datos", "name", id, "title", title,
        "organization", "dipres", "organization_title", "DIPRES", "url",
        "http://127.0.0.1/dataset/x", "status", "down", "previous", "up", "current", "down",
        "failing", "id", "r1", "name", "CSV", "url", "http://127.0.0.1/r1.csv", "status", "down",
        "reason", "not_found", "http_status", 404, "checked_at", "2026-11-28T09:00:00Z");
    if (sweep_id)
        json_object_set_new(p, "sweep_id", json_string(sweep_id));
    return p;
}

static void test_status_change_becomes_notification(void **state)
{
    (void)state;
    vgt_server s = {0};
    assert_int_equal(vgt_server_start(&s, PLUGINS, NULL, "[notifications]\nlanguage = es\n"), 0);

    /* system.started from the core */
    json_t *started = wait_created(&s, "Sistema iniciado");
    assert_non_null(started);
    json_decref(started);

    assert_int_equal(
        vgt_bus_publish(&s, "dataset.status_changed", down_event("d-1", "Presupuesto 2024", NULL)),
        0);
    json_t *ev = wait_created(&s, "Dataset caído: Presupuesto 2024");
    assert_non_null(ev);
    json_t *n = json_object_get(ev, "notification");
    assert_string_equal(json_string_value(json_object_get(n, "type")), "error");
    assert_string_equal(json_string_value(json_object_get(n, "message")),
                        "«Presupuesto 2024» (DIPRES, portal datos) dejó de responder: el recurso "
                        "«CSV» falla (no encontrado, HTTP 404).");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(n, "data"), "dataset"), "id")),
                        "d-1");
    assert_int_equal(json_integer_value(json_object_get(ev, "unread_count")), 2);
    const char *id = json_string_value(json_object_get(n, "id"));
    char idbuf[32];
    snprintf(idbuf, sizeof idbuf, "%s", id);
    json_decref(ev);

    /* it is in the list, and read state round-trips with an event */
    json_t *list = list_all(&s);
    assert_non_null(list);
    assert_non_null(find_by_title(list, "Dataset caído: Presupuesto 2024"));
    assert_int_equal(json_integer_value(json_object_get(list, "unread_count")), 2);
    json_decref(list);
    json_t *r = vgt_bus_call(&s, "notifications.mark_read", json_pack("{s:s}", "id", idbuf));
    assert_int_equal(json_integer_value(json_object_get(r, "rc")), 0);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(r, "result"), "unread_count")), 1);
    json_decref(r);

    /* bad input is refused with the field named */
    r = vgt_bus_call(&s, "notifications.create",
                     json_pack("{s:s, s:s}", "type", "urgent", "title", "x"));
    assert_true(json_integer_value(json_object_get(r, "rc")) < 0);
    json_t *err = json_object_get(json_object_get(r, "result"), "error");
    assert_string_equal(json_string_value(json_object_get(err, "code")), "INVALID_ARGUMENT");
    assert_non_null(strstr(json_string_value(json_object_get(err, "message")), "type:"));
    json_decref(r);

    /* method parameters are checked and errors name the field */
    struct {
        const char *method;
        json_t *params;
        const char *code, *message;
    } bad[] = {
        {"notifications.list", json_pack("{s:i}", "limit", 0), "INVALID_ARGUMENT",
         "limit: must be an integer between 1 and 1000"},
        {"notifications.list", json_pack("{s:s}", "since", "abc"), "INVALID_ARGUMENT",
         "since: must be a notification id"},
        {"notifications.list", json_pack("{s:s}", "type", "fatal"), "INVALID_ARGUMENT",
         "type: must be one of info, warning, error, success"},
        {"notifications.get", json_pack("{s:s}", "id", "999999"), "NOT_FOUND",
         "id: no notification 999999"},
        {"notifications.mark_read", json_object(), "INVALID_ARGUMENT",
         "id: required, a notification id such as \"42\""},
        {"notifications.create", json_pack("{s:s, s:s}", "type", "info", "title", ""),
         "INVALID_ARGUMENT", "title: required (a non-empty string of at most 256 bytes)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = vgt_bus_call(&s, bad[i].method, bad[i].params);
        assert_non_null(r);
        assert_true(json_integer_value(json_object_get(r, "rc")) < 0);
        json_t *e = json_object_get(json_object_get(r, "result"), "error");
        assert_string_equal(json_string_value(json_object_get(e, "code")), bad[i].code);
        assert_string_equal(json_string_value(json_object_get(e, "message")), bad[i].message);
        json_decref(r);
    }
    r = vgt_bus_call(&s, "notifications.get", json_pack("{s:s}", "id", idbuf));
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "result"), "title")),
                        "Dataset caído: Presupuesto 2024");
    json_decref(r);
    r = vgt_bus_call(&s, "notifications.list",
                     json_pack("{s:s, s:s}", "type", "error", "q", "presupuesto"));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "result"), "total")), 1);
    json_decref(r);

    /* a storm in one sweep is one digest */
    json_t *p = json_pack("{s:s, s:s}", "portal", "datos", "sweep_id", "sw1");
    assert_int_equal(vgt_bus_publish(&s, "monitor.sweep_started", p), 0);
    for (int i = 0; i < 12; i++) {
        char did[16];
        snprintf(did, sizeof did, "storm-%d", i);
        assert_int_equal(vgt_bus_publish(&s, "dataset.status_changed", down_event(did, did, "sw1")),
                         0);
    }
    p = json_pack("{s:s, s:s, s:b, s:i}", "portal", "datos", "sweep_id", "sw1", "complete", 1,
                  "changes", 12);
    assert_int_equal(vgt_bus_publish(&s, "monitor.sweep_finished", p), 0);
    ev = wait_created(&s, "Portal datos: 12 cambios en un barrido");
    assert_non_null(ev);
    json_decref(ev);
    list = list_all(&s);
    assert_null(find_by_title(list, "Dataset caído: storm-3"));
    json_decref(list);

    /* a portal whose catalogue stops answering */
    assert_int_equal(
        vgt_bus_publish(&s, "portal.status_changed",
                        json_pack("{s:s, s:s, s:s, s:s}", "portal", "datos", "previous", "up",
                                  "current", "down", "error", "connection refused")),
        0);
    ev = wait_created(&s, "Portal sin respuesta: datos");
    assert_non_null(ev);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(ev, "notification"), "type")), "error");
    json_decref(ev);

    /* clear hides everything from the list and says so */
    r = vgt_bus_call(&s, "notifications.clear", NULL);
    assert_int_equal(json_integer_value(json_object_get(r, "rc")), 0);
    assert_true(json_integer_value(json_object_get(json_object_get(r, "result"), "cleared")) >= 3);
    json_decref(r);
    list = list_all(&s);
    assert_int_equal(json_integer_value(json_object_get(list, "total")), 0);
    assert_int_equal(json_integer_value(json_object_get(list, "unread_count")), 0);
    json_decref(list);
    r = vgt_bus_call(&s, "notifications.stats", NULL);
    json_t *stats = json_object_get(r, "result");
    assert_int_equal(json_integer_value(json_object_get(stats, "total")), 0);
    assert_int_equal(json_integer_value(json_object_get(stats, "digests")), 1);
    assert_true(json_integer_value(json_object_get(stats, "history")) >= 3);
    json_decref(r);

    /* a clean stop (under ASan this also fails on leaks) */
    int status = vgt_server_signal(&s, SIGTERM);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    vgt_server_cleanup(&s);
}

static int two_buffered(void *arg)
{
    json_t *r = vgt_bus_call(arg, "notifications.stats", NULL);
    long long n = json_integer_value(json_object_get(json_object_get(r, "result"), "buffered"));
    json_decref(r);
    return n == 2;
}

static void test_kill9_loses_nothing(void **state)
{
    (void)state;
    vgt_server s = {0};
    assert_int_equal(vgt_server_start(&s, PLUGINS, NULL, NULL), 0);
    enum { N = 40 };
    long long max_id = 0;
    for (int i = 0; i < N; i++) {
        char title[32];
        snprintf(title, sizeof title, "kill9-%d", i);
        json_t *r = vgt_bus_call(&s, "notifications.create",
                                 json_pack("{s:s, s:s, s:s, s:{s:i}}", "type", "info", "title",
                                           title, "message", "m", "data", "i", i));
        assert_non_null(r);
        assert_int_equal(json_integer_value(json_object_get(r, "rc")), 0);
        long long id = atoll(json_string_value(
            json_object_get(json_object_get(json_object_get(r, "result"), "notification"), "id")));
        assert_true(id > max_id);
        max_id = id;
        json_decref(r);
    }
    /* and one through the bus path, killed as soon as its event was seen */
    assert_int_equal(vgt_bus_publish(&s, "dataset.status_changed", down_event("k", "Último", NULL)),
                     0);
    json_t *ev = wait_created(&s, "Dataset caído: Último");
    assert_non_null(ev);
    json_decref(ev);
    int status = vgt_server_signal(&s, SIGKILL);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    assert_int_equal(vgt_server_restart(&s), 0);
    json_t *list = list_all(&s);
    assert_non_null(list);
    for (int i = 0; i < N; i++) {
        char title[32];
        snprintf(title, sizeof title, "kill9-%d", i);
        json_t *n = find_by_title(list, title);
        if (!n)
            fail_msg("%s lost after kill -9", title);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(n, "data"), "i")), i);
    }
    assert_non_null(find_by_title(list, "Dataset caído: Último"));
    json_decref(list);
    /* ids keep increasing across the restart */
    json_t *r = vgt_bus_call(&s, "notifications.create",
                             json_pack("{s:s, s:s}", "type", "success", "title", "after restart"));
    long long id = atoll(json_string_value(
        json_object_get(json_object_get(json_object_get(r, "result"), "notification"), "id")));
    assert_true(id > max_id + 1);
    json_decref(r);

    /* a sweep cut short by a clean stop: its changes are announced anyway */
    assert_int_equal(vgt_bus_publish(&s, "monitor.sweep_started",
                                     json_pack("{s:s, s:i}", "portal", "datos", "sweep_id", 99)),
                     0);
    assert_int_equal(vgt_bus_publish(&s, "dataset.status_changed", down_event("c1", "cut-1", "99")),
                     0);
    assert_int_equal(vgt_bus_publish(&s, "dataset.status_changed", down_event("c2", "cut-2", "99")),
                     0);
    assert_true(vgt_wait_until(two_buffered, &s, 10000));
    status = vgt_server_signal(&s, SIGTERM);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(vgt_server_restart(&s), 0);
    list = list_all(&s);
    assert_non_null(find_by_title(list, "Dataset caído: cut-1"));
    assert_non_null(find_by_title(list, "Dataset caído: cut-2"));
    json_decref(list);
    vgt_server_cleanup(&s);
}

/* `vigia --check-config` runs the plugin's config reader: exit status and
 * output for a few bad [notifications] sections. */
static int check_config(const char *section, char **output)
{
    char ini[2048];
    snprintf(ini, sizeof ini, "[notifications]\n%s\n", section);
    return vgt_check_config("notifications", ini, output);
}

static void test_check_config(void **state)
{
    (void)state;
    char *out = NULL;
    assert_int_equal(check_config("limit = 200\nlanguage = en\nmin_repeat = 30s\n"
                                  "digest_threshold = 5\nnotify_modified = true\n"
                                  "history_days = 7\nhistory_max = 5000\nmax_data_bytes = 4096\n"
                                  "clear_deletes_history = false",
                                  &out),
                     0);
    free(out);
    assert_int_not_equal(check_config("language = fr", &out), 0);
    assert_non_null(strstr(out, "language: expected one of es, en, found 'fr'"));
    free(out);
    assert_int_not_equal(check_config("limit = 100\nhistory_max = 10", &out), 0);
    assert_non_null(
        strstr(out, "history_max: expected 0 (no limit) or at least limit (100), found '10'"));
    free(out);
    assert_int_not_equal(check_config("limit = 0", &out), 0);
    assert_non_null(strstr(out, "limit"));
    free(out);
}

/* An automatic notification whose data would be over max_data_bytes is
 * still created, with the essentials of its data. */
static void test_oversize_automatic_data(void **state)
{
    (void)state;
    vgt_server s = {0};
    assert_int_equal(vgt_server_start(&s, PLUGINS, NULL,
                                      "[notifications]\nmax_data_bytes = 1024\nlanguage = en\n"),
                     0);
    char *notes = malloc(3001);
    memset(notes, 'n', 3000);
    notes[3000] = 0;
    json_t *ev = down_event("big-1", "Huge record", NULL);
    json_object_set_new(json_object_get(ev, "dataset"), "notes", json_string(notes));
    free(notes);
    assert_int_equal(vgt_bus_publish(&s, "dataset.status_changed", ev), 0);
    json_t *created = wait_created(&s, "Dataset down: Huge record");
    assert_non_null(created);
    json_t *data = json_object_get(json_object_get(created, "notification"), "data");
    assert_true(json_is_true(json_object_get(data, "truncated")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(data, "dataset"), "id")),
                        "big-1");
    assert_string_equal(json_string_value(json_object_get(data, "reason")),
                        "resource “CSV” fails (not found, HTTP 404)");
    json_decref(created);
    int status = vgt_server_signal(&s, SIGTERM);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    vgt_server_cleanup(&s);
}

/* The payload's major version ("v", docs/events.md): one this plugin does not
 * know is ignored, with one warning for the lot; v 1 and no v are handled. */
static void test_unknown_payload_version_is_ignored(void **state)
{
    (void)state;
    vgt_server s = {0};
    assert_int_equal(vgt_server_start(&s, PLUGINS, NULL, "[notifications]\nlanguage = es\n"), 0);
    json_decref(wait_created(&s, "Sistema iniciado"));
    for (int i = 0; i < 2; i++) {
        json_t *p = down_event(i ? "v2-b" : "v2-a", i ? "Futuro B" : "Futuro A", NULL);
        json_object_set_new(p, "v", json_integer(2));
        assert_int_equal(vgt_bus_publish(&s, "dataset.status_changed", p), 0);
    }
    json_t *p = down_event("v1", "Presente", NULL);
    json_object_set_new(p, "v", json_integer(1));
    assert_int_equal(vgt_bus_publish(&s, "dataset.status_changed", p), 0);
    json_t *ev = wait_created(&s, "Dataset caído: Presente");
    assert_non_null(ev);
    json_decref(ev);
    json_t *list = list_all(&s);
    assert_null(find_by_title(list, "Dataset caído: Futuro A"));
    assert_null(find_by_title(list, "Dataset caído: Futuro B"));
    json_decref(list);
    char *log = vgt_log_read(&s);
    assert_non_null(log);
    const char *needle = "with payload version v=";
    const char *w = strstr(log, "ignoring dataset.status_changed with payload version v=2");
    assert_non_null(w);
    assert_null(strstr(strstr(w, needle) + strlen(needle), needle)); /* once */
    free(log);
    assert_int_equal(vgt_server_stop_clean(&s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_change_becomes_notification),
        cmocka_unit_test(test_kill9_loses_nothing),
        cmocka_unit_test(test_check_config),
        cmocka_unit_test(test_unknown_payload_version_is_ignored),
        cmocka_unit_test(test_oversize_automatic_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
