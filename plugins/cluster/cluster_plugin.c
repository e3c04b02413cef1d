/* cluster: several Vigía nodes as one through Redis (docs/cluster.md).
 *
 * [cluster]
 *   redis_url = redis://127.0.0.1:6379   redis://[[user]:password@]host[:port][/db]
 *   node_id = a                           this node's name in the cluster (default: the
 *                                         listen address); unique per node
 *   name = vigia                          prefix of every Redis key and channel
 *   events = dataset. notification.       topics (exact or "prefix.") shared both ways
 *   methods =                             prefixes of the local methods offered to the
 *                                         other nodes (empty: all but the core's)
 *   call_timeout = 2s                     a forwarded call waits this long for its reply
 *   announce_ttl = 5s                     a node's method list expires this long after
 *                                         its last announcement (sent every second)
 *   reconnect_max = 2s                    the reconnect backoff's ceiling
 *   lease_ttl = 15s                       a lease (cluster.lease) lapses this long after
 *                                         its holder's last renewal (every second)
 *   queue = 10000                         messages waiting for Redis at most
 *   replay_max = 10000                    the replay log's entries (about: XADD MAXLEN ~);
 *                                         0: no log, no recovery across nodes
 *   replay_bytes = 16777216               ... and its memory in Redis (about)
 *   session_ttl = 1h                      a connected socket's saved state lives this long
 *                                         without a change (a disconnected one: the
 *                                         broker's recovery_window)
 *   tls_ca_file =                         rediss://: the CAs that may sign Redis's
 *                                         certificate (default: the system's store)
 *   tls_cert_file =  tls_key_file =       rediss://: a client certificate (mutual TLS) */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>
#include <vigia/contract/cluster.h>

#include "cluster.h"

static bool node_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':'))
            return false;
    }
    return true;
}

static int read_config(const vg_host *h, const vg_config *cfg, cluster_state *st)
{
    char err[200];
    if (h->config_require(h, cfg, "redis_url", &st->url_text) < 0)
        return -EINVAL;
    if (cluster_url_parse(st->url_text, &st->url, err, sizeof err) < 0)
        return h->config_fail(h, cfg, "redis_url", "%s", err);
    const char *def_node = h->listen_address ? h->listen_address(h) : NULL;
    if (h->config_string(h, cfg, "node_id", def_node ? def_node : "node", &st->node) < 0)
        return -EINVAL;
    if (!node_id_ok(st->node))
        return h->config_fail(h, cfg, "node_id", "expected 1..64 of [A-Za-z0-9_.:-]");
    if (h->config_string(h, cfg, "name", "vigia", &st->prefix) < 0)
        return -EINVAL;
    if (!node_id_ok(st->prefix))
        return h->config_fail(h, cfg, "name", "expected 1..64 of [A-Za-z0-9_.:-]");
    if (h->config_list(h, cfg, "events", "", &st->events) < 0 ||
        h->config_list(h, cfg, "methods", "", &st->methods) < 0)
        return -EINVAL;
    if (h->config_duration(h, cfg, "call_timeout", 2000, 10, 60000, &st->call_timeout_ms) < 0 ||
        h->config_duration(h, cfg, "announce_ttl", 5000, 2000, 3600000, &st->announce_ttl_ms) < 0 ||
        h->config_duration(h, cfg, "reconnect_max", 2000, 100, 60000, &st->reconnect_max_ms) < 0 ||
        h->config_duration(h, cfg, "lease_ttl", 15000, 3000, 3600000, &st->lease_ttl_ms) < 0 ||
        h->config_int(h, cfg, "queue", 10000, 1, 10000000, &st->queue_max) < 0 ||
        h->config_int(h, cfg, "replay_max", 10000, 0, 100000000, &st->replay_max) < 0 ||
        h->config_int(h, cfg, "replay_bytes", 16LL << 20, 65536, 1LL << 36, &st->replay_bytes) <
            0 ||
        h->config_duration(h, cfg, "session_ttl", 3600000, 1000, 30LL * 86400000,
                           &st->session_ttl_ms) < 0)
        return -EINVAL;
    snprintf(st->ch_events, sizeof st->ch_events, "%s:events", st->prefix);
    snprintf(st->ch_self, sizeof st->ch_self, "%s:node:%s", st->prefix, st->node);
    return 0;
}

