/* webhook: the plugin's host-side parts (settings, HTTP client, routes). */
#ifndef WEBHOOK_PLUGIN_H
#define WEBHOOK_PLUGIN_H

#include <curl/curl.h>
#include <pthread.h>
#include <vigia/channel.h>
#include <vigia/vigia.h>

#include "webhook.h"
#include "webhook_store.h"

typedef struct webhook_settings {
    bool allow_private;   /* allow_private_webhooks */
    bool public_webhooks; /* subscribers may register endpoints with a manage link */
    vg_duration_ms disable_after, connect_timeout, timeout, rotate_grace;
    long long threads, queue, max_items, max_endpoints;
} webhook_settings;

int webhook_config_read(const vg_host *host, const vg_config *cfg, webhook_settings *s);

/* The outcome of one try, as the delivery contract names it. */
typedef enum {
    WEBHOOK_SENT = VG_CHANNEL_SENT,
    WEBHOOK_RETRY = VG_CHANNEL_RETRY,
    WEBHOOK_FAILED = VG_CHANNEL_FAILED,
    WEBHOOK_GONE = VG_CHANNEL_GONE
} webhook_status;

/* HTTP client: a pool of curl easy handles, so connections to the same
 * receiver are kept alive between deliveries. */
typedef struct webhook_client webhook_client;
webhook_client *webhook_client_new(const webhook_settings *s, const char *user_agent);
void webhook_client_free(webhook_client *c);

typedef struct webhook_post {
    const char *url;
    const char *msg_id; /* webhook-id */
    long long ts;       /* webhook-timestamp */
    const char *signature;
    const char *body;
    size_t len;
    int (*stop)(void *ctx); /* polled while waiting: non-zero aborts */
    void *ctx;
} webhook_post;

/* One POST. *http_status gets the answer's status (0: none); err the reason
 * of anything but SENT; *retry_after_ms a server's Retry-After (> 0). */
webhook_status webhook_client_post(webhook_client *c, const webhook_post *p, int *http_status,
                                   char *err, size_t errn, int64_t *retry_after_ms);
/* Check a URL when it is registered: http(s), a host, no user info, and
 * (unless private addresses are allowed) a host that does not resolve to a
 * refused address. 0, or -1 with the reason (for a 400). */
int webhook_url_check(const char *url, bool allow_private, char *err, size_t errn);

typedef struct webhook_state {
    const vg_host *host;
    webhook_settings s;
    webhook_store store;
    webhook_texts *texts;
    webhook_client *client;
    vg_channel *ch; /* queueing, answers and counts (channel.h) */
} webhook_state;

/* webhook_http.c: the management routes. */
int webhook_http_register(webhook_state *st);
/* webhook_plugin.c: queue a sample delivery to one endpoint. */
int webhook_send_test(webhook_state *st, const char *id, const char *lang);

#endif
