/* broker plugin: private declarations shared by its files.
 *
 * Threads and locks (order: b->lock, then s->lock, then b->rq_lock):
 *   - b->lock guards the session table and list, rooms and memberships, the
 *     recovery records and the packet log. Broadcasts hold it while they
 *     enqueue, so every session sees broadcasts in offset order.
 *   - s->lock guards one session's queue, transport and flags. Nobody sends
 *     on a WebSocket while holding it.
 *   - Only sender threads write to a session's current WebSocket (the probe's
 *     "3probe" is written by the probe's own thread before it is current).
 *   - Long-poll GETs block on s->cond with a deadline. */
#ifndef BROKER_BROKER_H
#define BROKER_BROKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <vigia/vigia.h>

#include "eio.h"
#include "sio.h"

/* ---- refcounted outgoing message: the WebSocket frame is built once ---- */
typedef struct bmsg {
    atomic_int refs;
    size_t text_len;  /* Engine.IO packet text, e.g. 42["x",{}] */
    size_t frame_len; /* WebSocket frame: header + text */
    const char *text; /* points inside frame */
    unsigned char frame[];
} bmsg;

bmsg *bmsg_new(const char *text, size_t len);
bmsg *bmsg_ref(bmsg *m);
void bmsg_unref(bmsg *m);

/* ---- small string-keyed hash map ---- */
typedef struct smap_entry {
    struct smap_entry *next;
    void *value;
    char key[];
} smap_entry;

typedef struct smap {
    smap_entry **buckets;
    size_t nbuckets;
    size_t count;
} smap;

int smap_init(smap *m, size_t nbuckets);
void smap_free(smap *m, void (*free_value)(void *));
void *smap_get(const smap *m, const char *key);
int smap_put(smap *m, const char *key, void *value); /* -EEXIST, -ENOMEM */
void *smap_del(smap *m, const char *key);
/* Calls fn for every entry; fn returns 1 to delete the entry (after fn). */
void smap_each(smap *m, int (*fn)(const char *key, void *value, void *arg), void *arg);

/* ---- rooms ---- */
typedef struct session session;

typedef struct room {
    char *name;
    session **members;
    size_t n, cap;
} room;

typedef struct room_slot {
    room *r;
    size_t idx; /* position in r->members */
} room_slot;

enum transport { TR_POLLING = 0, TR_WEBSOCKET = 1 };

/* terminate flags */
enum {
    TERM_RECOVERABLE = 1,  /* keep the Socket.IO state for recovery_window */
    TERM_CLOSE_WS = 2,     /* the server closes the WebSocket (sender does it) */
    TERM_KEEP_QUEUE = 4,   /* flush what is queued (e.g. a 41) before closing */
    TERM_CLIENT_CLOSE = 8, /* the client sent "1": a pending GET answers "6" */
};

struct session {
    atomic_int refs;
    struct broker *b;
    char sid[21];     /* Engine.IO session id */
    char sio_sid[21]; /* Socket.IO socket id (differs from sid) */
    char pid[21];     /* private id for connection state recovery */

    pthread_mutex_t lock;
    pthread_cond_t cond;
    int transport;
    int closed;
    char close_reply;  /* polling: '1' (server close) or '6' (client close) */
    vg_ws_conn *ws;    /* current WebSocket (referenced) */
    vg_ws_conn *probe; /* upgrading WebSocket (referenced) */
    int upgrading;     /* probe answered: pending GETs answer noop */
    int64_t probe_at;
    int probe_close_pending;
    int poll_pending;
    int post_active;
    int ws_close_pending;
    int ws_close_done;
    int scheduled; /* in the ready queue or held by a sender */
    session *rq_next;

    bmsg **q; /* ring */
    size_t q_head, q_len, q_cap, q_bytes;

    int64_t opened_at;
    int64_t next_ping_at;
    int64_t pong_deadline; /* 0: no ping outstanding */

    char ip[48];     /* remote address, for the per-IP handshake cap */
    int unconnected; /* counted in b->n_unconnected (under b->lock) */

