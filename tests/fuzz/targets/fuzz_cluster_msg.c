/* libFuzzer target: what the cluster plugin reads from Redis
 * (plugins/cluster/cluster_events.c and cluster_methods.c): a message on the
 * events channel (another node's event to republish) and on this node's own
 * channel (a request to serve, or a reply to a forwarded call), parsed with
 * the host's json_parse as in the server (on the plugin's subscriber thread,
 * whose stack is the default one).
 *
 * Input: one byte choosing the channel (even: events, odd: node; bit 1: the
 * replay log on, so that this node's own events come back as
 * cluster.event_logged), then the message ("<stream id> <envelope>" or the
 * bare envelope). Checks, beyond "no crash, no leak": an event is republished at
 * most once, only under a shared prefix, never one of this node's own, and
 * always with cluster_origin set to the sender; a request becomes exactly one
 * job or one refusal; a reply never completes a call that was not waiting. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <vigia/contract/cluster.h>

#include "cluster.h"

static int published, jobs, sends;
static const char *last_topic_ok;

static int f_publish(vg_bus *b, const char *topic, json_t *payload)
{
    (void)b;
    published++;
    if (strcmp(topic, VG_CLUSTER_EV_EVENT_LOGGED) == 0) {
        /* our own event back from the log (replay on): for the local broker */
        const char *t = json_string_value(json_object_get(payload, "topic"));
        json_t *off = json_object_get(payload, "offset");
        if (!t || strncmp(t, "test.", 5) != 0 ||
            !json_is_object(json_object_get(payload, "payload")) ||
            (off && json_integer_value(off) <= 0))
            abort();
        json_decref(payload);
        return 0;
    }
    const char *origin = json_string_value(json_object_get(payload, VG_CLUSTER_F_ORIGIN));
    if (!origin || strcmp(origin, "me") == 0 || strncmp(topic, "test.", 5) != 0)
        abort(); /* republished without its origin, our own echo, or outside the prefixes */
    last_topic_ok = topic;
    json_decref(payload);
    return 0;
}
static int f_call(vg_bus *b, const char *name, const json_t *params, json_t **result)
{
    (void)b, (void)name, (void)params;
    *result = json_object();
    return 0;
}
static const vg_bus_ops ops = {.publish_new = f_publish, .call = f_call};
static vg_bus bus = {.ops = &ops};

static void f_log(const vg_host *h, vg_log_level l, const char *fmt, ...)
{
    (void)h, (void)l, (void)fmt;
}
static json_t *f_json_parse(const vg_host *h, const char *buf, size_t len, size_t flags,
                            json_error_t *err)
{
    (void)h;
    return vg_json_parse(buf, len, flags, 64, err);
}
static int f_submit(vg_workq *q, vg_job_fn run, void *user, vg_free_cb user_free)
{
    (void)q, (void)run;
    jobs++;
    user_free(user); /* never run: the job's own work is a bus call */
    return 0;
}

/* cluster_link.c is not linked: the messages it would send are counted. */
bool cluster_link_send(cluster_state *st, const char *channel, char *msg, bool is_event)
{
    (void)st, (void)channel, (void)is_event;
    sends++;
    free(msg);
    return true;
}

bool cluster_evlink_send(cluster_state *st, char *msg)
{
    (void)st;
    sends++;
    free(msg);
    return true;
}

bool cluster_link_queue(cluster_state *st, int kind, const char *key, char *msg, long long px)
{
    (void)st, (void)kind, (void)key, (void)px;
    sends++;
    free(msg);
    return true;
}

static vg_host host = {.struct_size = sizeof(vg_host),
                       .plugin_name = "cluster",
                       .bus = &bus,
                       .log = f_log,
                       .json_parse = f_json_parse,
                       .workq_submit = f_submit};

typedef struct input {
    const uint8_t *data;
    size_t size;
} input;

static void run(input *in)
{
    cluster_state st;
    memset(&st, 0, sizeof st);
    st.host = &host;
    st.node = "me";
    st.prefix = "vigia";
    st.events = json_pack("[s]", "test.");
    st.last_seq = json_object();
    st.owners = json_object();
    pthread_mutex_init(&st.mu, NULL);
    pthread_cond_init(&st.cv, NULL);
    /* one call waiting for a reply, id "me-1" */
    cluster_pending pd;
    memset(&pd, 0, sizeof pd);
    snprintf(pd.id, sizeof pd.id, "me-1");
    st.pending = &pd;
    published = jobs = sends = 0;
    const char *msg = (const char *)in->data + 1;
    size_t len = in->size - 1;
    st.replay_max = (in->data[0] & 2) ? 100 : 0; /* the replay log on: own events come back */
    if (in->data[0] % 2 == 0) {
        cluster_events_incoming(&st, msg, len);
        if (published > 1 || jobs || sends)
            abort();
    } else {
        cluster_methods_incoming(&st, msg, len);
        if (published || jobs + sends > 1)
            abort(); /* one job, or one refusal sent back, or nothing */
        /* Only a reply naming the waiting call completes it (jansson is the oracle). */
        json_t *o = json_loadb(msg, len, 0, NULL);
        const char *k = json_string_value(json_object_get(o, "k"));
        const char *id = json_string_value(json_object_get(o, "id"));
        bool ours = k && id && strcmp(k, "rep") == 0 && strcmp(id, "me-1") == 0;
        json_decref(o);
        if (pd.done && !ours)
            abort();
        if (pd.done && pd.rc < 0 && pd.result && !json_object_get(pd.result, "error"))
            abort(); /* a failed reply's result is an error object, or none */
        json_decref(pd.result);
    }
    json_decref(st.events);
    json_decref(st.last_seq);
    json_decref(st.owners);
    pthread_mutex_destroy(&st.mu);
    pthread_cond_destroy(&st.cv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    input in = {data, size};
    run(&in);
    return 0;
}
