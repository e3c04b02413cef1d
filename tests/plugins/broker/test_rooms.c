/* cmocka tests of the broker's rooms, broadcast queues and recovery log,
 * with a fake host (controllable clock) and polling sessions, so no
 * WebSocket or thread is involved. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h needs the headers above */
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

static int64_t fake_now = 1000000;
static void fake_log(const vg_host *h, vg_log_level l, const char *fmt, ...)
{
    (void)h;
    (void)l;
    (void)fmt;
}
static int64_t fake_mono(const vg_host *h)
{
    (void)h;
    return fake_now;
}

static atomic_int fake_busy;
static int fake_http_busy(const vg_host *h)
{
    (void)h;
    return atomic_load(&fake_busy);
}

static vg_host host = {.log = fake_log,
                       .now_mono_ms = fake_mono,
                       .now_wall_ms = fake_mono,
                       .http_busy = fake_http_busy};

static brk_state *new_broker(void)
{
    brk_state *b = calloc(1, sizeof *b);
    b->host = &host;
    pthread_mutex_init(&b->lock, NULL);
    pthread_mutex_init(&b->rq_lock, NULL);
    pthread_cond_init(&b->rq_cond, NULL);
    pthread_mutex_init(&b->stats_lock, NULL);
    b->cfg.ping_interval = 25000;
    b->cfg.ping_timeout = 20000;
    b->cfg.max_clients = 100000;
    b->cfg.max_backlog = 8;
    b->cfg.max_backlog_bytes = 1 << 20;
    b->cfg.max_rooms = 4;
    b->cfg.recovery_window = 120000;
    b->cfg.recovery_log_max = 5;
    b->cfg.recovery_log_bytes = 1 << 20;
    b->cfg.rate_burst = 10;
    brk_smap_init(&b->sessions, 64);
    brk_smap_init(&b->rooms, 64);
    brk_smap_init(&b->recovery, 64);
    brk_smap_init(&b->unconnected_ip, 64);
    b->log = calloc((size_t)b->cfg.recovery_log_max, sizeof *b->log);
    return b;
}

static void free_broker(brk_state *b)
{
    brk_sessions_free_all(b);
    brk_recovery_free_all(b);
    brk_smap_free(&b->rooms, NULL);
    brk_smap_free(&b->sessions, NULL);
    brk_smap_free(&b->unconnected_ip, free);
    pthread_mutex_destroy(&b->lock);
    pthread_mutex_destroy(&b->rq_lock);
    pthread_cond_destroy(&b->rq_cond);
    pthread_mutex_destroy(&b->stats_lock);
    free(b);
}

static brk_session *new_session(brk_state *b)
{
    int err;
    return brk_session_new(b, TR_POLLING, "127.0.0.1", &err);
}

static brk_session *connected(brk_state *b)
{
    brk_session *s = new_session(b);
    assert_non_null(s);
    brk_eio_random_id(s->sio_sid);
    brk_eio_random_id(s->pid);
    pthread_mutex_lock(&b->lock);
    s->sio_connected = 1;
    pthread_mutex_unlock(&b->lock);
    return s;
}

static void join(brk_state *b, brk_session *s, const char *name)
{
    pthread_mutex_lock(&b->lock);
    assert_int_equal(brk_rooms_join_locked(b, s, name), 0);
    pthread_mutex_unlock(&b->lock);
}

/* The i-th queued packet's text (NUL-terminated copy in buf). */
static const char *queued(brk_session *s, size_t i, char *buf, size_t size)
{
    assert_true(i < s->q_len);
    brk_msg *m = s->q[(s->q_head + i) % s->q_cap];
    snprintf(buf, size, "%.*s", (int)m->text_len, m->text);
    return buf;
}

