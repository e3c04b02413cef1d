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
typedef struct brk_msg {
    atomic_int refs;
    int binary;       /* an attachment: a binary frame, "b<base64>" on polling */
    size_t text_len;  /* Engine.IO packet text, e.g. 42["x",{}] */
    size_t frame_len; /* WebSocket frame: header + text */
    const char *text; /* points inside frame */
    unsigned char frame[];
} brk_msg;

brk_msg *brk_msg_new(const char *text, size_t len);
brk_msg *brk_msg_new_binary(const void *data, size_t len);

/* One Socket.IO packet: its text message, then its attachments (ext.c). */
typedef struct brk_packet {
    brk_msg **m;
    size_t n;
} brk_packet;
brk_msg *brk_msg_ref(brk_msg *m);
void brk_msg_unref(brk_msg *m);

/* A WebSocket refused in ws_ready, closed by the housekeeper (websocket.c). */
typedef struct brk_ws_reject_t {
    struct brk_ws_reject_t *next;
    vg_ws_conn *c;
    int code;
    const char *reason; /* static */
} brk_ws_reject_t;

/* ---- small string-keyed hash map ---- */
typedef struct brk_smap_entry {
    struct brk_smap_entry *next;
    void *value;
    char key[];
} brk_smap_entry;

typedef struct brk_smap {
    brk_smap_entry **buckets;
    size_t nbuckets;
    size_t count;
} brk_smap;

int brk_smap_init(brk_smap *m, size_t nbuckets);
void brk_smap_free(brk_smap *m, void (*free_value)(void *));
void *brk_smap_get(const brk_smap *m, const char *key);
int brk_smap_put(brk_smap *m, const char *key, void *value); /* -EEXIST, -ENOMEM */
void *brk_smap_del(brk_smap *m, const char *key);
/* Calls fn for every entry; fn returns 1 to delete the entry (after fn). */
void brk_smap_each(brk_smap *m, int (*fn)(const char *key, void *value, void *arg), void *arg);

/* ---- rooms ---- */
typedef struct brk_session brk_session;

typedef struct brk_room {
    char *name;
    brk_session **members;
    size_t n, cap;
} brk_room;

typedef struct brk_room_slot {
    brk_room *r;
    size_t idx; /* position in r->members */
} brk_room_slot;

enum brk_transport { TR_POLLING = 0, TR_WEBSOCKET = 1 };

/* A socket of the session in a plugin's namespace. */
typedef struct brk_nsp_conn {
    char nsp[SIO_NSP_MAX + 1];
    char sid[21];
} brk_nsp_conn;

/* A plugin's registration (ext.c, under b->ext_lock). */
typedef struct brk_ext {
    char nsp[SIO_NSP_MAX + 1];
    char *handler;  /* its bus method */
    json_t *events; /* "/" only: the event names it takes */
    int auth;
} brk_ext;

/* terminate flags */
enum {
    TERM_RECOVERABLE = 1,  /* keep the Socket.IO state for recovery_window */
    TERM_CLOSE_WS = 2,     /* the server closes the WebSocket (sender does it) */
    TERM_KEEP_QUEUE = 4,   /* flush what is queued (e.g. a 41) before closing */
    TERM_CLIENT_CLOSE = 8, /* the client sent "1": a pending GET answers "6" */
};

struct brk_session {
    atomic_int refs;
    struct brk_state *b;
    char sid[21];         /* Engine.IO session id */
    char sio_sid[21];     /* Socket.IO socket id (differs from sid) */
    char pid[21];         /* private id for connection state recovery */
    uint64_t resume_upto; /* under b->lock: resumed from the cluster's log up to this offset */
    int64_t saved_at;     /* under b->lock: its state last went to the cluster (0: never) */

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
    brk_session *rq_next;

    brk_msg **q; /* ring */
    size_t q_head, q_len, q_cap, q_bytes;

    int64_t opened_at;
    int64_t next_ping_at;
    int64_t pong_deadline; /* 0: no ping outstanding */

    char ip[48];     /* remote address, for the per-IP handshake cap */
    int unconnected; /* counted in b->n_unconnected (under b->lock) */

