/* Work queues: see workq.h. One mutex per queue guards the lists and
 * counters; user code (run, user_free) is always called without it. */
#include "workq.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define WQ_MAX_THREADS 64
#define WQ_MAX_CAPACITY 1000000

typedef struct wq_job {
    vg_job pub; /* first: the vg_job handed to run */
    struct wq_job *next;
    vg_workq *q;
    vg_job_fn run;
    void *user;
    vg_free_cb user_free;
    uint64_t seq;
    int attempt;
    int64_t due_ms;
    int64_t retry_ms; /* chosen by the job for its next retry, -1: backoff */
    bool cancel_call;
} wq_job;

struct vg_workq {
    char who[80];
    char name[33];
    void *owner;
    vg_workq_opts o;
    pthread_mutex_t lock;
    pthread_cond_t work, space, idle;
    wq_job *ready, *ready_tail;
    wq_job *delayed; /* by due time */
    int held, running;
    uint64_t seq;
    bool stopping;
    bool stop_begun;       /* workq_stop is idempotent; the memory lives until the owner is freed */
    atomic_int cancel_all; /* past the drain budget: running jobs must return */
    int64_t deadline_ms;
    int64_t stop_cap_ms;
    pthread_t *threads;
    int nthreads;
    int64_t (*now)(void *);
    void *now_user;
    uint64_t rnd;
    vg_workq *reg_next;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static vg_workq *reg_head;

static int64_t real_now(void *user)
{
    (void)user;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t q_now(vg_workq *q) { return q->now(q->now_user); }

/* Condition variables use CLOCK_MONOTONIC; wait at most `ms` real time. */
static void wait_ms(pthread_cond_t *c, pthread_mutex_t *m, int64_t ms)
{
    if (ms < 0)
        ms = 0;
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += ms / 1000;
    dl.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(c, m, &dl);
}

static int cond_init_mono(pthread_cond_t *c)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
    return rc;
}

int64_t core_workq_backoff_ms(int attempt, int64_t min_ms, int64_t max_ms, uint32_t rnd)
{
    int64_t base = min_ms;
    for (int i = 1; i < attempt && base < max_ms; i++)
        base *= 2;
    if (base > max_ms)
        base = max_ms;
    int64_t half = base / 2;
    return half + (int64_t)(rnd % (uint64_t)(base - half + 1));
}

int core_parse_retry_after(const char *v, int64_t now_wall_ms, int64_t *delay_ms)
{
    if (!v)
        return -EINVAL;
    while (*v == ' ' || *v == '\t')
        v++;
    if (isdigit((unsigned char)*v)) {
        char *end;
        errno = 0;
        unsigned long long s = strtoull(v, &end, 10);
        while (*end == ' ' || *end == '\t')
            end++;
        if (errno || *end || s > 100000000ULL)
            return -EINVAL;
        *delay_ms = (int64_t)s * 1000;
        return 0;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end || *end)
        return -EINVAL;
    int64_t at = (int64_t)timegm(&tm) * 1000;
    *delay_ms = at > now_wall_ms ? at - now_wall_ms : 0;
    return 0;
}

/* ---- job handle ---- */

static wq_job *job_of(vg_job *j) { return (wq_job *)j; }

static int j_attempt(vg_job *j) { return job_of(j)->attempt; }

static int j_last_attempt(vg_job *j)
{
    wq_job *job = job_of(j);
    return job->attempt >= job->q->o.max_attempts;
}

static int j_cancelled(vg_job *j)
{
    wq_job *job = job_of(j);
    return job->cancel_call || atomic_load(&job->q->cancel_all);
}

static int64_t j_deadline(vg_job *j)
{
    vg_workq *q = job_of(j)->q;
    pthread_mutex_lock(&q->lock);
    int64_t d = q->stopping ? q->deadline_ms : INT64_MAX;
    pthread_mutex_unlock(&q->lock);
    return d;
}

static void j_retry_after(vg_job *j, int64_t ms) { job_of(j)->retry_ms = ms < 0 ? 0 : ms; }

static int j_retry_after_header(vg_job *j, const char *value)
{
    int64_t ms;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int rc = core_parse_retry_after(value, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, &ms);
    if (rc == 0)
        job_of(j)->retry_ms = ms;
    return rc;
}

static const vg_job_ops job_ops = {
    .attempt = j_attempt,
    .last_attempt = j_last_attempt,
    .cancelled = j_cancelled,
    .deadline_ms = j_deadline,
    .retry_after = j_retry_after,
    .retry_after_header = j_retry_after_header,
};

/* ---- lists (under q->lock) ---- */

static void push_ready(vg_workq *q, wq_job *j)
{
    j->next = NULL;
    if (q->ready_tail)
        q->ready_tail->next = j;
    else
        q->ready = j;
    q->ready_tail = j;
}

static void push_delayed(vg_workq *q, wq_job *j)
{
    wq_job **pp = &q->delayed;
    while (*pp && (*pp)->due_ms <= j->due_ms)
        pp = &(*pp)->next;
    j->next = *pp;
    *pp = j;
}

static void promote_due(vg_workq *q, int64_t now)
{
    while (q->delayed && q->delayed->due_ms <= now) {
        wq_job *j = q->delayed;
        q->delayed = j->next;
        push_ready(q, j);
    }
}

static uint32_t next_rnd(vg_workq *q)
{
    uint64_t x = q->rnd; /* xorshift64: jitter only, not security */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    q->rnd = x;
    return (uint32_t)(x >> 32);
}

/* ---- workers ---- */

static void job_release(vg_workq *q, wq_job *j)
{
    if (j->user_free)
        j->user_free(j->user);
    free(j);
    pthread_mutex_lock(&q->lock);
    q->held--;
    pthread_cond_broadcast(&q->space);
    pthread_cond_broadcast(&q->idle);
    pthread_mutex_unlock(&q->lock);
}

static void job_cancel(vg_workq *q, wq_job *j)
{
    j->cancel_call = true;
    j->run(&j->pub, j->user);
    job_release(q, j);
}

/* What to do with a job after a run; called with the lock held, returns with
 * it held. */
static void after_run(vg_workq *q, wq_job *j, int rc)
{
    q->running--;
    pthread_cond_broadcast(&q->idle);
    if (rc == VG_JOB_RETRY && !q->stopping && j->attempt < q->o.max_attempts) {
        int64_t d = j->retry_ms >= 0 ? j->retry_ms
                                     : core_workq_backoff_ms(j->attempt, q->o.backoff_min_ms,
                                                             q->o.backoff_max_ms, next_rnd(q));
        if (d > q->o.backoff_max_ms)
            d = q->o.backoff_max_ms;
        j->retry_ms = -1;
        j->due_ms = q_now(q) + d;
        push_delayed(q, j);
        return;
    }
    bool cancel = rc == VG_JOB_RETRY && q->stopping && !atomic_load(&q->cancel_all);
    bool gave_up = rc == VG_JOB_RETRY && !q->stopping;
    pthread_mutex_unlock(&q->lock);
    if (gave_up)
        core_log(q->who, VG_LOG_WARN, "work queue '%s': job given up after %d attempts", q->name,
                 j->attempt);
    else if (rc < 0)
        core_log(q->who, VG_LOG_WARN, "work queue '%s': job failed: %s", q->name, strerror(-rc));
    if (cancel)
        job_cancel(q, j);
    else
        job_release(q, j);
    pthread_mutex_lock(&q->lock);
}

static void *worker(void *arg)
{
    vg_workq *q = arg;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        if (atomic_load(&q->cancel_all))
            break;
        int64_t now = q_now(q);
        if (!q->stopping)
            promote_due(q, now);
        wq_job *j = q->ready;
        if (j) {
            q->ready = j->next;
            if (!q->ready)
                q->ready_tail = NULL;
            q->running++;
            j->attempt++;
            pthread_mutex_unlock(&q->lock);
            int rc = j->run(&j->pub, j->user);
            pthread_mutex_lock(&q->lock);
            after_run(q, j, rc);
            continue;
        }
        if (q->stopping)
            break;
        if (q->delayed)
            wait_ms(&q->work, &q->lock, q->delayed->due_ms - now);
        else
            pthread_cond_wait(&q->work, &q->lock);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

/* ---- public operations ---- */

static bool valid_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 32)
        return false;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_' || *s == '-'))
            return false;
    return true;
}

