/* Core logging: one line per message to stderr and, optionally, a file:
 * "2026-11-28T09:00:00.123Z INFO  [plugin] message". Thread-safe. */
#ifndef CORE_LOG_H
#define CORE_LOG_H

#include <stdarg.h>
#include <stddef.h>

#include "vigia/export.h"
#include "vigia/log.h"

void core_log_set_level(vg_log_level level);
vg_log_level core_log_get_level(void);
/* Also append to `path` (flushed per line, so a kill -9 keeps everything). */
int core_log_open_file(const char *path);
void core_log_close(void);
/* Parse "error|warn|info|debug"; -1 when unknown. */
int core_log_level_parse(const char *s);

void core_logv(const char *who, vg_log_level level, const char *fmt, va_list ap);
void core_log(const char *who, vg_log_level level, const char *fmt, ...) VG_PRINTF(3, 4);

/* Copy `in` to `out` (always NUL-terminated, cut at `size`) with every
 * control character escaped: C0 and DEL as \xNN (\n \r \t by name), the
 * C1 controls U+0080-U+009F as \u00NN, bytes that are not UTF-8 as \xNN.
 * Every log line goes through it: outside input (a path, a header, a
 * portal's text) cannot forge lines or drive the terminal (ESC). */
void core_log_escape(const char *in, char *out, size_t size);

/* Tests: from now on lines go to a buffer instead of stderr; take returns
 * it (malloc'd) and stops capturing. */
void core_log_capture_start(void);
char *core_log_capture_take(void);

#define CORE_ERROR(...) core_log("core", VG_LOG_ERROR, __VA_ARGS__)
#define CORE_WARN(...) core_log("core", VG_LOG_WARN, __VA_ARGS__)
#define CORE_INFO(...) core_log("core", VG_LOG_INFO, __VA_ARGS__)
#define CORE_DEBUG(...) core_log("core", VG_LOG_DEBUG, __VA_ARGS__)

#endif
