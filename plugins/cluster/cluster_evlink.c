/* cluster plugin: the events connection. A shared event is written to Redis
 * by the bus thread itself, as one non-blocking send() on a connection used
 * only for events, instead of being handed to the publisher thread (one
 * thread wake-up less on every cross-node hop). The bus thread never waits:
 * what the socket does not take at once is kept in ev_out, and this file's
 * thread writes it when the socket drains. That thread also reads the
 * replies, in order, against the events sent (ev_head): an error reply or a
 * broken connection counts the event lost and hands it to the local broker,
 * as the publisher did. Order per node is the bus's: one writer. */
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster.h"

/* Caller holds ev_mu: write what ev_out holds. false on a socket error. */
static bool flush_locked(cluster_state *st)
{
    while (st->ev_out_len) {
        ssize_t n = send(st->ev_fd, st->ev_out, st->ev_out_len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        memmove(st->ev_out, st->ev_out + n, st->ev_out_len - (size_t)n);
        st->ev_out_len -= (size_t)n;
    }
    return true;
}

static bool out_append_locked(cluster_state *st, const char *p, size_t n)
{
    if (st->ev_out_len + n > st->ev_out_cap) {
        size_t cap = st->ev_out_cap ? st->ev_out_cap : 65536;
        while (cap < st->ev_out_len + n)
            cap *= 2;
        char *b = realloc(st->ev_out, cap);
        if (!b)
            return false;
        st->ev_out = b;
        st->ev_out_cap = cap;
    }
    memcpy(st->ev_out + st->ev_out_len, p, n);
    st->ev_out_len += n;
    return true;
}

bool cluster_evlink_send(cluster_state *st, char *msg)
{
    cluster_out *o = msg ? calloc(1, sizeof *o) : NULL;
    char *cmd = NULL;
    int len = -1;
    if (o) {
        o->msg = msg;
        o->kind = OUT_EVENT;
        o->is_event = true;
        len = st->replay_max > 0
                  ? redisFormatCommand(&cmd, "EVALSHA %s 2 %s %s:cut %s %lld %lld %s", st->log_sha,
                                       st->key_log, st->key_log, msg, st->replay_max,
                                       st->replay_bytes, st->ch_events)
                  : redisFormatCommand(&cmd, "PUBLISH %s %s", st->ch_events, msg);
    }
    bool ok = false, wake = false;
    pthread_mutex_lock(&st->mu); /* our own events come back only while subscribed */
    bool up = CLUSTER_UP(st) && !st->stopping;
    pthread_mutex_unlock(&st->mu);
    pthread_mutex_lock(&st->ev_mu);
    if (up && len > 0 && st->ev_fd >= 0 && st->ev_up_local && st->ev_inflight < st->queue_max) {
        bool had = st->ev_out_len > 0;
        ok = out_append_locked(st, cmd, (size_t)len) && flush_locked(st);
        if (ok) {
            if (st->ev_tail)
                st->ev_tail->next = o;
            else
                st->ev_head = o;
            st->ev_tail = o;
            st->ev_inflight++;
            wake = !had && st->ev_out_len > 0; /* the thread now also waits to write */
        }
    }
    pthread_mutex_unlock(&st->ev_mu);
    if (cmd)
        redisFreeCommand(cmd);
    if (wake) {
        uint64_t one = 1;
        (void)!write(st->ev_wake, &one, sizeof one);
    }
    if (!ok) {
        pthread_mutex_lock(&st->mu);
        st->ev_lost++;
        pthread_mutex_unlock(&st->mu);
        free(o);
        free(msg);
    }
    return ok;
}

/* The connection broke or stops: whatever is unanswered is lost. */
static void fail_all(cluster_state *st)
{
    pthread_mutex_lock(&st->ev_mu);
    cluster_out *list = st->ev_head;
    st->ev_head = st->ev_tail = NULL;
    st->ev_inflight = 0;
    st->ev_out_len = 0;
    st->ev_fd = -1;
    st->ev_up_local = false;
    pthread_mutex_unlock(&st->ev_mu);
    uint64_t lost = 0;
    while (list) {
        cluster_out *o = list;
        list = o->next;
        lost++;
        cluster_link_out_failed(st, o);
        free(o->msg);
        free(o);
    }
    pthread_mutex_lock(&st->mu);
    st->ev_lost += lost;
    pthread_mutex_unlock(&st->mu);
}

static bool stopping(cluster_state *st)
{
    pthread_mutex_lock(&st->mu);
    bool s = st->stopping;
    pthread_mutex_unlock(&st->mu);
    return s;
}

/* One reply: the oldest event sent gets it. */
static void on_reply(cluster_state *st, redisReply *r)
{
    pthread_mutex_lock(&st->ev_mu);
    cluster_out *o = st->ev_head;
    if (o) {
        st->ev_head = o->next;
        if (!st->ev_head)
            st->ev_tail = NULL;
        st->ev_inflight--;
    }
    pthread_mutex_unlock(&st->ev_mu);
    if (!o)
        return;
    bool ok = r->type != REDIS_REPLY_ERROR;
    if (!ok) {
        VG_WARN(st->host, "an event was not logged: %s", r->str);
        if (strncmp(r->str, "NOSCRIPT", 8) == 0) {
            pthread_mutex_lock(&st->ev_mu);
            st->ev_up_local = false; /* the script was flushed: reconnect and load it */
            pthread_mutex_unlock(&st->ev_mu);
        }
        cluster_link_out_failed(st, o);
    }
    pthread_mutex_lock(&st->mu);
    if (ok)
        st->ev_forwarded++;
    else
        st->ev_lost++;
    pthread_mutex_unlock(&st->mu);
    free(o->msg);
    free(o);
}

static void *ev_main(void *arg)
{
    cluster_state *st = arg;
    int64_t backoff = 0;
    char why[200];
    while (!stopping(st)) {
        redisContext *c = cluster_link_connect(st, why, sizeof why);
        if (c && cluster_replay_connected(st, c) < 0) {
            snprintf(why, sizeof why, "SCRIPT LOAD: %s", c->errstr[0] ? c->errstr : "refused");
            redisFree(c);
            c = NULL;
        }
        if (c) {
            int fl = fcntl(c->fd, F_GETFL);
            if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) < 0) {
                snprintf(why, sizeof why, "fcntl: %s", strerror(errno));
                redisFree(c);
                c = NULL;
            }
        }
        if (!c) {
            cluster_link_set_state(st, &st->ev_up, false, why);
            backoff = cluster_link_next_backoff(st, backoff);
            for (int64_t t = 0; t < backoff && !stopping(st); t += 50)
                poll(NULL, 0, 50);
            continue;
        }
        backoff = 0;
        pthread_mutex_lock(&st->ev_mu);
        st->ev_fd = c->fd;
        st->ev_up_local = true;
        pthread_mutex_unlock(&st->ev_mu);
        cluster_link_set_state(st, &st->ev_up, true, NULL);
        snprintf(why, sizeof why, "closed");
        while (!stopping(st)) {
            void *reply = NULL;
            if (redisGetReplyFromReader(c, &reply) != REDIS_OK) {
                snprintf(why, sizeof why, "read: %s", c->errstr);
                break;
            }
            if (reply) {
                on_reply(st, reply);
                freeReplyObject(reply);
                continue;
            }
            pthread_mutex_lock(&st->ev_mu);
            bool up = st->ev_up_local;
            short ev = POLLIN | (st->ev_out_len ? POLLOUT : 0);
            pthread_mutex_unlock(&st->ev_mu);
            if (!up) {
                snprintf(why, sizeof why, "reloading the log script");
                break;
            }
            struct pollfd p[2] = {{.fd = c->fd, .events = ev},
                                  {.fd = st->ev_wake, .events = POLLIN}};
            int n = poll(p, 2, 200);
            if (n < 0 && errno != EINTR) {
                snprintf(why, sizeof why, "poll: %s", strerror(errno));
                break;
            }
            if (n <= 0)
                continue;
            if (p[1].revents & POLLIN) {
                uint64_t v;
                (void)!read(st->ev_wake, &v, sizeof v);
            }
            if (p[0].revents & POLLOUT) {
                pthread_mutex_lock(&st->ev_mu);
                bool ok = flush_locked(st);
                pthread_mutex_unlock(&st->ev_mu);
                if (!ok) {
                    snprintf(why, sizeof why, "write: %s", strerror(errno));
                    break;
                }
            }
            if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) && redisBufferRead(c) != REDIS_OK) {
                snprintf(why, sizeof why, "read: %s", c->errstr[0] ? c->errstr : "closed");
                break;
            }
        }
        fail_all(st);
        redisFree(c);
        if (!stopping(st))
            cluster_link_set_state(st, &st->ev_up, false, why);
    }
    return NULL;
}

int cluster_evlink_start(cluster_state *st)
{
    st->ev_fd = -1;
    st->ev_wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (st->ev_wake < 0)
        return -errno;
    if (pthread_create(&st->ev_thread, NULL, ev_main, st) != 0) {
        close(st->ev_wake);
        st->ev_wake = -1;
        return -EAGAIN;
    }
    st->ev_started = true;
    return 0;
}

void cluster_evlink_stop(cluster_state *st)
{
    if (!st->ev_started)
        return;
    pthread_join(st->ev_thread, NULL); /* st->stopping is set: it ends within a poll */
    st->ev_started = false;
    fail_all(st);
    close(st->ev_wake);
    st->ev_wake = -1;
    free(st->ev_out);
    st->ev_out = NULL;
    st->ev_out_cap = 0;
}
