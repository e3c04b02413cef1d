/* Engine.IO sessions: table, bounded outbound queues, the sender pool that
 * drains WebSocket sessions, and the housekeeper (pings, timeouts). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker.h"

#define SENDER_BATCH 64

void brk_session_ref(brk_session *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void brk_session_unref(brk_session *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < s->q_len; i++)
        brk_msg_unref(s->q[(s->q_head + i) % s->q_cap]);
    free(s->q);
    if (s->ws)
        vg_ws_unref(s->ws);
    if (s->probe)
        vg_ws_unref(s->probe);
    free(s->rooms);
    free(s->nsps);
    brk_sio_packet_clear(&s->bin_pkt);
    json_decref(s->bin_parts);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
}

static void cond_init_monotonic(pthread_cond_t *c)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
}

/* Caller holds b->lock. */
static int admissible_locked(brk_state *b, const char *ip)
{
    if ((long long)b->sessions.count >= b->cfg.max_clients)
        return -EBUSY;
    if (b->cfg.max_unconnected > 0 && b->n_unconnected >= b->cfg.max_unconnected)
        return -EAGAIN;
    const long long *n = brk_smap_get(&b->unconnected_ip, ip);
    if (b->cfg.max_unconnected_per_ip > 0 && n && *n >= b->cfg.max_unconnected_per_ip)
        return -EAGAIN;
    return 0;
}

int brk_session_admissible(brk_state *b, const char *ip)
{
    pthread_mutex_lock(&b->lock);
    int rc = admissible_locked(b, ip ? ip : "");
    pthread_mutex_unlock(&b->lock);
    return rc;
}

void brk_session_set_unconnected_locked(brk_session *s, int unconnected)
{
    brk_state *b = s->b;
    if (!unconnected == !s->unconnected)
        return;
    long long *n = brk_smap_get(&b->unconnected_ip, s->ip);
    if (unconnected) {
        if (!n) {
            n = calloc(1, sizeof *n);
            if (!n || brk_smap_put(&b->unconnected_ip, s->ip, n) < 0) {
                free(n);
                return; /* out of memory: not counted, still timed out */
            }
        }
        (*n)++;
        b->n_unconnected++;
    } else {
        b->n_unconnected--;
        if (n && --*n <= 0)
            free(brk_smap_del(&b->unconnected_ip, s->ip));
    }
    s->unconnected = unconnected;
}

brk_session *brk_session_new(brk_state *b, int transport, const char *ip, int *err)
{
    *err = -ENOMEM;
    brk_session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->b = b;
    atomic_init(&s->refs, 2); /* the table's and the caller's */
    pthread_mutex_init(&s->lock, NULL);
    cond_init_monotonic(&s->cond);
    s->transport = transport;
    s->opened_at = now_ms(b);
    s->next_ping_at = s->opened_at + b->cfg.ping_interval;
    s->tokens = (double)b->cfg.rate_burst;
    s->tokens_at = s->opened_at;
    snprintf(s->ip, sizeof s->ip, "%s", ip ? ip : "");
    if (brk_eio_random_id(s->sid) < 0) {
        free(s);
        return NULL;
    }
    pthread_mutex_lock(&b->lock);
    int rc = admissible_locked(b, s->ip);
    if (rc < 0 || brk_smap_put(&b->sessions, s->sid, s) < 0) {
        pthread_mutex_unlock(&b->lock);
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->cond);
        free(s);
        *err = rc < 0 ? rc : -ENOMEM;
        return NULL;
    }
    brk_session_set_unconnected_locked(s, 1);
    s->in_table = 1;
    s->next = b->list;
    if (b->list)
        b->list->prev = s;
    b->list = s;
    pthread_mutex_unlock(&b->lock);
    atomic_fetch_add(transport == TR_WEBSOCKET ? &b->n_websocket : &b->n_polling, 1);
    {
        int64_t hs = b->cfg.connect_timeout < b->cfg.handshake_timeout ? b->cfg.connect_timeout
                                                                       : b->cfg.handshake_timeout;
        int64_t at = s->opened_at + hs;
        brk_housekeeper_kick(b, at < s->next_ping_at ? at : s->next_ping_at);
    }
    *err = 0;
    return s;
}

brk_session *brk_session_find(brk_state *b, const char *sid)
{
    pthread_mutex_lock(&b->lock);
    brk_session *s = brk_smap_get(&b->sessions, sid);
    if (s)
        brk_session_ref(s);
    pthread_mutex_unlock(&b->lock);
    return s;
}

