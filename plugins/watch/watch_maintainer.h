/* Maintainers' alerts (watch_maintainer.c, watch_maint_optout.c): a dataset
 * down longer than maintainer_after is told to its CKAN maintainer (or
 * author), with reminders, an escalation address per portal and a recovery
 * notice; off by default, per portal. Its own tables and its own small
 * outbox (the maintainer is nobody's subscriber). */
#ifndef WATCH_MAINTAINER_H
#define WATCH_MAINTAINER_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "watch.h"

typedef struct watch_plugin watch_plugin;
typedef struct vg_host vg_host;
typedef struct vg_config vg_config;
typedef struct vg_http_request vg_http_request;

typedef struct watch_maint_portal {
    char *name;
    bool on;
    const char *escalate_to; /* "" : none (the core's copy of the INI) */
} watch_maint_portal;

typedef struct watch_maint {
    bool any_on;
    int64_t after_ms, reminder_ms, escalate_ms;
    long long max_reminders;
    bool default_on;
    const char *default_escalate;
    watch_maint_portal *p;
    size_t np;
    /* events from the bus thread, drained by one job */
    pthread_mutex_t mu;
    json_t *inbox;
    bool drain_queued;
    atomic_bool tick_queued;
    int64_t last_scan, last_house;
} watch_maint;

/* Reads the maintainer_* keys of [watch] and each [watch:<portal>]; with
 * out NULL it only checks (--check-config). 0 or -EINVAL. */
int watch_maint_config(const vg_host *h, const vg_config *watch_sec, watch_maint **out);
void watch_maint_free(watch_maint *m);
/* Tables, bus subscriptions (only when some portal has it on), the opt-out
 * route. From init. */
int watch_maint_init(watch_plugin *w);
/* The ticker's nudge: scans long-down datasets, sends what is due. */
void watch_maint_kick(watch_plugin *w);
/* A delivery.result key of a maintainers' message ("maint-..."). */
bool watch_maint_key(const char *key);
/* The maintainers' outbox table (watch_maint_msg), for watch_box_*. */
extern const watch_box watch_maint_box;

/* watch_maint_optout.c */
int watch_maint_optout_register(watch_plugin *w);
/* SHA-256 hex of the lower-cased address: what the do-not-mail list keeps. */
void watch_maint_addr_hash(const char *addr, char hash[65]);

#endif
