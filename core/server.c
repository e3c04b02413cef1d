/* Lifecycle: settings, plugins in config order, the HTTP server, signals,
 * and an orderly stop in reverse. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <vigia/contract/core.h>

#include "log.h"
#include "netaddr.h"
#include "procstat.h"
#include "server.h"
#include "storage.h"

#define CORE_MAX_PLUGINS 64

static int core_err(const char *msg)
{
    core_log("config", VG_LOG_ERROR, "%s", msg);
    return -EINVAL;
}

static long read_long_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long v = -1;
    if (fscanf(f, "%ld", &v) != 1)
        v = -1;
    fclose(f);
    return v;
}

/* civetweb pre-spawns every worker (docs/civetweb.md §1.2) and
 * silently dies past the OS limits: refuse what the machine cannot hold. */
static long machine_thread_limit(char *why, size_t n)
{
    long limit = 65536;
    snprintf(why, n, "civetweb's maximum");
    long pid_max = read_long_file("/proc/sys/kernel/pid_max");
    long threads_max = read_long_file("/proc/sys/kernel/threads-max");
    long maps = read_long_file("/proc/sys/vm/max_map_count");
    struct rlimit rl;
    if (pid_max > 0 && pid_max / 2 < limit) {
        limit = pid_max / 2;
        snprintf(why, n, "half of kernel.pid_max (%ld)", pid_max);
    }
    if (threads_max > 0 && threads_max / 2 < limit) {
        limit = threads_max / 2;
        snprintf(why, n, "half of kernel.threads-max (%ld)", threads_max);
    }
    if (maps > 0 && maps / 3 < limit) {
        limit = maps / 3;
        snprintf(why, n, "a third of vm.max_map_count (%ld; each thread maps a stack and a guard)",
                 maps);
    }
    if (getrlimit(RLIMIT_NPROC, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (long)rl.rlim_cur / 2 < limit) {
        limit = (long)rl.rlim_cur / 2;
        snprintf(why, n, "half of RLIMIT_NPROC (%ld)", (long)rl.rlim_cur);
    }
    return limit;
}

static char *dup_or_null(const char *s) { return s && *s ? strdup(s) : NULL; }

int core_settings_load(core_config *cfg, core_settings *set)
{
    memset(set, 0, sizeof *set);
    const vg_config *sec = core_config_section(cfg, "server");
    char err[512];
    const char *s;
    int bad = 0;
#define CHECK(call)                                                                                \
    do {                                                                                           \
        if ((call) != 0) {                                                                         \
            core_err(err);                                                                         \
            bad++;                                                                                 \
        }                                                                                          \
    } while (0)

    if (!sec) {
        core_log("config", VG_LOG_ERROR,
                 "%s: no [server] section: this is not a Vigía configuration "
                 "(see config/vigia.ini.sample)",
                 core_config_path(cfg));
        bad++;
    }
    CHECK(core_cfg_string(sec, "listen", "127.0.0.1:8080", &s, err, sizeof err));
    set->listen = strdup(s);
    CHECK(core_cfg_string(sec, "web_root", "web", &s, err, sizeof err));
    set->web_root = dup_or_null(s);
    CHECK(core_cfg_string(sec, "database", "vigia.db", &s, err, sizeof err));
    set->database = strdup(s);
    CHECK(core_cfg_string(sec, "plugin_dir", VIGIA_DEFAULT_PLUGIN_DIR, &s, err, sizeof err));
    set->plugin_dir = strdup(s);
    CHECK(core_cfg_string(sec, "admin_token", "", &s, err, sizeof err));
    set->admin_token = dup_or_null(s);
    CHECK(core_cfg_string(sec, "log_file", "", &s, err, sizeof err));
    set->log_file = dup_or_null(s);
    CHECK(core_cfg_list(sec, "plugins", "", &set->plugins, err, sizeof err));
    CHECK(core_cfg_list(sec, "public_names", "", &set->public_names, err, sizeof err));
    CHECK(core_cfg_int(sec, "threads", 256, 8, 60000, &set->threads, err, sizeof err));
    CHECK(core_cfg_int(sec, "json_max_depth", VG_JSON_MAX_DEPTH_DEFAULT, 2, 128,
                       &set->json_max_depth, err, sizeof err));
    CHECK(core_cfg_int(sec, "bus_queue", 8192, 16, 1000000, &set->bus_queue, err, sizeof err));
    CHECK(core_cfg_duration(sec, "request_timeout", 5000, 1000, 600000, &set->request_timeout_ms,
                            err, sizeof err));
    CHECK(core_cfg_duration(sec, "websocket_timeout", 10000, 1000, 600000,
                            &set->websocket_timeout_ms, err, sizeof err));
    CHECK(core_cfg_duration(sec, "request_deadline", 10000, 1000, 600000, &set->request_deadline_ms,
                            err, sizeof err));
    CHECK(core_cfg_int(sec, "max_conns_per_ip", 32, 1, 1000000, &set->max_conns_per_ip, err,
                       sizeof err));
    CHECK(core_cfg_duration(sec, "shutdown_timeout", 10000, 100, 600000, &set->shutdown_timeout_ms,
                            err, sizeof err));
    static const char *const levels[] = {"error", "warn", "info", "debug", NULL};
    int lv = VG_LOG_INFO;
    CHECK(core_cfg_enum(sec, "log_level", "info", levels, &lv, err, sizeof err));
    set->log_level = lv;
#undef CHECK

    if (!set->listen || !strrchr(set->listen, ':')) {
        core_log("config", VG_LOG_ERROR,
                 "%s: [server] listen: expected address:port like 127.0.0.1:8080, found '%s'",
                 core_config_path(cfg), set->listen ? set->listen : "");
        bad++;
    }
    char why[160];
    long limit = machine_thread_limit(why, sizeof why);
    if (set->threads > limit) {
        core_log("config", VG_LOG_ERROR,
                 "%s: [server] threads = %lld is more than this machine can run safely "
                 "(at most %ld: %s); civetweb starts every worker thread up front",
                 core_config_path(cfg), set->threads, limit, why);
        bad++;
    }
    if (json_array_size(set->plugins) > CORE_MAX_PLUGINS) {
        core_log("config", VG_LOG_ERROR, "%s: [server] plugins: at most %d plugins",
                 core_config_path(cfg), CORE_MAX_PLUGINS);
        bad++;
    }
    set->unknown_keys = core_config_warn_unused(sec, "config");
    return bad ? -EINVAL : 0;
}

void core_settings_free(core_settings *set)
{
    free(set->listen);
    free(set->web_root);
    free(set->database);
    free(set->plugin_dir);
    free(set->admin_token);
    free(set->log_file);
    json_decref(set->plugins);
    json_decref(set->public_names);
    memset(set, 0, sizeof *set);
}

/* ---- shutdown watchdog ---- */

/* A plugin that does not stop within shutdown_timeout must not keep the
 * process (and the port) hostage: log who is stuck and exit. Data is safe:
 * SQLite in WAL mode keeps every committed transaction. */
typedef struct watchdog {
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    bool done;
    int64_t timeout_ms;
    char current[160];
    pthread_t thread;
} watchdog;

static void *watchdog_run(void *arg)
{
    watchdog *w = arg;
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += w->timeout_ms / 1000;
    dl.tv_nsec += (long)(w->timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->lock);
    while (!w->done)
        if (pthread_cond_timedwait(&w->done_cond, &w->lock, &dl) == ETIMEDOUT)
            break;
    if (!w->done) {
        CORE_ERROR("shutdown took longer than shutdown_timeout (%lld ms) while %s; exiting now",
                   (long long)w->timeout_ms, w->current);
        core_log_close();
        _exit(2);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static void watchdog_doing(watchdog *w, const char *what, const char *name)
{
    pthread_mutex_lock(&w->lock);
    snprintf(w->current, sizeof w->current, "%s%s%s", what, name ? " " : "", name ? name : "");
    pthread_mutex_unlock(&w->lock);
}

/* ---- core-owned routes and methods ---- */

static json_t *plugin_list(core_server *srv)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < srv->nplugins; i++) {
        core_plugin *p = srv->plugins[i];
        if (p && p->inited)
            json_array_append_new(arr, json_pack("{s:s, s:s}", "name", p->desc->header.name,
                                                 "version", p->desc->header.version));
    }
    return arr;
}

/* {"<plugin>": "<problem>"} of the plugins that reported one (host->health_note),
 * or NULL when none did. */
static json_t *degraded_list(core_server *srv)
{
    json_t *o = NULL;
    pthread_mutex_lock(&srv->health_lock);
    for (size_t i = 0; i < srv->nplugins; i++) {
        core_plugin *p = srv->plugins[i];
        if (p && p->inited && p->health[0]) {
            if (!o)
                o = json_object();
            json_object_set_new(o, p->desc->header.name, json_string(p->health));
        }
    }
    pthread_mutex_unlock(&srv->health_lock);
    return o;
}

static int health_route(vg_http_request *req, void *user)
{
    core_server *srv = user;
    char why[320];
    json_t *degraded = degraded_list(srv);
    if (!core_storage_ok(srv->storage, why, sizeof why)) {
        json_t *body = json_pack("{s:s, s:s, s:s, s:o}", "status", "error", "version",
                                 VIGIA_VERSION, "reason", why, "plugins", plugin_list(srv));
        if (body && degraded)
            json_object_set(body, "degraded", degraded);
        json_decref(degraded);
        return vg_http_reply_json(req, 503, body);
    }
    /* A degraded node still serves its own clients: 200, so a load balancer keeps it. */
    json_t *body = json_pack("{s:s, s:s, s:o}", "status", degraded ? "degraded" : "ok", "version",
                             VIGIA_VERSION, "plugins", plugin_list(srv));
    if (body && degraded)
        json_object_set(body, "degraded", degraded);
    json_decref(degraded);
    return vg_http_reply_json(req, 200, body);
}

static int m_bus_methods(const json_t *params, json_t **result, void *user)
{
    (void)params;
    *result = json_pack("{s:o}", "methods", core_bus_methods(((core_server *)user)->bus));
    return *result ? 0 : -ENOMEM;
}

static int m_bus_stats(const json_t *params, json_t **result, void *user)
{
    (void)params;
    *result = core_bus_stats(((core_server *)user)->bus);
    return 0;
}

static int m_http_stats(const json_t *params, json_t **result, void *user)
{
    (void)params;
    *result = core_http_stats(((core_server *)user)->http);
    return 0;
}

static int m_process_stats(const json_t *params, json_t **result, void *user)
{
    (void)params;
    (void)user;
    *result = core_process_stats();
    return *result ? 0 : -ENOMEM;
}

static int m_core_status(const json_t *params, json_t **result, void *user)
{
    (void)params;
    core_server *srv = user;
    *result = json_pack("{s:s, s:I, s:I, s:s, s:o}", "version", VIGIA_VERSION, "started_at_ms",
                        (json_int_t)srv->started_wall_ms, "uptime_s",
                        (json_int_t)((core_now_mono_ms() - srv->started_mono_ms) / 1000), "listen",
                        srv->set.listen, "plugins", plugin_list(srv));
    return 0;
}

static int register_core(core_server *srv)
{
    vg_bus *b = core_bus_client_handle(srv->core_client);
    int rc = 0;
    rc |= vg_bus_register_method(b, VG_CORE_M_BUS_STATS, m_bus_stats, srv, NULL);
    rc |= vg_bus_register_method(b, VG_CORE_M_BUS_METHODS, m_bus_methods, srv, NULL);
    rc |= vg_bus_register_method(b, VG_CORE_M_HTTP_STATS, m_http_stats, srv, NULL);
    rc |= vg_bus_register_method(b, VG_CORE_M_STATUS, m_core_status, srv, NULL);
    rc |= vg_bus_register_method(b, VG_CORE_M_PROCESS_STATS, m_process_stats, srv, NULL);
    rc |= core_http_route(srv->http, NULL, "GET", "/api/health", health_route, srv, NULL);
    return rc ? -EINVAL : 0;
}

/* ---- loading ---- */

/* Load every listed plugin. Returns -1 when a required one was refused. */
static int load_all(core_server *srv)
{
    size_t n = json_array_size(srv->set.plugins);
    srv->plugins = calloc(n ? n : 1, sizeof *srv->plugins);
    if (!srv->plugins)
        return -ENOMEM;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const char *spec = json_string_value(json_array_get(srv->set.plugins, i));
        core_plugin *p = core_plugin_load(srv, spec);
        if (!p) {
            size_t l = strlen(spec);
            if (l && spec[l - 1] == '?') {
                core_log("loader", VG_LOG_WARN, "optional plugin '%.*s' not loaded; carrying on",
                         (int)(l - 1), spec);
                continue;
            }
            bad++;
            continue;
        }
        srv->plugins[srv->nplugins++] = p;
    }
    return bad ? -1 : 0;
}