/* Append `s` to the senders' run queue; the caller owns a reference for it. */
static void rq_push_back(brk_state *b, brk_session *s)
{
    pthread_mutex_lock(&b->rq_lock);
    s->rq_next = NULL;
    if (b->rq_tail)
        b->rq_tail->rq_next = s;
    else
        b->rq_head = s;
    b->rq_tail = s;
    pthread_cond_signal(&b->rq_cond);
    pthread_mutex_unlock(&b->rq_lock);
}

/* Put `s` on the senders' run queue (once: `scheduled` guards it). */
static void run_queue_push_locked(brk_session *s)
{
    s->scheduled = 1;
    brk_session_ref(s);
    rq_push_back(s->b, s);
}

/* Hand the session to a sender even when it is not (yet) a WebSocket
 * session: closing a probe or a closed session's socket is sender work too. */
static void session_schedule_any_locked(brk_session *s)
{
    if (!s->scheduled && (s->ws || s->probe))
        run_queue_push_locked(s);
}

void brk_session_schedule_locked(brk_session *s)
{
    if (!s->scheduled && s->transport == TR_WEBSOCKET && s->ws)
        run_queue_push_locked(s);
}

int brk_session_enqueue_locked(brk_session *s, brk_msg *m)
{
    return brk_session_enqueue_batch_locked(s, m, NULL);
}

void brk_sched_batch_flush(brk_state *b, brk_sched_batch *batch)
{
    if (!batch->head)
        return;
    pthread_mutex_lock(&b->rq_lock);
    if (b->rq_tail)
        b->rq_tail->rq_next = batch->head;
    else
        b->rq_head = batch->head;
    b->rq_tail = batch->tail;
    pthread_cond_broadcast(&b->rq_cond);
    pthread_mutex_unlock(&b->rq_lock);
    batch->head = batch->tail = NULL;
}

/* With a batch, a session that needs a sender is chained there instead of
 * taking the ready-queue lock once per recipient (one lock per broadcast). */
int brk_session_enqueue_batch_locked(brk_session *s, brk_msg *m, brk_sched_batch *batch)
{
    brk_state *b = s->b;
    if (s->closed)
        return 0;
    if ((long long)s->q_len >= b->cfg.max_backlog ||
        (long long)(s->q_bytes + m->text_len) > b->cfg.max_backlog_bytes)
        return -ENOBUFS;
    if (s->q_len == s->q_cap) {
        size_t cap = s->q_cap ? s->q_cap * 2 : 8;
        brk_msg **q = malloc(cap * sizeof *q);
        if (!q)
            return -ENOBUFS;
        for (size_t i = 0; i < s->q_len; i++)
            q[i] = s->q[(s->q_head + i) % s->q_cap];
        free(s->q);
        s->q = q;
        s->q_cap = cap;
        s->q_head = 0;
    }
    s->q[(s->q_head + s->q_len) % s->q_cap] = brk_msg_ref(m);
    s->q_len++;
    s->q_bytes += m->text_len;
    if (s->transport != TR_WEBSOCKET) {
        pthread_cond_broadcast(&s->cond);
    } else if (!batch) {
        brk_session_schedule_locked(s);
    } else if (!s->scheduled && s->ws) {
        s->scheduled = 1;
        brk_session_ref(s);
        s->rq_next = NULL;
        if (batch->tail)
            batch->tail->rq_next = s;
        else
            batch->head = s;
        batch->tail = s;
    }
    return 0;
}

static void queue_drop_locked(brk_session *s)
{
    while (s->q_len) {
        brk_msg_unref(s->q[s->q_head]);
        s->q_head = (s->q_head + 1) % s->q_cap;
        s->q_len--;
    }
    s->q_bytes = 0;
}

int brk_session_send(brk_session *s, brk_msg *m)
{
    pthread_mutex_lock(&s->lock);
    int rc = brk_session_enqueue_locked(s, m);
    pthread_mutex_unlock(&s->lock);
    if (rc == -ENOBUFS) {
        atomic_fetch_add(&s->b->dropped_backlog, 1);
        brk_session_terminate(s, "backlog overflow", TERM_RECOVERABLE | TERM_CLOSE_WS);
    }
    return rc;
}

