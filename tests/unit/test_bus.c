/* The bus: ordering under concurrent publishers, matching, ownership,
 * bounded queue, unsubscribe during delivery, methods, the fallback resolver. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bus.h"

typedef struct recorder {
    pthread_mutex_t lock;
    json_t *seen; /* array of [topic, payload] */
    int freed;
    int block_ms;       /* sleep in the callback */
    atomic_int started; /* callbacks entered */
} recorder;

static void rec_init(recorder *r)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    r->seen = json_array();
}

static void rec_done(recorder *r)
{
    json_decref(r->seen);
    pthread_mutex_destroy(&r->lock);
}

static void rec_cb(const char *topic, const json_t *payload, void *user)
{
    recorder *r = user;
    atomic_fetch_add(&r->started, 1);
    if (r->block_ms)
        usleep((useconds_t)r->block_ms * 1000);
    pthread_mutex_lock(&r->lock);
    json_array_append_new(r->seen, json_pack("[s, O]", topic, payload));
    pthread_mutex_unlock(&r->lock);
}

static void rec_free(void *user) { ((recorder *)user)->freed++; }

static void test_matching(void **state)
{
    (void)state;
    core_bus *bus = core_bus_new(64, 10);
    core_bus_client *c = core_bus_client_new(bus, "t");
    vg_bus *b = core_bus_client_handle(c);
    recorder exact, prefix, all;
    rec_init(&exact);
    rec_init(&prefix);
    rec_init(&all);
    assert_int_equal(vg_bus_subscribe(b, "dataset.added", rec_cb, &exact, rec_free, NULL), 0);
    assert_int_equal(vg_bus_subscribe(b, "dataset.", rec_cb, &prefix, rec_free, NULL), 0);
    assert_int_equal(vg_bus_subscribe(b, "", rec_cb, &all, rec_free, NULL), 0);
    assert_int_equal(vg_bus_has_subscribers(b, "dataset.removed"), 1);
    assert_int_equal(vg_bus_publish_new(b, "dataset.added", json_pack("{s:i}", "n", 1)), 0);
    assert_int_equal(vg_bus_publish_new(b, "dataset.removed", NULL), 0);
    assert_int_equal(vg_bus_publish_new(b, "datasetx.added", NULL), 0);
    assert_int_equal(vg_bus_publish_new(b, "notification.created", NULL), 0);
    /* Bad topics are refused and the payload is still consumed (ASan checks). */
    assert_int_equal(vg_bus_publish_new(b, "", json_object()), -EINVAL);
    assert_int_equal(vg_bus_publish_new(b, "bad topic", json_object()), -EINVAL);
    assert_int_equal(vg_bus_publish_new(b, "trailing.", json_object()), -EINVAL);
    core_bus_flush(bus);
    assert_int_equal(json_array_size(exact.seen), 1);
    assert_int_equal(json_array_size(prefix.seen), 2);
    assert_int_equal(json_array_size(all.seen), 4);
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(json_array_get(exact.seen, 0), 1), "n")),
        1);
    core_bus_client_release(c);
    /* user_free ran exactly once per subscription on release. */
    assert_int_equal(exact.freed, 1);
    assert_int_equal(prefix.freed, 1);
    assert_int_equal(all.freed, 1);
    json_t *st = core_bus_stats(bus);
    assert_int_equal(json_integer_value(json_object_get(st, "published")), 4);
    assert_int_equal(json_integer_value(json_object_get(st, "failed")), 3);
    assert_int_equal(json_integer_value(json_object_get(st, "delivered")), 7);
    json_decref(st);
    core_bus_free(bus);
    rec_done(&exact);
    rec_done(&prefix);
    rec_done(&all);
}

/* Relays (core_bus_subscribe_first) are called before ordinary subscribers,
 * each kind in subscription order, whoever subscribed when. */
static json_t *order_seen;
static void order_cb(const char *topic, const json_t *payload, void *user)
{
    (void)topic;
    (void)payload;
    json_array_append_new(order_seen, json_string(user));
}

