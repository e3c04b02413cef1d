#include "bus.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

struct vg_subscription {
    char *topic;
    size_t topic_len;
    vg_event_cb cb;
    void *user;
    vg_free_cb user_free;
    core_bus_client *owner;
    int refs;    /* list membership + deliveries in flight */
    int running; /* callbacks executing now */
    bool removed;
    bool first; /* a relay's (core_bus_subscribe_first): called before the others */
    struct vg_subscription *next;
};

typedef struct method {
    char *name;
    vg_method_cb cb;
    void *user;
    vg_free_cb user_free;
    core_bus_client *owner;
    int calls; /* in flight */
    struct method *next;
} method;

typedef struct event {
    char *topic;
    json_t *payload;
} event;

struct core_bus {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full, idle;
    event *ring;
    size_t capacity, head, count, high_water;
    int full_wait_ms;
    bool stopping, stopped, delivering;
    pthread_t thread;
    bool thread_started;

    struct vg_subscription *subs;
    method *methods;
    size_t n_subs, n_methods;

    /* The one fallback resolver (host->bus_fallback), NULL when none. */
    vg_bus_fallback_cb fb_cb;
    void *fb_user;
    vg_free_cb fb_free;
    core_bus_client *fb_owner;
    int fb_calls; /* in flight */
    uint64_t fb_resolved, fb_declined;

    uint64_t published, delivered, failed;
};

struct core_bus_client {
    vg_bus pub; /* first: the plugin sees &pub */
    core_bus *bus;
    char *owner;
};

static const vg_bus_ops client_ops;

static core_bus_client *client_of(vg_bus *b) { return (core_bus_client *)b; }

static bool on_bus_thread(core_bus *bus)
{
    return bus->thread_started && pthread_equal(pthread_self(), bus->thread);
}

/* ---- subscriptions ---- */

static bool topic_matches(const struct vg_subscription *s, const char *topic)
{
    if (s->topic_len == 0)
        return true;
    if (s->topic[s->topic_len - 1] == '.')
        return strncmp(topic, s->topic, s->topic_len) == 0;
    return strcmp(topic, s->topic) == 0;
}

static void sub_release_locked(core_bus *bus, struct vg_subscription *s, vg_free_cb *free_cb,
                               void **free_user)
{
    (void)bus;
    if (--s->refs == 0) {
        *free_cb = s->user_free;
        *free_user = s->user;
        free(s->topic);
        free(s);
    }
}

static bool valid_topic(const char *t, bool allow_empty, bool allow_trailing_dot)
{
    if (!t)
        return false;
    size_t n = strlen(t);
    if (n == 0)
        return allow_empty;
    if (n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == ':'))
            return false;
    }
    if (t[0] == '.')
        return false;
    if (t[n - 1] == '.' && !allow_trailing_dot)
        return false;
    return true;
}

static int subscribe(core_bus_client *c, const char *topic, vg_event_cb cb, void *user,
                     vg_free_cb user_free, bool first, vg_subscription **out)
{
    core_bus *bus = c->bus;
    if (out)
        *out = NULL;
    if (!cb || !valid_topic(topic, true, true)) {
        if (user_free)
            user_free(user);
        return -EINVAL;
    }
    struct vg_subscription *s = calloc(1, sizeof *s);
    if (!s || !(s->topic = strdup(topic))) {
        free(s);
        if (user_free)
            user_free(user);
        return -ENOMEM;
    }
    s->topic_len = strlen(topic);
    s->cb = cb;
    s->user = user;
    s->user_free = user_free;
    s->owner = c;
    s->refs = 1;
    s->first = first;
    pthread_mutex_lock(&bus->lock);
    /* Subscribers are called in subscription order, the relays' first: a
     * relay goes after the last relay, any other at the end. */
    struct vg_subscription **pp = &bus->subs;
    while (*pp && (!first || (*pp)->first))
        pp = &(*pp)->next;
    s->next = *pp;
    *pp = s;
    bus->n_subs++;
    pthread_mutex_unlock(&bus->lock);
    if (out)
        *out = s;
    return 0;
}