int brk_session_send_text(brk_session *s, const char *text, size_t len)
{
    brk_msg *m = brk_msg_new(text, len);
    if (!m)
        return -ENOMEM;
    int rc = brk_session_send(s, m);
    brk_msg_unref(m);
    return rc;
}

/* A polling client that sent "1" may have its GET still on the way (it
 * sends both at once): that GET gets "6" like one that was waiting, the
 * next one 400. Remembered for CLOSING_KEEP_MS, at most CLOSING_MAX. */
#define CLOSING_KEEP_MS 2000
#define CLOSING_MAX 1024

static void closing_add_locked(brk_state *b, const char *sid)
{
    if (b->closing.count >= CLOSING_MAX)
        return;
    int64_t *at = malloc(sizeof *at);
    if (!at)
        return;
    *at = now_ms(b);
    if (brk_smap_put(&b->closing, sid, at) < 0)
        free(at);
}

int brk_closing_take(brk_state *b, const char *sid)
{
    pthread_mutex_lock(&b->lock);
    int64_t *at = brk_smap_del(&b->closing, sid);
    pthread_mutex_unlock(&b->lock);
    free(at);
    return at != NULL;
}

static int closing_expire(const char *key, void *value, void *arg)
{
    (void)key;
    brk_state *b = arg;
    if (now_ms(b) - *(int64_t *)value < CLOSING_KEEP_MS)
        return 0;
    free(value);
    return 1;
}

void brk_session_terminate(brk_session *s, const char *reason, int flags)
{
    brk_state *b = s->b;
    pthread_mutex_lock(&b->lock);
    if (!s->in_table) {
        pthread_mutex_unlock(&b->lock);
        return;
    }
    brk_smap_del(&b->sessions, s->sid);
    if (s->prev)
        s->prev->next = s->next;
    else
        b->list = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    s->in_table = 0;
    brk_session_set_unconnected_locked(s, 0);
    json_t *state = NULL; /* for another node (resume.c) */
    if ((flags & TERM_RECOVERABLE) && s->sio_connected && b->cfg.recovery_window > 0) {
        brk_recovery_save_locked(b, s);
        state = brk_resume_state_locked(b, s, b->cfg.recovery_window);
    } else if (s->sio_connected) {
        state = brk_resume_state_locked(b, s, -1);
    }
    json_t *gone = brk_ext_sockets_locked(s); /* socket.disconnected, after the locks */
    brk_rooms_leave_all_locked(b, s);
    pthread_mutex_lock(&s->lock);
    if ((flags & TERM_CLIENT_CLOSE) && s->transport == TR_POLLING && !s->poll_pending)
        closing_add_locked(b, s->sid);
    s->sio_connected = 0;
    s->nnsps = 0;
    s->closed = 1;
    s->close_reply = (flags & TERM_CLIENT_CLOSE) ? '6' : '1';
    int transport = s->transport;
    if (!(flags & TERM_KEEP_QUEUE))
        queue_drop_locked(s);
    if (s->probe)
        s->probe_close_pending = 1;
    if (transport == TR_WEBSOCKET && (flags & TERM_CLOSE_WS))
        s->ws_close_pending = 1;
    pthread_cond_broadcast(&s->cond);
    if (s->ws_close_pending || s->probe_close_pending)
        session_schedule_any_locked(s); /* the sender flushes and closes */
    pthread_mutex_unlock(&s->lock);
    pthread_mutex_unlock(&b->lock);
    atomic_fetch_sub(transport == TR_WEBSOCKET ? &b->n_websocket : &b->n_polling, 1);
    VG_DEBUG(b->host, "session %s closed: %s", s->sid, reason);
    brk_resume_publish(b, state);
    size_t k;
    json_t *x;
    json_array_foreach (gone, k, x)
        brk_ext_disconnected(b, json_string_value(json_array_get(x, 0)),
                             json_string_value(json_array_get(x, 1)), reason);
    json_decref(gone);
    brk_session_unref(s); /* the table's reference */
}

/* ---- sender pool ---- */

/* Each sender takes up to SENDER_CHUNK sessions from the ready queue at once
 * (one lock for many recipients of a broadcast) into its own slot, and idle
 * senders steal from the other slots, so a sender blocked on a stalled peer
 * never holds the rest of its chunk hostage for long. */
#define SENDER_CHUNK 16

