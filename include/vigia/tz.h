/* Vigía public SDK: local time in an IANA zone (ABI 1.3).
 *
 * localtime_r follows the process-wide TZ, and changing it (setenv + tzset)
 * races with every thread that reads the environment or the time (libcurl and
 * the core do). So plugins never touch TZ: they ask the host, whose one
 * thread-safe cache reads the zone's TZif file (RFC 8536) from the system's
 * zoneinfo directory, uses its transitions and, after the last one, the
 * file's POSIX TZ footer (Debian's "slim" files carry every future rule
 * there only):
 *
 *     vg_tz_info ti;
 *     if (host->tz_info(host, "America/Santiago", now_s, &ti) == 0)
 *         ... ti.offset_s, ti.abbr ...
 *
 * host->tz_info returns 0, -EINVAL for a string that is not a zone name
 * (empty, longer than 64, "..", a leading '/', characters other than
 * [A-Za-z0-9_+-/]), -ENOENT for a zone the system does not have, -EBADMSG for
 * a zone file that is not valid TZif (the core logs why). On any error *out is
 * UTC, so a caller that only formats a time may carry on. Any thread, from
 * check_config to destroy; zones stay cached until the process exits.
 *
 * The date arithmetic below is pure and needs no host. */
#ifndef VIGIA_TZ_H
#define VIGIA_TZ_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vg_tz_info {
    int32_t offset_s; /* seconds east of UTC */
    int32_t is_dst;
    char abbr[16]; /* "-03", "CEST", "UTC" */
} vg_tz_info;

/* Broken-down time, like struct tm but with real numbers: year 2027, month
 * 1..12, day 1..31, weekday 0 = Sunday. */
typedef struct vg_civil {
    int year, month, day, hour, minute, second, wday;
    int64_t days; /* days since 1970-01-01 */
} vg_civil;

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil, valid for any year an int holds). */
static inline int64_t vg_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Seconds since the epoch (local or UTC alike) -> civil date and time. */
static inline void vg_civil_from_secs(int64_t t, vg_civil *c)
{
    int64_t z = t / 86400 - (t % 86400 < 0);
    int64_t sod = t - z * 86400;
    c->days = z;
    c->wday = (int)(((z + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    c->day = (int)(doy - (153 * mp + 2) / 5 + 1);
    c->month = (int)(mp < 10 ? mp + 3 : mp - 9);
    c->year = (int)(yoe + era * 400 + (c->month <= 2));
    c->hour = (int)(sod / 3600);
    c->minute = (int)(sod % 3600 / 60);
    c->second = (int)(sod % 60);
}

#ifdef __cplusplus
}
#endif

#endif /* VIGIA_TZ_H */