static int check_opts(const vg_workq_opts *o, char *err, size_t n)
{
#define RANGE(field, lo, hi)                                                                       \
    if (o->field < (lo) || o->field > (hi)) {                                                      \
        snprintf(err, n, "work queue option %s = %lld is out of range [%lld, %lld]", #field,       \
                 (long long)o->field, (long long)(lo), (long long)(hi));                           \
        return -EINVAL;                                                                            \
    }
    if (o->struct_size < sizeof(vg_workq_opts)) {
        snprintf(err, n,
                 "work queue options: struct_size %u, expected %zu (use VG_WORKQ_OPTS_INIT)",
                 o->struct_size, sizeof(vg_workq_opts));
        return -EINVAL;
    }
    RANGE(threads, 1, WQ_MAX_THREADS);
    RANGE(capacity, 1, WQ_MAX_CAPACITY);
    RANGE(submit_wait_ms, 0, 60000);
    RANGE(max_attempts, 1, 1000);
    RANGE(backoff_min_ms, 1, 86400000);
    RANGE(backoff_max_ms, o->backoff_min_ms, 86400000);
    RANGE(drain_ms, 0, 600000);
#undef RANGE
    return 0;
}

static void q_free(vg_workq *q)
{
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->work);
    pthread_cond_destroy(&q->space);
    pthread_cond_destroy(&q->idle);
    free(q->threads);
    free(q);
}