    /* Socket.IO state; written under b->lock and s->lock, read under either. */
    int sio_connected;
    int admin;
    int skip_attachments;   /* binary attachments of a refused binary packet */
    brk_sio_packet bin_pkt; /* a binary packet waiting for its attachments... */
    int bin_left;           /* ...this many more */
    json_t *bin_parts;      /* the ones received, base64 */
    size_t bin_bytes;
    brk_nsp_conn *nsps; /* sockets in plugins' namespaces (b->lock and s->lock) */
    int nnsps, nsps_cap;
    int64_t drain_until;          /* sent 41 and waits for the client to close (0: no) */
    struct brk_pending_ack *acks; /* server-to-client questions waiting for an ACK */
    long long next_ack_id;
    double tokens;
    int64_t tokens_at;
    int strikes;
    atomic_int slow; /* a write to it exceeded write_timeout: dropped, write no more */

    /* under b->lock */
    int in_table;
    brk_session *prev, *next;
    brk_room_slot *rooms;
    int nrooms, rooms_cap;
    uint64_t bcast_mark;
};

/* A server-to-client event with an ack id, waited for by broker.ask (s->lock). */
typedef struct brk_pending_ack {
    long long id;
    json_t *result; /* the ACK's arguments once done */
    int done;
    struct brk_pending_ack *next;
} brk_pending_ack;

/* ---- recovery ---- */
typedef struct brk_recovery_rec {
    char pid[21];
    char sio_sid[21];
    json_t *rooms; /* array of names */
    int admin;
    int64_t at;
} brk_recovery_rec;

typedef struct brk_log_entry {
    uint64_t seq;
    int64_t at;
    brk_msg *m;
    char **rooms; /* NULL-terminated; NULL = everyone */
} brk_log_entry;

typedef struct brk_config {
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
    int transport_lws;  /* transport = lws: /socket.io/ on lws_listen (transport_lws.c) */
    char lws_listen[128];
    long long lws_max_per_ip;
    int64_t lws_message_timeout;
    long long lws_threads;      /* event loops */
    long long lws_call_threads; /* workers for client events that may call the bus */
    bool lws_deflate;           /* offer permessage-deflate on lws */
} brk_config;

typedef struct brk_state {
    const vg_host *host;
    brk_config cfg;

    pthread_mutex_t lock;
    brk_smap sessions;       /* sid -> session */
    brk_session *list;       /* every session in the table */
    brk_smap rooms;          /* name -> room */
    brk_smap recovery;       /* pid -> recovery_rec */
    brk_smap unconnected_ip; /* ip -> long long: sessions without a namespace */
    brk_smap closing;        /* sid -> int64_t*: polling sessions the client closed lately */
    long long n_unconnected;
    brk_log_entry *log;
    size_t log_head, log_len, log_bytes;
    uint64_t log_evicted_upto; /* highest seq no longer in the log */
    uint64_t bcast_mark;
    atomic_uint_fast64_t offset_seq;

    pthread_mutex_t rq_lock;
    pthread_cond_t rq_cond;
    brk_session *rq_head, *rq_tail;

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
    _Atomic int64_t hk_wake_at; /* when the housekeeper wakes next (INT64_MIN: scanning) */
    int hk_kicked;              /* under hk_lock: a deadline moved earlier */
    brk_ws_reject_t *rejects;   /* under hk_lock: WebSockets to close */

    /* stats_update throttle (under stats_lock) */
    pthread_mutex_t stats_lock;
    json_t *stats_pending;
    json_t *stats_sent; /* the last one sent, before the cluster's counts (bus.c) */
    int64_t stats_last;
    int64_t rate_at; /* admin view: the last per-second sample */
    long rate_in, rate_out;
    double in_per_s, out_per_s;

    brk_msg *ping_msg;
    /* extension API (ext.c) */
    pthread_rwlock_t ext_lock;
    brk_ext *exts;
    int nexts;
    atomic_int ext_any; /* a plugin registered: publish socket.* events */
    vg_ws_handlers ws_handlers;
    struct brk_lws_set *lws; /* transport = lws (transport_lws.c) */
    vg_subscription *subs[8];
    json_t *_Atomic replay_topics; /* the cluster's shared topics (resume.c), NULL alone */
    int64_t state_refresh_ms;      /* re-save a connected socket's state this often (0: never) */
    int nsubs;

    /* counters */
    atomic_long n_websocket, n_polling;
    atomic_long held; /* threads held: open WebSockets + pending GETs */
    atomic_long messages_in, messages_out;
    atomic_long dropped_backlog, dropped_rate, dropped_protocol, dropped_write;
} brk_state;

