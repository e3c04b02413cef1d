/* webpush: the plugin's host-side parts (configuration, the VAPID key store,
 * the sender, the HTTP routes, the glue). */
#ifndef WEBPUSH_PLUGIN_H
#define WEBPUSH_PLUGIN_H

#include <pthread.h>
#include <stdbool.h>
#include <vigia/channel.h>
#include <vigia/vigia.h>

#include "webpush.h"

typedef struct wp_settings {
    const char *subject;  /* vapid_subject: mailto: or https: */
    const char *key_file; /* vapid_key_file: a PEM file; "" = the database */
    const char *home;     /* portal_url: opened for messages about several datasets */
    const char *ca_file;  /* CA bundle for the push services' TLS; "" = the system's */
    vg_duration_ms ttl, connect_timeout, timeout;
    long long threads, queue, requests_per_ip;
    bool insecure; /* allow_insecure_push_endpoints: http on loopback (tests) */
    json_t *hosts; /* push_hosts: the push services' names (owned) */
} wp_settings;

/* Read and check [webpush]; 0 or -EINVAL (every bad key reported). */
int wp_config_read(const vg_host *host, const vg_config *cfg, wp_settings *s);
void wp_settings_free(wp_settings *s);

/* The VAPID key: from key_file, else the database (made at first start).
 * NULL after host->fail / config_fail. */
EVP_PKEY *wp_keystore_load(const vg_host *host, const vg_config *cfg, const wp_settings *s);

/* The result of one try, as the delivery contract names it. */
typedef enum {
    WP_SENT = VG_CHANNEL_SENT,
    WP_RETRY = VG_CHANNEL_RETRY,
    WP_FAILED = VG_CHANNEL_FAILED,
    WP_GONE = VG_CHANNEL_GONE
} wp_status;

/* Sends to push services: one curl handle kept per push-service origin (and
 * its VAPID header, renewed before it expires), so each service sees one
 * reused connection (HTTP/2 when it offers it). Thread-safe. */
typedef struct wp_sender wp_sender;
wp_sender *wp_sender_new(EVP_PKEY *key, const char *pub64, const wp_settings *s);
void wp_sender_free(wp_sender *x);
/* Polled while a transfer runs: non-zero aborts it (the queue is stopping). */
typedef struct wp_abort {
    int (*stop)(void *ctx);
    void *ctx;
} wp_abort;
/* One POST of the encrypted message. `now_s` is wall time (the JWT's exp),
 * `budget_ms` caps the transfer. err gets the service's status and reason. */
wp_status wp_send(wp_sender *x, const wp_sub *sub, const wp_message *m, int64_t now_s,
                  int64_t budget_ms, const wp_abort *ab, char *err, size_t errn,
                  int64_t *retry_after_ms);

/* The routes: GET /api/push/vapid-public-key, POST and DELETE
 * /api/push/subscriptions. */
typedef struct wp_http wp_http;
int wp_http_register(const vg_host *host, const wp_settings *s, const char *pub64);

#endif