    /* Socket.IO state; written under b->lock and s->lock, read under either. */
    int sio_connected;
    int admin;
    int skip_attachments;     /* binary attachments of a refused binary packet */
    int64_t drain_until;      /* sent 41 and waits for the client to close (0: no) */
    struct pending_ack *acks; /* server-to-client questions waiting for an ACK */
    long long next_ack_id;
    double tokens;
    int64_t tokens_at;
    int strikes;
    atomic_int slow; /* a write to it exceeded write_timeout: dropped, write no more */

    /* under b->lock */
    int in_table;
    session *prev, *next;
    room_slot *rooms;
    int nrooms, rooms_cap;
    uint64_t bcast_mark;
};

/* A server-to-client event with an ack id, waited for by broker.ask (s->lock). */
typedef struct pending_ack {
    long long id;
    json_t *result; /* the ACK's arguments once done */
    int done;
    struct pending_ack *next;
} pending_ack;

/* ---- recovery ---- */
typedef struct recovery_rec {
    char pid[21];
    char sio_sid[21];
    json_t *rooms; /* array of names */
    int admin;
    int64_t at;
} recovery_rec;

typedef struct log_entry {
    uint64_t seq;
    int64_t at;
    bmsg *m;
    char **rooms; /* NULL-terminated; NULL = everyone */
} log_entry;

typedef struct broker_config {
    int64_t ping_interval, ping_timeout, upgrade_timeout, connect_timeout;
    long long max_payload;
    json_t *allowed_origins; /* array; empty = same origin only; "*" = any */
    long long max_clients, thread_reserve, server_threads, thread_cap;
    long long max_backlog, max_backlog_bytes;
    long long sender_threads;
    long long max_rooms;
    bool auto_join;
    int64_t recovery_window;
    long long recovery_log_max, recovery_log_bytes;
    double rate_per_s;
    long long rate_burst, rate_strikes;
    long long recent_limit;
    int64_t stats_min_interval;
    int64_t handshake_timeout, write_timeout;
    long long max_unconnected, max_unconnected_per_ip;
    long long max_sender_threads;
    int json_max_depth; /* [server] json_max_depth */
} broker_config;

typedef struct broker {
    const vg_host *host;
    broker_config cfg;

    pthread_mutex_t lock;
    smap sessions;       /* sid -> session */
    session *list;       /* every session in the table */
    smap rooms;          /* name -> room */
    smap recovery;       /* pid -> recovery_rec */
    smap unconnected_ip; /* ip -> long long: sessions without a namespace */
    long long n_unconnected;
    log_entry *log;
    size_t log_head, log_len, log_bytes;
    uint64_t log_evicted_upto; /* highest seq no longer in the log */
    uint64_t bcast_mark;
    atomic_uint_fast64_t offset_seq;

    pthread_mutex_t rq_lock;
    pthread_cond_t rq_cond;
    session *rq_head, *rq_tail;

    pthread_t *senders;
    struct sender_slot *slots; /* per sender: sessions taken from the ready queue */
    atomic_int local_pending;  /* sessions sitting in slots */
    atomic_int nsenders;       /* started senders: sender_threads, more while writes stall */
    pthread_t watchdog;
    int watchdog_started;
    atomic_long senders_added; /* spare senders started because every one was stalled */
    pthread_t housekeeper;
    int housekeeper_started;
    atomic_int stopping;
    pthread_mutex_t hk_lock;
    pthread_cond_t hk_cond;

    /* stats_update throttle (under stats_lock) */
    pthread_mutex_t stats_lock;
    json_t *stats_pending;
    int64_t stats_last;

    bmsg *ping_msg;
    vg_ws_handlers ws_handlers;
    vg_subscription *subs[8];
    int nsubs;

    /* counters */
    atomic_long n_websocket, n_polling;
    atomic_long held; /* threads held: open WebSockets + pending GETs */
    atomic_long messages_in, messages_out;
    atomic_long dropped_backlog, dropped_rate, dropped_protocol, dropped_write;
} broker;

/* session.c */
/* A new session from `ip`, in the table; returns an extra ref. NULL with *err
 * -EBUSY (max_clients), -EAGAIN (max_unconnected or max_unconnected_per_ip)
 * or -ENOMEM. */
