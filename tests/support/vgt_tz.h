/* A host table with just tz_info, backed by the core's zone cache, for tests
 * and benchmarks of plugin code that takes a host (link vigia_core). */
#ifndef VGT_TZ_H
#define VGT_TZ_H

#include <vigia/plugin.h>

#include "tzdb.h"

static inline int vgt_tz_info(const vg_host *h, const char *zone, int64_t t, vg_tz_info *out)
{
    (void)h;
    return core_tz_info(zone, t, out, NULL, 0);
}

static const vg_host vgt_tz_host = {.struct_size = sizeof(vg_host),
                                    .abi_minor = VG_ABI_MINOR,
                                    .plugin_name = "test",
                                    .tz_info = vgt_tz_info};

#endif /* VGT_TZ_H */
