/* watch plugin: subscriptions, matching, digests, the outbox and feeds.
 * The store and the pure helpers (watch_core) take `now` as an argument, so
 * tests and the bench drive time themselves. */
#ifndef WATCH_H
#define WATCH_H

#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <vigia/plugin.h>

/* ---- schedules (watch_sched.c); zones come from host->tz_info ---- */
enum { WATCH_IMMEDIATE, WATCH_HOURLY, WATCH_DAILY, WATCH_WEEKLY };

typedef struct watch_sched {
    int mode;
    int wday;                   /* weekly: 0 = Sunday */
    int minute;                 /* daily/weekly: local minute of the day */
    int quiet_start, quiet_end; /* local minutes; -1: no quiet hours */
} watch_sched;

/* When an item matched now is due: immediate after the grouping window,
 * digests at their next local time in zone `tz` (host->tz_info of `h`);
 * quiet hours push non-urgent ones. */
int64_t watch_due_ms(const watch_sched *s, const vg_host *h, const char *tz, int64_t now_ms,
                     int64_t window_ms, bool urgent);

/* ---- preferences (watch_prefs.c) ---- */
/* "immediate" | "hourly" | "daily@HH:MM" | "weekly@mon@HH:MM" */
int watch_parse_delivery(const char *s, watch_sched *out);
/* "22:00-07:00" */
int watch_parse_quiet(const char *s, watch_sched *out);
/* info 1, warning 2, critical 3; 0 when unknown */
int watch_severity_parse(const char *s);
int watch_kind_severity(const char *kind);
bool watch_kind_valid(const char *kind);

/* ---- folding and search (watch_fold.c) ---- */
/* Lower-case, accents removed (Latin letters), into out (same size is enough). */
void watch_fold(const char *in, char *out, size_t size);
/* Every word of folded `q` occurs in folded `text`. */
bool watch_search_matches(const char *qfold, const char *textfold);

/* ---- tokens (watch_token.c) ---- */
/* 32 random bytes as 43 base64url chars (+NUL) and its SHA-256 hex (+NUL). */
int watch_token_new(char tok[44], char hash[65]);
void watch_token_hash(const char *tok, char hash[65]);

/* ---- addresses from outside (watch_addr.c) ---- */
/* One plain address (local@domain.tld, printable ASCII, at most 254). */
bool watch_addr_ok(const char *a);
/* The first usable address of a free-text contact field ("a@x.cl, b@x.cl",
 * "Name <a@x.cl>"), copied to out; false (out "") when there is none. */
bool watch_first_address(const char *field, char *out, size_t n);

/* ---- the store (watch_store.c) ---- */
typedef struct watch_db {
    sqlite3 *db;
    pthread_mutex_t mu; /* one connection, shared by HTTP threads and the worker */
} watch_db;

int watch_db_open(watch_db *w, const char *path, char *err, size_t errsize);
void watch_db_close(watch_db *w);
int watch_exec(watch_db *w, const char *sql);

/* ---- matching (watch_match.c) ---- */
typedef struct watch_match_opts {
    int64_t window_ms;   /* immediate grouping window */
    const vg_host *host; /* its tz_info places digests in local time */
} watch_match_opts;

/* The kind of a monitor event ("down", "recovered", ...), NULL when it is no news. */
const char *watch_event_kind(const char *topic, const json_t *payload);
/* Stores `n` events ([topic, payload] pairs) and their pending items, in one
 * transaction (caller holds w->mu). Returns items written or <0. */
long watch_match_events(watch_db *w, json_t *const *topics, json_t *const *payloads, size_t n,
                        int64_t now, const watch_match_opts *o);

/* ---- the outbox (watch_outbox.c) ---- */
typedef struct watch_outbox_opts {
    int max_items;
    int max_attempts;
    int64_t lease_ms, backoff_min_ms, backoff_max_ms;
} watch_outbox_opts;

/* Turns due pending items into one outbox row per (subscriber, alert|digest).
 * Returns rows written or <0. Caller holds w->mu. */
long watch_outbox_group(watch_db *w, int64_t now, const watch_outbox_opts *o);

/* The lease / backoff / dead-letter loop of an outbox table: the
 * subscribers' (watch_outbox) and the maintainers' (watch_maint_msg). Both
 * have id, key, state (pending | leased | sent | dead), attempts, next_ms,
 * lease_until, last_error and updated_ms. Callers hold w->mu. */
typedef struct watch_box {
    const char *table;
    /* After a GONE answer dead-lettered row `id` (NULL: nothing more). */
    int (*gone)(watch_db *w, int64_t id);
} watch_box;
extern const watch_box watch_box_subscribers;
/* Rows whose lease ran out: a retry after the backoff (dead after
 * max_attempts). Returns how many. */
long watch_box_expire_leases(watch_db *w, const watch_box *b, int64_t now,
                             const watch_outbox_opts *o);
/* Applies a channel's answer: sent; retry (after retry_after_ms or the
 * backoff; dead after max_attempts); anything else dead-lettered, GONE
 * through b->gone too. 0, -ENOENT for an unknown key, -EIO. */
int watch_box_result(watch_db *w, const watch_box *b, const char *key, const char *status,
                     const char *error, int64_t retry_after_ms, int64_t now,
                     const watch_outbox_opts *o);
/* Row `id` is in flight until now + lease_ms (one more attempt). 0 or -EIO. */
int watch_box_lease(watch_db *w, const watch_box *b, int64_t id, int64_t now,
                    const watch_outbox_opts *o);
/* Row `id` dead-lettered without a try (opted out, say). 0 or -EIO. */
int watch_box_dead(watch_db *w, const watch_box *b, int64_t id, const char *why, int64_t now);
/* The publish of leased `key` failed: pending again, the attempt not counted. */
void watch_box_unlease(watch_db *w, const watch_box *b, const char *key);
int64_t watch_backoff_ms(int attempts, const watch_outbox_opts *o);

#endif
