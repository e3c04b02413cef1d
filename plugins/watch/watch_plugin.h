/* The plugin's state, shared by its glue files (not by watch_core). */
#ifndef WATCH_PLUGIN_H
#define WATCH_PLUGIN_H

#include <stdatomic.h>
#include <vigia/vigia.h>

#include "watch.h"

typedef struct watch_limits watch_limits;
typedef struct watch_maint watch_maint;

#define WATCH_MAX_CHANNELS 16

typedef struct watch_plugin {
    const vg_host *host;
    watch_db db;
    vg_workq *q;
    watch_match_opts mo;
    watch_outbox_opts oo;
    char public_url[256];
    char list_host[128];
    const char *default_lang, *default_tz;
    int64_t confirm_ttl_ms, manage_ttl_ms, tick_ms, retention_ms, outbox_retention_ms;
    long long feed_max, lease_batch;
    long long lim_addr, lim_ip, lim_global, lim_requests; /* per hour, hour, hour, minute */
    bool test_clock;
    _Atomic int64_t fake_now; /* 0: the host's clock */
    /* events from the bus thread, drained by one job */
    pthread_mutex_t inmu;
    json_t *inbox;
    bool drain_queued;
    atomic_bool tick_queued;
    int64_t last_housekeeping;
    /* the ticker thread */
    pthread_t ticker;
    bool ticker_running, stopping;
    pthread_mutex_t tmu;
    pthread_cond_t tcv;
    watch_limits *limits;
    /* channels' answers since start, by channel: sent, retry, failed (under inmu) */
    struct {
        char name[32];
        unsigned long long n[3];
    } channels[WATCH_MAX_CHANNELS];
    size_t nchannels;
    watch_maint *maint; /* maintainers' alerts (watch_maintainer.c) */
} watch_plugin;

int64_t watch_now(watch_plugin *w);
/* watch_status.c: the watch.status method and its counters */
void watch_count_result(watch_plugin *w, const char *channel, const char *status);
int watch_status_register(watch_plugin *w);

/* watch_deliver.c: the work-queue jobs */
int watch_tick_job(vg_job *job, void *user);
int watch_drain_job(vg_job *job, void *user);
void watch_on_event(const char *topic, const json_t *payload, void *user);
void watch_on_result(const char *topic, const json_t *payload, void *user);
void watch_kick(watch_plugin *w);
/* One due row of an outbox table as its delivery.requested payload; NULL to
 * skip it, with *dead set to dead-letter it for that reason. */
typedef json_t *(*watch_row_fn)(watch_plugin *w, sqlite3_stmt *row, int64_t now, const char **dead);
/* Leases the due rows `select_sql` finds in b's table (?1 now, ?2 limit;
 * the row id first) and builds their payloads, in one transaction: what is
 * published is what the table says is in flight. Caller holds w->db.mu. */
json_t *watch_lease_due(watch_plugin *w, const watch_box *b, const char *select_sql, int limit,
                        watch_row_fn as_payload, int64_t now);
/* Publishes them (without w->db.mu); a publish that fails is unleased. */
void watch_publish_leased(watch_plugin *w, const watch_box *b, const json_t *batch);

/* watch_limits.c: fixed-window counters */
watch_limits *watch_limits_new(void);
void watch_limits_free(watch_limits *l);
/* Counts one hit of `key`; true when it is over `limit` in the window. */
bool watch_limit_hit(watch_limits *l, const char *key, long long limit, int64_t window_ms,
                     int64_t now);

/* watch_links.c: a dataset's page on the portal (the "on Vigía" link) */
void watch_dataset_link(const watch_plugin *w, const char *portal, const char *id, char *out,
                        size_t n);

/* watch_subs.c: a subscription request, validated and stored */
typedef struct watch_sub_req {
    const char *type, *portal, *id, *org, *q, *status; /* the target */
    char kinds[512];                                   /* ",down,recovered," ("" = unchanged) */
    const char *delivery, *lang, *tz, *quiet;
    bool quiet_set; /* quiet_hours present (null clears them) */
    int min_severity;
    watch_sched sched, qs;
} watch_sub_req;

typedef struct watch_err {
    char msg[256]; /* "field: what was expected" */
} watch_err;

int watch_sub_read_target(const json_t *t, watch_sub_req *r, watch_err *e);
/* The editable preferences present in `b`; `create` fills the defaults. */
int watch_sub_read_prefs(watch_plugin *w, const json_t *b, watch_sub_req *r, bool create,
                         watch_err *e);
/* Subscriber (channel, address) and one subscription in one transaction; not
 * `confirmed`: expires unless confirmed, and its confirmation is queued. */
int watch_sub_store(watch_plugin *w, const char *channel, const char *address,
                    const watch_sub_req *r, bool confirmed, int64_t *subscriber,
                    int64_t *subscription);
/* A fresh token, stored only as its hash. Caller holds w->db.mu. */
int watch_token_store(watch_plugin *w, int64_t subscriber, int64_t subscription,
                      const char *purpose, int64_t expires, char tok[44]);
/* Erases a subscriber and all of it, by (channel, address) or, with channel
 * NULL, by id. Rows erased (0 or 1), <0 on a store error. */
long watch_erase_subscriber(watch_plugin *w, const char *channel, const char *address, int64_t id);

/* watch_channels.c: the methods channel plugins call */
int watch_channels_register(watch_plugin *w);

/* watch_http.c, watch_feeds.c: routes */
int watch_http_register(watch_plugin *w);
int watch_feeds_register(watch_plugin *w);

#endif
