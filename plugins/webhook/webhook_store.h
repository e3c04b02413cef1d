/* webhook: the endpoint table in the server's database (own connection). */
#ifndef WEBHOOK_STORE_H
#define WEBHOOK_STORE_H

#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>

#include "webhook.h"

typedef struct webhook_store {
    sqlite3 *db;
    pthread_mutex_t mu;
} webhook_store;

/* What a delivery needs of an endpoint. */
typedef struct webhook_ep {
    char id[32];
    char url[2048];
    int format;
    char lang[4];
    char secret[WEBHOOK_SECRET_MAX];
    char prev_secret[WEBHOOK_SECRET_MAX]; /* "" when none */
    int64_t prev_until_ms;
    int64_t owner;            /* 0: the operator; else the watch subscriber who made it */
    int64_t disabled_ms;      /* 0 when enabled */
    int64_t failing_since_ms; /* 0 when the last try went through */
} webhook_ep;

int webhook_store_open(webhook_store *s, const char *path, char *err, size_t errn);
void webhook_store_close(webhook_store *s);

/* 0, -ENOENT, -EIO. */
int webhook_store_get(webhook_store *s, const char *id, webhook_ep *out);
int webhook_store_insert(webhook_store *s, const webhook_ep *ep, int64_t now);
int webhook_store_delete(webhook_store *s, const char *id);
/* New secret; the old one keeps signing too until `prev_until`. */
int webhook_store_rotate(webhook_store *s, const char *id, const char *secret, int64_t prev_until);
/* Re-enable a disabled endpoint (clears the failure record). */
int webhook_store_enable(webhook_store *s, const char *id);
/* The outcome of one try. `http_status` 0 when there was no answer. On a
 * failure *failing_since gets the start of the current run of failures. */
int webhook_store_outcome(webhook_store *s, const char *id, int ok, int http_status,
                          const char *error, int64_t now, int64_t *failing_since);
int webhook_store_disable(webhook_store *s, const char *id, const char *reason, int64_t now);

/* The public view (no secret) of one endpoint, or NULL when absent. */
json_t *webhook_store_view(webhook_store *s, const char *id);
/* All endpoints (owner < 0) or one owner's, as public views. */
json_t *webhook_store_list(webhook_store *s, int64_t owner);
/* Endpoints by state: total, disabled, failing. */
int webhook_store_counts(webhook_store *s, int64_t *total, int64_t *disabled, int64_t *failing);

#endif
