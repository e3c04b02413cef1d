/* spool: appends every notification to a JSON-lines file, durably (fsync),
 * through a work queue: the bus thread only copies the event and submits it;
 * a worker thread does the blocking I/O, retries with backoff when the disk
 * says no, and drains what is queued when the server stops.
 *
 *   [spool]
 *   file = /var/lib/vigia/notifications.jsonl   ; required
 *   topic = notification.created                ; what to append
 *   capacity = 1000                             ; events queued at most
 *
 * After each append it publishes "spool.appended" {"file", "bytes", "attempt"};
 * GET /spool/stats answers {"written", "failed", "refused", "cancelled"}. */
#define _POSIX_C_SOURCE 200809L /* open flags, fsync under -std=c11 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <vigia/contract/notifications.h> /* the topic we append, by its contract name */
#include <vigia/vigia.h>

typedef struct spool {
    const vg_host *host;
    const char *file, *topic; /* config strings: valid until destroy */
    vg_workq *q;
    atomic_long written, failed, refused, cancelled;
} spool;

typedef struct line {
    spool *s;
    size_t len;
    char text[]; /* JSON + '\n' */
} line;

static int read_config(const vg_host *host, const vg_config *cfg, const char **file,
                       const char **topic, long long *capacity)
{
    /* Every key is read even after a bad one, so one run reports all mistakes. */
    int bad = 0;
    bad |= host->config_require(host, cfg, "file", file) < 0;
    bad |= host->config_string(host, cfg, "topic", VG_NOTIFICATIONS_EV_CREATED, topic) < 0;
    bad |= host->config_int(host, cfg, "capacity", 1000, 1, 1000000, capacity) < 0;
    return bad ? -EINVAL : 0;
}

static int spool_check_config(const vg_host *host, const vg_config *cfg)
{
    const char *f, *t;
    long long c;
    return read_config(host, cfg, &f, &t, &c);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Worker thread: blocking I/O is fine here. */
static int append_job(vg_job *job, void *user)
{
    line *l = user;
    spool *s = l->s;
    if (vg_job_cancelled(job)) {
        atomic_fetch_add(&s->cancelled, 1);
        return VG_JOB_DONE;
    }
    int rc = 0;
    int fd = open(s->file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        rc = -errno;
    if (rc == 0)
        rc = write_all(fd, l->text, l->len);
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    if (fd >= 0)
        close(fd);
    if (rc < 0) {
        VG_WARN(s->host, "cannot append to %s (attempt %d): %s", s->file, vg_job_attempt(job),
                strerror(-rc));
        if (vg_job_last_attempt(job)) {
            atomic_fetch_add(&s->failed, 1);
            return rc;
        }
        return VG_JOB_RETRY;
    }
    atomic_fetch_add(&s->written, 1);
    vg_bus_publish_new(s->host->bus, "spool.appended",
                       json_pack("{s:i, s:s, s:I, s:i}", VG_EVENT_V, 1, "file", s->file, "bytes",
                                 (json_int_t)l->len, "attempt", vg_job_attempt(job)));
    return VG_JOB_DONE;
}

/* Bus thread: never block; a full queue refuses at once. */
static void on_event(const char *topic, const json_t *payload, void *user)
{
    (void)topic;
    spool *s = user;
    char *json = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS);
    if (!json)
        return;
    size_t n = strlen(json);
    line *l = malloc(sizeof *l + n + 2);
    if (l) {
        l->s = s;
        l->len = n + 1;
        memcpy(l->text, json, n);
        l->text[n] = '\n';
        l->text[n + 1] = '\0';
    }
    free(json);
    if (!l)
        return;
    if (s->host->workq_submit(s->q, append_job, l, free) != 0)
        atomic_fetch_add(&s->refused, 1);
}

static int stats_route(vg_http_request *req, void *user)
{
    spool *s = user;
    return vg_http_reply_json(req, 200,
                              json_pack("{s:I, s:I, s:I, s:I}", "written",
                                        (json_int_t)atomic_load(&s->written), "failed",
                                        (json_int_t)atomic_load(&s->failed), "refused",
                                        (json_int_t)atomic_load(&s->refused), "cancelled",
                                        (json_int_t)atomic_load(&s->cancelled)));
}

static int spool_init(const vg_host *host, const vg_config *cfg, void **state)
{
    spool *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->host = host;
    long long capacity;
    int rc = read_config(host, cfg, &s->file, &s->topic, &capacity);
    vg_workq_opts o = VG_WORKQ_OPTS_INIT;
    o.threads = 1; /* one writer keeps the file in event order */
    o.capacity = (int)capacity;
    o.submit_wait_ms = 0;
    o.backoff_min_ms = 200;
    o.backoff_max_ms = 5000;
    if (rc == 0)
        rc = host->workq_create(host, "append", &o, &s->q);
    if (rc == 0)
        rc = host->http_route(host, "GET", "/spool/stats", stats_route, s, NULL);
    /* Subscribe last: once events can arrive, nothing may fail any more. */
    if (rc == 0)
        rc = vg_bus_subscribe(host->bus, s->topic, on_event, s, NULL, NULL);
    if (rc != 0) {
        /* Jobs use `s`: stop the queue before freeing it (the core drops the
         * route, and frees the stopped queue, after init returns). */
        if (s->q)
            host->workq_stop(s->q);
        free(s);
        return rc;
    }
    VG_INFO(host, "appending '%s' events to %s", s->topic, s->file);
    *state = s;
    return 0;
}

static void spool_stop(void *state)
{
    spool *s = state;
    /* Drains what is queued, within its budget. Events still arrive until
     * destroy: their submits are refused (-ESHUTDOWN) and counted. */
    s->host->workq_stop(s->q);
    VG_INFO(s->host, "stopped: %ld written, %ld failed, %ld refused, %ld cancelled",
            atomic_load(&s->written), atomic_load(&s->failed), atomic_load(&s->refused),
            atomic_load(&s->cancelled));
}

static void spool_destroy(void *state) { free(state); }

VG_PLUGIN_DEFINE(spool, "1.0.0", "Example plugin: appends notifications to a file",
                 .check_config = spool_check_config, .init = spool_init, .stop = spool_stop,
                 .destroy = spool_destroy);