session *session_new(broker *b, int transport, const char *ip, int *err);
/* Would a new session from `ip` be admitted now? 0 or the error above. */
int session_admissible(broker *b, const char *ip);
/* The session connected a namespace (1) or left it (0): the count of
 * sessions without one follows. Caller holds b->lock. */
void session_set_unconnected_locked(session *s, int unconnected);
session *session_find(broker *b, const char *sid); /* new ref or NULL */
void session_ref(session *s);
void session_unref(session *s);
/* Queue a message (takes its own ref). Returns 0 or -ENOBUFS after which the
 * caller must terminate the session (dropped for backlog). Caller holds s->lock. */
int session_enqueue_locked(session *s, bmsg *m);
typedef struct sched_batch {
    session *head, *tail;
} sched_batch;
int session_enqueue_batch_locked(session *s, bmsg *m, sched_batch *batch);
void sched_batch_flush(broker *b, sched_batch *batch);
/* Lock, enqueue, unlock; on overflow terminate. */
int session_send(session *s, bmsg *m);
int session_send_text(session *s, const char *text, size_t len);
void session_schedule_locked(session *s);
void session_terminate(session *s, const char *reason, int flags);
int senders_start(broker *b);
void senders_stop(broker *b);
int housekeeper_start(broker *b);
void housekeeper_stop(broker *b);
void sessions_free_all(broker *b);

/* engine.c: one decoded Engine.IO packet from the current transport. Returns
 * 0, or a negative errno for a protocol error (the caller terminates). */
int engine_on_packet(session *s, const eio_packet *p);
int engine_on_binary(session *s, size_t len);
bmsg *engine_open_msg(broker *b, const char *sid, int offer_websocket);
int origin_allowed(broker *b, const char *origin, const char *host_header);
/* Admission of a WebSocket or a waiting long-poll, which pins a civetweb
 * worker: 1 when one was taken (release it with worker_release), 0 when
 * thread_reserve would be touched. `self_busy`: the caller's own worker is
 * already counted in host->http_busy. */
int worker_take(broker *b, int self_busy);
void worker_release(broker *b);

/* socketio.c */
int socketio_on_message(session *s, const char *data, size_t len);
/* 42[event, arg, offset]; steals arg (may be NULL). */
int socketio_emit(session *s, const char *event, json_t *arg);
void socketio_send_disconnect_and_close(session *s, const char *reason);
/* broker.ask: emit `event` with an ack id to one socket and wait for its ACK. */
int socketio_ask(broker *b, const char *sio_sid, const char *event, const json_t *data,
                 int64_t timeout_ms, json_t **result);

/* rooms.c (callers hold b->lock) */
int room_name_valid(const char *name, const char **why);
int rooms_join_locked(broker *b, session *s, const char *name);  /* -E2BIG, -ENOMEM */
int rooms_leave_locked(broker *b, session *s, const char *name); /* -ENOENT */
void rooms_leave_all_locked(broker *b, session *s);
int session_in_room_locked(session *s, const char *name);
/* Broadcast 42[event, arg, offset] to the union of `rooms` (NULL: every
 * connected socket). Steals arg. Logged for recovery. */
int broker_broadcast(broker *b, const char *const *rooms, const char *event, json_t *arg);
json_t *rooms_status_locked(broker *b);

/* recovery.c (callers hold b->lock) */
void recovery_save_locked(broker *b, session *s);
/* Restore pid/offset into s (rooms, sid, replay). 1 when recovered. */
int recovery_restore_locked(broker *b, session *s, const char *pid, const char *offset);
void recovery_log_append_locked(broker *b, uint64_t seq, bmsg *m, const char *const *rooms);
void recovery_expire_locked(broker *b, int64_t now);
void recovery_free_all(broker *b);

/* bus.c */
int bus_setup(broker *b);
void bus_teardown(broker *b);
void stats_flush(broker *b, int64_t now);
json_t *broker_status(broker *b);

/* polling.c / websocket.c */
int polling_handler(vg_http_request *req, void *user);
void websocket_handlers(vg_ws_handlers *h, size_t max_message);

static inline int64_t now_ms(broker *b) { return b->host->now_mono_ms(b->host); }

#endif