static void test_relay_first(void **state)
{
    (void)state;
    core_bus *bus = core_bus_new(64, 10);
    core_bus_client *c = core_bus_client_new(bus, "t");
    vg_bus *b = core_bus_client_handle(c);
    order_seen = json_array();
    vg_subscription *r2 = NULL;
    assert_int_equal(vg_bus_subscribe(b, "x.", order_cb, "a", NULL, NULL), 0);
    assert_int_equal(core_bus_subscribe_first(c, "x.", order_cb, "r1", NULL, NULL), 0);
    assert_int_equal(vg_bus_subscribe(b, "", order_cb, "b", NULL, NULL), 0);
    assert_int_equal(core_bus_subscribe_first(c, "x.y", order_cb, "r2", NULL, &r2), 0);
    assert_int_equal(core_bus_subscribe_first(c, "bad topic", order_cb, "r3", NULL, NULL), -EINVAL);
    assert_int_equal(vg_bus_publish_new(b, "x.y", NULL), 0);
    core_bus_flush(bus);
    char *got = json_dumps(order_seen, JSON_COMPACT);
    assert_string_equal(got, "[\"r1\",\"r2\",\"a\",\"b\"]");
    free(got);
    /* a relay unsubscribes like any subscription; a later one goes last of the relays */
    assert_int_equal(vg_bus_unsubscribe(b, r2), 0);
    assert_int_equal(core_bus_subscribe_first(c, "x.", order_cb, "r4", NULL, NULL), 0);
    json_array_clear(order_seen);
    assert_int_equal(vg_bus_publish_new(b, "x.y", NULL), 0);
    core_bus_flush(bus);
    got = json_dumps(order_seen, JSON_COMPACT);
    assert_string_equal(got, "[\"r1\",\"r4\",\"a\",\"b\"]");
    free(got);
    core_bus_client_release(c);
    core_bus_free(bus);
    json_decref(order_seen);
}

typedef struct publisher {
    vg_bus *bus;
    int id, count;
} publisher;

static void *publish_many(void *arg)
{
    publisher *p = arg;
    for (int i = 0; i < p->count; i++) {
        while (vg_bus_publish_new(p->bus, "seq.event",
                                  json_pack("{s:i, s:i}", "p", p->id, "i", i)) == -EAGAIN)
            usleep(100);
    }
    return NULL;
}

static void test_order_concurrent_publishers(void **state)
{
    (void)state;
    enum { PUBS = 8, EACH = 5000 };
    core_bus *bus = core_bus_new(256, 1000);
    core_bus_client *c = core_bus_client_new(bus, "t");
    vg_bus *b = core_bus_client_handle(c);
    recorder r;
    rec_init(&r);
    assert_int_equal(vg_bus_subscribe(b, "seq.", rec_cb, &r, NULL, NULL), 0);
    pthread_t th[PUBS];
    publisher ps[PUBS];
    for (int i = 0; i < PUBS; i++) {
        ps[i] = (publisher){b, i, EACH};
        pthread_create(&th[i], NULL, publish_many, &ps[i]);
    }
    for (int i = 0; i < PUBS; i++)
        pthread_join(th[i], NULL);
    core_bus_flush(bus);
    assert_int_equal(json_array_size(r.seen), PUBS * EACH);
    /* Each publisher's events arrive in the order it published them. */
    int next[PUBS] = {0};
    size_t i;
    json_t *ev;
    json_array_foreach (r.seen, i, ev) {
        json_t *p = json_array_get(ev, 1);
        int pid = (int)json_integer_value(json_object_get(p, "p"));
        int seq = (int)json_integer_value(json_object_get(p, "i"));
        assert_int_equal(seq, next[pid]);
        next[pid]++;
    }
    core_bus_client_release(c);
    core_bus_free(bus);
    rec_done(&r);
}

