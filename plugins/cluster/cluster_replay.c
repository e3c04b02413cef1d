/* cluster plugin: the replay log, so that a Socket.IO client resumes on any
 * node (docs/cluster.md, "Connection state recovery").
 *   - Every shared event goes into the Redis Stream <prefix>:log and out on
 *     the events channel in one script, so its stream id (the offset every
 *     node gives it) and the order of the channel are the same everywhere.
 *     The log is capped by count (replay_max) and by bytes (MEMORY USAGE
 *     over replay_bytes trims it in proportion), in batches like MAXLEN ~.
 *   - This node's own events come back on the channel like the others' and
 *     go to the local broker as cluster.event_logged with their offset.
 *   - The broker's socket.state_saved / _dropped become <prefix>:session:<pid>
 *     (SET PX / DEL); cluster.recover takes one (GETDEL) with the events
 *     logged after the client's offset, unless the log no longer has them. */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vigia/contract/broker.h>
#include <vigia/contract/cluster.h>

#include "cluster.h"

/* KEYS: log, cut. ARGV: envelope, max entries, max bytes, channel. -> the
 * stream id. Trims in batches (a tenth of the cap over it, like XADD MAXLEN
 * ~ but exact about what went), remembering the last id dropped in `cut`:
 * a client whose offset is older than that may have a hole. */
static const char LOG_SCRIPT[] =
    "local id = redis.call('XADD', KEYS[1], '*', 'e', ARGV[1])\n"
    "local len = redis.call('XLEN', KEYS[1])\n"
    "local max = tonumber(ARGV[2])\n"
    "local drop = 0\n"
    "if len > max + math.max(1, math.floor(max / 10)) then drop = len - max end\n"
    "local used = redis.call('MEMORY', 'USAGE', KEYS[1])\n"
    "if used and used > tonumber(ARGV[3]) then\n"
    "  drop = math.max(drop, len - math.floor(len * tonumber(ARGV[3]) / used * 0.9))\n"
    "end\n"
    "if drop > len - 1 then drop = len - 1 end\n"
    "if drop > 0 then\n"
    "  local old = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', drop + 1)\n"
    "  redis.call('SET', KEYS[2], old[drop][1])\n"
    "  redis.call('XTRIM', KEYS[1], 'MINID', old[drop + 1][1])\n"
    "end\n"
    "redis.call('PUBLISH', ARGV[4], id .. ' ' .. ARGV[1])\n"
    "return id\n";

/* offset -> the stream id it stands for (the logged event at or before it). */
static void offset_id(unsigned long long off, char *out, size_t n)
{
    unsigned long long base = off >> 6;
    snprintf(out, n, "%llu-%llu", (base >> 16) + VG_CLUSTER_OFFSET_EPOCH, base & 0xFFFF);
}

int cluster_replay_connected(cluster_state *st, void *ctx)
{
    redisContext *c = ctx;
    if (st->replay_max <= 0)
        return 0;
    redisReply *r = redisCommand(c, "SCRIPT LOAD %s", LOG_SCRIPT);
    int rc = -1;
    if (r && r->type == REDIS_REPLY_STRING && r->len == 40) {
        /* the same script, the same sha: written once, read by the bus thread */
        if (memcmp(st->log_sha, r->str, 41) != 0)
            memcpy(st->log_sha, r->str, 41);
        rc = 0;
    }
    if (r)
        freeReplyObject(r);
    return rc;
}

int cluster_replay_append(cluster_state *st, void *ctx, const char *msg)
{
    redisContext *c = ctx;
    if (st->replay_max <= 0 || !st->log_sha[0])
        return redisAppendCommand(c, "PUBLISH %s %s", st->ch_events, msg);
    return redisAppendCommand(c, "EVALSHA %s 2 %s %s:cut %s %lld %lld %s", st->log_sha, st->key_log,
                              st->key_log, msg, st->replay_max, st->replay_bytes, st->ch_events);
}

static bool pid_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 40)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
            return false;
    return true;
}

/* Bus thread: the broker's session states, queued for Redis. */
static void on_state(const char *topic, const json_t *payload, void *user)
{
    cluster_state *st = user;
    const char *pid = json_string_value(json_object_get(payload, VG_BROKER_F_PID));
    if (!pid_ok(pid))
        return;
    char key[400];
    snprintf(key, sizeof key, "%s:session:%s", st->prefix, pid);
    if (strcmp(topic, VG_BROKER_EV_STATE_DROPPED) == 0) {
        cluster_link_queue(st, OUT_DEL, key, NULL, 0);
        return;
    }
    json_int_t ttl = json_integer_value(json_object_get(payload, VG_BROKER_F_TTL_MS));
    json_t *rec =
        json_pack("{s:O?,s:O?}", VG_BROKER_F_SID, json_object_get(payload, VG_BROKER_F_SID),
                  VG_BROKER_F_ROOMS, json_object_get(payload, VG_BROKER_F_ROOMS));
    char *msg = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    json_decref(rec);
    cluster_link_queue(st, OUT_SET, key, msg, ttl > 0 ? (long long)ttl : st->session_ttl_ms);
}

