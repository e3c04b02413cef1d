/* Vigía public SDK: log levels and the logging macros plugins use.
 *
 * The core prefixes every line with a UTC timestamp, the level and the name of
 * the plugin that logged it, so plugins never write their own name. */
#ifndef VIGIA_LOG_H
#define VIGIA_LOG_H

typedef enum vg_log_level {
    VG_LOG_ERROR = 0,
    VG_LOG_WARN = 1,
    VG_LOG_INFO = 2,
    VG_LOG_DEBUG = 3,
} vg_log_level;

/* `host` is the `const vg_host *` handed to the plugin's init (see plugin.h). */
#define VG_ERROR(host, ...) (host)->log((host), VG_LOG_ERROR, __VA_ARGS__)
#define VG_WARN(host, ...) (host)->log((host), VG_LOG_WARN, __VA_ARGS__)
#define VG_INFO(host, ...) (host)->log((host), VG_LOG_INFO, __VA_ARGS__)
#define VG_DEBUG(host, ...) (host)->log((host), VG_LOG_DEBUG, __VA_ARGS__)

#endif /* VIGIA_LOG_H */