/* session.c */
/* A new session from `ip`, in the table; returns an extra ref. NULL with *err
 * -EBUSY (max_clients), -EAGAIN (max_unconnected or max_unconnected_per_ip)
 * or -ENOMEM. */
brk_session *brk_session_new(brk_state *b, int transport, const char *ip, int *err);
/* Would a new session from `ip` be admitted now? 0 or the error above. */
int brk_session_admissible(brk_state *b, const char *ip);
/* The session connected a namespace (1) or left it (0): the count of
 * sessions without one follows. Caller holds b->lock. */
void brk_session_set_unconnected_locked(brk_session *s, int unconnected);
brk_session *brk_session_find(brk_state *b, const char *sid); /* new ref or NULL */
void brk_session_ref(brk_session *s);
void brk_session_unref(brk_session *s);
/* Queue a message (takes its own ref). Returns 0 or -ENOBUFS after which the
 * caller must terminate the session (dropped for backlog). Caller holds s->lock. */
int brk_session_enqueue_locked(brk_session *s, brk_msg *m);
typedef struct brk_sched_batch {
    brk_session *head, *tail;
} brk_sched_batch;
int brk_session_enqueue_batch_locked(brk_session *s, brk_msg *m, brk_sched_batch *batch);
void brk_sched_batch_flush(brk_state *b, brk_sched_batch *batch);
/* Lock, enqueue, unlock; on overflow terminate. */
int brk_session_send(brk_session *s, brk_msg *m);
int brk_session_send_text(brk_session *s, const char *text, size_t len);
void brk_session_schedule_locked(brk_session *s);
void brk_session_terminate(brk_session *s, const char *reason, int flags);
/* 1 once for a polling sid the client closed in the last 2 s (its GET answers "6"). */
int brk_closing_take(brk_state *b, const char *sid);
int brk_senders_start(brk_state *b);
void brk_senders_stop(brk_state *b);
int brk_housekeeper_start(brk_state *b);
/* A deadline at `at` (monotonic ms) was set: wake the housekeeper when it
 * would sleep past it. Call without s->lock or b->lock held. */
void brk_housekeeper_kick(brk_state *b, int64_t at);
void brk_housekeeper_stop(brk_state *b);
void brk_sessions_free_all(brk_state *b);

/* engine.c: one decoded Engine.IO packet from the current transport. Returns
 * 0, or a negative errno for a protocol error (the caller terminates). */
int brk_engine_on_packet(brk_session *s, const brk_eio_packet *p);
int brk_engine_on_binary(brk_session *s, const unsigned char *data, size_t len);
brk_msg *brk_engine_open_msg(brk_state *b, const char *sid, int offer_websocket);
int brk_origin_allowed(brk_state *b, const char *origin, const char *host_header);
/* Admission of a WebSocket or a waiting long-poll, which pins a civetweb
 * worker: 1 when one was taken (release it with brk_worker_release), 0 when
 * thread_reserve would be touched. `self_busy`: the caller's own worker is
 * already counted in host->http_busy. */
int brk_worker_take(brk_state *b, int self_busy);
void brk_worker_release(brk_state *b);

/* socketio.c */
int brk_socketio_on_message(brk_session *s, const char *data, size_t len);
/* 42[event, arg, offset]; steals arg (may be NULL). */
int brk_socketio_emit(brk_session *s, const char *event, json_t *arg);
void brk_socketio_send_disconnect_and_close(brk_session *s, const char *reason);
/* broker.ask: emit `event` with an ack id to one socket and wait for its ACK. */
int brk_socketio_ask(brk_state *b, const char *sio_sid, const char *event, const json_t *data,
                     int64_t timeout_ms, json_t **result);

int brk_socketio_rate_take(brk_session *s); /* 1 allowed, 0 refused, -1 disconnect */
/* A binary attachment (WebSocket binary frame or decoded "b" packet). */
int brk_socketio_on_attachment(brk_session *s, const unsigned char *data, size_t len);

