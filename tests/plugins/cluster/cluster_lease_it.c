/* Integration: two real vigia nodes, both running the monitor on the same
 * CKAN fixture portal (sweeping every 300 ms), joined by the cluster plugin
 * through a real redis-server. Exactly one node sweeps the portal; kill -9
 * that node and the other takes the lease within lease_ttl + one interval;
 * then a third node joins, the holder is paused (SIGSTOP) in the middle of a
 * sweep past the lease, the third takes it, and the paused one, resumed, has
 * its sweep dropped by the fence and sweeps no more. No two nodes'
 * written sweeps overlap in time (sweep_started's started_at +
 * sweep_finished's duration_ms; a sweep dropped by the fence wrote nothing).
 * And from the portal's side: its request log (each node's monitor has its
 * own user_agent) has one node's requests, then only the other's after the
 * kill, never the two interleaved; the paused node asks nothing once
 * resumed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mt.h"
#include "rds.h"

#define NNODES 3
#define LEASE_TTL_MS 5000

static rds R;
static mt_fixture fx;
static vgt_server N[NNODES];
static const char *const ids[NNODES] = {"p", "q", "s"};
static bool dead[NNODES];
static char tmpdir[] = "/tmp/vgtlease-XXXXXX", reqlog[64];

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int start_node(int i)
{
    char *ini = NULL;
    if (asprintf(&ini,
                 "[monitor]\napi_delay = 0\ntimeout = 2s\nconnect_timeout = 1s\nper_host = 8\n"
                 "per_host_interval = 0\nuser_agent = vigia-test-node-%s\n\n"
                 "[monitor:fx]\nbase_url = %s\ninterval = 300ms\nrows = 5\n\n"
                 "[cluster]\nredis_url = redis://:" RDS_PASSWORD "@127.0.0.1:%d\nnode_id = %s\n"
                 "name = vgtl%d\nlease_ttl = %dms\nreconnect_max = 500ms\n"
                 "events = monitor. dataset.\n",
                 ids[i], fx.base, R.port, ids[i], R.port, LEASE_TTL_MS) < 0)
        return -1;
    int rc = vgt_server_start(&N[i], "busbridge,cluster,monitor", NULL, ini);
    free(ini);
    return rc;
}

static int setup(void **state)
{
    (void)state;
    int rc = rds_init(&R);
    if (rc != 0)
        return rc > 0 ? 0 : -1;
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(reqlog, sizeof reqlog, "%s/requests.log", tmpdir);
    const char *args[] = {"--datasets",    "4",    "--orgs", "1", "--resources-per-dataset", "1",
                          "--request-log", reqlog, NULL};
    if (rds_start(&R) != 0 || mt_fixture_start(&fx, args) < 0)
        return -1;
    for (int i = 0; i < 2; i++)
        if (start_node(i) != 0)
            return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int bad = 0;
    for (int i = 0; i < NNODES; i++) {
        if (dead[i])
            vgt_server_cleanup(&N[i]);
        else
            bad |= vgt_server_stop_clean(&N[i]);
    }
    mt_fixture_stop(&fx);
    rds_cleanup(&R);
    if (reqlog[0]) {
        unlink(reqlog);
        rmdir(tmpdir);
    }
    return bad ? -1 : 0;
}

/* This node's own events of `topic` (not those republished from other nodes). */
static json_t *own_events(int i, const char *topic)
{
    json_t *ev = mt_events(&N[i], 0, topic);
    json_t *own = json_array();
    size_t k;
    json_t *e;
    json_array_foreach (ev, k, e)
        if (!json_object_get(json_object_get(e, "payload"), "cluster_origin"))
            json_array_append(own, e);
    json_decref(ev);
    return own;
}

/* Events of `topic` node i received from node `from` through the cluster. */
static size_t from_node(int i, const char *topic, int from)
{
    json_t *ev = mt_events(&N[i], 0, topic);
    size_t n = 0, k;
    json_t *e;
    json_array_foreach (ev, k, e) {
        const char *o =
            json_string_value(json_object_get(json_object_get(e, "payload"), "cluster_origin"));
        n += o && strcmp(o, ids[from]) == 0;
    }
    json_decref(ev);
    return n;
}

static size_t sweeps(int i)
{
    if (dead[i])
        return 0;
    json_t *ev = own_events(i, "monitor.sweep_started");
    size_t n = json_array_size(ev);
    json_decref(ev);
    return n;
}

/* Sweep intervals [start, end] in wall ms of node i, appended to out. */
typedef struct span {
    int node;
    long long start, end;
} span;