static void unload_all(core_server *srv)
{
    for (size_t i = srv->nplugins; i-- > 0;) {
        core_plugin_unload(srv->plugins[i]);
        srv->plugins[i] = NULL;
    }
    srv->nplugins = 0;
    free(srv->plugins);
    srv->plugins = NULL;
}

static void server_cleanup(core_server *srv)
{
    if (srv->http)
        core_http_stop(srv->http);
    unload_all(srv);
    if (srv->core_client)
        core_bus_client_release(srv->core_client);
    if (srv->bus)
        core_bus_free(srv->bus);
    if (srv->http)
        core_http_free(srv->http);
    core_storage_free(srv->storage);
    srv->storage = NULL;
    core_settings_free(&srv->set);
    core_config_free(srv->cfg);
    core_loader_exit();
}

int core_server_check_config(const char *path, bool strict)
{
    core_server srv = {0};
    srv.health_lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
    srv.cfg = core_config_load(path);
    if (!srv.cfg)
        return 1;
    int bad = core_settings_load(srv.cfg, &srv.set) != 0;
    if (core_loader_init() != 0) {
        core_settings_free(&srv.set);
        core_config_free(srv.cfg);
        return 1;
    }
    srv.bus = core_bus_new(64, 10);
    if (!bad && load_all(&srv) != 0)
        bad = 1;
    for (size_t i = 0; i < srv.nplugins; i++) {
        core_plugin *p = srv.plugins[i];
        if (core_plugin_check_config(p) != 0) {
            core_log("config", VG_LOG_ERROR, "plugin '%s': configuration is not valid%s%s",
                     p->desc->header.name, p->reason[0] ? ": " : "", p->reason);
            if (!p->optional)
                bad = 1;
        }
    }
    int unknown =
        core_config_warn_unknown_sections(srv.cfg) + srv.set.unknown_keys + srv.unknown_keys;
    if (strict && unknown) {
        core_log("config", VG_LOG_ERROR,
                 "%d unknown key%s or section%s (listed above) %s with --strict", unknown,
                 unknown == 1 ? "" : "s", unknown == 1 ? "" : "s",
                 unknown == 1 ? "is an error" : "are errors");
        bad = 1;
    }
    server_cleanup(&srv);
    if (bad) {
        fprintf(stderr, "%s: configuration has errors (see above)\n", path);
        return 1;
    }
    printf("%s: configuration OK\n", path);
    return 0;
}

