/* monitor: reads [monitor] (defaults for every portal + global settings) and
 * one [monitor:<name>] section per portal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor.h"

#define MIN_MS 0
#define DAY_MS (24LL * 3600 * 1000)

/* "10%" or "0.1" -> 0.1; -1 when not a fraction between 0 and 1. */
static double parse_fraction(const char *s)
{
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s)
        return -1;
    if (*end == '%') {
        v /= 100.0;
        end++;
    }
    while (*end == ' ')
        end++;
    return *end || v < 0 || v > 1 ? -1 : v;
}

/* Re-joins a list for use as a string default ("a b c"). */
static char *join_list(const json_t *list)
{
    size_t i, need = 2;
    json_t *v;
    json_array_foreach (list, i, v)
        need += strlen(json_string_value(v)) + 1;
    char *s = calloc(1, need);
    if (!s)
        return NULL;
    json_array_foreach (list, i, v) {
        strcat(s, json_string_value(v));
        strcat(s, " ");
    }
    return s;
}

/* The keys that decide when a listing is trusted (removals, retries). */
static int read_listing_keys(const vg_host *h, const vg_config *sec, const mon_portal_cfg *def,
                             mon_portal_cfg *p)
{
    int rc = 0;
    char *types_def = def ? join_list(def->types) : strdup("dataset");
    if (!types_def)
        return -ENOMEM;
    rc |= h->config_list(h, sec, "types", types_def, &p->types);
    free(types_def);
    if (rc == 0 && json_array_size(p->types) == 0)
        rc = h->config_fail(h, sec, "types", "expected at least one dataset type");
    rc |= h->config_int(h, sec, "remove_after", def ? def->remove_after : 2, 1, 100,
                        &p->remove_after);
    const char *frac = NULL;
    rc |= h->config_string(h, sec, "max_removed_fraction", def ? NULL : "10%", &frac);
    if (frac && *frac) {
        p->max_removed_fraction = parse_fraction(frac);
        if (p->max_removed_fraction < 0)
            rc |= h->config_fail(h, sec, "max_removed_fraction",
                                 "expected a fraction from 0 to 1 or a percentage (10%%), got '%s'",
                                 frac);
    } else {
        p->max_removed_fraction = def ? def->max_removed_fraction : 0.1;
    }
    rc |= h->config_int(h, sec, "api_retries", def ? def->api_retries : 4, 0, 20, &p->api_retries);
    rc |= h->config_duration(h, sec, "api_retry_delay", def ? def->api_retry_delay_ms : 1000, 1,
                             600 * 1000, &p->api_retry_delay_ms);
    rc |= h->config_duration(h, sec, "api_retry_max", def ? def->api_retry_max_ms : 120000, 1,
                             3600 * 1000, &p->api_retry_max_ms);
    rc |= h->config_duration(h, sec, "failure_retry", def ? def->failure_retry_ms : 60000, 100,
                             7 * DAY_MS, &p->failure_retry_ms);
    return rc;
}

/* A multiple of the update period ("1.5"), from `lo` to 100; -1 otherwise. */
static double parse_multiple(const char *s, double lo)
{
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s)
        return -1;
    while (*end == ' ')
        end++;
    return *end || !(v >= lo && v <= 100) ? -1 : v;
}

/* Open-data signals: freshness against the declared frequency (HDX's grace
 * periods as multiples of the period: due after it, overdue after
 * freshness_overdue, delinquent after freshness_delinquent). */
static int read_signal_keys(const vg_host *h, const vg_config *sec, const mon_portal_cfg *def,
                            mon_portal_cfg *p)
{
    int rc = h->config_bool(h, sec, "freshness", def ? def->freshness : true, &p->freshness);
    const char *v = NULL;
    p->fresh_overdue = def ? def->fresh_overdue : 1.5;
    p->fresh_delinquent = def ? def->fresh_delinquent : 2.0;
    rc |= h->config_string(h, sec, "freshness_overdue", NULL, &v);
    if (v && *v && (p->fresh_overdue = parse_multiple(v, 1)) < 0)
        rc |= h->config_fail(h, sec, "freshness_overdue",
                             "expected a multiple of the update period from 1 to 100, got '%s'", v);
    v = NULL;
    rc |= h->config_string(h, sec, "freshness_delinquent", NULL, &v);
    if (v && *v && (p->fresh_delinquent = parse_multiple(v, 1)) < 0)
        rc |= h->config_fail(h, sec, "freshness_delinquent",
                             "expected a multiple of the update period from 1 to 100, got '%s'", v);
    if (rc == 0 && p->fresh_delinquent < p->fresh_overdue)
        rc |= h->config_fail(h, sec, "freshness_delinquent",
                             "must be at least freshness_overdue (%g), got %g", p->fresh_overdue,
                             p->fresh_delinquent);
    return rc ? -EINVAL : 0;
}

/* Content and schema (content.c): the body GETs and their own politeness
 * budget. A body costs a server more than a HEAD: one at a time per host,
 * 250 ms between two, a few in flight in all, a bounded number per sweep. */
