/* Integration: three real vigia nodes (A, B, C) joined by the cluster plugin
 * through a real redis-server on a free loopback port with a temp dir,
 * started and killed by pid here. busbridge publishes and records events on
 * every node; only B loads notifications, so its methods are remote for A.
 * The steps run in order (each builds on the previous). Skipped, saying so,
 * when redis-server is not installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rds.h"
#include "vgt.h"
#include "vgt_bus.h"
#include "vgt_json.h"

static rds R;
static vgt_server A, B, C;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static long long counter(const vgt_server *s, const char *key)
{
    json_t *st = rds_node_status(s);
    long long n = json_is_integer(json_object_get(st, key))
                      ? (long long)json_integer_value(json_object_get(st, key))
                      : -1;
    json_decref(st);
    return n;
}

/* A sees B's notifications.* methods. */
static int a_sees_b(void *arg)
{
    (void)arg;
    return counter(&A, "remote_methods") > 0;
}

/* A has read both other nodes' announcements. */
static int a_sees_two_nodes(void *arg)
{
    (void)arg;
    json_t *st = rds_node_status(&A);
    int ok = json_array_size(json_object_get(st, "nodes")) == 2;
    json_decref(st);
    return ok;
}

static const char *ini(char *buf, size_t n, const char *node)
{
    snprintf(buf, n,
             "[cluster]\nredis_url = redis://:" RDS_PASSWORD
             "@127.0.0.1:%d\nnode_id = %s\nname = vgt%d\n"
             "events = test. notification.\nreconnect_max = 500ms\ncall_timeout = 3s\n",
             R.port, node, R.port);
    return buf;
}