static int m_replay_topics(const json_t *params, json_t **result, void *user)
{
    (void)params;
    cluster_state *st = user;
    long long at = 0;
    if (st->replay_max > 0) { /* where the log is now: Redis's clock */
        pthread_mutex_lock(&st->lease_mu);
        redisContext *c = cluster_lease_conn(st);
        redisReply *r = c ? redisCommand(c, "TIME") : NULL;
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
            r->element[0]->type == REDIS_REPLY_STRING)
            at = (long long)vg_cluster_offset(strtoull(r->element[0]->str, NULL, 10) * 1000ULL +
                                                  strtoull(r->element[1]->str, NULL, 10) / 1000,
                                              0);
        if (r)
            freeReplyObject(r);
        pthread_mutex_unlock(&st->lease_mu);
    }
    json_t *topics = st->replay_max > 0 ? json_incref(st->events) : json_array();
    *result = json_pack("{s:o,s:I,s:I}", "topics", topics, "offset", (json_int_t)at,
                        "session_ttl_ms", (json_int_t)st->session_ttl_ms);
    return *result ? 0 : -ENOMEM;
}

static int not_found(json_t **result, const char *reason)
{
    *result = json_pack("{s:b,s:s}", "found", 0, "reason", reason);
    return *result ? 0 : -ENOMEM;
}

/* The last id trimmed from the log ("" when none): GET <log>:cut. */
static void log_cut(redisContext *c, cluster_state *st, char *out, size_t n)
{
    redisReply *r = redisCommand(c, "GET %s:cut", st->key_log);
    out[0] = '\0';
    if (r && r->type == REDIS_REPLY_STRING)
        snprintf(out, n, "%s", r->str);
    if (r)
        freeReplyObject(r);
}

static int m_recover(const json_t *params, json_t **result, void *user)
{
    cluster_state *st = user;
    const char *pid = json_string_value(json_object_get(params, "pid"));
    json_t *o = json_object_get(params, "offset");
    if (!pid_ok(pid) || !json_is_integer(o) || json_integer_value(o) < 0)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT",
                              "expected {pid: 1..40 of [A-Za-z0-9_-], offset: integer >= 0}");
    unsigned long long off = (unsigned long long)json_integer_value(o);
    if (st->replay_max <= 0)
        return not_found(result, "unavailable");
    char key[400], from[64], trimmed[64];
    snprintf(key, sizeof key, "%s:session:%s", st->prefix, pid);
    offset_id(off, from, sizeof from);
    pthread_mutex_lock(&st->lease_mu);
    redisContext *c = cluster_lease_conn(st);
    redisReply *r = c ? redisCommand(c, "GETDEL %s", key) : NULL;
    json_t *rec = NULL;
    if (r && r->type == REDIS_REPLY_STRING)
        rec = st->host->json_parse(st->host, r->str, r->len, 0, NULL);
    int rc;
    if (!r) {
        rc = not_found(result, "unavailable");
    } else if (!json_is_object(rec)) {
        rc = not_found(result, "unknown");
    } else {
        /* Everything after `from` must still be there: nothing trimmed past it. */
        log_cut(c, st, trimmed, sizeof trimmed);
        long long cut = cluster_replay_offset(trimmed, strlen(trimmed));
        if (cut > 0 && (unsigned long long)cut > ((off >> 6) << 6)) {
            rc = not_found(result, "trimmed");
        } else {
            json_t *events = json_array();
            redisReply *x = redisCommand(c, "XRANGE %s (%s + COUNT %lld", st->key_log, from,
                                         st->replay_max * 2 + 100);
            for (size_t i = 0; x && x->type == REDIS_REPLY_ARRAY && i < x->elements; i++) {
                redisReply *e = x->element[i];
                if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
                    e->element[0]->type != REDIS_REPLY_STRING ||
                    e->element[1]->type != REDIS_REPLY_ARRAY || e->element[1]->elements != 2 ||
                    e->element[1]->element[1]->type != REDIS_REPLY_STRING)
                    continue;
                redisReply *v = e->element[1]->element[1];
                json_t *env = st->host->json_parse(st->host, v->str, v->len, 0, NULL);
                const char *topic = json_string_value(json_object_get(env, "t"));
                json_t *payload = json_object_get(env, "p");
                long long eo = cluster_replay_offset(e->element[0]->str, e->element[0]->len);
                if (topic && json_is_object(payload) && eo > 0)
                    json_array_append_new(events,
                                          json_pack("{s:s,s:O,s:I}", "topic", topic, "payload",
                                                    payload, "offset", (json_int_t)eo));
                json_decref(env);
            }
            if (x)
                freeReplyObject(x);
            *result = json_pack("{s:b,s:O?,s:O?,s:o}", "found", 1, VG_BROKER_F_SID,
                                json_object_get(rec, VG_BROKER_F_SID), VG_BROKER_F_ROOMS,
                                json_object_get(rec, VG_BROKER_F_ROOMS), "events", events);
            rc = *result ? 0 : -ENOMEM;
        }
    }
    if (r)
        freeReplyObject(r);
    pthread_mutex_unlock(&st->lease_mu);
    json_decref(rec);
    return rc;
}

int cluster_replay_init(cluster_state *st)
{
    snprintf(st->key_log, sizeof st->key_log, "%s:log", st->prefix);
    const vg_host *h = st->host;
    int rc = vg_bus_register_method(h->bus, VG_CLUSTER_M_REPLAY_TOPICS, m_replay_topics, st, NULL);
    if (rc == 0)
        rc = vg_bus_register_method(h->bus, VG_CLUSTER_M_RECOVER, m_recover, st, NULL);
    if (rc == 0 && st->replay_max > 0)
        rc = vg_bus_subscribe(h->bus, VG_BROKER_EV_STATE_SAVED, on_state, st, NULL, NULL);
    if (rc == 0 && st->replay_max > 0)
        rc = vg_bus_subscribe(h->bus, VG_BROKER_EV_STATE_DROPPED, on_state, st, NULL, NULL);
    return rc < 0 ? h->fail(h, "cannot register the replay log's methods (%d)", rc) : 0;
}