/* A subscriber that blocks until the test opens the gate, so the queue fills
 * deterministically whatever the machine's speed (valgrind included). */
typedef struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool entered, open;
    int calls;
} gate;

static void gate_cb(const char *topic, const json_t *payload, void *user)
{
    (void)topic;
    (void)payload;
    gate *g = user;
    pthread_mutex_lock(&g->lock);
    g->calls++;
    g->entered = true;
    pthread_cond_broadcast(&g->cond);
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
}

static void test_queue_full(void **state)
{
    (void)state;
    core_bus *bus = core_bus_new(4, 20);
    core_bus_client *c = core_bus_client_new(bus, "t");
    vg_bus *b = core_bus_client_handle(c);
    gate g = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    assert_int_equal(vg_bus_subscribe(b, "", gate_cb, &g, NULL, NULL), 0);
    /* The first event is taken off the queue and blocks in the subscriber. */
    assert_int_equal(vg_bus_publish_new(b, "x.y", json_pack("{s:i}", "i", 0)), 0);
    pthread_mutex_lock(&g.lock);
    while (!g.entered)
        pthread_cond_wait(&g.cond, &g.lock);
    pthread_mutex_unlock(&g.lock);
    /* Four fit in the queue; the next five wait 20 ms each and fail loudly. */
    for (int i = 1; i <= 4; i++)
        assert_int_equal(vg_bus_publish_new(b, "x.y", json_pack("{s:i}", "i", i)), 0);
    for (int i = 5; i < 10; i++)
        assert_int_equal(vg_bus_publish_new(b, "x.y", json_pack("{s:i}", "i", i)), -EAGAIN);
    json_t *st = core_bus_stats(bus);
    assert_int_equal(json_integer_value(json_object_get(st, "failed")), 5);
    assert_int_equal(json_integer_value(json_object_get(st, "published")), 5);
    assert_int_equal(json_integer_value(json_object_get(st, "queue_high_water")), 4);
    assert_int_equal(json_integer_value(json_object_get(st, "queue_depth")), 4);
    json_decref(st);
    pthread_mutex_lock(&g.lock);
    g.open = true;
    pthread_cond_broadcast(&g.cond);
    pthread_mutex_unlock(&g.lock);
    core_bus_flush(bus);
    assert_int_equal(g.calls, 5); /* nothing accepted was lost */
    core_bus_client_release(c);
    core_bus_free(bus);
}

/* A subscriber that unsubscribes another (and itself) while events are in flight. */
typedef struct selfish {
    vg_bus *bus;
    vg_subscription *me, *other;
    int calls;
} selfish;

static void selfish_cb(const char *topic, const json_t *payload, void *user)
{
    (void)topic;
    (void)payload;
    selfish *s = user;
    s->calls++;
    if (s->other) {
        assert_int_equal(vg_bus_unsubscribe(s->bus, s->other), 0);
        s->other = NULL;
    }
    if (s->calls == 2)
        assert_int_equal(vg_bus_unsubscribe(s->bus, s->me), 0);
}