static int setup(void **state)
{
    (void)state;
    int rc = rds_init(&R);
    if (rc != 0)
        return rc > 0 ? 0 : -1;
    if (rds_start(&R) != 0)
        return -1;
    char buf[512];
    if (vgt_server_start(&A, "busbridge,rest,cluster", NULL, ini(buf, sizeof buf, "a")) != 0 ||
        vgt_server_start(&B, "busbridge,notifications,cluster", NULL, ini(buf, sizeof buf, "b")) !=
            0 ||
        vgt_server_start(&C, "busbridge,cluster", NULL, ini(buf, sizeof buf, "c")) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int bad = 0;
    bad |= vgt_server_stop_clean(&A);
    bad |= vgt_server_stop_clean(&B);
    bad |= vgt_server_stop_clean(&C);
    rds_cleanup(&R);
    return bad ? -1 : 0;
}

#define NEED_REDIS()                                                                               \
    do {                                                                                           \
        if (!R.bin) {                                                                              \
            fprintf(stderr, RDS_SKIP_MESSAGE);                                                     \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static void publish_ticks(const vgt_server *s, const char *run, int from, int n)
{
    for (int i = from; i < from + n; i++)
        assert_int_equal(vgt_bus_publish(s, "test.tick",
                                         json_pack("{s:i, s:s, s:i}", "v", 1, "run", run, "i", i)),
                         0);
}

/* test.tick events of `run` recorded on s after `since`. */
static json_t *ticks(const vgt_server *s, long long since, const char *run)
{
    json_t *ev = vgt_bus_events(s, since, "test.tick");
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach (ev, i, e) {
        json_t *p = json_object_get(e, "payload");
        if (strcmp(json_string_value(json_object_get(p, "run")), run) == 0)
            json_array_append(out, p);
    }
    json_decref(ev);
    return out;
}

static json_t *wait_ticks(const vgt_server *s, long long since, const char *run, size_t n)
{
    for (int waited = 0;; waited += 50) {
        json_t *t = ticks(s, since, run);
        if (json_array_size(t) >= n || waited >= 10000) {
            sleep_ms(300); /* a duplicate would arrive by now */
            json_decref(t);
            return ticks(s, since, run);
        }
        json_decref(t);
        sleep_ms(50);
    }
}

/* Exactly the events from..from+n-1, in order, each marked with the origin. */
static void assert_ticks(json_t *t, int from, int n, const char *origin)
{
    assert_int_equal(json_array_size(t), (size_t)n);
    for (int i = 0; i < n; i++) {
        json_t *p = json_array_get(t, (size_t)i);
        assert_int_equal(json_integer_value(json_object_get(p, "i")), from + i);
        const char *o = json_string_value(json_object_get(p, "cluster_origin"));
        if (origin)
            assert_string_equal(o, origin);
        else
            assert_null(o);
    }
}

static void test_join(void **state)
{
    (void)state;
    NEED_REDIS();
    assert_true(vgt_wait_until(rds_node_connected, &A, 10000));
    assert_true(vgt_wait_until(rds_node_connected, &B, 10000));
    assert_true(vgt_wait_until(rds_node_connected, &C, 10000));
    assert_true(vgt_wait_until(a_sees_b, NULL, 10000));
    assert_true(vgt_wait_until(a_sees_two_nodes, NULL, 10000));
    json_t *h = vgt_get_json(&A, "/api/health");
    assert_string_equal(json_string_value(json_object_get(h, "status")), "ok");
    json_decref(h);
    /* cluster.status has exactly the fields docs/events.md lists. */
    static const char *const fields[] = {"node",         "connected",        "redis",
                                         "port",         "events_forwarded", "events_received",
                                         "events_lost",  "events_missed",    "calls_forwarded",
                                         "calls_served", "calls_failed",     "reconnects",
                                         "nodes",        "remote_methods",   "last_error"};
    json_t *st = rds_node_status(&A);
    assert_int_equal(json_object_size(st), sizeof fields / sizeof *fields);
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        assert_non_null(json_object_get(st, fields[i]));
    assert_string_equal(json_string_value(json_object_get(st, "node")), "a");
    json_t *nodes = json_object_get(st, "nodes");
    assert_int_equal(json_array_size(nodes), 2); /* b and c */
    json_decref(st);
}

static void test_events_once_in_order(void **state)
{
    (void)state;
    NEED_REDIS();
    long long sa = vgt_bus_last_seq(&A), sb = vgt_bus_last_seq(&B), sc = vgt_bus_last_seq(&C);
    publish_ticks(&A, "fromA", 0, 50);
    json_t *tb = wait_ticks(&B, sb, "fromA", 50);
    json_t *tc = wait_ticks(&C, sc, "fromA", 50);
    assert_ticks(tb, 0, 50, "a");
    assert_ticks(tc, 0, 50, "a");
    json_decref(tb);
    json_decref(tc);
    /* A saw its own 50 once: nothing came back. */
    json_t *ta = ticks(&A, sa, "fromA");
    assert_ticks(ta, 0, 50, NULL);
    json_decref(ta);

    /* The other way too, and C's republished copies are not forwarded again. */
    sa = vgt_bus_last_seq(&A);
    sb = vgt_bus_last_seq(&B);
    publish_ticks(&B, "fromB", 0, 5);
    json_t *t2 = wait_ticks(&A, sa, "fromB", 5);
    assert_ticks(t2, 0, 5, "b");
    json_decref(t2);
    json_t *tbb = ticks(&B, sb, "fromB");
    assert_ticks(tbb, 0, 5, NULL);
    json_decref(tbb);
    /* A topic outside events= stays local. */
    sb = vgt_bus_last_seq(&B);
    assert_int_equal(vgt_bus_publish(&A, "other.tick", json_pack("{s:i}", "v", 1)), 0);
    sleep_ms(500);
    json_t *none = vgt_bus_events(&B, sb, "other.tick");
    assert_int_equal(json_array_size(none), 0);
    json_decref(none);
}

static void test_remote_method(void **state)
{
    (void)state;
    NEED_REDIS();
    int rc = 0;
    json_t *r = vgt_bus_call_result(&A, "notifications.stats", NULL, &rc);
    assert_int_equal(rc, 0);
    assert_true(json_is_object(r));
    assert_null(json_object_get(r, "error"));
    json_decref(r);
    /* An error of the remote method comes back as it is. */
    r = vgt_bus_call_result(&A, "notifications.get", json_pack("{s:i}", "id", 999999), &rc);
    assert_int_equal(rc, -ENOENT);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
                        "NOT_FOUND");
    json_decref(r);
    /* Nobody provides it: UNAVAILABLE naming it. */
    r = vgt_bus_call_result(&C, "nothing.here", NULL, &rc);
    assert_int_equal(rc, -ENOSYS);
    json_t *err = json_object_get(r, "error");
    assert_string_equal(json_string_value(json_object_get(err, "code")), "UNAVAILABLE");
    assert_non_null(strstr(json_string_value(json_object_get(err, "message")), "'nothing.here'"));
    json_decref(r);
    assert_true(counter(&B, "calls_served") >= 2);
}

/* A real plugin's write through another node: notifications.create called
 * on A runs on B (the store's owner); B's notification.created reaches A and
 * C once, as the broker on every node would need it. */
static void test_store_owner_write(void **state)
{
    (void)state;
    NEED_REDIS();
    long long sa = vgt_bus_last_seq(&A), sb = vgt_bus_last_seq(&B), sc = vgt_bus_last_seq(&C);
    int rc = 0;
    json_t *r = vgt_bus_call_result(&A, "notifications.create",
                                    json_pack("{s:s, s:s}", "type", "info", "title", "via A"), &rc);
    assert_int_equal(rc, 0);
    const char *id = json_string_value(json_object_get(json_object_get(r, "notification"), "id"));
    assert_non_null(id);
    const vgt_server *nodes[] = {&A, &C, &B};
    long long since[] = {sa, sc, sb};
    for (int n = 0; n < 3; n++) {
        json_t *ev = NULL;
        for (int waited = 0; waited < 10000; waited += 50) {
            json_decref(ev);
            ev = vgt_bus_events(nodes[n], since[n], "notification.created");
            if (json_array_size(ev) >= 1)
                break;
            sleep_ms(50);
        }
        sleep_ms(300);
        json_decref(ev);
        ev = vgt_bus_events(nodes[n], since[n], "notification.created");
        assert_int_equal(json_array_size(ev), 1);
        json_t *p = json_object_get(json_array_get(ev, 0), "payload");
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(p, "notification"), "id")), id);
        const char *origin = json_string_value(json_object_get(p, "cluster_origin"));
        if (n < 2)
            assert_string_equal(origin, "b");
        else
            assert_null(origin); /* B's own, published there */
        json_decref(ev);
    }
    json_decref(r);
}

