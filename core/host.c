/* The host table handed to each plugin: thin wrappers that add the plugin's
 * identity (for logs, failure reasons and cleanup) to the core services. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "netaddr.h"
#include "server.h"
#include "storage.h"
#include "tzdb.h"
#include "workq.h"

static core_plugin *plugin_of(const vg_host *h) { return h->core_private; }

int64_t core_now_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t core_now_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void h_log(const vg_host *h, vg_log_level level, const char *fmt, ...) VG_PRINTF(3, 4);
static void h_log(const vg_host *h, vg_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    core_logv(h->plugin_name, level, fmt, ap);
    va_end(ap);
}

static int record_failure(core_plugin *p, const char *msg)
{
    if (!p->reason[0])
        snprintf(p->reason, sizeof p->reason, "%s", msg);
    core_log(p->host.plugin_name, VG_LOG_ERROR, "%s", msg);
    return -EINVAL;
}

static int h_fail(const vg_host *h, const char *fmt, ...) VG_PRINTF(2, 3);
static int h_fail(const vg_host *h, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return record_failure(plugin_of(h), msg);
}

static int cfg_result(const vg_host *h, int rc, const char *err)
{
    if (rc < 0)
        record_failure(plugin_of(h), err);
    return rc;
}

static int h_config_fail(const vg_host *h, const vg_config *c, const char *key, const char *fmt,
                         ...) VG_PRINTF(4, 5);
static int h_config_fail(const vg_host *h, const vg_config *c, const char *key, const char *fmt,
                         ...)
{
    char where[200], what[200], msg[480];
    const char *value;
    core_cfg_locate(c, h->plugin_name, key, where, sizeof where, &value);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (value)
        snprintf(msg, sizeof msg, "%s: %s, found '%s'", where, what, value);
    else
        snprintf(msg, sizeof msg, "%s: %s", where, what);
    return record_failure(plugin_of(h), msg);
}

static const vg_config *h_config_section(const vg_host *h, const char *name)
{
    return core_config_section(plugin_of(h)->srv->cfg, name);
}

static json_t *h_config_sections(const vg_host *h, const char *prefix)
{
    return core_config_sections(plugin_of(h)->srv->cfg, prefix);
}

static int h_config_string(const vg_host *h, const vg_config *c, const char *key, const char *def,
                           const char **out)
{
    char err[512];
    return cfg_result(h, core_cfg_string(c, key, def, out, err, sizeof err), err);
}

static int h_config_require(const vg_host *h, const vg_config *c, const char *key, const char **out)
{
    char err[512];
    const char *sec = c ? core_config_section_name(c) : h->plugin_name;
    return cfg_result(h, core_cfg_require(c, sec, key, out, err, sizeof err), err);
}

static int h_config_int(const vg_host *h, const vg_config *c, const char *key, long long def,
                        long long min, long long max, long long *out)
{
    char err[512];
    return cfg_result(h, core_cfg_int(c, key, def, min, max, out, err, sizeof err), err);
}

static int h_config_bool(const vg_host *h, const vg_config *c, const char *key, bool def, bool *out)
{
    char err[512];
    return cfg_result(h, core_cfg_bool(c, key, def, out, err, sizeof err), err);
}

static int h_config_duration(const vg_host *h, const vg_config *c, const char *key,
                             vg_duration_ms def, vg_duration_ms min, vg_duration_ms max,
                             vg_duration_ms *out)
{
    char err[512];
    return cfg_result(h, core_cfg_duration(c, key, def, min, max, out, err, sizeof err), err);
}

static int h_config_list(const vg_host *h, const vg_config *c, const char *key, const char *def,
                         json_t **out)
{
    char err[512];
    return cfg_result(h, core_cfg_list(c, key, def, out, err, sizeof err), err);
}

static int h_config_enum(const vg_host *h, const vg_config *c, const char *key, const char *def,
                         const char *const *choices, int *out)
{
    char err[512];
    return cfg_result(h, core_cfg_enum(c, key, def, choices, out, err, sizeof err), err);
}

static int h_http_route(const vg_host *h, const char *method, const char *pattern,
                        vg_http_handler handler, void *user, vg_free_cb user_free)
{
    core_plugin *p = plugin_of(h);
    if (!p->srv->http) {
        if (user_free)
            user_free(user);
        return 0; /* --check-config: nothing is served */
    }
    return core_http_route(p->srv->http, p, method, pattern, handler, user, user_free);
}

