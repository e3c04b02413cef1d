/* cluster plugin: the Redis connections. The publisher thread owns one
 * (its queue pipelined: method requests and replies, session states; the
 * method announcements on a tick); the subscriber thread owns another
 * (SUBSCRIBE to the events channel and this node's own channel); events go
 * out on a third (cluster_evlink.c). Any one failing marks the link down: events are then counted
 * as lost instead of queued (at most once, never replayed), calls waiting for a reply fail, and
 * both threads reconnect with a doubling backoff up to reconnect_max. */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"

#define TICK_MS 1000
#define CONNECT_MS 1000

static void deadline_in(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Wait on cv up to ms unless stopping; caller holds mu. */
static void wait_locked(cluster_state *st, int64_t ms)
{
    struct timespec dl;
    deadline_in(&dl, ms);
    if (!st->stopping)
        pthread_cond_timedwait(&st->cv, &st->mu, &dl);
}

bool cluster_link_up(cluster_state *st)
{
    pthread_mutex_lock(&st->mu);
    bool up = CLUSTER_UP(st);
    pthread_mutex_unlock(&st->mu);
    return up;
}

void cluster_link_health(cluster_state *st)
{
    const vg_host *h = st->host;
    if (h->struct_size < offsetof(vg_host, health_note) + sizeof h->health_note || !h->health_note)
        return;
    char msg[600];
    pthread_mutex_lock(&st->mu);
    bool up = CLUSTER_UP(st);
    snprintf(msg, sizeof msg, "redis %.64s:%d unreachable (%.120s); %llu events not forwarded",
             st->url.host, st->url.port, st->last_error[0] ? st->last_error : "connecting",
             (unsigned long long)st->ev_lost);
    pthread_mutex_unlock(&st->mu);
    h->health_note(h, up ? NULL : msg);
}

void cluster_link_set_state(cluster_state *st, bool *flag, bool up, const char *why)
{
    pthread_mutex_lock(&st->mu);
    bool was = CLUSTER_UP(st);
    *flag = up;
    if (why)
        snprintf(st->last_error, sizeof st->last_error, "%s", why);
    bool now = CLUSTER_UP(st);
    if (!was && now)
        st->reconnects++;
    if (!up) /* the publisher sleeps between ticks: let it check its own connection now */
        pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
    if (was && !now) {
        VG_WARN(st->host, "redis link down: %s", why ? why : "?");
        cluster_methods_fail_pending(st);
    } else if (!was && now) {
        VG_INFO(st->host, "redis link up (%s:%d)", st->url.host, st->url.port);
    }
    cluster_link_health(st);
}

/* Connect, authenticate, select the database. NULL with why filled. */
void *cluster_link_connect(cluster_state *st, char *why, size_t n)
{
    redisContext *c;
    if (st->url.tls) {
        /* Our TLS, hiredis on a socketpair (cluster_tls.h); the handshake
         * keeps to the same connect timeout. */
        int fd = cluster_tls_connect(&st->tls, st->url.host, st->url.port, CONNECT_MS, why, n);
        if (fd < 0)
            return NULL;
        c = redisConnectFd(fd);
        if (!c)
            close(fd);
    } else {
        struct timeval tv = {CONNECT_MS / 1000, 0};
        c = redisConnectWithTimeout(st->url.host, st->url.port, tv);
    }
    if (!c || c->err) {
        snprintf(why, n, "connect: %s", c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        return NULL;
    }
    struct timeval io = {2, 0};
    redisSetTimeout(c, io);
    if (!st->url.tls) /* TCP options: on TLS the relay's socket has them */
        redisEnableKeepAlive(c);
    redisReply *r = NULL;
    if (st->url.password[0]) {
        if (st->url.user[0])
            r = redisCommand(c, "AUTH %s %s", st->url.user, st->url.password);
        else
            r = redisCommand(c, "AUTH %s", st->url.password);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            snprintf(why, n, "AUTH: %s", r ? r->str : c->errstr);
            goto fail;
        }
        freeReplyObject(r);
    }
    if (st->url.db) {
        r = redisCommand(c, "SELECT %d", st->url.db);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            snprintf(why, n, "SELECT: %s", r ? r->str : c->errstr);
            goto fail;
        }
        freeReplyObject(r);
    }
    return c;
fail:
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return NULL;
}

