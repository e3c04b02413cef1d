/* broker plugin: configuration, routes and lifecycle. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"

static int read_config(const vg_host *h, const vg_config *cfg, brk_config *c)
{
    /* Every key is read even after a bad one, so one run reports all mistakes. */
    long long v = 20;
    int bad = 0;
    bad |= h->config_duration(h, cfg, "ping_interval", 25000, 50, 3600000, &c->ping_interval) < 0;
    bad |= h->config_duration(h, cfg, "ping_timeout", 20000, 50, 3600000, &c->ping_timeout) < 0;
    bad |=
        h->config_duration(h, cfg, "upgrade_timeout", 10000, 100, 600000, &c->upgrade_timeout) < 0;
    bad |=
        h->config_duration(h, cfg, "connect_timeout", 45000, 100, 3600000, &c->connect_timeout) < 0;
    bad |= h->config_int(h, cfg, "max_payload", 1000000, 1024, 64LL * 1024 * 1024,
                         &c->max_payload) < 0;
    bad |= h->config_list(h, cfg, "allowed_origins", NULL, &c->allowed_origins) < 0;
    bad |= h->config_int(h, cfg, "max_clients", 1000, 1, 60000, &c->max_clients) < 0;
    bool reserve_ok =
        h->config_int(h, cfg, "thread_reserve", 32, 1, 10000, &c->thread_reserve) == 0;
    bad |= !reserve_ok;
    bad |= h->config_int(h, cfg, "max_backlog", 256, 4, 1000000, &c->max_backlog) < 0;
    bad |= h->config_int(h, cfg, "max_backlog_bytes", 1048576, 4096, 1LL << 30,
                         &c->max_backlog_bytes) < 0;
    bool senders_ok = h->config_int(h, cfg, "sender_threads", 4, 1, 256, &c->sender_threads) == 0;
    bad |= !senders_ok;
    bad |= h->config_int(h, cfg, "max_rooms_per_client", 64, 1, 1024, &c->max_rooms) < 0;
    bad |= h->config_bool(h, cfg, "auto_join", true, &c->auto_join) < 0;
    bad |=
        h->config_duration(h, cfg, "recovery_window", 120000, 0, 86400000, &c->recovery_window) < 0;
    bad |= h->config_int(h, cfg, "recovery_log_max", 10000, 16, 10000000, &c->recovery_log_max) < 0;
    bad |= h->config_int(h, cfg, "recovery_log_bytes", 16LL << 20, 65536, 1LL << 34,
                         &c->recovery_log_bytes) < 0;
    bad |= h->config_int(h, cfg, "rate_limit", 20, 0, 100000, &v) < 0;
    c->rate_per_s = (double)v;
    bad |= h->config_int(h, cfg, "rate_burst", 40, 1, 100000, &c->rate_burst) < 0;
    bad |= h->config_int(h, cfg, "rate_strikes", 20, 0, 100000, &c->rate_strikes) < 0;
    bad |= h->config_int(h, cfg, "recent_limit", 20, 0, 100, &c->recent_limit) < 0;
    bad |=
        h->config_duration(h, cfg, "stats_interval", 1000, 0, 3600000, &c->stats_min_interval) < 0;
    /* Sessions that have not connected a namespace are cheap to open and
     * cost a slot: capped apart from max_clients and closed early. */
    bad |= h->config_duration(h, cfg, "handshake_timeout", 10000, 100, 3600000,
                              &c->handshake_timeout) < 0;
    bad |= h->config_int(h, cfg, "max_unconnected", 128, 1, 60000, &c->max_unconnected) < 0;
    bad |= h->config_int(h, cfg, "max_unconnected_per_ip", 16, 1, 60000,
                         &c->max_unconnected_per_ip) < 0;
    /* A write blocked this long marks its client slow: it is dropped. */
    bad |= h->config_duration(h, cfg, "write_timeout", 1000, 10, 600000, &c->write_timeout) < 0;
    senders_ok &=
        h->config_int(h, cfg, "max_sender_threads", 64, 1, 4096, &c->max_sender_threads) == 0;
    bad |= !senders_ok;
    /* Cross-field rules need both keys valid. */
    if (senders_ok && c->max_sender_threads < c->sender_threads)
        bad |= h->config_fail(h, cfg, "max_sender_threads",
                              "must be at least sender_threads (%lld)", c->sender_threads) < 0;
    c->json_max_depth = h->json_max_depth(h);
    /* The transport: civetweb's (one port with everything else) or an lws
     * event loop on its own port for /socket.io/ (transport_lws.c). */
    const char *tr = NULL, *listen = NULL;
    bad |= h->config_string(h, cfg, "transport", "civetweb", &tr) < 0;
    bad |= h->config_string(h, cfg, "lws_listen", "127.0.0.1:8081", &listen) < 0;
    bad |= h->config_int(h, cfg, "lws_max_per_ip", 256, 1, 1000000, &c->lws_max_per_ip) < 0;
    bad |= h->config_duration(h, cfg, "lws_message_timeout", 10000, 1000, 600000,
                              &c->lws_message_timeout) < 0;
    /* client events that may call a slow bus method run on these workers,
     * never on the event loop */
    bad |= h->config_int(h, cfg, "lws_call_threads", 4, 1, 64, &c->lws_call_threads) < 0;
    /* event loops: one per core by default (connections are shared out) */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    bad |= h->config_int(h, cfg, "lws_threads",
                         cores < 1    ? 1
                         : cores > 64 ? 64
                                      : cores,
                         1, 64, &c->lws_threads) < 0;
    bad |= h->config_bool(h, cfg, "lws_deflate", false, &c->lws_deflate) < 0;
    if (tr && strcmp(tr, "lws") == 0) {
#ifdef BROKER_HAVE_LWS
        c->transport_lws = 1;
#else
        bad |= h->config_fail(h, cfg, "transport",
                              "lws: this build has no libwebsockets (install "
                              "libwebsockets-dev and rebuild)") < 0;
#endif
    } else if (tr && strcmp(tr, "civetweb") != 0) {
        bad |= h->config_fail(h, cfg, "transport", "must be civetweb or lws, not \"%s\"", tr) < 0;
    }
    if (listen) {
        const char *colon = strrchr(listen, ':');
        long port = colon ? strtol(colon + 1, NULL, 10) : 0;
        if (!colon || port < 1 || port > 65535 || strlen(listen) >= sizeof c->lws_listen)
            bad |= h->config_fail(h, cfg, "lws_listen",
                                  "must be address:port, e.g. 127.0.0.1:8081") < 0;
        else
            snprintf(c->lws_listen, sizeof c->lws_listen, "%s", listen);
    }
    /* The civetweb pool, as the core sized it. Every WebSocket and every
     * pending long-poll pins one worker, so keep thread_reserve of them for
     * short requests. */
    c->server_threads = h->http_threads(h);
    if (c->server_threads > 0) {
        c->thread_cap = c->server_threads - c->thread_reserve;
        if (reserve_ok && c->thread_cap < 1)
            bad |= h->config_fail(h, cfg, "thread_reserve",
                                  "must be less than [server] threads (%lld), or no worker is "
                                  "left for WebSockets and long-polls",
                                  c->server_threads) < 0;
    } else {
        c->thread_cap = c->max_clients;
    }
    return bad ? -EINVAL : 0;
}