static int op_subscribe(vg_bus *b, const char *topic, vg_event_cb cb, void *user,
                        vg_free_cb user_free, vg_subscription **out)
{
    return subscribe(client_of(b), topic, cb, user, user_free, false, out);
}

int core_bus_subscribe_first(core_bus_client *c, const char *topic, vg_event_cb cb, void *user,
                             vg_free_cb user_free, vg_subscription **out)
{
    return subscribe(c, topic, cb, user, user_free, true, out);
}

/* Caller holds the lock. Unlinks `s`, waits until it is idle (unless we are
 * inside its own callback) and drops the list reference. */
static void unsubscribe_locked(core_bus *bus, struct vg_subscription *s, vg_free_cb *fc, void **fu)
{
    struct vg_subscription **pp = &bus->subs;
    while (*pp && *pp != s)
        pp = &(*pp)->next;
    if (*pp)
        *pp = s->next;
    s->removed = true;
    bus->n_subs--;
    if (!on_bus_thread(bus)) {
        while (s->running > 0)
            pthread_cond_wait(&bus->idle, &bus->lock);
    }
    sub_release_locked(bus, s, fc, fu);
}

static int op_unsubscribe(vg_bus *b, vg_subscription *sub)
{
    core_bus_client *c = client_of(b);
    core_bus *bus = c->bus;
    if (!sub)
        return -EINVAL;
    vg_free_cb fc = NULL;
    void *fu = NULL;
    pthread_mutex_lock(&bus->lock);
    struct vg_subscription *s = bus->subs;
    while (s && s != sub)
        s = s->next;
    if (!s || s->owner != c) {
        pthread_mutex_unlock(&bus->lock);
        return -ENOENT;
    }
    unsubscribe_locked(bus, s, &fc, &fu);
    pthread_mutex_unlock(&bus->lock);
    if (fc)
        fc(fu);
    return 0;
}

static int op_has_subscribers(vg_bus *b, const char *topic)
{
    core_bus *bus = client_of(b)->bus;
    int found = 0;
    pthread_mutex_lock(&bus->lock);
    for (struct vg_subscription *s = bus->subs; s && !found; s = s->next)
        found = topic_matches(s, topic);
    pthread_mutex_unlock(&bus->lock);
    return found;
}

/* ---- events ---- */

static int op_publish_new(vg_bus *b, const char *topic, json_t *payload)
{
    core_bus *bus = client_of(b)->bus;
    if (!valid_topic(topic, false, false)) {
        json_decref(payload);
        pthread_mutex_lock(&bus->lock);
        bus->failed++;
        pthread_mutex_unlock(&bus->lock);
        return -EINVAL;
    }
    if (!payload)
        payload = json_object();
    char *t = strdup(topic);
    if (!t || !payload) {
        free(t);
        json_decref(payload);
        return -ENOMEM;
    }
    pthread_mutex_lock(&bus->lock);
    if (bus->count == bus->capacity && !bus->stopping && !on_bus_thread(bus)) {
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += bus->full_wait_ms / 1000;
        dl.tv_nsec += (long)(bus->full_wait_ms % 1000) * 1000000L;
        if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000L;
        }
        while (bus->count == bus->capacity && !bus->stopping)
            if (pthread_cond_timedwait(&bus->not_full, &bus->lock, &dl) == ETIMEDOUT)
                break;
    }
    int rc = 0;
    if (bus->stopped) {
        rc = -ESHUTDOWN;
    } else if (bus->count == bus->capacity) {
        rc = -EAGAIN;
    }
    if (rc) {
        bus->failed++;
        pthread_mutex_unlock(&bus->lock);
        free(t);
        json_decref(payload);
        if (rc == -EAGAIN)
            core_log("bus", VG_LOG_WARN, "queue full (%zu events): '%s' not published",
                     bus->capacity, topic);
        return rc;
    }
    size_t idx = (bus->head + bus->count) % bus->capacity;
    bus->ring[idx].topic = t;
    bus->ring[idx].payload = payload;
    bus->count++;
    bus->published++;
    if (bus->count > bus->high_water)
        bus->high_water = bus->count;
    pthread_cond_signal(&bus->not_empty);
    pthread_mutex_unlock(&bus->lock);
    return 0;
}

