/* Delivery schedules in the subscriber's local time. Zones come from the
 * host (host->tz_info, vigia/tz.h): glibc's localtime_r reads the process-wide
 * TZ, which threads must not change. */
#include "watch.h"

/* Local time at Unix ms; an unknown zone counts as UTC (the zone was checked
 * when the subscription was saved). */
static void local_at(const vg_host *h, const char *tz, int64_t ms, vg_civil *lt)
{
    vg_tz_info ti;
    int64_t t = ms / 1000;
    h->tz_info(h, tz, t, &ti);
    vg_civil_from_secs(t + ti.offset_s, lt);
}

/* Local wall-clock seconds -> UTC seconds (the earlier instant of an
 * ambiguous time; a time skipped by DST moves forward). */
static int64_t local_to_utc(const vg_host *h, const char *tz, int64_t local)
{
    vg_tz_info ti;
    h->tz_info(h, tz, local, &ti);
    h->tz_info(h, tz, local - ti.offset_s, &ti);
    return local - ti.offset_s;
}

static int minute_of_day(const vg_civil *c) { return c->hour * 60 + c->minute; }

static bool in_quiet(int qs, int qe, int mod)
{
    if (qs < 0 || qe < 0 || qs == qe)
        return false;
    return qs < qe ? (mod >= qs && mod < qe) : (mod >= qs || mod < qe);
}

int64_t watch_due_ms(const watch_sched *s, const vg_host *h, const char *tz, int64_t now_ms,
                     int64_t window_ms, bool urgent)
{
    if (s->mode == WATCH_IMMEDIATE && (s->quiet_start < 0 || urgent))
        return now_ms + window_ms; /* the common case needs no zone */
    vg_civil lt;
    local_at(h, tz, now_ms, &lt);
    int64_t due;
    switch (s->mode) {
    case WATCH_HOURLY: {
        int64_t local = lt.days * 86400 + (int64_t)(lt.hour + 1) * 3600;
        due = local_to_utc(h, tz, local) * 1000;
        break;
    }
    case WATCH_DAILY:
    case WATCH_WEEKLY: {
        int64_t day = lt.days;
        if (s->mode == WATCH_WEEKLY)
            day += (s->wday - lt.wday + 7) % 7;
        int64_t t = local_to_utc(h, tz, day * 86400 + (int64_t)s->minute * 60);
        if (t * 1000 <= now_ms)
            t = local_to_utc(
                h, tz, (day + (s->mode == WATCH_WEEKLY ? 7 : 1)) * 86400 + (int64_t)s->minute * 60);
        due = t * 1000;
        break;
    }
    default:
        due = now_ms + window_ms;
    }
    if (!urgent && s->quiet_start >= 0) {
        local_at(h, tz, due, &lt);
        if (in_quiet(s->quiet_start, s->quiet_end, minute_of_day(&lt))) {
            int64_t day =
                lt.days + (s->quiet_start > s->quiet_end && minute_of_day(&lt) >= s->quiet_start);
            due = local_to_utc(h, tz, day * 86400 + (int64_t)s->quiet_end * 60) * 1000;
        }
    }
    return due;
}