static int64_t started_ns(struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (int64_t)(t1.tv_sec - t0->tv_sec) * 1000000000LL + (t1.tv_nsec - t0->tv_nsec);
}

/* "hello: wave, shout; other: ..." from what the loaded
 * plugins declared with host->admin_action; NULL when none did. */
static char *admin_actions_text(const core_server *srv)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    bool any = false;
    for (size_t i = 0; i < srv->nplugins; i++) {
        const core_plugin *p = srv->plugins[i];
        size_t j;
        json_t *v;
        json_array_foreach (p->admin_actions, j, v) {
            if (j == 0)
                fprintf(f, "%s%s: ", any ? "; " : "", p->host.plugin_name);
            fprintf(f, "%s%s", j ? ", " : "", json_string_value(v));
            any = true;
        }
    }
    fclose(f);
    if (!any) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* The one no-token line, listing the actions the plugins declared in their
 * words. Without a token those actions answer loopback peers only; a wider
 * listener makes that worth saying loudly. */
static void warn_without_token(const core_server *srv)
{
    if (srv->set.admin_token)
        return;
    char *actions = admin_actions_text(srv);
    if (!actions) {
        CORE_INFO("no [server] admin_token; no loaded plugin declares an action it guards");
        return;
    }
    if (!core_listen_is_loopback(srv->set.listen))
        CORE_WARN("!!! SECURITY WARNING !!! listening on %s, which is not loopback-only, without "
                  "[server] admin_token: actions (%s) are refused to every peer but this machine. "
                  "Set admin_token to allow them remotely.",
                  srv->set.listen, actions);
    else
        CORE_INFO("no [server] admin_token: actions (%s) answer loopback peers only", actions);
    free(actions);
}

