/* cluster plugin: methods across nodes. Every tick the publisher thread
 * announces the methods this node shares (SET <prefix>:methods:<node>, with
 * a TTL, so a dead node's entry expires) and reads the other nodes' entries
 * into a method -> node map. The bus's fallback resolver looks a method no
 * local plugin provides up in that map, sends a request on the owner's
 * channel and waits for the reply (correlation id, call_timeout). Requests
 * from other nodes run on the plugin's work queue, never the subscriber
 * thread, and are answered on the caller's channel. */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vigia/contract/cluster.h>
#include <vigia/contract/core.h>

#include "cluster.h"

/* Set on a work queue thread while it serves another node's call: a method
 * missing here is then not forwarded again (no ping-pong between nodes). */
static _Thread_local bool serving_remote;

static bool shared(cluster_state *st, const char *name, const char *plugin)
{
    if (strcmp(plugin, "core") == 0 || strcmp(plugin, st->host->plugin_name) == 0)
        return false; /* every node has its own */
    if (json_array_size(st->methods) == 0)
        return true;
    size_t i;
    json_t *p;
    json_array_foreach (st->methods, i, p) {
        const char *s = json_string_value(p);
        size_t n = strlen(s);
        if (n && s[n - 1] == '.' ? strncmp(name, s, n) == 0 : strcmp(name, s) == 0)
            return true;
    }
    return false;
}

/* JSON array of the names this node shares; malloc'd text. */
static char *local_methods(cluster_state *st)
{
    json_t *res = NULL;
    json_t *names = json_array();
    if (vg_bus_call(st->host->bus, VG_CORE_M_BUS_METHODS, NULL, &res) == 0) {
        size_t i;
        json_t *m;
        json_array_foreach (json_object_get(res, "methods"), i, m) {
            const char *name = json_string_value(json_object_get(m, "name"));
            const char *plugin = json_string_value(json_object_get(m, "plugin"));
            if (name && plugin && shared(st, name, plugin))
                json_array_append_new(names, json_string(name));
        }
    }
    json_decref(res);
    char *text = json_dumps(names, JSON_COMPACT);
    json_decref(names);
    return text;
}

static bool listed(const json_t *nodes, const json_t *node)
{
    size_t i;
    json_t *n;
    json_array_foreach (nodes, i, n)
        if (json_equal(n, node))
            return true;
    return false;
}

/* Read every other node's announcement into a fresh map. -1 on a connection error. */
static int refresh_owners(cluster_state *st, redisContext *c)
{
    char pattern[300];
    snprintf(pattern, sizeof pattern, "%s:methods:*", st->prefix);
    size_t plen = strlen(pattern) - 1;
    json_t *owners = json_object();
    json_t *nodes = json_array();
    char cursor[32] = "0";
    int guard = 0;
    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH %s COUNT 100", cursor, pattern);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            if (r)
                freeReplyObject(r);
            json_decref(owners);
            json_decref(nodes);
            return c->err ? -1 : 0;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str ? r->element[0]->str : "0");
        redisReply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            const char *key = keys->element[i]->str;
            if (!key || strlen(key) <= plen)
                continue;
            const char *node = key + plen;
            if (strcmp(node, st->node) == 0)
                continue;
            redisReply *v = redisCommand(c, "GET %s", key);
            if (!v) {
                freeReplyObject(r);
                json_decref(owners);
                json_decref(nodes);
                return -1;
            }
            if (v->type == REDIS_REPLY_STRING) {
                json_error_t jerr;
                json_t *arr = st->host->json_parse(st->host, v->str, v->len, 0, &jerr);
                size_t k;
                json_t *name;
                json_array_foreach (arr, k, name) {
                    /* First announcer wins, so a method is not moved around each tick. */
                    if (json_is_string(name) && !json_object_get(owners, json_string_value(name)))
                        json_object_set_new(owners, json_string_value(name), json_string(node));
                }
                json_decref(arr);
                json_array_append_new(nodes, json_string(node));
            }
            freeReplyObject(v);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0 && ++guard < 1000);
    pthread_mutex_lock(&st->mu);
    /* Just after a reconnect Redis may have lost every announcement (a
     * restart without persistence) while the other nodes have not announced
     * again yet: for one announce_ttl, a node missing from Redis keeps what
     * this node knew of it, as its announcement would have lived that long,
     * so its methods do not vanish for the second between two reconnects. */
    if (st->host->now_mono_ms(st->host) - st->pub_connected_at < st->announce_ttl_ms) {
        const char *method;
        json_t *owner;
        json_object_foreach (st->owners, method, owner)
            if (!listed(nodes, owner) && !json_object_get(owners, method))
                json_object_set(owners, method, owner);
        size_t i;
        json_t *n;
        json_array_foreach (st->nodes, i, n)
            if (!listed(nodes, n))
                json_array_append(nodes, n);
    }
    json_decref(st->owners);
    json_decref(st->nodes);
    st->owners = owners;
    st->nodes = nodes;
    pthread_mutex_unlock(&st->mu);
    return 0;
}

