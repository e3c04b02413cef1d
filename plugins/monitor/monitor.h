/* monitor plugin: private declarations shared by its files.
 *
 * One sweep thread runs every portal's sweeps in turn: list the portal's
 * datasets (CKAN package_search, libcurl easy), check every resource URL
 * (libcurl multi, bounded global and per-host concurrency), compute statuses
 * with hysteresis, publish changes on the bus, and persist everything in its
 * own SQLite tables. Bus methods read the database on their caller's thread. */
#ifndef MONITOR_H
#define MONITOR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <vigia/vigia.h>

/* ---- configuration (config.c) ---- */
typedef struct mon_portal_cfg {
    char *name;
    char *base_url;       /* without trailing slash */
    json_t *include_orgs; /* array of strings (may be empty) */
    json_t *exclude_orgs;
    int64_t interval_ms, api_delay_ms, per_host_interval_ms, connect_timeout_ms, timeout_ms,
        slow_ms;
    long long rows, per_host, fail_threshold, recover_threshold, max_response_bytes;
    json_t *types;          /* dataset types listed (fq=+dataset_type:...) */
    long long remove_after; /* complete listings a dataset must be missing from */
    double max_removed_fraction;
    long long api_retries; /* retries of one API request */
    int64_t api_retry_delay_ms, api_retry_max_ms, failure_retry_ms;
    int64_t rate_limit_max_wait_ms; /* longest Retry-After honoured within a sweep */
    long long rate_limit_retries;   /* re-checks of a rate-limited resource per sweep */
    /* open-data signals (freshness.c) */
    bool freshness;                         /* judge freshness against the declared frequency */
    double fresh_overdue, fresh_delinquent; /* multiples of the period */
    /* content and schema (content.c): the body GETs' own budget */
    bool schema_drift, hashing;
    long long schema_sample_bytes, hash_max_bytes, content_concurrency, content_per_host,
        content_max_per_sweep;
    int64_t schema_interval_ms, hash_interval_ms, hash_recheck_delay_ms,
        content_per_host_interval_ms;
} mon_portal_cfg;

typedef struct mon_config {
    long long concurrency;
    long long history_days;
    bool announce_initial;
    char *user_agent;
    mon_portal_cfg *portals;
    size_t nportals;
} mon_config;

int mon_config_load(const vg_host *host, mon_config *cfg);
void mon_config_free(mon_config *cfg);

/* ---- statuses (status.c: pure logic, unit tested) ---- */
/* A degraded resource answers, but not with its data (an HTML page instead
 * of a CSV, a redirect to the home page). */
typedef enum mon_rstatus {
    MON_R_UNKNOWN = 0,
    MON_R_UP,
    MON_R_DOWN,
    MON_R_RESTRICTED,
    MON_R_DEGRADED
} mon_rstatus;
/* empty: the dataset lists no resource at all. */
typedef enum mon_dstatus {
    MON_D_UNKNOWN = 0,
    MON_D_UP,
    MON_D_DEGRADED,
    MON_D_DOWN,
    MON_D_EMPTY,
    MON_D_COUNT
} mon_dstatus;

const char *mon_rstatus_name(int s);
const char *mon_dstatus_name(int s);
int mon_dstatus_parse(const char *s); /* -1 when unknown text */

/* What to do after one HTTP attempt of a check. RATE_LIMITED: 429, or 503
 * with Retry-After: check again later, the resource is not down. */
typedef enum mon_verdict {
    MON_V_UP,
    MON_V_DOWN,
    MON_V_RESTRICTED,
    MON_V_RETRY_GET,
    MON_V_RATE_LIMITED
} mon_verdict;
/* `curl_code` is a CURLcode; `aborted_body` means our write callback stopped
 * a GET body on purpose (that is not an error). A HEAD failure of any kind is
 * never trusted: it asks for a ranged GET. */