/* Configuration, logging, bus, HTTP (not listening), storage and the core's
 * own methods: what plugins need to be loaded and initialised. */
static int server_open(core_server *srv, const char *path, bool announce)
{
    srv->health_lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
    srv->started_wall_ms = core_now_wall_ms();
    srv->started_mono_ms = core_now_mono_ms();
    srv->cfg = core_config_load(path);
    if (!srv->cfg)
        return -1;
    if (core_settings_load(srv->cfg, &srv->set) != 0) {
        core_config_free(srv->cfg);
        core_settings_free(&srv->set);
        CORE_ERROR("%s: not starting: fix the configuration errors above", path);
        return -1;
    }
    core_log_set_level((vg_log_level)srv->set.log_level);
    if (srv->set.log_file && core_log_open_file(srv->set.log_file) != 0)
        CORE_WARN("cannot open log_file %s: %s (logging to stderr only)", srv->set.log_file,
                  strerror(errno));
    if (announce)
        CORE_INFO("Vigía %s starting with %s", VIGIA_VERSION, path);

    if (core_loader_init() != 0)
        return -1;
    srv->bus = core_bus_new((size_t)srv->set.bus_queue, 200);
    core_http_options ho = {
        .listen = srv->set.listen,
        .web_root = srv->set.web_root,
        .threads = (int)srv->set.threads,
        .request_timeout_ms = srv->set.request_timeout_ms,
        .websocket_timeout_ms = srv->set.websocket_timeout_ms,
        .admin_token = srv->set.admin_token,
        .request_deadline_ms = srv->set.request_deadline_ms,
        .max_conns_per_ip = (int)srv->set.max_conns_per_ip,
        .public_names = srv->set.public_names,
    };
    srv->http = core_http_new(&ho);
    srv->storage = core_storage_new(srv->set.database, 1000);
    srv->core_client = srv->bus ? core_bus_client_new(srv->bus, "core") : NULL;
    if (!srv->bus || !srv->http || !srv->storage || !srv->core_client || register_core(srv) != 0) {
        CORE_ERROR("out of memory while starting");
        server_cleanup(srv);
        return -1;
    }

    return 0;
}