typedef struct sender_slot {
    pthread_mutex_t lock;
    brk_session *items[SENDER_CHUNK];
    int head, n;
    brk_state *b;
    int index;
    /* the write in progress, for the watchdog: when it began (0: none) and
     * to whom (under lock; the sender holds a reference) */
    atomic_llong write_since;
    brk_session *writing;
    int spawned; /* a thread was started on it and not joined yet (watchdog, stop) */
} sender_slot;

static brk_session *slot_take(sender_slot *sl, int from_tail)
{
    brk_session *s = NULL;
    pthread_mutex_lock(&sl->lock);
    if (sl->n) {
        if (from_tail) {
            s = sl->items[(sl->head + sl->n - 1) % SENDER_CHUNK];
        } else {
            s = sl->items[sl->head];
            sl->head = (sl->head + 1) % SENDER_CHUNK;
        }
        sl->n--;
        atomic_fetch_sub(&sl->b->local_pending, 1);
    }
    pthread_mutex_unlock(&sl->lock);
    return s;
}

static brk_session *steal(brk_state *b, int self)
{
    int n = atomic_load(&b->nsenders);
    for (int k = 1; k < n; k++) {
        brk_session *s = slot_take(&b->slots[(self + k) % n], 1);
        if (s)
            return s;
    }
    return NULL;
}

#define SPARE_IDLE_MS 2000

/* The next session to write for sender `self`; NULL when it must exit (the
 * broker stops, or a spare sender retires). */
static brk_session *rq_pop(brk_state *b, int self)
{
    int64_t idle_since = 0;
    sender_slot *me = &b->slots[self];
    brk_session *s = slot_take(me, 0);
    if (s)
        return s;
    pthread_mutex_lock(&b->rq_lock);
    for (;;) {
        if (b->rq_head) {
            s = b->rq_head;
            b->rq_head = s->rq_next;
            s->rq_next = NULL;
            int moved = 0;
            pthread_mutex_lock(&me->lock);
            while (b->rq_head && me->n < SENDER_CHUNK) {
                brk_session *x = b->rq_head;
                b->rq_head = x->rq_next;
                x->rq_next = NULL;
                me->items[(me->head + me->n) % SENDER_CHUNK] = x;
                me->n++;
                moved++;
            }
            pthread_mutex_unlock(&me->lock);
            if (!b->rq_head)
                b->rq_tail = NULL;
            if (moved) {
                atomic_fetch_add(&b->local_pending, moved);
                pthread_cond_broadcast(&b->rq_cond); /* idle senders may steal */
            }
            pthread_mutex_unlock(&b->rq_lock);
            return s;
        }
        pthread_mutex_unlock(&b->rq_lock);
        s = steal(b, self);
        if (s)
            return s;
        pthread_mutex_lock(&b->rq_lock);
        if (b->rq_head)
            continue;
        if (atomic_load(&b->stopping))
            break;
        if (self >= b->cfg.sender_threads) {
            /* A spare (started by the watchdog) retires when idle, the
             * newest first, so the pool shrinks back to sender_threads. Its
             * slot is empty: only its owner fills a slot. */
            int64_t now = now_ms(b);
            if (!idle_since)
                idle_since = now;
            if (now - idle_since >= SPARE_IDLE_MS && self == atomic_load(&b->nsenders) - 1 &&
                me->n == 0) {
                atomic_store(&b->nsenders, self);
                break;
            }
        }
        if (atomic_load(&b->local_pending) > 0 || self >= b->cfg.sender_threads) {
            /* someone holds a chunk (maybe blocked on a stalled peer): look
             * again soon; a spare also wakes up to see whether to retire */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += (atomic_load(&b->local_pending) > 0 ? 5 : 100) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&b->rq_cond, &b->rq_lock, &ts);
        } else {
            pthread_cond_wait(&b->rq_cond, &b->rq_lock);
        }
    }
    pthread_mutex_unlock(&b->rq_lock);
    return NULL;
}

