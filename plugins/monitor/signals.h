/* monitor: the open-data signals of a sweep (signals.c), between sweep.c and
 * the signals' store (store_signals.c). */
#ifndef MONITOR_SIGNALS_H
#define MONITOR_SIGNALS_H

#include "monitor.h"
#include "sniff.h"
#include "store_signals.h"

typedef struct mon_sig_ctx {
    const mon_portal_cfg *p;
    int64_t sweep_id, now;
    bool quiet;              /* the portal's baseline: record, announce nothing */
    const mon_sigprev *prev; /* what earlier sweeps left */
    mon_sigbatch *b;         /* writes, in the sweep's transaction */
    json_t *events;          /* the sweep's [topic, payload] queue */
    json_t *org_daily;       /* organisation -> [checks, ok] of this sweep (NULL: none yet) */
} mon_sig_ctx;

/* Freshness, format drift and re-created resources (`changes`: the sweep's
 * diff of the dataset, or NULL) of one listed dataset; `dj` its event object. */
int mon_signals_dataset(mon_sig_ctx *c, const mon_ds *d, const json_t *dj, const json_t *changes);
/* Writes the dataset events queued from index `from` on into the history of
 * `dataset_id` (NULL: of the dataset each event names). */
int mon_signals_history(mon_sig_ctx *c, const char *dataset_id, size_t from);

/* Counts one dataset's checks of this sweep toward its organisation's day. */
void mon_signals_tally(mon_sig_ctx *c, const char *organization, int checks, int ok);
/* Writes the organisations' day (the report's roll-up) and frees the tally. */
int mon_signals_flush(mon_sig_ctx *c);

/* The kept content hash state of a resource (monitor_rsignal kind 'hash'):
 * "sha256\x1fvolatile\x1fvolatile_checked_s\x1fstatus". */
int mon_regen_parse(const char *val, mon_regen_state *out, char *status, size_t size);
void mon_regen_format(const mon_regen_state *st, const char *status, char *out, size_t size);

#endif
