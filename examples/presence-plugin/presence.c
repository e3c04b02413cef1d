/* presence: "who else is looking at this dataset", a real-time feature added
 * to the broker through its extension API only (bus methods and events of
 * include/vigia/contract/broker.h; the broker knows nothing of it).
 *
 * Browser side (socket.io-client):
 *   const p = io("/presence", {auth: {name: "Ana"}});     // a name of 1-40 chars
 *   p.emit("watch", {dataset: "<id>"}, ({viewers}) => ...); // one page at a time
 *   p.on("presence", ({dataset, viewers}) => ...);          // the page's viewers changed
 *   p.emit("unwatch");
 * A CONNECT without a valid name is refused (connect_error). Each page is a
 * room of namespace /presence ("dataset:<id>"); viewers are the names. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vigia/contract/broker.h>
#include <vigia/vigia.h>

#define NSP "/presence"
#define HANDLER "presence.handle"
#define NAME_MAX_LEN 40
#define DATASET_MAX_LEN 100

typedef struct viewer {
    struct viewer *next;
    char sid[32];
    char name[NAME_MAX_LEN + 1];
    char dataset[DATASET_MAX_LEN + 1]; /* "" when on no page */
} viewer;

typedef struct presence {
    const vg_host *host;
    pthread_mutex_t mu;
    viewer *viewers; /* every socket of the namespace */
} presence;

static int printable(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

static viewer *find_locked(presence *p, const char *sid)
{
    for (viewer *v = p->viewers; v; v = v->next)
        if (strcmp(v->sid, sid) == 0)
            return v;
    return NULL;
}

static void add(presence *p, const char *sid, const char *name)
{
    viewer *v = calloc(1, sizeof *v);
    if (!v)
        return;
    snprintf(v->sid, sizeof v->sid, "%s", sid);
    snprintf(v->name, sizeof v->name, "%s", name);
    pthread_mutex_lock(&p->mu);
    v->next = p->viewers;
    p->viewers = v;
    pthread_mutex_unlock(&p->mu);
}

static json_t *names_locked(presence *p, const char *dataset)
{
    json_t *a = json_array();
    for (viewer *v = p->viewers; v; v = v->next)
        if (strcmp(v->dataset, dataset) == 0)
            json_array_append_new(a, json_string(v->name));
    return a;
}

static int call(presence *p, const char *method, json_t *params)
{
    json_t *r = NULL;
    int rc = vg_bus_call(p->host->bus, method, params, &r);
    if (rc < 0) {
        char *why = json_dumps(r, 0);
        VG_DEBUG(p->host, "%s: %s", method, why ? why : "failed");
        free(why);
    }
    json_decref(r);
    json_decref(params);
    return rc;
}

static void room_of(char *out, size_t size, const char *dataset)
{
    snprintf(out, size, "dataset:%s", dataset);
}

/* Tell a page's viewers who is there now. */
static void announce(presence *p, const char *dataset)
{
    if (!dataset[0])
        return;
    char room[DATASET_MAX_LEN + 16];
    room_of(room, sizeof room, dataset);
    pthread_mutex_lock(&p->mu);
    json_t *names = names_locked(p, dataset);
    pthread_mutex_unlock(&p->mu);
    call(p, VG_BROKER_M_EMIT,
         json_pack("{s:s,s:{s:s},s:s,s:[{s:s,s:o}]}", "namespace", NSP, "to", "room", room, "event",
                   "presence", "args", "dataset", dataset, "viewers", names));
}

/* Move socket `sid` to page `dataset` ("" = none); announce both pages. */
static json_t *move(presence *p, const char *sid, const char *dataset)
{
    char old[DATASET_MAX_LEN + 1] = "", room[DATASET_MAX_LEN + 16];
    pthread_mutex_lock(&p->mu);
    viewer *v = find_locked(p, sid);
    if (v) {
        snprintf(old, sizeof old, "%s", v->dataset);
        snprintf(v->dataset, sizeof v->dataset, "%s", dataset);
    }
    pthread_mutex_unlock(&p->mu);
    if (!v)
        return vg_error_new("NOT_FOUND", "this socket is not connected to " NSP);
    if (old[0] && strcmp(old, dataset) != 0) {
        room_of(room, sizeof room, old);
        call(p, VG_BROKER_M_LEAVE, json_pack("{s:s,s:s}", "sid", sid, "room", room));
        announce(p, old);
    }
    if (dataset[0]) {
        room_of(room, sizeof room, dataset);
        call(p, VG_BROKER_M_JOIN, json_pack("{s:s,s:s}", "sid", sid, "room", room));
        announce(p, dataset);
    }
    pthread_mutex_lock(&p->mu);
    json_t *names = names_locked(p, dataset);
    pthread_mutex_unlock(&p->mu);
    return json_pack("{s:s,s:o}", "dataset", dataset, "viewers", names);
}

/* The broker calls this for CONNECTs to /presence (auth) and its events. */
static int handle(const json_t *params, json_t **result, void *user)
{
    presence *p = user;
    const char *type = json_string_value(json_object_get(params, "type"));
    if (type && strcmp(type, VG_BROKER_CALL_AUTH) == 0) {
        const json_t *auth = json_object_get(params, VG_BROKER_F_AUTH);
        const char *name = json_string_value(json_object_get(auth, "name"));
        const char *sid = json_string_value(json_object_get(params, VG_BROKER_F_SID));
        if (!printable(name, NAME_MAX_LEN) || !sid) {
            *result = json_pack("{s:b,s:s,s:{s:s}}", "accept", 0, "message",
                                "name: expected 1 to 40 printable characters in the auth", "data",
                                "code", "INVALID_ARGUMENT");
            return 0;
        }
        /* remembered now: the client may "watch" before socket.connected reaches us */
        add(p, sid, name);
        *result = json_pack("{s:b}", "accept", 1);
        return 0;
    }
    const char *sid = json_string_value(json_object_get(params, VG_BROKER_F_SID));
    const char *event = json_string_value(json_object_get(params, VG_BROKER_F_EVENT));
    const json_t *arg = json_array_get(json_object_get(params, VG_BROKER_F_ARGS), 0);
    if (!sid || !event)
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT", "sid and event expected");
    json_t *answer;
    if (strcmp(event, "watch") == 0) {
        const char *ds = json_string_value(json_object_get(arg, "dataset"));
        answer = printable(ds, DATASET_MAX_LEN)
                     ? move(p, sid, ds)
                     : vg_error_new("INVALID_ARGUMENT", "dataset: expected a dataset id");
    } else if (strcmp(event, "unwatch") == 0) {
        answer = move(p, sid, "");
    } else {
        answer = vg_error_new("UNKNOWN_EVENT", "unknown event '%.64s'", event);
    }
    *result = json_pack("{s:[o]}", "ack", answer); /* used when the client asked */
    return 0;
}

static void on_socket(const char *topic, const json_t *payload, void *user)
{
    presence *p = user;
    const char *nsp = json_string_value(json_object_get(payload, VG_BROKER_F_NAMESPACE));
    const char *sid = json_string_value(json_object_get(payload, VG_BROKER_F_SID));
    if (!nsp || !sid || strcmp(nsp, NSP) != 0 || strlen(sid) >= sizeof((viewer *)0)->sid)
        return;
    (void)topic; /* socket.disconnected only: a socket is known since its auth */
    char dataset[DATASET_MAX_LEN + 1] = "";
    pthread_mutex_lock(&p->mu);
    for (viewer **pp = &p->viewers; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->sid, sid) == 0) {
            viewer *v = *pp;
            *pp = v->next;
            snprintf(dataset, sizeof dataset, "%s", v->dataset);
            free(v);
            break;
        }
    pthread_mutex_unlock(&p->mu);
    announce(p, dataset); /* the others on that page */
}