int core_workq_new(const char *who, const char *name, const vg_workq_opts *opts, void *owner,
                   int64_t stop_cap_ms, vg_workq **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!valid_name(name)) {
        snprintf(err, errlen, "work queue name '%s': expected 1 to 32 of a-z, 0-9, '_', '-'",
                 name ? name : "(null)");
        return -EINVAL;
    }
    if (!opts) {
        snprintf(err, errlen, "work queue '%s': no options (use VG_WORKQ_OPTS_INIT)", name);
        return -EINVAL;
    }
    int rc = check_opts(opts, err, errlen);
    if (rc)
        return rc;
    vg_workq *q = calloc(1, sizeof *q);
    if (!q || !(q->threads = calloc((size_t)opts->threads, sizeof *q->threads))) {
        free(q);
        snprintf(err, errlen, "work queue '%s': out of memory", name);
        return -ENOMEM;
    }
    snprintf(q->who, sizeof q->who, "%s", who ? who : "core");
    snprintf(q->name, sizeof q->name, "%s", name);
    q->owner = owner;
    q->o = *opts;
    q->stop_cap_ms = stop_cap_ms;
    q->now = real_now;
    q->rnd = ((uint64_t)real_now(NULL) << 20) ^ (uint64_t)(uintptr_t)q ^ 0x9e3779b97f4a7c15ULL;
    if (!q->rnd)
        q->rnd = 1;
    atomic_init(&q->cancel_all, 0);
    pthread_mutex_init(&q->lock, NULL);
    cond_init_mono(&q->work);
    cond_init_mono(&q->space);
    cond_init_mono(&q->idle);
    for (int i = 0; i < opts->threads; i++) {
        if (pthread_create(&q->threads[i], NULL, worker, q) != 0) {
            snprintf(err, errlen, "work queue '%s': cannot start thread %d of %d", name, i + 1,
                     opts->threads);
            pthread_mutex_lock(&q->lock);
            q->stopping = true;
            pthread_cond_broadcast(&q->work);
            pthread_mutex_unlock(&q->lock);
            for (int k = 0; k < i; k++)
                pthread_join(q->threads[k], NULL);
            q_free(q);
            return -EAGAIN;
        }
        q->nthreads++;
        char tn[16];
        snprintf(tn, sizeof tn, "wq:%.12s", name);
        pthread_setname_np(q->threads[i], tn);
    }
    pthread_mutex_lock(&reg_lock);
    q->reg_next = reg_head;
    reg_head = q;
    pthread_mutex_unlock(&reg_lock);
    *out = q;
    return 0;
}

int core_workq_submit(vg_workq *q, vg_job_fn run, void *user, vg_free_cb user_free)
{
    wq_job *j = (q && run) ? calloc(1, sizeof *j) : NULL;
    if (!j) {
        if (user_free)
            user_free(user);
        return (q && run) ? -ENOMEM : -EINVAL;
    }
    j->pub.ops = &job_ops;
    j->q = q;
    j->run = run;
    j->user = user;
    j->user_free = user_free;
    j->retry_ms = -1;
    pthread_mutex_lock(&q->lock);
    if (q->held >= q->o.capacity && !q->stopping) {
        int64_t end = real_now(NULL) + q->o.submit_wait_ms;
        int64_t left;
        while (q->held >= q->o.capacity && !q->stopping && (left = end - real_now(NULL)) > 0)
            wait_ms(&q->space, &q->lock, left);
    }
    int rc = q->stopping ? -ESHUTDOWN : q->held >= q->o.capacity ? -EAGAIN : 0;
    if (rc == 0) {
        j->seq = ++q->seq;
        q->held++;
        push_ready(q, j);
        pthread_cond_signal(&q->work);
    }
    pthread_mutex_unlock(&q->lock);
    if (rc) {
        if (rc == -EAGAIN)
            core_log(q->who, VG_LOG_WARN, "work queue '%s' full (%d jobs): job refused", q->name,
                     q->o.capacity);
        free(j);
        if (user_free)
            user_free(user);
    }
    return rc;
}