static void test_unsubscribe_during_delivery(void **state)
{
    (void)state;
    core_bus *bus = core_bus_new(64, 10);
    core_bus_client *c = core_bus_client_new(bus, "t");
    vg_bus *b = core_bus_client_handle(c);
    selfish s = {.bus = b};
    recorder victim;
    rec_init(&victim);
    assert_int_equal(vg_bus_subscribe(b, "e.", selfish_cb, &s, NULL, &s.me), 0);
    assert_int_equal(vg_bus_subscribe(b, "e.", rec_cb, &victim, rec_free, &s.other), 0);
    for (int i = 0; i < 5; i++)
        vg_bus_publish_new(b, "e.x", NULL);
    core_bus_flush(bus);
    assert_int_equal(s.calls, 2);
    /* The victim was removed during the first event, before being called. */
    assert_int_equal(json_array_size(victim.seen), 0);
    assert_int_equal(victim.freed, 1);
    /* Unsubscribing from another thread while a slow callback runs waits for it. */
    recorder slow;
    rec_init(&slow);
    slow.block_ms = 200;
    vg_subscription *sub;
    assert_int_equal(vg_bus_subscribe(b, "s.x", rec_cb, &slow, rec_free, &sub), 0);
    vg_bus_publish_new(b, "s.x", NULL);
    for (int i = 0; i < 5000 && atomic_load(&slow.started) == 0; i++)
        usleep(1000);
    assert_int_equal(atomic_load(&slow.started), 1);
    assert_int_equal(vg_bus_unsubscribe(b, sub), 0);
    assert_int_equal(json_array_size(slow.seen), 1); /* the callback had finished */
    assert_int_equal(slow.freed, 1);
    assert_int_equal(vg_bus_unsubscribe(b, sub), -ENOENT);
    core_bus_client_release(c);
    core_bus_free(bus);
    rec_done(&victim);
    rec_done(&slow);
}

static int m_echo(const json_t *params, json_t **result, void *user)
{
    (void)user;
    if (!params || !json_is_object(params))
        return vg_method_fail(result, -EINVAL, "INVALID_ARGUMENT", "params must be an object");
    *result = json_deep_copy(params);
    return 0;
}

static int m_bare_fail(const json_t *params, json_t **result, void *user)
{
    (void)params;
    (void)result;
    (void)user;
    return -ENOENT;
}

static void test_methods(void **state)
{
    (void)state;
    core_bus *bus = core_bus_new(16, 10);
    core_bus_client *owner = core_bus_client_new(bus, "owner");
    core_bus_client *other = core_bus_client_new(bus, "other");
    vg_bus *b = core_bus_client_handle(owner);
    vg_bus *o = core_bus_client_handle(other);
    recorder r;
    rec_init(&r);
    assert_int_equal(vg_bus_register_method(b, "t.echo", m_echo, &r, rec_free), 0);
    assert_int_equal(vg_bus_register_method(o, "t.echo", m_echo, &r, rec_free), -EEXIST);
    assert_int_equal(r.freed, 1); /* user_free runs on a failed registration too */
    assert_int_equal(vg_bus_register_method(b, "t.fail", m_bare_fail, NULL, NULL), 0);

    json_t *res = NULL;
    json_t *params = json_pack("{s:s}", "a", "b");
    assert_int_equal(vg_bus_call(o, "t.echo", params, &res), 0);
    assert_string_equal(json_string_value(json_object_get(res, "a")), "b");
    json_decref(res);
    json_decref(params);

    assert_int_equal(vg_bus_call(o, "t.echo", NULL, &res), -EINVAL);
    assert_string_equal(json_string_value(json_object_get(json_object_get(res, "error"), "code")),
                        "INVALID_ARGUMENT");
    json_decref(res);

    assert_int_equal(vg_bus_call(o, "t.fail", NULL, &res), -ENOENT);
    assert_string_equal(json_string_value(json_object_get(json_object_get(res, "error"), "code")),
                        "NOT_FOUND");
    json_decref(res);

    assert_int_equal(vg_bus_call(o, "notifications.list", NULL, &res), -ENOSYS);
    assert_non_null(
        strstr(json_string_value(json_object_get(json_object_get(res, "error"), "message")),
               "'notifications' plugin"));
    json_decref(res);

    assert_int_equal(vg_bus_unregister_method(o, "t.echo"), -ENOENT); /* not the owner */
    core_bus_client_release(owner);
    assert_int_equal(r.freed, 2);
    assert_int_equal(vg_bus_call(o, "t.echo", NULL, &res), -ENOSYS);
    json_decref(res);
    core_bus_client_release(other);
    core_bus_free(bus);
    rec_done(&r);
}

/* ---- fallback resolver ---- */

typedef struct resolver {
    vg_bus *bus; /* for the recursion check */
    atomic_int calls, freed, in_flight;
    int block_ms;
    atomic_int returned; /* calls that have finished */
} resolver;