static int read_content_keys(const vg_host *h, const vg_config *sec, const mon_portal_cfg *def,
                             mon_portal_cfg *p)
{
    int rc = 0;
    rc |= h->config_bool(h, sec, "schema_drift", def ? def->schema_drift : true, &p->schema_drift);
    rc |= h->config_bool(h, sec, "hashing", def ? def->hashing : true, &p->hashing);
    rc |=
        h->config_int(h, sec, "schema_sample_bytes", def ? def->schema_sample_bytes : 256LL * 1024,
                      1024, 16LL * 1024 * 1024, &p->schema_sample_bytes);
    rc |= h->config_duration(h, sec, "schema_interval", def ? def->schema_interval_ms : DAY_MS, 0,
                             30 * DAY_MS, &p->schema_interval_ms);
    rc |= h->config_int(h, sec, "hash_max_bytes", def ? def->hash_max_bytes : 20LL * 1024 * 1024,
                        1024, 16LL * 1024 * 1024 * 1024, &p->hash_max_bytes);
    rc |= h->config_duration(h, sec, "hash_interval", def ? def->hash_interval_ms : DAY_MS, 0,
                             30 * DAY_MS, &p->hash_interval_ms);
    rc |= h->config_duration(h, sec, "hash_recheck_delay", def ? def->hash_recheck_delay_ms : 5000,
                             0, 600 * 1000, &p->hash_recheck_delay_ms);
    rc |= h->config_int(h, sec, "content_concurrency", def ? def->content_concurrency : 4, 1, 256,
                        &p->content_concurrency);
    rc |= h->config_int(h, sec, "content_per_host", def ? def->content_per_host : 1, 1, 64,
                        &p->content_per_host);
    rc |= h->config_duration(h, sec, "content_per_host_interval",
                             def ? def->content_per_host_interval_ms : 250, 0, 600 * 1000,
                             &p->content_per_host_interval_ms);
    /* a first sweep of a large portal would read every file at once: at most this many
     * bodies per sweep (0: no limit), the rest in the next sweeps */
    rc |= h->config_int(h, sec, "content_max_per_sweep", def ? def->content_max_per_sweep : 1000, 0,
                        10 * 1000 * 1000, &p->content_max_per_sweep);
    return rc ? -EINVAL : 0;
}

/* Reads every per-portal key from `sec`, with defaults taken from `def`. */
static int read_portal(const vg_host *h, const vg_config *sec, const mon_portal_cfg *def,
                       mon_portal_cfg *p)
{
    int rc = 0;
    const char *s = NULL;
    rc |= h->config_string(h, sec, "base_url", def ? def->base_url : "", &s);
    if (rc == 0) {
        p->base_url = strdup(s ? s : "");
        if (!p->base_url)
            return -ENOMEM;
        size_t l = strlen(p->base_url);
        while (l > 0 && p->base_url[l - 1] == '/')
            p->base_url[--l] = 0;
    }
    char *inc_def = NULL, *exc_def = NULL;
    if (def) { /* lists have string defaults: re-join the defaults */
        size_t i;
        json_t *v;
        size_t need = 2;
        json_array_foreach (def->include_orgs, i, v)
            need += strlen(json_string_value(v)) + 1;
        inc_def = calloc(1, need);
        need = 2;
        json_array_foreach (def->exclude_orgs, i, v)
            need += strlen(json_string_value(v)) + 1;
        exc_def = calloc(1, need);
        if (!inc_def || !exc_def) {
            free(inc_def);
            free(exc_def);
            return -ENOMEM;
        }
        json_array_foreach (def->include_orgs, i, v) {
            strcat(inc_def, json_string_value(v));
            strcat(inc_def, " ");
        }
        json_array_foreach (def->exclude_orgs, i, v) {
            strcat(exc_def, json_string_value(v));
            strcat(exc_def, " ");
        }
    }
    rc |= h->config_list(h, sec, "organizations", inc_def, &p->include_orgs);
    rc |= h->config_list(h, sec, "exclude_organizations", exc_def, &p->exclude_orgs);
    free(inc_def);
    free(exc_def);
    rc |= h->config_duration(h, sec, "interval", def ? def->interval_ms : 15 * 60 * 1000, 100,
                             7 * DAY_MS, &p->interval_ms);
    rc |= h->config_int(h, sec, "rows", def ? def->rows : 100, 1, 1000, &p->rows);
    rc |= h->config_duration(h, sec, "api_delay", def ? def->api_delay_ms : 10000, MIN_MS,
                             3600 * 1000, &p->api_delay_ms);
    /* polite by default: most portals serve their files themselves */
    rc |= h->config_int(h, sec, "per_host", def ? def->per_host : 2, 1, 1024, &p->per_host);
    rc |= h->config_duration(h, sec, "per_host_interval", def ? def->per_host_interval_ms : 250,
                             MIN_MS, 60 * 1000, &p->per_host_interval_ms);
    rc |= h->config_duration(h, sec, "rate_limit_max_wait",
                             def ? def->rate_limit_max_wait_ms : 120 * 1000, 0, 3600 * 1000,
                             &p->rate_limit_max_wait_ms);
    rc |= h->config_int(h, sec, "rate_limit_retries", def ? def->rate_limit_retries : 2, 0, 10,
                        &p->rate_limit_retries);
    rc |= h->config_duration(h, sec, "connect_timeout", def ? def->connect_timeout_ms : 10000, 100,
                             600 * 1000, &p->connect_timeout_ms);
    rc |= h->config_duration(h, sec, "timeout", def ? def->timeout_ms : 30000, 100, 3600 * 1000,
                             &p->timeout_ms);
    rc |= h->config_int(h, sec, "fail_threshold", def ? def->fail_threshold : 2, 1, 100,
                        &p->fail_threshold);
    rc |= h->config_int(h, sec, "recover_threshold", def ? def->recover_threshold : 1, 1, 100,
                        &p->recover_threshold);
    long long slow = 0;
    rc |= h->config_int(h, sec, "slow_ms", def ? def->slow_ms : 5000, 1, 3600 * 1000, &slow);
    p->slow_ms = slow;
    rc |= h->config_int(h, sec, "max_response_bytes",
                        def ? def->max_response_bytes : 32LL * 1024 * 1024, 4096,
                        1024LL * 1024 * 1024, &p->max_response_bytes);
    rc |= read_signal_keys(h, sec, def, p);
    rc |= read_content_keys(h, sec, def, p);
    int lrc = read_listing_keys(h, sec, def, p);
    if (lrc == -ENOMEM)
        return lrc;
    return rc || lrc ? -EINVAL : 0;
}

