/* watch_bench: N subscriptions (default 100,000), one sweep with M dataset
 * changes (default 1,000) -> every pending item and outbox row written.
 * Prints the time of matching (stored events + items, one transaction) and
 * of grouping into outbox rows, and the peak RSS. The mix, one subscriber
 * per subscription: 70 % datasets (of 20,000), 27.3 % organisations (of
 * 500), 2.5 % saved searches (a word and a number), 0.1 % the portal, 0.1 %
 * everything. The wide ones dominate: each portal or "all" subscriber gets
 * an item per change (here 200 x 1,000 of the ~290,000 items). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "watch.h"

#define DATASETS 20000
#define ORGS 500

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long count(watch_db *w, const char *sql)
{
    sqlite3_stmt *s;
    sqlite3_prepare_v2(w->db, sql, -1, &s, NULL);
    long long n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    return n;
}

int main(int argc, char **argv)
{
    long nsubs = argc > 1 ? atol(argv[1]) : 100000;
    long nchanges = argc > 2 ? atol(argv[2]) : 1000;
    char path[] = "/tmp/watch_bench_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 1;
    close(fd);
    watch_db w;
    char err[256];
    if (watch_db_open(&w, path, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    srandom(42);
    double t0 = now_s();
    watch_exec(&w, "BEGIN");
    sqlite3_stmt *a, *b;
    sqlite3_prepare_v2(w.db,
                       "INSERT INTO watch_subscriber(id, address, lang, tz, created_ms)"
                       " VALUES (?1, ?2, 'es', ?3, 0)",
                       -1, &a, NULL);
    sqlite3_prepare_v2(w.db,
                       "INSERT INTO watch_subscription(subscriber, ttype, portal, dataset,"
                       " organization, q, kinds, delivery, confirmed_ms, created_ms)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ',down,degraded,recovered,', 'immediate',"
                       " 1, 0)",
                       -1, &b, NULL);
    for (long i = 1; i <= nsubs; i++) {
        char email[64], ds[32], org[32], q[64];
        snprintf(email, sizeof email, "s%ld@example.org", i);
        sqlite3_reset(a);
        sqlite3_bind_int64(a, 1, i);
        sqlite3_bind_text(a, 2, email, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(a, 3, i % 3 ? "America/Santiago" : "Europe/Madrid", -1, SQLITE_STATIC);
        sqlite3_step(a);
        long r = random() % 1000;
        const char *type = r < 700   ? "dataset"
                           : r < 973 ? "organization"
                           : r < 998 ? "search"
                           : r < 999 ? "portal"
                                     : "all";
        sqlite3_reset(b);
        sqlite3_clear_bindings(b);
        sqlite3_bind_int64(b, 1, i);
        sqlite3_bind_text(b, 2, type, -1, SQLITE_STATIC);
        if (strcmp(type, "all") != 0)
            sqlite3_bind_text(b, 3, "p", -1, SQLITE_STATIC);
        if (r < 700) {
            snprintf(ds, sizeof ds, "d%ld", random() % DATASETS);
            sqlite3_bind_text(b, 4, ds, -1, SQLITE_TRANSIENT);
        } else if (r < 973) {
            snprintf(org, sizeof org, "org%ld", random() % ORGS);
            sqlite3_bind_text(b, 5, org, -1, SQLITE_TRANSIENT);
        } else if (r < 998) {
            snprintf(q, sizeof q, "Educaci\xc3\xb3n %ld", random() % DATASETS);
            sqlite3_bind_text(b, 6, q, -1, SQLITE_TRANSIENT);
        }
        sqlite3_step(b);
    }
    sqlite3_finalize(a);
    sqlite3_finalize(b);
    watch_exec(&w, "COMMIT");
    double t1 = now_s();
    json_t **topics = calloc((size_t)nchanges, sizeof *topics);
    json_t **payloads = calloc((size_t)nchanges, sizeof *payloads);
    for (long i = 0; i < nchanges; i++) {
        long d = (i * 7919) % DATASETS;
        char id[32], org[32], title[96];
        snprintf(id, sizeof id, "d%ld", d);
        snprintf(org, sizeof org, "org%ld", d % ORGS);
        snprintf(title, sizeof title, "Datos de educacion %ld region %ld", d, d % 16);
        topics[i] = json_string("dataset.status_changed");
        payloads[i] = json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s}}", "portal", "p",
                                "previous", "up", "current", "down", "dataset", "id", id, "name",
                                id, "title", title, "organization", org, "status", "down");
    }
    watch_match_opts mo = {.window_ms = 0};
    watch_outbox_opts oo = {.max_items = 20,
                            .max_attempts = 8,
                            .lease_ms = 60000,
                            .backoff_min_ms = 1000,
                            .backoff_max_ms = 60000};
    double t2 = now_s();
    long items = watch_match_events(&w, topics, payloads, (size_t)nchanges, 1000000, &mo);
    double t3 = now_s();
    long rows = watch_outbox_group(&w, 1000000, &oo);
    double t4 = now_s();
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("watch_bench: %ld subscriptions (filled in %.2f s), one sweep of %ld changes\n", nsubs,
           t1 - t0, nchanges);
    printf("  match: %ld pending items in %.3f s\n", items, t3 - t2);
    printf("  group: %ld outbox rows (one per subscriber) in %.3f s\n", rows, t4 - t3);
    printf("  total: %.3f s   outbox rows in the table: %lld   peak RSS: %ld KiB\n", t4 - t2,
           count(&w, "SELECT count(*) FROM watch_outbox"), ru.ru_maxrss);
    for (long i = 0; i < nchanges; i++) {
        json_decref(topics[i]);
        json_decref(payloads[i]);
    }
    free(topics);
    free(payloads);
    watch_db_close(&w);
    watch_tz_free_all();
    unlink(path);
    char wal[64];
    snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", path);
    unlink(wal);
    return items < 0 || rows < 0;
}
