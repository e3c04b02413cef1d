/* Integration: the real vigia (monitor, notifications, busbridge) against the
 * CKAN fixture, for the answers of real portals that are not a broken
 * resource: rate limiting, HEAD-only failures, soft 404s (HTML for a CSV, a
 * login page), URLs typed with spaces, IDN hosts, a dataset losing all its
 * resources, slow once vs slow three times. A baseline sweep sees everything
 * up; then the fixture misbehaves for three sweeps with fail_threshold = 1
 * (so any false alarm shows at once) and the test asserts the exact
 * dataset.status_changed events, statuses and notifications. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt.h"

enum {
    D_429_ALWAYS,
    D_429_ONCE,
    D_503_RA,
    D_HEAD404,
    D_HEAD500,
    D_HTML,
    D_LOGIN,
    D_SPACES,
    D_IDN,
    D_EMPTY,
    D_SLOW_ONCE,
    D_SLOW_THRICE,
    D_404,
    NDS
};
static const char *const k_names[NDS] = {
    "429 always",    "429 once",         "503 + Retry-After", "HEAD 404", "HEAD 500",
    "HTML for data", "login page",       "URL with spaces",   "IDN host", "all resources removed",
    "slow once",     "slow three times", "real 404"};

static mt_fixture fx;
static vgt_server srv;
static char ids[NDS][40];
static long long since_baseline;

static json_t *get_dataset(const char *id)
{
    char params[300];
    snprintf(params, sizeof params, "{\"id\":\"%.200s\"}", id);
    int rc;
    json_t *d = mt_call(&srv, "datasets.get", params, &rc);
    assert_int_equal(rc, 0);
    return d;
}

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static json_t *res0(json_t *d) { return json_array_get(json_object_get(d, "resources"), 0); }

static void control(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void control(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_t *r = mt_controlv(&fx, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    assert_null(json_object_get(json_array_get(json_object_get(r, "results"), 0), "error"));
    json_decref(r);
}

static void behave(int i, const char *b, const char *extra)
{
    control("{\"op\":\"set_dataset\",\"id\":\"%s\",\"behaviour\":\"%s\"%s}", ids[i], b,
            extra ? extra : "");
}

/* Points dataset i's only resource at its own file: `pre` + host:port +
 * /files/<index>/ + `post`. */
/* The loopback address serving dataset i's only resource ("127.0.0.K"). */
static void resource_host(int i, char *out, size_t size)
{
    char op[256];
    snprintf(op, sizeof op, "{\"op\":\"modify_dataset\",\"id\":\"%s\"}", ids[i]);
    json_t *r = mt_control(&fx, op);
    json_t *res = json_object_get(json_array_get(json_object_get(r, "results"), 0), "resources");
    const char *url = str(json_array_get(res, 0), "url");
    const char *h = url ? strstr(url, "://") : NULL;
    snprintf(out, size, "%.*s", h ? (int)strcspn(h + 3, ":/") : 0, h ? h + 3 : "");
    json_decref(r);
}

static void override_url(int i, const char *pre, const char *host, const char *post)
{
    char op[256];
    snprintf(op, sizeof op, "{\"op\":\"modify_dataset\",\"id\":\"%s\"}", ids[i]);
    json_t *r = mt_control(&fx, op);
    json_t *res = json_object_get(json_array_get(json_object_get(r, "results"), 0), "resources");
    int idx = (int)json_integer_value(json_object_get(json_array_get(res, 0), "index"));
    json_decref(r);
    char url[256];
    snprintf(url, sizeof url, "%shttp://%s:%d/files/%d/%s", pre, host, fx.port, idx, post);
    json_t *o = json_pack("{s:s, s:s, s:{s:i, s:s}}", "op", "modify_dataset", "id", ids[i],
                          "resource_url", "position", 0, "url", url);
    char *s = json_dumps(o, 0);
    json_decref(o);
    control("%s", s);
    free(s);
}