mon_verdict mon_classify(bool is_head, int curl_code, long http_status, bool aborted_body,
                         bool retry_after);

/* Soft 404s (status.c, pure). Does the declared format/mimetype name data
 * (CSV, XLSX, JSON, ZIP, ...) rather than a web page? */
bool mon_format_is_data(const char *format, const char *mimetype);
bool mon_ctype_is_html(const char *content_type);
/* The first bytes of a body look like an HTML page. */
bool mon_body_is_html(const unsigned char *body, size_t n);
/* Where a redirect chain ended: 0 elsewhere, 1 a login page, 2 the site's
 * home page (only when `final_url` differs from `url`). */
int mon_redirect_landing(const char *url, const char *final_url);
/* Median of the last 3 latencies (newest first) above slow_ms; fewer than 3
 * samples are never slow. */
bool mon_slow_median(const double *lat, size_t n, int64_t slow_ms);

/* One dataset's resource outcomes -> observed status. `soft`: answered, but
 * not usable as data (login page, HTML page): the dataset is degraded. */
typedef struct mon_res_outcome {
    int status; /* mon_rstatus */
    bool slow;
    bool soft;
} mon_res_outcome;
mon_dstatus mon_dataset_observe(const mon_res_outcome *res, size_t n);

/* Hysteresis: committed status plus a streak toward a different one. */
typedef struct mon_hyst {
    int status;    /* mon_dstatus, committed */
    int candidate; /* mon_dstatus being counted */
    int streak;
} mon_hyst;
/* Feeds one observation; returns true when the committed status changed. */
bool mon_hyst_feed(mon_hyst *h, int observed, int fail_threshold, int recover_threshold);

/* ---- paging (paging.c: pure) ---- */
enum { MON_PAGER_GOING = 0, MON_PAGER_COMPLETE, MON_PAGER_INCOMPLETE };
typedef struct mon_pager {
    long long count; /* result.count of the first page; -1 before */
    long long start; /* offset of the next page */
    long long rows;  /* page size in use */
    size_t distinct; /* distinct ids seen, filtered-out ones included */
    int state;
    char why[160]; /* why incomplete */
} mon_pager;
void mon_pager_init(mon_pager *pg, long long rows);
/* Feeds one parsed page (its result.count, results, new distinct ids).
 * Returns 1 when the listing ends (state says how), 0 to fetch the next. */
int mon_pager_page(mon_pager *pg, long long count, size_t got, size_t fresh);

/* ---- removals (removal.c: pure) ---- */
typedef struct mon_rm_item {
    const char *id;
    bool listed; /* in this sweep's listing */
    int missing; /* in/out: consecutive complete listings without it */
    bool remove; /* out */
} mon_rm_item;
typedef struct mon_rm_opts {
    int remove_after;
    double max_fraction;
    /* 1 gone (404, not found, state deleted), 0 still there, -1 cannot tell */
    int (*confirm)(void *ctx, const char *id);
    void *ctx;
} mon_rm_opts;
typedef struct mon_rm_result {
    size_t candidates, removed, kept, unconfirmed;
    bool held; /* too many at once: held this sweep, warn */
} mon_rm_result;
/* `items`: every live dataset known before this sweep. */
void mon_removal_plan(mon_rm_item *items, size_t n, bool complete, bool held_before,
                      const mon_rm_opts *o, mon_rm_result *r);

