/* cluster plugin: the Socket.IO client counts of the whole cluster, so that
 * every node's stats_update carries one cluster total. Every tick the
 * publisher thread reads this node's counts (broker.status, local) into
 * <prefix>:clients:<node> (PX announce_ttl, so a dead node's lapse) and the
 * other live nodes' with one MGET; when their sum changes it publishes
 * cluster.clients_changed (at most once a tick: the coalescing), and
 * cluster.clients answers the last sum at once (no Redis in the caller). */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vigia/contract/broker.h>
#include <vigia/contract/cluster.h>

#include "cluster.h"

static const char *const FIELDS[] = {"connected", "websocket", "polling"};

static json_t *own_counts(cluster_state *st)
{
    json_t *res = NULL;
    if (vg_bus_call(st->host->bus, VG_BROKER_M_STATUS, NULL, &res) != 0 ||
        json_object_get(res, VG_CLUSTER_F_ORIGIN)) { /* no local broker (or another node's) */
        json_decref(res);
        return NULL;
    }
    json_t *c = json_object_get(res, "clients");
    json_t *out =
        json_pack("{s:O?,s:O?,s:O?}", "connected", json_object_get(c, "total"), "websocket",
                  json_object_get(c, "websocket"), "polling", json_object_get(c, "polling"));
    json_decref(res);
    return out;
}

int cluster_clients_tick(cluster_state *st, void *ctx)
{
    redisContext *c = ctx;
    char key[400];
    json_t *own = NULL;
    /* broker.status is the broker's only while it is local: a node without a
     * broker would get another node's through the fallback resolver. */
    if (vg_bus_has_subscribers(st->host->bus, VG_CLUSTER_EV_CLIENTS_CHANGED))
        own = own_counts(st);
    if (own) {
        char *msg = json_dumps(own, JSON_COMPACT);
        json_decref(own);
        snprintf(key, sizeof key, "%s:clients:%s", st->prefix, st->node);
        redisReply *r =
            msg ? redisCommand(c, "SET %s %s PX %lld", key, msg, (long long)st->announce_ttl_ms)
                : NULL;
        free(msg);
        if (!r)
            return c->err ? -1 : 0;
        freeReplyObject(r);
    }
    pthread_mutex_lock(&st->mu);
    size_t n = json_array_size(st->nodes);
    const char **argv = calloc(n + 1, sizeof *argv);
    char **keys = calloc(n + 1, sizeof *keys);
    for (size_t i = 0; argv && keys && i < n; i++) {
        const char *node = json_string_value(json_array_get(st->nodes, i));
        size_t len = strlen(st->prefix) + strlen(node ? node : "") + 16;
        keys[i] = node ? malloc(len) : NULL;
        if (keys[i])
            snprintf(keys[i], len, "%s:clients:%s", st->prefix, node);
    }
    pthread_mutex_unlock(&st->mu);
    long long sum[3] = {0, 0, 0};
    int counted = 0, rc = 0;
    if (argv && keys && n) {
        argv[0] = "MGET";
        size_t k = 1;
        for (size_t i = 0; i < n; i++)
            if (keys[i])
                argv[k++] = keys[i];
        redisReply *r = redisCommandArgv(c, (int)k, argv, NULL);
        if (!r)
            rc = c->err ? -1 : 0;
        for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
            redisReply *v = r->element[i];
            if (v->type != REDIS_REPLY_STRING)
                continue;
            json_t *o = st->host->json_parse(st->host, v->str, v->len, 0, NULL);
            for (int f = 0; f < 3; f++) {
                json_int_t x = json_integer_value(json_object_get(o, FIELDS[f]));
                if (x > 0 && x < 100000000)
                    sum[f] += x;
            }
            counted++;
            json_decref(o);
        }
        if (r)
            freeReplyObject(r);
    }
    for (size_t i = 0; keys && i < n; i++)
        free(keys[i]);
    free(keys);
    free(argv);
    if (rc < 0)
        return rc;
    json_t *now = json_pack("{s:I,s:I,s:I,s:i}", "connected", (json_int_t)sum[0], "websocket",
                            (json_int_t)sum[1], "polling", (json_int_t)sum[2], "nodes", counted);
    pthread_mutex_lock(&st->mu);
    bool changed = now && !json_equal(now, st->clients_others);
    if (now) {
        json_decref(st->clients_others);
        st->clients_others = json_incref(now);
    }
    pthread_mutex_unlock(&st->mu);
    if (changed) {
        json_object_set_new(now, VG_EVENT_V, json_integer(VG_CLUSTER_EV_V));
        vg_bus_publish_new(st->host->bus, VG_CLUSTER_EV_CLIENTS_CHANGED, now);
    } else {
        json_decref(now);
    }
    return 0;
}

static int m_clients(const json_t *params, json_t **result, void *user)
{
    (void)params;
    cluster_state *st = user;
    pthread_mutex_lock(&st->mu);
    *result = st->clients_others ? json_deep_copy(st->clients_others)
                                 : json_pack("{s:i,s:i,s:i,s:i}", "connected", 0, "websocket", 0,
                                             "polling", 0, "nodes", 0);
    pthread_mutex_unlock(&st->mu);
    return *result ? 0 : -ENOMEM;
}

int cluster_clients_init(cluster_state *st)
{
    int rc = vg_bus_register_method(st->host->bus, VG_CLUSTER_M_CLIENTS, m_clients, st, NULL);
    return rc < 0 ? st->host->fail(st->host, "cannot register %s (%d)", VG_CLUSTER_M_CLIENTS, rc)
                  : 0;
}