static void test_room_names(void **st)
{
    (void)st;
    const char *why;
    const char *ok[] = {"notifications",   "datasets",           "stats",
                        "dataset:abc-123", "organization:min_x", "portal:datos.gob.cl"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        assert_true(brk_room_name_valid(ok[i], &why));
    const char *bad[] = {"",          "nope",       "dataset:", "dataset:a:b",
                         "has space", "portal:<x>", "dataset:é"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        why = NULL;
        assert_false(brk_room_name_valid(bad[i], &why));
        assert_non_null(why);
    }
    char longname[200];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    memcpy(longname, "dataset:", 8);
    assert_false(brk_room_name_valid(longname, &why));
}

static void test_join_leave_and_limits(void **st)
{
    (void)st;
    brk_state *b = new_broker();
    brk_session *s[50];
    for (int i = 0; i < 50; i++) {
        s[i] = connected(b);
        join(b, s[i], "datasets");
    }
    pthread_mutex_lock(&b->lock);
    assert_int_equal(brk_rooms_join_locked(b, s[0], "datasets"), -EEXIST);
    /* remove from the middle, many times: the swap-remove keeps indexes right */
    for (int i = 0; i < 50; i += 3)
        assert_int_equal(brk_rooms_leave_locked(b, s[i], "datasets"), 0);
    assert_int_equal(brk_rooms_leave_locked(b, s[0], "datasets"), -ENOENT);
    brk_room *r = brk_smap_get(&b->rooms, "datasets");
    assert_non_null(r);
    assert_int_equal(r->n, 50 - 17);
    for (size_t k = 0; k < r->n; k++) {
        brk_session *m = r->members[k];
        int found = 0;
        for (int j = 0; j < m->nrooms; j++)
            if (m->rooms[j].r == r && m->rooms[j].idx == k)
                found = 1;
        assert_true(found);
    }
    /* max_rooms_per_client = 4 */
    assert_int_equal(brk_rooms_join_locked(b, s[1], "stats"), 0);
    assert_int_equal(brk_rooms_join_locked(b, s[1], "portal:a"), 0);
    assert_int_equal(brk_rooms_join_locked(b, s[1], "portal:b"), 0);
    assert_int_equal(brk_rooms_join_locked(b, s[1], "portal:c"), -E2BIG);
    brk_rooms_leave_all_locked(b, s[1]);
    assert_int_equal(s[1]->nrooms, 0);
    assert_null(brk_smap_get(&b->rooms, "portal:a")); /* empty rooms are freed */
    pthread_mutex_unlock(&b->lock);
    for (int i = 0; i < 50; i++)
        brk_session_unref(s[i]);
    free_broker(b);
}

static void test_broadcast_union_once_and_overflow(void **st)
{
    (void)st;
    brk_state *b = new_broker();
    brk_session *a = connected(b), *c = connected(b), *d = connected(b), *e = connected(b);
    join(b, a, "dataset:one");
    join(b, c, "datasets");
    join(b, d, "dataset:one");
    join(b, d, "organization:o"); /* in two target rooms: gets it once */
    const char *rooms[] = {"datasets", "dataset:one", "organization:o", NULL};
    assert_int_equal(brk_broadcast(b, rooms, "dataset_update", json_pack("{s:i}", "x", 1)), 0);
    char buf[256];
    assert_int_equal(a->q_len, 1);
    assert_int_equal(c->q_len, 1);
    assert_int_equal(d->q_len, 1);
    assert_int_equal(e->q_len, 0);
    assert_string_equal(queued(a, 0, buf, sizeof buf), "42[\"dataset_update\",{\"x\":1},\"1\"]");
    /* the frame is built once and shared */
    assert_ptr_equal(a->q[a->q_head], d->q[d->q_head]);
    /* to everyone connected */
    assert_int_equal(brk_broadcast(b, NULL, "notifications_cleared", NULL), 0);
    assert_int_equal(e->q_len, 1);
    assert_string_equal(queued(e, 0, buf, sizeof buf), "42[\"notifications_cleared\",\"2\"]");
    /* max_backlog = 8: the 9th queued message drops that client only */
    for (int i = 0; i < 6; i++) /* 2 queued already */
        brk_broadcast(b, (const char *[]){"datasets", NULL}, "x", NULL);
    assert_int_equal(c->q_len, 8);
    brk_broadcast(b, (const char *[]){"datasets", NULL}, "x", NULL);
    assert_true(c->closed);
    assert_int_equal(atomic_load(&b->dropped_backlog), 1);
    assert_null(brk_session_find(b, c->sid));
    assert_false(a->closed);
    brk_session_unref(a);
    brk_session_unref(c);
    brk_session_unref(d);
    brk_session_unref(e);
    free_broker(b);
}

static void test_recovery_replays_in_order(void **st)
{
    (void)st;
    brk_state *b = new_broker();
    brk_session *s = connected(b);
    join(b, s, "notifications");
    join(b, s, "stats");
    brk_broadcast(b, (const char *[]){"notifications", NULL}, "n", json_integer(1)); /* seq 1 */
    char sid[21], pid[21];
    memcpy(sid, s->sio_sid, sizeof sid);
    memcpy(pid, s->pid, sizeof pid);
    brk_session_terminate(s, "transport close", TERM_RECOVERABLE);
    brk_session_unref(s);
    brk_broadcast(b, (const char *[]){"notifications", NULL}, "n", json_integer(2)); /* 2 */
    brk_broadcast(b, (const char *[]){"datasets", NULL}, "other", NULL);             /* 3 */
    brk_broadcast(b, (const char *[]){"stats", NULL}, "s", json_integer(4));         /* 4 */
    brk_broadcast(b, NULL, "all", NULL);                                             /* 5 */

    brk_session *r = new_session(b);
    pthread_mutex_lock(&b->lock);
    assert_int_equal(brk_recovery_restore_locked(b, r, "unknown", "1"), 0);
    assert_int_equal(brk_recovery_restore_locked(b, r, pid, "1"), 1);
    pthread_mutex_unlock(&b->lock);
    assert_string_equal(r->sio_sid, sid);
    assert_string_equal(r->pid, pid);
    assert_int_equal(r->nrooms, 2);
    char buf[256];
    assert_int_equal(r->q_len, 3);
    assert_string_equal(queued(r, 0, buf, sizeof buf), "42[\"n\",2,\"2\"]");
    assert_string_equal(queued(r, 1, buf, sizeof buf), "42[\"s\",4,\"4\"]");
    assert_string_equal(queued(r, 2, buf, sizeof buf), "42[\"all\",\"5\"]");
    /* used once */
    pthread_mutex_lock(&b->lock);
    assert_int_equal(brk_recovery_restore_locked(b, r, pid, "1"), 0);
    pthread_mutex_unlock(&b->lock);

    /* expiry, and an offset older than the log (recovery_log_max = 5) */
    r->sio_connected = 1;
    brk_session_terminate(r, "transport close", TERM_RECOVERABLE);
    brk_session_unref(r);
    for (int i = 0; i < 6; i++)
        brk_broadcast(b, NULL, "all", NULL);
    brk_session *t = new_session(b);
    pthread_mutex_lock(&b->lock);
    assert_int_equal(brk_recovery_restore_locked(b, t, pid, "5"), 0); /* 6 was evicted */
    fake_now += 121000;
    brk_recovery_expire_locked(b, fake_now);
    assert_int_equal(b->recovery.count, 0);
    assert_int_equal(b->log_len, 0);
    pthread_mutex_unlock(&b->lock);
    brk_session_unref(t);
    free_broker(b);
}
/* Sessions without a namespace are capped per address and in all, apart from
 * max_clients; connecting (or closing) frees their place. */
static void test_unconnected_caps(void **st)
{
    (void)st;
    brk_state *b = new_broker();
    b->cfg.max_clients = 100;
    b->cfg.max_unconnected = 5;
    b->cfg.max_unconnected_per_ip = 3;
    brk_session *a[3];
    int err;
    for (int i = 0; i < 3; i++) {
        a[i] = brk_session_new(b, TR_POLLING, "127.0.0.1", &err);
        assert_non_null(a[i]);
    }
    assert_null(brk_session_new(b, TR_POLLING, "127.0.0.1", &err));
    assert_int_equal(err, -EAGAIN);
    assert_int_equal(brk_session_admissible(b, "127.0.0.1"), -EAGAIN);
    brk_session *o1 = brk_session_new(b, TR_POLLING, "127.0.0.2", &err);
    brk_session *o2 = brk_session_new(b, TR_POLLING, "127.0.0.3", &err);
    assert_non_null(o1);
    assert_non_null(o2);
    /* 5 in all: a fresh address is refused too */
    assert_null(brk_session_new(b, TR_POLLING, "127.0.0.4", &err));
    assert_int_equal(err, -EAGAIN);
    /* one of 127.0.0.1 connects a namespace: a place for its address again */
    pthread_mutex_lock(&b->lock);
    brk_session_set_unconnected_locked(a[0], 0);
    a[0]->sio_connected = 1;
    pthread_mutex_unlock(&b->lock);
    assert_int_equal(b->n_unconnected, 4);
    brk_session *c = brk_session_new(b, TR_POLLING, "127.0.0.1", &err);
    assert_non_null(c);
    /* closing an unconnected one frees its place; a connected one's is gone already */
    brk_session_terminate(o1, "test", 0);
    brk_session_terminate(a[0], "test", 0);
    assert_int_equal(b->n_unconnected, 4);
    assert_int_equal(brk_session_admissible(b, "127.0.0.4"), 0);
    /* max_clients still binds connected sessions */
    b->cfg.max_clients = (long long)b->sessions.count;
    assert_int_equal(brk_session_admissible(b, "127.0.0.4"), -EBUSY);
    brk_session_unref(o1);
    brk_session_unref(o2);
    brk_session_unref(c);
    for (int i = 0; i < 3; i++)
        brk_session_unref(a[i]);
    brk_sessions_free_all(b);
    assert_int_equal(b->n_unconnected, 0);
    assert_int_equal(b->unconnected_ip.count, 0);
    free_broker(b);
}

/* Worker admission: the check and the increment are one step, so racing
 * upgrades never take more than thread_cap; busy workers of other routes
 * count against the same cap. */
static brk_state *race_b;
static atomic_int race_taken, race_over;
static void *race_taker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 500; i++) {
        int mine = 0;
        for (int k = 0; k < 10; k++) /* 16 x 10 wanted, 48 to have */
            if (brk_worker_take(race_b, 0)) {
                mine++;
                int now = atomic_fetch_add(&race_taken, 1) + 1;
                if (now > 48 || atomic_load(&race_b->held) > 48)
                    atomic_store(&race_over, 1);
            }
        atomic_fetch_sub(&race_taken, mine);
        while (mine-- > 0)
            brk_worker_release(race_b);
    }
    return NULL;
}