static void deliver(core_bus *bus, event *ev)
{
    /* Snapshot the matching subscriptions under the lock, call them without it. */
    pthread_mutex_lock(&bus->lock);
    size_t n = 0;
    for (struct vg_subscription *s = bus->subs; s; s = s->next)
        if (topic_matches(s, ev->topic))
            n++;
    struct vg_subscription **list = n ? malloc(n * sizeof *list) : NULL;
    size_t k = 0;
    if (list) {
        for (struct vg_subscription *s = bus->subs; s && k < n; s = s->next) {
            if (topic_matches(s, ev->topic)) {
                s->refs++;
                list[k++] = s;
            }
        }
    }
    pthread_mutex_unlock(&bus->lock);

    for (size_t i = 0; i < k; i++) {
        struct vg_subscription *s = list[i];
        pthread_mutex_lock(&bus->lock);
        bool skip = s->removed;
        if (!skip)
            s->running++;
        pthread_mutex_unlock(&bus->lock);
        if (!skip)
            s->cb(ev->topic, ev->payload, s->user);
        vg_free_cb fc = NULL;
        void *fu = NULL;
        pthread_mutex_lock(&bus->lock);
        if (!skip) {
            s->running--;
            bus->delivered++;
            pthread_cond_broadcast(&bus->idle);
        }
        sub_release_locked(bus, s, &fc, &fu);
        pthread_mutex_unlock(&bus->lock);
        if (fc)
            fc(fu);
    }
    free(list);
}

static void *dispatch_thread(void *arg)
{
    core_bus *bus = arg;
    pthread_mutex_lock(&bus->lock);
    for (;;) {
        while (bus->count == 0 && !bus->stopping)
            pthread_cond_wait(&bus->not_empty, &bus->lock);
        if (bus->count == 0 && bus->stopping)
            break;
        event ev = bus->ring[bus->head];
        bus->head = (bus->head + 1) % bus->capacity;
        bus->count--;
        bus->delivering = true;
        pthread_cond_signal(&bus->not_full);
        pthread_mutex_unlock(&bus->lock);

        deliver(bus, &ev);
        free(ev.topic);
        json_decref(ev.payload);

        pthread_mutex_lock(&bus->lock);
        bus->delivering = false;
        pthread_cond_broadcast(&bus->idle);
    }
    pthread_mutex_unlock(&bus->lock);
    return NULL;
}

/* ---- methods ---- */

static method *find_method(core_bus *bus, const char *name)
{
    for (method *m = bus->methods; m; m = m->next)
        if (strcmp(m->name, name) == 0)
            return m;
    return NULL;
}

static int op_register_method(vg_bus *b, const char *name, vg_method_cb cb, void *user,
                              vg_free_cb user_free)
{
    core_bus_client *c = client_of(b);
    core_bus *bus = c->bus;
    if (!cb || !valid_topic(name, false, false)) {
        if (user_free)
            user_free(user);
        return -EINVAL;
    }
    method *m = calloc(1, sizeof *m);
    if (!m || !(m->name = strdup(name))) {
        free(m);
        if (user_free)
            user_free(user);
        return -ENOMEM;
    }
    m->cb = cb;
    m->user = user;
    m->user_free = user_free;
    m->owner = c;
    pthread_mutex_lock(&bus->lock);
    method *old = find_method(bus, name);
    if (old) {
        const char *other = old->owner->owner;
        pthread_mutex_unlock(&bus->lock);
        core_log(c->owner, VG_LOG_ERROR, "bus method '%s' is already provided by '%s'", name,
                 other);
        free(m->name);
        free(m);
        if (user_free)
            user_free(user);
        return -EEXIST;
    }
    m->next = bus->methods;
    bus->methods = m;
    bus->n_methods++;
    pthread_mutex_unlock(&bus->lock);
    return 0;
}

