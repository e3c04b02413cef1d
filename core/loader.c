/* Plugin loader: libltdl, one descriptor per module, every refusal with the
 * file and both values so an operator knows what to rebuild. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "server.h"
#include "workq.h"

int core_loader_init(void)
{
    if (lt_dlinit() != 0) {
        CORE_ERROR("libltdl initialisation failed: %s", lt_dlerror());
        return -EIO;
    }
    return 0;
}

void core_loader_exit(void) { lt_dlexit(); }

static bool valid_plugin_name(const char *s)
{
    if (!*s || strlen(s) > 64)
        return false;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_' || *s == '-'))
            return false;
    return true;
}

static void plugin_free(core_plugin *p)
{
    if (!p)
        return;
    free(p->file_name);
    free(p->path);
    json_decref(p->admin_actions);
    free(p);
}

static core_plugin *refuse(core_plugin *p, const char *fmt, ...) VG_PRINTF(2, 3);
static core_plugin *refuse(core_plugin *p, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    core_log("loader", VG_LOG_ERROR, "plugin '%s' (%s) refused: %s", p->file_name,
             p->path ? p->path : "?", msg);
    if (p->handle)
        lt_dlclose(p->handle);
    plugin_free(p);
    return NULL;
}

core_plugin *core_plugin_load(core_server *srv, const char *spec)
{
    core_plugin *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->srv = srv;
    size_t n = strlen(spec);
    p->optional = n > 1 && spec[n - 1] == '?';
    p->file_name = strndup(spec, p->optional ? n - 1 : n);
    if (!p->file_name) {
        free(p);
        return NULL;
    }
    if (!valid_plugin_name(p->file_name))
        return refuse(p,
                      "'%s' is not a plugin name (lower-case letters, digits, '_' and '-'; "
                      "append '?' to mark it optional)",
                      p->file_name);

    const char *dir = srv->set.plugin_dir;
    size_t plen = strlen(dir) + strlen(p->file_name) + 8;
    p->path = malloc(plen);
    if (!p->path)
        return refuse(p, "out of memory");
    snprintf(p->path, plen, "%s/%s.so", dir, p->file_name);

    /* Exact file, regular, not a symlink out of plugin_dir (as collectd does). */
    struct stat st;
    if (lstat(p->path, &st) != 0)
        return refuse(p, "no such file (plugin_dir = %s): %s", dir, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return refuse(p, "not a regular file (symbolic links are not followed)");

    lt_dladvise adv;
    if (lt_dladvise_init(&adv) == 0) {
        lt_dladvise_local(&adv);
        p->handle = lt_dlopenadvise(p->path, adv);
        lt_dladvise_destroy(&adv);
    }
    if (!p->handle)
        return refuse(p, "not a loadable module: %s (check its dependencies with ldd)",
                      lt_dlerror());

    /* libltdl looks up "<module>_LTX_vigia_plugin" first, then "vigia_plugin". */
    const vg_plugin *d = lt_dlsym(p->handle, "vigia_plugin");
    if (!d)
        return refuse(p,
                      "no descriptor: symbol '%s_LTX_vigia_plugin' is missing (define it with "
                      "VG_PLUGIN_DEFINE(%s, ...))",
                      p->file_name, p->file_name);
    const vg_plugin_header *h = &d->header;
    if (h->abi_major != VG_ABI_MAJOR)
        return refuse(p,
                      "built for plugin ABI major %u, this server has ABI major %u: rebuild it "
                      "against this server's SDK",
                      h->abi_major, VG_ABI_MAJOR);
    if (h->abi_minor > VG_ABI_MINOR)
        return refuse(p,
                      "needs plugin ABI %u.%u, this server provides %u.%u: upgrade the server "
                      "or rebuild the plugin against this SDK",
                      h->abi_major, h->abi_minor, VG_ABI_MAJOR, VG_ABI_MINOR);
    if (!h->build_signature || strcmp(h->build_signature, VG_BUILD_SIGNATURE) != 0)
        return refuse(p, "build signature '%s' does not match the server's '%s'",
                      h->build_signature ? h->build_signature : "(none)", VG_BUILD_SIGNATURE);
    if (h->struct_size < offsetof(vg_plugin, destroy) + sizeof d->destroy)
        return refuse(p, "descriptor size %u is smaller than ABI %u.%u's %zu", h->struct_size,
                      h->abi_major, h->abi_minor, sizeof(vg_plugin));
    if (!h->name || !valid_plugin_name(h->name))
        return refuse(p, "descriptor name '%s' is not a valid plugin name",
                      h->name ? h->name : "(null)");
    for (size_t i = 0; i < srv->nplugins; i++) {
        core_plugin *o = srv->plugins[i];
        if (o && strcmp(o->desc->header.name, h->name) == 0)
            return refuse(p, "duplicate plugin name '%s': already loaded from %s", h->name,
                          o->path);
    }
    if (!h->version)
        return refuse(p, "descriptor has no version");
    if (!d->init)
        return refuse(p, "descriptor has no init function");
    if (strcmp(h->name, p->file_name) != 0)
        core_log("loader", VG_LOG_WARN, "%s declares the plugin name '%s'; its section is [%s]",
                 p->path, h->name, h->name);
    p->desc = d;
    core_log("loader", VG_LOG_DEBUG, "loaded %s %s from %s", h->name, h->version, p->path);
    return p;
}

