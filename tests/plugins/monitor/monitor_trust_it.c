/* Integration: the monitor announces no false removal and no false portal
 * outage against real-portal misbehaviours the fixture replays: edits between
 * two pages, an empty page before count, a partial index, a mass removal,
 * transient 502 / 429 / HTML-200 answers, showcases and harvest sources in
 * package_search, an /api/action-only portal, oversize pages. Each case
 * asserts the exact events of the sweep. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mt.h"

#define NDS 23
static mt_fixture fx;
static vgt_server srv;
static char ids[NDS][40]; /* fixture datasets in id order */

static void fixture_up(void)
{
    memset(&srv, 0, sizeof srv);
    char n[16];
    snprintf(n, sizeof n, "%d", NDS);
    const char *args[] = {"--datasets", n, "--resources-per-dataset", "1", NULL};
    assert_int_equal(mt_fixture_start(&fx, args), 0);
    json_t *page = mt_fixture_get(&fx, "/api/3/action/package_search?rows=100");
    json_t *results = json_object_get(json_object_get(page, "result"), "results");
    assert_int_equal(json_array_size(results), NDS);
    for (size_t i = 0; i < NDS; i++)
        snprintf(ids[i], sizeof ids[i], "%s",
                 json_string_value(json_object_get(json_array_get(results, i), "id")));
    json_decref(page);
}

static void server_up(const char *portal_extra)
{
    char *ini = mt_ini(&fx, NULL, portal_extra);
    assert_int_equal(vgt_server_start(&srv, "monitor,busbridge", NULL, ini), 0);
    free(ini);
    json_t *fin = mt_wait_sweep(&srv, 0, 60000); /* the silent baseline */
    assert_non_null(fin);
    assert_true(json_is_true(json_object_get(fin, "complete")));
    json_decref(fin);
}

static void start(const char *portal_extra)
{
    fixture_up();
    server_up(portal_extra);
}

static const char *str_or_empty(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static void stop(void)
{
    /* idempotent: also the teardown of a test that failed half-way */
    vgt_server_cleanup(&srv);
    mt_fixture_stop(&fx);
}

/* The end of a passing test: the server must exit cleanly (ASan's leak
 * check included in sanitizer builds). */
static void finish(void)
{
    assert_int_equal(vgt_server_stop_clean(&srv), 0);
    stop();
}

static void control(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_t *r = mt_controlv(&fx, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    json_decref(r);
}

static long long total_datasets(void)
{
    int rc;
    json_t *l = mt_call(&srv, "datasets.list", "{\"limit\":1}", &rc);
    assert_int_equal(rc, 0);
    long long t = json_integer_value(json_object_get(l, "total"));
    json_decref(l);
    return t;
}

static const char *portal_state(json_t **keep)
{
    *keep = mt_call(&srv, "monitor.status", NULL, NULL);
    json_t *p0 = json_array_get(json_object_get(*keep, "portals"), 0);
    return json_string_value(json_object_get(p0, "state"));
}

/* Runs one sweep; returns its events (all topics) and sets *fin. */
static json_t *sweep(json_t **fin)
{
    long long since;
    *fin = mt_sweep(&srv, &since);
    assert_non_null(*fin);
    return mt_events(&srv, since, NULL);
}

/* Events a subscriber would act on (not the monitor.* sweep bookkeeping). */
static size_t news(const json_t *ev)
{
    size_t n = 0, i;
    json_t *e;
    json_array_foreach (ev, i, e)
        n += strncmp(json_string_value(json_object_get(e, "topic")), "monitor.", 8) != 0;
    return n;
}

static void print_removed(const char *what, const json_t *ev)
{
    size_t i;
    json_t *e;
    fprintf(stderr, "# %s: %zu removed", what, mt_count(ev, "dataset.removed", NULL));
    json_array_foreach (ev, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "topic")), "dataset.removed") == 0)
            fprintf(stderr, " %s",
                    json_string_value(json_object_get(
                        json_object_get(json_object_get(e, "payload"), "dataset"), "id")));
    }
    fprintf(stderr, "\n");
}

/* Deleting a dataset on page 1 while the monitor reads page 2 shifts the
 * offsets: one dataset is never seen. The count moves, so the listing is
 * incomplete; when an insertion keeps the count, package_show keeps it. */