/* ext.c: the extension API */
int brk_ext_setup(brk_state *b);
void brk_ext_free_all(brk_state *b);
int brk_ext_route(brk_state *b, const char *nsp, const char *event, char *handler, size_t size,
                  int *auth);
int brk_ext_nsp_connect(brk_session *s, const brk_sio_packet *p, int admin);
int brk_ext_on_nsp_packet(brk_session *s, brk_sio_packet *p);
int brk_ext_event(brk_session *s, const char *nsp, long long id, const json_t *data);
void brk_ext_deliver_ack(brk_session *s, long long id, const json_t *data);
void brk_ext_connected(brk_session *s, const char *sid, const char *nsp, const json_t *auth);
void brk_ext_disconnected(brk_state *b, const char *sid, const char *nsp, const char *reason);
json_t *brk_ext_sockets_locked(brk_session *s); /* [[sid, nsp]...] or NULL; b->lock held */
/* A method's "event" (1..64 bytes, not reserved) and "timeout_ms" (1..60000,
 * default 5000): 0, or -EINVAL with the error in *result. */
int brk_param_event(const char *event, json_t **result);
int brk_param_timeout(const json_t *t, json_int_t *timeout, json_t **result);
int brk_nsp_index_locked(brk_session *s, const char *nsp);
int brk_packet_build(brk_state *b, int type, const char *nsp, long long id, const json_t *args,
                     brk_packet *out, uint64_t *seq_out);
void brk_packet_free(brk_packet *p);
int brk_session_send_packet(brk_session *s, const brk_packet *p);
int brk_send_args(brk_session *s, int type, const char *nsp, long long id, const json_t *args);

/* rooms.c (callers hold b->lock) */
void brk_rooms_leave_nsp_locked(brk_state *b, brk_session *s, const char *nsp);
int brk_room_name_valid(const char *name, const char **why);
int brk_rooms_join_locked(brk_state *b, brk_session *s, const char *name);  /* -E2BIG, -ENOMEM */
int brk_rooms_leave_locked(brk_state *b, brk_session *s, const char *name); /* -ENOENT */
/* Join or leave room `key` (b->lock taken here): the client's own join_room
 * and a plugin's broker.join alike. A change goes out as the socket's new
 * resume state (socket.state_saved); -ENOENT too when s has left the table. */
int brk_rooms_change(brk_state *b, brk_session *s, const char *key, bool join);
void brk_rooms_leave_all_locked(brk_state *b, brk_session *s);
int brk_session_in_room_locked(brk_session *s, const char *name);
/* Broadcast 42[event, arg, offset] to the union of `rooms` (NULL: every
 * connected socket). Steals arg. Logged for recovery. */
int brk_broadcast(brk_state *b, const char *const *rooms, const char *event, json_t *arg);
/* The same with the offset the cluster gave the event (0: the next local one). */
int brk_broadcast_at(brk_state *b, const char *const *rooms, const char *event, json_t *arg,
                     uint64_t offset);
/* The packet of a broadcast: [event, arg?, "<offset>"] (arg borrowed). */
brk_msg *brk_broadcast_msg(brk_state *b, const char *event, const json_t *arg, uint64_t seq);
json_t *brk_rooms_status_locked(brk_state *b);

/* recovery.c (callers hold b->lock) */
void brk_recovery_save_locked(brk_state *b, brk_session *s);
/* Restore pid/offset into s (rooms, sid, replay). 1 when recovered. */
int brk_recovery_restore_locked(brk_state *b, brk_session *s, const char *pid, const char *offset);
void brk_recovery_log_append_locked(brk_state *b, uint64_t seq, brk_msg *m,
                                    const char *const *rooms);
void brk_recovery_expire_locked(brk_state *b, int64_t now);
void brk_recovery_free_all(brk_state *b);

/* bus.c */
int brk_bus_setup(brk_state *b);
void brk_bus_teardown(brk_state *b);
void brk_stats_flush(brk_state *b, int64_t now);
/* A bus event as the broadcast it becomes: rooms (NULL: everyone), name, arg. */
typedef struct brk_render {
    const char *rooms[5];
    char buf[3][160];
    const char *const *to;
    const char *event;
    json_t *arg; /* new reference */
} brk_render;
int brk_bus_render(const char *topic, const json_t *payload, brk_render *r);