/* ---- listing (listing.c) ---- */
typedef struct mon_res {
    char *id, *name, *url, *format;
    char *mimetype; /* declared, may be NULL */
    int position;
    /* what earlier sweeps knew (recent.c), filled before the checks */
    int prev_status;    /* mon_rstatus */
    double prev_lat[2]; /* latencies of the last up checks, newest first */
    int nprev_lat;
    bool rate_limited; /* still rate limited after the retries: prev_status kept */
    bool soft;         /* answered, not with data (see mon_res_outcome) */
    /* check outcome */
    int status;   /* mon_rstatus */
    bool invalid; /* not http(s): never fetched */
    bool slow;
    bool checked;
    long http_status;
    double latency_ms;
    char *content_type, *final_url, *error;
    long long content_length; /* -1 unknown */
    const char *reason;       /* static text */
    const char *method;       /* "HEAD" / "GET" */
    int64_t checked_at;       /* wall ms */
    unsigned char magic[16];  /* first bytes of a GET body (format drift) */
    size_t nmagic;
    /* content change (signals.c): validators of the last answer, or NULL */
    char *etag, *last_modified;
    bool regenerated;      /* Last-Modified is the response's own Date: made per request */
    struct mon_body *body; /* the body pass's results (content.c), NULL when not fetched */
} mon_res;

/* What the body pass (content.c) learnt of one resource in this sweep. */
enum { MON_HASH_NONE = 0, MON_HASH_DONE, MON_HASH_SKIPPED_LARGE, MON_HASH_FAILED };
typedef struct mon_body {
    char *schema; /* compact schema summary of the sample (sniff.h), NULL when not sampled */
    int hash;     /* MON_HASH_* of this sweep's first fetch */
    int again;    /* MON_HASH_* of the second fetch (files made per request) */
    char sha256[65], sha256_again[65];
    bool sample_wanted, hash_wanted, recheck_wanted;
    long long bytes; /* body bytes downloaded for it in this sweep */
} mon_body;

typedef struct mon_ds {
    char *id, *name, *title, *org, *org_title, *url, *modified;
    /* CKAN's contacts, as the portal lists them (store: monitor_contacts) */
    char *maintainer, *maintainer_email, *author, *author_email;
    mon_res *res;
    size_t nres;
    /* open-data signals, from the listing */
    char *frequency;         /* as declared (frequency.c), or NULL */
    int64_t res_modified_ms; /* newest resource last_modified, 0 unknown */
} mon_ds;

typedef struct mon_listing {
    mon_ds *ds;
    size_t n, cap;
    int pages;
    int retries;               /* API requests retried */
    int errors;                /* skipped malformed entries */
    bool complete;             /* count held and every id came (paging.c) */
    long long count;           /* result.count */
    char incomplete[160];      /* why not complete */
    double fetch_ms, parse_ms; /* time waiting for pages vs parsing them */
} mon_listing;

typedef struct mon_http_opts {
    const char *user_agent;
    int64_t connect_timeout_ms, timeout_ms;
    long long max_response_bytes;
    atomic_bool *stop;
    int max_json_depth;
    bool *legacy_api; /* in/out: the portal only answers /api/action */
} mon_http_opts;

/* Pages the portal, each request retried with backoff. Returns 0 when the
 * listing is usable (out->complete tells whether it may remove anything), or
 * -1 with `err` when the API failed; the listing is kept for the caller to
 * free either way. */
int mon_list_portal(const mon_portal_cfg *p, const mon_http_opts *o, mon_listing *out, char *err,
                    size_t errlen);
/* Parses one package_search body into `out` (dedup against what it holds).
 * Returns the number of results in the page (>= 0), or -1 with `err`. */
int mon_parse_page(const char *body, size_t len, const mon_portal_cfg *p, mon_listing *out,
                   size_t *new_ids, char *err, size_t errlen);
/* The same with the JSON nesting limit and result.count (-1 when absent). */
int mon_parse_page_ex(const char *body, size_t len, const mon_portal_cfg *p, int max_depth,
                      mon_listing *out, size_t *new_ids, long long *count, char *err,
                      size_t errlen);
/* package_show: 1 the dataset is gone (404, "Not found", state deleted), 0 it
 * is there, -1 cannot tell. */
