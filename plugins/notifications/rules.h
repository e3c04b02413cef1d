/* From bus events to notifications: which events notify, with what words,
 * and the storm (digest per sweep) and flap (min_repeat per dataset) control.
 * No host, no store: results go to an emit callback, time comes from an
 * injected monotonic clock, so the rules are unit-tested with a fake clock.
 *
 * Thread-safe: one mutex; emit runs under it (so emitted notifications keep
 * event order). emit must not call back into the rules. */
#ifndef NOTIFICATIONS_RULES_H
#define NOTIFICATIONS_RULES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "texts.h"

typedef struct nt_rules nt_rules;

/* One notification to create. `data` is stolen. */
typedef void (*nt_emit_fn)(const char *type, const char *title, const char *message, json_t *data,
                           void *ctx);
typedef int64_t (*nt_mono_fn)(void *ctx);

typedef struct nt_rules_options {
    nt_lang lang;
    long long digest_threshold; /* more changes than this in one sweep: one digest */
    int64_t min_repeat_ms;      /* a dataset is not announced more often than this */
    bool notify_modified;
    size_t max_title_bytes; /* texts are cut (at a UTF-8 boundary) to fit */
    size_t max_message_bytes;
    size_t max_data_bytes;    /* a digest's dataset lists are trimmed to fit */
    int64_t sweep_timeout_ms; /* a sweep never finished is flushed after this; 0: 1 h */
    nt_mono_fn now_ms;        /* monotonic ms; required */
    void *clock_ctx;
    nt_emit_fn emit; /* required */
    void *emit_ctx;
} nt_rules_options;

nt_rules *nt_rules_new(const nt_rules_options *opt);
void nt_rules_free(nt_rules *r);

/* Feed one bus event (payload borrowed). Cheap: no I/O besides emit. */
void nt_rules_handle(nt_rules *r, const char *topic, const json_t *payload);

/* Call about once a second: announces a flapping dataset's latest state once
 * min_repeat has passed, flushes sweeps that never finished. */
void nt_rules_tick(nt_rules *r);

/* Announce every buffered sweep now (at shutdown: changes seen are not lost
 * with the process). */
void nt_rules_flush(nt_rules *r);

typedef struct nt_rules_stats {
    long long suppressed; /* changes held back by min_repeat */
    long long digests;    /* digest notifications emitted */
    long long buffered;   /* changes waiting for their sweep to finish */
    long long tracked;    /* datasets under flap control */
} nt_rules_stats;

void nt_rules_stats_get(nt_rules *r, nt_rules_stats *out);

#endif /* NOTIFICATIONS_RULES_H */
