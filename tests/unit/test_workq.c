/* Work queues (core/workq.c): order, bounded capacity, retries with backoff
 * on an injected clock, Retry-After, drain and cancellation at stop with
 * user_free counts, and a multi-producer stress run. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "workq.h"

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Poll `v` until it reaches `want` (at most 5 s). */
static int wait_for(atomic_int *v, int want)
{
    for (int i = 0; i < 500 && atomic_load(v) != want; i++)
        sleep_ms(10);
    return atomic_load(v);
}

static vg_workq *make(vg_workq_opts *o)
{
    vg_workq *q = NULL;
    char err[256] = "";
    int rc = core_workq_new("test", "t", o, NULL, 10000, &q, err, sizeof err);
    if (rc)
        fail_msg("core_workq_new: %s", err);
    return q;
}

/* ---- shared job bookkeeping ---- */

typedef struct rec {
    pthread_mutex_t lock;
    int order[20000];
    int n;
    int cancel_order[1000];
    int ncancel;
    atomic_int frees;
    atomic_int runs;
    atomic_int gate; /* jobs with id 0 wait for it */
    atomic_int in_run;
    int retries_wanted;
    int64_t retry_after_ms;
} rec;

typedef struct item {
    rec *r;
    int id;
} item;

static rec *rec_new(void)
{
    rec *r = calloc(1, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    return r;
}

static void rec_free(rec *r)
{
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static void item_free(void *p)
{
    item *it = p;
    atomic_fetch_add(&it->r->frees, 1);
    free(it);
}

static item *item_new(rec *r, int id)
{
    item *it = malloc(sizeof *it);
    it->r = r;
    it->id = id;
    return it;
}

static int job_record(vg_job *job, void *user)
{
    item *it = user;
    rec *r = it->r;
    pthread_mutex_lock(&r->lock);
    if (vg_job_cancelled(job)) {
        r->cancel_order[r->ncancel++] = it->id;
        pthread_mutex_unlock(&r->lock);
        return VG_JOB_DONE;
    }
    r->order[r->n++] = it->id;
    pthread_mutex_unlock(&r->lock);
    atomic_fetch_add(&r->runs, 1);
    if (it->id == 0) {
        atomic_store(&r->in_run, 1);
        /* Hold the worker until the test opens the gate or the queue cancels. */
        while (!atomic_load(&r->gate) && !vg_job_cancelled(job))
            sleep_ms(2);
        atomic_store(&r->in_run, 0);
    }
    return VG_JOB_DONE;
}

static void test_fifo_order(void **state)
{
    (void)state;
    vg_workq_opts o = VG_WORKQ_OPTS_INIT;
    o.capacity = 1000;
    vg_workq *q = make(&o);
    rec *r = rec_new();
    atomic_store(&r->gate, 1);
    for (int i = 0; i < 500; i++)
        assert_int_equal(core_workq_submit(q, job_record, item_new(r, i), item_free), 0);
    assert_int_equal(wait_for(&r->frees, 500), 500);
    core_workq_stop(q);
    assert_int_equal(r->n, 500);
    for (int i = 0; i < 500; i++)
        assert_int_equal(r->order[i], i);
    assert_int_equal(r->ncancel, 0);
    rec_free(r);
}

static void test_bounded_capacity(void **state)
{
    (void)state;
    vg_workq_opts o = VG_WORKQ_OPTS_INIT;
    o.capacity = 4;
    o.submit_wait_ms = 150;
    vg_workq *q = make(&o);
    rec *r = rec_new();
    for (int i = 0; i < 4; i++)
        assert_int_equal(core_workq_submit(q, job_record, item_new(r, i), item_free), 0);
    assert_int_equal(core_workq_held(q), 4);
    /* Full (job 0 holds the only worker): the fifth waits its bound, then -EAGAIN,
     * and its user_free has run. */
    int64_t t0 = mono_ms();
    assert_int_equal(core_workq_submit(q, job_record, item_new(r, 99), item_free), -EAGAIN);
    int64_t waited = mono_ms() - t0;
    assert_true(waited >= 140);
    assert_true(waited < 2000);
    assert_int_equal(atomic_load(&r->frees), 1);
    /* A submit waiting on a full queue gets in when a slot frees. */
    atomic_store(&r->gate, 1);
    assert_int_equal(wait_for(&r->frees, 5), 5);
    assert_int_equal(core_workq_submit(q, job_record, item_new(r, 4), item_free), 0);
    assert_int_equal(wait_for(&r->frees, 6), 6);
    core_workq_stop(q);
    assert_int_equal(r->n, 5);
    rec_free(r);
}

static void test_backoff_bounds(void **state)
{
    (void)state;
    /* attempt n: base = min * 2^(n-1), capped; result in [base/2, base]. */
    assert_int_equal(core_workq_backoff_ms(1, 1000, 60000, 0), 500);
    assert_int_equal(core_workq_backoff_ms(1, 1000, 60000, 500), 1000);
    assert_int_equal(core_workq_backoff_ms(3, 1000, 60000, 0), 2000);
    assert_int_equal(core_workq_backoff_ms(3, 1000, 60000, 2000), 4000);
    assert_int_equal(core_workq_backoff_ms(30, 1000, 60000, 0), 30000);
    assert_int_equal(core_workq_backoff_ms(1000, 1000, 60000, 30000), 60000);
    for (uint32_t rnd = 0; rnd < 100000; rnd += 977) {
        int64_t d = core_workq_backoff_ms(4, 100, 60000, rnd);
        assert_true(d >= 400 && d <= 800);
    }
}

static void test_retry_after_parse(void **state)
{
    (void)state;
    int64_t d = -1;
    assert_int_equal(core_parse_retry_after("120", 0, &d), 0);
    assert_int_equal(d, 120000);
    assert_int_equal(core_parse_retry_after(" 0 ", 0, &d), 0);
    assert_int_equal(d, 0);
    /* 1445412480 = Wed, 21 Oct 2015 07:28:00 GMT */
    assert_int_equal(
        core_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480000LL - 90000, &d), 0);
    assert_int_equal(d, 90000);
    assert_int_equal(
        core_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480000LL + 5, &d), 0);
    assert_int_equal(d, 0);
    assert_int_equal(core_parse_retry_after("soon", 0, &d), -EINVAL);
    assert_int_equal(core_parse_retry_after("12s", 0, &d), -EINVAL);
    assert_int_equal(core_parse_retry_after("-1", 0, &d), -EINVAL);
    assert_int_equal(core_parse_retry_after(NULL, 0, &d), -EINVAL);
}