/* vigia --check-config: validate [broker] (and the thread budget) only. */
static int broker_check_config(const vg_host *host, const vg_config *cfg)
{
    brk_config c;
    memset(&c, 0, sizeof c);
    int rc = read_config(host, cfg, &c);
    json_decref(c.allowed_origins);
    return rc;
}

static void destroy_state(brk_state *b)
{
    if (!b)
        return;
    brk_sessions_free_all(b);
    brk_ws_rejects_close(b, 0);
    brk_recovery_free_all(b);
    brk_resume_free(b);
    brk_ext_free_all(b);
    pthread_rwlock_destroy(&b->ext_lock);
    brk_smap_free(&b->rooms, NULL);
    brk_smap_free(&b->sessions, NULL);
    brk_smap_free(&b->unconnected_ip, free);
    brk_smap_free(&b->closing, free);
    brk_msg_unref(b->ping_msg);
    json_decref(b->cfg.allowed_origins);
    json_decref(b->stats_pending);
    json_decref(b->stats_sent);
    pthread_mutex_destroy(&b->lock);
    pthread_mutex_destroy(&b->rq_lock);
    pthread_cond_destroy(&b->rq_cond);
    pthread_mutex_destroy(&b->hk_lock);
    pthread_cond_destroy(&b->hk_cond);
    pthread_mutex_destroy(&b->stats_lock);
    free(b);
}

/* Long-poll requests arrive all the time from every client: their access log
 * lines go to debug (VG_ROUTE_QUIET), on a core that knows the flag. */
static int polling_route(const vg_host *host, const char *path, brk_state *b)
{
    if (host->struct_size >= offsetof(vg_host, http_route_flags) + sizeof host->http_route_flags)
        return host->http_route_flags(host, "*", path, VG_ROUTE_QUIET, brk_polling_handler, b,
                                      NULL);
    return host->http_route(host, "*", path, brk_polling_handler, b, NULL);
}

