/* watch.status: outbox depth by state, the oldest pending row's age and the
 * channels' answers counted since start (what /metrics shows). */
#include "watch_plugin.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <vigia/contract/delivery.h>
#include <vigia/contract/watch.h>

void watch_count_result(watch_plugin *w, const char *channel, const char *status)
{
    int r = strcmp(status, VG_DELIVERY_SENT) == 0    ? 0
            : strcmp(status, VG_DELIVERY_RETRY) == 0 ? 1
                                                     : 2;
    pthread_mutex_lock(&w->inmu);
    size_t i = 0;
    while (i < w->nchannels && strcmp(w->channels[i].name, channel) != 0)
        i++;
    if (i == w->nchannels && i < WATCH_MAX_CHANNELS) { /* beyond: not counted, not lost */
        snprintf(w->channels[i].name, sizeof w->channels[i].name, "%s", channel);
        w->nchannels++;
    }
    if (i < w->nchannels)
        w->channels[i].n[r]++;
    pthread_mutex_unlock(&w->inmu);
}

static int status_method(const json_t *params, json_t **result, void *user)
{
    (void)params;
    watch_plugin *w = user;
    long long pending = 0, leased = 0, dead = 0, sent = 0, oldest = -1;
    int64_t now = watch_now(w);
    pthread_mutex_lock(&w->db.mu);
    sqlite3_stmt *s = NULL;
    int ok = sqlite3_prepare_v2(w->db.db,
                                "SELECT state, count(*), min(created_ms) FROM watch_outbox"
                                " GROUP BY state",
                                -1, &s, NULL) == SQLITE_OK;
    while (ok && sqlite3_step(s) == SQLITE_ROW) {
        const char *st = (const char *)sqlite3_column_text(s, 0);
        long long n = sqlite3_column_int64(s, 1);
        if (!st)
            continue;
        if (strcmp(st, "pending") == 0) {
            pending = n;
            oldest = (now - sqlite3_column_int64(s, 2)) / 1000;
        } else if (strcmp(st, "leased") == 0)
            leased = n;
        else if (strcmp(st, "dead") == 0)
            dead = n;
        else if (strcmp(st, "sent") == 0)
            sent = n;
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&w->db.mu);
    if (!ok)
        return -EIO;
    json_t *d = json_array();
    pthread_mutex_lock(&w->inmu);
    for (size_t i = 0; i < w->nchannels; i++)
        json_array_append_new(d, json_pack("{s:s, s:I, s:I, s:I}", "channel", w->channels[i].name,
                                           "sent", (json_int_t)w->channels[i].n[0], "retry",
                                           (json_int_t)w->channels[i].n[1], "failed",
                                           (json_int_t)w->channels[i].n[2]));
    pthread_mutex_unlock(&w->inmu);
    *result =
        json_pack("{s:{s:I, s:I, s:I, s:I}, s:I, s:o}", "outbox", "pending", (json_int_t)pending,
                  "leased", (json_int_t)leased, "dead", (json_int_t)dead, "sent", (json_int_t)sent,
                  "oldest_pending_s", (json_int_t)(oldest < 0 ? 0 : oldest), "deliveries", d);
    return *result ? 0 : -ENOMEM;
}

int watch_status_register(watch_plugin *w)
{
    return vg_bus_register_method(w->host->bus, VG_WATCH_M_STATUS, status_method, w, NULL);
}
