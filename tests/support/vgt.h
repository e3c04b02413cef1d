/* Test support shared by every integration test: start the real `vigia`
 * binary on a free loopback port with a temporary directory (database, INI,
 * log), talk HTTP to it with libcurl, stop it by process id.
 *
 * ctest sets VIGIA_BIN, VIGIA_PLUGIN_DIR, VIGIA_SOURCE_DIR and
 * VIGIA_BUILD_DIR for every test added with vigia_add_integration_test(). */
#ifndef VGT_H
#define VGT_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct vgt_server {
    pid_t pid; /* 0 when not running */
    int port;
    char dir[256]; /* temp dir: vigia.ini, vigia.db, vigia.log */
    char base[64]; /* "http://127.0.0.1:PORT" */
    char config_path[PATH_MAX];
    char db_path[PATH_MAX];
    char log_path[PATH_MAX];
    char *ini_body; /* extra INI text kept for restarts */
    char *plugins;
} vgt_server;

/* A fresh directory /tmp/vgt-<tag>-XXXXXX into dir (size >= 32); 0 or -1. */
int vgt_tmpdir(char *dir, size_t size, const char *tag);
/* Removes `dir` and everything below it; 0 or -1. */
int vgt_rmtree(const char *dir);
/* A TCP port on 127.0.0.1 that was free a moment ago. */
int vgt_free_port(void);

/* Write an INI into a fresh temp dir and start the server:
 *   [server] listen=127.0.0.1:<free port>, database=<dir>/vigia.db,
 *            plugin_dir=$VIGIA_PLUGIN_DIR, web_root=$VIGIA_SOURCE_DIR/web,
 *            plugins=<plugins>, log_level=debug, log_file=<dir>/vigia.log
 *   then `server_extra` (more [server] keys, may be NULL)
 *   then `ini_extra` (other sections, may be NULL).
 * Waits until GET /api/health answers 200 (up to 10 s). Returns 0, or -1 with
 * the log printed to stderr. */
int vgt_server_start(vgt_server *s, const char *plugins, const char *server_extra,
                     const char *ini_extra);
/* Start again with the same dir, port and database (after a stop or kill). */
int vgt_server_restart(vgt_server *s);
/* Send `sig` and wait up to 15 s; returns the raw wait status (or -1). */
int vgt_server_signal(vgt_server *s, int sig);
/* SIGTERM, then vgt_server_cleanup. Returns 0 when the server exited with
 * status 0 (so, in sanitizer builds, ASan's leak check passed too); otherwise
 * prints the wait status and the log to stderr and returns -1. A server that
 * is not running counts as clean. */
int vgt_server_stop_clean(vgt_server *s);
/* SIGKILL if still running, remove the temp dir, free memory. */
void vgt_server_cleanup(vgt_server *s);
/* Runs `vigia --check-config` on an INI of [server] (listen 127.0.0.1:1,
 * database, plugin_dir=$VIGIA_PLUGIN_DIR, plugins=<plugins>: lines 1-5), a
 * blank line, then `ini_extra` (from line 7). *output gets stdout and stderr
 * (malloc'd). Returns the exit status, or -1 when it could not run. */
int vgt_check_config(const char *plugins, const char *ini_extra, char **output);
/* 1 when the server's log contains `needle`. */
int vgt_log_contains(const vgt_server *s, const char *needle);
/* Whole log as a malloc'd string (or NULL). */
char *vgt_log_read(const vgt_server *s);

typedef struct vgt_response {
    long status; /* 0 when the request failed */
    char *body;  /* NUL-terminated, malloc'd */
    size_t body_len;
    char *headers; /* raw response header block, malloc'd */
    double total_ms;
} vgt_response;

/* One HTTP request. `path` is appended to s->base (or used as-is when it
 * starts with "http"). `headers` is a NULL-terminated array of
 * "Name: value" strings (may be NULL). `body` may be NULL. */
int vgt_http(const vgt_server *s, const char *method, const char *path, const char *const *headers,
             const char *body, size_t body_len, vgt_response *out);
/* Shorthands. */
int vgt_get(const vgt_server *s, const char *path, vgt_response *out);
int vgt_post_json(const vgt_server *s, const char *path, const char *json, vgt_response *out);
/* Value of a response header (case-insensitive), malloc'd, or NULL. */
char *vgt_header(const vgt_response *r, const char *name);
void vgt_response_free(vgt_response *r);

/* Poll `fn(arg)` every 20 ms until it returns non-zero or `timeout_ms` passes.
 * Returns the last value. */
int vgt_wait_until(int (*fn)(void *arg), void *arg, int timeout_ms);

#endif /* VGT_H */