static int setup(void **state)
{
    (void)state;
    /* one resource per dataset, each on its own loopback host, so pausing a
     * rate-limited host does not delay the others */
    const char *args[] = {"--datasets", "13",      "--orgs", "2",         "--resources-per-dataset",
                          "1",          "--hosts", "16",     "--slow-ms", "1500",
                          NULL};
    if (mt_fixture_start(&fx, args) < 0) {
        fprintf(stderr, "setup: the CKAN fixture did not start\n");
        return -1;
    }
    json_t *page = mt_fixture_get(&fx, "/api/3/action/package_search?rows=100&sort=id%20asc");
    json_t *results = json_object_get(json_object_get(page, "result"), "results");
    if (json_array_size(results) != NDS) {
        fprintf(stderr, "setup: the fixture lists %zu datasets, not %d\n", json_array_size(results),
                NDS);
        return -1;
    }
    for (int i = 0; i < NDS; i++)
        snprintf(ids[i], sizeof ids[i], "%s", str(json_array_get(results, (size_t)i), "id"));
    json_decref(page);
    /* as people type them: surrounding whitespace, spaces inside */
    override_url(D_SPACES, "  ", "127.0.0.1", "mi archivo de datos.csv \t");
    /* the two 429 resources share a host: a Retry-After pauses the whole
     * host, which the fixture checks (rate_limit_early) */
    char host429[32];
    resource_host(D_429_ALWAYS, host429, sizeof host429);
    override_url(D_429_ONCE, "", host429, "otro.csv");
    /* *.localhost resolves to loopback inside libcurl; the host is IDN */
    override_url(D_IDN, "",
                 "datos-\xc3\xb1"
                 "and\xc3\xba"
                 ".localhost",
                 "datos.csv");
    char *ini = mt_ini(&fx, "slow_ms = 700\n",
                       "fail_threshold = 1\nrecover_threshold = 1\ntimeout = 5s\n"
                       "per_host_interval = 50ms\n");
    char *full = NULL;
    if (asprintf(&full, "%s\n[notifications]\nlanguage = en\n", ini) < 0)
        return -1;
    free(ini);
    int rc = vgt_server_start(&srv, "monitor,notifications,busbridge", NULL, full);
    free(full);
    if (rc)
        fprintf(stderr, "setup: vigia did not start (%d)\n", rc);
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    mt_stop(&srv, &fx);
    return 0;
}

static void baseline_everything_up(void **state)
{
    (void)state;
    json_t *fin = mt_wait_complete(&srv, 0);
    assert_non_null(fin);
    json_decref(fin);
    since_baseline = mt_last_seq(&srv);
    int up = 0;
    for (int i = 0; i < NDS; i++) { /* the whole table first: it is the evidence */
        json_t *d = get_dataset(ids[i]);
        json_t *lc = json_object_get(res0(d), "last_check");
        fprintf(stderr, "# baseline %-22s dataset %-8s reason %-12s url %s\n", k_names[i],
                str(d, "status"), str(lc, "reason"), str(lc, "final_url"));
        up += strcmp(str(d, "status"), "up") == 0;
        json_decref(d);
    }
    assert_int_equal(up, NDS);
}

