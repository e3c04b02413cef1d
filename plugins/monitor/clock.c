/* The monitor's clocks, in milliseconds. Plain functions rather than the host
 * table's clocks so the checker and sweep can be unit-tested without a host. */
#include <time.h>

#include "monitor.h"

int64_t mon_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mon_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