int cluster_methods_tick(cluster_state *st, void *ctx)
{
    redisContext *c = ctx;
    char *names = local_methods(st);
    if (names) {
        char key[300];
        snprintf(key, sizeof key, "%s:methods:%s", st->prefix, st->node);
        redisReply *r =
            redisCommand(c, "SET %s %s PX %lld", key, names, (long long)st->announce_ttl_ms);
        free(names);
        if (!r)
            return -1;
        freeReplyObject(r);
    }
    return refresh_owners(st, c);
}

/* ---- calls from this node ---- */

static int resolve(const char *name, const json_t *params, json_t **result, void *user)
{
    cluster_state *st = user;
    if (serving_remote)
        return -ENOSYS;
    pthread_mutex_lock(&st->mu);
    const char *o = json_string_value(json_object_get(st->owners, name));
    char owner[128];
    snprintf(owner, sizeof owner, "%s", o ? o : "");
    bool up = CLUSTER_UP(st);
    pthread_mutex_unlock(&st->mu);
    const char *dot = strchr(name, '.');
    int plen = dot ? (int)(dot - name) : (int)strlen(name);
    if (!owner[0]) {
        if (!up)
            return vg_method_fail(result, -ENOSYS, "UNAVAILABLE",
                                  "no loaded plugin provides method '%s' here, and the cluster "
                                  "is unreachable (redis %s:%d)",
                                  name, st->url.host, st->url.port);
        return vg_method_fail(result, -ENOSYS, "UNAVAILABLE",
                              "no node of the cluster provides method '%s' (is the '%.*s' plugin "
                              "loaded on any node?)",
                              name, plen, name);
    }
    cluster_pending *pd = calloc(1, sizeof *pd);
    if (!pd)
        return -ENOMEM;
    pthread_mutex_lock(&st->mu);
    snprintf(pd->id, sizeof pd->id, "%s-%llu", st->node, (unsigned long long)++st->call_ids);
    pd->next = st->pending;
    st->pending = pd;
    st->calls_forwarded++;
    pthread_mutex_unlock(&st->mu);

    json_t *req = json_pack("{s:s, s:s, s:s, s:s, s:O?}", "k", "req", "id", pd->id, "from",
                            st->node, "m", name, "params", (json_t *)params);
    char *msg = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    char channel[300];
    snprintf(channel, sizeof channel, "%s:node:%s", st->prefix, owner);
    bool sent = cluster_link_send(st, channel, msg, false);

    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += st->call_timeout_ms / 1000;
    dl.tv_nsec += (long)(st->call_timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&st->mu);
    while (sent && !pd->done)
        if (pthread_cond_timedwait(&st->cv, &st->mu, &dl) == ETIMEDOUT)
            break;
    for (cluster_pending **pp = &st->pending; *pp; pp = &(*pp)->next)
        if (*pp == pd) {
            *pp = pd->next;
            break;
        }
    bool done = pd->done;
    if (!done)
        st->calls_failed++;
    pthread_mutex_unlock(&st->mu);

    int rc;
    if (done && pd->rc == 0) {
        *result = pd->result ? pd->result : json_object();
        rc = 0;
    } else if (done && pd->result) {
        *result = pd->result;
        rc = pd->rc;
    } else if (done) {
        rc = vg_method_fail(result, -EAGAIN, "UNAVAILABLE",
                            "method '%s' on node '%s': the cluster link went down", name, owner);
    } else if (!sent) {
        rc = vg_method_fail(result, -EAGAIN, "UNAVAILABLE",
                            "method '%s' is on node '%s', which cannot be reached now "
                            "(redis %s:%d)",
                            name, owner, st->url.host, st->url.port);
    } else {
        rc = vg_method_fail(result, -EAGAIN, "UNAVAILABLE",
                            "node '%s' did not answer method '%s' within %lld ms", owner, name,
                            (long long)st->call_timeout_ms);
    }
    free(pd);
    return rc;
}

void cluster_methods_fail_pending(cluster_state *st)
{
    pthread_mutex_lock(&st->mu);
    for (cluster_pending *pd = st->pending; pd; pd = pd->next) {
        if (!pd->done) {
            pd->done = true;
            pd->rc = -EAGAIN;
        }
    }
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
}

/* ---- calls from other nodes ---- */

typedef struct serve_job {
    cluster_state *st;
    json_t *req;
} serve_job;