static int a_degraded(void *arg)
{
    (void)arg;
    json_t *h = vgt_get_json(&A, "/api/health");
    const char *s = json_string_value(json_object_get(h, "status"));
    int ok = s && strcmp(s, "degraded") == 0 &&
             json_object_get(json_object_get(h, "degraded"), "cluster") != NULL;
    json_decref(h);
    return ok;
}

static long long metric(const vgt_server *s, const char *line_prefix)
{
    vgt_response r = {0};
    vgt_get(s, "/metrics", &r);
    long long v = -1;
    char needle[200];
    snprintf(needle, sizeof needle, "\n%s", line_prefix); /* a sample line, not a HELP */
    const char *p = r.body ? strstr(r.body, needle) : NULL;
    if (p)
        v = strtoll(p + strlen(needle), NULL, 10);
    vgt_response_free(&r);
    return v;
}

static void test_redis_restart(void **state)
{
    (void)state;
    NEED_REDIS();
    long long lost0 = counter(&A, "events_lost");
    rds_kill(&R);
    assert_true(vgt_wait_until(rds_node_disconnected, &A, 10000));
    assert_true(vgt_wait_until(a_degraded, NULL, 5000));
    /* Nodes keep serving: local publishing and local methods work. */
    long long sa = vgt_bus_last_seq(&A);
    publish_ticks(&A, "down", 0, 7);
    json_t *t = wait_ticks(&A, sa, "down", 7);
    assert_ticks(t, 0, 7, NULL);
    json_decref(t);
    assert_int_equal(counter(&A, "events_lost"), lost0 + 7);
    assert_int_equal(metric(&A, "vigia_cluster_events_total{result=\"lost\"} "), lost0 + 7);
    assert_int_equal(metric(&A, "vigia_cluster_connected "), 0);
    int rc = 0;
    json_t *r = vgt_bus_call_result(&A, "notifications.stats", NULL, &rc);
    assert_int_equal(rc, -EAGAIN); /* B owns it but cannot be reached: at once, no timeout */
    json_t *err = json_object_get(r, "error");
    assert_string_equal(json_string_value(json_object_get(err, "code")), "UNAVAILABLE");
    assert_non_null(
        strstr(json_string_value(json_object_get(err, "message")), "'notifications.stats'"));
    json_decref(r);

    assert_int_equal(rds_start(&R), 0);
    assert_true(vgt_wait_until(rds_node_connected, &A, 15000));
    assert_true(vgt_wait_until(rds_node_connected, &B, 15000));
    assert_true(vgt_wait_until(rds_node_connected, &C, 15000));
    assert_true(vgt_wait_until(a_sees_b, NULL, 20000));
    json_t *h = vgt_get_json(&A, "/api/health");
    assert_string_equal(json_string_value(json_object_get(h, "status")), "ok");
    json_decref(h);
    assert_int_equal(metric(&A, "vigia_cluster_connected "), 1);
    assert_true(metric(&A, "vigia_cluster_reconnects_total ") >= 2);

    long long sb = vgt_bus_last_seq(&B);
    publish_ticks(&A, "after", 0, 10);
    json_t *tb = wait_ticks(&B, sb, "after", 10);
    assert_ticks(tb, 0, 10, "a");
    json_decref(tb);
    /* B noticed the gap of A's 7 lost events in A's sequence. */
    assert_true(counter(&B, "events_missed") >= 7);
    r = vgt_bus_call_result(&A, "notifications.stats", NULL, &rc);
    assert_int_equal(rc, 0);
    json_decref(r);
}

/* The replay log (connection state recovery across nodes): A's own shared
 * events come back to A as cluster.event_logged with the offset every node
 * gives them (B's copies carry the same cluster_offset, in order); with
 * replay_max = 0 nothing comes back and copies carry no offset. */