int64_t cluster_link_next_backoff(const cluster_state *st, int64_t cur)
{
    int64_t n = cur ? cur * 2 : 100;
    return n > st->reconnect_max_ms ? st->reconnect_max_ms : n;
}

/* An own event that did not reach Redis: counted lost, and still delivered
 * to this node's broker (the envelope is ours, so it parses). */
void cluster_link_out_failed(cluster_state *st, cluster_out *o)
{
    if (o->kind != OUT_EVENT || !o->msg || st->replay_max <= 0)
        return; /* without the log the broker took it when it was published */
    json_t *env = json_loads(o->msg, 0, NULL); /* json-own-data */
    const char *topic = json_string_value(json_object_get(env, "t"));
    json_t *payload = json_object_get(env, "p");
    if (topic && json_is_object(payload))
        cluster_replay_local(st, topic, payload, 0);
    json_decref(env);
}

static void out_free(cluster_out *o)
{
    free(o->channel);
    free(o->msg);
    free(o);
}

/* Take what is queued (the link is down): events count as lost; the list is
 * handed back so that the caller delivers them locally without mu. */
static cluster_out *drop_queue_locked(cluster_state *st)
{
    cluster_out *list = st->out_head;
    for (cluster_out *o = list; o; o = o->next)
        if (o->is_event)
            st->ev_lost++;
    st->out_head = st->out_tail = NULL;
    st->out_len = 0;
    return list;
}

static void fail_list(cluster_state *st, cluster_out *list)
{
    while (list) {
        cluster_out *o = list;
        list = o->next;
        cluster_link_out_failed(st, o);
        out_free(o);
    }
}

static int append_command(cluster_state *st, redisContext *c, cluster_out *o)
{
    switch (o->kind) {
    case OUT_EVENT:
        return cluster_replay_append(st, c, o->msg);
    case OUT_SET:
        return o->px > 0 ? redisAppendCommand(c, "SET %s %s PX %lld", o->channel, o->msg, o->px)
                         : redisAppendCommand(c, "SET %s %s", o->channel, o->msg);
    case OUT_DEL:
        return redisAppendCommand(c, "DEL %s", o->channel);
    default:
        return redisAppendCommand(c, "PUBLISH %s %s", o->channel, o->msg);
    }
}

#define PIPELINE_MAX 256

/* Send a batch pipelined (one write, one wake-up for many), then read the
 * replies in order. false when the connection failed. */
static bool send_batch(cluster_state *st, redisContext *c, cluster_out *batch, char *why,
                       size_t whyn)
{
    int n = 0;
    for (cluster_out *o = batch; o; o = o->next, n++)
        if (append_command(st, c, o) != REDIS_OK)
            break;
    bool conn_ok = true;
    int k = 0;
    uint64_t fwd = 0, lost = 0;
    for (cluster_out *o = batch; o; o = o->next, k++) {
        redisReply *r = NULL;
        bool ok = conn_ok && k < n && redisGetReply(c, (void **)&r) == REDIS_OK && r &&
                  r->type != REDIS_REPLY_ERROR;
        if (!ok && conn_ok) {
            snprintf(why, whyn, "%s: %s", o->kind == OUT_EVENT ? "XADD/PUBLISH" : "command",
                     r && r->type == REDIS_REPLY_ERROR ? r->str : c->errstr);
            if (c->err)
                conn_ok = false;
        }
        if (r)
            freeReplyObject(r);
        if (o->is_event) {
            if (ok)
                fwd++;
            else
                lost++;
        }
        if (!ok)
            cluster_link_out_failed(st, o);
    }
    pthread_mutex_lock(&st->mu);
    st->ev_forwarded += fwd;
    st->ev_lost += lost;
    pthread_mutex_unlock(&st->mu);
    return conn_ok && !c->err;
}

/* The publisher reads only replies it asked for, so an idle connection that turns readable
 * was closed by the server (Redis restarted): without this check the node would report the
 * link up until its next command failed, after the other links had come back. */
static bool closed_while_idle(const redisContext *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    return poll(&p, 1, 0) > 0;
}