static void edits_between_pages(void **state)
{
    (void)state;
    start("remove_after = 1\n"); /* the strictest setting: confirmation alone protects */
    /* deletion between pages 1 and 2: ids[5] is skipped, ids[2] really goes */
    control("{\"op\":\"between_pages\",\"after\":1,\"ops\":[{\"op\":\"remove_dataset\","
            "\"id\":\"%s\"}]}",
            ids[2]);
    json_t *fin;
    json_t *ev = sweep(&fin);
    print_removed("delete between pages", ev);
    assert_int_equal(mt_count(ev, "dataset.removed", NULL), 0);
    assert_int_equal(mt_count(ev, "portal.status_changed", NULL), 0);
    assert_false(json_is_true(json_object_get(fin, "complete")));
    assert_string_equal(json_string_value(json_object_get(fin, "reason")), "listing_incomplete");
    json_decref(ev);
    json_decref(fin);
    /* the next, complete listing removes the real one only */
    ev = sweep(&fin);
    assert_true(json_is_true(json_object_get(fin, "complete")));
    assert_int_equal(mt_count(ev, "dataset.removed", NULL), 1);
    assert_int_equal(mt_count(ev, "dataset.removed", ids[2]), 1);
    json_decref(ev);
    json_decref(fin);

    /* deletion + insertion between pages: the count holds, ids[6] is skipped
     * (ids[3] was already read on page 1); package_show says ids[6] is there */
    control(
        "{\"op\":\"between_pages\",\"after\":1,\"ops\":[{\"op\":\"remove_dataset\","
        "\"id\":\"%s\"},{\"op\":\"add_dataset\",\"id\":\"ffffffff-0000-4000-8000-000000000001\","
        "\"resources\":1}]}",
        ids[3]);
    ev = sweep(&fin);
    print_removed("delete+insert between pages", ev);
    assert_true(json_is_true(json_object_get(fin, "complete")));
    assert_int_equal(mt_count(ev, "dataset.removed", NULL), 0);
    assert_int_equal(mt_count(ev, "dataset.added", NULL), 1);
    assert_int_equal(news(ev), 1);
    json_decref(ev);
    json_decref(fin);
    ev = sweep(&fin);
    assert_int_equal(mt_count(ev, "dataset.removed", NULL), 1);
    assert_int_equal(mt_count(ev, "dataset.removed", ids[3]), 1); /* package_show: 404 */
    assert_int_equal(news(ev), 1);
    json_decref(ev);
    json_decref(fin);
    assert_int_equal(total_datasets(), NDS - 1);

    /* a private dataset: package_show answers 403, which proves nothing */
    control("{\"op\":\"set_private\",\"id\":\"%s\",\"private\":true}", ids[10]);
    for (int k = 0; k < 2; k++) {
        ev = sweep(&fin);
        assert_true(json_is_true(json_object_get(fin, "complete")));
        assert_int_equal(mt_count(ev, "dataset.removed", NULL), 0);
        json_decref(ev);
        json_decref(fin);
    }
    finish();
}

/* An empty page before count, and a half-rebuilt index whose count and pages
 * shrink for one sweep: nothing is removed, nothing is announced. */
static void empty_page_and_partial_index(void **state)
{
    (void)state;
    start(NULL);
    control("{\"op\":\"api_fail\",\"mode\":\"empty_page\",\"after\":1,\"count\":1}");
    json_t *fin;
    json_t *ev = sweep(&fin);
    print_removed("empty page before count", ev);
    assert_false(json_is_true(json_object_get(fin, "complete")));
    assert_string_equal(json_string_value(json_object_get(fin, "reason")), "listing_incomplete");
    assert_int_equal(news(ev), 0); /* sweep_finished only */
    json_decref(ev);
    json_decref(fin);
    assert_int_equal(total_datasets(), NDS);

    control("{\"op\":\"partial_index\",\"hide\":8}");
    ev = sweep(&fin);
    print_removed("partial index, sweep 1", ev);
    assert_true(json_is_true(json_object_get(fin, "complete")));
    assert_int_equal(news(ev), 0);
    json_decref(ev);
    json_decref(fin);
    control("{\"op\":\"partial_index\",\"hide\":0}");
    ev = sweep(&fin);
    assert_int_equal(news(ev), 0);
    json_decref(ev);
    json_decref(fin);
    assert_int_equal(total_datasets(), NDS);
    finish();
}

/* Eight datasets (35 %) really go: one warning, held one sweep, then removed
 * once; a removed dataset keeps its history and comes back as itself. */