static void serve_free(void *user)
{
    serve_job *j = user;
    json_decref(j->req);
    free(j);
}

static void reply(cluster_state *st, const char *to, const char *id, int rc, json_t *result)
{
    json_t *rep =
        json_pack("{s:s, s:s, s:i, s:o?}", "k", "rep", "id", id, "rc", rc, "result", result);
    char *msg = rep ? json_dumps(rep, JSON_COMPACT) : NULL;
    json_decref(rep);
    char channel[300];
    snprintf(channel, sizeof channel, "%s:node:%s", st->prefix, to);
    cluster_link_send(st, channel, msg, false);
}

static int serve_run(vg_job *job, void *user)
{
    serve_job *j = user;
    cluster_state *st = j->st;
    const char *from = json_string_value(json_object_get(j->req, "from"));
    const char *id = json_string_value(json_object_get(j->req, "id"));
    const char *m = json_string_value(json_object_get(j->req, "m"));
    json_t *result = NULL;
    int rc;
    if (vg_job_cancelled(job)) {
        rc = vg_method_fail(&result, -EAGAIN, "UNAVAILABLE", "node '%s' is stopping", st->node);
    } else {
        serving_remote = true;
        rc = vg_bus_call(st->host->bus, m, json_object_get(j->req, "params"), &result);
        serving_remote = false;
    }
    pthread_mutex_lock(&st->mu);
    st->calls_served++;
    pthread_mutex_unlock(&st->mu);
    reply(st, from, id, rc, result);
    return VG_JOB_DONE;
}

/* Subscriber thread: a request to serve or a reply to hand to its caller. */
void cluster_methods_incoming(cluster_state *st, const char *data, size_t len)
{
    json_error_t jerr;
    json_t *msg = st->host->json_parse(st->host, data, len, 0, &jerr);
    const char *k = json_string_value(json_object_get(msg, "k"));
    const char *id = json_string_value(json_object_get(msg, "id"));
    if (!k || !id || strlen(id) >= sizeof((cluster_pending *)0)->id) {
        VG_WARN(st->host, "ignoring a malformed node message (%zu bytes)", len);
        json_decref(msg);
        return;
    }
    if (strcmp(k, "req") == 0) {
        const char *from = json_string_value(json_object_get(msg, "from"));
        const char *m = json_string_value(json_object_get(msg, "m"));
        if (!from || !m || strlen(from) > 64) {
            VG_WARN(st->host, "ignoring a request without 'from' or 'm'");
            json_decref(msg);
            return;
        }
        char from_c[80], id_c[96], m_c[160];
        snprintf(from_c, sizeof from_c, "%s", from);
        snprintf(id_c, sizeof id_c, "%s", id);
        snprintf(m_c, sizeof m_c, "%s", m);
        serve_job *j = calloc(1, sizeof *j);
        if (!j) {
            json_decref(msg);
            return;
        }
        j->st = st;
        j->req = msg;
        int rc = st->host->workq_submit(st->q, serve_run, j, serve_free);
        if (rc < 0) /* j and msg are freed already: answer from the copies */
            reply(st, from_c, id_c, -EAGAIN,
                  vg_error_new("UNAVAILABLE", "node '%s' is too busy to serve '%s' (%d)", st->node,
                               m_c, rc));
        return;
    }
    if (strcmp(k, "rep") == 0) {
        pthread_mutex_lock(&st->mu);
        for (cluster_pending *pd = st->pending; pd; pd = pd->next) {
            if (!pd->done && strcmp(pd->id, id) == 0) {
                json_t *rc = json_object_get(msg, "rc");
                json_int_t v = json_is_integer(rc) ? json_integer_value(rc) : -EIO;
                /* an errno from another node: 0 or -1..-4095, anything else is -EIO */
                pd->rc = v >= 0 ? 0 : v >= -4095 ? (int)v : -EIO;
                pd->result = json_incref(json_object_get(msg, "result"));
                if (pd->rc < 0 && !json_is_object(json_object_get(pd->result, "error"))) {
                    json_decref(pd->result);
                    pd->result = NULL;
                }
                pd->done = true;
                pthread_cond_broadcast(&st->cv);
                break;
            }
        }
        pthread_mutex_unlock(&st->mu);
    }
    json_decref(msg);
}

int cluster_methods_init(cluster_state *st)
{
    const vg_host *h = st->host;
    if (h->struct_size < offsetof(vg_host, bus_fallback) + sizeof h->bus_fallback ||
        !h->bus_fallback)
        return h->fail(h, "this server has no bus fallback resolver (host table too old)");
    int rc = h->bus_fallback(h, resolve, st, NULL);
    if (rc < 0)
        return h->fail(h, "cannot set the bus fallback resolver (%d)", rc);
    return 0;
}
