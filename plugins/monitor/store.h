/* monitor: the store, the only code that knows SQL (store.c: schema and
 * writes; store_read.c: what a sweep reads back; store_query.c: the bus
 * methods' queries). Own tables prefixed monitor_, schema version in
 * monitor_meta, WAL.
 *
 * Threads: one store holds two connections. The writer serves the sweep
 * thread (and init, before that thread starts): everything but the queries
 * below runs on it, from one thread at a time. The reader serves the bus
 * methods, from any thread: each query takes the reader's own lock.
 *
 * Every function that writes returns a status the caller must look at
 * (MON_MUST_CHECK makes an ignored one a build error). */
#ifndef MONITOR_STORE_H
#define MONITOR_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "monitor.h"

#define MON_MUST_CHECK __attribute__((warn_unused_result))
#define MON_SCHEMA_VERSION 2

typedef struct mon_store mon_store;

/* Opens (creating or migrating the tables). -EIO, or -EPROTO when a newer
 * monitor wrote the database; *out is NULL then. */
int mon_store_open(const char *path, mon_store **out);
void mon_store_close(mon_store *st);
/* The writer connection's last SQLite error, for logs and sweep reports. */
const char *mon_store_errmsg(mon_store *st);

/* ---- what a sweep reads back (store_read.c, writer connection) ---- */

/* What the database knows of a dataset from earlier sweeps. Not a mon_ds: a
 * mon_ds is what the portal lists now plus this sweep's check outcome of each
 * resource (about 200 bytes a resource); the known side carries the state
 * only the store keeps (hysteresis, missing count, removal mark) and, of each
 * resource, only what the diff needs (id, url). Both are alive at once, for
 * every dataset of a portal, during a sweep. */
typedef struct mon_prev_res {
    char *id, *url;
    char *name; /* resource identity (identity.c) */
} mon_prev_res;
typedef struct mon_prev_ds {
    char *id, *name, *title, *org, *org_title, *url, *modified; /* as in mon_ds */
    mon_hyst h;
    int64_t last_checked;
    int missing;  /* consecutive complete listings without it */
    bool removed; /* announced removed; kept with its history */
    mon_prev_res *res;
    size_t nres;
} mon_prev_ds;
typedef struct mon_prev {
    mon_prev_ds *ds; /* sorted by id (strcmp) */
    size_t n;
} mon_prev;

MON_MUST_CHECK int mon_store_load_prev(mon_store *st, const char *portal, mon_prev *out);
void mon_prev_free(mon_prev *p);
/* Fills prev_status and prev_lat of every resource of the listing
 * (recent.c tells what they are for). */
MON_MUST_CHECK int mon_store_recent_attach(mon_store *st, const char *portal, mon_listing *L);
/* A portal never saved reads as state "unknown" and zeros. */
MON_MUST_CHECK int mon_store_portal_get(mon_store *st, const char *portal, char *state,
                                        size_t statelen, int *baseline_done, int *failures,
                                        int *held);
/* What the database knows of a portal: live datasets by status (index
 * mon_dstatus), their resources, the restricted ones. */
MON_MUST_CHECK int mon_store_counts(mon_store *st, const char *portal,
                                    long long by_status[MON_D_COUNT], long long *resources,
                                    long long *restricted);

/* ---- resource identity (identity.c: pure) ---- */
typedef struct mon_recreated {
    size_t prev, cur;       /* indices into the previous and current resources */
    const char *matched_by; /* VG_MONITOR_MATCHED_URL / _NAME */
} mon_recreated;
/* Pairs resources gone from a dataset with new ones of the same URL (first)
 * or name, when the pairing is unambiguous. `out` holds min(np, nc). */
size_t mon_identity_match(const mon_prev_res *prev, size_t np, const mon_res *cur, size_t nc,
                          mon_recreated *out);

/* ---- single writes (store.c, writer connection) ---- */
MON_MUST_CHECK int mon_store_portal_set(mon_store *st, const char *portal, const char *state,
                                        int baseline_done, const char *last_error, int failures,
                                        int held);
/* The new sweep's id, or -1. */
MON_MUST_CHECK int64_t mon_store_sweep_begin(mon_store *st, const char *portal, int64_t started_at);
MON_MUST_CHECK int mon_store_sweep_finish(mon_store *st, int64_t sweep_id, int64_t finished_at,
                                          bool complete, const json_t *counts, int errors,
                                          int changes);