static void mass_removal_held_then_confirmed(void **state)
{
    (void)state;
    start(NULL);
    char params[128];
    snprintf(params, sizeof params, "{\"id\":\"%s\"}", ids[0]);
    int rc;
    json_t *before = mt_call(&srv, "datasets.get", params, &rc);
    assert_int_equal(rc, 0);
    char first_seen[64];
    snprintf(first_seen, sizeof first_seen, "%s", str_or_empty(before, "first_seen"));
    json_decref(before);
    for (int i = 0; i < 8; i++)
        control("{\"op\":\"remove_dataset\",\"id\":\"%s\"}", ids[i]);
    json_t *fin;
    json_t *ev = sweep(&fin); /* missing from one listing: not yet */
    assert_int_equal(news(ev), 0);
    json_decref(ev);
    json_decref(fin);
    ev = sweep(&fin); /* two listings, but 8 of 23 at once: held, one warning */
    print_removed("mass removal, sweep 2", ev);
    assert_int_equal(mt_count(ev, "dataset.removed", NULL), 0);
    assert_int_equal(mt_count(ev, "portal.warning_raised", NULL), 1);
    json_t *w = mt_events(&srv, 0, "portal.warning_raised");
    json_t *wp = json_object_get(json_array_get(w, 0), "payload");
    assert_string_equal(json_string_value(json_object_get(wp, "reason")), "mass_removal_held");
    assert_int_equal(json_integer_value(json_object_get(wp, "candidates")), 8);
    json_decref(w);
    json_decref(ev);
    json_decref(fin);
    ev = sweep(&fin); /* confirmed by the next sweep */
    assert_int_equal(mt_count(ev, "dataset.removed", NULL), 8);
    assert_int_equal(mt_count(ev, "portal.warning_raised", NULL), 0);
    json_decref(ev);
    json_decref(fin);
    assert_int_equal(total_datasets(), NDS - 8);
    ev = sweep(&fin);
    assert_int_equal(mt_count(ev, "dataset.removed", NULL), 0);
    json_decref(ev);
    json_decref(fin);
    /* it comes back: the same dataset, first_seen and history kept */
    control("{\"op\":\"add_dataset\",\"id\":\"%s\",\"resources\":1}", ids[0]);
    ev = sweep(&fin);
    assert_int_equal(mt_count(ev, "dataset.added", ids[0]), 1);
    json_decref(ev);
    json_decref(fin);
    json_t *after = mt_call(&srv, "datasets.get", params, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(str_or_empty(after, "first_seen"), first_seen);
    json_decref(after);
    finish();
}

/* 502 once, 429 with Retry-After, a 200 HTML maintenance page: retried, the
 * sweep completes, nothing is announced. A real outage is announced only
 * after fail_threshold failed sweeps, and the next try comes sooner. */
static void transient_errors_are_retried(void **state)
{
    (void)state;
    start("api_retry_delay = 50ms\nfailure_retry = 1s\n");
    static const char *const faults[] = {
        "{\"op\":\"api_fail\",\"mode\":\"502\",\"after\":1,\"count\":1}",
        "{\"op\":\"api_fail\",\"mode\":\"429\",\"after\":2,\"count\":1}",
        "{\"op\":\"api_fail\",\"mode\":\"html\",\"after\":3,\"count\":2}",
        "{\"op\":\"api_fail\",\"mode\":\"500\",\"count\":3}",
    };
    control("{\"op\":\"retry_after\",\"value\":\"1\"}");
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
        control("%s", faults[i]);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        json_t *fin;
        json_t *ev = sweep(&fin);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        fprintf(stderr, "# %s: complete=%d retries=%lld events=%zu\n", faults[i],
                json_is_true(json_object_get(fin, "complete")),
                json_integer_value(json_object_get(fin, "retries")), json_array_size(ev));
        assert_true(json_is_true(json_object_get(fin, "complete")));
        assert_true(json_integer_value(json_object_get(fin, "retries")) >= 1);
        assert_int_equal(news(ev), 0); /* sweep_finished only */
        if (i == 1)                    /* Retry-After: 1 was honoured */
            assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 >=
                        1000);
        json_decref(ev);
        json_decref(fin);
    }
    /* an outage: after 4 retries the sweep fails; down only after the second */
    control("{\"op\":\"api_fail\",\"mode\":\"500\"}");
    json_t *fin, *keep;
    json_t *ev = sweep(&fin);
    assert_false(json_is_true(json_object_get(fin, "complete")));
    assert_string_equal(json_string_value(json_object_get(fin, "reason")), "listing_failed");
    assert_int_equal(mt_count(ev, "portal.status_changed", NULL), 0);
    assert_int_equal(mt_count(ev, "dataset.removed", NULL), 0);
    assert_string_equal(portal_state(&keep), "up");
    json_decref(keep);
    json_decref(ev);
    json_decref(fin);
    /* the next try comes by itself after failure_retry (1 s), not after 1 h */
    long long since = mt_last_seq(&srv);
    fin = mt_wait_sweep(&srv, since, 15000);
    assert_non_null(fin);
    ev = mt_events(&srv, since, NULL);
    assert_int_equal(mt_count(ev, "portal.status_changed", NULL), 1);
    assert_string_equal(portal_state(&keep), "down");
    json_decref(keep);
    json_decref(ev);
    json_decref(fin);
    control("{\"op\":\"api_fail\",\"mode\":\"none\"}");
    ev = sweep(&fin);
    assert_true(json_is_true(json_object_get(fin, "complete")));
    assert_int_equal(mt_count(ev, "portal.status_changed", NULL), 1);
    assert_int_equal(mt_count(ev, "dataset.removed", NULL), 0);
    json_decref(ev);
    json_decref(fin);
    finish();
}