/* Caller holds the lock; returns the method's user_free to run unlocked. */
static void unregister_locked(core_bus *bus, method *m, vg_free_cb *fc, void **fu)
{
    method **pp = &bus->methods;
    while (*pp && *pp != m)
        pp = &(*pp)->next;
    if (*pp)
        *pp = m->next;
    bus->n_methods--;
    while (m->calls > 0)
        pthread_cond_wait(&bus->idle, &bus->lock);
    *fc = m->user_free;
    *fu = m->user;
    free(m->name);
    free(m);
}

/* Caller holds the lock: waits for resolver calls in flight, then unsets it. */
static void fallback_clear_locked(core_bus *bus, vg_free_cb *fc, void **fu)
{
    bus->fb_cb = NULL;
    while (bus->fb_calls > 0)
        pthread_cond_wait(&bus->idle, &bus->lock);
    *fc = bus->fb_free;
    *fu = bus->fb_user;
    bus->fb_free = NULL;
    bus->fb_user = NULL;
    bus->fb_owner = NULL;
}

static int op_unregister_method(vg_bus *b, const char *name)
{
    core_bus_client *c = client_of(b);
    core_bus *bus = c->bus;
    vg_free_cb fc = NULL;
    void *fu = NULL;
    pthread_mutex_lock(&bus->lock);
    method *m = find_method(bus, name);
    if (!m || m->owner != c) {
        pthread_mutex_unlock(&bus->lock);
        return -ENOENT;
    }
    unregister_locked(bus, m, &fc, &fu);
    pthread_mutex_unlock(&bus->lock);
    if (fc)
        fc(fu);
    return 0;
}

static const char *errno_code(int rc)
{
    switch (rc) {
    case -EINVAL:
        return "INVALID_ARGUMENT";
    case -ENOENT:
        return "NOT_FOUND";
    case -EEXIST:
    case -EBUSY:
        return "CONFLICT";
    case -EACCES:
    case -EPERM:
        return "UNAUTHORIZED";
    case -E2BIG:
        return "TOO_LARGE";
    case -ENOSYS:
    case -EAGAIN:
        return "UNAVAILABLE";
    default:
        return "INTERNAL";
    }
}

static json_t *unavailable(const char *name)
{
    const char *dot = strchr(name, '.');
    int plen = dot ? (int)(dot - name) : (int)strlen(name);
    return vg_error_new("UNAVAILABLE",
                        "no loaded plugin provides method '%s' (is the '%.*s' plugin loaded?)",
                        name, plen, name);
}

/* Set while this thread runs the fallback resolver: a call it makes to
 * another unknown method is not resolved again (no recursion through it). */
static _Thread_local bool in_fallback;

/* No local owner: ask the fallback resolver, if any. Called without the lock. */
static int call_fallback(core_bus *bus, const char *name, const json_t *params, json_t **result)
{
    pthread_mutex_lock(&bus->lock);
    vg_bus_fallback_cb cb = in_fallback ? NULL : bus->fb_cb;
    void *user = bus->fb_user;
    if (cb)
        bus->fb_calls++;
    pthread_mutex_unlock(&bus->lock);
    if (!cb) {
        *result = unavailable(name);
        return -ENOSYS;
    }
    json_t *res = NULL;
    in_fallback = true;
    int rc = cb(name, params, &res, user);
    in_fallback = false;
    pthread_mutex_lock(&bus->lock);
    bus->fb_calls--;
    if (rc == -ENOSYS)
        bus->fb_declined++;
    else
        bus->fb_resolved++;
    pthread_cond_broadcast(&bus->idle);
    pthread_mutex_unlock(&bus->lock);
    if (rc > 0)
        rc = 0;
    if (rc == -ENOSYS && (!res || !json_is_object(json_object_get(res, "error")))) {
        json_decref(res);
        res = unavailable(name);
    } else if (rc < 0 && (!res || !json_is_object(json_object_get(res, "error")))) {
        json_decref(res);
        res = vg_error_new(errno_code(rc), "method '%s' failed: %s", name, strerror(-rc));
    }
    if (rc == 0 && !res)
        res = json_object();
    *result = res;
    return rc;
}