static void portal_free(mon_portal_cfg *p)
{
    free(p->name);
    free(p->base_url);
    json_decref(p->include_orgs);
    json_decref(p->exclude_orgs);
    json_decref(p->types);
    memset(p, 0, sizeof *p);
}

int mon_config_load(const vg_host *h, mon_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    const vg_config *sec = h->config_section(h, "monitor");
    int rc = 0;
    rc |= h->config_int(h, sec, "concurrency", 32, 1, 1024, &cfg->concurrency);
    rc |= h->config_int(h, sec, "history_days", 30, 1, 3650, &cfg->history_days);
    rc |= h->config_bool(h, sec, "announce_initial", false, &cfg->announce_initial);
    const char *contact = NULL, *ua = NULL;
    rc |= h->config_string(h, sec, "contact_url", "", &contact);
    rc |= h->config_string(h, sec, "user_agent", "", &ua);
    mon_portal_cfg defaults;
    memset(&defaults, 0, sizeof defaults);
    int drc = read_portal(h, sec, NULL, &defaults);
    if (rc || drc) {
        portal_free(&defaults);
        return -EINVAL;
    }
    char buf[512];
    const char *ver = h->server_version ? h->server_version(h) : VIGIA_VERSION;
    if (ua && *ua)
        snprintf(buf, sizeof buf, "%s", ua);
    else if (contact && *contact)
        snprintf(buf, sizeof buf, "Vigia/%s (open-data availability monitor; +%s)", ver, contact);
    else
        snprintf(buf, sizeof buf, "Vigia/%s (open-data availability monitor)", ver);
    cfg->user_agent = strdup(buf);
    if (!cfg->user_agent) {
        portal_free(&defaults);
        return -ENOMEM;
    }

    json_t *names = h->config_sections(h, "monitor:");
    size_t n = json_is_array(names) ? json_array_size(names) : 0;
    cfg->portals = calloc(n ? n : 1, sizeof(mon_portal_cfg));
    if (!cfg->portals) {
        json_decref(names);
        portal_free(&defaults);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const char *full = json_string_value(json_array_get(names, i));
        const char *pname = full ? strchr(full, ':') : NULL;
        if (!pname || !pname[1]) {
            rc = h->fail(h, "[%s]: a portal section needs a name after 'monitor:'",
                         full ? full : "?");
            break;
        }
        pname++;
        mon_portal_cfg *p = &cfg->portals[cfg->nportals];
        const vg_config *ps = h->config_section(h, full);
        if (read_portal(h, ps, &defaults, p) < 0) {
            portal_free(p);
            rc = -EINVAL;
            break;
        }
        p->name = strdup(pname);
        cfg->nportals++;
        if (!p->name) {
            rc = -ENOMEM;
            break;
        }
        if (strncmp(p->base_url, "http://", 7) != 0 && strncmp(p->base_url, "https://", 8) != 0) {
            rc = h->config_fail(h, ps, "base_url", "expected an http(s) URL");
            break;
        }
    }
    json_decref(names);
    portal_free(&defaults);
    if (rc) {
        mon_config_free(cfg);
        return rc < 0 ? rc : -EINVAL;
    }
    return 0;
}

void mon_config_free(mon_config *cfg)
{
    for (size_t i = 0; i < cfg->nportals; i++)
        portal_free(&cfg->portals[i]);
    free(cfg->portals);
    free(cfg->user_agent);
    memset(cfg, 0, sizeof *cfg);
}