static void *pub_main(void *arg)
{
    cluster_state *st = arg;
    redisContext *c = NULL;
    int64_t backoff = 0;
    int64_t next_tick = 0;
    char why[200];
    bool idle = false; /* it waited with nothing to send since it last used c */
    pthread_mutex_lock(&st->mu);
    while (!st->stopping) {
        if (c && idle && closed_while_idle(c)) {
            redisFree(c);
            c = NULL;
            pthread_mutex_unlock(&st->mu);
            cluster_link_set_state(st, &st->pub_up, false, "closed by the server");
            pthread_mutex_lock(&st->mu);
        }
        idle = false;
        if (!c) {
            pthread_mutex_unlock(&st->mu);
            c = cluster_link_connect(st, why, sizeof why);
            if (c) {
                backoff = 0;
                next_tick = 0;
                pthread_mutex_lock(&st->mu);
                st->pub_connected_at = st->host->now_mono_ms(st->host);
                pthread_mutex_unlock(&st->mu);
                cluster_link_set_state(st, &st->pub_up, true, NULL);
            } else {
                cluster_link_set_state(st, &st->pub_up, false, why);
            }
            pthread_mutex_lock(&st->mu);
            if (!c) {
                cluster_out *dropped = drop_queue_locked(st);
                pthread_mutex_unlock(&st->mu);
                fail_list(st, dropped);
                pthread_mutex_lock(&st->mu);
                backoff = cluster_link_next_backoff(st, backoff);
                wait_locked(st, backoff);
                continue;
            }
        }
        int64_t now = st->host->now_mono_ms(st->host);
        if (now >= next_tick) {
            pthread_mutex_unlock(&st->mu);
            int rc = cluster_methods_tick(st, c);
            if (rc == 0)
                rc = cluster_lease_tick(st, c);
            if (rc == 0)
                rc = cluster_clients_tick(st, c);
            pthread_mutex_lock(&st->mu);
            next_tick = now + TICK_MS;
            if (rc < 0) {
                snprintf(why, sizeof why, "%s", c->errstr[0] ? c->errstr : "command failed");
                redisFree(c);
                c = NULL;
                pthread_mutex_unlock(&st->mu);
                cluster_link_set_state(st, &st->pub_up, false, why);
                pthread_mutex_lock(&st->mu);
                continue;
            }
        }
        cluster_out *batch = st->out_head;
        if (!batch) {
            wait_locked(st, next_tick - now > 0 ? next_tick - now : 1);
            idle = true;
            continue;
        }
        cluster_out *last = batch;
        int n = 1;
        while (last->next && n < PIPELINE_MAX) {
            last = last->next;
            n++;
        }
        st->out_head = last->next;
        if (!st->out_head)
            st->out_tail = NULL;
        last->next = NULL;
        st->out_len -= n;
        pthread_mutex_unlock(&st->mu);
        bool ok = send_batch(st, c, batch, why, sizeof why);
        while (batch) {
            cluster_out *o = batch;
            batch = o->next;
            out_free(o);
        }
        if (!ok) {
            redisFree(c);
            c = NULL;
            cluster_link_set_state(st, &st->pub_up, false, why);
        }
        pthread_mutex_lock(&st->mu);
    }
    cluster_out *dropped = drop_queue_locked(st);
    pthread_mutex_unlock(&st->mu);
    fail_list(st, dropped);
    if (c)
        redisFree(c);
    return NULL;
}

static void handle_message(cluster_state *st, redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3)
        return;
    redisReply *kind = r->element[0], *ch = r->element[1], *data = r->element[2];
    if (kind->type != REDIS_REPLY_STRING || strcmp(kind->str, "message") != 0 ||
        ch->type != REDIS_REPLY_STRING || data->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(ch->str, st->ch_events) == 0)
        cluster_events_incoming(st, data->str, data->len);
    else if (strcmp(ch->str, st->ch_self) == 0)
        cluster_methods_incoming(st, data->str, data->len);
}

static bool stopping(cluster_state *st)
{
    pthread_mutex_lock(&st->mu);
    bool s = st->stopping;
    pthread_mutex_unlock(&st->mu);
    return s;
}

