/* Vigía public SDK: typed access to the INI configuration.
 *
 * The core parses the one INI file (with inih). Each plugin reads its own
 * section, named after the plugin ([monitor], [broker], ...), and may read
 * sub-sections it owns ([monitor:datos], ...), through the getters in the
 * host table (plugin.h). Getters return 0 with the default when the key is
 * absent; on a bad value they log "file:line: [section] key: expected ...,
 * found '...'", record it as the plugin's failure reason, and return -EINVAL.
 * After a plugin's init (or check_config), every key of its sections that it
 * never asked for is warned about as unknown, with file:line. */
#ifndef VIGIA_CONFIG_H
#define VIGIA_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One [section] of the INI file. Borrowed from the core for the server's life. */
typedef struct vg_config vg_config;

/* Durations are written with a unit: 250ms, 30s, 5m, 2h, 1d ("0" is allowed).
 * Getters return them in milliseconds. */
typedef int64_t vg_duration_ms;

#ifdef __cplusplus
}
#endif

#endif /* VIGIA_CONFIG_H */