static void drop_registrations(core_plugin *p)
{
    core_workq_stop_owner(p);
    if (p->srv->http)
        core_http_release_owner(p->srv->http, p);
    if (p->bus_client) {
        core_bus_client_release(p->bus_client);
        p->bus_client = NULL;
        p->host.bus = NULL;
    }
    /* Nothing can submit any more (no handler, no subscription, no state). */
    core_workq_free_owner(p);
}

/* After the plugin read its configuration: every key of [name] and of its
 * sub-sections [name:...] that it never asked for is a warning. */
static void warn_unknown_keys(core_plugin *p)
{
    const char *name = p->desc->header.name;
    p->srv->unknown_keys += core_config_warn_unused(p->cfg, name);
    char prefix[80];
    snprintf(prefix, sizeof prefix, "%s:", name);
    json_t *subs = core_config_sections(p->srv->cfg, prefix);
    size_t i;
    json_t *v;
    json_array_foreach (subs, i, v) {
        p->srv->unknown_keys +=
            core_config_warn_unused(core_config_section(p->srv->cfg, json_string_value(v)), name);
    }
    json_decref(subs);
}

int core_plugin_check_config(core_plugin *p)
{
    if (p->srv->bus && !p->bus_client)
        p->bus_client = core_bus_client_new(p->srv->bus, p->desc->header.name);
    core_host_fill(p);
    p->cfg = core_config_section(p->srv->cfg, p->desc->header.name);
    int rc = 0;
    if (p->desc->check_config)
        rc = p->desc->check_config(&p->host, p->cfg);
    else
        core_log("loader", VG_LOG_INFO,
                 "plugin '%s' has no configuration check: its keys are not checked",
                 p->desc->header.name);
    /* Without a check nobody read the keys: calling them unknown would be wrong. */
    if (rc == 0 && p->desc->check_config)
        warn_unknown_keys(p);
    return rc;
}

int core_plugin_init(core_plugin *p)
{
    p->bus_client = core_bus_client_new(p->srv->bus, p->desc->header.name);
    if (!p->bus_client) {
        snprintf(p->reason, sizeof p->reason, "out of memory");
        return -ENOMEM;
    }
    core_host_fill(p);
    p->cfg = core_config_section(p->srv->cfg, p->desc->header.name);
    p->reason[0] = '\0';
    int rc = p->desc->init(&p->host, p->cfg, &p->state);
    if (rc != 0) {
        if (!p->reason[0])
            snprintf(p->reason, sizeof p->reason, "init returned %d (%s)", rc,
                     rc < 0 ? strerror(-rc) : "error");
        drop_registrations(p);
        p->state = NULL;
        return rc < 0 ? rc : -EINVAL;
    }
    p->inited = true;
    warn_unknown_keys(p);
    return 0;
}

int core_plugin_start(core_plugin *p)
{
    if (!p->inited)
        return 0;
    int rc = p->desc->start ? p->desc->start(p->state) : 0;
    if (rc == 0)
        p->started = true;
    return rc;
}

void core_plugin_stop(core_plugin *p)
{
    if (p->started && p->desc->stop)
        p->desc->stop(p->state);
    if (p->started)
        core_log("loader", VG_LOG_INFO, "plugin '%s' stopped", p->desc->header.name);
    p->started = false;
}

void core_plugin_unload(core_plugin *p)
{
    if (!p)
        return;
    /* Queued jobs use the plugin's state: drain or cancel them first, while
     * the plugin can still take events; then no event may reach it once its
     * state is gone. */
    core_workq_stop_owner(p);
    if (p->bus_client)
        core_bus_client_clear(p->bus_client);
    if (p->inited && p->desc->destroy)
        p->desc->destroy(p->state);
    p->inited = false;
    p->state = NULL;
    drop_registrations(p);
    if (p->handle) {
        /* Keep modules mapped under the sanitizers so leak stacks stay symbolized. */
        if (!getenv("VIGIA_KEEP_MODULES"))
            lt_dlclose(p->handle);
    }
    plugin_free(p);
}
