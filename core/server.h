/* The server as a whole: settings from [server], the bus, the HTTP server and
 * the loaded plugins, and the lifecycle that ties them together. */
#ifndef CORE_SERVER_H
#define CORE_SERVER_H

#include <ltdl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "config.h"
#include "http.h"
#include "vigia/plugin.h"

typedef struct core_server core_server;

typedef struct core_plugin {
    core_server *srv;
    char *file_name; /* as listed in [server] plugins */
    char *path;      /* plugin_dir/file_name.so */
    bool optional;
    lt_dlhandle handle;
    const vg_plugin *desc;
    vg_host host;
    core_bus_client *bus_client;
    const vg_config *cfg;
    void *state;
    bool inited, started;
    char reason[512];      /* why init failed */
    json_t *admin_actions; /* host->admin_action texts, NULL when none */
    char health[256];      /* host->health_note, "" when fine; under health_lock */
} core_plugin;

typedef struct core_settings {
    char *listen;
    char *web_root;
    char *database;
    char *plugin_dir;
    char *admin_token;
    char *log_file;
    json_t *plugins;      /* array of strings, "name" or "name?" */
    json_t *public_names; /* Host names this server answers to (besides loopback/IPs) */
    long long threads;
    long long bus_queue;
    long long json_max_depth;
    long long max_conns_per_ip;
    int log_level;
    int64_t request_timeout_ms, websocket_timeout_ms, shutdown_timeout_ms;
    int unknown_keys; /* in [server] (--check-config --strict) */
    int64_t request_deadline_ms;
} core_settings;

struct core_server {
    core_config *cfg;
    core_settings set;
    core_bus *bus;
    core_bus_client *core_client;
    core_http *http;
    struct core_storage *storage;
    core_plugin **plugins;
    size_t nplugins;
    int64_t started_wall_ms;
    int64_t started_mono_ms;
    int unknown_keys;            /* in plugins' sections (--check-config --strict) */
    pthread_mutex_t health_lock; /* core_plugin.health */
};

/* Read and validate [server]; errors are logged with file:line. */
int core_settings_load(core_config *cfg, core_settings *set);
void core_settings_free(core_settings *set);

/* Build the host table for `p` (host.c). */
void core_host_fill(core_plugin *p);
int64_t core_now_mono_ms(void);
int64_t core_now_wall_ms(void);

/* Loader (loader.c). lt_dlinit once, before any thread exists. */
int core_loader_init(void);
void core_loader_exit(void);
/* Load and validate one module; refusals are logged and return NULL. */
core_plugin *core_plugin_load(core_server *srv, const char *spec);
int core_plugin_check_config(core_plugin *p);
int core_plugin_init(core_plugin *p);
int core_plugin_start(core_plugin *p);
void core_plugin_stop(core_plugin *p);
/* destroy (if inited), drop its registrations, unload, free. */
void core_plugin_unload(core_plugin *p);

/* Lifecycle (server.c). */
/* strict: unknown keys and sections are errors too. */
int core_server_check_config(const char *path, bool strict);
int core_server_run(const char *path);
/* One bus method from the command line (an operator's task with the server
 * running or not: e.g. an erasure request): loads and initialises the
 * configured plugins (no HTTP, no start), calls `method` with `params_json`
 * (NULL: {}), prints the result as JSON on stdout, destroys them. 0 when the
 * method answered, 1 on its error (printed too), 2 when it could not run. */
int core_server_call(const char *path, const char *method, const char *params_json);

#endif