static void misbehaving_portal_raises_no_false_alarm(void **state)
{
    (void)state;
    behave(D_429_ALWAYS, "429", ",\"times\":-1,\"retry_after\":1");
    behave(D_429_ONCE, "429", ",\"times\":1,\"retry_after\":1");
    behave(D_503_RA, "503ra", ",\"times\":-1,\"retry_after\":1");
    behave(D_HEAD404, "head404", NULL);
    behave(D_HEAD500, "head500", NULL);
    behave(D_HTML, "html", NULL);
    behave(D_LOGIN, "login", NULL);
    behave(D_SLOW_ONCE, "slow", ",\"delay_ms\":1500");
    behave(D_SLOW_THRICE, "slow", ",\"delay_ms\":1500");
    behave(D_404, "404", NULL);
    control("{\"op\":\"modify_dataset\",\"id\":\"%s\",\"remove_resource\":true}", ids[D_EMPTY]);
    control("{\"op\":\"reset_stats\"}");

    json_t *fin = mt_sweep(&srv, NULL);
    assert_non_null(fin);
    json_decref(fin);
    /* the 429 that lifts after one answer is checked again after its
     * Retry-After, within the same sweep; nobody came back early */
    json_t *st = mt_fixture_get(&fx, "/_stats");
    long long served = json_integer_value(json_object_get(st, "rate_limited_served"));
    long long early = json_integer_value(json_object_get(st, "rate_limit_early"));
    fprintf(stderr, "# fixture: %lld rate-limited answers, %lld early retries\n", served, early);
    json_decref(st);
    json_t *d = get_dataset(ids[D_SLOW_ONCE]);
    char slow_once_status[16]; /* one slow answer is not slow */
    snprintf(slow_once_status, sizeof slow_once_status, "%s", str(d, "status"));
    fprintf(stderr, "# slow once, after its slow sweep: %s\n", slow_once_status);
    json_decref(d);
    behave(D_SLOW_ONCE, "up", NULL);
    for (int k = 0; k < 2; k++) {
        fin = mt_sweep(&srv, NULL);
        assert_non_null(fin);
        json_decref(fin);
    }

    struct {
        const char *dstatus, *rstatus, *reason, *method;
        long http;
    } want[NDS] = {
        [D_429_ALWAYS] = {"up", "up", "rate_limited", NULL, 429},
        [D_429_ONCE] = {"up", "up", "ok", NULL, 200},
        [D_503_RA] = {"up", "up", "rate_limited", NULL, 503},
        [D_HEAD404] = {"up", "up", "ok", "GET", 206},
        [D_HEAD500] = {"up", "up", "ok", "GET", 206},
        [D_HTML] = {"degraded", "degraded", "html_instead_of_data", "GET", 200},
        [D_LOGIN] = {"degraded", "restricted", "login_required", "HEAD", 200},
        [D_SPACES] = {"up", "up", "ok", "HEAD", 200},
        [D_IDN] = {"up", "up", "ok", "HEAD", 200},
        [D_EMPTY] = {"empty", NULL, NULL, NULL, 0},
        [D_SLOW_ONCE] = {"up", "up", "ok", "HEAD", 200},
        [D_SLOW_THRICE] = {"degraded", "up", "slow", "HEAD", 200},
        [D_404] = {"down", "down", "not_found", "GET", 404},
    };
    json_t *got[NDS];
    for (int i = 0; i < NDS; i++) {
        got[i] = get_dataset(ids[i]);
        json_t *r = res0(got[i]);
        json_t *lc = json_object_get(r, "last_check");
        fprintf(stderr, "# %-22s dataset %-8s resource %-10s reason %-20s %-4s http %lld%s%s\n",
                k_names[i], str(got[i], "status"), str(r, "status"), str(lc, "reason"),
                str(lc, "method"),
                (long long)json_integer_value(json_object_get(lc, "http_status")),
                str(lc, "error") ? " error: " : "", str(lc, "error") ? str(lc, "error") : "");
    }
    json_t *ev = mt_events(&srv, since_baseline, "dataset.status_changed");
    size_t i;
    json_t *e;
    json_array_foreach (ev, i, e) {
        json_t *p = json_object_get(e, "payload");
        fprintf(stderr, "# event %s -> %s for %s\n", str(p, "previous"), str(p, "current"),
                str(json_object_get(p, "dataset"), "id"));
    }
    /* 429 always and 503 always: 1 + 2 retries each; 429 once: 1; no request
     * reached a host before the Retry-After it gave */
    assert_int_equal(early, 0);
    assert_int_equal(served, 7);
    assert_string_equal(slow_once_status, "up");
    for (i = 0; i < NDS; i++) {
        d = got[i];
        json_t *r = res0(d);
        json_t *lc = json_object_get(r, "last_check");
        assert_string_equal(str(d, "status"), want[i].dstatus);
        if (!want[i].rstatus) {
            assert_int_equal(json_array_size(json_object_get(d, "resources")), 0);
        } else {
            assert_string_equal(str(r, "status"), want[i].rstatus);
            assert_string_equal(str(lc, "reason"), want[i].reason);
            if (want[i].method)
                assert_string_equal(str(lc, "method"), want[i].method);
            assert_int_equal(json_integer_value(json_object_get(lc, "http_status")), want[i].http);
        }
        json_decref(d);
    }
    d = get_dataset(ids[D_LOGIN]);
    assert_non_null(
        strstr(str(json_object_get(res0(d), "last_check"), "final_url"), "/user/login"));
    json_decref(d);

    /* exactly the true alarms, each announced once */
    assert_int_equal(json_array_size(ev), 5);
    const struct {
        int ds;
        const char *current;
    } alarms[] = {{D_HTML, "degraded"},
                  {D_LOGIN, "degraded"},
                  {D_EMPTY, "empty"},
                  {D_SLOW_THRICE, "degraded"},
                  {D_404, "down"}};
    for (size_t a = 0; a < sizeof alarms / sizeof *alarms; a++) {
        assert_int_equal(mt_count(ev, NULL, ids[alarms[a].ds]), 1);
        json_array_foreach (ev, i, e) {
            json_t *p = json_object_get(e, "payload");
            if (strcmp(str(json_object_get(p, "dataset"), "id"), ids[alarms[a].ds]) != 0)
                continue;
            assert_string_equal(str(p, "previous"), "up");
            assert_string_equal(str(p, "current"), alarms[a].current);
        }
    }
    json_decref(ev);

    /* the notifications plugin announces the empty dataset like any status */
    int rc;
    json_t *nl = mt_call(&srv, "notifications.list", "{\"limit\":100}", &rc);
    assert_int_equal(rc, 0);
    json_t *items = json_object_get(nl, "items");
    if (!items)
        items = json_object_get(nl, "notifications");
    int empty_seen = 0, page_seen = 0, login_seen = 0;
    json_array_foreach (items, i, e) {
        const char *title = str(e, "title"), *msg = str(e, "message");
        fprintf(stderr, "# notification: %s | %s\n", title ? title : "?", msg ? msg : "?");
        if (title && strstr(title, "Dataset empty"))
            empty_seen++;
        if (msg && strstr(msg, "serves a web page instead of the data"))
            page_seen++;
        if (msg && strstr(msg, "asks to log in"))
            login_seen++;
    }
    assert_int_equal(empty_seen, 1);
    assert_int_equal(page_seen, 1);
    assert_int_equal(login_seen, 1);
    json_decref(nl);
    /* the status filter knows empty */
    json_t *l = mt_call(&srv, "datasets.list", "{\"status\":\"empty\"}", &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(json_integer_value(json_object_get(l, "total")), 1);
    json_decref(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(baseline_everything_up),
        cmocka_unit_test(misbehaving_portal_raises_no_false_alarm),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
