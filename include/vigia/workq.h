/* Vigía public SDK: work queues for blocking work (ABI 1.2).
 *
 * Bus callbacks and HTTP handlers must not block; a plugin that has to do
 * blocking I/O (POST a webhook, append to a file, query a slow service) hands
 * it to a work queue: a bounded FIFO with worker threads owned by the core.
 *
 *     vg_workq_opts o = VG_WORKQ_OPTS_INIT;
 *     o.threads = 2;
 *     o.capacity = 1000;
 *     host->workq_create(host, "deliver", &o, &st->q);     // in init
 *     host->workq_submit(st->q, deliver_job, item, item_free);  // anywhere
 *     host->workq_stop(st->q);                              // in stop (optional)
 *
 * Threads
 *   - `run` is called on one of the queue's worker threads, never on the bus
 *     or an HTTP thread. It may block (that is the point), call the bus
 *     (publish, call) and every host function except workq_stop on its own
 *     queue. With threads > 1, jobs start in FIFO order but run concurrently.
 *   - Worker threads start in workq_create, so jobs may run before `start`.
 *
 * Results of `run`
 *   - VG_JOB_DONE (0): finished. Negative errno: failed for good (logged).
 *   - VG_JOB_RETRY: run it again later, after an exponential backoff with
 *     jitter (backoff_min_ms * 2^(attempt-1), capped at backoff_max_ms, then a
 *     random 50..100 % of that), or after the delay chosen with
 *     vg_job_retry_after() / vg_job_retry_after_header() (a server's
 *     Retry-After). After max_attempts runs the job is given up (logged).
 *
 * Ownership: `user_free(user)` runs exactly once for every submitted job,
 * whatever happens: after its last run, when it is cancelled, and when
 * workq_submit itself fails.
 *
 * Stop
 *   - workq_stop (the plugin's `stop`, or the core before the plugin's
 *     `destroy` for queues left running) refuses new jobs (-ESHUTDOWN), keeps
 *     running queued jobs in order for at most drain_ms (capped at half of
 *     [server] shutdown_timeout), then cancels the rest in FIFO order: each cancelled
 *     job gets one last call of `run` with vg_job_cancelled() true (do not do
 *     the work: save it, log it, or just return) and then user_free. Jobs
 *     waiting for a retry are cancelled at once. A job still running when the
 *     budget ends sees vg_job_cancelled() turn true and should return soon
 *     (use vg_job_deadline_ms() as its I/O timeout); workq_stop waits for it.
 *   - A job that asks for a retry while the queue stops gets the cancel call.
 *   - After workq_stop the handle stays valid until the core frees it after
 *     destroy: bus events that still arrive may submit (they get -ESHUTDOWN
 *     and their user_free runs), and a second workq_stop does nothing.
 *   - If init fails after creating a queue, stop it before freeing what its
 *     jobs use: the core's clean-up comes only after init has returned.
 */
#ifndef VIGIA_WORKQ_H
#define VIGIA_WORKQ_H

#include <stdint.h>

#include "bus.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Owned by the core: created with host->workq_create, never freed by plugins. */
typedef struct vg_workq vg_workq;
typedef struct vg_job vg_job;

#define VG_JOB_DONE 0
#define VG_JOB_RETRY 1

/* Run (or, with vg_job_cancelled() true, cancel) one job; see above. */
typedef int (*vg_job_fn)(vg_job *job, void *user);

typedef struct vg_workq_opts {
    uint32_t struct_size; /* sizeof(vg_workq_opts): set by VG_WORKQ_OPTS_INIT */
    int threads;          /* worker threads, 1..64 */
    int capacity;         /* jobs held at once (queued, running or waiting to retry), 1..1000000 */
    int64_t submit_wait_ms; /* a submit to a full queue waits this long, then -EAGAIN (0..60000) */
    int max_attempts;       /* runs per job before giving up, 1..1000 */
    int64_t backoff_min_ms; /* first retry delay, before jitter (1..) */
    int64_t backoff_max_ms; /* cap on any retry delay, Retry-After included */
    int64_t drain_ms;       /* at stop, keep running queued jobs this long (0: cancel at once) */
} vg_workq_opts;

#define VG_WORKQ_OPTS_INIT                                                                         \
    {                                                                                              \
        .struct_size = (uint32_t)sizeof(vg_workq_opts), .threads = 1, .capacity = 1024,            \
        .submit_wait_ms = 200, .max_attempts = 5, .backoff_min_ms = 1000,                          \
        .backoff_max_ms = 300000, .drain_ms = 2000                                                 \
    }

/* The operations behind the vg_job_* functions, filled in by the core. */
typedef struct vg_job_ops {
    int (*attempt)(vg_job *job);
    int (*last_attempt)(vg_job *job);
    int (*cancelled)(vg_job *job);
    int64_t (*deadline_ms)(vg_job *job);
    void (*retry_after)(vg_job *job, int64_t ms);
    int (*retry_after_header)(vg_job *job, const char *value);
} vg_job_ops;

struct vg_job {
    const vg_job_ops *ops;
};

/* 1 for the first run, 2 for the first retry, ... */
static inline int vg_job_attempt(vg_job *job) { return job->ops->attempt(job); }
/* 1 when a VG_JOB_RETRY from this run would not be granted (max_attempts). */
static inline int vg_job_last_attempt(vg_job *job) { return job->ops->last_attempt(job); }
/* 1 once the queue is stopping and this job will not (or no longer) be run
 * for real: return as soon as possible. Safe to poll from the job. */
static inline int vg_job_cancelled(vg_job *job) { return job->ops->cancelled(job); }
/* Monotonic ms (host->now_mono_ms) by which the job must have returned:
 * INT64_MAX while the queue is not stopping. */
static inline int64_t vg_job_deadline_ms(vg_job *job) { return job->ops->deadline_ms(job); }
/* Ask for the next retry after `ms` (capped at backoff_max_ms) instead of the
 * backoff; then return VG_JOB_RETRY. */
static inline void vg_job_retry_after(vg_job *job, int64_t ms) { job->ops->retry_after(job, ms); }
/* The same from an HTTP Retry-After value: delta-seconds ("120") or an
 * HTTP-date ("Wed, 21 Oct 2015 07:28:00 GMT"). 0, or -EINVAL (backoff applies). */
static inline int vg_job_retry_after_header(vg_job *job, const char *value)
{
    return job->ops->retry_after_header(job, value);
}

#ifdef __cplusplus
}
#endif

#endif /* VIGIA_WORKQ_H */