/* init in config order; a failed required plugin stops start-up. */
static int init_all(core_server *srv)
{
    for (size_t i = 0; i < srv->nplugins; i++) {
        core_plugin *p = srv->plugins[i];
        int rc = core_plugin_init(p);
        if (rc == 0) {
            CORE_INFO("plugin '%s' %s initialised", p->desc->header.name, p->desc->header.version);
            continue;
        }
        if (p->optional) {
            CORE_WARN("optional plugin '%s' failed to initialise: %s; carrying on without it",
                      p->desc->header.name, p->reason);
            core_plugin_unload(p);
            srv->plugins[i] = NULL;
            continue;
        }
        CORE_ERROR("plugin '%s' failed to initialise: %s", p->desc->header.name, p->reason);
        CORE_ERROR("not starting: required plugin '%s' failed", p->desc->header.name);
        return -1;
    }
    /* Compact the list (failed optional plugins left holes). */
    size_t k = 0;
    for (size_t i = 0; i < srv->nplugins; i++)
        if (srv->plugins[i])
            srv->plugins[k++] = srv->plugins[i];
    srv->nplugins = k;
    return 0;
}

/* Plugins destroyed in reverse order, then the bus and the rest. */
static void destroy_all(core_server *srv, watchdog *wd)
{
    for (size_t i = srv->nplugins; i-- > 0;) {
        core_plugin *p = srv->plugins[i];
        if (!p)
            continue; /* an optional plugin that failed init left its slot empty */
        const char *name = p->desc->header.name;
        bool was = p->inited;
        char pname[80];
        snprintf(pname, sizeof pname, "%s", name);
        if (wd)
            watchdog_doing(wd, "destroying plugin", pname);
        core_plugin_unload(p);
        srv->plugins[i] = NULL;
        if (was)
            CORE_INFO("plugin '%s' destroyed", pname);
    }
    srv->nplugins = 0;
    if (srv->bus)
        core_bus_stop(srv->bus);
    server_cleanup(srv);
}

