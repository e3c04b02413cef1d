/* cluster plugin: events across nodes. A local event under one of the
 * configured prefixes is queued for Redis tagged with this node's id and a
 * sequence number; an event from another node is republished here once,
 * with VG_CLUSTER_F_ORIGIN added so that it is never forwarded again (no
 * echo, no loops). Redis Pub/Sub keeps one publisher's order, and one
 * subscriber thread republishes in arrival order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vigia/contract/cluster.h>

#include "cluster.h"

static bool matches(const json_t *prefixes, const char *topic)
{
    size_t i;
    json_t *p;
    json_array_foreach (prefixes, i, p) {
        const char *s = json_string_value(p);
        size_t n = strlen(s);
        if (n && s[n - 1] == '.' ? strncmp(topic, s, n) == 0 : strcmp(topic, s) == 0)
            return true;
    }
    return false;
}

long long cluster_replay_offset(const char *id, size_t len)
{
    char buf[48];
    if (len == 0 || len >= sizeof buf)
        return 0;
    memcpy(buf, id, len);
    buf[len] = '\0';
    unsigned long long ms, seq;
    char tail;
    if (sscanf(buf, "%llu-%llu%c", &ms, &seq, &tail) != 2)
        return 0;
    return (long long)vg_cluster_offset(ms, seq);
}

void cluster_replay_local(cluster_state *st, const char *topic, const json_t *payload,
                          long long offset)
{
    json_t *ev = json_pack("{s:i,s:s,s:O}", VG_EVENT_V, VG_CLUSTER_EV_V, "topic", topic, "payload",
                           (json_t *)payload);
    if (ev && offset > 0)
        json_object_set_new(ev, "offset", json_integer(offset));
    if (ev)
        vg_bus_publish_new(st->host->bus, VG_CLUSTER_EV_EVENT_LOGGED, ev);
}

/* Bus thread: must not block, so it only serialises and queues. */
static void on_local_event(const char *topic, const json_t *payload, void *user)
{
    cluster_state *st = user;
    if (json_object_get(payload, VG_CLUSTER_F_ORIGIN) || !matches(st->events, topic))
        return;
    pthread_mutex_lock(&st->mu);
    uint64_t seq = ++st->seq;
    pthread_mutex_unlock(&st->mu);
    json_t *env = json_pack("{s:s, s:I, s:s, s:O}", "n", st->node, "s", (json_int_t)seq, "t", topic,
                            "p", (json_t *)payload);
    char *msg = env ? json_dumps(env, JSON_COMPACT) : NULL;
    json_decref(env);
    /* With the replay log, the local broker takes this event when it comes
     * back logged; if Redis does not take it, at once. */
    if (!cluster_evlink_send(st, msg) && st->replay_max > 0)
        cluster_replay_local(st, topic, payload, 0);
}

int cluster_events_init(cluster_state *st)
{
    size_t i;
    json_t *p;
    const vg_host *h = st->host;
    json_array_foreach (st->events, i, p) {
        /* a relay: before the local broker's fan-out, which can take
         * milliseconds that every other node would otherwise wait */
        int rc =
            VG_HOST_HAS(h, bus_subscribe_first)
                ? h->bus_subscribe_first(h, json_string_value(p), on_local_event, st, NULL, NULL)
                : vg_bus_subscribe(h->bus, json_string_value(p), on_local_event, st, NULL, NULL);
        if (rc < 0)
            return st->host->fail(st->host, "cannot subscribe to '%s' (%d)", json_string_value(p),
                                  rc);
    }
    return 0;
}

/* Subscriber thread. */
void cluster_events_incoming(cluster_state *st, const char *data, size_t len)
{
    /* "<stream id> <envelope>" from the replay log's script, or the bare
     * envelope (replay_max = 0). */
    long long offset = 0;
    const char *sp = len && data[0] != '{' ? memchr(data, ' ', len < 48 ? len : 48) : NULL;
    if (sp) {
        offset = cluster_replay_offset(data, (size_t)(sp - data));
        len -= (size_t)(sp - data) + 1;
        data = sp + 1;
    }
    json_error_t jerr;
    json_t *env = st->host->json_parse(st->host, data, len, 0, &jerr);
    const char *node = json_string_value(json_object_get(env, "n"));
    const char *topic = json_string_value(json_object_get(env, "t"));
    json_t *seq = json_object_get(env, "s");
    json_t *payload = json_object_get(env, "p");
    if (!node || !topic || !json_is_integer(seq) || !json_is_object(payload)) {
        VG_WARN(st->host, "ignoring a malformed event message (%zu bytes)", len);
        json_decref(env);
        return;
    }
    if (!matches(st->events, topic)) {
        json_decref(env); /* a topic this node does not share */
        return;
    }
    if (strcmp(node, st->node) == 0) { /* our own: no echo, but the broker's turn */
        if (st->replay_max > 0)
            cluster_replay_local(st, topic, payload, offset);
        json_decref(env);
        return;
    }
    long long s = (long long)json_integer_value(seq);
    pthread_mutex_lock(&st->mu);
    json_t *last = json_object_get(st->last_seq, node);
    if (json_is_integer(last) && s > json_integer_value(last) + 1)
        st->ev_missed += (uint64_t)(s - json_integer_value(last) - 1);
    json_object_set_new(st->last_seq, node, json_integer(s));
    pthread_mutex_unlock(&st->mu);

    json_t *copy = json_deep_copy(payload);
    json_object_set_new(copy, VG_CLUSTER_F_ORIGIN, json_string(node));
    if (offset > 0)
        json_object_set_new(copy, VG_CLUSTER_F_OFFSET, json_integer(offset));
    int rc = vg_bus_publish_new(st->host->bus, topic, copy);
    pthread_mutex_lock(&st->mu);
    if (rc == 0)
        st->ev_received++;
    else
        st->ev_missed++;
    pthread_mutex_unlock(&st->mu);
    json_decref(env);
}
