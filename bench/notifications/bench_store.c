/* Notification store benchmark: create throughput (1 and 8 threads) on a
 * temporary SQLite file, and the heap held per 100 notifications in memory.
 *
 *   notifications_bench [creates_per_run]     (default 20000)
 *
 * Each create is one validated, committed row (WAL, synchronous=NORMAL; concurrent
 * creates share a transaction through the store's group commit) plus
 * the memory ring and the announcement callback, exactly what the plugin
 * does per notification. The payload is a typical automatic "dataset down"
 * notification (sizes printed). */
#include <errno.h>
#include <ftw.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

#define MEM_ENTRIES 10000

static const char *title = "Dataset caído: Presupuesto de la Nación 2024 (Ley 21.640)";
static const char *message = "«Presupuesto de la Nación 2024 (Ley 21.640)» (Dirección de "
                             "Presupuestos, portal datos) dejó de responder: el recurso "
                             "«Ejecución mensual (CSV)» falla (HTTP 404).";
static json_t *data;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void discard(const char *topic, json_t *payload, void *ctx)
{
    (void)topic;
    (void)ctx;
    json_decref(payload); /* the plugin hands this to the bus */
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static nt_store *open_store(const char *dir, const char *name, int limit)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    nt_store_options o = {.path = path, .limit = limit, .announce = discard};
    nt_store *st = NULL;
    nt_error err;
    if (nt_store_open(&o, &st, &err) != 0) {
        fprintf(stderr, "open %s: %s\n", path, err.message);
        exit(1);
    }
    return st;
}

typedef struct job {
    nt_store *st;
    int n;
    int failures;
    const json_t *data;
} job;

static void *creator(void *arg)
{
    job *j = arg;
    for (int i = 0; i < j->n; i++) {
        nt_error err;
        if (nt_store_create(j->st, "error", title, message, j->data, NULL, NULL, &err) != 0)
            j->failures++;
    }
    return NULL;
}

/* Creates `total` notifications with `threads` threads; returns per second. */
static double run(const char *dir, const char *name, int threads, int total)
{
    nt_store *st = open_store(dir, name, 100);
    pthread_t th[8];
    job jobs[8];
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        jobs[i] = (job){.st = st, .n = total / threads, .data = data};
        pthread_create(&th[i], NULL, creator, &jobs[i]);
    }
    int failures = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        failures += jobs[i].failures;
    }
    double dt = now_s() - t0;
    nt_store_stats s;
    nt_store_stats_get(st, &s);
    nt_store_close(st);
    if (failures || s.history != (total / threads) * threads) {
        fprintf(stderr, "%d failures, %lld rows\n", failures, s.history);
        exit(1);
    }
    return (double)s.history / dt;
}

/* Heap in use (glibc) after creating MEM_ENTRIES notifications into a store
 * whose memory keeps `limit` of them. */
static size_t heap_after_creates(const char *dir, const char *name, int limit, const json_t *d)
{
    malloc_trim(0);
    struct mallinfo2 before = mallinfo2();
    nt_store *st = open_store(dir, name, limit);
    job j = {.st = st, .n = MEM_ENTRIES, .data = d};
    creator(&j);
    struct mallinfo2 after = mallinfo2();
    nt_store_close(st);
    return after.uordblks - before.uordblks;
}

int main(int argc, char **argv)
{
    int total = argc > 1 ? atoi(argv[1]) : 20000;
    if (total < 8)
        total = 8;
    char dir[] = "/tmp/nt-bench-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    data = json_pack(
        "{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}, s:s, s:s, "
        "s:s, s:[{s:s, s:s, s:s, s:s, s:s, s:i}], s:i, s:i}",
        "kind", "dataset_down", "event", "dataset.status_changed", "portal", "datos", "dataset",
        "id", "5f1c0a3e-8d2b-4c1e-9a77-0b6d2f4e9c11", "portal", "datos", "name", "presupuesto-2024",
        "title", "Presupuesto de la Nación 2024 (Ley 21.640)", "organization", "dipres",
        "organization_title", "Dirección de Presupuestos", "url",
        "https://datos.gob.cl/dataset/presupuesto-2024", "status", "down", "previous", "up",
        "current", "down", "reason", "el recurso «Ejecución mensual (CSV)» falla (HTTP 404)",
        "failing", "id", "r-77", "name", "Ejecución mensual (CSV)", "url",
        "https://datos.gob.cl/r/ejecucion.csv", "status", "down", "reason", "HTTP 404",
        "http_status", 404, "failing_total", 1, "suppressed", 0);
    char *dump = json_dumps(data, JSON_COMPACT);
    printf("payload: title %zu B, message %zu B, data %zu B (compact JSON)\n", strlen(title),
           strlen(message), strlen(dump));
    free(dump);

    double one = run(dir, "one.db", 1, total);
    double eight = run(dir, "eight.db", 8, total);
    printf("create throughput, %d notifications, WAL synchronous=NORMAL, one transaction per\n"
           "create or per group of creates arriving together (group commit):\n",
           total);
    printf("  1 thread : %8.0f notifications/s\n", one);
    printf("  8 threads: %8.0f notifications/s\n", eight);

    /* Reads: the REST/WebSocket path, newest 50 from memory, and a page from SQLite. */
    {
        nt_store *st = open_store(dir, "one.db", 100);
        nt_query mem = {.limit = 50, .type = -1}, disk = {.limit = 50, .type = -1, .before = 1000};
        const struct {
            const char *what;
            nt_query *q;
        } reads[] = {{"list newest 50 (memory)", &mem}, {"list 50 before id 1000 (SQLite)", &disk}};
        for (size_t k = 0; k < 2; k++) {
            int calls = 2000;
            double t0 = now_s();
            for (int i = 0; i < calls; i++) {
                json_t *res = NULL;
                nt_error err;
                if (nt_store_list(st, reads[k].q, &res, &err) != 0) {
                    fprintf(stderr, "list: %s\n", err.message);
                    return 1;
                }
                json_decref(res);
            }
            printf("  %-33s %8.0f calls/s\n", reads[k].what, calls / (now_s() - t0));
        }
        nt_store_close(st);
    }

    printf("memory: heap with %d notifications in memory minus heap with 1 (same writes):\n",
           MEM_ENTRIES);
    for (int with_data = 1; with_data >= 0; with_data--) {
        const json_t *d = with_data ? data : NULL;
        size_t full = heap_after_creates(dir, with_data ? "m1.db" : "m3.db", MEM_ENTRIES, d);
        size_t base = heap_after_creates(dir, with_data ? "m2.db" : "m4.db", 1, d);
        double per100 = ((double)full - (double)base) / (MEM_ENTRIES / 100.0);
        printf("  %-28s %6.1f KB per 100 notifications (%.0f B each)\n",
               with_data ? "typical (title+message+data):" : "title+message, no data:",
               per100 / 1024.0, per100 / 100.0);
    }
    printf("reproduce: %s %d\n", argv[0], total);
    json_decref(data);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return 0;
}