int core_server_run(const char *path)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    /* Signals are taken by sigwait below: block them before any thread exists
     * so no plugin or civetweb thread receives them. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    core_storage_install_sigbus();

    core_server srv = {0};
    if (server_open(&srv, path, true) != 0)
        return 1;

    int exit_code = 1;
    watchdog wd = {.lock = PTHREAD_MUTEX_INITIALIZER, .done_cond = PTHREAD_COND_INITIALIZER};
    bool wd_running = false;
    if (load_all(&srv) != 0) {
        CORE_ERROR("not starting: a required plugin was refused (see above); mark a plugin "
                   "optional with a trailing '?' in [server] plugins to start without it");
        goto out;
    }
    if (init_all(&srv) != 0)
        goto out;
    core_config_warn_unknown_sections(srv.cfg);

    warn_without_token(&srv);

    /* The plugins have opened (or created) the database: remember which file it is. */
    if (core_storage_start(srv.storage) != 0) {
        CORE_ERROR("cannot start the storage watch: out of resources");
        goto out;
    }
    char err[512];
    if (core_http_start(srv.http, err, sizeof err) != 0) {
        CORE_ERROR("%s", err);
        goto out;
    }
    for (size_t i = 0; i < srv.nplugins; i++) {
        core_plugin *p = srv.plugins[i];
        if (core_plugin_start(p) != 0) {
            CORE_ERROR("plugin '%s' failed to start", p->desc->header.name);
            goto stop;
        }
    }
    vg_bus *cb = core_bus_client_handle(srv.core_client);
    vg_bus_publish_new(cb, VG_CORE_EV_SYSTEM_STARTED,
                       json_pack("{s:i, s:s, s:o}", VG_EVENT_V, VG_CORE_V, "version", VIGIA_VERSION,
                                 "plugins", plugin_list(&srv)));
    CORE_INFO("listening on http://%s (%zu plugins, started in %.1f ms)", srv.set.listen,
              srv.nplugins, (double)started_ns(&t0) / 1e6);

    int sig = 0;
    while (sigwait(&sigs, &sig) != 0)
        ;
    CORE_INFO("received %s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    exit_code = 0;
    wd.timeout_ms = srv.set.shutdown_timeout_ms;
    if (pthread_create(&wd.thread, NULL, watchdog_run, &wd) == 0)
        wd_running = true;
    vg_bus_publish_new(cb, VG_CORE_EV_SYSTEM_STOP_REQUESTED,
                       json_pack("{s:i, s:s}", VG_EVENT_V, VG_CORE_V, "version", VIGIA_VERSION));
    core_bus_flush(srv.bus);

stop:
    /* Plugins stop in reverse order, then civetweb (which waits for handlers
     * still running), then plugins are destroyed in reverse. */
    for (size_t i = srv.nplugins; i-- > 0;) {
        watchdog_doing(&wd, "stopping plugin", srv.plugins[i]->desc->header.name);
        core_plugin_stop(srv.plugins[i]);
    }
    watchdog_doing(&wd, "stopping the HTTP server", NULL);
    core_http_stop(srv.http);
    core_bus_flush(srv.bus);
out:
    destroy_all(&srv, &wd);
    if (wd_running) {
        pthread_mutex_lock(&wd.lock);
        wd.done = true;
        pthread_cond_signal(&wd.done_cond);
        pthread_mutex_unlock(&wd.lock);
        pthread_join(wd.thread, NULL);
    }
    if (exit_code == 0)
        CORE_INFO("stopped cleanly");
    core_log_close();
    return exit_code;
}

int core_server_call(const char *path, const char *method, const char *params_json)
{
    signal(SIGPIPE, SIG_IGN);
    json_error_t jerr;
    json_t *params = NULL;
    if (params_json) {
        params = json_loads(params_json, JSON_REJECT_DUPLICATES, &jerr); /* json-own-data: argv */
        if (!json_is_object(params)) {
            fprintf(stderr, "vigia: --call %s: the params are not a JSON object (%s, column %d)\n",
                    method, params ? "another JSON value" : jerr.text, jerr.column);
            json_decref(params);
            return 2;
        }
    }
    core_server srv = {0};
    if (server_open(&srv, path, false) != 0) {
        json_decref(params);
        return 2;
    }
    int code = 2;
    if (load_all(&srv) != 0 || init_all(&srv) != 0) {
        CORE_ERROR("--call %s: the plugins could not be initialised (see above)", method);
    } else {
        json_t *res = NULL;
        vg_bus *cb = core_bus_client_handle(srv.core_client);
        int rc = vg_bus_call(cb, method, params, &res);
        char *out = json_dumps(res, JSON_INDENT(2));
        if (out)
            printf("%s\n", out);
        free(out);
        json_decref(res);
        code = rc == 0 ? 0 : 1;
    }
    json_decref(params);
    destroy_all(&srv, NULL);
    core_log_close();
    return code;
}
