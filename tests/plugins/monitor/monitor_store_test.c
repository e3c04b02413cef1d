/* Unit tests of the monitor's SQLite store on a real temporary database:
 * schema version, batch writes, previous-state round trip, stale marking,
 * daily roll-up arithmetic and retention. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* cmocka.h needs the headers above */
#include <cmocka.h>

#include "monitor.h"
#include "store_db.h" /* white-box: the test reads the tables itself */

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
    mon_store *ms = NULL;
    assert_int_equal(mon_store_open(g_db, &ms), 0);
    sqlite3 *db = ms->w;
    int64_t sweep = mon_store_sweep_begin(ms, "p", now_ms());
    assert_true(sweep > 0);
    mon_ds b = make_ds("b", "http://x/b", MON_R_UP), a = make_ds("a", "http://x/a", MON_R_DOWN);
    mon_hyst hb = {MON_D_UP, MON_D_UP, 0}, ha = {MON_D_UP, MON_D_DOWN, 1};
    mon_wbatch *w = mon_wbatch_begin(ms);
    assert_non_null(w);
    assert_int_equal(mon_wbatch_dataset(w, "p", &b, &hb, MON_D_UP, now_ms(), now_ms(), NULL), 0);
    assert_int_equal(mon_wbatch_dataset(w, "p", &a, &ha, MON_D_DOWN, now_ms(), now_ms(), NULL), 0);
    assert_int_equal(mon_wbatch_check(w, "p", "a", &a.res[0], sweep), 0);
    assert_int_equal(mon_wbatch_check(w, "p", "b", &b.res[0], sweep), 0);
    assert_int_equal(mon_wbatch_daily(w, "p", "a", now_ms(), 2, 1, 30.0, 2), 0);
    assert_int_equal(mon_wbatch_daily(w, "p", "a", now_ms(), 2, 2, 10.0, 2), 0);
    assert_int_equal(mon_wbatch_end(w, true, NULL, 0), 0);

    mon_prev prev;
    assert_int_equal(mon_store_load_prev(ms, "p", &prev), 0);
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
    w = mon_wbatch_begin(ms);
    assert_int_equal(
        mon_wbatch_dataset(w, "p", &a2, &ha, MON_D_UP, now_ms(), now_ms(), &prev.ds[0]), 0);
    assert_int_equal(mon_wbatch_end(w, true, NULL, 0), 0);
    mon_ds_free(&a2);
    mon_prev_free(&prev);
    assert_int_equal(mon_store_load_prev(ms, "p", &prev), 0);
    assert_int_equal(prev.ds[0].nres, 1);
    assert_string_equal(prev.ds[0].res[0].id, "r2");
    assert_string_equal(prev.ds[0].res[0].url, "http://x/a2");
    mon_prev_free(&prev);
    assert_int_equal(mon_store_load_prev(ms, "other", &prev), 0);
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
    assert_int_equal(mon_store_mark_stale(ms, "p"), 0);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM monitor_datasets WHERE stale=1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_step(st);
    assert_int_equal(sqlite3_column_int(st, 0), 2);
    sqlite3_finalize(st);
    w = mon_wbatch_begin(ms);
    assert_int_equal(mon_wbatch_missing(w, "p", "a", 1), 0);
    assert_int_equal(mon_wbatch_remove(w, "p", "b", now_ms()), 0);
    assert_int_equal(mon_wbatch_end(w, true, NULL, 0), 0);
    /* a removal is a mark: the row (first_seen, history) stays */
    assert_int_equal(mon_store_load_prev(ms, "p", &prev), 0);
    assert_int_equal(prev.n, 2);
    assert_false(prev.ds[0].removed);
    assert_int_equal(prev.ds[0].missing, 1);
    assert_true(prev.ds[1].removed);
    mon_prev_free(&prev);
    long long by[MON_D_COUNT], nres, nrestricted;
    assert_int_equal(mon_store_counts(ms, "p", by, &nres, &nrestricted), 0);
    assert_int_equal(by[0] + by[1] + by[2] + by[3], 1); /* removed ones are not live */
    assert_int_equal(nres, 1);

    /* a rolled-back batch leaves nothing behind */
    w = mon_wbatch_begin(ms);
    assert_int_equal(mon_wbatch_remove(w, "p", "a", now_ms()), 0);
    assert_int_equal(mon_wbatch_end(w, false, NULL, 0), 0);
    assert_int_equal(mon_store_load_prev(ms, "p", &prev), 0);
    assert_int_equal(prev.n, 2);
    assert_false(prev.ds[0].removed);
    mon_prev_free(&prev);

    /* retention: checks older than history_days go, recent ones stay */
    sqlite3_exec(db,
                 "UPDATE monitor_checks SET checked_at = checked_at - 40*86400000"
                 " WHERE dataset_id='a'",
                 NULL, NULL, NULL);
    assert_int_equal(mon_store_retention(ms, now_ms(), 30), 0);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT dataset_id FROM monitor_checks", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "b");
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);

    assert_int_equal(mon_store_portal_set(ms, "p", "down", 1, "boom", 3, 1), 0);
    char pstate[16];
    int baseline, failures, held;
    assert_int_equal(
        mon_store_portal_get(ms, "p", pstate, sizeof pstate, &baseline, &failures, &held), 0);
    assert_string_equal(pstate, "down");
    assert_int_equal(baseline, 1);
    assert_int_equal(failures, 3);
    assert_int_equal(held, 1);
    assert_int_equal(
        mon_store_portal_get(ms, "nope", pstate, sizeof pstate, &baseline, &failures, &held), 0);
    assert_string_equal(pstate, "unknown");
    assert_int_equal(baseline, 0);
    mon_store_close(ms);
    mon_ds_free(&a);
    mon_ds_free(&b);
}