static int op_call(vg_bus *b, const char *name, const json_t *params, json_t **result)
{
    core_bus *bus = client_of(b)->bus;
    *result = NULL;
    if (!name) {
        *result = vg_error_new("INVALID_ARGUMENT", "no method name");
        return -EINVAL;
    }
    pthread_mutex_lock(&bus->lock);
    method *m = find_method(bus, name);
    if (!m) {
        pthread_mutex_unlock(&bus->lock);
        if (!valid_topic(name, false, false)) {
            *result = unavailable(name);
            return -ENOSYS;
        }
        return call_fallback(bus, name, params, result);
    }
    m->calls++;
    vg_method_cb cb = m->cb;
    void *user = m->user;
    pthread_mutex_unlock(&bus->lock);

    json_t *res = NULL;
    int rc = cb(params, &res, user);

    pthread_mutex_lock(&bus->lock);
    m->calls--;
    pthread_cond_broadcast(&bus->idle);
    pthread_mutex_unlock(&bus->lock);

    if (rc > 0)
        rc = 0;
    if (rc < 0 && (!res || !json_is_object(json_object_get(res, "error")))) {
        json_decref(res);
        res = vg_error_new(errno_code(rc), "method '%s' failed: %s", name, strerror(-rc));
    }
    if (rc == 0 && !res)
        res = json_object();
    *result = res;
    return rc;
}

static const vg_bus_ops client_ops = {
    .publish_new = op_publish_new,
    .subscribe = op_subscribe,
    .unsubscribe = op_unsubscribe,
    .register_method = op_register_method,
    .unregister_method = op_unregister_method,
    .call = op_call,
    .has_subscribers = op_has_subscribers,
};

/* ---- lifecycle ---- */

core_bus *core_bus_new(size_t capacity, int full_wait_ms)
{
    core_bus *bus = calloc(1, sizeof *bus);
    if (!bus)
        return NULL;
    bus->capacity = capacity ? capacity : 1;
    bus->full_wait_ms = full_wait_ms;
    bus->ring = calloc(bus->capacity, sizeof *bus->ring);
    if (!bus->ring) {
        free(bus);
        return NULL;
    }
    pthread_mutex_init(&bus->lock, NULL);
    pthread_cond_init(&bus->not_empty, NULL);
    pthread_cond_init(&bus->not_full, NULL);
    pthread_cond_init(&bus->idle, NULL);
    if (pthread_create(&bus->thread, NULL, dispatch_thread, bus) != 0) {
        free(bus->ring);
        free(bus);
        return NULL;
    }
    bus->thread_started = true;
    return bus;
}

void core_bus_stop(core_bus *bus)
{
    if (!bus || !bus->thread_started)
        return;
    pthread_mutex_lock(&bus->lock);
    bus->stopping = true;
    pthread_cond_broadcast(&bus->not_empty);
    pthread_cond_broadcast(&bus->not_full);
    pthread_mutex_unlock(&bus->lock);
    pthread_join(bus->thread, NULL);
    pthread_mutex_lock(&bus->lock);
    bus->stopped = true;
    bus->thread_started = false;
    pthread_mutex_unlock(&bus->lock);
}

void core_bus_flush(core_bus *bus)
{
    pthread_mutex_lock(&bus->lock);
    while ((bus->count > 0 || bus->delivering) && bus->thread_started)
        pthread_cond_wait(&bus->idle, &bus->lock);
    pthread_mutex_unlock(&bus->lock);
}

void core_bus_free(core_bus *bus)
{
    if (!bus)
        return;
    core_bus_stop(bus);
    while (bus->count) {
        event *ev = &bus->ring[bus->head];
        free(ev->topic);
        json_decref(ev->payload);
        bus->head = (bus->head + 1) % bus->capacity;
        bus->count--;
    }
    if (bus->subs || bus->methods || bus->fb_cb)
        core_log("bus", VG_LOG_WARN, "freed with registrations left");
    free(bus->ring);
    pthread_mutex_destroy(&bus->lock);
    pthread_cond_destroy(&bus->not_empty);
    pthread_cond_destroy(&bus->not_full);
    pthread_cond_destroy(&bus->idle);
    free(bus);
}

