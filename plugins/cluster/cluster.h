/* cluster plugin: shared state of its parts.
 *   cluster_plugin.c   lifecycle, configuration, cluster.status, health
 *   cluster_url.c      redis_url parsing
 *   cluster_tls.c      rediss://: our TLS, relayed to hiredis through a socketpair
 *   cluster_link.c     the publisher and subscriber connections and their threads
 *   cluster_evlink.c   the events connection, written from the bus thread
 *   cluster_events.c   local events out, other nodes' events in
 *   cluster_methods.c  announcing methods, the fallback resolver, serving calls
 *   cluster_lease.c    leases with fencing tokens (one node per job)
 *   cluster_replay.c   the replay log, sessions for recovery on another node
 *   cluster_clients.c  client counts of the whole cluster (stats_update)
 *
 * Redis layout (prefix = [cluster] name):
 *   XADD <prefix>:log * e <env> + PUBLISH <prefix>:events "<id> <env>" (one script),
 *       env = {"n": node, "s": seq, "t": topic, "p": payload}; <prefix>:log:cut
 *   SET <prefix>:session:<pid> {"sid", "rooms"} PX ...
 *   SET <prefix>:clients:<id> {connected, websocket, polling} PX announce_ttl
 *   PUBLISH <prefix>:node:<id>      {"k":"req", "id", "from", "m", "params"}
 *                                   {"k":"rep", "id", "rc", "result"}
 *   SET <prefix>:methods:<id> [names] PX announce_ttl
 *   SET <prefix>:lease:<name> "<id>|<token>" NX PX lease_ttl, token = INCR <prefix>:fence:<name> */
#ifndef CLUSTER_H
#define CLUSTER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <vigia/vigia.h>

#include "cluster_tls.h"

typedef struct cluster_url {
    char host[256];
    int port;
    char user[128];
    char password[256];
    int db;
    bool tls;
} cluster_url;

/* Parse redis://[[user]:password@]host[:port][/db] (rediss:// sets tls).
 * 0, or -1 with the reason in err. */
int cluster_url_parse(const char *s, cluster_url *out, char *err, size_t errn);

/* One command waiting for the publisher thread. */
enum cluster_out_kind {
    OUT_PUBLISH, /* PUBLISH channel msg */
    OUT_EVENT,   /* a shared event: into the replay log and out (cluster_replay.c) */
    OUT_SET,     /* SET channel(key) msg PX px */
    OUT_DEL      /* DEL channel(key) */
};
typedef struct cluster_out {
    char *channel;
    char *msg;
    bool is_event;
    int kind;
    long long px;
    struct cluster_out *next;
} cluster_out;

/* A call forwarded to another node, waiting for its reply. */
typedef struct cluster_pending {
    char id[96];
    bool done;
    int rc;
    json_t *result;
    struct cluster_pending *next;
} cluster_pending;

typedef struct cluster_state {
    const vg_host *host;
    /* configuration */
    const char *url_text;
    cluster_url url;
    cluster_tls tls; /* rediss:// only (ctx NULL otherwise) */
    const char *node;
    const char *prefix;
    json_t *events;  /* prefixes forwarded and accepted */
    json_t *methods; /* prefixes of local methods shared ("" all) */
    int64_t call_timeout_ms, announce_ttl_ms, reconnect_max_ms, lease_ttl_ms;
    long long queue_max;
    long long replay_max, replay_bytes; /* the replay log's caps (0: no log) */
    int64_t session_ttl_ms;
    char ch_events[300], ch_self[300], key_log[300];
    char log_sha[41]; /* the publisher's script, loaded at each connect */

    vg_workq *q; /* serves calls from other nodes */

    pthread_mutex_t mu;
    pthread_cond_t cv; /* outgoing queue, pending replies, stop */
    bool stopping;
    pthread_t pub_thread, sub_thread;
    bool threads_started;
    bool pub_up, sub_up, ev_up;
    /* the events connection (cluster_evlink.c): written by the bus thread */
    pthread_mutex_t ev_mu;
    pthread_t ev_thread;
    bool ev_started;
    int ev_fd, ev_wake; /* the socket (-1: down), an eventfd: more to write */
    char *ev_out;       /* bytes the socket did not take yet */
    size_t ev_out_len, ev_out_cap;
    cluster_out *ev_head, *ev_tail; /* sent, waiting for their reply, in order */
    long long ev_inflight;          /* how many: at most queue_max */
    bool ev_up_local;               /* under ev_mu: the bus thread may write */
    cluster_out *out_head, *out_tail;
    long long out_len;
    cluster_pending *pending;
    uint64_t seq;             /* events sent by this node */
    json_t *owners;           /* {"method": "node"} of other nodes */
    json_t *nodes;            /* ["node", ...] live (announced) other nodes */
    int64_t pub_connected_at; /* mono ms the publisher last connected (the map settles after) */
    json_t *last_seq;         /* {"node": last seq received} */
    uint64_t call_ids;
    /* counters */
    uint64_t ev_forwarded, ev_received, ev_lost, ev_missed;
    uint64_t calls_forwarded, calls_served, calls_failed, reconnects;
    char last_error[200];
    json_t *clients_others;   /* {connected, websocket, polling, nodes} of the others; under mu */
    json_t *leases;           /* {"name": {token, until (mono ms)}} held here; under mu */
    pthread_mutex_t lease_mu; /* lease_ctx: one caller at a time */
    void *lease_ctx;          /* redisContext of the lease methods' callers */
} cluster_state;