static int h_http_route_flags(const vg_host *h, const char *method, const char *pattern,
                              unsigned flags, vg_http_handler handler, void *user,
                              vg_free_cb user_free)
{
    core_plugin *p = plugin_of(h);
    if (!p->srv->http) {
        if (user_free)
            user_free(user);
        return 0;
    }
    return core_http_route_flags(p->srv->http, p, method, pattern, flags, handler, user, user_free);
}

static int h_ws_route(const vg_host *h, const char *path, const vg_ws_handlers *handlers,
                      void *user, vg_free_cb user_free)
{
    core_plugin *p = plugin_of(h);
    if (!p->srv->http) {
        if (user_free)
            user_free(user);
        return 0;
    }
    return core_http_ws_route(p->srv->http, p, path, handlers, user, user_free);
}

static const char *h_database_path(const vg_host *h) { return plugin_of(h)->srv->set.database; }

static int h_admin_token_ok(const vg_host *h, const char *token)
{
    core_server *s = plugin_of(h)->srv;
    if (!s->http)
        return 1;
    return core_http_admin_token_ok(s->http, token);
}

static int h_admin_token_set(const vg_host *h)
{
    const char *t = plugin_of(h)->srv->set.admin_token;
    return t && *t;
}

static int h_admin_action(const vg_host *h, const char *what)
{
    core_plugin *p = plugin_of(h);
    if (!what || !*what)
        return -EINVAL;
    char text[81];
    size_t n = strlen(what);
    if (n >= sizeof text) {
        n = sizeof text - 1;
        while (n && ((unsigned char)what[n] & 0xC0) == 0x80)
            n--; /* cut on a character boundary */
    }
    memcpy(text, what, n);
    text[n] = '\0';
    if (!p->admin_actions && !(p->admin_actions = json_array()))
        return -ENOMEM;
    json_t *v = json_string(text);
    if (!v)
        return -EINVAL; /* not UTF-8 */
    return json_array_append_new(p->admin_actions, v) == 0 ? 0 : -ENOMEM;
}

static int h_peer_is_loopback(const vg_host *h, const char *addr)
{
    (void)h;
    return core_addr_is_loopback(addr) ? 1 : 0;
}

static int64_t h_now_mono_ms(const vg_host *h)
{
    (void)h;
    return core_now_mono_ms();
}

static int64_t h_now_wall_ms(const vg_host *h)
{
    (void)h;
    return core_now_wall_ms();
}

static const char *h_server_version(const vg_host *h)
{
    (void)h;
    return VIGIA_VERSION;
}

static const char *h_listen_address(const vg_host *h) { return plugin_of(h)->srv->set.listen; }

static int h_json_max_depth(const vg_host *h) { return (int)plugin_of(h)->srv->set.json_max_depth; }

static json_t *h_json_parse(const vg_host *h, const char *buf, size_t len, size_t flags,
                            json_error_t *err)
{
    return vg_json_parse(buf, len, flags, h_json_max_depth(h), err);
}

static int h_http_threads(const vg_host *h) { return (int)plugin_of(h)->srv->set.threads; }

static int h_http_busy(const vg_host *h) { return core_http_busy(plugin_of(h)->srv->http); }

static int h_workq_create(const vg_host *h, const char *name, const vg_workq_opts *opts,
                          vg_workq **out)
{
    core_plugin *p = plugin_of(h);
    char err[400];
    /* Half the shutdown budget at most, so the rest of the stop still fits. */
    int rc = core_workq_new(h->plugin_name, name, opts, p, p->srv->set.shutdown_timeout_ms / 2, out,
                            err, sizeof err);
    if (rc < 0)
        record_failure(p, err);
    return rc;
}