/* ---- retries on a fake clock ---- */

static atomic_llong fake_now;
static int64_t fake_clock(void *user)
{
    (void)user;
    return atomic_load(&fake_now);
}

typedef struct retry_job {
    atomic_int runs;
    atomic_int frees;
    atomic_int last_seen;
    atomic_int bad_attempt;
    int fail_times;
    int64_t explicit_ms; /* > 0: vg_job_retry_after */
    const char *header;  /* vg_job_retry_after_header */
} retry_job;

static int job_retry(vg_job *job, void *user)
{
    retry_job *rj = user;
    if (vg_job_cancelled(job))
        return VG_JOB_DONE;
    int n = atomic_fetch_add(&rj->runs, 1) + 1;
    if (vg_job_attempt(job) != n)
        atomic_fetch_add(&rj->bad_attempt, 1);
    atomic_store(&rj->last_seen, vg_job_last_attempt(job));
    if (n > rj->fail_times)
        return VG_JOB_DONE;
    if (rj->explicit_ms > 0)
        vg_job_retry_after(job, rj->explicit_ms);
    if (rj->header && vg_job_retry_after_header(job, rj->header) != 0)
        atomic_fetch_add(&rj->bad_attempt, 1);
    return VG_JOB_RETRY;
}

static void retry_free(void *p) { atomic_fetch_add(&((retry_job *)p)->frees, 1); }

/* The job must not run again in 150 ms of real time while the fake clock is
 * at `at`. */
static void assert_runs_stay(vg_workq *q, retry_job *rj, int64_t at, int runs)
{
    atomic_store(&fake_now, at);
    core_workq_kick(q);
    sleep_ms(150);
    assert_int_equal(atomic_load(&rj->runs), runs);
}