/* Every connection up (caller holds mu). */
#define CLUSTER_UP(st) ((st)->pub_up && (st)->sub_up && (st)->ev_up)

/* cluster_link.c */
/* Connect, authenticate, select the database: a redisContext, or NULL with why. */
void *cluster_link_connect(cluster_state *st, char *why, size_t n);
int cluster_link_start(cluster_state *st);
void cluster_link_stop(cluster_state *st);
/* Queue a message for the publisher; false when refused (link down, queue
 * full, stopping). Takes ownership of msg. Caller does not hold mu. */
bool cluster_link_send(cluster_state *st, const char *channel, char *msg, bool is_event);
/* The same for any command kind (key: a channel or a key). */
bool cluster_link_queue(cluster_state *st, int kind, const char *key, char *msg, long long px);
/* 1 when both connections are up. */
bool cluster_link_up(cluster_state *st);
/* Report the link's state to the health check (call without mu). */
void cluster_link_health(cluster_state *st);

/* The state of one connection changed (call without mu). */
void cluster_link_set_state(cluster_state *st, bool *flag, bool up, const char *why);
/* The next reconnect delay: 100 ms, doubling, at most reconnect_max_ms. */
int64_t cluster_link_next_backoff(const cluster_state *st, int64_t cur);
/* An own event that did not reach Redis: to the local broker (no mu). */
void cluster_link_out_failed(cluster_state *st, cluster_out *o);

/* cluster_evlink.c: shared events go out from the bus thread itself, a
 * non-blocking write on a connection of their own (no hand-over to another
 * thread: one wake-up less per event); its thread reads the replies. */
int cluster_evlink_start(cluster_state *st);
void cluster_evlink_stop(cluster_state *st);
/* Bus thread: send the envelope (takes msg). false when refused (down). */
bool cluster_evlink_send(cluster_state *st, char *msg);

/* cluster_events.c */
int cluster_events_init(cluster_state *st);
void cluster_events_incoming(cluster_state *st, const char *data, size_t len);

/* cluster_methods.c */
int cluster_methods_init(cluster_state *st);
/* The publisher thread's tick: announce ours, refresh the others'. Uses the
 * publisher's connection `ctx` (a redisContext). Returns 0 or -1 when the
 * connection failed. */
int cluster_methods_tick(cluster_state *st, void *ctx);
void cluster_methods_incoming(cluster_state *st, const char *data, size_t len);
/* Fail every call waiting for a reply (the link went down). */
void cluster_methods_fail_pending(cluster_state *st);

/* cluster_replay.c: the replay log (a Redis Stream), sessions for
 * connection state recovery on another node. */
int cluster_replay_init(cluster_state *st);
/* Publisher: load the script on a new connection (-1: failed). */
int cluster_replay_connected(cluster_state *st, void *ctx);
/* Publisher: append the command that logs and publishes envelope `msg`. */
int cluster_replay_append(cluster_state *st, void *ctx, const char *msg);
/* An own event that Redis did not take: to the local broker at once. */
void cluster_replay_local(cluster_state *st, const char *topic, const json_t *payload,
                          long long offset);
/* "<ms>-<seq>" -> offset (0 when malformed). */
long long cluster_replay_offset(const char *id, size_t len);

/* cluster_clients.c: client counts of the whole cluster (stats_update). */
int cluster_clients_init(cluster_state *st);
int cluster_clients_tick(cluster_state *st, void *ctx);

/* cluster_lease.c */
/* The callers' own connection (lease_mu held); NULL when Redis is unreachable. */
void *cluster_lease_conn(cluster_state *st);
int cluster_lease_init(cluster_state *st);
/* The publisher's tick: renew the leases held (-1 on a connection error). */
int cluster_lease_tick(cluster_state *st, void *ctx);
/* Give every held lease back (stop), so another node takes over at once. */
void cluster_lease_release_all(cluster_state *st);

#endif