static void state_free(cluster_state *st)
{
    if (!st)
        return;
    json_decref(st->events);
    json_decref(st->methods);
    json_decref(st->owners);
    json_decref(st->nodes);
    json_decref(st->last_seq);
    json_decref(st->leases);
    json_decref(st->clients_others);
    if (st->lease_ctx)
        redisFree(st->lease_ctx);
    cluster_tls_free(&st->tls); /* after every connection: their relays end with them */
    pthread_mutex_destroy(&st->lease_mu);
    pthread_mutex_destroy(&st->ev_mu);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    free(st);
}

static int cluster_check_config(const vg_host *host, const vg_config *cfg)
{
    cluster_state st = {0};
    int rc = read_config(host, cfg, &st);
    if (rc == 0 && st.url.tls)
        rc = cluster_tls_init(&st.tls, host, cfg);
    cluster_tls_free(&st.tls);
    json_decref(st.events);
    json_decref(st.methods);
    return rc;
}

static int m_status(const json_t *params, json_t **result, void *user)
{
    (void)params;
    cluster_state *st = user;
    pthread_mutex_lock(&st->mu);
    *result = json_pack(
        "{s:s, s:b, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:O, s:I, s:s}", "node", st->node,
        "connected", CLUSTER_UP(st), "redis", st->url.host, "events_forwarded",
        (json_int_t)st->ev_forwarded, "events_received", (json_int_t)st->ev_received, "events_lost",
        (json_int_t)st->ev_lost, "events_missed", (json_int_t)st->ev_missed, "calls_forwarded",
        (json_int_t)st->calls_forwarded, "calls_served", (json_int_t)st->calls_served,
        "calls_failed", (json_int_t)st->calls_failed, "reconnects", (json_int_t)st->reconnects,
        "nodes", st->nodes, "remote_methods", (json_int_t)json_object_size(st->owners),
        "last_error", st->last_error);
    pthread_mutex_unlock(&st->mu);
    if (*result)
        json_object_set_new(*result, "port", json_integer(st->url.port));
    return *result ? 0 : -ENOMEM;
}

static int cluster_init(const vg_host *host, const vg_config *cfg, void **state)
{
    cluster_state *st = calloc(1, sizeof *st);
    if (!st)
        return -ENOMEM;
    st->host = host;
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    st->owners = json_object();
    st->nodes = json_array();
    st->last_seq = json_object();
    st->leases = json_object();
    pthread_mutex_init(&st->lease_mu, NULL);
    pthread_mutex_init(&st->ev_mu, NULL);
    st->ev_fd = st->ev_wake = -1;
    int rc = read_config(host, cfg, st);
    if (rc == 0 && st->url.tls)
        rc = cluster_tls_init(&st->tls, host, cfg);
    if (rc == 0) {
        vg_workq_opts o = VG_WORKQ_OPTS_INIT;
        o.threads = 4; /* a slow method must not hold every other node's call */
        o.capacity = 1000;
        o.max_attempts = 1;
        o.drain_ms = 0;
        rc = host->workq_create(host, "serve", &o, &st->q);
    }
    if (rc == 0)
        rc = cluster_events_init(st);
    if (rc == 0)
        rc = cluster_methods_init(st);
    if (rc == 0)
        rc = vg_bus_register_method(host->bus, VG_CLUSTER_M_STATUS, m_status, st, NULL);
    if (rc == 0)
        rc = cluster_lease_init(st);
    if (rc == 0)
        rc = cluster_replay_init(st);
    if (rc == 0)
        rc = cluster_clients_init(st);
    if (rc < 0) {
        if (st->q)
            host->workq_stop(st->q);
        state_free(st);
        return rc;
    }
    *state = st;
    return 0;
}

static int cluster_start(void *state)
{
    cluster_state *st = state;
    VG_INFO(st->host, "node '%s' joining cluster '%s' through redis %s:%d", st->node, st->prefix,
            st->url.host, st->url.port);
    return cluster_link_start(st);
}

static void cluster_stop(void *state)
{
    cluster_state *st = state;
    pthread_mutex_lock(&st->mu);
    st->stopping = true; /* no new lease from here on */
    pthread_mutex_unlock(&st->mu);
    cluster_lease_release_all(st); /* hand the jobs over now, not after lease_ttl */
    cluster_link_stop(st);
    st->host->workq_stop(st->q);
}

static void cluster_destroy(void *state) { state_free(state); }

VG_PLUGIN_DEFINE(cluster, "0.1.0", "Several nodes as one: the bus across nodes through Redis",
                 .check_config = cluster_check_config, .init = cluster_init, .start = cluster_start,
                 .stop = cluster_stop, .destroy = cluster_destroy);
