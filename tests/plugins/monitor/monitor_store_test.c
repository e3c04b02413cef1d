/* Unit tests of the monitor's SQLite store on a real temporary database:
 * schema version, batch writes, previous-state round trip, stale marking,
 * daily roll-up arithmetic and retention. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "monitor.h"

static char g_dir[64], g_db[128];

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/monitor-store-XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    snprintf(g_db, sizeof g_db, "%s/t.db", g_dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char p[160];
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", g_db, suffix[i]);
        unlink(p);
    }
    rmdir(g_dir);
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static mon_ds make_ds(const char *id, const char *url0, int status0)
{
    mon_ds d;
    memset(&d, 0, sizeof d);
    d.id = strdup(id);
    d.name = strdup(id);
    d.title = strdup("Title");
    d.url = strdup("https://x/dataset/a");
    d.modified = strdup("2026-01-01T00:00:00.000000");
    d.res = calloc(1, sizeof(mon_res));
    d.nres = 1;
    d.res[0].id = strdup("r1");
    d.res[0].url = strdup(url0);
    d.res[0].checked = true;
    d.res[0].status = status0;
    d.res[0].http_status = status0 == MON_R_UP ? 200 : 404;
    d.res[0].latency_ms = 12.5;
    d.res[0].content_length = -1;
    d.res[0].reason = "ok";
    d.res[0].method = "HEAD";
    d.res[0].checked_at = now_ms();
    return d;
}

static void roundtrip(void **state)
{
    (void)state;
    sqlite3 *db = NULL;
    assert_int_equal(mon_store_open(g_db, &db), 0);
    int64_t sweep = mon_store_sweep_begin(db, "p", now_ms());
    assert_true(sweep > 0);
    mon_ds b = make_ds("b", "http://x/b", MON_R_UP), a = make_ds("a", "http://x/a", MON_R_DOWN);
    mon_hyst hb = {MON_D_UP, MON_D_UP, 0}, ha = {MON_D_UP, MON_D_DOWN, 1};
    mon_wbatch *w = mon_wbatch_begin(db);
    assert_non_null(w);
    assert_int_equal(mon_wbatch_dataset(w, "p", &b, &hb, MON_D_UP, now_ms(), now_ms(), NULL), 0);
    assert_int_equal(mon_wbatch_dataset(w, "p", &a, &ha, MON_D_DOWN, now_ms(), now_ms(), NULL), 0);
    assert_int_equal(mon_wbatch_check(w, "p", "a", &a.res[0], sweep), 0);
    assert_int_equal(mon_wbatch_check(w, "p", "b", &b.res[0], sweep), 0);
    assert_int_equal(mon_wbatch_daily(w, "p", "a", now_ms(), 2, 1, 30.0, 2), 0);
    assert_int_equal(mon_wbatch_daily(w, "p", "a", now_ms(), 2, 2, 10.0, 2), 0);
    assert_int_equal(mon_wbatch_end(w, true), 0);

    mon_prev prev;
    assert_int_equal(mon_store_load_prev(db, "p", &prev), 0);
    assert_int_equal(prev.n, 2);
    assert_string_equal(prev.ds[0].id, "a"); /* sorted by id */
    assert_int_equal(prev.ds[0].h.status, MON_D_UP);
    assert_int_equal(prev.ds[0].h.candidate, MON_D_DOWN);
    assert_int_equal(prev.ds[0].h.streak, 1);
    assert_int_equal(prev.ds[0].nres, 1);
    assert_string_equal(prev.ds[0].res[0].url, "http://x/a");
    /* the resource set changes: r1 leaves, r2 arrives */
    mon_ds a2 = make_ds("a", "http://x/a2", MON_R_UP);
    free(a2.res[0].id);
    a2.res[0].id = strdup("r2");
    w = mon_wbatch_begin(db);
    assert_int_equal(mon_wbatch_dataset(w, "p", &a2, &ha, MON_D_UP, now_ms(), now_ms(),
                                        &prev.ds[0]),
                     0);
    assert_int_equal(mon_wbatch_end(w, true), 0);
    mon_ds_free(&a2);
    mon_prev_free(&prev);
    assert_int_equal(mon_store_load_prev(db, "p", &prev), 0);
    assert_int_equal(prev.ds[0].nres, 1);
    assert_string_equal(prev.ds[0].res[0].id, "r2");
    assert_string_equal(prev.ds[0].res[0].url, "http://x/a2");
    mon_prev_free(&prev);
    mon_store_load_prev(db, "other", &prev);
    assert_int_equal(prev.n, 0);
    mon_prev_free(&prev);

    /* roll-up accumulates within a day */
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT checks, ok, latency_sum, latency_n FROM"
                                        " monitor_daily WHERE portal='p' AND dataset_id='a'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 4);
    assert_int_equal(sqlite3_column_int(st, 1), 3);
    assert_true(sqlite3_column_double(st, 2) > 39.9 && sqlite3_column_double(st, 2) < 40.1);
    assert_int_equal(sqlite3_column_int(st, 3), 4);
    sqlite3_finalize(st);

    /* stale marking and removal */
    assert_int_equal(mon_store_mark_stale(db, "p"), 0);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM monitor_datasets WHERE stale=1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_step(st);
    assert_int_equal(sqlite3_column_int(st, 0), 2);
    sqlite3_finalize(st);
    w = mon_wbatch_begin(db);
    assert_int_equal(mon_wbatch_remove(w, "p", "b"), 0);
    assert_int_equal(mon_wbatch_end(w, true), 0);
    mon_store_load_prev(db, "p", &prev);
    assert_int_equal(prev.n, 1);
    mon_prev_free(&prev);

    /* a rolled-back batch leaves nothing behind */
    w = mon_wbatch_begin(db);
    assert_int_equal(mon_wbatch_remove(w, "p", "a"), 0);
    assert_int_equal(mon_wbatch_end(w, false), 0);
    mon_store_load_prev(db, "p", &prev);
    assert_int_equal(prev.n, 1);
    mon_prev_free(&prev);

    /* retention: checks older than history_days go, recent ones stay */
    sqlite3_exec(db, "UPDATE monitor_checks SET checked_at = checked_at - 40*86400000"
                     " WHERE dataset_id='a'",
                 NULL, NULL, NULL);
    assert_int_equal(mon_store_retention(db, now_ms(), 30), 0);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT dataset_id FROM monitor_checks", -1, &st,
                                        NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "b");
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);

    assert_int_equal(mon_store_portal_set(db, "p", "down", 1, "boom"), 0);
    char pstate[16];
    int baseline;
    mon_store_portal_get(db, "p", pstate, sizeof pstate, &baseline);
    assert_string_equal(pstate, "down");
    assert_int_equal(baseline, 1);
    mon_store_portal_get(db, "nope", pstate, sizeof pstate, &baseline);
    assert_string_equal(pstate, "unknown");
    assert_int_equal(baseline, 0);
    sqlite3_close(db);
    mon_ds_free(&a);
    mon_ds_free(&b);
}

static void newer_schema_is_refused(void **state)
{
    (void)state;
    sqlite3 *db = NULL;
    assert_int_equal(mon_store_open(g_db, &db), 0);
    sqlite3_exec(db, "UPDATE monitor_meta SET value='99' WHERE key='schema_version'", NULL, NULL,
                 NULL);
    sqlite3_close(db);
    assert_int_equal(mon_store_open(g_db, &db), -EPROTO);
    assert_null(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(roundtrip),
        cmocka_unit_test(newer_schema_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
