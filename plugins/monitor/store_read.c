/* monitor store: what a sweep reads back on the writer connection: the
 * datasets known from earlier sweeps, what earlier checks knew of each
 * resource, a portal's saved state and its counts (see store.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vigia/contract/monitor.h>

#include "store_db.h"

static char *col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

static int cmp_prev(const void *a, const void *b)
{
    return strcmp(((const mon_prev_ds *)a)->id, ((const mon_prev_ds *)b)->id);
}

/* One row of load_datasets' query into `d`. */
static int prev_row(sqlite3_stmt *st, mon_prev_ds *d)
{
    memset(d, 0, sizeof *d);
    d->id = col_dup(st, 0);
    d->name = col_dup(st, 1);
    d->title = col_dup(st, 2);
    d->org = col_dup(st, 3);
    d->org_title = col_dup(st, 4);
    d->url = col_dup(st, 5);
    d->modified = col_dup(st, 6);
    int s = mon_dstatus_parse((const char *)sqlite3_column_text(st, 7));
    int c = mon_dstatus_parse((const char *)sqlite3_column_text(st, 8));
    d->h.status = s < 0 ? MON_D_UNKNOWN : s;
    d->h.candidate = c < 0 ? d->h.status : c;
    d->h.streak = sqlite3_column_int(st, 9);
    d->last_checked = sqlite3_column_int64(st, 10);
    d->missing = sqlite3_column_int(st, 11);
    d->removed = sqlite3_column_int(st, 12) != 0;
    return d->id ? 0 : -ENOMEM;
}

static int load_datasets(sqlite3 *db, const char *portal, mon_prev *out)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, name, title, organization, organization_title, url,"
                           " metadata_modified, status, candidate, streak, last_checked,"
                           " missing, removed_at IS NOT NULL"
                           " FROM monitor_datasets WHERE portal=? ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, portal, -1, SQLITE_STATIC) != SQLITE_OK) {
        sqlite3_finalize(st);
        return -EIO;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->n == cap) {
            cap = cap ? cap * 2 : 256;
            mon_prev_ds *p = realloc(out->ds, cap * sizeof *p);
            if (!p) {
                sqlite3_finalize(st);
                return -ENOMEM;
            }
            out->ds = p;
        }
        if (prev_row(st, &out->ds[out->n++]) < 0) {
            sqlite3_finalize(st);
            return -ENOMEM;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -EIO;
    /* SQLite's ORDER BY uses the same byte order as strcmp (BINARY) */
    if (out->n > 1)
        qsort(out->ds, out->n, sizeof *out->ds, cmp_prev);
    return 0;
}

/* Each known dataset's resources (id, url), in listing order. */
static int load_resources(sqlite3 *db, const char *portal, mon_prev *out)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT dataset_id, id, url, name FROM monitor_resources WHERE portal=?"
                           " ORDER BY dataset_id, position",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, portal, -1, SQLITE_STATIC) != SQLITE_OK) {
        sqlite3_finalize(st);
        return -EIO;
    }
    mon_prev_ds *cur = NULL;
    size_t rcap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *dsid = (const char *)sqlite3_column_text(st, 0);
        if (!dsid)
            continue;
        if (!cur || strcmp(cur->id, dsid) != 0) {
            mon_prev_ds key = {.id = (char *)dsid};
            cur = out->n ? bsearch(&key, out->ds, out->n, sizeof *out->ds, cmp_prev) : NULL;
            rcap = cur ? cur->nres : 0;
        }
        if (!cur)
            continue;
        if (cur->nres == rcap) {
            rcap = rcap ? rcap * 2 : 4;
            mon_prev_res *p = realloc(cur->res, rcap * sizeof *p);
            if (!p) {
                sqlite3_finalize(st);
                return -ENOMEM;
            }
            cur->res = p;
        }
        cur->res[cur->nres].id = col_dup(st, 1);
        cur->res[cur->nres].url = col_dup(st, 2);
        cur->res[cur->nres].name = col_dup(st, 3);
        cur->nres++;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -EIO;
}

int mon_store_load_prev(mon_store *st, const char *portal, mon_prev *out)
{
    memset(out, 0, sizeof *out);
    int rc = load_datasets(st->w, portal, out);
    return rc < 0 ? rc : load_resources(st->w, portal, out);
}

void mon_prev_free(mon_prev *p)
{
    for (size_t i = 0; i < p->n; i++) {
        mon_prev_ds *d = &p->ds[i];
        free(d->id);
        free(d->name);
        free(d->title);
        free(d->org);
        free(d->org_title);
        free(d->url);
        free(d->modified);
        for (size_t k = 0; k < d->nres; k++) {
            free(d->res[k].id);
            free(d->res[k].url);
            free(d->res[k].name);
        }
        free(d->res);
    }
    free(p->ds);
    memset(p, 0, sizeof *p);
}