core_bus_client *core_bus_client_new(core_bus *bus, const char *owner)
{
    core_bus_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->pub.ops = &client_ops;
    c->bus = bus;
    c->owner = strdup(owner ? owner : "?");
    if (!c->owner) {
        free(c);
        return NULL;
    }
    return c;
}

vg_bus *core_bus_client_handle(core_bus_client *client) { return &client->pub; }

void core_bus_client_release(core_bus_client *c)
{
    if (!c)
        return;
    core_bus_client_clear(c);
    free(c->owner);
    free(c);
}

void core_bus_client_clear(core_bus_client *c)
{
    core_bus *bus = c->bus;
    for (;;) {
        vg_free_cb fc = NULL;
        void *fu = NULL;
        bool found = false;
        pthread_mutex_lock(&bus->lock);
        for (struct vg_subscription *s = bus->subs; s; s = s->next) {
            if (s->owner == c) {
                unsubscribe_locked(bus, s, &fc, &fu);
                found = true;
                break;
            }
        }
        if (!found) {
            for (method *m = bus->methods; m; m = m->next) {
                if (m->owner == c) {
                    unregister_locked(bus, m, &fc, &fu);
                    found = true;
                    break;
                }
            }
        }
        pthread_mutex_unlock(&bus->lock);
        if (fc)
            fc(fu);
        if (!found)
            break;
    }
    vg_free_cb fc = NULL;
    void *fu = NULL;
    pthread_mutex_lock(&bus->lock);
    if (bus->fb_owner == c)
        fallback_clear_locked(bus, &fc, &fu);
    pthread_mutex_unlock(&bus->lock);
    if (fc)
        fc(fu);
}

int core_bus_set_fallback(core_bus_client *c, vg_bus_fallback_cb cb, void *user,
                          vg_free_cb user_free)
{
    core_bus *bus = c->bus;
    if (!cb) {
        if (user_free)
            user_free(user);
        return -EINVAL;
    }
    pthread_mutex_lock(&bus->lock);
    if (bus->fb_cb) {
        const char *other = bus->fb_owner->owner;
        pthread_mutex_unlock(&bus->lock);
        core_log(c->owner, VG_LOG_ERROR, "the bus fallback resolver is already set by '%s'", other);
        if (user_free)
            user_free(user);
        return -EEXIST;
    }
    bus->fb_cb = cb;
    bus->fb_user = user;
    bus->fb_free = user_free;
    bus->fb_owner = c;
    pthread_mutex_unlock(&bus->lock);
    return 0;
}

json_t *core_bus_methods(core_bus *bus)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&bus->lock);
    for (method *m = bus->methods; m && arr; m = m->next)
        json_array_append_new(arr,
                              json_pack("{s:s, s:s}", "name", m->name, "plugin", m->owner->owner));
    pthread_mutex_unlock(&bus->lock);
    return arr;
}

json_t *core_bus_stats(core_bus *bus)
{
    pthread_mutex_lock(&bus->lock);
    json_t *o =
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:I, s:I}", "published",
                  (json_int_t)bus->published, "delivered", (json_int_t)bus->delivered, "failed",
                  (json_int_t)bus->failed, "queue_depth", (json_int_t)bus->count,
                  "queue_high_water", (json_int_t)bus->high_water, "queue_capacity",
                  (json_int_t)bus->capacity, "subscriptions", (json_int_t)bus->n_subs, "methods",
                  (json_int_t)bus->n_methods, "fallback", bus->fb_cb != NULL, "fallback_resolved",
                  (json_int_t)bus->fb_resolved, "fallback_declined", (json_int_t)bus->fb_declined);
    pthread_mutex_unlock(&bus->lock);
    return o;
}
