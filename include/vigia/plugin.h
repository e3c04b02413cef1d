/* Vigía public SDK: the plugin ABI.
 *
 * A plugin is a shared module that exports exactly one symbol: a const
 * vg_plugin descriptor, data not code, defined with VG_PLUGIN_DEFINE:
 *
 *     VG_PLUGIN_DEFINE(hello, "1.0.0", "Says hello",
 *                      .init = hello_init, .destroy = hello_destroy);
 *
 * which exports `hello_LTX_vigia_plugin` (libltdl strips the prefix). The
 * module's file name must be the plugin name (hello.so).
 *
 * Lifecycle, in the INI's plugin order (stop and destroy in reverse):
 *   load -> [check_config] -> init -> start -> ... -> stop -> destroy -> unload
 *   - check_config (optional) validates the plugin's sections without side
 *     effects; `vigia --check-config` calls only this.
 *   - init reads the config, opens resources and registers routes, bus
 *     subscriptions and methods. On failure it returns a negative errno after
 *     host->fail() (or a config getter) recorded the reason; the core then
 *     unregisters everything the plugin registered and unloads it.
 *   - start runs once every plugin is initialised and the HTTP server listens:
 *     start threads here.
 *   - stop ends the plugin's threads and in-flight work within a bound; HTTP
 *     handlers may still run until the HTTP server has stopped.
 *   - destroy frees the state; nothing of the plugin runs after it.
 *
 * The host table is the only way into the core: plugins have no unresolved
 * symbols into the executable (they are linked with -Wl,-z,defs). */
#ifndef VIGIA_PLUGIN_H
#define VIGIA_PLUGIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "config.h"
#include "export.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "vigia/version.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vg_host vg_host;

/* The fixed first member of every descriptor. Never reordered. */
typedef struct vg_plugin_header {
    uint32_t abi_major;
    uint32_t abi_minor;
    uint32_t struct_size; /* sizeof(vg_plugin) the plugin was built with */
    const char *name;
    const char *version;
    const char *build_signature;
} vg_plugin_header;

typedef struct vg_plugin {
    vg_plugin_header header;
    const char *description;
    int (*check_config)(const vg_host *host, const vg_config *cfg);
    int (*init)(const vg_host *host, const vg_config *cfg, void **state);
    int (*start)(void *state);
    void (*stop)(void *state);
    void (*destroy)(void *state);
} vg_plugin;

/* The core's services, one table per plugin (so the core knows who asks).
 * Valid from init until destroy returns. */
struct vg_host {
    uint32_t struct_size;
    uint32_t abi_minor;
    const char *plugin_name;
    vg_bus *bus;

    /* Logging: the core adds time, level and plugin name. */
    void (*log)(const vg_host *host, vg_log_level level, const char *fmt, ...) VG_PRINTF(3, 4);
    /* Record why init failed (also logged as an error); returns -EINVAL. */
    int (*fail)(const vg_host *host, const char *fmt, ...) VG_PRINTF(2, 3);

    /* Configuration (see config.h). `cfg` may be NULL: defaults apply. */
    const vg_config *(*config_section)(const vg_host *host, const char *name);
    /* Names of the sections starting with `prefix`, in file order: new reference. */
    json_t *(*config_sections)(const vg_host *host, const char *prefix);
    const char *(*config_section_name)(const vg_config *cfg);
    int (*config_string)(const vg_host *host, const vg_config *cfg, const char *key,
                         const char *def, const char **out);
    /* Like config_string, but a missing or empty key is an error. */
    int (*config_require)(const vg_host *host, const vg_config *cfg, const char *key,
                          const char **out);
    int (*config_int)(const vg_host *host, const vg_config *cfg, const char *key, long long def,
                      long long min, long long max, long long *out);
    int (*config_bool)(const vg_host *host, const vg_config *cfg, const char *key, bool def,
                       bool *out);
    int (*config_duration)(const vg_host *host, const vg_config *cfg, const char *key,
                           vg_duration_ms def, vg_duration_ms min, vg_duration_ms max,
                           vg_duration_ms *out);
    /* Comma and/or space separated words; *out is a JSON array of strings (new
     * reference). `def` is parsed the same way (may be NULL: empty list). */
    int (*config_list)(const vg_host *host, const vg_config *cfg, const char *key,
                       const char *def, json_t **out);
    /* One of `choices` (NULL-terminated); *out is its index. */
    int (*config_enum)(const vg_host *host, const vg_config *cfg, const char *key,
                       const char *def, const char *const *choices, int *out);