/* Answers "remote.*" with {"name", "params"}, declines "none.*" with the
 * bus's message, "own.*" with its own error, and from inside calls another
 * unknown method (which must not come back here). */
static int fb_cb(const char *name, const json_t *params, json_t **result, void *user)
{
    resolver *rv = user;
    atomic_fetch_add(&rv->calls, 1);
    atomic_fetch_add(&rv->in_flight, 1);
    if (rv->block_ms)
        usleep((useconds_t)rv->block_ms * 1000);
    int rc;
    if (strncmp(name, "remote.", 7) == 0) {
        json_t *inner = NULL;
        int irc = vg_bus_call(rv->bus, "remote.inner", NULL, &inner);
        *result = json_pack("{s:s, s:O?, s:i}", "name", name, "params", (json_t *)params,
                            "inner_rc", irc);
        json_decref(inner);
        rc = 0;
    } else if (strncmp(name, "own.", 4) == 0) {
        rc = vg_method_fail(result, -ENOSYS, "UNAVAILABLE", "no node owns '%s'", name);
    } else {
        rc = -ENOSYS;
    }
    atomic_fetch_sub(&rv->in_flight, 1);
    atomic_fetch_add(&rv->returned, 1);
    return rc;
}

static void fb_free(void *user)
{
    resolver *rv = user;
    assert_int_equal(atomic_load(&rv->in_flight), 0); /* only once the calls returned */
    atomic_fetch_add(&rv->freed, 1);
}

static const char *err_code(const json_t *res)
{
    return json_string_value(json_object_get(json_object_get(res, "error"), "code"));
}

static const char *err_message(const json_t *res)
{
    return json_string_value(json_object_get(json_object_get(res, "error"), "message"));
}

static void test_fallback(void **state)
{
    (void)state;
    core_bus *bus = core_bus_new(16, 10);
    core_bus_client *cl = core_bus_client_new(bus, "cluster");
    core_bus_client *other = core_bus_client_new(bus, "other");
    vg_bus *o = core_bus_client_handle(other);
    resolver rv = {.bus = o};
    recorder r;
    rec_init(&r);
    assert_int_equal(vg_bus_register_method(o, "local.echo", m_echo, &r, rec_free), 0);
    assert_int_equal(core_bus_set_fallback(cl, NULL, &rv, fb_free), -EINVAL);
    assert_int_equal(atomic_load(&rv.freed), 1); /* user_free on failure too */
    assert_int_equal(core_bus_set_fallback(cl, fb_cb, &rv, fb_free), 0);
    resolver second = {0};
    assert_int_equal(core_bus_set_fallback(other, fb_cb, &second, fb_free), -EEXIST);
    assert_int_equal(atomic_load(&second.freed), 1);

    /* A local method never reaches the resolver. */
    json_t *res = NULL;
    json_t *params = json_pack("{s:i}", "x", 7);
    assert_int_equal(vg_bus_call(o, "local.echo", params, &res), 0);
    json_decref(res);
    assert_int_equal(atomic_load(&rv.calls), 0);

    /* An unknown one does; a call it makes to another unknown one is not
     * resolved again. */
    assert_int_equal(vg_bus_call(o, "remote.echo", params, &res), 0);
    assert_string_equal(json_string_value(json_object_get(res, "name")), "remote.echo");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "params"), "x")), 7);
    assert_int_equal(json_integer_value(json_object_get(res, "inner_rc")), -ENOSYS);
    json_decref(res);
    assert_int_equal(atomic_load(&rv.calls), 1);

    /* Declined: the bus's UNAVAILABLE naming the method, or the resolver's own. */
    assert_int_equal(vg_bus_call(o, "none.thing", NULL, &res), -ENOSYS);
    assert_string_equal(err_code(res), "UNAVAILABLE");
    assert_non_null(strstr(err_message(res), "'none.thing'"));
    json_decref(res);
    assert_int_equal(vg_bus_call(o, "own.thing", NULL, &res), -ENOSYS);
    assert_string_equal(err_message(res), "no node owns 'own.thing'");
    json_decref(res);
    /* A name that is not a method name never reaches it. */
    assert_int_equal(vg_bus_call(o, "bad name!", NULL, &res), -ENOSYS);
    json_decref(res);
    assert_int_equal(atomic_load(&rv.calls), 3);

    json_t *st = core_bus_stats(bus);
    assert_true(json_is_true(json_object_get(st, "fallback")));
    assert_int_equal(json_integer_value(json_object_get(st, "fallback_resolved")), 1);
    assert_int_equal(json_integer_value(json_object_get(st, "fallback_declined")), 2);
    json_decref(st);
    json_t *ms = core_bus_methods(bus);
    assert_int_equal(json_array_size(ms), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ms, 0), "plugin")),
                        "other");
    json_decref(ms);

    /* Releasing its owner removes the resolver (user_free once); the slot is free again. */
    core_bus_client_release(cl);
    assert_int_equal(atomic_load(&rv.freed), 2);
    assert_int_equal(vg_bus_call(o, "remote.echo", NULL, &res), -ENOSYS);
    assert_string_equal(err_code(res), "UNAVAILABLE");
    json_decref(res);
    assert_int_equal(atomic_load(&rv.calls), 3);
    assert_int_equal(core_bus_set_fallback(other, fb_cb, &second, fb_free), 0);
    json_decref(params);
    core_bus_client_release(other);
    assert_int_equal(atomic_load(&second.freed), 2);
    core_bus_free(bus);
    rec_done(&r);
}