/* A full disk is reported as such, not as the failed ROLLBACK after it
 * ("cannot rollback - no transaction is active"). */
static void store_errors_are_the_real_ones(void **state)
{
    (void)state;
    mon_store *ms = NULL;
    assert_int_equal(mon_store_open(g_db, &ms), 0);
    sqlite3 *db = ms->w;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA page_count", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int pages = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA max_page_count=%d", pages); /* the disk is full */
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    mon_wbatch *w = mon_wbatch_begin(ms);
    assert_non_null(w);
    int rc = 0;
    char id[32], big[2048];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    for (int i = 0; i < 400 && rc == 0; i++) {
        snprintf(id, sizeof id, "full-%d", i);
        mon_ds d = make_ds(id, "http://x/full", MON_R_UP);
        free(d.title);
        d.title = strdup(big);
        mon_hyst h = {MON_D_UP, MON_D_UP, 0};
        rc = mon_wbatch_dataset(w, "p", &d, &h, MON_D_UP, now_ms(), now_ms(), NULL);
        mon_ds_free(&d);
    }
    assert_int_equal(rc, -EIO);
    char err[256] = "";
    assert_int_equal(mon_wbatch_end(w, true, err, sizeof err), -EIO);
    assert_non_null(strstr(err, "full"));
    assert_null(strstr(err, "rollback"));
    mon_store_close(ms);
}

/* A version-1 database gains the new columns and keeps its rows. */
static void schema_v1_is_migrated(void **state)
{
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s.v1", g_db);
    unlink(path);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "CREATE TABLE monitor_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                     "INSERT INTO monitor_meta VALUES('schema_version','1');"
                     "CREATE TABLE monitor_portals(name TEXT PRIMARY KEY, state TEXT NOT NULL,"
                     " baseline_done INTEGER NOT NULL DEFAULT 0, last_error TEXT,"
                     " updated_at INTEGER);"
                     "CREATE TABLE monitor_datasets(portal TEXT NOT NULL, id TEXT NOT NULL,"
                     " name TEXT, title TEXT, organization TEXT, organization_title TEXT,"
                     " url TEXT, metadata_modified TEXT, status TEXT NOT NULL DEFAULT 'unknown',"
                     " observed TEXT, candidate TEXT, streak INTEGER NOT NULL DEFAULT 0,"
                     " stale INTEGER NOT NULL DEFAULT 0, last_checked INTEGER,"
                     " first_seen INTEGER, PRIMARY KEY(portal, id)) WITHOUT ROWID;"
                     "INSERT INTO monitor_datasets(portal, id, status, first_seen)"
                     " VALUES('p','old','up',1);",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    mon_store *ms = NULL;
    assert_int_equal(mon_store_open(path, &ms), 0);
    mon_prev prev;
    assert_int_equal(mon_store_load_prev(ms, "p", &prev), 0);
    assert_int_equal(prev.n, 1);
    assert_false(prev.ds[0].removed);
    mon_prev_free(&prev);
    mon_store_close(ms);
    unlink(path);
}

static void newer_schema_is_refused(void **state)
{
    (void)state;
    mon_store *ms = NULL;
    assert_int_equal(mon_store_open(g_db, &ms), 0);
    sqlite3_exec(ms->w, "UPDATE monitor_meta SET value='99' WHERE key='schema_version'", NULL, NULL,
                 NULL);
    mon_store_close(ms);
    assert_int_equal(mon_store_open(g_db, &ms), -EPROTO);
    assert_null(ms);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(roundtrip),
        cmocka_unit_test(store_errors_are_the_real_ones),
        cmocka_unit_test(schema_v1_is_migrated),
        cmocka_unit_test(newer_schema_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
