/* Connection guard: civetweb 1.15 gives every connection a worker thread for
 * as long as it lasts and bounds only each single read, so a client that
 * trickles its headers or body holds a worker indefinitely. The guard tracks
 * every connection a worker holds (the honest "busy" count), caps them per
 * peer address, and gives each request a whole deadline for its headers and
 * body: a watchdog thread shutdown()s the socket of a connection past it,
 * which ends civetweb's blocked read at once. */
#ifndef CORE_GUARD_H
#define CORE_GUARD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct core_guard core_guard;

/* The peer of a connection; 0 once civetweb has filled it in (civetweb fills
 * it right after init_connection, so the guard learns it a moment later). */
typedef int (*core_guard_peer_fn)(const void *key, char *ip, size_t ipsize, int *port);

/* One connection held by a worker; `user` is the owner's (the WebSocket). */
typedef struct core_conn {
    void *user;
    const void *key; /* civetweb's connection */
    char ip[48];
    int port; /* 0 until the peer is known */
    int64_t opened_ms;
    int64_t armed_ms;    /* when the current deadline started */
    int64_t deadline_ms; /* monotonic; 0 = none */
    bool cut;            /* the watchdog ended it */
    bool refused;        /* over the per-address cap: answered 503 and closed */
    /* WebSocket: civetweb buffers a whole frame of any declared size before
     * handing it over, so the watchdog compares the bytes the socket received
     * since the last delivered frame with the largest message allowed. */
    size_t ws_limit;       /* 0: not a WebSocket */
    atomic_uint ws_frames; /* frames delivered (bumped by the data handler) */
    unsigned ws_frames_seen;
    int fd;           /* -1 until found */
    uint64_t rx_base; /* socket bytes received at the last delivered frame */
    struct core_conn *next, *prev;
} core_conn;

/* `threads`: civetweb's workers; when all but a reserve of max(4, threads/16)
 * are held, unfinished requests older than 250 ms are closed, oldest first. */
core_guard *core_guard_new(int64_t request_deadline_ms, int max_conns_per_ip, int listen_port,
                           int threads, core_guard_peer_fn peer);
int core_guard_start(core_guard *g);
void core_guard_free(core_guard *g);

/* A worker took a connection: track it and arm the header deadline. As soon
 * as its peer is known (within a millisecond), a connection over the
 * per-address cap is answered 503 with Retry-After on its socket and shut
 * down (->refused). Never NULL unless out of memory. */
core_conn *core_guard_open(core_guard *g, const void *key);
void core_guard_close(core_guard *g, core_conn *c);
/* Arm the whole-request deadline (headers and body) from now, or disarm it. */
void core_guard_arm(core_guard *g, core_conn *c);
void core_guard_disarm(core_guard *g, core_conn *c);
/* The connection became a WebSocket whose messages are at most `max_message`
 * bytes: no deadline, but an unfinished frame larger than that is cut. */
void core_guard_websocket(core_guard *g, core_conn *c, size_t max_message);
/* A frame was delivered (lock-free; from the data handler). */
static inline void core_guard_ws_frame(core_conn *c)
{
    if (c)
        atomic_fetch_add_explicit(&c->ws_frames, 1, memory_order_relaxed);
}
/* Connections held by workers now (requests, keep-alive, WebSockets). */
int core_guard_busy(core_guard *g);
/* Of those, the ones a worker cannot get back: handlers running and
 * WebSockets (connections still waiting for a request are closed under
 * pressure, so they do not count). */
int core_guard_active(core_guard *g);
int64_t core_guard_deadline_ms(const core_guard *g);
int core_guard_max_per_ip(const core_guard *g);
/* Totals since start: connections cut at the deadline, refused over the cap. */
void core_guard_counts(core_guard *g, uint64_t *cut, uint64_t *refused);

#endif
