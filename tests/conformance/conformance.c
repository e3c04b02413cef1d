/* conformance: what the official Socket.IO protocol test suite expects of a
 * server (its README's reference server), through the broker's extension API
 * only (include/vigia/contract/broker.h):
 *   - on connect to "/" or "/custom": emit "auth" with the CONNECT payload;
 *   - "message" on "/": emit "message-back" with the same arguments;
 *   - "message-with-ack" on "/": answer the ack with the same arguments.
 * Binary arguments come and go as {"_binary": base64}, untouched. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vigia/contract/broker.h>
#include <vigia/vigia.h>

#define HANDLER "conformance.handle"

/* The suite's helper reads the CONNECT reply and the "auth" event with two
 * separate reads of its WebSocket: it loses the second when both arrive in
 * one TCP read (the reference Node server writes them in separate event-loop
 * turns). So "auth" leaves AUTH_DELAY_MS after the connect, from a thread of
 * ours (bus callbacks must not sleep). */
#define AUTH_DELAY_MS 15

typedef struct pending {
    struct pending *next;
    struct timespec due;
    char sid[32];
    json_t *auth;
} pending;

typedef struct conf {
    const vg_host *host;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    pending *head, *tail;
    int stopping, started;
    pthread_t thread;
} conf;

static void emit(conf *c, const char *sid, const char *event, json_t *args)
{
    json_t *p = json_pack("{s:{s:s},s:s,s:o}", "to", "sid", sid, "event", event, "args", args);
    json_t *r = NULL;
    if (vg_bus_call(c->host->bus, VG_BROKER_M_EMIT, p, &r) < 0) {
        char *why = json_dumps(r, 0);
        VG_WARN(c->host, "broker.emit %s: %s", event, why ? why : "failed");
        free(why);
    }
    json_decref(r);
    json_decref(p);
}

/* The broker calls this for every client event routed to us. */
static int handle(const json_t *params, json_t **result, void *user)
{
    conf *c = user;
    const char *sid = json_string_value(json_object_get(params, VG_BROKER_F_SID));
    const char *event = json_string_value(json_object_get(params, VG_BROKER_F_EVENT));
    json_t *args = json_object_get(params, VG_BROKER_F_ARGS);
    if (!sid || !event || !json_is_array(args))
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT", "sid, event, args expected");
    if (strcmp(event, "message") == 0) {
        emit(c, sid, "message-back", json_incref(args));
        *result = json_object();
    } else if (strcmp(event, "message-with-ack") == 0) {
        *result = json_pack("{s:O}", "ack", args);
    } else {
        *result = json_object();
    }
    return 0;
}

static void on_connected(const char *topic, const json_t *payload, void *user)
{
    (void)topic;
    conf *c = user;
    const char *sid = json_string_value(json_object_get(payload, VG_BROKER_F_SID));
    const char *nsp = json_string_value(json_object_get(payload, VG_BROKER_F_NAMESPACE));
    if (!sid || !nsp || (strcmp(nsp, "/") != 0 && strcmp(nsp, "/custom") != 0))
        return;
    json_t *auth = json_object_get(payload, VG_BROKER_F_AUTH);
    pending *p = calloc(1, sizeof *p);
    if (!p)
        return;
    snprintf(p->sid, sizeof p->sid, "%s", sid);
    p->auth = json_pack("[O]", auth ? auth : json_object());
    clock_gettime(CLOCK_MONOTONIC, &p->due);
    p->due.tv_nsec += AUTH_DELAY_MS * 1000000L;
    if (p->due.tv_nsec >= 1000000000L) {
        p->due.tv_sec++;
        p->due.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&c->mu);
    if (c->tail)
        c->tail->next = p;
    else
        c->head = p;
    c->tail = p;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->mu);
}

static void *auth_sender(void *arg)
{
    conf *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stopping) {
        pending *p = c->head;
        if (!p) {
            pthread_cond_wait(&c->cond, &c->mu);
            continue;
        }
        if (pthread_cond_timedwait(&c->cond, &c->mu, &p->due) != ETIMEDOUT && !c->stopping)
            continue; /* woken early: look again */
        if (c->stopping)
            break;
        c->head = p->next;
        if (!c->head)
            c->tail = NULL;
        pthread_mutex_unlock(&c->mu);
        emit(c, p->sid, "auth", p->auth);
        free(p);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

static int conf_init(const vg_host *host, const vg_config *cfg, void **state)
{
    (void)cfg;
    conf *c = calloc(1, sizeof *c);
    if (!c)
        return host->fail(host, "out of memory");
    c->host = host;
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cond, &a);
    pthread_condattr_destroy(&a);
    *state = c;
    if (vg_bus_register_method(host->bus, HANDLER, handle, c, NULL) < 0 ||
        vg_bus_subscribe(host->bus, VG_BROKER_EV_SOCKET_CONNECTED, on_connected, c, NULL, NULL) < 0)
        return host->fail(host, "cannot register on the bus");
    return 0;
}

/* After every init: the broker's methods exist. */
static int conf_start(void *state)
{
    conf *c = state;
    if (pthread_create(&c->thread, NULL, auth_sender, c) != 0)
        return -EAGAIN;
    c->started = 1;
    const char *regs[] = {"{\"namespace\":\"/\",\"handler\":\"" HANDLER
                          "\",\"events\":[\"message\",\"message-with-ack\"]}",
                          "{\"namespace\":\"/custom\",\"handler\":\"" HANDLER "\"}"};
    for (size_t i = 0; i < sizeof regs / sizeof *regs; i++) {
        json_t *p = json_loads(regs[i], 0, NULL), *r = NULL;
        int rc = vg_bus_call(c->host->bus, VG_BROKER_M_REGISTER, p, &r);
        json_decref(p);
        if (rc < 0) {
            char *msg = json_dumps(r, 0);
            VG_ERROR(c->host, "broker.register: %s", msg ? msg : "failed");
            free(msg);
            json_decref(r);
            return rc;
        }
        json_decref(r);
    }
    return 0;
}

static void conf_stop(void *state)
{
    conf *c = state;
    pthread_mutex_lock(&c->mu);
    c->stopping = 1;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
    if (c->started)
        pthread_join(c->thread, NULL);
    c->started = 0;
}

static void conf_destroy(void *state)
{
    conf *c = state;
    while (c->head) {
        pending *p = c->head;
        c->head = p->next;
        json_decref(p->auth);
        free(p);
    }
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cond);
    free(c);
}

VG_PLUGIN_DEFINE(conformance, "1.0.0",
                 "test only: the Socket.IO protocol test suite's reference server on the broker",
                 .init = conf_init, .start = conf_start, .stop = conf_stop,
                 .destroy = conf_destroy);