static void test_replay_offsets(void **state)
{
    (void)state;
    NEED_REDIS();
    long long sa = vgt_bus_last_seq(&A), sb = vgt_bus_last_seq(&B);
    publish_ticks(&A, "logged", 0, 10);
    json_t *tb = wait_ticks(&B, sb, "logged", 10);
    assert_ticks(tb, 0, 10, "a");
    json_t *back = NULL;
    for (int i = 0; i < 200; i++) {
        json_decref(back);
        back = vgt_bus_events(&A, sa, "cluster.event_logged");
        if (json_array_size(back) >= 10)
            break;
        sleep_ms(50);
    }
    assert_int_equal(json_array_size(back), 10);
    long long prev = 0;
    for (size_t i = 0; i < 10; i++) {
        json_t *p = json_object_get(json_array_get(back, i), "payload");
        assert_string_equal(json_string_value(json_object_get(p, "topic")), "test.tick");
        json_t *inner = json_object_get(p, "payload");
        assert_int_equal(json_integer_value(json_object_get(inner, "i")), (json_int_t)i);
        long long off = json_integer_value(json_object_get(p, "offset"));
        assert_true(off > prev);
        prev = off;
        json_t *copy = json_array_get(tb, i);
        assert_int_equal(json_integer_value(json_object_get(copy, "cluster_offset")), off);
    }
    json_decref(back);
    json_decref(tb);

    vgt_server D = {0};
    char buf[512], conf[600];
    snprintf(conf, sizeof conf, "%sreplay_max = 0\n", ini(buf, sizeof buf, "d"));
    assert_int_equal(vgt_server_start(&D, "busbridge,cluster", NULL, conf), 0);
    assert_true(vgt_wait_until(rds_node_connected, &D, 10000));
    long long sd = vgt_bus_last_seq(&D);
    sb = vgt_bus_last_seq(&B);
    publish_ticks(&D, "unlogged", 0, 3);
    json_t *t = wait_ticks(&B, sb, "unlogged", 3);
    assert_ticks(t, 0, 3, "d");
    for (size_t i = 0; i < 3; i++)
        assert_null(json_object_get(json_array_get(t, i), "cluster_offset"));
    json_decref(t);
    json_t *none = vgt_bus_events(&D, sd, "cluster.event_logged");
    assert_int_equal(json_array_size(none), 0);
    json_decref(none);
    assert_int_equal(vgt_server_stop_clean(&D), 0);
}

/* A wrong password: the node serves, says why it is not in the cluster. */
static void test_wrong_password(void **state)
{
    (void)state;
    NEED_REDIS();
    vgt_server D = {0};
    char buf[512];
    snprintf(buf, sizeof buf,
             "[cluster]\nredis_url = redis://:wrong@127.0.0.1:%d\nnode_id = d\nname = vgt%d\n",
             R.port, R.port);
    assert_int_equal(vgt_server_start(&D, "busbridge,cluster", NULL, buf), 0);
    json_t *st = NULL;
    for (int i = 0; i < 100; i++) {
        json_decref(st);
        st = rds_node_status(&D);
        if (strstr(json_string_value(json_object_get(st, "last_error")), "AUTH"))
            break;
        sleep_ms(50);
    }
    assert_non_null(strstr(json_string_value(json_object_get(st, "last_error")), "AUTH"));
    assert_true(json_is_false(json_object_get(st, "connected")));
    json_decref(st);
    json_t *h = vgt_get_json(&D, "/api/health");
    assert_string_equal(json_string_value(json_object_get(h, "status")), "degraded");
    json_decref(h);
    assert_int_equal(vgt_server_stop_clean(&D), 0);
}

/* Configuration errors name the key. */
static void test_config_errors(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"redis_url = rediss://127.0.0.1:6380\ntls_ca_file = /nonexistent/ca.pem\n", "tls_ca_file"},
        {"redis_url = rediss://127.0.0.1:6380\ntls_cert_file = /x.pem\n", "tls_key_file"},
        {"redis_url = http://127.0.0.1\n", "redis_url"},
        {"redis_url = redis://127.0.0.1:99999\n", "port"},
        {"redis_url = redis://127.0.0.1\nnode_id = a b\n", "node_id"},
        {"node_id = a\n", "redis_url"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char ini[256];
        snprintf(ini, sizeof ini, "[cluster]\n%s", cases[i][0]);
        char *out = NULL;
        int rc = vgt_check_config("cluster", ini, &out);
        if (rc == 0 || !out || !strstr(out, cases[i][1]))
            fail_msg("case %zu: rc %d, output: %s", i, rc, out ? out : "(none)");
        free(out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_join),
        cmocka_unit_test(test_events_once_in_order),
        cmocka_unit_test(test_replay_offsets),
        cmocka_unit_test(test_remote_method),
        cmocka_unit_test(test_store_owner_write),
        cmocka_unit_test(test_redis_restart),
        cmocka_unit_test(test_wrong_password),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