static void *sender_main(void *arg)
{
    sender_slot *slot = arg;
    brk_state *b = slot->b;
    brk_msg *batch[SENDER_BATCH];
    for (;;) {
        brk_session *s = rq_pop(b, slot->index);
        if (!s)
            break; /* stopping and nothing left */
        pthread_mutex_lock(&s->lock);
        size_t n = 0;
        vg_ws_conn *ws = s->transport == TR_WEBSOCKET ? s->ws : NULL;
        if (ws) {
            while (s->q_len && n < SENDER_BATCH) {
                brk_msg *m = s->q[s->q_head];
                s->q_head = (s->q_head + 1) % s->q_cap;
                s->q_len--;
                s->q_bytes -= m->text_len;
                batch[n++] = m;
            }
            vg_ws_ref(ws);
        }
        int close_ws = ws && s->ws_close_pending && !s->ws_close_done && s->q_len == 0;
        if (close_ws)
            s->ws_close_done = 1;
        vg_ws_conn *probe = NULL;
        if (s->probe_close_pending && s->probe) {
            probe = s->probe;
            s->probe = NULL;
            s->probe_close_pending = 0;
        }
        pthread_mutex_unlock(&s->lock);

        int failed = 0;
        if (n || close_ws) {
            pthread_mutex_lock(&slot->lock);
            slot->writing = s;
            pthread_mutex_unlock(&slot->lock);
        }
        for (size_t i = 0; i < n; i++) {
            /* dropped as slow by the watchdog: the rest is not worth a write */
            if (!failed && !atomic_load(&s->slow)) {
                atomic_store(&slot->write_since, now_ms(b));
                int rc = vg_ws_send_frame(ws, batch[i]->frame, batch[i]->frame_len);
                atomic_store(&slot->write_since, 0);
                if (rc < 0)
                    failed = rc;
                else
                    atomic_fetch_add_explicit(&b->messages_out, 1, memory_order_relaxed);
            }
            brk_msg_unref(batch[i]);
        }
        if (close_ws && !failed) {
            atomic_store(&slot->write_since, now_ms(b));
            vg_ws_close(ws, 1000, "");
            atomic_store(&slot->write_since, 0);
        }
        if (n || close_ws) {
            pthread_mutex_lock(&slot->lock);
            slot->writing = NULL;
            pthread_mutex_unlock(&slot->lock);
        }
        if (ws)
            vg_ws_unref(ws);
        if (probe) {
            vg_ws_close(probe, 1000, "");
            vg_ws_unref(probe);
        }
        if (failed) {
            if (failed == -EIO)
                atomic_fetch_add(&b->dropped_write, 1);
            brk_session_terminate(s, failed == -EIO ? "write failed" : "transport close",
                                  TERM_RECOVERABLE);
        }

        pthread_mutex_lock(&s->lock);
        int again = !atomic_load(&b->stopping) && !failed &&
                    ((s->transport == TR_WEBSOCKET && s->ws &&
                      (s->q_len > 0 || (s->ws_close_pending && !s->ws_close_done))) ||
                     (s->probe_close_pending && s->probe));
        if (!again)
            s->scheduled = 0;
        pthread_mutex_unlock(&s->lock);
        if (again)
            rq_push_back(b, s);
        else
            brk_session_unref(s);
    }
    return NULL;
}

static int sender_spawn(brk_state *b, int i)
{
    if (b->slots[i].spawned) { /* a spare that retired from this slot */
        pthread_join(b->senders[i], NULL);
        b->slots[i].spawned = 0;
    }
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 256 * 1024);
    int rc = pthread_create(&b->senders[i], &a, sender_main, &b->slots[i]);
    pthread_attr_destroy(&a);
    if (rc == 0) {
        b->slots[i].spawned = 1;
        atomic_store(&b->nsenders, i + 1); /* rq_pop steals across every started slot */
    }
    return -rc;
}

/* ---- watchdog: no write blocked on one peer holds back the others ----
 *
 * civetweb 1.15 has no non-blocking or deadline write: a write to a peer
 * that stopped reading blocks until [server] request_timeout (rounded up to
 * 2 s). So every write is timed: one past write_timeout marks its client
 * slow and drops it (nothing more is queued or written for it), and when
 * every sender has been inside a write for SENDER_STALL_MS while work waits,
 * a spare sender starts (up to max_sender_threads), so healthy clients never
 * wait for a stalled peer's timeout. */
#define SENDER_STALL_MS 50
#define WATCHDOG_TICK_MS 10

