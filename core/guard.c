#include "guard.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* How many expired connections one watchdog pass ends (one /proc scan each). */
#define CUT_BATCH 256
/* How often WebSockets are checked for an oversized frame in progress: what
 * a client can stream in this time is the memory it can pin beyond the limit. */
#define WS_TICK_MS 50
/* Frame headers and control frames between two checks. */
#define WS_SLACK 65536
/* When nearly every worker is held, an unfinished request older than this is
 * closed (oldest first) so the last workers stay free for short requests. */
#define PRESSURE_GRACE_MS 250

struct core_guard {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC */
    core_conn *conns, *tail;
    int nconns;
    int64_t deadline_ms;
    int max_per_ip;
    int listen_port;
    int threads, reserve; /* workers, and how many stay free under pressure */
    core_guard_peer_fn peer;
    bool stop, running;
    pthread_t thread;
    uint64_t cut_total, refused_total, ws_cut_total;
    int nws;
    int64_t refused_logged_at;
    uint64_t refused_unlogged;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

core_guard *core_guard_new(int64_t request_deadline_ms, int max_conns_per_ip, int listen_port,
                           int threads, core_guard_peer_fn peer)
{
    core_guard *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    pthread_mutex_init(&g->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->cond, &ca);
    pthread_condattr_destroy(&ca);
    g->deadline_ms = request_deadline_ms > 0 ? request_deadline_ms : 10000;
    g->max_per_ip = max_conns_per_ip > 0 ? max_conns_per_ip : 32;
    g->listen_port = listen_port;
    g->threads = threads;
    g->reserve = threads / 16 > 4 ? threads / 16 : 4;
    g->peer = peer;
    return g;
}

int64_t core_guard_deadline_ms(const core_guard *g) { return g->deadline_ms; }
int core_guard_max_per_ip(const core_guard *g) { return g->max_per_ip; }

/* The socket of a connection, found by its peer address among our fds:
 * struct mg_connection is opaque in civetweb 1.15 and has no fd getter.
 * Called under g->lock, so the connection cannot be closed (and its fd
 * reused) meanwhile: civetweb calls connection_close before closing. */
static int peer_matches(int fd, const char *ip, int port, int listen_port)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char buf[INET6_ADDRSTRLEN];
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
        return 0;
    int pport;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        pport = ntohs(a->sin_port);
        inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        pport = ntohs(a->sin6_port);
        inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    } else {
        return 0;
    }
    if (pport != port || strcmp(buf, ip) != 0)
        return 0;
    /* Ours, not an outgoing socket of a plugin: the local end is the listener's port. */
    sl = sizeof ss;
    if (listen_port > 0 && getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        int lport = ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                                            : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        if (lport != listen_port)
            return 0;
    }
    return 1;
}

/* Find the fds of `n` connections in one pass over /proc/self/fd. */
static void find_fds(core_conn **cs, int *fds, int n, int listen_port)
{
    for (int i = 0; i < n; i++)
        fds[i] = -1;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    int dfd = dirfd(d);
    int left = n;
    struct dirent *e;
    while (left && (e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        int fd = atoi(e->d_name);
        if (fd == dfd)
            continue;
        for (int i = 0; i < n; i++) {
            if (fds[i] < 0 && peer_matches(fd, cs[i]->ip, cs[i]->port, listen_port)) {
                fds[i] = fd;
                left--;
                break;
            }
        }
    }
    closedir(d);
}

static void refuse(core_guard *g, core_conn *c);

/* Learn a new connection's peer and apply the per-address cap. Under g->lock. */
static bool classify(core_guard *g, core_conn *c)
{
    if (c->port)
        return true;
    if (!g->peer || g->peer(c->key, c->ip, sizeof c->ip, &c->port) != 0 || !c->port) {
        c->port = 0;
        return false;
    }
    int same = 0;
    for (core_conn *o = g->conns; o; o = o->next)
        if (o != c && o->port && !o->refused && strcmp(o->ip, c->ip) == 0)
            same++;
    if (same >= g->max_per_ip)
        refuse(g, c);
    return true;
}

static uint64_t rx_bytes(int fd)
{
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    memset(&ti, 0, sizeof ti);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
        len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof ti.tcpi_bytes_received)
        return 0;
    return ti.tcpi_bytes_received;
}

/* Cut WebSockets that received more than their message limit without
 * completing a frame. Under g->lock; uses `batch`/`fds` as scratch. */