int mon_confirm_gone(const mon_portal_cfg *p, const mon_http_opts *o, const char *id);
/* Seconds to wait from a Retry-After value (delta seconds or HTTP date), or -1. */
long long mon_retry_after_s(const char *v, int64_t now_wall_ms);
void mon_listing_free(mon_listing *l);
void mon_ds_free(mon_ds *d);
/* Replaces invalid UTF-8 sequences by '?', in place. Returns how many. */
size_t mon_utf8_sanitize(char *s, size_t len);

/* ---- checker (checker.c) ---- */
typedef struct mon_check_opts {
    const char *user_agent;
    long long concurrency, per_host;
    int64_t per_host_interval_ms, connect_timeout_ms, timeout_ms, slow_ms;
    int64_t rate_limit_max_wait_ms;
    long long rate_limit_retries;
    atomic_bool *stop;
} mon_check_opts;
/* Checks every resource in `items` (pointers into a listing). Returns 0, or
 * -ECANCELED when stopped (items not reached stay unchecked). */
int mon_check_all(const mon_check_opts *o, mon_res **items, size_t n);
/* "http"/"https" URL -> 1; anything else -> 0. */
int mon_url_is_http(const char *url);
/* A URL as people type it -> the URL to fetch (malloc'd), or NULL when it is
 * not a usable http(s) URL: surrounding whitespace trimmed, spaces and other
 * unsafe characters percent-encoded, IDN hosts kept (libcurl converts them). */
char *mon_url_normalize(const char *url);

/* ---- body pass (content.c): sampling GETs and content hashes ---- */
typedef struct mon_body_opts {
    const char *user_agent;
    long long concurrency, per_host, sample_bytes, hash_max_bytes;
    int64_t per_host_interval_ms, connect_timeout_ms, timeout_ms;
    atomic_bool *stop;
} mon_body_opts;
typedef struct mon_body_stats {
    long long sampled, hashed, too_large, rechecked, failed, bytes;
} mon_body_stats;
/* Fetches the body of every item whose body says what is wanted (sample
 * and/or hash, or the second hash of a changed file when `again`), with its
 * own per-host concurrency and pacing. Returns 0 or -ECANCELED. */
int mon_body_fetch(const mon_body_opts *o, mon_res **items, size_t n, bool again,
                   mon_body_stats *st);
/* "host:port" of an http(s) URL (malloc'd), NULL when it has none (checker.c). */
char *mon_host_key(const char *url);
/* Is the resource a table or JSON worth sampling (declared format, mimetype
 * or served type)? */
bool mon_is_tabular(const mon_res *r);

/* ---- what earlier sweeps knew of each resource (recent.c: pure) ---- */
/* The latencies to keep after this sweep's check of `r` (newest first, at
 * most 2): only up answers are samples. Returns how many. */
int mon_recent_next(const mon_res *r, double lat[2]);
/* Folds UTF-8 text: lower case, Spanish/Portuguese accents removed. Returns
 * a malloc'd string or NULL (fold.c; the store registers it as vg_fold). */
char *mon_fold(const char *s);

/* ---- open-data signals (frequency.c, freshness.c, drift.c: pure) ---- */
/* A declared update frequency -> 1 with *period_s, 0 declared without a
 * schedule (irregular, as needed, never), -1 not recognised. */
int mon_freq_parse(const char *text, long long *period_s);
/* The frequency text a CKAN package dict declares (fields, then extras), or
 * NULL. Borrowed from `pkg`. */
const char *mon_freq_declared(const json_t *pkg);
enum { MON_F_UNKNOWN = 0, MON_F_FRESH, MON_F_DUE, MON_F_OVERDUE, MON_F_DELINQUENT, MON_F_COUNT };
const char *mon_fstate_name(int s);
int mon_fstate_parse(const char *s); /* -1 when unknown text */
typedef struct mon_fresh_opts {
    double overdue, delinquent; /* multiples of the period, 1 <= overdue <= delinquent */
} mon_fresh_opts;
int mon_fresh_state(long long period_s, int64_t last_update_ms, int64_t now_ms,
                    const mon_fresh_opts *o);