static void *watchdog_main(void *arg)
{
    brk_state *b = arg;
    while (!atomic_load(&b->stopping)) {
        int64_t now = now_ms(b);
        int n = atomic_load(&b->nsenders), stalled = 0;
        for (int i = 0; i < n; i++) {
            sender_slot *sl = &b->slots[i];
            long long since = atomic_load(&sl->write_since);
            if (!since)
                continue;
            if (now - since >= SENDER_STALL_MS)
                stalled++;
            if (now - since <= b->cfg.write_timeout)
                continue;
            brk_session *victim = NULL;
            pthread_mutex_lock(&sl->lock);
            if (sl->writing && !atomic_exchange(&sl->writing->slow, 1)) {
                victim = sl->writing;
                brk_session_ref(victim);
            }
            pthread_mutex_unlock(&sl->lock);
            if (victim) {
                atomic_fetch_add(&b->dropped_write, 1);
                brk_session_terminate(victim, "write timeout (slow client)",
                                      TERM_RECOVERABLE | TERM_CLOSE_WS);
                brk_session_unref(victim);
            }
        }
        if (stalled == n && n < b->cfg.max_sender_threads) {
            /* under rq_lock, where a spare retires: the pool stays contiguous */
            pthread_mutex_lock(&b->rq_lock);
            int work = b->rq_head != NULL || atomic_load(&b->local_pending) > 0;
            /* a few at once: stalls come in waves (one broadcast fills many peers) */
            for (int k = 0; work && atomic_load(&b->nsenders) == n + k && k < 4 &&
                            n + k < b->cfg.max_sender_threads;
                 k++) {
                if (sender_spawn(b, n + k) != 0)
                    break;
                atomic_fetch_add(&b->senders_added, 1);
                VG_INFO(b->host, "every sender is blocked on a write: sender %d started",
                        n + k + 1);
            }
            pthread_mutex_unlock(&b->rq_lock);
        }
        struct timespec ts = {0, WATCHDOG_TICK_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

int brk_senders_start(brk_state *b)
{
    size_t max = (size_t)b->cfg.max_sender_threads;
    if (max < (size_t)b->cfg.sender_threads)
        max = (size_t)b->cfg.sender_threads;
    b->senders = calloc(max, sizeof *b->senders);
    b->slots = calloc(max, sizeof *b->slots);
    if (!b->senders || !b->slots)
        return -ENOMEM;
    for (size_t i = 0; i < max; i++) {
        pthread_mutex_init(&b->slots[i].lock, NULL);
        b->slots[i].b = b;
        b->slots[i].index = (int)i;
    }
    for (int i = 0; i < (int)b->cfg.sender_threads; i++) {
        int rc = sender_spawn(b, i);
        if (rc < 0)
            return rc;
    }
    int rc = pthread_create(&b->watchdog, NULL, watchdog_main, b);
    if (rc != 0)
        return -rc;
    b->watchdog_started = 1;
    return 0;
}

void brk_senders_stop(brk_state *b)
{
    pthread_mutex_lock(&b->rq_lock);
    atomic_store(&b->stopping, 1);
    pthread_cond_broadcast(&b->rq_cond);
    pthread_mutex_unlock(&b->rq_lock);
    if (b->watchdog_started) {
        pthread_join(b->watchdog, NULL); /* no sender starts after this */
        b->watchdog_started = 0;
    }
    size_t max = (size_t)b->cfg.max_sender_threads;
    if (max < (size_t)b->cfg.sender_threads)
        max = (size_t)b->cfg.sender_threads;
    for (size_t i = 0; b->slots && i < max; i++)
        if (b->slots[i].spawned) {
            pthread_join(b->senders[i], NULL);
            b->slots[i].spawned = 0;
        }
    free(b->senders);
    b->senders = NULL;
    /* sessions left in the slots: release them like the ready queue's */
    for (size_t i = 0; b->slots && i < max; i++) {
        brk_session *x;
        while ((x = slot_take(&b->slots[i], 0))) {
            pthread_mutex_lock(&x->lock);
            x->scheduled = 0;
            pthread_mutex_unlock(&x->lock);
            brk_session_unref(x);
        }
        pthread_mutex_destroy(&b->slots[i].lock);
    }
    free(b->slots);
    b->slots = NULL;
    atomic_store(&b->nsenders, 0);
    /* anything still queued for sending: release the references */
    pthread_mutex_lock(&b->rq_lock);
    brk_session *s = b->rq_head;
    b->rq_head = b->rq_tail = NULL;
    pthread_mutex_unlock(&b->rq_lock);
    while (s) {
        brk_session *next = s->rq_next;
        pthread_mutex_lock(&s->lock);
        s->scheduled = 0;
        pthread_mutex_unlock(&s->lock);
        brk_session_unref(s);
        s = next;
    }
}

/* ---- housekeeper: heartbeats, timeouts, recovery expiry, stats throttle ---- */

typedef struct victim {
    brk_session *s;
    const char *reason;
    int flags;
} victim;

/* The housekeeper sleeps until the earliest deadline of any session (a
 * ping, a pong, a drain, a handshake or an upgrade), not on a fixed tick, so
 * heartbeats keep their configured times to the millisecond at any interval.
 * A deadline set earlier than its wake-up kicks it (brk_housekeeper_kick). */
#define HK_MAX_SLEEP_MS 1000

/* Each wake scans every session, so wakes are at least `gap` apart: 1 ms up
 * to 500 sessions, then one more ms per 500 (25 ms at most, from 12,500): at
 * most ~500,000 session checks a second at any size, against 100,000 for the
 * old 100 ms tick at 10,000 sessions. A ping may leave up to `gap` early
 * rather than late; a timeout is never early. */
static int64_t hk_gap(size_t sessions)
{
    int64_t g = (int64_t)(sessions / 500);
    return g < 1 ? 1 : g > 25 ? 25 : g;
}
#define HK_SCANNING INT64_MIN

void brk_housekeeper_kick(brk_state *b, int64_t at)
{
    if (at >= atomic_load_explicit(&b->hk_wake_at, memory_order_relaxed))
        return;
    pthread_mutex_lock(&b->hk_lock);
    int64_t w = atomic_load(&b->hk_wake_at);
    if (w == HK_SCANNING || at < w) {
        b->hk_kicked = 1;
        pthread_cond_broadcast(&b->hk_cond);
    }
    pthread_mutex_unlock(&b->hk_lock);
}

static void earliest(int64_t *wake, int64_t t)
{
    if (t < *wake)
        *wake = t;
}

static void *housekeeper_main(void *arg)
{
    brk_state *b = arg;
    size_t vcap = 64;
    victim *v = malloc(vcap * sizeof *v);
    if (!v)
        return NULL;
    /* connect_timeout is Socket.IO's; an unconnected session also holds a
     * slot, so the shorter handshake_timeout bounds a lock-out. */
    int64_t unconnected_timeout = b->cfg.connect_timeout < b->cfg.handshake_timeout
                                      ? b->cfg.connect_timeout
                                      : b->cfg.handshake_timeout;
    int64_t last_scan = 0, gap = 1;
    while (!atomic_load(&b->stopping)) {
        int64_t since = now_ms(b) - last_scan;
        if (last_scan && since < gap) { /* kicked right after a scan */
            struct timespec ts = {0, (long)(gap - since) * 1000000L};
            nanosleep(&ts, NULL);
        }
        pthread_mutex_lock(&b->hk_lock);
        b->hk_kicked = 0;
        atomic_store(&b->hk_wake_at, HK_SCANNING); /* a kick now means: scan again */
        pthread_mutex_unlock(&b->hk_lock);
        int64_t now = now_ms(b);
        int64_t wake = now + HK_MAX_SLEEP_MS;
        last_scan = now;
        size_t nv = 0;
        json_t *saves = NULL; /* connected sockets' states due again in the cluster */
        int64_t refresh = b->state_refresh_ms;
        pthread_mutex_lock(&b->lock);
        for (brk_session *s = b->list; s; s = s->next) {
            const char *reason = NULL;
            int flags = 0, save = 0;
            pthread_mutex_lock(&s->lock);
            if (s->drain_until && now >= s->drain_until) {
                reason = "disconnected by the server";
                flags = TERM_CLOSE_WS | TERM_KEEP_QUEUE;
            } else if (s->pong_deadline && now >= s->pong_deadline) {
                reason = "ping timeout";
                flags = TERM_RECOVERABLE | TERM_CLOSE_WS;
            } else if (!s->sio_connected && !s->nnsps && !s->drain_until &&
                       now - s->opened_at >= unconnected_timeout) {
                reason = "no Socket.IO CONNECT within handshake_timeout";
                flags = TERM_CLOSE_WS;
            } else if (!s->pong_deadline && now + gap - 1 >= s->next_ping_at) {
                if (brk_session_enqueue_locked(s, b->ping_msg) == 0) {
                    /* from when the ping was due: a late wake-up does not
                     * give the client more time than interval + timeout */
                    s->pong_deadline = s->next_ping_at + b->cfg.ping_timeout;
                } else {
                    reason = "backlog overflow";
                    flags = TERM_RECOVERABLE | TERM_CLOSE_WS;
                    atomic_fetch_add(&b->dropped_backlog, 1);
                }
            }
            if (s->probe && s->probe_at && now - s->probe_at >= b->cfg.upgrade_timeout &&
                !s->probe_close_pending) {
                s->probe_close_pending = 1; /* no "5" in time: abort the upgrade */
                s->upgrading = 0;
                session_schedule_any_locked(s);
            }
            if (!reason) {
                if (s->drain_until)
                    earliest(&wake, s->drain_until);
                if (s->pong_deadline)
                    earliest(&wake, s->pong_deadline);
                else
                    earliest(&wake, s->next_ping_at);
                if (!s->sio_connected && !s->nnsps && !s->drain_until)
                    earliest(&wake, s->opened_at + unconnected_timeout);
                if (s->probe && s->probe_at && !s->probe_close_pending)
                    earliest(&wake, s->probe_at + b->cfg.upgrade_timeout);
                if (refresh && s->saved_at && s->sio_connected) {
                    save = now - s->saved_at >= refresh;
                    earliest(&wake, save ? now + refresh : s->saved_at + refresh);
                }
            }
            pthread_mutex_unlock(&s->lock);
            if (save && (saves || (saves = json_array())))
                json_array_append_new(saves, brk_resume_state_locked(b, s, 0));
            if (reason) {
                if (nv == vcap) {
                    victim *nvp = realloc(v, 2 * vcap * sizeof *v);
                    if (!nvp)
                        break;
                    v = nvp;
                    vcap *= 2;
                }
                brk_session_ref(s);
                v[nv++] = (victim){s, reason, flags};
            }
        }
        size_t nsessions = b->sessions.count;
        brk_recovery_expire_locked(b, now);
        if (b->closing.count)
            brk_smap_each(&b->closing, closing_expire, b);
        pthread_mutex_unlock(&b->lock);
        brk_stats_flush(b, now);
        brk_admin_sample(b, now);
        brk_ws_rejects_close(b, 1);
        for (size_t i = 0; i < json_array_size(saves); i++)
            brk_resume_publish(b, json_incref(json_array_get(saves, i)));
        json_decref(saves);
        pthread_mutex_lock(&b->stats_lock);
        if (b->stats_pending)
            earliest(&wake, b->stats_last + b->cfg.stats_min_interval);
        pthread_mutex_unlock(&b->stats_lock);
        for (size_t i = 0; i < nv; i++) {
            brk_session_terminate(v[i].s, v[i].reason, v[i].flags);
            brk_session_unref(v[i].s);
        }
        pthread_mutex_lock(&b->hk_lock);
        gap = hk_gap(nsessions);
        if (wake < now + gap)
            wake = now + gap;
        atomic_store(&b->hk_wake_at, wake);
        int64_t wait = wake - now_ms(b);
        if (!atomic_load(&b->stopping) && !b->hk_kicked && !nv && wait > 0) {
            struct timespec ts;
            brk_deadline_after(&ts, wait);
            pthread_cond_timedwait(&b->hk_cond, &b->hk_lock, &ts);
        }
        pthread_mutex_unlock(&b->hk_lock);
    }
    free(v);
    return NULL;
}

int brk_housekeeper_start(brk_state *b)
{
    int rc = pthread_create(&b->housekeeper, NULL, housekeeper_main, b);
    if (rc != 0)
        return -rc;
    b->housekeeper_started = 1;
    return 0;
}

void brk_housekeeper_stop(brk_state *b)
{
    if (!b->housekeeper_started)
        return;
    pthread_mutex_lock(&b->hk_lock);
    atomic_store(&b->stopping, 1);
    pthread_cond_broadcast(&b->hk_cond);
    pthread_mutex_unlock(&b->hk_lock);
    pthread_join(b->housekeeper, NULL);
    b->housekeeper_started = 0;
}

/* Wake every long-poll (at stop) and drop the table's references (at destroy). */
void brk_sessions_free_all(brk_state *b)
{
    for (;;) {
        pthread_mutex_lock(&b->lock);
        brk_session *s = b->list;
        if (s)
            brk_session_ref(s);
        pthread_mutex_unlock(&b->lock);
        if (!s)
            break;
        brk_session_terminate(s, "server stopping", 0);
        brk_session_unref(s);
    }
}

void brk_deadline_after(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}
