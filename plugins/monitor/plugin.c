/* monitor: the plugin descriptor, lifecycle and the one sweep thread. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "monitor.h"
#include "store.h"

/* After a failed sweep the next try comes sooner: failure_retry, doubling
 * with each failure in a row, never later than the interval. */
int64_t mon_next_wait_ms(const mon_portal_cfg *p, int failures)
{
    if (failures <= 0)
        return p->interval_ms;
    int64_t w = p->failure_retry_ms;
    for (int i = 1; i < failures && w < p->interval_ms; i++)
        w *= 2;
    return w < p->interval_ms ? w : p->interval_ms;
}

static void *sweeper(void *arg)
{
    mon_plugin *m = arg;
    pthread_mutex_lock(&m->mu);
    while (!atomic_load(&m->stop)) {
        int64_t now = mon_mono_ms(), next = now + 60000;
        size_t pick = m->cfg.nportals;
        for (size_t i = 0; i < m->cfg.nportals; i++) {
            mon_portal_rt *rt = &m->rt[i];
            if (rt->run_requested || rt->next_due_mono <= now) {
                pick = i;
                break;
            }
            if (rt->next_due_mono < next)
                next = rt->next_due_mono;
        }
        if (pick < m->cfg.nportals) {
            mon_portal_rt *rt = &m->rt[pick];
            rt->run_requested = false;
            rt->running = true;
            pthread_mutex_unlock(&m->mu);
            if (mon_lease_hold(m, rt->cfg->name))
                mon_sweep_portal(m, pick);
            pthread_mutex_lock(&m->mu);
            rt->running = false;
            int64_t wait = mon_next_wait_ms(rt->cfg, rt->failures);
            rt->next_due_mono = mon_mono_ms() + wait;
            rt->next_due_wall = mon_wall_ms() + wait;
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t wait = next - now;
        ts.tv_sec += wait / 1000;
        ts.tv_nsec += (wait % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&m->cond, &m->mu, &ts);
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

static void plugin_free(mon_plugin *m)
{
    if (!m)
        return;
    for (size_t i = 0; m->rt && i < m->cfg.nportals; i++)
        json_decref(m->rt[i].last_sweep);
    free(m->rt);
    mon_store_close(m->store);
    mon_config_free(&m->cfg);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cond);
    free(m->db_path);
    free(m);
}

static int monitor_check_config(const vg_host *host, const vg_config *cfg)
{
    (void)cfg;
    mon_config c;
    int rc = mon_config_load(host, &c);
    if (rc == 0)
        mon_config_free(&c);
    return rc;
}

static int monitor_init(const vg_host *host, const vg_config *cfg, void **state)
{
    (void)cfg;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return host->fail(host, "libcurl initialisation failed");
    mon_plugin *m = calloc(1, sizeof *m);
    if (!m)
        return host->fail(host, "out of memory");
    m->host = host;
    pthread_mutex_init(&m->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cond, &ca);
    pthread_condattr_destroy(&ca);
    int rc = mon_config_load(host, &m->cfg);
    if (rc < 0) {
        plugin_free(m);
        return rc;
    }
    const char *db = host->database_path(host);
    m->db_path = strdup(db ? db : "");
    m->rt = calloc(m->cfg.nportals ? m->cfg.nportals : 1, sizeof *m->rt);
    if (!m->db_path || !m->rt) {
        plugin_free(m);
        return host->fail(host, "out of memory");
    }
    rc = mon_store_open(m->db_path, &m->store);
    if (rc < 0) {
        int r = host->fail(host, "cannot open database '%s'%s", m->db_path,
                           rc == -EPROTO ? ": written by a newer monitor schema" : "");
        plugin_free(m);
        return r;
    }
    int64_t now = mon_mono_ms();
    for (size_t i = 0; i < m->cfg.nportals; i++) {
        mon_portal_rt *rt = &m->rt[i];
        rt->cfg = &m->cfg.portals[i];
        if (mon_store_portal_get(m->store, rt->cfg->name, rt->state, sizeof rt->state,
                                 &rt->baseline_done, &rt->failures, &rt->held) < 0)
            VG_WARN(host, "portal %s: cannot read its saved state: %s", rt->cfg->name,
                    mon_store_errmsg(m->store));
        rt->next_due_mono = now; /* first sweep right after start */
        rt->next_due_wall = mon_wall_ms();
    }
    if (m->cfg.nportals == 0)
        VG_WARN(host, "no [monitor:<name>] portal sections: nothing to monitor");
    rc = mon_methods_register(m);
    if (rc < 0) {
        plugin_free(m);
        return host->fail(host, "cannot register the datasets.* / monitor.* methods");
    }
    for (size_t i = 0; i < m->cfg.nportals; i++)
        VG_INFO(host, "portal %s: %s every %llds, rows %lld, api_delay %lldms, per_host %lld",
                m->cfg.portals[i].name, m->cfg.portals[i].base_url,
                (long long)(m->cfg.portals[i].interval_ms / 1000), m->cfg.portals[i].rows,
                (long long)m->cfg.portals[i].api_delay_ms, m->cfg.portals[i].per_host);
    *state = m;
    return 0;
}

static int monitor_start(void *state)
{
    mon_plugin *m = state;
    if (pthread_create(&m->thread, NULL, sweeper, m) != 0)
        return -EAGAIN;
    m->thread_started = true;
    return 0;
}

/* Cancels an in-flight sweep: curl transfers watch the flag every 100 ms. */
static void monitor_stop(void *state)
{
    mon_plugin *m = state;
    pthread_mutex_lock(&m->mu);
    atomic_store(&m->stop, true);
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->mu);
    if (m->thread_started) {
        pthread_join(m->thread, NULL);
        m->thread_started = false;
    }
}

static void monitor_destroy(void *state)
{
    mon_plugin *m = state;
    if (m && m->thread_started)
        monitor_stop(m);
    plugin_free(m);
    curl_global_cleanup();
}

VG_PLUGIN_DEFINE(monitor, "0.1.0",
                 "CKAN portal monitor: lists datasets, checks resources, keeps status history",
                 .check_config = monitor_check_config, .init = monitor_init, .start = monitor_start,
                 .stop = monitor_stop, .destroy = monitor_destroy);
