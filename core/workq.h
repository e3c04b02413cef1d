/* Work queues owned by the core for plugins' blocking work (SDK: workq.h):
 * bounded FIFO, worker threads, retries with backoff, drain or cancel at stop.
 * Every queue is registered under its owner so the core can stop what a
 * plugin left running. */
#ifndef CORE_WORKQ_H
#define CORE_WORKQ_H

#include <stddef.h>
#include <stdint.h>

#include "vigia/workq.h"

/* Validate `opts` and start the workers. `who` names the owner in logs;
 * `stop_cap_ms` caps drain_ms. 0, or -EINVAL / -ENOMEM / -EAGAIN (threads)
 * with a message in `err`. */
int core_workq_new(const char *who, const char *name, const vg_workq_opts *opts, void *owner,
                   int64_t stop_cap_ms, vg_workq **out, char *err, size_t errlen);
int core_workq_submit(vg_workq *q, vg_job_fn run, void *user, vg_free_cb user_free);
/* Drain or cancel and join the workers. Idempotent; the queue stays valid
 * (submits get -ESHUTDOWN) until core_workq_free_owner, since other threads
 * (bus callbacks) may still hold it. */
void core_workq_stop(vg_workq *q);
/* Stop every queue of `owner` not stopped yet; returns how many. */
int core_workq_stop_owner(void *owner);
/* Stop, then free every queue of `owner` (once nothing can submit to them any
 * more); returns how many. */
int core_workq_free_owner(void *owner);

/* Tests: a monotonic clock in ms instead of CLOCK_MONOTONIC (timed waits stay
 * real: call core_workq_kick after moving the clock), and a fixed jitter. */
void core_workq_set_clock(vg_workq *q, int64_t (*now)(void *), void *user);
void core_workq_kick(vg_workq *q);
/* Jobs held now (queued, running, waiting to retry). */
int core_workq_held(vg_workq *q);

/* backoff_min * 2^(attempt-1) capped at backoff_max, then 50..100 % of it
 * chosen by `rnd`. */
int64_t core_workq_backoff_ms(int attempt, int64_t min_ms, int64_t max_ms, uint32_t rnd);
/* An HTTP Retry-After value (delta-seconds or IMF-fixdate) as a delay from
 * `now_wall_ms`, at least 0. 0 or -EINVAL. */
int core_parse_retry_after(const char *value, int64_t now_wall_ms, int64_t *delay_ms);

#endif