/* CKAN timestamp ("2026-09-30T02:00:08.746809", no zone = UTC; "Z" and
 * "+hh:mm" accepted) -> epoch ms, or -1. */
int64_t mon_iso_parse_ms(const char *s);
/* Last real update: metadata_modified, resources' last_modified, content
 * changes (content_changed_ms, 0 when unknown). 0 when nothing is known. */
int64_t mon_last_update_ms(const mon_ds *d, int64_t content_changed_ms);
/* What a response really is, from its magic bytes (when any) or its
 * Content-Type: one of VG_MONITOR_SERVED_*, or NULL when nothing tells. */
const char *mon_served_kind(const char *content_type, const unsigned char *magic, size_t n);
/* Does `served` contradict the declared format/mimetype? (a "CSV" that is a
 * ZIP, a PDF or an HTML page; an XLSX is a ZIP, so that is no drift) */
bool mon_format_drifts(const char *format, const char *mimetype, const char *served);

/* ---- store (store.h) ---- */
typedef struct mon_store mon_store;

/* ---- plugin state (plugin.c) ---- */
typedef struct mon_portal_rt {
    mon_portal_cfg *cfg;
    char state[16]; /* unknown | up | down */
    int baseline_done;
    int failures;    /* consecutive failed listings */
    int held;        /* a mass removal is held, waiting for confirmation */
    bool legacy_api; /* answers only on /api/action */
    bool run_requested;
    bool running;
    int64_t next_due_mono;
    int64_t next_due_wall;
    json_t *last_sweep; /* object or NULL */
    char last_error[512];
    long long checks_up, checks_down, checks_restricted, checks_invalid;
} mon_portal_rt;

typedef struct mon_plugin {
    const vg_host *host;
    mon_config cfg;
    mon_portal_rt *rt; /* cfg.nportals */
    char *db_path;
    mon_store *store;
    pthread_mutex_t mu; /* guards rt[] and wakes the thread */
    pthread_cond_t cond;
    pthread_t thread;
    bool thread_started;
    atomic_bool stop;
} mon_plugin;

/* plugin.c: wait before the next sweep after `failures` failed ones in a row */
int64_t mon_next_wait_ms(const mon_portal_cfg *p, int failures);

/* lease.c: in a cluster, one node per portal; both true when alone */
bool mon_lease_hold(mon_plugin *m, const char *portal);
bool mon_lease_fence(mon_plugin *m, const char *portal, char *err, size_t n);

/* sweep.c */
void mon_sweep_portal(mon_plugin *m, size_t idx);
int mon_publish(mon_plugin *m, const char *topic, json_t *payload);

/* methods.c */
int mon_methods_register(mon_plugin *m);
/* For the other methods' files: the dataset of params {id, portal?} (or a
 * failed *result), and an optional integer parameter (-1 when malformed). */
int mon_method_resolve(mon_plugin *m, const json_t *params, json_t **result, json_t **dataset);
int mon_method_opt_int(const json_t *params, const char *key, long long def, long long *out);
/* Optional string parameter (NULL when absent or null); -1 when not a string. */
int mon_method_opt_str(const json_t *params, const char *key, const char **out);
/* methods_signals.c: datasets.changes */
int mon_methods_signals_register(mon_plugin *m);

/* "2026-11-28T09:00:00.123Z" (clock.c) */
void mon_iso_ms(int64_t wall_ms, char *buf, size_t size);
/* The same as a JSON string, or null for ms <= 0 (never happened). */
json_t *mon_iso_or_null(int64_t wall_ms);

/* Clocks in milliseconds (clock.c): monotonic for intervals, wall for timestamps. */
int64_t mon_mono_ms(void);
int64_t mon_wall_ms(void);
/* Tests fake time: replaces both clocks (NULL restores the real ones). */
void mon_clock_set(int64_t (*mono)(void), int64_t (*wall)(void));

#endif