static void advance_and_wait(vg_workq *q, retry_job *rj, int64_t at, int runs)
{
    atomic_store(&fake_now, at);
    core_workq_kick(q);
    assert_int_equal(wait_for(&rj->runs, runs), runs);
}

static void test_retry_backoff_fake_clock(void **state)
{
    (void)state;
    vg_workq_opts o = VG_WORKQ_OPTS_INIT;
    o.backoff_min_ms = 1000;
    o.backoff_max_ms = 60000;
    o.max_attempts = 3;
    vg_workq *q = make(&o);
    atomic_store(&fake_now, 1000000);
    core_workq_set_clock(q, fake_clock, NULL);
    retry_job rj = {.fail_times = 10};
    assert_int_equal(core_workq_submit(q, job_retry, &rj, retry_free), 0);
    assert_int_equal(wait_for(&rj.runs, 1), 1);
    /* First retry: 500..1000 ms after the run. */
    assert_runs_stay(q, &rj, 1000000 + 499, 1);
    advance_and_wait(q, &rj, 1000000 + 1000, 2);
    /* Second: 1000..2000 ms after it ran (at some t in [1000499, 1001000]). */
    int64_t t2 = atomic_load(&fake_now);
    assert_runs_stay(q, &rj, t2 + 999, 2);
    advance_and_wait(q, &rj, t2 + 2000, 3);
    assert_int_equal(atomic_load(&rj.last_seen), 1);
    /* Third run was the last attempt: given up, freed once, never run again. */
    assert_int_equal(wait_for(&rj.frees, 1), 1);
    assert_runs_stay(q, &rj, t2 + 600000, 3);
    assert_int_equal(core_workq_held(q), 0);
    core_workq_stop(q);
    assert_int_equal(atomic_load(&rj.frees), 1);
    assert_int_equal(atomic_load(&rj.bad_attempt), 0);
}

static void test_retry_after_explicit(void **state)
{
    (void)state;
    vg_workq_opts o = VG_WORKQ_OPTS_INIT;
    o.backoff_min_ms = 10;
    o.backoff_max_ms = 10000;
    vg_workq *q = make(&o);
    atomic_store(&fake_now, 5000);
    core_workq_set_clock(q, fake_clock, NULL);
    retry_job rj = {.fail_times = 1, .explicit_ms = 7000};
    assert_int_equal(core_workq_submit(q, job_retry, &rj, retry_free), 0);
    assert_int_equal(wait_for(&rj.runs, 1), 1);
    assert_runs_stay(q, &rj, 5000 + 6999, 1);
    advance_and_wait(q, &rj, 5000 + 7000, 2);
    assert_int_equal(wait_for(&rj.frees, 1), 1);

    /* Retry-After: 20 s is capped at backoff_max_ms (10 s). */
    retry_job rh = {.fail_times = 1, .header = "20"};
    atomic_store(&fake_now, 100000);
    assert_int_equal(core_workq_submit(q, job_retry, &rh, retry_free), 0);
    assert_int_equal(wait_for(&rh.runs, 1), 1);
    assert_runs_stay(q, &rh, 100000 + 9999, 1);
    advance_and_wait(q, &rh, 100000 + 10000, 2);
    assert_int_equal(wait_for(&rh.frees, 1), 1);
    assert_int_equal(atomic_load(&rj.bad_attempt) + atomic_load(&rh.bad_attempt), 0);
    core_workq_stop(q);
}

/* ---- stop ---- */