static int broker_init(const vg_host *host, const vg_config *cfg, void **state)
{
    brk_state *b = calloc(1, sizeof *b);
    if (!b)
        return host->fail(host, "out of memory");
    b->host = host;
    pthread_mutex_init(&b->lock, NULL);
    pthread_mutex_init(&b->rq_lock, NULL);
    pthread_cond_init(&b->rq_cond, NULL);
    pthread_mutex_init(&b->hk_lock, NULL);
    pthread_mutex_init(&b->stats_lock, NULL);
    pthread_rwlock_init(&b->ext_lock, NULL);
    {
        pthread_condattr_t a;
        pthread_condattr_init(&a);
        pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
        pthread_cond_init(&b->hk_cond, &a);
        pthread_condattr_destroy(&a);
    }
    if (read_config(host, cfg, &b->cfg) < 0) {
        destroy_state(b);
        return -EINVAL;
    }
    if (brk_smap_init(&b->sessions, 16384) < 0 || brk_smap_init(&b->rooms, 1024) < 0 ||
        brk_smap_init(&b->recovery, 4096) < 0 || brk_smap_init(&b->unconnected_ip, 1024) < 0 ||
        brk_smap_init(&b->closing, 256) < 0 ||
        !(b->log = calloc((size_t)b->cfg.recovery_log_max, sizeof *b->log)) ||
        !(b->ping_msg = brk_msg_new("2", 1))) {
        destroy_state(b);
        return host->fail(host, "out of memory");
    }
    brk_websocket_handlers(&b->ws_handlers, (size_t)b->cfg.max_payload);
    /* civetweb matches the WebSocket handler "/socket.io" for "/socket.io/" too;
     * the core's HTTP routes are strict about the trailing slash, so both. */
    /* transport = lws: /socket.io/ lives on lws_listen only (started in start). */
    int rc = 0;
    if (!b->cfg.transport_lws)
        rc = host->ws_route(host, "/socket.io", &b->ws_handlers, b, NULL);
    if (rc == 0 && !b->cfg.transport_lws)
        rc = polling_route(host, "/socket.io/", b);
    if (rc == 0 && !b->cfg.transport_lws)
        rc = polling_route(host, "/socket.io", b);
    if (rc < 0) {
        destroy_state(b);
        return host->fail(host, "cannot register /socket.io/: %d", rc);
    }
    if (brk_bus_setup(b) < 0) {
        destroy_state(b);
        return -EINVAL;
    }
    /* the core lists it in its no-token line (this machine only then) */
    if (host->struct_size >= offsetof(vg_host, admin_action) + sizeof host->admin_action)
        host->admin_action(host, "clear notifications (Socket.IO clear_notifications)");
    VG_INFO(host,
            "Socket.IO at /socket.io/: ping %lld/%lld ms, max_payload %lld, max_clients %lld, "
            "%lld threads for WebSockets and long-polls, %lld senders",
            (long long)b->cfg.ping_interval, (long long)b->cfg.ping_timeout, b->cfg.max_payload,
            b->cfg.max_clients, b->cfg.thread_cap, b->cfg.sender_threads);
    *state = b;
    return 0;
}

static int broker_start(void *state)
{
    brk_state *b = state;
    brk_resume_setup(b);
    int rc = brk_senders_start(b);
    if (rc == 0)
        rc = brk_housekeeper_start(b);
    if (rc < 0)
        VG_ERROR(b->host, "cannot start threads: %s", strerror(-rc));
#ifdef BROKER_HAVE_LWS
    if (rc == 0 && b->cfg.transport_lws) {
        rc = brk_lws_start(b);
        if (rc < 0) {
            VG_ERROR(b->host, "[broker] lws_listen = %s: cannot listen (%s)", b->cfg.lws_listen,
                     strerror(-rc));
            /* a plugin whose start failed is not stopped: end its threads here */
            brk_housekeeper_stop(b);
            atomic_store(&b->stopping, 1);
            brk_senders_stop(b);
        } else
            VG_INFO(b->host,
                    "Socket.IO on libwebsockets at %s/socket.io/ (WebSocket and long-polling)",
                    b->cfg.lws_listen);
    }
#endif
    return rc;
}

static void broker_stop(void *state)
{
    brk_state *b = state;
#ifdef BROKER_HAVE_LWS
    brk_lws_stop(b); /* first: no more input; its connections' `closed` run now */
#endif
    brk_bus_teardown(b);
    brk_housekeeper_stop(b);
    brk_ws_rejects_close(b, 1);
    atomic_store(&b->stopping, 1);
    brk_sessions_free_all(b); /* wakes every pending long-poll */
    brk_senders_stop(b);
}

static void broker_destroy(void *state) { destroy_state(state); }

VG_PLUGIN_DEFINE(broker, "1.0.0",
                 "Socket.IO v5 / Engine.IO v4 server: rooms, live events, state recovery",
                 .check_config = broker_check_config, .init = broker_init, .start = broker_start,
                 .stop = broker_stop, .destroy = broker_destroy);