static void *sub_main(void *arg)
{
    cluster_state *st = arg;
    int64_t backoff = 0;
    char why[200];
    while (!stopping(st)) {
        redisContext *c = cluster_link_connect(st, why, sizeof why);
        redisReply *r = NULL;
        if (c) {
            r = redisCommand(c, "SUBSCRIBE %s %s", st->ch_events, st->ch_self);
            if (r)
                freeReplyObject(r);
            r = NULL;
            /* The second channel's confirmation. */
            if (c->err || redisGetReply(c, (void **)&r) != REDIS_OK) {
                snprintf(why, sizeof why, "SUBSCRIBE: %s", c->errstr);
                redisFree(c);
                c = NULL;
            }
            if (r)
                freeReplyObject(r);
        }
        if (!c) {
            cluster_link_set_state(st, &st->sub_up, false, why);
            backoff = cluster_link_next_backoff(st, backoff);
            pthread_mutex_lock(&st->mu);
            wait_locked(st, backoff);
            pthread_mutex_unlock(&st->mu);
            continue;
        }
        backoff = 0;
        cluster_link_set_state(st, &st->sub_up, true, NULL);
        while (!stopping(st)) {
            void *reply = NULL;
            if (redisGetReplyFromReader(c, &reply) != REDIS_OK) {
                snprintf(why, sizeof why, "read: %s", c->errstr);
                break;
            }
            if (reply) {
                handle_message(st, reply);
                freeReplyObject(reply);
                continue;
            }
            struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
            int n = poll(&pfd, 1, 200);
            if (n < 0 && errno != EINTR) {
                snprintf(why, sizeof why, "poll: %s", strerror(errno));
                break;
            }
            if (n > 0 && redisBufferRead(c) != REDIS_OK) {
                snprintf(why, sizeof why, "read: %s", c->errstr[0] ? c->errstr : "closed");
                break;
            }
        }
        redisFree(c);
        if (!stopping(st))
            cluster_link_set_state(st, &st->sub_up, false, why);
    }
    return NULL;
}

int cluster_link_start(cluster_state *st)
{
    int rc = cluster_evlink_start(st);
    if (rc < 0)
        return rc;
    if (pthread_create(&st->pub_thread, NULL, pub_main, st) != 0) {
        pthread_mutex_lock(&st->mu);
        st->stopping = true;
        pthread_mutex_unlock(&st->mu);
        cluster_evlink_stop(st);
        return -EAGAIN;
    }
    if (pthread_create(&st->sub_thread, NULL, sub_main, st) != 0) {
        pthread_mutex_lock(&st->mu);
        st->stopping = true;
        pthread_cond_broadcast(&st->cv);
        pthread_mutex_unlock(&st->mu);
        pthread_join(st->pub_thread, NULL);
        cluster_evlink_stop(st);
        return -EAGAIN;
    }
    st->threads_started = true;
    return 0;
}

void cluster_link_stop(cluster_state *st)
{
    pthread_mutex_lock(&st->mu);
    st->stopping = true;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
    if (st->threads_started) {
        pthread_join(st->pub_thread, NULL);
        pthread_join(st->sub_thread, NULL);
        st->threads_started = false;
    }
    cluster_evlink_stop(st);
    pthread_mutex_lock(&st->mu);
    st->pub_up = st->sub_up = st->ev_up = false;
    pthread_mutex_unlock(&st->mu);
    cluster_methods_fail_pending(st);
}

bool cluster_link_queue(cluster_state *st, int kind, const char *key, char *msg, long long px)
{
    bool is_event = kind == OUT_EVENT;
    cluster_out *o = calloc(1, sizeof *o);
    char *ch = strdup(key);
    pthread_mutex_lock(&st->mu);
    bool ok = o && ch && (msg || kind == OUT_DEL) && !st->stopping && CLUSTER_UP(st) &&
              st->out_len < st->queue_max;
    if (ok) {
        o->channel = ch;
        o->msg = msg;
        o->is_event = is_event;
        o->kind = kind;
        o->px = px;
        if (st->out_tail)
            st->out_tail->next = o;
        else
            st->out_head = o;
        st->out_tail = o;
        st->out_len++;
        pthread_cond_broadcast(&st->cv);
    } else if (is_event) {
        st->ev_lost++;
    }
    pthread_mutex_unlock(&st->mu);
    if (!ok) {
        free(o);
        free(ch);
        free(msg);
    }
    return ok;
}

bool cluster_link_send(cluster_state *st, const char *channel, char *msg, bool is_event)
{
    (void)is_event;
    return cluster_link_queue(st, OUT_PUBLISH, channel, msg, 0);
}
