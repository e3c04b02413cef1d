/* The monitor's clocks, in milliseconds. Plain functions rather than the host
 * table's clocks so the checker and sweep can be unit-tested without a host;
 * a test may swap them for fake ones (mon_clock_set). */
#include <stdio.h>
#include <time.h>

#include "monitor.h"

static int64_t real_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t (*_Atomic g_mono)(void);
static int64_t (*_Atomic g_wall)(void);

void mon_clock_set(int64_t (*mono)(void), int64_t (*wall)(void))
{
    g_mono = mono;
    g_wall = wall;
}

int64_t mon_mono_ms(void)
{
    int64_t (*f)(void) = g_mono;
    return f ? f() : real_ms(CLOCK_MONOTONIC);
}

int64_t mon_wall_ms(void)
{
    int64_t (*f)(void) = g_wall;
    return f ? f() : real_ms(CLOCK_REALTIME);
}

void mon_iso_ms(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char tmp[32];
    strftime(tmp, sizeof tmp, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%03dZ", tmp, (int)(ms % 1000));
}

json_t *mon_iso_or_null(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    char b[40];
    mon_iso_ms(ms, b, sizeof b);
    return json_string(b);
}