/* Insert into a list kept in submission order. */
static void push_by_seq(wq_job **head, wq_job *j)
{
    while (*head && (*head)->seq < j->seq)
        head = &(*head)->next;
    j->next = *head;
    *head = j;
}

static void stop_queue(vg_workq *q)
{
    wq_job *cancel = NULL;
    pthread_mutex_lock(&q->lock);
    if (q->stop_begun) {
        pthread_mutex_unlock(&q->lock);
        return;
    }
    q->stop_begun = true;
    int64_t drain = q->o.drain_ms < q->stop_cap_ms ? q->o.drain_ms : q->stop_cap_ms;
    q->stopping = true;
    q->deadline_ms = q_now(q) + drain;
    while (q->delayed) {
        wq_job *j = q->delayed;
        q->delayed = j->next;
        push_by_seq(&cancel, j);
    }
    pthread_cond_broadcast(&q->work);
    pthread_cond_broadcast(&q->space);
    int64_t left;
    while ((q->ready || q->running) && (left = q->deadline_ms - q_now(q)) > 0)
        wait_ms(&q->idle, &q->lock, left);
    atomic_store(&q->cancel_all, 1);
    while (q->ready) {
        wq_job *j = q->ready;
        q->ready = j->next;
        push_by_seq(&cancel, j);
    }
    q->ready_tail = NULL;
    pthread_cond_broadcast(&q->work);
    pthread_mutex_unlock(&q->lock);

    int n = 0;
    while (cancel) {
        wq_job *j = cancel;
        cancel = j->next;
        job_cancel(q, j);
        n++;
    }
    for (int i = 0; i < q->nthreads; i++)
        pthread_join(q->threads[i], NULL);
    if (n)
        core_log(q->who, VG_LOG_INFO, "work queue '%s': %d job%s cancelled at stop", q->name, n,
                 n == 1 ? "" : "s");
}

void core_workq_stop(vg_workq *q)
{
    if (!q)
        return;
    for (int i = 0; i < q->nthreads; i++)
        if (pthread_equal(q->threads[i], pthread_self())) {
            core_log(q->who, VG_LOG_ERROR,
                     "work queue '%s': workq_stop called from its own job; ignored", q->name);
            return;
        }
    stop_queue(q);
}

/* Queues are stopped outside reg_lock: jobs may create queues meanwhile. */
int core_workq_stop_owner(void *owner)
{
    int n = 0;
    for (;;) {
        vg_workq *q = NULL;
        pthread_mutex_lock(&reg_lock);
        for (vg_workq *it = reg_head; it && !q; it = it->reg_next) {
            pthread_mutex_lock(&it->lock);
            if (it->owner == owner && !it->stop_begun)
                q = it;
            pthread_mutex_unlock(&it->lock);
        }
        pthread_mutex_unlock(&reg_lock);
        if (!q)
            return n;
        core_log(q->who, VG_LOG_DEBUG, "work queue '%s' stopped by the core", q->name);
        stop_queue(q);
        n++;
    }
}

int core_workq_free_owner(void *owner)
{
    core_workq_stop_owner(owner);
    int n = 0;
    pthread_mutex_lock(&reg_lock);
    for (vg_workq **pp = &reg_head; *pp;) {
        vg_workq *q = *pp;
        if (q->owner != owner) {
            pp = &q->reg_next;
            continue;
        }
        *pp = q->reg_next;
        q_free(q);
        n++;
    }
    pthread_mutex_unlock(&reg_lock);
    return n;
}

void core_workq_set_clock(vg_workq *q, int64_t (*now)(void *), void *user)
{
    pthread_mutex_lock(&q->lock);
    q->now = now ? now : real_now;
    q->now_user = user;
    pthread_mutex_unlock(&q->lock);
}

void core_workq_kick(vg_workq *q)
{
    pthread_mutex_lock(&q->lock);
    pthread_cond_broadcast(&q->work);
    pthread_cond_broadcast(&q->idle);
    pthread_mutex_unlock(&q->lock);
}

int core_workq_held(vg_workq *q)
{
    pthread_mutex_lock(&q->lock);
    int n = q->held;
    pthread_mutex_unlock(&q->lock);
    return n;
}