/* resume.c: connection state recovery across nodes, through the cluster
 * plugin's contract (no Redis here). */
void brk_resume_setup(brk_state *b); /* start: is there a cluster replay log? */
void brk_resume_free(brk_state *b);
/* The offset of a broadcast for this event: 0 local, > 0 the cluster's, -1
 * skip it (this node's own shared event: it comes back logged). */
int64_t brk_resume_offset(brk_state *b, const char *topic, const json_t *payload);
/* socket.state_saved / _dropped for s, built under b->lock, published after
 * (brk_resume_publish steals it; NULL does nothing). ttl_ms < 0: dropped. */
json_t *brk_resume_state_locked(brk_state *b, brk_session *s, int64_t ttl_ms);
void brk_resume_publish(brk_state *b, json_t *ev);
/* The session pid resumes here after another node (call without locks):
 * 1 when restored into s (sid, rooms, missed packets queued). */
int brk_resume_remote(brk_state *b, brk_session *s, const char *pid, const char *offset);
json_t *brk_status(brk_state *b);

/* admin.c */
int brk_admin_setup(brk_state *b);
void brk_admin_sample(brk_state *b, int64_t now);
json_t *brk_admin(brk_state *b);

/* The transport seam. The session logic (websocket.c, session.c, engine.c,
 * socketio.c) reaches a WebSocket only through vg_ws_conn's ops: send and
 * send_frame (queue a message), close, ref/unref, query/header/remote_addr.
 * Two transports provide them: civetweb's, through the core (host->ws_route,
 * long-polling in polling.c), and libwebsockets' event loops (transport_lws.c:
 * WebSocket through b->ws_handlers as civetweb does, and long-polling of its
 * own that never blocks a loop; both answer polling through polling.c's
 * brk_poll_* helpers). */
#ifdef BROKER_HAVE_LWS
int brk_lws_start(brk_state *b);        /* listen on cfg.lws_listen, start the loops */
void brk_lws_stop(brk_state *b);        /* close every connection (their `closed` runs) */
int brk_ws_is_lws(const vg_ws_conn *c); /* 1: an lws connection (pins no civetweb worker) */
#else
static inline int brk_ws_is_lws(const vg_ws_conn *c)
{
    (void)c;
    return 0;
}
#endif

/* session.c: *ts = CLOCK_MONOTONIC now + ms (the waits of polling and of acks). */
void brk_deadline_after(struct timespec *ts, int64_t ms);

/* polling.c / websocket.c */
int brk_polling_handler(vg_http_request *req, void *user);
/* Long-polling's answers, shared by both transports (polling.c). A
 * handshake: a new session (an extra ref) and its open packet in body (*n
 * bytes), or NULL with *err as brk_session_new's. */
brk_session *brk_poll_handshake(brk_state *b, const char *ip, char *body, size_t size, int *n,
                                int *err);
/* The 503 body for brk_session_new's -EBUSY / -EAGAIN, and its Retry-After. */
const char *brk_poll_busy_body(int err, const char **retry_after);
/* 1 when a request's session is past its pong deadline (then terminated). */
int brk_poll_timed_out(brk_session *s);
/* A GET's answer: the queue joined by \x1e, the close packet or a noop
 * (malloc'd, NULL when out of memory). Caller holds s->lock. */
char *brk_poll_collect_locked(brk_session *s, size_t *len);
/* A POST's packets: -1 when they were taken ("ok"), or the EIO_ERR_ code
 * to answer (the session is terminated when it must be). */
int brk_poll_post(brk_session *s, const char *data, size_t len);
void brk_websocket_handlers(vg_ws_handlers *h, size_t max_message);
void brk_ws_reject(brk_state *b, vg_ws_conn *c, int code, const char *reason);
/* Close (or at stop just release) the refused WebSockets. */
void brk_ws_rejects_close(brk_state *b, int close);

static inline int64_t now_ms(brk_state *b) { return b->host->now_mono_ms(b->host); }

#endif
