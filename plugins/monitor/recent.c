/* monitor: what earlier sweeps knew of each resource, for rules that need
 * more than one check: a rate-limited resource keeps its previous status, and
 * "slow" is the median of the last three latencies. Own table, written in the
 * sweep's transaction through the sweep's connection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor.h"

static const char k_schema[] =
    "CREATE TABLE IF NOT EXISTS monitor_recent(portal TEXT NOT NULL, dataset_id TEXT NOT NULL,"
    " id TEXT NOT NULL, status TEXT, lat1 REAL, lat2 REAL,"
    " PRIMARY KEY(portal, dataset_id, id)) WITHOUT ROWID;";

static int ensure(sqlite3 *db)
{
    return sqlite3_exec(db, k_schema, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
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

int mon_recent_attach(sqlite3 *db, const char *portal, mon_listing *L)
{
    if (ensure(db) < 0)
        return -EIO;
    size_t n = 0;
    for (size_t i = 0; i < L->n; i++)
        n += L->ds[i].nres;
    rkey *keys = calloc(n ? n : 1, sizeof *keys);
    if (!keys)
        return -ENOMEM;
    n = 0;
    for (size_t i = 0; i < L->n; i++)
        for (size_t k = 0; k < L->ds[i].nres; k++) {
            mon_res *r = &L->ds[i].res[k];
            r->prev_status = MON_R_UNKNOWN;
            r->nprev_lat = 0;
            if (L->ds[i].id && r->id)
                keys[n++] = (rkey){L->ds[i].id, r->id, r};
        }
    qsort(keys, n, sizeof *keys, cmp_rkey);
    /* the status the resource row shows now, and the latencies kept here */
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT r.dataset_id, r.id, r.status, c.lat1, c.lat2"
                           " FROM monitor_resources r LEFT JOIN monitor_recent c"
                           " ON c.portal=r.portal AND c.dataset_id=r.dataset_id AND c.id=r.id"
                           " WHERE r.portal=?",
                           -1, &st, NULL) != SQLITE_OK) {
        free(keys);
        return -EIO;
    }
    sqlite3_bind_text(st, 1, portal, -1, SQLITE_STATIC);
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

int mon_recent_save(sqlite3 *db, const char *portal, const mon_ds *d)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "INSERT OR REPLACE INTO monitor_recent(portal, dataset_id, id, status,"
                           " lat1, lat2) VALUES(?,?,?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    int rc = 0;
    for (size_t i = 0; i < d->nres && rc == 0; i++) {
        const mon_res *r = &d->res[i];
        if (!r->checked || !r->id)
            continue;
        /* only up answers are latency samples; a rate-limited check is none */
        double lat[2] = {r->prev_lat[0], r->prev_lat[1]};
        int nlat = r->nprev_lat;
        if (r->status == MON_R_UP && !r->rate_limited && !r->invalid) {
            lat[1] = r->prev_lat[0];
            lat[0] = r->latency_ms;
            nlat = nlat + 1 > 2 ? 2 : nlat + 1;
        }
        sqlite3_bind_text(st, 1, portal, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, d->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, r->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, mon_rstatus_name(r->status), -1, SQLITE_STATIC);
        for (int j = 0; j < 2; j++) {
            if (j < nlat)
                sqlite3_bind_double(st, 5 + j, lat[j]);
            else
                sqlite3_bind_null(st, 5 + j);
        }
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = -EIO;
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    sqlite3_finalize(st);
    return rc;
}

int mon_recent_prune(sqlite3 *db, const char *portal)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "DELETE FROM monitor_recent WHERE portal=?1 AND NOT EXISTS(SELECT 1"
                           " FROM monitor_resources r WHERE r.portal=?1 AND"
                           " r.dataset_id=monitor_recent.dataset_id AND r.id=monitor_recent.id)",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, portal, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
    sqlite3_finalize(st);
    return rc;
}