static int64_t h_shutdown_timeout_ms(const vg_host *h)
{
    return plugin_of(h)->srv->set.shutdown_timeout_ms;
}

static int h_storage_ok(const vg_host *h, char *why, size_t n)
{
    return core_storage_ok(plugin_of(h)->srv->storage, why, n) ? 1 : 0;
}

static int h_tz_info(const vg_host *h, const char *zone, int64_t t, vg_tz_info *out)
{
    char why[200];
    int rc = core_tz_info(zone, t, out, why, sizeof why);
    if (rc == -EBADMSG)
        core_log(h->plugin_name, VG_LOG_WARN, "time zone '%s': %s", zone, why);
    return rc;
}

static int h_bus_fallback(const vg_host *h, vg_bus_fallback_cb cb, void *user, vg_free_cb user_free)
{
    core_plugin *p = plugin_of(h);
    if (!p->bus_client) {
        if (user_free)
            user_free(user);
        return -EINVAL;
    }
    return core_bus_set_fallback(p->bus_client, cb, user, user_free);
}

static int h_bus_subscribe_first(const vg_host *h, const char *topic, vg_event_cb cb, void *user,
                                 vg_free_cb user_free, vg_subscription **out)
{
    core_plugin *p = plugin_of(h);
    if (!p->bus_client) {
        if (out)
            *out = NULL;
        if (user_free)
            user_free(user);
        return -EINVAL;
    }
    return core_bus_subscribe_first(p->bus_client, topic, cb, user, user_free, out);
}

static void h_health_note(const vg_host *h, const char *problem)
{
    core_plugin *p = plugin_of(h);
    pthread_mutex_lock(&p->srv->health_lock);
    bool was = p->health[0] != '\0';
    snprintf(p->health, sizeof p->health, "%s", problem ? problem : "");
    bool now = p->health[0] != '\0';
    pthread_mutex_unlock(&p->srv->health_lock);
    if (was != now)
        core_log(h->plugin_name, now ? VG_LOG_WARN : VG_LOG_INFO, "health: %s",
                 now ? problem : "no longer degraded");
}

void core_host_fill(core_plugin *p)
{
    vg_host *h = &p->host;
    memset(h, 0, sizeof *h);
    h->struct_size = sizeof *h;
    h->abi_minor = VG_ABI_MINOR;
    h->plugin_name = p->desc ? p->desc->header.name : p->file_name;
    h->bus = p->bus_client ? core_bus_client_handle(p->bus_client) : NULL;
    h->log = h_log;
    h->fail = h_fail;
    h->config_section = h_config_section;
    h->config_sections = h_config_sections;
    h->config_section_name = core_config_section_name;
    h->config_string = h_config_string;
    h->config_require = h_config_require;
    h->config_int = h_config_int;
    h->config_bool = h_config_bool;
    h->config_duration = h_config_duration;
    h->config_list = h_config_list;
    h->config_enum = h_config_enum;
    h->http_route = h_http_route;
    h->ws_route = h_ws_route;
    h->database_path = h_database_path;
    h->admin_token_ok = h_admin_token_ok;
    h->admin_token_set = h_admin_token_set;
    h->now_mono_ms = h_now_mono_ms;
    h->now_wall_ms = h_now_wall_ms;
    h->server_version = h_server_version;
    h->listen_address = h_listen_address;
    h->core_private = p;
    h->config_fail = h_config_fail;
    h->json_parse = h_json_parse;
    h->json_max_depth = h_json_max_depth;
    h->http_threads = h_http_threads;
    h->http_busy = h_http_busy;
    h->workq_create = h_workq_create;
    h->workq_submit = core_workq_submit;
    h->workq_stop = core_workq_stop;
    h->shutdown_timeout_ms = h_shutdown_timeout_ms;
    h->storage_ok = h_storage_ok;
    h->http_route_flags = h_http_route_flags;
    h->admin_action = h_admin_action;
    h->peer_is_loopback = h_peer_is_loopback;
    h->tz_info = h_tz_info;
    h->bus_fallback = h_bus_fallback;
    h->health_note = h_health_note;
    h->bus_subscribe_first = h_bus_subscribe_first;
}
