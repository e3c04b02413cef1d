/* Vigía public SDK: a delivery channel in one function (works with ABI 1.2+).
 *
 * A channel carries the watch plugin's outbox rows to people (e-mail, Web
 * Push, webhooks, ...; contract/delivery.h). All a channel has to write is
 * how to send one message; this helper does the rest the same way for every
 * channel: it subscribes to delivery.requested and keeps the rows whose
 * `channel` is its name and which carry a key, queues each on a work queue
 * (workq.h) from the bus thread without blocking, calls `send` once on a
 * worker, publishes delivery.result from what `send` returned, and counts.
 *
 *     static int send(vg_channel_msg *m, void *user)
 *     {
 *         if (post(m->to, m->payload, vg_job_deadline_ms(m->job)) < 0)
 *             return vg_channel_say(m, VG_CHANNEL_RETRY, "%s: timeout", m->to);
 *         return VG_CHANNEL_SENT;
 *     }
 *     ...in init:
 *     vg_channel_opts o = VG_CHANNEL_OPTS_INIT;
 *     o.threads = 2;
 *     rc = vg_channel_register(host, "sms", send, st, &o, &st->ch);
 *     ...in destroy:
 *     vg_channel_free(st->ch);
 *
 * What `send` returns (the contract's statuses, delivery.h):
 *   VG_CHANNEL_SENT    delivered
 *   VG_CHANNEL_RETRY   temporary: the outbox backs off (m->retry_after_ms, when
 *                      > 0, is the delay the far side asked for)
 *   VG_CHANNEL_FAILED  permanent: the row is dead-lettered
 *   VG_CHANNEL_GONE    the address no longer exists: the subscriber is erased
 * with a reason in m->error for anything but SENT (vg_channel_say writes it).
 * `send` runs on a worker thread and may block; it uses m->job for
 * vg_job_cancelled() and vg_job_deadline_ms() (the stop budget). It is never
 * called for a job cancelled at stop: the helper answers RETRY ("not sent:
 * the server is stopping") itself, so the outbox sends it after the restart.
 * A request the queue cannot take (full: RETRY after 5 s; stopping) is
 * answered the same way from the bus thread. Every outcome is logged (debug
 * when sent, warning otherwise) with the key.
 *
 * Retrying is the outbox's job: the queue runs each message once
 * (max_attempts 1). A channel that never answers (it crashed mid-send) costs
 * a retry when the outbox's lease ends.
 *
 * Lifetime: the channel lives until both the plugin (vg_channel_free, in
 * destroy or on init's failure path) and the core (which drops the plugin's
 * subscription before destroy) have let it go, and no job holds it; so
 * events that still arrive, and jobs still queued, never see freed memory.
 * vg_channel_free also stops the queue (call it, or vg_channel_stop, before
 * freeing what `send` uses). Everything here is inline over host functions
 * of ABI 1.2 (the work queue), so no newer core is needed. */
#ifndef VIGIA_CHANNEL_H
#define VIGIA_CHANNEL_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract/delivery.h"
#include "plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { VG_CHANNEL_SENT = 0, VG_CHANNEL_RETRY, VG_CHANNEL_FAILED, VG_CHANNEL_GONE };

#define VG_CHANNEL_ERROR_MAX 768

/* One message, as `send` sees it. */
typedef struct vg_channel_msg {
    const json_t *payload; /* the delivery.requested payload (borrowed) */
    const char *key;       /* its idempotency key, never empty */
    const char *to;        /* its address, "" when absent */
    int from_outbox;       /* 0 for vg_channel_submit(.., 0): no result is published */
    vg_job *job;           /* vg_job_cancelled(), vg_job_deadline_ms() */
    int64_t retry_after_ms;
    char error[VG_CHANNEL_ERROR_MAX];
} vg_channel_msg;

typedef int (*vg_channel_send_fn)(vg_channel_msg *m, void *user);

typedef struct vg_channel_opts {
    uint32_t struct_size; /* set by VG_CHANNEL_OPTS_INIT */
    int threads;          /* worker threads, 1..64 */
    int capacity;         /* messages queued or sending at once */
    int64_t drain_ms;     /* at stop; -1: half of [server] shutdown_timeout */
} vg_channel_opts;

#define VG_CHANNEL_OPTS_INIT                                                                       \
    {                                                                                              \
        .struct_size = (uint32_t)sizeof(vg_channel_opts), .threads = 2, .capacity = 1000,          \
        .drain_ms = -1                                                                             \
    }

/* Outcomes since start, by status (VG_CHANNEL_*); `refused` counts messages
 * the queue could not take (a refused outbox request is answered, and
 * counted, as a retry). */
typedef struct vg_channel_counts {
    int64_t by_status[4];
    int64_t refused;
} vg_channel_counts;