    /* HTTP and WebSocket routes; see http.h. user_free runs on failure and
     * when the plugin is unloaded. -EEXIST when the method+pattern is taken. */
    int (*http_route)(const vg_host *host, const char *method, const char *pattern,
                      vg_http_handler handler, void *user, vg_free_cb user_free);
    int (*ws_route)(const vg_host *host, const char *path, const vg_ws_handlers *handlers,
                    void *user, vg_free_cb user_free);

    /* The SQLite database file every plugin opens its own connections to. */
    const char *(*database_path)(const vg_host *host);
    /* Constant-time check of a token against [server] admin_token: 1 when it
     * matches or no token is configured, 0 otherwise. */
    int (*admin_token_ok)(const vg_host *host, const char *token);
    /* 1 when an admin_token is configured. */
    int (*admin_token_set)(const vg_host *host);

    /* Clocks in milliseconds: monotonic (for intervals) and wall (Unix epoch). */
    int64_t (*now_mono_ms)(const vg_host *host);
    int64_t (*now_wall_ms)(const vg_host *host);

    const char *(*server_version)(const vg_host *host);
    /* The address the HTTP server listens on, e.g. "127.0.0.1:8080". */
    const char *(*listen_address)(const vg_host *host);

    void *core_private; /* the core's; never touched by plugins */

    /* ABI 1.1 -------------------------------------------------------------
     * Report a value the plugin itself found wrong (a cross-field rule, a URL
     * scheme, ...) the way the getters do: logs and records as the failure
     * reason "file:line: [section] key: <message>, found '<value>'" (without
     * file:line and value when the key is absent). Returns -EINVAL. */
    int (*config_fail)(const vg_host *host, const vg_config *cfg, const char *key, const char *fmt,
                       ...) VG_PRINTF(4, 5);

    /* ABI 1.2 -------------------------------------------------------------
     * Parse JSON from outside (a request body, a WebSocket message, a
     * portal's answer): vg_json_parse() with [server] json_max_depth. New
     * reference, or NULL with `err` filled. Plugins never call json_loads or
     * json_loadb on such input directly (a test greps for it). */
    json_t *(*json_parse)(const vg_host *host, const char *buf, size_t len, size_t flags,
                          json_error_t *err);
    /* The configured nesting limit, for code that parses without the host. */
    int (*json_max_depth)(const vg_host *host);
    /* The HTTP server's worker threads ([server] threads), and how many of them
     * are busy now with any request or WebSocket: plugins that hold workers for
     * long (WebSockets, long-polls) admit against these, so a reserve for short
     * requests stays free whatever else holds workers. */
    int (*http_threads)(const vg_host *host);
    int (*http_busy)(const vg_host *host);
    /* 1 when the database file (database_path) is still the file the server
     * started with and writable; 0 when it was deleted, replaced or made
     * immutable, with the reason in `why` (may be NULL). Writers ask before
     * acknowledging a write (and after a failed one) and answer 503 rather
     * than lose data; the core logs the problem once and /api/health turns
     * 503. Check host->struct_size before calling (issue 14). */
    int (*storage_ok)(const vg_host *host, char *why, size_t n);
};

#define VG_PLUGIN_HEADER_INIT(name_, version_)                                                     \
    {                                                                                              \
        .abi_major = VG_ABI_MAJOR, .abi_minor = VG_ABI_MINOR,                                      \
        .struct_size = (uint32_t)sizeof(vg_plugin), .name = name_, .version = version_,            \
        .build_signature = VG_BUILD_SIGNATURE                                                      \
    }

/* Define and export the plugin's descriptor. `id` is the plugin (and module
 * file) name as a bare word; the rest are designated initialisers. */
#define VG_PLUGIN_DEFINE(id, version_, description_, ...)                                          \
    VG_API extern const vg_plugin id##_LTX_vigia_plugin;                                           \
    VG_API const vg_plugin id##_LTX_vigia_plugin = {                                               \
        .header = VG_PLUGIN_HEADER_INIT(#id, version_),                                            \
        .description = description_,                                                               \
        __VA_ARGS__}

#ifdef __cplusplus
}
#endif

#endif /* VIGIA_PLUGIN_H */