static void ws_check(core_guard *g, core_conn **batch, int *fds)
{
    int n = 0;
    for (core_conn *c = g->conns; c && n < CUT_BATCH; c = c->next)
        if (c->ws_limit && c->fd < 0 && c->port && !c->cut)
            batch[n++] = c;
    if (n) {
        find_fds(batch, fds, n, g->listen_port);
        for (int i = 0; i < n; i++) {
            batch[i]->fd = fds[i];
            if (fds[i] >= 0)
                batch[i]->rx_base = rx_bytes(fds[i]);
        }
    }
    for (core_conn *c = g->conns; c; c = c->next) {
        if (!c->ws_limit || c->fd < 0 || c->cut)
            continue;
        uint64_t rx = rx_bytes(c->fd);
        unsigned frames = atomic_load_explicit(&c->ws_frames, memory_order_relaxed);
        if (frames != c->ws_frames_seen) {
            c->ws_frames_seen = frames;
            c->rx_base = rx;
        } else if (rx > c->rx_base && rx - c->rx_base > c->ws_limit + WS_SLACK) {
            shutdown(c->fd, SHUT_RDWR);
            c->cut = true;
            g->ws_cut_total++;
            core_log("http", VG_LOG_WARN,
                     "closed a WebSocket from %s: %llu bytes without completing a frame (messages "
                     "are at most %zu bytes; civetweb would buffer the whole frame)",
                     c->ip, (unsigned long long)(rx - c->rx_base), c->ws_limit);
        }
    }
}

static void *watchdog(void *arg)
{
    core_guard *g = arg;
    core_conn **batch = malloc(CUT_BATCH * sizeof *batch);
    int *fds = malloc(CUT_BATCH * sizeof *fds);
    pthread_mutex_lock(&g->lock);
    while (!g->stop && batch && fds) {
        int64_t now = mono_ms(), next = 0;
        int n = 0, npressure = 0;
        /* Pressure: the workers left are the reserve. Unfinished requests
         * (headers or body still arriving, idle keep-alive) are closed, oldest
         * first, past a short grace; WebSockets and handlers running are not. */
        int excess = g->threads ? g->nconns - (g->threads - g->reserve) + 1 : 0;
        for (core_conn *c = g->conns; c && excess > 0 && n < CUT_BATCH; c = c->next) {
            if (!c->deadline_ms || c->refused || c->cut || !c->port)
                continue;
            if (now - c->armed_ms >= PRESSURE_GRACE_MS) {
                c->deadline_ms = 0;
                c->cut = true;
                batch[n++] = c;
                excess--;
            } else if (!next || c->armed_ms + PRESSURE_GRACE_MS < next) {
                next = c->armed_ms + PRESSURE_GRACE_MS;
            }
        }
        npressure = n;
        for (core_conn *c = g->conns; c; c = c->next) {
            if (!c->port && !c->refused && !classify(g, c)) {
                int64_t retry = now + 1;
                if (!next || retry < next)
                    next = retry;
            }
            if (!c->deadline_ms || c->refused)
                continue;
            if (c->deadline_ms <= now && n < CUT_BATCH && c->port) {
                c->deadline_ms = 0;
                c->cut = true;
                batch[n++] = c;
            } else if (!next || c->deadline_ms < next) {
                next = c->deadline_ms;
            }
        }
        if (n) {
            find_fds(batch, fds, n, g->listen_port);
            for (int i = 0; i < n; i++)
                if (fds[i] >= 0)
                    shutdown(fds[i], SHUT_RDWR);
            g->cut_total += (uint64_t)n;
            if (npressure)
                core_log("http", VG_LOG_WARN,
                         "%d of %d workers held: closed %d unfinished request%s older than %d ms "
                         "(first from %s) to keep %d free",
                         g->nconns, g->threads, npressure, npressure == 1 ? "" : "s",
                         PRESSURE_GRACE_MS, batch[0]->ip, g->reserve);
            if (n > npressure)
                core_log("http", VG_LOG_WARN,
                         "closed %d connection%s (first from %s) that did not send a whole "
                         "request within request_deadline (%lld ms)",
                         n - npressure, n - npressure == 1 ? "" : "s", batch[npressure]->ip,
                         (long long)g->deadline_ms);
            continue;
        }
        if (g->refused_unlogged) {
            /* The rest of a burst of refusals, a second after the first line. */
            if (now - g->refused_logged_at >= 1000) {
                core_log("http", VG_LOG_WARN,
                         "refused %llu more connection%s over max_conns_per_ip (%d)",
                         (unsigned long long)g->refused_unlogged,
                         g->refused_unlogged == 1 ? "" : "s", g->max_per_ip);
                g->refused_unlogged = 0;
                g->refused_logged_at = now;
            } else if (!next || next > g->refused_logged_at + 1000) {
                next = g->refused_logged_at + 1000;
            }
        }
        if (g->nws) {
            ws_check(g, batch, fds);
            if (!next || next > now + WS_TICK_MS)
                next = now + WS_TICK_MS;
        }
        if (!next) {
            pthread_cond_wait(&g->cond, &g->lock);
        } else {
            struct timespec ts = {.tv_sec = next / 1000, .tv_nsec = (next % 1000) * 1000000L};
            pthread_cond_timedwait(&g->cond, &g->lock, &ts);
        }
    }
    pthread_mutex_unlock(&g->lock);
    free(batch);
    free(fds);
    return NULL;
}