static long long iso_ms(const char *s)
{
    struct tm tm = {0};
    int ms = 0;
    if (!s || sscanf(s, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                     &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (long long)timegm(&tm) * 1000 + ms;
}

static size_t spans(int i, span *out, size_t n, size_t max)
{
    json_t *started = own_events(i, "monitor.sweep_started");
    json_t *finished = own_events(i, "monitor.sweep_finished");
    size_t k, j;
    json_t *e, *f;
    json_array_foreach (started, k, e) {
        json_t *p = json_object_get(e, "payload");
        long long id = json_integer_value(json_object_get(p, "sweep_id"));
        long long t0 = iso_ms(json_string_value(json_object_get(p, "started_at")));
        long long end = -1;
        json_array_foreach (finished, j, f) {
            json_t *q = json_object_get(f, "payload");
            if (json_integer_value(json_object_get(q, "sweep_id")) == id)
                end = t0 + json_integer_value(json_object_get(q, "duration_ms"));
        }
        bool fenced = false;
        json_array_foreach (finished, j, f) {
            json_t *q = json_object_get(f, "payload");
            const char *reason = json_string_value(json_object_get(q, "reason"));
            if (json_integer_value(json_object_get(q, "sweep_id")) == id && reason &&
                strcmp(reason, "cancelled") == 0)
                fenced = true; /* dropped by the fence: it wrote nothing */
        }
        if (end < 0)
            end = t0 + 60000; /* still running (or its node died in it): open-ended */
        if (!fenced && n < max)
            out[n++] = (span){i, t0, end};
    }
    json_decref(started);
    json_decref(finished);
    return n;
}

static void assert_no_overlap(void)
{
    static span sp[4096];
    size_t n = 0;
    for (int i = 0; i < NNODES; i++)
        if (!dead[i] && N[i].pid)
            n = spans(i, sp, n, 4096);
    for (size_t a = 0; a < n; a++)
        for (size_t b = 0; b < n; b++)
            if (sp[a].node != sp[b].node && sp[a].start <= sp[b].start && sp[b].start < sp[a].end)
                fail_msg("node %s swept [%lld, %lld] while node %s started at %lld",
                         ids[sp[a].node], sp[a].start, sp[a].end, ids[sp[b].node], sp[b].start);
}

/* The portal's request log: the node of each request (by its user agent)
 * in arrival order, and their arrival times (unix ms). */
static size_t portal_requests(int *node, long long *at, size_t max)
{
    FILE *f = fopen(reqlog, "r");
    char line[1024];
    size_t n = 0;
    while (f && n < max && fgets(line, sizeof line, f)) {
        const char *ua = strstr(line, " vigia-test-node-");
        if (!ua)
            continue;
        ua += strlen(" vigia-test-node-");
        for (int i = 0; i < NNODES; i++)
            if (strncmp(ua, ids[i], strlen(ids[i])) == 0 && ua[strlen(ids[i])] == '\n') {
                node[n] = i;
                at[n++] = atoll(line);
            }
    }
    if (f)
        fclose(f);
    return n;
}

/* The node among `cands` that sweeps, once it has swept 3 times; -1 if none. */
static int holder(void)
{
    for (int waited = 0; waited < 20000; waited += 100) {
        for (int i = 0; i < NNODES; i++)
            if (!dead[i] && N[i].pid && sweeps(i) >= 3)
                return i;
        sleep_ms(100);
    }
    return -1;
}

static void test_one_sweeper(void **state)
{
    (void)state;
    if (!R.bin) {
        fprintf(stderr, RDS_SKIP_MESSAGE);
        skip();
    }
    int h = holder();
    assert_true(h >= 0);
    int other = 1 - h;
    size_t before = sweeps(other);
    sleep_ms(1500); /* the holder sweeps about 5 more times meanwhile */
    assert_int_equal(sweeps(other), before);
    assert_int_equal(before, 0);
    /* The sweeping node's events reach the other one through the cluster. */
    assert_true(from_node(other, "monitor.sweep_finished", h) >= 3);
    /* ... a dataset event too: a title changed on the portal. */
    json_t *page = mt_fixture_get(&fx, "/api/3/action/package_search?rows=1");
    const char *id = json_string_value(json_object_get(
        json_array_get(json_object_get(json_object_get(page, "result"), "results"), 0), "id"));
    assert_non_null(id);
    char op[256];
    snprintf(op, sizeof op, "{\"op\":\"modify_dataset\",\"id\":\"%s\",\"title\":\"renamed\"}", id);
    json_decref(page);
    json_t *done = mt_control(&fx, op);
    assert_non_null(done);
    json_decref(done);
    for (int waited = 0; from_node(other, "dataset.modified", h) == 0; waited += 100) {
        if (waited > 10000)
            fail_msg("node %s's dataset.modified did not reach node %s", ids[h], ids[other]);
        sleep_ms(100);
    }
    assert_int_equal(from_node(other, "dataset.modified", h), 1);
    assert_no_overlap();

    /* kill -9 the holder: the other takes over within the lease + one interval. */
    assert_true(WIFSIGNALED(vgt_server_signal(&N[h], SIGKILL)));
    dead[h] = true;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (sweeps(other) == 0) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long long ms = (t1.tv_sec - t0.tv_sec) * 1000LL + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        if (ms > LEASE_TTL_MS + 300 + 8000) /* + interval + slack for a loaded machine */
            fail_msg("no takeover after %lld ms", ms);
        sleep_ms(50);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "takeover after %lld ms (lease_ttl %d ms)\n",
            (t1.tv_sec - t0.tv_sec) * 1000LL + (t1.tv_nsec - t0.tv_nsec) / 1000000, LEASE_TTL_MS);
    /* The portal saw the holder's requests, then the other's: never both. */
    sleep_ms(500);
    static int node[20000];
    static long long at[20000];
    size_t nreq = portal_requests(node, at, 20000), switches = 0;
    for (size_t i = 1; i < nreq; i++)
        if (node[i] != node[i - 1]) {
            switches++;
            fprintf(stderr, "portal: node %s's last request at %lld, node %s's first at %lld\n",
                    ids[node[i - 1]], at[i - 1], ids[node[i]], at[i]);
        }
    assert_true(nreq > 0);
    assert_int_equal(node[0], h);
    assert_int_equal(node[nreq - 1], other);
    assert_int_equal(switches, 1);

    /* Pause the new holder in the middle of a sweep (its resources answer
     * after 2 s) past the lease: a third node takes it; resumed, the paused
     * one's sweep reaches its commit, the fence refuses it (nothing written),
     * and it sweeps no more. */
    assert_int_equal(start_node(2), 0);
    sleep_ms(1000);
    assert_int_equal(sweeps(2), 0); /* the lease is held */
    json_t *ok = mt_control(&fx, "{\"op\":\"set_all\",\"behaviour\":\"slow\","
                                 "\"delay_ms\":2000}");
    assert_non_null(ok);
    json_decref(ok);
    size_t n0 = sweeps(other);
    for (int waited = 0; sweeps(other) == n0; waited += 20) {
        if (waited > 10000)
            fail_msg("node %s did not start another sweep", ids[other]);
        sleep_ms(20);
    }
    sleep_ms(300); /* listed, now waiting for its slow resources */
    assert_int_equal(kill(N[other].pid, SIGSTOP), 0);
    for (int waited = 0; sweeps(2) == 0; waited += 100) {
        if (waited > LEASE_TTL_MS + 10000)
            fail_msg("node s never took the lease of paused node %s", ids[other]);
        sleep_ms(100);
    }
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    long long resumed_at = (long long)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
    assert_int_equal(kill(N[other].pid, SIGCONT), 0);
    json_t *fenced = NULL;
    for (int waited = 0; !fenced && waited < 10000; waited += 100) {
        json_t *fin = own_events(other, "monitor.sweep_finished");
        size_t i;
        json_t *e;
        json_array_foreach (fin, i, e) {
            const char *err =
                json_string_value(json_object_get(json_object_get(e, "payload"), "error"));
            if (err && strstr(err, "lease of portal fx lost"))
                fenced = json_incref(json_object_get(e, "payload"));
        }
        json_decref(fin);
        if (!fenced)
            sleep_ms(100);
    }
    if (!fenced)
        fail_msg("node %s's in-flight sweep was not dropped by the fence", ids[other]);
    assert_string_equal(json_string_value(json_object_get(fenced, "reason")), "cancelled");
    json_decref(fenced);
    size_t resumed = sweeps(other);
    sleep_ms(1500);
    assert_int_equal(sweeps(other), resumed);
    assert_no_overlap();
    /* resumed, the fenced node asked the portal nothing more */
    nreq = portal_requests(node, at, 20000);
    for (size_t i = 0; i < nreq; i++)
        if (node[i] == other && at[i] >= resumed_at)
            fail_msg("node %s asked the portal at %lld, after it was resumed at %lld", ids[other],
                     at[i], resumed_at);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_one_sweeper)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