/* Only datasets are datasets; an old portal answers on /api/action only;
 * pages over max_response_bytes are asked again with fewer rows. */
static void types_legacy_api_and_oversize(void **state)
{
    (void)state;
    fixture_up();
    control("{\"op\":\"set_type\",\"id\":\"%s\",\"type\":\"showcase\"}", ids[4]);
    control("{\"op\":\"set_type\",\"id\":\"%s\",\"type\":\"harvest\"}", ids[9]);
    control("{\"op\":\"legacy_api\",\"on\":true}");
    control("{\"op\":\"search_pad\",\"bytes\":30000}");
    server_up("max_response_bytes = 100000\n");
    assert_int_equal(total_datasets(), NDS - 2); /* the baseline: datasets only */
    json_t *fin;
    json_t *ev = sweep(&fin);
    assert_true(json_is_true(json_object_get(fin, "complete")));
    assert_int_equal(news(ev), 0);
    json_decref(ev);
    json_decref(fin);
    /* a dataset turned into a showcase is no longer a dataset */
    control("{\"op\":\"set_type\",\"id\":\"%s\",\"type\":\"showcase\"}", ids[12]);
    ev = sweep(&fin);
    assert_int_equal(news(ev), 0);
    json_decref(ev);
    json_decref(fin);
    ev = sweep(&fin); /* missing from two listings, package_show: not a dataset */
    assert_true(json_is_true(json_object_get(fin, "complete")));
    assert_int_equal(mt_count(ev, "dataset.removed", NULL), 1);
    assert_int_equal(mt_count(ev, "dataset.removed", ids[12]), 1);
    json_decref(ev);
    json_decref(fin);
    assert_int_equal(total_datasets(), NDS - 3);
    json_t *st = mt_fixture_get(&fx, "/_stats");
    fprintf(stderr, "# fixture: %lld package_search requests\n",
            json_integer_value(json_object_get(st, "package_search")));
    json_decref(st);
    finish();
}

/* The property test's end-to-end sanity run: random edits (add, delete, make
 * private, re-add) and one transient fault per sweep through the real binary
 * and fixture; the model checks every announced removal and, once the portal
 * settles, that every deleted dataset was announced exactly once. */
#define NMAX 40
static int truth[NMAX]; /* 0 absent, 1 live, 2 private */
static char tid[NMAX][40];
static int announced[NMAX];

static int tindex(const char *id)
{
    for (int i = 0; i < NMAX; i++)
        if (strcmp(tid[i], id) == 0)
            return i;
    return -1;
}

static void check_removals(const json_t *ev, unsigned seed)
{
    size_t k;
    json_t *e;
    json_array_foreach (ev, k, e) {
        if (strcmp(json_string_value(json_object_get(e, "topic")), "dataset.removed") != 0)
            continue;
        const char *id = json_string_value(
            json_object_get(json_object_get(json_object_get(e, "payload"), "dataset"), "id"));
        int i = tindex(id);
        if (i < 0 || truth[i] != 0 || announced[i])
            fprintf(stderr, "# seed %u: false or repeated removal of %s (truth %d, announced %d)\n",
                    seed, id, i < 0 ? -1 : truth[i], i < 0 ? -1 : announced[i]);
        assert_true(i >= 0 && truth[i] == 0 && !announced[i]);
        announced[i] = 1;
    }
}