typedef struct caller {
    vg_bus *bus;
    int rc;
} caller;

static void *call_remote(void *arg)
{
    caller *c = arg;
    json_t *res = NULL;
    c->rc = vg_bus_call(c->bus, "remote.slow", NULL, &res);
    json_decref(res);
    return NULL;
}

/* Removing the resolver waits for a call in flight; user_free runs after it. */
static void test_fallback_release_waits(void **state)
{
    (void)state;
    core_bus *bus = core_bus_new(16, 10);
    core_bus_client *cl = core_bus_client_new(bus, "cluster");
    core_bus_client *other = core_bus_client_new(bus, "other");
    resolver rv = {.bus = core_bus_client_handle(other), .block_ms = 150};
    assert_int_equal(core_bus_set_fallback(cl, fb_cb, &rv, fb_free), 0);
    caller c = {.bus = core_bus_client_handle(other), .rc = 1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, call_remote, &c), 0);
    while (atomic_load(&rv.calls) == 0)
        usleep(1000);
    core_bus_client_release(cl); /* fb_free asserts nothing is in flight */
    assert_int_equal(atomic_load(&rv.returned), 1);
    assert_int_equal(atomic_load(&rv.freed), 1);
    pthread_join(t, NULL);
    assert_int_equal(c.rc, 0);
    core_bus_client_release(other);
    core_bus_free(bus);
}

static void test_publish_after_stop(void **state)
{
    (void)state;
    core_bus *bus = core_bus_new(16, 10);
    core_bus_client *c = core_bus_client_new(bus, "t");
    core_bus_stop(bus);
    assert_int_equal(vg_bus_publish_new(core_bus_client_handle(c), "a.b", json_object()),
                     -ESHUTDOWN);
    core_bus_client_release(c);
    core_bus_free(bus);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matching),    cmocka_unit_test(test_order_concurrent_publishers),
        cmocka_unit_test(test_queue_full),  cmocka_unit_test(test_unsubscribe_during_delivery),
        cmocka_unit_test(test_methods),     cmocka_unit_test(test_publish_after_stop),
        cmocka_unit_test(test_fallback),    cmocka_unit_test(test_fallback_release_waits),
        cmocka_unit_test(test_relay_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