typedef struct rkey {
    const char *ds, *id;
    mon_res *r;
} rkey;

static int cmp_rkey(const void *a, const void *b)
{
    const rkey *x = a, *y = b;
    int c = strcmp(x->ds, y->ds);
    return c ? c : strcmp(x->id, y->id);
}

/* Every listed resource, sorted by (dataset, id), its recent fields reset. */
static rkey *recent_keys(mon_listing *L, size_t *n)
{
    size_t k = 0;
    for (size_t i = 0; i < L->n; i++)
        k += L->ds[i].nres;
    rkey *keys = calloc(k ? k : 1, sizeof *keys);
    if (!keys)
        return NULL;
    k = 0;
    for (size_t i = 0; i < L->n; i++)
        for (size_t j = 0; j < L->ds[i].nres; j++) {
            mon_res *r = &L->ds[i].res[j];
            r->prev_status = MON_R_UNKNOWN;
            r->nprev_lat = 0;
            if (L->ds[i].id && r->id)
                keys[k++] = (rkey){L->ds[i].id, r->id, r};
        }
    qsort(keys, k, sizeof *keys, cmp_rkey);
    *n = k;
    return keys;
}

int mon_store_recent_attach(mon_store *store, const char *portal, mon_listing *L)
{
    size_t n = 0;
    rkey *keys = recent_keys(L, &n);
    if (!keys)
        return -ENOMEM;
    /* the status the resource row shows now, and the latencies kept here */
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(store->w,
                           "SELECT r.dataset_id, r.id, r.status, c.lat1, c.lat2"
                           " FROM monitor_resources r LEFT JOIN monitor_recent c"
                           " ON c.portal=r.portal AND c.dataset_id=r.dataset_id AND c.id=r.id"
                           " WHERE r.portal=?",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, portal, -1, SQLITE_STATIC) != SQLITE_OK) {
        sqlite3_finalize(st);
        free(keys);
        return -EIO;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rkey key = {(const char *)sqlite3_column_text(st, 0),
                    (const char *)sqlite3_column_text(st, 1), NULL};
        if (!key.ds || !key.id)
            continue;
        rkey *hit = n ? bsearch(&key, keys, n, sizeof *keys, cmp_rkey) : NULL;
        if (!hit)
            continue;
        const char *status = (const char *)sqlite3_column_text(st, 2);
        for (int s = 0; status && s <= MON_R_DEGRADED; s++)
            if (strcmp(status, mon_rstatus_name(s)) == 0)
                hit->r->prev_status = s;
        for (int j = 0; j < 2 && sqlite3_column_type(st, 3 + j) != SQLITE_NULL; j++)
            hit->r->prev_lat[hit->r->nprev_lat++] = sqlite3_column_double(st, 3 + j);
    }
    sqlite3_finalize(st);
    free(keys);
    return rc == SQLITE_DONE ? 0 : -EIO;
}

int mon_store_portal_get(mon_store *store, const char *portal, char *state, size_t statelen,
                         int *baseline_done, int *failures, int *held)
{
    sqlite3_stmt *st = NULL;
    snprintf(state, statelen, VG_MONITOR_PORTAL_UNKNOWN);
    *baseline_done = *failures = *held = 0;
    if (sqlite3_prepare_v2(store->w,
                           "SELECT state, baseline_done, failures, held FROM monitor_portals"
                           " WHERE name=?",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, portal, -1, SQLITE_STATIC) != SQLITE_OK) {
        sqlite3_finalize(st);
        return -EIO;
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        snprintf(state, statelen, "%s", (const char *)sqlite3_column_text(st, 0));
        *baseline_done = sqlite3_column_int(st, 1);
        *failures = sqlite3_column_int(st, 2);
        *held = sqlite3_column_int(st, 3);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -EIO;
}

int mon_store_counts(mon_store *store, const char *portal, long long by_status[MON_D_COUNT],
                     long long *resources, long long *restricted)
{
    memset(by_status, 0, MON_D_COUNT * sizeof *by_status);
    *resources = *restricted = 0;
    sqlite3 *db = store->w;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT status, COUNT(*) FROM monitor_datasets WHERE portal=?"
                           " AND removed_at IS NULL GROUP BY status",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, portal, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        int s = mon_dstatus_parse((const char *)sqlite3_column_text(st, 0));
        by_status[s < 0 ? MON_D_UNKNOWN : s] += sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(db,
                           "SELECT COUNT(*), SUM(r.status='restricted') FROM monitor_resources r"
                           " JOIN monitor_datasets d ON d.portal=r.portal AND d.id=r.dataset_id"
                           " WHERE r.portal=? AND d.removed_at IS NULL",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, portal, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *resources = sqlite3_column_int64(st, 0);
        *restricted = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return 0;
}
