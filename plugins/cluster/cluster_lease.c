/* cluster plugin: leases, so that exactly one node does a job (the monitor
 * sweeps a portal on one node). A lease is the Redis key
 * <prefix>:lease:<name> = "<node>|<token>", taken with SET NX PX lease_ttl;
 * the token comes from INCR <prefix>:fence:<name>, so it grows with every new
 * holder (a fencing token). While held, the publisher thread renews it every
 * tick (compare-and-PEXPIRE); a node that was paused past the TTL finds
 * another holder and drops it. Before acting on its work the holder asks
 * cluster.lease_check, which compares the key with its own token: an old
 * holder whose lease moved on is refused. Without Redis a node keeps a lease
 * only until its local expiry (the TTL after the last renewal), so nobody
 * sweeps twice, and after that nobody sweeps until Redis is back.
 *
 * The caller's thread talks to Redis on a connection of its own (lease_ctx,
 * one call at a time), since the two link connections belong to their
 * threads. */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vigia/contract/cluster.h>

#include "cluster.h"

/* KEYS: lease, fence. ARGV: node, ttl. -> {held 0/1, token, holder} */
static const char ACQUIRE[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "if v then\n"
    "  local sep = string.find(v, '|', 1, true)\n"
    "  local holder = string.sub(v, 1, sep - 1)\n"
    "  local token = tonumber(string.sub(v, sep + 1))\n"
    "  if holder == ARGV[1] then\n"
    "    redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "    return {1, token, holder}\n"
    "  end\n"
    "  return {0, token, holder}\n"
    "end\n"
    "local t = redis.call('INCR', KEYS[2])\n"
    "redis.call('SET', KEYS[1], ARGV[1] .. '|' .. t, 'NX', 'PX', ARGV[2])\n"
    "return {1, t, ARGV[1]}\n";

/* KEYS: lease. ARGV: "node|token", ttl (0: delete). -> 1 when it was ours. */
static const char RENEW[] = "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end\n"
                            "if ARGV[2] == '0' then redis.call('DEL', KEYS[1])\n"
                            "else redis.call('PEXPIRE', KEYS[1], ARGV[2]) end\n"
                            "return 1\n";

static bool name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':'))
            return false;
    }
    return true;
}

/* The caller's connection; NULL when Redis cannot be reached. Holds lease_mu. */
void *cluster_lease_conn(cluster_state *st)
{
    if (st->lease_ctx && ((redisContext *)st->lease_ctx)->err) {
        redisFree(st->lease_ctx);
        st->lease_ctx = NULL;
    }
    if (!st->lease_ctx) {
        char why[200];
        st->lease_ctx = cluster_link_connect(st, why, sizeof why);
    }
    return st->lease_ctx;
}

static void held_set(cluster_state *st, const char *name, long long token)
{
    int64_t until = st->host->now_mono_ms(st->host) + st->lease_ttl_ms;
    pthread_mutex_lock(&st->mu);
    json_object_set_new(
        st->leases, name,
        json_pack("{s:I, s:I}", "token", (json_int_t)token, "until", (json_int_t)until));
    pthread_mutex_unlock(&st->mu);
}

/* Our token for `name` while the local expiry has not passed, else -1. */
static long long held_token(cluster_state *st, const char *name, bool *expired)
{
    int64_t now = st->host->now_mono_ms(st->host);
    pthread_mutex_lock(&st->mu);
    json_t *l = json_object_get(st->leases, name);
    long long token = l ? (long long)json_integer_value(json_object_get(l, "token")) : -1;
    *expired = l && json_integer_value(json_object_get(l, "until")) <= now;
    pthread_mutex_unlock(&st->mu);
    return *expired ? -1 : token;
}

static void held_drop(cluster_state *st, const char *name)
{
    pthread_mutex_lock(&st->mu);
    json_object_del(st->leases, name);
    pthread_mutex_unlock(&st->mu);
}

static int m_lease(const json_t *params, json_t **result, void *user)
{
    cluster_state *st = user;
    const char *name = json_string_value(json_object_get(params, "name"));
    if (!name_ok(name))
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "name: expected 1..128 of [A-Za-z0-9_.:-]");
    pthread_mutex_lock(&st->mu);
    bool stopping = st->stopping;
    pthread_mutex_unlock(&st->mu);
    if (stopping) { /* nobody would renew it */
        *result = json_pack("{s:b, s:I, s:s, s:s}", "held", 0, "token", (json_int_t)0, "holder", "",
                            "error", "this node is stopping");
        return *result ? 0 : -ENOMEM;
    }
    char key[400], fence[400], ttl[32];
    snprintf(key, sizeof key, "%s:lease:%s", st->prefix, name);
    snprintf(fence, sizeof fence, "%s:fence:%s", st->prefix, name);
    snprintf(ttl, sizeof ttl, "%lld", (long long)st->lease_ttl_ms);
    pthread_mutex_lock(&st->lease_mu);
    redisContext *c = ((redisContext *)cluster_lease_conn(st));
    redisReply *r =
        c ? redisCommand(c, "EVAL %s 2 %s %s %s %s", ACQUIRE, key, fence, st->node, ttl) : NULL;
    bool ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
              r->element[0]->type == REDIS_REPLY_INTEGER &&
              r->element[1]->type == REDIS_REPLY_INTEGER &&
              r->element[2]->type == REDIS_REPLY_STRING;
    if (ok) {
        bool held = r->element[0]->integer == 1;
        long long token = r->element[1]->integer;
        if (held)
            held_set(st, name, token);
        else
            held_drop(st, name);
        *result = json_pack("{s:b, s:I, s:s}", "held", held, "token", (json_int_t)token, "holder",
                            r->element[2]->str);
    }
    char err[200];
    snprintf(err, sizeof err, "%s",
             r && r->type == REDIS_REPLY_ERROR ? r->str
             : c                               ? c->errstr
                                               : "cannot connect");
    if (r)
        freeReplyObject(r);
    pthread_mutex_unlock(&st->lease_mu);
    if (ok)
        return *result ? 0 : -ENOMEM;
    /* Redis cannot say: keep what we hold until its local expiry, take nothing new. */
    bool expired = false;
    long long token = held_token(st, name, &expired);
    *result = json_pack("{s:b, s:I, s:s, s:s}", "held", token >= 0, "token",
                        (json_int_t)(token >= 0 ? token : 0), "holder", token >= 0 ? st->node : "",
                        "error", err);
    return *result ? 0 : -ENOMEM;
}