static void test_cancel_at_stop(void **state)
{
    (void)state;
    vg_workq_opts o = VG_WORKQ_OPTS_INIT;
    o.drain_ms = 0;
    o.capacity = 100;
    vg_workq *q = make(&o);
    rec *r = rec_new();
    /* Job 0 blocks the worker until cancelled; 1..10 queue behind it. */
    assert_int_equal(core_workq_submit(q, job_record, item_new(r, 0), item_free), 0);
    assert_int_equal(wait_for(&r->in_run, 1), 1);
    for (int i = 1; i <= 10; i++)
        assert_int_equal(core_workq_submit(q, job_record, item_new(r, i), item_free), 0);
    /* A job waiting a minute for its retry, on a second queue. */
    retry_job rj = {.fail_times = 100};
    vg_workq_opts o2 = VG_WORKQ_OPTS_INIT;
    o2.backoff_min_ms = 60000;
    o2.backoff_max_ms = 60000;
    vg_workq *q2 = make(&o2);
    assert_int_equal(core_workq_submit(q2, job_retry, &rj, retry_free), 0);
    assert_int_equal(wait_for(&rj.runs, 1), 1);

    int64_t t0 = mono_ms();
    core_workq_stop(q);
    assert_true(mono_ms() - t0 < 2000);
    assert_int_equal(r->n, 1); /* only job 0 ran for real */
    assert_int_equal(r->ncancel, 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(r->cancel_order[i], i + 1);
    assert_int_equal(atomic_load(&r->frees), 11);

    t0 = mono_ms();
    core_workq_stop(q2); /* the retry is a minute away: cancelled, not awaited */
    assert_true(mono_ms() - t0 < 2000);
    assert_int_equal(atomic_load(&rj.runs), 1);
    assert_int_equal(atomic_load(&rj.frees), 1);
    rec_free(r);
}

static void test_drain_at_stop(void **state)
{
    (void)state;
    vg_workq_opts o = VG_WORKQ_OPTS_INIT;
    o.drain_ms = 5000;
    o.threads = 2;
    vg_workq *q = make(&o);
    rec *r = rec_new();
    assert_int_equal(core_workq_submit(q, job_record, item_new(r, 0), item_free), 0);
    for (int i = 1; i <= 50; i++)
        assert_int_equal(core_workq_submit(q, job_record, item_new(r, i), item_free), 0);
    atomic_store(&r->gate, 1);
    core_workq_stop(q);
    assert_int_equal(r->n, 51);
    assert_int_equal(r->ncancel, 0);
    assert_int_equal(atomic_load(&r->frees), 51);
    rec_free(r);
}

static void test_drain_budget_ends(void **state)
{
    (void)state;
    vg_workq_opts o = VG_WORKQ_OPTS_INIT;
    o.drain_ms = 300;
    vg_workq *q = make(&o);
    rec *r = rec_new();
    assert_int_equal(core_workq_submit(q, job_record, item_new(r, 0), item_free), 0);
    assert_int_equal(wait_for(&r->in_run, 1), 1);
    for (int i = 1; i <= 5; i++)
        assert_int_equal(core_workq_submit(q, job_record, item_new(r, i), item_free), 0);
    /* Job 0 never opens: the budget runs out, it sees cancelled, the rest are cancelled. */
    int64_t t0 = mono_ms();
    core_workq_stop(q);
    int64_t took = mono_ms() - t0;
    assert_true(took >= 290 && took < 3000);
    assert_int_equal(r->n, 1);
    assert_int_equal(r->ncancel, 5);
    assert_int_equal(atomic_load(&r->frees), 6);
    rec_free(r);
}

static void test_release_owner_and_bad_opts(void **state)
{
    (void)state;
    int owner;
    vg_workq_opts o = VG_WORKQ_OPTS_INIT;
    vg_workq *a, *b;
    char err[256];
    assert_int_equal(core_workq_new("t", "a", &o, &owner, 1000, &a, err, sizeof err), 0);
    assert_int_equal(core_workq_new("t", "b", &o, &owner, 1000, &b, err, sizeof err), 0);
    rec *r = rec_new();
    atomic_store(&r->gate, 1);
    assert_int_equal(core_workq_submit(a, job_record, item_new(r, 1), item_free), 0);
    assert_int_equal(core_workq_stop_owner(&owner), 2);
    assert_int_equal(core_workq_stop_owner(&owner), 0);
    assert_int_equal(atomic_load(&r->frees), 1);
    /* Stopped, not freed: a late submit (a bus callback after stop) is
     * refused safely and its user_free runs; a second stop does nothing. */
    assert_int_equal(core_workq_submit(b, job_record, item_new(r, 2), item_free), -ESHUTDOWN);
    assert_int_equal(atomic_load(&r->frees), 2);
    core_workq_stop(b);
    assert_int_equal(core_workq_free_owner(&owner), 2);
    assert_int_equal(core_workq_free_owner(&owner), 0);
    rec_free(r);

    o.threads = 0;
    assert_int_equal(core_workq_new("t", "c", &o, NULL, 1000, &a, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "threads = 0"));
    o = (vg_workq_opts)VG_WORKQ_OPTS_INIT;
    assert_int_equal(core_workq_new("t", "Bad Name", &o, NULL, 1000, &a, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "Bad Name"));
    o.backoff_max_ms = 1;
    assert_int_equal(core_workq_new("t", "c", &o, NULL, 1000, &a, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "backoff_max_ms"));
    /* Submit failures still free. */
    int freed = 0;
    assert_int_equal(core_workq_submit(NULL, job_record, &freed, NULL), -EINVAL);
}

/* ---- stress ---- */

typedef struct stress {
    vg_workq *q;
    atomic_int submitted, refused, freed, runs;
    int per_thread;
} stress;

static int job_stress(vg_job *job, void *user)
{
    stress *s = *(stress **)user;
    if (vg_job_cancelled(job))
        return VG_JOB_DONE;
    atomic_fetch_add(&s->runs, 1);
    /* Every 7th job retries once. */
    intptr_t id = ((intptr_t *)user)[1];
    if (id % 7 == 0 && vg_job_attempt(job) == 1) {
        vg_job_retry_after(job, 1);
        return VG_JOB_RETRY;
    }
    return id % 11 == 0 ? -EIO : VG_JOB_DONE;
}

static void stress_free(void *p)
{
    stress *s = *(stress **)p;
    atomic_fetch_add(&s->freed, 1);
    free(p);
}

static void *producer(void *arg)
{
    stress *s = arg;
    for (int i = 0; i < s->per_thread; i++) {
        void **u = malloc(2 * sizeof *u);
        u[0] = s;
        u[1] = (void *)(intptr_t)i;
        int rc = core_workq_submit(s->q, job_stress, u, stress_free);
        atomic_fetch_add(rc == 0 ? &s->submitted : &s->refused, 1);
    }
    return NULL;
}

static void test_stress(void **state)
{
    (void)state;
    vg_workq_opts o = VG_WORKQ_OPTS_INIT;
    o.threads = 4;
    o.capacity = 64;
    o.submit_wait_ms = 5;
    o.backoff_min_ms = 1;
    o.backoff_max_ms = 5;
    o.drain_ms = 50;
    stress s = {.per_thread = 3000};
    s.q = make(&o);
    pthread_t th[6];
    int64_t t0 = mono_ms();
    for (int i = 0; i < 6; i++)
        pthread_create(&th[i], NULL, producer, &s);
    for (int i = 0; i < 6; i++)
        pthread_join(th[i], NULL);
    core_workq_stop(s.q);
    int total = 6 * s.per_thread;
    assert_int_equal(atomic_load(&s.submitted) + atomic_load(&s.refused), total);
    assert_int_equal(atomic_load(&s.freed), total);
    assert_true(atomic_load(&s.submitted) > 0);
    print_message("stress: %d accepted, %d refused (full), %d runs in %lld ms\n",
                  atomic_load(&s.submitted), atomic_load(&s.refused), atomic_load(&s.runs),
                  (long long)(mono_ms() - t0));
}

/* Every test's queues have owner NULL: free them after each test. */
static int free_queues(void **state)
{
    (void)state;
    core_workq_free_owner(NULL);
    return 0;
}

int main(void)
{
    core_log_set_level(VG_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_fifo_order, free_queues),
        cmocka_unit_test_teardown(test_bounded_capacity, free_queues),
        cmocka_unit_test_teardown(test_backoff_bounds, free_queues),
        cmocka_unit_test_teardown(test_retry_after_parse, free_queues),
        cmocka_unit_test_teardown(test_retry_backoff_fake_clock, free_queues),
        cmocka_unit_test_teardown(test_retry_after_explicit, free_queues),
        cmocka_unit_test_teardown(test_cancel_at_stop, free_queues),
        cmocka_unit_test_teardown(test_drain_at_stop, free_queues),
        cmocka_unit_test_teardown(test_drain_budget_ends, free_queues),
        cmocka_unit_test_teardown(test_release_owner_and_bad_opts, free_queues),
        cmocka_unit_test_teardown(test_stress, free_queues),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
