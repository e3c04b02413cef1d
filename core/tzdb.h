/* The host's time zones (include/vigia/tz.h): a TZif (RFC 8536) parser, pure
 * so it can be fuzzed and tested on bytes, and the process-wide cache behind
 * host->tz_info. */
#ifndef CORE_TZDB_H
#define CORE_TZDB_H

#include <stddef.h>
#include <stdint.h>

#include "vigia/tz.h"

typedef struct core_tz_zone core_tz_zone;

/* Parse a whole TZif file (version 1 to 4). NULL with the reason in err
 * ("truncated: the v2 data block needs 1234 bytes, 100 left", ...). */
core_tz_zone *core_tz_parse(const unsigned char *buf, size_t len, char *err, size_t errn);
/* The local time type in force at Unix time t. */
void core_tz_at(const core_tz_zone *z, int64_t t, vg_tz_info *out);
void core_tz_free(core_tz_zone *z);

/* 1 when `name` may be looked up (see vigia/tz.h); never a path outside the
 * zoneinfo directory. */
int core_tz_name_ok(const char *name);
/* host->tz_info without the host: 0, -EINVAL, -ENOENT or -EBADMSG (the reason
 * in why, may be NULL); *out is UTC on error. Thread-safe, cached. */
int core_tz_info(const char *name, int64_t t, vg_tz_info *out, char *why, size_t n);
/* The directory of TZif files ("/usr/share/zoneinfo"); tests point it at
 * their own files. Drops the cache. */
void core_tz_set_dir(const char *dir);
void core_tz_cleanup(void);

#endif /* CORE_TZDB_H */