static int m_lease_check(const json_t *params, json_t **result, void *user)
{
    cluster_state *st = user;
    const char *name = json_string_value(json_object_get(params, "name"));
    if (!name_ok(name))
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "name: expected 1..128 of [A-Za-z0-9_.:-]");
    bool expired = false;
    long long token = held_token(st, name, &expired);
    if (token < 0) {
        *result = json_pack("{s:b, s:s}", "valid", 0, "reason",
                            expired ? "lease expired (not renewed in time)" : "lease not held");
        return *result ? 0 : -ENOMEM;
    }
    char key[400], mine[200];
    snprintf(key, sizeof key, "%s:lease:%s", st->prefix, name);
    snprintf(mine, sizeof mine, "%s|%lld", st->node, token);
    pthread_mutex_lock(&st->lease_mu);
    redisContext *c = ((redisContext *)cluster_lease_conn(st));
    redisReply *r = c ? redisCommand(c, "GET %s", key) : NULL;
    int valid = -1; /* unknown: Redis cannot say */
    char holder[200] = "";
    if (r && r->type == REDIS_REPLY_STRING) {
        valid = strcmp(r->str, mine) == 0;
        snprintf(holder, sizeof holder, "%s", r->str);
    } else if (r && r->type == REDIS_REPLY_NIL) {
        valid = 0;
    }
    if (r)
        freeReplyObject(r);
    pthread_mutex_unlock(&st->lease_mu);
    if (valid == 0)
        held_drop(st, name);
    if (valid < 0) /* within the local expiry, as held_token said */
        *result = json_pack("{s:b, s:I, s:s}", "valid", 1, "token", (json_int_t)token, "reason",
                            "redis unreachable; within the lease's local expiry");
    else if (valid)
        *result = json_pack("{s:b, s:I}", "valid", 1, "token", (json_int_t)token);
    else
        *result = json_pack("{s:b, s:I, s:s}", "valid", 0, "token", (json_int_t)token, "reason",
                            holder[0] ? holder : "lease expired");
    return *result ? 0 : -ENOMEM;
}

int cluster_lease_tick(cluster_state *st, void *ctx)
{
    redisContext *c = ctx;
    pthread_mutex_lock(&st->mu);
    json_t *leases = json_deep_copy(st->leases);
    pthread_mutex_unlock(&st->mu);
    const char *name;
    json_t *l;
    int rc = 0;
    char ttl[32];
    snprintf(ttl, sizeof ttl, "%lld", (long long)st->lease_ttl_ms);
    json_object_foreach (leases, name, l) {
        char key[400], mine[200];
        long long token = (long long)json_integer_value(json_object_get(l, "token"));
        snprintf(key, sizeof key, "%s:lease:%s", st->prefix, name);
        snprintf(mine, sizeof mine, "%s|%lld", st->node, token);
        redisReply *r = redisCommand(c, "EVAL %s 1 %s %s %s", RENEW, key, mine, ttl);
        if (!r) {
            rc = -1;
            break;
        }
        if (r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
            held_set(st, name, token);
        } else if (r->type == REDIS_REPLY_INTEGER) {
            VG_WARN(st->host, "lease '%s' (token %lld) was taken over by another node", name,
                    token);
            held_drop(st, name);
        }
        freeReplyObject(r);
    }
    json_decref(leases);
    return rc;
}

void cluster_lease_release_all(cluster_state *st)
{
    pthread_mutex_lock(&st->mu);
    json_t *leases = json_deep_copy(st->leases);
    json_object_clear(st->leases);
    pthread_mutex_unlock(&st->mu);
    pthread_mutex_lock(&st->lease_mu);
    redisContext *c = json_object_size(leases) ? ((redisContext *)cluster_lease_conn(st)) : NULL;
    const char *name;
    json_t *l;
    json_object_foreach (leases, name, l) {
        if (!c)
            break;
        char key[400], mine[200];
        snprintf(key, sizeof key, "%s:lease:%s", st->prefix, name);
        snprintf(mine, sizeof mine, "%s|%lld", st->node,
                 (long long)json_integer_value(json_object_get(l, "token")));
        redisReply *r = redisCommand(c, "EVAL %s 1 %s %s 0", RENEW, key, mine);
        if (r)
            freeReplyObject(r);
    }
    if (st->lease_ctx) {
        redisFree(st->lease_ctx);
        st->lease_ctx = NULL;
    }
    pthread_mutex_unlock(&st->lease_mu);
    json_decref(leases);
}

int cluster_lease_init(cluster_state *st)
{
    int rc = vg_bus_register_method(st->host->bus, VG_CLUSTER_M_LEASE, m_lease, st, NULL);
    if (rc == 0)
        rc = vg_bus_register_method(st->host->bus, VG_CLUSTER_M_LEASE_CHECK, m_lease_check, st,
                                    NULL);
    return rc < 0 ? st->host->fail(st->host, "cannot register the lease methods (%d)", rc) : 0;
}
