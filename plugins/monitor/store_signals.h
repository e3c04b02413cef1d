/* monitor: the open-data signals' part of the store (store_signals.c): its
 * tables, what a sweep reads back of them, the writes a sweep adds to its
 * transaction, and the bus methods' reads. */
#ifndef MONITOR_STORE_SIGNALS_H
#define MONITOR_STORE_SIGNALS_H

#include "store.h"

/* Executed by the store on every connection it opens (IF NOT EXISTS). */
extern const char mon_store_signals_schema[];

/* What earlier sweeps left of the signals of one portal, sorted by key. */
typedef struct mon_sigkv {
    char *key; /* dataset id; "dataset\x1fresource" for resources */
    char *val; /* freshness state / served kind / content validators */
    int64_t at;
    int64_t at2; /* freshness: the last content change */
} mon_sigkv;
typedef struct mon_sigprev {
    mon_sigkv *fresh, *served, *content;
    size_t nfresh, nserved, ncontent;
    mon_sigkv *hash;   /* "sha256\x1fvolatile\x1fvolatile_checked_s\x1fstatus", at: hashed */
    mon_sigkv *schema; /* val NULL (read on demand), at: sampled */
    size_t nhash, nschema;
} mon_sigprev;
MON_MUST_CHECK int mon_store_sig_load(mon_store *st, const char *portal, mon_sigprev *out);
void mon_sigprev_free(mon_sigprev *p);
const mon_sigkv *mon_sigprev_fresh(const mon_sigprev *p, const char *dataset_id);
const mon_sigkv *mon_sigprev_served(const mon_sigprev *p, const char *dataset_id,
                                    const char *resource_id);
const mon_sigkv *mon_sigprev_content(const mon_sigprev *p, const char *dataset_id,
                                     const char *resource_id);

const mon_sigkv *mon_sigprev_hash(const mon_sigprev *p, const char *dataset_id,
                                  const char *resource_id);
const mon_sigkv *mon_sigprev_schema(const mon_sigprev *p, const char *dataset_id,
                                    const char *resource_id);

/* Writes inside the sweep's transaction (mon_wbatch_begin opened it). */
typedef struct mon_sigbatch mon_sigbatch;
mon_sigbatch *mon_sigbatch_begin(mon_store *st);
MON_MUST_CHECK int mon_sigbatch_fresh(mon_sigbatch *b, const char *portal, const char *dataset_id,
                                      const char *frequency, long long period_s,
                                      int64_t last_update_ms, const char *state, int64_t since_ms,
                                      int64_t content_changed_ms);
/* A resource's validators ("etag\x1flast-modified\x1flength"), `at` their last change. */
MON_MUST_CHECK int mon_sigbatch_content(mon_sigbatch *b, const char *portal, const char *dataset_id,
                                        const char *resource_id, const char *value, int64_t at_ms);
/* A resource's content hash state (kind 'hash'), `at` when it was hashed. */
MON_MUST_CHECK int mon_sigbatch_hash(mon_sigbatch *b, const char *portal, const char *dataset_id,
                                     const char *resource_id, const char *value, int64_t at_ms);
/* A resource's schema summary (kind 'schema'), `at` when it was sampled. */
MON_MUST_CHECK int mon_sigbatch_schema(mon_sigbatch *b, const char *portal, const char *dataset_id,
                                       const char *resource_id, const char *summary, int64_t at_ms);
/* The schema summary kept for a resource (*summary malloc'd, NULL when none). */
MON_MUST_CHECK int mon_sigbatch_schema_get(mon_sigbatch *b, const char *portal,
                                           const char *dataset_id, const char *resource_id,
                                           char **summary);
/* `served` NULL: the resource serves what it declares again. */
MON_MUST_CHECK int mon_sigbatch_served(mon_sigbatch *b, const char *portal, const char *dataset_id,
                                       const char *resource_id, const char *served, int64_t at_ms);
/* One dataset event into the history (payload borrowed). */
MON_MUST_CHECK int mon_sigbatch_change(mon_sigbatch *b, const char *portal, const char *dataset_id,
                                       int64_t at_ms, const char *topic, const json_t *payload);
/* Adds one dataset's checks of the day to its organisation's roll-up. */
MON_MUST_CHECK int mon_sigbatch_org_daily(mon_sigbatch *b, const char *portal,
                                          const char *organization, int64_t day_ms,
                                          long long checks, long long ok);
/* Frees; -EIO when any write failed. */
MON_MUST_CHECK int mon_sigbatch_end(mon_sigbatch *b);
MON_MUST_CHECK int mon_store_sig_retention(mon_store *st, int64_t now_ms);

/* Reader: a dataset's freshness object (or null), its history newest first. */
json_t *mon_store_freshness(mon_store *st, const char *portal, const char *id);
json_t *mon_store_changes(mon_store *st, const char *portal, const char *id, int64_t since_ms,
                          long long limit);

/* ---- the organisation report (store_report.c, reader) ---- */
typedef struct mon_report_query {
    const char *portal;       /* NULL: every portal */
    const char *organization; /* NULL: every organisation; "" the datasets without one */
    int64_t now_ms;
} mon_report_query;
/* One object per (portal, organisation), in no particular order. 0, -EIO. */
int mon_store_org_report(mon_store *st, const mon_report_query *q, json_t **out);
/* What an organisation should fix first: its datasets down (longest first),
 * degraded, then delinquent and overdue (oldest update first); at most `limit`. */
json_t *mon_store_org_to_fix(mon_store *st, const char *portal, const char *organization,
                             long long limit);

#endif
