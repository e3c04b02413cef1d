/* monitor: freshness of a dataset against the update frequency it declares
 * (frequency.c), the way HDX judges its own datasets: fresh within the
 * period, due after it, overdue after a grace, delinquent after a longer
 * one; unknown when nothing usable is declared. Pure: unit-tested with a
 * fake clock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vigia/contract/monitor.h>

#include "monitor.h"

static const char *const k_names[MON_F_COUNT] = {
    VG_MONITOR_FRESHNESS_UNKNOWN, VG_MONITOR_FRESHNESS_FRESH, VG_MONITOR_FRESHNESS_DUE,
    VG_MONITOR_FRESHNESS_OVERDUE, VG_MONITOR_FRESHNESS_DELINQUENT};

const char *mon_fstate_name(int s)
{
    return s >= 0 && s < MON_F_COUNT ? k_names[s] : VG_MONITOR_FRESHNESS_UNKNOWN;
}

int mon_fstate_parse(const char *s)
{
    for (int i = 0; s && i < MON_F_COUNT; i++)
        if (strcmp(s, k_names[i]) == 0)
            return i;
    return -1;
}

/* Days from 1970-01-01 of a civil date (proleptic Gregorian). */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

int64_t mon_iso_parse_ms(const char *s)
{
    if (!s)
        return -1;
    int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
        return -1;
    const char *p = s + 10;
    if (*p == 'T' || *p == ' ') {
        int k = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &k) != 2 || k != 5)
            return -1;
        p += 1 + k;
        if (*p == ':') {
            if (sscanf(p + 1, "%2d%n", &sec, &k) != 1 || k != 2)
                return -1;
            p += 3;
        }
    }
    int ms = 0;
    if (*p == '.') { /* CKAN writes microseconds */
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3)
                ms = ms * 10 + (*p - '0');
        for (; digits > 0 && digits < 3; digits++)
            ms *= 10;
    }
    int off = 0; /* CKAN: no zone means UTC */
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, k = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5 || oh > 23 || om > 59)
            return -1;
        off = (*p == '+' ? 1 : -1) * (oh * 60 + om);
        p += 1 + k;
    }
    if (*p || y < 1900 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        sec > 60)
        return -1;
    long long days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    long long t = ((days * 24 + h) * 60 + mi - off) * 60 + sec;
    return (int64_t)t * 1000 + ms;
}

int mon_fresh_state(long long period_s, int64_t last_update_ms, int64_t now_ms,
                    const mon_fresh_opts *o)
{
    if (period_s <= 0 || last_update_ms <= 0)
        return MON_F_UNKNOWN;
    double age = (double)(now_ms - last_update_ms) / 1000.0, p = (double)period_s;
    if (age < p)
        return MON_F_FRESH;
    if (age < p * o->overdue)
        return MON_F_DUE;
    if (age < p * o->delinquent)
        return MON_F_OVERDUE;
    return MON_F_DELINQUENT;
}

int64_t mon_last_update_ms(const mon_ds *d, int64_t content_changed_ms)
{
    int64_t t = mon_iso_parse_ms(d->modified);
    if (d->res_modified_ms > t)
        t = d->res_modified_ms;
    if (content_changed_ms > t)
        t = content_changed_ms;
    return t > 0 ? t : 0;
}
