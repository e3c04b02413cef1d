/* org_report_bench: the public report per organisation over a monitor
 * database with N datasets (default 10,000) in M organisations (default 100),
 * 3 resources each (2 % broken), a freshness state each, a year of daily
 * roll-up (N x 365 rows) and some repairs in the history. Times the report
 * (mon_store_org_report: every figure of every organisation, what
 * GET /api/organizations serves) and, as the peer on the same data, the plain
 * query one would write without the organisations' roll-up: availability
 * over 30 and 365 days summed from every dataset's days. Median of 9 runs
 * each, the ratio, and the peak RSS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "store_db.h"
#include "store_signals.h"

#define RUNS 9

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void must(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", sql, err);
        exit(1);
    }
}

static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
        exit(1);
    }
    return s;
}

static void step(sqlite3_stmt *s)
{
    if (sqlite3_step(s) != SQLITE_DONE) {
        fprintf(stderr, "insert failed\n");
        exit(1);
    }
    sqlite3_reset(s);
}

/* What a year of sweeps leaves, written straight into the tables. */
static void fill(sqlite3 *db, long nds, long norg, int64_t now)
{
    static const char *const states[] = {"fresh",   "fresh",      "due",
                                         "overdue", "delinquent", "unknown"};
    must(db, "BEGIN");
    sqlite3_stmt *ds = prep(db, "INSERT INTO monitor_datasets(portal, id, name, title,"
                                " organization, organization_title, url, status, first_seen)"
                                " VALUES('datos', ?1, ?1, 'Dataset ' || ?1, ?2, 'Organismo ' || ?2,"
                                " 'https://x/' || ?1, ?3, 0)");
    sqlite3_stmt *res = prep(db, "INSERT INTO monitor_resources(portal, dataset_id, id, position,"
                                 " status) VALUES('datos', ?1, ?1 || '-' || ?2, ?2, ?3)");
    sqlite3_stmt *fr = prep(db, "INSERT INTO monitor_freshness(portal, dataset_id, frequency,"
                                " period_s, last_update, state, since) VALUES('datos', ?1,"
                                " 'mensual', 2592000, ?2, ?3, ?2)");
    sqlite3_stmt *daily =
        prep(db, "INSERT INTO monitor_daily(portal, dataset_id, day, checks, ok,"
                 " latency_sum, latency_n) VALUES('datos', ?1,"
                 " date(?2, 'unixepoch', '-' || ?3 || ' days'), 96, ?4, 9600, 96)");
    sqlite3_stmt *chg = prep(db, "INSERT INTO monitor_changes(portal, dataset_id, at, topic, body)"
                                 " VALUES('datos', ?1, ?2, 'dataset.status_changed', ?3)");
    unsigned long long rng = 42;
    for (long i = 0; i < nds; i++) {
        char id[32], org[32];
        snprintf(id, sizeof id, "ds-%06ld", i);
        snprintf(org, sizeof org, "org-%03ld", i % norg);
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        bool broken = (rng >> 33) % 50 == 0; /* 2 % */
        sqlite3_bind_text(ds, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ds, 2, org, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ds, 3, broken ? "down" : "up", -1, SQLITE_STATIC);
        step(ds);
        for (int k = 0; k < 3; k++) {
            sqlite3_bind_text(res, 1, id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int(res, 2, k);
            sqlite3_bind_text(res, 3, broken && k == 0 ? "down" : "up", -1, SQLITE_STATIC);
            step(res);
        }
        sqlite3_bind_text(fr, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(fr, 2, now - (int64_t)(i % 90) * 86400000LL);
        sqlite3_bind_text(fr, 3, states[i % 6], -1, SQLITE_STATIC);
        step(fr);
        for (int d = 0; d < 365; d++) {
            sqlite3_bind_text(daily, 1, id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(daily, 2, now / 1000);
            sqlite3_bind_int(daily, 3, d);
            sqlite3_bind_int(daily, 4, (i + d) % 97 == 0 ? 90 : 96);
            step(daily);
        }
        if (i % 10 == 0) { /* a fall and its repair, a day apart */
            int64_t at = now - (int64_t)(i % 300 + 2) * 86400000LL;
            sqlite3_bind_text(chg, 1, id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(chg, 2, at);
            sqlite3_bind_text(chg, 3, "{\"previous\":\"up\",\"current\":\"down\"}", -1,
                              SQLITE_STATIC);
            step(chg);
            sqlite3_bind_text(chg, 1, id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(chg, 2, at + (int64_t)(1 + i % 48) * 3600000LL);
            sqlite3_bind_text(chg, 3, "{\"previous\":\"down\",\"current\":\"up\"}", -1,
                              SQLITE_STATIC);
            step(chg);
        }
    }
    sqlite3_finalize(ds);
    sqlite3_finalize(res);
    sqlite3_finalize(fr);
    sqlite3_finalize(daily);
    sqlite3_finalize(chg);
    /* what the sweeps would have rolled up per organisation */
    must(db, "INSERT INTO monitor_org_daily(portal, organization, day, checks, ok)"
             " SELECT m.portal, d.organization, m.day, SUM(m.checks), SUM(m.ok)"
             " FROM monitor_daily m JOIN monitor_datasets d ON d.portal = m.portal AND d.id ="
             " m.dataset_id GROUP BY 1, 2, 3");
    must(db, "COMMIT");
    must(db, "ANALYZE");
}

/* The peer: availability per organisation from every dataset's days. */
static long peer(sqlite3 *db)
{
    sqlite3_stmt *s = prep(db, "SELECT d.portal, d.organization,"
                               " SUM(CASE WHEN m.day >= date('now', '-29 days') THEN m.checks END),"
                               " SUM(CASE WHEN m.day >= date('now', '-29 days') THEN m.ok END),"
                               " SUM(m.checks), SUM(m.ok) FROM monitor_daily m JOIN"
                               " monitor_datasets d ON d.portal = m.portal AND d.id = m.dataset_id"
                               " WHERE m.day >= date('now', '-364 days') GROUP BY 1, 2");
    long rows = 0;
    while (sqlite3_step(s) == SQLITE_ROW)
        rows++;
    sqlite3_finalize(s);
    return rows;
}

int main(int argc, char **argv)
{
    long nds = argc > 1 ? atol(argv[1]) : 10000, norg = argc > 2 ? atol(argv[2]) : 100;
    if (nds < 1 || norg < 1) {
        fprintf(stderr, "usage: org_report_bench [datasets] [organizations]\n");
        return 2;
    }
    char path[] = "/tmp/vigia-org-report-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 1;
    close(fd);
    mon_store *st = NULL;
    if (mon_store_open(path, &st) < 0) {
        fprintf(stderr, "cannot open the store\n");
        return 1;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000;
    double t0 = now_ms();
    fill(st->w, nds, norg, now);
    double t_fill = now_ms() - t0;
    double ours[RUNS], theirs[RUNS];
    size_t orgs = 0;
    long prow = 0;
    for (int i = 0; i < RUNS; i++) {
        mon_report_query q = {.now_ms = now};
        json_t *rows = NULL;
        t0 = now_ms();
        if (mon_store_org_report(st, &q, &rows) < 0) {
            fprintf(stderr, "report failed\n");
            return 1;
        }
        ours[i] = now_ms() - t0;
        orgs = json_array_size(rows);
        json_decref(rows);
        pthread_mutex_lock(&st->rmu);
        t0 = now_ms();
        prow = peer(st->r);
        theirs[i] = now_ms() - t0;
        pthread_mutex_unlock(&st->rmu);
    }
    qsort(ours, RUNS, sizeof *ours, cmp_d);
    qsort(theirs, RUNS, sizeof *theirs, cmp_d);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("org_report_bench: %ld datasets, %ld organizations, %ld resources, %ld daily rows"
           " (filled in %.0f ms)\n",
           nds, norg, nds * 3, nds * 365, t_fill);
    printf("  report (every figure, %zu organisations): median %.1f ms (min %.1f, max %.1f)"
           " over %d runs\n",
           orgs, ours[RUNS / 2], ours[0], ours[RUNS - 1], RUNS);
    printf("  peer (availability only, summed from every dataset's days, %ld rows): median"
           " %.1f ms (min %.1f, max %.1f)\n",
           prow, theirs[RUNS / 2], theirs[0], theirs[RUNS - 1]);
    printf("  ratio peer / report: %.1fx; peak RSS %ld MB\n", theirs[RUNS / 2] / ours[RUNS / 2],
           ru.ru_maxrss / 1024);
    printf("  command: build/bench/org_report/org_report_bench %ld %ld\n", nds, norg);
    mon_store_close(st);
    char side[sizeof path + 8];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    return ours[RUNS / 2] < 200 ? 0 : 3;
}