static void test_worker_admission(void **st)
{
    (void)st;
    brk_state *b = new_broker();
    b->cfg.thread_cap = 48;
    atomic_store(&fake_busy, 0);
    for (int i = 0; i < 48; i++)
        assert_int_equal(brk_worker_take(b, 0), 1);
    assert_int_equal(brk_worker_take(b, 0), 0);
    assert_int_equal(atomic_load(&b->held), 48);
    for (int i = 0; i < 48; i++)
        brk_worker_release(b);
    /* 46 workers busy elsewhere: two are left for the broker */
    atomic_store(&fake_busy, 46);
    assert_int_equal(brk_worker_take(b, 0), 1);
    atomic_store(&fake_busy, 47); /* the core counts the new WebSocket */
    assert_int_equal(brk_worker_take(b, 0), 1);
    atomic_store(&fake_busy, 48);
    assert_int_equal(brk_worker_take(b, 0), 0);
    assert_int_equal(brk_worker_take(b, 1), 1); /* a long-poll counted in busy itself */
    brk_worker_release(b);
    brk_worker_release(b);
    brk_worker_release(b);
    /* 16 threads racing for the 48 slots */
    atomic_store(&fake_busy, 0);
    race_b = b;
    pthread_t t[16];
    for (int i = 0; i < 16; i++)
        pthread_create(&t[i], NULL, race_taker, NULL);
    for (int i = 0; i < 16; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&race_over), 0);
    assert_int_equal(atomic_load(&b->held), 0);
    free_broker(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_room_names),
        cmocka_unit_test(test_join_leave_and_limits),
        cmocka_unit_test(test_broadcast_union_once_and_overflow),
        cmocka_unit_test(test_recovery_replays_in_order),
        cmocka_unit_test(test_unconnected_caps),
        cmocka_unit_test(test_worker_admission),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