static void random_edits_end_to_end(void **state)
{
    (void)state;
    const char *env = getenv("VIGIA_PROP_SEED");
    unsigned seed = env ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL);
    fprintf(stderr, "# end-to-end seed %u (VIGIA_PROP_SEED replays it)\n", seed);
    srand(seed);
    start("api_retry_delay = 50ms\nfail_threshold = 3\n");
    memset(truth, 0, sizeof truth);
    memset(announced, 0, sizeof announced);
    for (int i = 0; i < NMAX; i++) {
        if (i < NDS) {
            memcpy(tid[i], ids[i], sizeof tid[i]);
            truth[i] = 1;
        } else {
            snprintf(tid[i], sizeof tid[i], "eeeeeeee-0000-4000-8000-0000000000%02d", i);
        }
    }
    static const char *const faults[] = {
        "{\"op\":\"api_fail\",\"mode\":\"502\",\"after\":1,\"count\":1}",
        "{\"op\":\"api_fail\",\"mode\":\"html\",\"after\":2,\"count\":1}",
        "{\"op\":\"api_fail\",\"mode\":\"429\",\"after\":1,\"count\":1}",
        "{\"op\":\"api_fail\",\"mode\":\"empty_page\",\"after\":1,\"count\":1}",
        "{\"op\":\"partial_index\",\"hide\":3}",
        NULL, /* an edit between pages */
    };
    control("{\"op\":\"retry_after\",\"value\":\"0\"}");
    for (int s = 0; s < 14; s++) {
        bool settle = s >= 9;
        for (int k = settle ? 0 : 1 + rand() % 3; k > 0; k--) {
            int i = rand() % NMAX, live = 0;
            for (int j = 0; j < NMAX; j++)
                live += truth[j] == 1;
            int op = rand() % 3;
            if (op == 0 && truth[i] == 0) { /* add or re-add */
                control("{\"op\":\"add_dataset\",\"id\":\"%s\",\"resources\":1}", tid[i]);
                truth[i] = 1;
                announced[i] = 0;
            } else if (op == 1 && truth[i] != 0 && live > 12) {
                control("{\"op\":\"remove_dataset\",\"id\":\"%s\"}", tid[i]);
                truth[i] = 0;
            } else if (op == 2 && truth[i] != 0) {
                control("{\"op\":\"set_private\",\"id\":\"%s\",\"private\":%s}", tid[i],
                        truth[i] == 1 ? "true" : "false");
                truth[i] = truth[i] == 1 ? 2 : 1;
            }
        }
        int f = settle ? -1 : rand() % 6;
        int victim = rand() % NMAX, live = 0;
        for (int j = 0; j < NMAX; j++)
            live += truth[j] == 1;
        if (f >= 0 && faults[f]) {
            control("%s", faults[f]);
        } else if (f >= 0 && truth[victim] == 1 && live > 12) {
            control("{\"op\":\"between_pages\",\"after\":1,\"ops\":[{\"op\":\"remove_dataset\","
                    "\"id\":\"%s\"}]}",
                    tid[victim]);
            truth[victim] = 0;
        }
        json_t *fin;
        json_t *ev = sweep(&fin);
        check_removals(ev, seed);
        assert_int_equal(mt_count(ev, "portal.status_changed", NULL), 0);
        json_decref(ev);
        json_decref(fin);
        control("{\"op\":\"partial_index\",\"hide\":0}");
    }
    /* settled: the live ones are listed, the deleted ones were announced */
    int rc;
    json_t *l = mt_call(&srv, "datasets.list", "{\"limit\":1000}", &rc);
    assert_int_equal(rc, 0);
    bool listed[NMAX] = {false};
    size_t k;
    json_t *d;
    json_array_foreach (json_object_get(l, "items"), k, d) {
        int i = tindex(json_string_value(json_object_get(d, "id")));
        assert_true(i >= 0);
        listed[i] = true;
    }
    json_decref(l);
    for (int i = 0; i < NMAX; i++) {
        if (truth[i] == 1 && !listed[i])
            fprintf(stderr, "# seed %u: live %s is not listed\n", seed, tid[i]);
        if (truth[i] == 0 && listed[i])
            fprintf(stderr, "# seed %u: deleted %s is still listed\n", seed, tid[i]);
        assert_false(truth[i] == 1 && !listed[i]);
        assert_false(truth[i] == 0 && listed[i]);
    }
    int nann = 0, ngone = 0;
    for (int i = 0; i < NMAX; i++) {
        nann += announced[i];
        ngone += truth[i] == 0 && i < NDS;
    }
    fprintf(stderr, "# seed %u: %d removals announced, %d original datasets deleted\n", seed, nann,
            ngone);
    finish();
}

static int teardown(void **state)
{
    (void)state;
    stop();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(edits_between_pages, teardown),
        cmocka_unit_test_teardown(empty_page_and_partial_index, teardown),
        cmocka_unit_test_teardown(mass_removal_held_then_confirmed, teardown),
        cmocka_unit_test_teardown(transient_errors_are_retried, teardown),
        cmocka_unit_test_teardown(types_legacy_api_and_oversize, teardown),
        cmocka_unit_test_teardown(random_edits_end_to_end, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
