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
 *     effects; `vigia --check-config` calls only this (no init, no threads).
 *     Without it, --check-config cannot tell the plugin's keys from typos and
 *     does not report them (with --strict neither).
 *   - init reads the config, opens resources and registers routes, bus
 *     subscriptions, methods and work queues. On failure it frees its own
 *     state and returns a negative errno after host->fail() (or a config
 *     getter) recorded the reason; the core then stops its work queues, drops
 *     everything it registered (each user_free runs), never calls its start,
 *     stop or destroy, and unloads it. A required plugin's failure stops
 *     start-up: the plugins initialised before it are destroyed in reverse;
 *     an optional one ("name?" in [server] plugins) is left out.
 *   - start runs once every plugin is initialised and the HTTP server listens:
 *     start threads here. If it fails (non-zero), the server does not run:
 *     the plugins already started get stop, this one does not, and every
 *     initialised plugin (this one too) gets destroy; vigia exits 1.
 *   - stop ends the plugin's threads and in-flight work. It is called only
 *     for a plugin whose start succeeded.
 *   - destroy frees the state; nothing of the plugin runs after it.
 *
 * Threads: which runs what, what it may do.
 *   - check_config, init, start, stop, destroy: the main thread, one plugin at
 *     a time. They may block (stop waits for the plugin's threads), but the
 *     whole shutdown (every stop and destroy, from SIGINT/SIGTERM) must end
 *     within [server] shutdown_timeout (default 10 s,
 *     host->shutdown_timeout_ms()), or the core logs who is stuck and exits
 *     with status 2.
 *   - bus event callbacks: the bus thread, one event at a time for all
 *     plugins. Must not block (hand slow work to a work queue, workq.h); may
 *     publish, subscribe, unsubscribe and call methods. See bus.h.
 *   - bus method callbacks: the caller's thread (a civetweb worker, the bus
 *     thread, another plugin's thread), possibly several at once: thread-safe,
 *     and short when callers are HTTP handlers or bus callbacks.
 *   - HTTP handlers and WebSocket callbacks: civetweb worker threads (100 KiB
 *     stacks), many at once. May block briefly (a database query); long waits
 *     hold a worker each (see http_threads/http_busy). See http.h.
 *   - work queue jobs: the queue's own worker threads; may block. See workq.h.
 *   - host functions may be called from any of these threads between init
 *     and the end of destroy, except the config getters and fail/config_fail,
 *     which belong in check_config and init (they mark keys as read and
 *     record the failure reason, unlocked), and workq_stop, never from a job
 *     of the same queue.
 *
 * What keeps arriving, and who cleans up.
 *   - Bus events and method calls keep arriving after stop, until just
 *     before destroy: stop must leave the state usable (callbacks may find
 *     threads gone; a work queue refuses jobs once stopped: -ESHUTDOWN).
 *   - HTTP handlers and WebSocket callbacks may run during and after stop,
 *     until the HTTP server has stopped, which happens after every plugin's
 *     stop and before any destroy.
 *   - Plugins need not unregister anything: before destroy the core stops the
 *     plugin's work queues (draining or cancelling their jobs), then removes
 *     its bus subscriptions and methods, waiting for callbacks in flight (their
 *     user_free run then). Route and WebSocket user_free run after destroy
 *     returns, when the core drops its routes; never free their `user` in
 *     destroy yourself.
 *
 * Configuration strings (config_string, config_require, config_section_name,
 * ...) point into the core's copy of the INI file: valid until destroy
 * returns, never to be freed or modified. A default (`def`) is returned as
 * passed, so it must live as long (a string literal does).
 *
 * libcurl: the core calls curl_global_init(CURL_GLOBAL_DEFAULT) once before
 * any thread starts and curl_global_cleanup() at exit: plugins use libcurl
 * without calling either.
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
#include "tz.h"
#include "vigia/version.h"
#include "workq.h"

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
 * Valid from check_config or init until destroy returns. */
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
    int (*config_list)(const vg_host *host, const vg_config *cfg, const char *key, const char *def,
                       json_t **out);
    /* One of `choices` (NULL-terminated); *out is its index. */
    int (*config_enum)(const vg_host *host, const vg_config *cfg, const char *key, const char *def,
                       const char *const *choices, int *out);

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
     * are busy now running a handler of any route or holding a WebSocket
     * (connections still waiting for a request are not counted: the core
     * closes them when workers run short). Plugins that hold workers for long
     * (WebSockets, long-polls) admit against these, so a reserve for short
     * requests stays free whatever else holds workers. */
    int (*http_threads)(const vg_host *host);
    int (*http_busy)(const vg_host *host);

    /* Work queues for blocking work (see workq.h). workq_create validates
     * `opts` (errors like the config getters: logged, the reason recorded,
     * -EINVAL) and starts the worker threads; `name` (1..32 of [a-z0-9_-])
     * names them in logs. workq_submit may be called from any thread, bus
     * callbacks and HTTP handlers included: 0, -EAGAIN when the queue stayed
     * full for submit_wait_ms, -ESHUTDOWN once stopping; user_free runs on
     * failure too. workq_stop drains or cancels (workq.h) and joins the
     * threads; it may be called again. The queue stays valid (submits get
     * -ESHUTDOWN) until the core frees it after destroy, so callbacks that
     * still arrive may submit safely. Queues the plugin has not stopped are
     * stopped by the core after the plugin's stop and before its destroy. */
    int (*workq_create)(const vg_host *host, const char *name, const vg_workq_opts *opts,
                        vg_workq **out);
    int (*workq_submit)(vg_workq *q, vg_job_fn run, void *user, vg_free_cb user_free);
    void (*workq_stop)(vg_workq *q);
    /* [server] shutdown_timeout: the whole stop (every plugin's stop and
     * destroy) must end within it, or the core logs who is stuck and exits. */
    int64_t (*shutdown_timeout_ms)(const vg_host *host);
    /* 1 when the database file (database_path) is still the file the server
     * started with and writable; 0 when it was deleted, replaced or made
     * immutable, with the reason in `why` (may be NULL). Writers ask before
     * acknowledging a write (and after a failed one) and answer 503 rather
     * than lose data; the core logs the problem once and /api/health turns
     * 503. Check host->struct_size before calling (issue 14). */
    int (*storage_ok)(const vg_host *host, char *why, size_t n);

    /* What a plugin needs of the core, declared, so the core names no plugin
     * (issue 15). Check host->struct_size before calling.
     * http_route with VG_ROUTE_* flags (http.h), e.g. VG_ROUTE_QUIET for a
     * polled endpoint; -EINVAL for a flag this core does not know. */
    int (*http_route_flags)(const vg_host *host, const char *method, const char *pattern,
                            unsigned flags, vg_http_handler handler, void *user,
                            vg_free_cb user_free);
    /* Declare, from init, an action the admin token guards, in the plugin's
     * own words ("clear notifications"): without [server] admin_token the
     * core's start-up line lists them (a warning when the listener is not
     * loopback-only). The plugin still enforces the guard itself
     * (admin_token_ok / vg_http_require_admin / peer_is_loopback). 0, -EINVAL
     * for an empty text (more than 80 bytes is cut), -ENOMEM. */
    int (*admin_action)(const vg_host *host, const char *what);
    /* 1 when `addr` (vg_http_remote_addr, vg_ws_remote_addr) is this machine:
     * 127.0.0.0/8, ::1 or ::ffff:127.x.y.z; 0 otherwise (NULL too). */
    int (*peer_is_loopback)(const vg_host *host, const char *addr);

    /* ABI 1.3 -------------------------------------------------------------
     * Local time in an IANA zone at Unix time t (seconds), without touching
     * the process's TZ (tz.h): 0, -EINVAL (not a zone name), -ENOENT (no such
     * zone), -EBADMSG (the zone file is not valid TZif; the core logs why);
     * *out is UTC on error. Thread-safe; check host->struct_size first. */
    int (*tz_info)(const vg_host *host, const char *zone, int64_t t, vg_tz_info *out);
    /* Also ABI 1.3 (scale-out). Check host->struct_size before calling.
     * Set the server's one bus fallback resolver (bus.h, vg_bus_fallback_cb):
     * vg_bus_call of a method no local plugin provides goes to it. From init
     * or start. 0; -EEXIST when another plugin set one; -EINVAL without `cb`;
     * user_free runs on failure and when the plugin's registrations are
     * removed (before its destroy). */
    int (*bus_fallback)(const vg_host *host, vg_bus_fallback_cb cb, void *user,
                        vg_free_cb user_free);
    /* Report a degradation the node keeps serving through ("redis
     * unreachable since ..."), or clear it with NULL. GET /api/health then
     * answers {"status":"degraded", "degraded":{"<plugin>":"<text>"}} with
     * status 200 (a load balancer keeps the node). Any thread; texts beyond
     * 255 bytes are cut. */
    void (*health_note)(const vg_host *host, const char *problem);
    /* vg_bus_subscribe (bus.h) for a relay: the callback is called before
     * every ordinary subscriber of an event (relays among themselves in
     * subscription order), so that an event bound for elsewhere (another
     * node, through Redis) does not wait for this node's slow subscribers
     * (the broker's fan-out to thousands of sockets). Only for callbacks that
     * hand the event on and return at once. Same results as
     * vg_bus_subscribe. Check host->struct_size (VG_HOST_HAS) first. */
    int (*bus_subscribe_first)(const vg_host *host, const char *topic, vg_event_cb cb, void *user,
                               vg_free_cb user_free, vg_subscription **out);
};

/* 1 when the host table has `member` (appended in a later ABI minor than the
 * oldest core a plugin accepts). */
#define VG_HOST_HAS(host, member)                                                                  \
    ((host)->struct_size >= offsetof(vg_host, member) + sizeof((host)->member) && (host)->member)

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
        .header = VG_PLUGIN_HEADER_INIT(#id, version_), .description = description_, __VA_ARGS__}

#ifdef __cplusplus
}
#endif

#endif /* VIGIA_PLUGIN_H */
