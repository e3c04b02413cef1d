/* email: the plugin's host-side parts (configuration, SMTP, the glue). */
#ifndef EMAIL_PLUGIN_H
#define EMAIL_PLUGIN_H

#include <curl/curl.h>
#include <pthread.h>
#include <vigia/channel.h>
#include <vigia/vigia.h>

#include "email.h"

typedef struct email_settings {
    const char *url;  /* smtp://host:port or smtps://host:port */
    int use_tls;      /* 0 try, 1 required, 2 none (smtp:// only) */
    const char *helo; /* EHLO name ("" = libcurl's default) */
    const char *username;
    char *password; /* from password or password_file; owned */
    const char *from;
    const char *from_name;
    const char *envelope_from;
    const char *ca_file;
    bool tls_verify;
    const char *templates_dir;
    vg_duration_ms connect_timeout, timeout, keepalive;
    long long threads, queue, max_items;
} email_settings;

/* Read and check [email]; 0 or -EINVAL (reason recorded by the host). */
int email_config_read(const vg_host *host, const vg_config *cfg, email_settings *s);
void email_settings_free(email_settings *s);

/* The result of one try, as the delivery contract names it. */
typedef enum {
    EMAIL_SENT = VG_CHANNEL_SENT,
    EMAIL_RETRY = VG_CHANNEL_RETRY,
    EMAIL_FAILED = VG_CHANNEL_FAILED
} email_status;

/* SMTP sessions: one curl easy handle per worker, kept between messages so
 * libcurl reuses the connection. */
typedef struct email_smtp email_smtp;
email_smtp *email_smtp_new(const email_settings *s);
void email_smtp_free(email_smtp *m);
/* Cut every transfer still running `ms` from now (the queue's stop budget). */
void email_smtp_stop_in(email_smtp *m, int64_t ms);
/* Send one message (wire form) to `to` and classify the outcome. `deadline`
 * (monotonic ms, INT64_MAX for none) caps the transfer, and so does `ab`
 * (below): libcurl's own timeout does not always cut a wait for an SMTP
 * reply, so the transfer is also aborted from its progress callback. err gets the server's reply
 * (code and text) or libcurl's reason. *retry_after_ms is set (>0) when there is a reason. */
/* Polled while a transfer waits (about once a second): non-zero aborts it
 * (the work queue's stop budget has ended); now_ms gives monotonic ms. */
typedef struct email_abort {
    int (*stop)(void *ctx);
    int64_t (*now_ms)(void *ctx);
    void *ctx;
} email_abort;
email_status email_smtp_send(email_smtp *m, const char *to, const char *msg, size_t len,
                             const email_abort *ab, int64_t deadline, char *err, size_t errn,
                             int64_t *retry_after_ms);

#endif