typedef struct vg_channel {
    const vg_host *host;
    char name[33];
    vg_channel_send_fn send;
    void *user;
    vg_workq *q;
    int refs; /* plugin + subscription + queued jobs; __atomic */
    vg_channel_counts counts;
} vg_channel;

typedef struct vg_channel_job_ {
    vg_channel *ch;
    json_t *payload;
    int from_outbox;
} vg_channel_job_;

/* Writes the reason and returns `status`, for `return vg_channel_say(...)`. */
static inline int vg_channel_say(vg_channel_msg *m, int status, const char *fmt, ...)
    VG_PRINTF(3, 4);
static inline int vg_channel_say(vg_channel_msg *m, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->error, sizeof m->error, fmt, ap);
    va_end(ap);
    return status;
}

static inline const char *vg_channel_status_name(int status)
{
    return status == VG_CHANNEL_SENT    ? VG_DELIVERY_SENT
           : status == VG_CHANNEL_RETRY ? VG_DELIVERY_RETRY
           : status == VG_CHANNEL_GONE  ? VG_DELIVERY_GONE
                                        : VG_DELIVERY_FAILED;
}

static inline void vg_channel_unref_(vg_channel *ch)
{
    if (ch && __atomic_sub_fetch(&ch->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(ch);
}

static inline void vg_channel_unref_cb_(void *ch) { vg_channel_unref_((vg_channel *)ch); }

static inline void vg_channel_count_(vg_channel *ch, int status)
{
    if (status < VG_CHANNEL_SENT || status > VG_CHANNEL_GONE)
        status = VG_CHANNEL_FAILED;
    __atomic_fetch_add(&ch->counts.by_status[status], 1, __ATOMIC_RELAXED);
}

static inline void vg_channel_answer_(vg_channel *ch, const char *key, int status,
                                      const char *error, int64_t retry_after_ms)
{
    int rc = vg_delivery_publish_result(ch->host->bus, key, ch->name,
                                        vg_channel_status_name(status), error, retry_after_ms);
    if (rc < 0)
        VG_WARN(ch->host, "cannot publish the result of %s (%d): the outbox will retry it", key,
                rc);
}

/* A worker: one try, one result. */
static inline int vg_channel_run_(vg_job *job, void *user)
{
    vg_channel_job_ *j = (vg_channel_job_ *)user;
    vg_channel *ch = j->ch;
    vg_channel_msg m;
    memset(&m, 0, sizeof m);
    m.payload = j->payload;
    m.key = json_string_value(json_object_get(j->payload, "key"));
    m.to = json_string_value(json_object_get(j->payload, "to"));
    if (!m.to)
        m.to = "";
    m.from_outbox = j->from_outbox;
    m.job = job;
    int status = vg_job_cancelled(job)
                     ? vg_channel_say(&m, VG_CHANNEL_RETRY, "not sent: the server is stopping")
                     : ch->send(&m, ch->user);
    if (status != VG_CHANNEL_SENT && !m.error[0])
        snprintf(m.error, sizeof m.error, "%s", "unknown error");
    vg_channel_count_(ch, status);
    if (status == VG_CHANNEL_SENT)
        VG_DEBUG(ch->host, "sent %s", m.key);
    else
        VG_WARN(ch->host, "%s %s: %s", vg_channel_status_name(status), m.key, m.error);
    if (m.from_outbox)
        vg_channel_answer_(ch, m.key, status, m.error, m.retry_after_ms);
    return VG_JOB_DONE;
}

static inline void vg_channel_job_free_(void *user)
{
    vg_channel_job_ *j = (vg_channel_job_ *)user;
    json_decref(j->payload);
    vg_channel_unref_(j->ch);
    free(j);
}

/* Queue a message for `send` from any thread (steals `payload`, which needs
 * a non-empty "key"). With from_outbox 0 no result is published (a plugin's
 * own test message). 0, -EINVAL, -ENOMEM, -EAGAIN (full), -ESHUTDOWN. */
static inline int vg_channel_submit(vg_channel *ch, json_t *payload, int from_outbox)
{
    const char *key = json_string_value(json_object_get(payload, "key"));
    vg_channel_job_ *j = key && *key ? (vg_channel_job_ *)malloc(sizeof *j) : NULL;
    if (!j) {
        json_decref(payload);
        return key && *key ? -ENOMEM : -EINVAL;
    }
    j->ch = ch;
    j->payload = payload;
    j->from_outbox = from_outbox;
    __atomic_add_fetch(&ch->refs, 1, __ATOMIC_RELAXED);
    int rc = ch->host->workq_submit(ch->q, vg_channel_run_, j, vg_channel_job_free_);
    if (rc < 0)
        __atomic_fetch_add(&ch->counts.refused, 1, __ATOMIC_RELAXED);
    return rc;
}

/* The bus thread: filter and queue, never block. */
static inline void vg_channel_on_request_(const char *topic, const json_t *payload, void *user)
{
    (void)topic;
    vg_channel *ch = (vg_channel *)user;
    const char *key = NULL;
    int mine = vg_delivery_request_key(payload, ch->name, &key);
    if (mine < 0)
        VG_WARN(ch->host, "%s without a key ignored: nobody could match its result",
                VG_DELIVERY_REQUESTED);
    if (mine <= 0)
        return;
    int rc = vg_channel_submit(ch, json_incref((json_t *)payload), 1);
    if (rc < 0) {
        char why[96];
        snprintf(why, sizeof why, "the %s channel: %s", ch->name,
                 rc == -EAGAIN      ? "queue is full"
                 : rc == -ESHUTDOWN ? "stopping"
                                    : "out of memory");
        vg_channel_count_(ch, VG_CHANNEL_RETRY);
        vg_channel_answer_(ch, key, VG_CHANNEL_RETRY, why, rc == -EAGAIN ? 5000 : 0);
    }
}

/* Called from init. Creates the queue (named after the channel) and
 * subscribes; `name` is the channel (1..32 of [a-z0-9_-], the `channel` of
 * the requests it takes). `opts` may be NULL (VG_CHANNEL_OPTS_INIT). 0 with
 * *out set, or a negative errno with the reason recorded (host->fail). */
static inline int vg_channel_register(const vg_host *host, const char *name,
                                      vg_channel_send_fn send, void *user,
                                      const vg_channel_opts *opts, vg_channel **out)
{
    vg_channel_opts def = VG_CHANNEL_OPTS_INIT;
    const vg_channel_opts *o = opts ? opts : &def;
    *out = NULL;
    if (!send || !name || !*name || strlen(name) >= sizeof(((vg_channel *)0)->name))
        return host->fail(host, "vg_channel_register: a send function and a name of 1..32 bytes");
    vg_channel *ch = (vg_channel *)calloc(1, sizeof *ch);
    if (!ch)
        return host->fail(host, "out of memory");
    ch->host = host;
    snprintf(ch->name, sizeof ch->name, "%s", name);
    ch->send = send;
    ch->user = user;
    ch->refs = 2; /* the plugin's and the subscription's */
    vg_workq_opts wo = VG_WORKQ_OPTS_INIT;
    wo.threads = o->threads;
    wo.capacity = o->capacity;
    wo.submit_wait_ms = 0; /* submitted from the bus thread */
    wo.max_attempts = 1;   /* one try: the outbox retries */
    wo.drain_ms = o->drain_ms >= 0 ? o->drain_ms : host->shutdown_timeout_ms(host) / 2;
    int rc = host->workq_create(host, name, &wo, &ch->q);
    if (rc < 0) {
        free(ch);
        return rc; /* workq_create recorded why */
    }
    /* The subscription's reference goes with it (user_free runs on failure too). */
    rc = vg_bus_subscribe(host->bus, VG_DELIVERY_REQUESTED, vg_channel_on_request_, ch,
                          vg_channel_unref_cb_, NULL);
    if (rc < 0) {
        host->workq_stop(ch->q);
        vg_channel_unref_(ch);
        return host->fail(host, "cannot subscribe to %s (%d)", VG_DELIVERY_REQUESTED, rc);
    }
    *out = ch;
    return 0;
}

/* vg_channel_register with the two sizes every channel reads from its
 * section ("threads", "queue"), the rest as VG_CHANNEL_OPTS_INIT. */
static inline int vg_channel_register_sized(const vg_host *host, const char *name,
                                            vg_channel_send_fn send, void *user, long long threads,
                                            long long capacity, vg_channel **out)
{
    vg_channel_opts o = VG_CHANNEL_OPTS_INIT;
    o.threads = (int)threads;
    o.capacity = (int)capacity;
    return vg_channel_register(host, name, send, user, &o, out);
}

/* Stops the queue: queued messages drain for drain_ms, the rest are answered
 * RETRY. May be called again; the core does it anyway before destroy. */
static inline void vg_channel_stop(vg_channel *ch)
{
    if (ch)
        ch->host->workq_stop(ch->q);
}

/* The outcomes so far (any thread). */
static inline vg_channel_counts vg_channel_get_counts(vg_channel *ch)
{
    vg_channel_counts c;
    for (int i = 0; i < 4; i++)
        c.by_status[i] = __atomic_load_n(&ch->counts.by_status[i], __ATOMIC_RELAXED);
    c.refused = __atomic_load_n(&ch->counts.refused, __ATOMIC_RELAXED);
    return c;
}

/* Stops the queue and drops the plugin's hold (NULL is fine). */
static inline void vg_channel_free(vg_channel *ch)
{
    if (!ch)
        return;
    vg_channel_stop(ch);
    vg_channel_unref_(ch);
}

#ifdef __cplusplus
}
#endif

#endif /* VIGIA_CHANNEL_H */