int core_guard_start(core_guard *g)
{
    if (pthread_create(&g->thread, NULL, watchdog, g) != 0)
        return -errno;
    g->running = true;
    return 0;
}

void core_guard_free(core_guard *g)
{
    if (!g)
        return;
    if (g->running) {
        pthread_mutex_lock(&g->lock);
        g->stop = true;
        pthread_cond_signal(&g->cond);
        pthread_mutex_unlock(&g->lock);
        pthread_join(g->thread, NULL);
    }
    while (g->conns) {
        core_conn *n = g->conns->next;
        free(g->conns);
        g->conns = n;
    }
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

/* Answer 503 straight on the socket and end it: no worker waits for the
 * request of a peer that already holds its share. Under g->lock. */
static void refuse(core_guard *g, core_conn *c)
{
    int fd = -1;
    core_conn *one[1] = {c};
    find_fds(one, &fd, 1, g->listen_port);
    if (fd >= 0) {
        char body[200], msg[400];
        int bl = snprintf(body, sizeof body,
                          "{\"error\":{\"code\":\"UNAVAILABLE\",\"message\":\"too many "
                          "connections from your address (max_conns_per_ip = %d)\"}}",
                          g->max_per_ip);
        int ml = snprintf(msg, sizeof msg,
                          "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n"
                          "Connection: close\r\nContent-Type: application/json; charset=utf-8\r\n"
                          "Content-Length: %d\r\n\r\n%s",
                          bl, body);
        (void)!send(fd, msg, (size_t)ml, MSG_DONTWAIT | MSG_NOSIGNAL);
        shutdown(fd, SHUT_RDWR);
    }
    c->refused = true;
    g->refused_total++;
    int64_t now = mono_ms();
    if (now - g->refused_logged_at >= 1000) {
        core_log("http", VG_LOG_WARN,
                 "refused %llu connection%s over max_conns_per_ip (%d), the last from %s",
                 (unsigned long long)g->refused_unlogged + 1, g->refused_unlogged ? "s" : "",
                 g->max_per_ip, c->ip);
        g->refused_logged_at = now;
        g->refused_unlogged = 0;
    } else {
        g->refused_unlogged++;
    }
}

core_conn *core_guard_open(core_guard *g, const void *key)
{
    core_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->key = key;
    c->fd = -1;
    pthread_mutex_lock(&g->lock);
    /* Appended: the watchdog classifies in arrival order, so the newest
     * connections are the ones over the cap. */
    c->prev = g->tail;
    if (g->tail)
        g->tail->next = c;
    else
        g->conns = c;
    g->tail = c;
    g->nconns++;
    c->opened_ms = mono_ms();
    c->armed_ms = c->opened_ms;
    c->deadline_ms = c->opened_ms + g->deadline_ms;
    /* Wake the watchdog: it learns the peer and applies the cap. */
    pthread_cond_signal(&g->cond);
    pthread_mutex_unlock(&g->lock);
    return c;
}

void core_guard_close(core_guard *g, core_conn *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&g->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        g->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        g->tail = c->prev;
    g->nconns--;
    if (c->ws_limit)
        g->nws--;
    pthread_mutex_unlock(&g->lock);
    free(c);
}

void core_guard_arm(core_guard *g, core_conn *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&g->lock);
    if (!c->cut && !c->refused) {
        c->armed_ms = mono_ms();
        c->deadline_ms = c->armed_ms + g->deadline_ms;
        pthread_cond_signal(&g->cond);
    }
    pthread_mutex_unlock(&g->lock);
}

void core_guard_disarm(core_guard *g, core_conn *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&g->lock);
    c->deadline_ms = 0;
    pthread_mutex_unlock(&g->lock);
}

void core_guard_websocket(core_guard *g, core_conn *c, size_t max_message)
{
    if (!c)
        return;
    pthread_mutex_lock(&g->lock);
    c->deadline_ms = 0;
    if (!c->ws_limit)
        g->nws++;
    c->ws_limit = max_message ? max_message : 1;
    pthread_cond_signal(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

int core_guard_busy(core_guard *g)
{
    pthread_mutex_lock(&g->lock);
    int n = g->nconns;
    pthread_mutex_unlock(&g->lock);
    return n;
}

int core_guard_active(core_guard *g)
{
    int n = 0;
    pthread_mutex_lock(&g->lock);
    /* A connection with a deadline armed is waiting for a request (headers,
     * body, or idle keep-alive): the watchdog reclaims it under pressure. */
    for (core_conn *c = g->conns; c; c = c->next)
        n += !c->deadline_ms && !c->cut && !c->refused;
    pthread_mutex_unlock(&g->lock);
    return n;
}

void core_guard_counts(core_guard *g, uint64_t *cut, uint64_t *refused)
{
    pthread_mutex_lock(&g->lock);
    *cut = g->cut_total + g->ws_cut_total;
    *refused = g->refused_total;
    pthread_mutex_unlock(&g->lock);
}