static int presence_init(const vg_host *host, const vg_config *cfg, void **state)
{
    (void)cfg;
    presence *p = calloc(1, sizeof *p);
    if (!p)
        return host->fail(host, "out of memory");
    p->host = host;
    pthread_mutex_init(&p->mu, NULL);
    *state = p;
    if (vg_bus_register_method(host->bus, HANDLER, handle, p, NULL) < 0 ||
        vg_bus_subscribe(host->bus, VG_BROKER_EV_SOCKET_DISCONNECTED, on_socket, p, NULL, NULL) < 0)
        return host->fail(host, "cannot register on the bus");
    return 0;
}

/* The broker's methods exist once every plugin's init has run. */
static int presence_start(void *state)
{
    presence *p = state;
    json_t *r = NULL,
           *params = json_pack("{s:s,s:s,s:b}", "namespace", NSP, "handler", HANDLER, "auth", 1);
    int rc = vg_bus_call(p->host->bus, VG_BROKER_M_REGISTER, params, &r);
    json_decref(params);
    if (rc < 0) {
        char *why = json_dumps(r, 0);
        VG_ERROR(p->host, "broker.register: %s (is the broker plugin loaded before?)",
                 why ? why : "failed");
        free(why);
    }
    json_decref(r);
    return rc;
}

static void presence_destroy(void *state)
{
    presence *p = state;
    while (p->viewers) {
        viewer *v = p->viewers;
        p->viewers = v->next;
        free(v);
    }
    pthread_mutex_destroy(&p->mu);
    free(p);
}

VG_PLUGIN_DEFINE(presence, "1.0.0", "who else is looking at a dataset page (Socket.IO /presence)",
                 .init = presence_init, .start = presence_start, .destroy = presence_destroy);