MON_MUST_CHECK int mon_store_mark_stale(mon_store *st, const char *portal);
MON_MUST_CHECK int mon_store_retention(mon_store *st, int64_t now_ms, long long history_days);

/* ---- everything one complete sweep writes, in one transaction (store.c) ---- */
typedef struct mon_wbatch mon_wbatch;
/* NULL when the transaction cannot start (mon_store_errmsg says why). */
mon_wbatch *mon_wbatch_begin(mon_store *st);
/* `prev` (may be NULL: a new dataset) tells which resource rows to drop. */
MON_MUST_CHECK int mon_wbatch_dataset(mon_wbatch *b, const char *portal, const mon_ds *d,
                                      const mon_hyst *h, int observed, int64_t last_checked,
                                      int64_t now_ms, const mon_prev_ds *prev);
/* Marks a dataset removed (its rows and history stay). */
MON_MUST_CHECK int mon_wbatch_remove(mon_wbatch *b, const char *portal, const char *id,
                                     int64_t now_ms);
/* Records how many complete listings a live dataset has been missing from. */
MON_MUST_CHECK int mon_wbatch_missing(mon_wbatch *b, const char *portal, const char *id,
                                      int missing);
MON_MUST_CHECK int mon_wbatch_check(mon_wbatch *b, const char *portal, const char *dataset_id,
                                    const mon_res *r, int64_t sweep_id);
MON_MUST_CHECK int mon_wbatch_daily(mon_wbatch *b, const char *portal, const char *dataset_id,
                                    int64_t day_ms, int checks, int ok, double latency_sum,
                                    int latency_n);
/* What this sweep learnt of each checked resource of `d` (mon_recent_next). */
MON_MUST_CHECK int mon_wbatch_recent(mon_wbatch *b, const char *portal, const mon_ds *d);
/* Drops the recent rows of resources no longer listed. */
MON_MUST_CHECK int mon_wbatch_prune_recent(mon_wbatch *b, const char *portal);
/* Commits (ok) or rolls back; frees the batch. On failure `err` holds the
 * first real SQLite error (not the rollback's). */
MON_MUST_CHECK int mon_wbatch_end(mon_wbatch *b, bool ok, char *err, size_t errlen);

/* ---- the bus methods' queries (store_query.c, reader connection) ---- */
typedef struct mon_list_query {
    const char *portal, *status, *org; /* NULL: any */
    const char *q;                     /* substring of name or title (folded), or the id */
    const char *sort;                  /* NULL: by name; else mon_store_sort_known */
    long long limit, offset;
} mon_list_query;
/* name, title, status, organization, last_checked, each with an optional '-'. */
bool mon_store_sort_known(const char *sort);
/* One page of live datasets (JSON objects, with uptime_30d and latency_ms)
 * and the number matching. -EIO, -ENOMEM. */
int mon_store_list(mon_store *st, const mon_list_query *q, json_t **items, long long *total);
/* Live datasets whose id (or, failing that, name) is `id`, in `portal` when
 * not NULL: *dataset is the first (an id match wins), *portals (a new array)
 * names the portal of every match. 0, -ENOENT or -EIO. */
int mon_store_find(mon_store *st, const char *id, const char *portal, json_t **dataset,
                   json_t **portals);
/* A dataset's CKAN contacts {maintainer, maintainer_email, author,
 * author_email} (each a string or null), or null when it lists none. */
json_t *mon_store_contact(mon_store *st, const char *portal, const char *id);
/* A dataset's resources with their last check, in listing order. */
json_t *mon_store_resources(mon_store *st, const char *portal, const char *id);
/* Share of good checks over the last `days` days (daily roll-up), or null. */
json_t *mon_store_uptime(mon_store *st, const char *portal, const char *id, int days);
/* Individual checks since `since_ms`, newest first (at most 5000). */
json_t *mon_store_checks(mon_store *st, const char *portal, const char *id, int64_t since_ms);
/* The daily roll-up of the last `days` days, oldest first. */
json_t *mon_store_daily(mon_store *st, const char *portal, const char *id, long long days);

#endif
