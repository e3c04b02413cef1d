/* monitor: one sweep of one portal: list, check, compare with what the
 * database knows, commit, then announce what changed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "monitor.h"

void mon_iso_ms(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char tmp[32];
    strftime(tmp, sizeof tmp, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%03dZ", tmp, (int)(ms % 1000));
}

static json_t *iso_or_null(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    char b[40];
    mon_iso_ms(ms, b, sizeof b);
    return json_string(b);
}

/* The bus queue is bounded: wait a little rather than lose an event.
 * `payload` is borrowed: each attempt hands the bus its own reference. */
int mon_publish(mon_plugin *m, const char *topic, json_t *payload)
{
    vg_bus *bus = m->host->bus;
    for (int attempt = 0; attempt < 40; attempt++) {
        int rc = vg_bus_publish_new(bus, topic, json_incref(payload));
        if (rc != -EAGAIN) {
            if (rc < 0)
                VG_WARN(m->host, "publish %s failed: %d", topic, rc);
            return rc;
        }
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    VG_WARN(m->host, "publish %s: bus queue full, event lost", topic);
    return -EAGAIN;
}

static json_t *jstr(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *dataset_json(const char *portal, const char *id, const char *name,
                            const char *title, const char *org, const char *org_title,
                            const char *url, int status, int64_t last_checked)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", jstr(id));
    json_object_set_new(o, "portal", jstr(portal));
    json_object_set_new(o, "name", jstr(name));
    json_object_set_new(o, "title", jstr(title));
    json_object_set_new(o, "organization", jstr(org));
    json_object_set_new(o, "organization_title", jstr(org_title));
    json_object_set_new(o, "url", jstr(url));
    json_object_set_new(o, "status", json_string(mon_dstatus_name(status)));
    json_object_set_new(o, "last_checked", iso_or_null(last_checked));
    return o;
}

static int cmp_ds(const void *a, const void *b)
{
    return strcmp(((const mon_ds *)a)->id, ((const mon_ds *)b)->id);
}

static int cmp_prev(const void *a, const void *b)
{
    return strcmp(((const mon_prev_ds *)a)->id, ((const mon_prev_ds *)b)->id);
}

static bool str_differs(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

/* {metadata_modified?, title?, resources_added?, resources_removed?, urls_changed?}
 * or NULL when nothing changed. */
static json_t *diff_dataset(const mon_prev_ds *p, const mon_ds *d)
{
    json_t *ch = json_object();
    if (str_differs(p->modified, d->modified))
        json_object_set_new(ch, "metadata_modified",
                            json_pack("{s:o, s:o}", "old", jstr(p->modified), "new",
                                      jstr(d->modified)));
    if (str_differs(p->title, d->title))
        json_object_set_new(ch, "title",
                            json_pack("{s:o, s:o}", "old", jstr(p->title), "new", jstr(d->title)));
    json_t *added = json_array(), *removed = json_array(), *urls = json_array();
    for (size_t i = 0; i < d->nres; i++) {
        const mon_prev_res *pr = NULL;
        for (size_t k = 0; k < p->nres && !pr; k++)
            if (p->res[k].id && strcmp(p->res[k].id, d->res[i].id) == 0)
                pr = &p->res[k];
        if (!pr)
            json_array_append_new(added, json_pack("{s:s, s:o, s:o}", "id", d->res[i].id, "name",
                                                   jstr(d->res[i].name), "url",
                                                   jstr(d->res[i].url)));
        else if (str_differs(pr->url, d->res[i].url))
            json_array_append_new(urls, json_pack("{s:s, s:o, s:o}", "resource_id", d->res[i].id,
                                                  "old", jstr(pr->url), "new",
                                                  jstr(d->res[i].url)));
    }
    for (size_t k = 0; k < p->nres; k++) {
        bool found = false;
        for (size_t i = 0; i < d->nres && !found; i++)
            found = p->res[k].id && strcmp(p->res[k].id, d->res[i].id) == 0;
        if (!found)
            json_array_append_new(removed, json_pack("{s:o, s:o}", "id", jstr(p->res[k].id),
                                                     "url", jstr(p->res[k].url)));
    }
    if (json_array_size(added))
        json_object_set(ch, "resources_added", added);
    if (json_array_size(removed))
        json_object_set(ch, "resources_removed", removed);
    if (json_array_size(urls))
        json_object_set(ch, "urls_changed", urls);
    json_decref(added);
    json_decref(removed);
    json_decref(urls);
    if (json_object_size(ch) == 0) {
        json_decref(ch);
        return NULL;
    }
    return ch;
}

static json_t *failing_list(const mon_ds *d)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < d->nres; i++) {
        const mon_res *r = &d->res[i];
        if (!r->checked || (r->status != MON_R_DOWN && !r->slow && !r->soft))
            continue; /* soft: a page instead of data, a login page */
        json_t *o = json_pack("{s:s, s:o, s:o, s:s, s:s}", "id", r->id, "name", jstr(r->name),
                              "url", jstr(r->url), "status", mon_rstatus_name(r->status),
                              "reason", r->reason ? r->reason : "unknown");
        json_object_set_new(o, "http_status",
                            r->http_status ? json_integer(r->http_status) : json_null());
        if (r->error)
            json_object_set_new(o, "error", json_string(r->error));
        json_array_append_new(arr, o);
    }
    return arr;
}

static void set_portal_state(mon_plugin *m, mon_portal_rt *rt, const char *state,
                             const char *error)
{
    char prev[16];
    pthread_mutex_lock(&m->mu);
    snprintf(prev, sizeof prev, "%s", rt->state);
    snprintf(rt->state, sizeof rt->state, "%s", state);
    if (error)
        snprintf(rt->last_error, sizeof rt->last_error, "%s", error);
    int baseline = rt->baseline_done;
    pthread_mutex_unlock(&m->mu);
    mon_store_portal_set(m->wdb, rt->cfg->name, state, baseline, error);
    /* announce a failure at once, and a recovery only from a failure */
    if (strcmp(prev, state) != 0 && (strcmp(state, "down") == 0 || strcmp(prev, "down") == 0)) {
        json_t *ev = json_pack("{s:s, s:s, s:s, s:o}", "portal", rt->cfg->name, "previous", prev,
                               "current", state, "error", jstr(error));
        mon_publish(m, "portal.status_changed", ev);
        json_decref(ev);
    }
}

typedef struct sweep_counts {
    long long datasets, resources, up, down, degraded, unknown, restricted, empty;
    long long r_up, r_down, r_restricted, r_invalid, r_rate_limited;
} sweep_counts;

static json_t *counts_json(const sweep_counts *c)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "datasets",
                     (json_int_t)c->datasets, "resources", (json_int_t)c->resources, "up",
                     (json_int_t)c->up, "down", (json_int_t)c->down, "degraded",
                     (json_int_t)c->degraded, "unknown", (json_int_t)c->unknown, "restricted",
                     (json_int_t)c->restricted, "empty", (json_int_t)c->empty,
                     "rate_limited", (json_int_t)c->r_rate_limited);
}

/* Compares, classifies and writes. Appends events to `events` ([topic, payload]
 * pairs) to be published after the commit. Returns 0 or -EIO. */
static int apply(mon_plugin *m, mon_portal_rt *rt, int64_t sweep_id, mon_listing *L,
                 mon_prev *prev, bool quiet, json_t *events, sweep_counts *c)
{
    const mon_portal_cfg *p = rt->cfg;
    const char *portal = p->name;
    int64_t now = mon_wall_ms();
    mon_wbatch *b = mon_wbatch_begin(m->wdb);
    if (!b)
        return -EIO;
    int rc = 0;
    for (size_t i = 0; i < L->n && rc == 0; i++) {
        mon_ds *d = &L->ds[i];
        mon_prev_ds key = {.id = d->id};
        mon_prev_ds *pd =
            prev->n ? bsearch(&key, prev->ds, prev->n, sizeof *prev->ds, cmp_prev) : NULL;
        mon_hyst h = pd ? pd->h : (mon_hyst){MON_D_UNKNOWN, MON_D_UNKNOWN, 0};
        int before = h.status;
        mon_res_outcome stack_out[16];
        mon_res_outcome *out = d->nres <= 16 ? stack_out : calloc(d->nres, sizeof *out);
        if (!out) {
            rc = -ENOMEM;
            break;
        }
        int checks = 0, ok = 0, lat_n = 0;
        double lat_sum = 0;
        int64_t last_checked = pd ? pd->last_checked : 0;
        for (size_t k = 0; k < d->nres; k++) {
            mon_res *r = &d->res[k];
            out[k].status = r->checked ? r->status : MON_R_UNKNOWN;
            out[k].slow = r->slow;
            out[k].soft = r->soft;
            if (!r->checked)
                continue;
            last_checked = r->checked_at > last_checked ? r->checked_at : last_checked;
            if (r->invalid) {
                c->r_invalid++;
            } else if (r->rate_limited) {
                c->r_rate_limited++; /* not a check of the resource: no uptime sample */
            } else {
                checks++;
                ok += r->status == MON_R_UP || r->status == MON_R_RESTRICTED;
                lat_sum += r->latency_ms;
                lat_n++;
                c->r_up += r->status == MON_R_UP;
                c->r_down += r->status == MON_R_DOWN;
                c->r_restricted += r->status == MON_R_RESTRICTED;
            }
            c->restricted += r->status == MON_R_RESTRICTED;
            rc |= mon_wbatch_check(b, portal, d->id, r, sweep_id);
        }
        rc |= mon_recent_save(m->wdb, portal, d);
        int observed = mon_dataset_observe(out, d->nres);
        if (out != stack_out)
            free(out);
        bool changed = mon_hyst_feed(&h, observed, (int)p->fail_threshold,
                                     (int)p->recover_threshold);
        rc |= mon_wbatch_dataset(b, portal, d, &h, observed, last_checked, now, pd);
        if (checks > 0)
            rc |= mon_wbatch_daily(b, portal, d->id, now, checks, ok, lat_sum, lat_n);
        c->datasets++;
        c->resources += (long long)d->nres;
        c->up += h.status == MON_D_UP;
        c->down += h.status == MON_D_DOWN;
        c->degraded += h.status == MON_D_DEGRADED;
        c->unknown += h.status == MON_D_UNKNOWN;
        c->empty += h.status == MON_D_EMPTY;

        json_t *dj = NULL;
#define DJ() (dj ? dj : (dj = dataset_json(portal, d->id, d->name, d->title, d->org, \
                                             d->org_title, d->url, h.status, last_checked)))
        if (!pd && !quiet)
            json_array_append_new(events, json_pack("[s, {s:s, s:I, s:O}]", "dataset.added",
                                                    "portal", portal, "sweep_id",
                                                    (json_int_t)sweep_id, "dataset", DJ()));
        if (pd) {
            json_t *ch = diff_dataset(pd, d);
            if (ch)
                json_array_append_new(events,
                                      json_pack("[s, {s:s, s:I, s:O, s:o}]", "dataset.modified",
                                                "portal", portal, "sweep_id", (json_int_t)sweep_id,
                                                "dataset", DJ(), "changes", ch));
        }
        /* unknown -> up is the normal first classification: not news; nor is a
         * new dataset that starts empty (dataset.added tells) */
        if (changed && !(before == MON_D_UNKNOWN &&
                         (h.status == MON_D_UP || h.status == MON_D_EMPTY || quiet))) {
            char at[40];
            mon_iso_ms(last_checked ? last_checked : now, at, sizeof at);
            json_array_append_new(
                events, json_pack("[s, {s:s, s:I, s:O, s:s, s:s, s:o, s:s}]",
                                  "dataset.status_changed", "portal", portal, "sweep_id",
                                  (json_int_t)sweep_id, "dataset", DJ(), "previous",
                                  mon_dstatus_name(before), "current", mon_dstatus_name(h.status),
                                  "failing", failing_list(d), "checked_at", at));
        }
        json_decref(dj);
#undef DJ
    }
    /* removals: only here, after a complete and successful listing */
    for (size_t k = 0; k < prev->n && rc == 0; k++) {
        mon_prev_ds *pd = &prev->ds[k];
        mon_ds key = {.id = pd->id};
        if (L->n && bsearch(&key, L->ds, L->n, sizeof *L->ds, cmp_ds))
            continue;
        rc |= mon_wbatch_remove(b, portal, pd->id);
        json_array_append_new(
            events, json_pack("[s, {s:s, s:I, s:o}]", "dataset.removed", "portal", portal,
                              "sweep_id", (json_int_t)sweep_id, "dataset",
                              dataset_json(portal, pd->id, pd->name, pd->title, pd->org,
                                           pd->org_title, pd->url, pd->h.status,
                                           pd->last_checked)));
    }
    if (rc == 0)
        rc |= mon_recent_prune(m->wdb, portal);
    int erc = mon_wbatch_end(b, rc == 0);
    return rc ? rc : erc;
}

void mon_sweep_portal(mon_plugin *m, size_t idx)
{
    mon_portal_rt *rt = &m->rt[idx];
    const mon_portal_cfg *p = rt->cfg;
    int64_t started = mon_wall_ms(), t0 = mon_mono_ms();
    int64_t sweep_id = mon_store_sweep_begin(m->wdb, p->name, started);
    char iso[40];
    mon_iso_ms(started, iso, sizeof iso);
    json_t *ev = json_pack("{s:s, s:I, s:s}", "portal", p->name, "sweep_id", (json_int_t)sweep_id,
                           "started_at", iso);
    mon_publish(m, "monitor.sweep_started", ev);
    json_decref(ev);
    VG_INFO(m->host, "sweep %lld of portal %s started", (long long)sweep_id, p->name);

    mon_http_opts ho = {.user_agent = m->cfg.user_agent,
                        .connect_timeout_ms = p->connect_timeout_ms,
                        .timeout_ms = p->timeout_ms,
                        .max_response_bytes = p->max_response_bytes,
                        .stop = &m->stop};
    mon_listing L;
    char err[512] = "";
    int lrc = mon_list_portal(p, &ho, &L, err, sizeof err);
    int errors = L.errors;
    bool complete = false;
    sweep_counts c;
    memset(&c, 0, sizeof c);
    json_t *events = json_array();
    int64_t t_list = mon_mono_ms(), t_checks = t_list;
    if (lrc < 0) {
        errors++;
        if (!atomic_load(&m->stop)) {
            VG_WARN(m->host, "portal %s: listing failed: %s", p->name, err);
            mon_store_mark_stale(m->wdb, p->name);
            set_portal_state(m, rt, "down", err);
        }
    } else {
        set_portal_state(m, rt, "up", NULL);
        if (L.n > 1)
            qsort(L.ds, L.n, sizeof *L.ds, cmp_ds);
        size_t nitems = 0;
        for (size_t i = 0; i < L.n; i++)
            nitems += L.ds[i].nres;
        mon_res **items = calloc(nitems ? nitems : 1, sizeof *items);
        mon_prev prev;
        memset(&prev, 0, sizeof prev);
        if (!items || mon_store_load_prev(m->wdb, p->name, &prev) < 0 ||
            mon_recent_attach(m->wdb, p->name, &L) < 0) {
            snprintf(err, sizeof err, "cannot load the previous state from the database");
            errors++;
        } else {
            nitems = 0;
            for (size_t i = 0; i < L.n; i++)
                for (size_t k = 0; k < L.ds[i].nres; k++)
                    items[nitems++] = &L.ds[i].res[k];
            mon_check_opts co = {.user_agent = m->cfg.user_agent,
                                 .concurrency = m->cfg.concurrency,
                                 .per_host = p->per_host,
                                 .per_host_interval_ms = p->per_host_interval_ms,
                                 .connect_timeout_ms = p->connect_timeout_ms,
                                 .timeout_ms = p->timeout_ms,
                                 .slow_ms = p->slow_ms,
                                 .rate_limit_max_wait_ms = p->rate_limit_max_wait_ms,
                                 .rate_limit_retries = p->rate_limit_retries,
                                 .stop = &m->stop};
            int crc = mon_check_all(&co, items, nitems);
            t_checks = mon_mono_ms();
            if (crc == -ECANCELED || atomic_load(&m->stop)) {
                snprintf(err, sizeof err, "sweep cancelled");
            } else if (crc < 0) {
                snprintf(err, sizeof err, "resource checks failed: %d", crc);
                errors++;
            } else {
                pthread_mutex_lock(&m->mu);
                bool quiet = !rt->baseline_done && !m->cfg.announce_initial;
                pthread_mutex_unlock(&m->mu);
                if (apply(m, rt, sweep_id, &L, &prev, quiet, events, &c) < 0) {
                    snprintf(err, sizeof err, "database write failed: %s",
                             sqlite3_errmsg(m->wdb));
                    errors++;
                    json_array_clear(events);
                } else {
                    complete = true;
                }
            }
        }
        free(items);
        mon_prev_free(&prev);
    }
    if (!complete) {
        /* nothing was re-checked: report what is known, stale as it is */
        long long by[MON_D_COUNT];
        if (mon_store_counts(m->wdb, p->name, by, &c.resources, &c.restricted) == 0) {
            c.unknown = by[MON_D_UNKNOWN];
            c.up = by[MON_D_UP];
            c.degraded = by[MON_D_DEGRADED];
            c.down = by[MON_D_DOWN];
            c.empty = by[MON_D_EMPTY];
            c.datasets = c.unknown + c.up + c.degraded + c.down + c.empty;
        }
    }
    int64_t finished = mon_wall_ms();
    int64_t t_end = mon_mono_ms(), duration = t_end - t0;
    json_t *counts = counts_json(&c);
    mon_store_sweep_finish(m->wdb, sweep_id, finished, complete, counts, errors,
                           (int)json_array_size(events));
    if (complete) {
        pthread_mutex_lock(&m->mu);
        rt->baseline_done = 1;
        rt->checks_up += c.r_up;
        rt->checks_down += c.r_down;
        rt->checks_restricted += c.r_restricted;
        rt->checks_invalid += c.r_invalid;
        rt->last_error[0] = 0;
        pthread_mutex_unlock(&m->mu);
        mon_store_portal_set(m->wdb, p->name, "up", 1, NULL);
        mon_store_retention(m->wdb, finished, m->cfg.history_days);
    } else if (err[0]) {
        pthread_mutex_lock(&m->mu);
        snprintf(rt->last_error, sizeof rt->last_error, "%s", err);
        pthread_mutex_unlock(&m->mu);
    }
    /* announce after the commit, so readers already see the new state */
    size_t i;
    json_t *pair;
    json_array_foreach(events, i, pair)
        mon_publish(m, json_string_value(json_array_get(pair, 0)), json_array_get(pair, 1));
    char fin_iso[40];
    mon_iso_ms(finished, fin_iso, sizeof fin_iso);
    json_t *last = json_pack("{s:s, s:s, s:I, s:O, s:b, s:I, s:i, s:I, s:I, s:I}", "started_at",
                             iso, "finished_at", fin_iso, "duration_ms", (json_int_t)duration,
                             "counts", counts, "complete", complete, "sweep_id",
                             (json_int_t)sweep_id, "errors", errors, "listing_ms",
                             (json_int_t)(t_list - t0), "checks_ms",
                             (json_int_t)(t_checks - t_list), "store_ms",
                             (json_int_t)(t_end - t_checks));
    pthread_mutex_lock(&m->mu);
    json_decref(rt->last_sweep);
    rt->last_sweep = last;
    pthread_mutex_unlock(&m->mu);
    ev = json_pack("{s:s, s:I, s:b, s:O, s:I, s:i, s:i}", "portal", p->name, "sweep_id",
                   (json_int_t)sweep_id, "complete", complete, "counts", counts, "duration_ms",
                   (json_int_t)duration, "errors", errors, "changes",
                   (int)json_array_size(events));
    if (!complete && err[0])
        json_object_set_new(ev, "error", json_string(err));
    mon_publish(m, "monitor.sweep_finished", ev);
    json_decref(ev);
    VG_INFO(m->host,
            "sweep %lld of portal %s %s in %lld ms: %lld datasets, %lld resources, %lld up, "
            "%lld degraded, %lld down, %d changes (listing %lld ms [%d pages, fetch %.0f ms, "
            "parse %.0f ms], checks %lld ms, store %lld ms)%s%s",
            (long long)sweep_id, p->name, complete ? "finished" : "incomplete",
            (long long)duration, c.datasets, c.resources, c.up, c.degraded, c.down,
            (int)json_array_size(events), (long long)(t_list - t0), L.pages, L.fetch_ms,
            L.parse_ms,
            (long long)(t_checks - t_list), (long long)(t_end - t_checks), err[0] ? ": " : "",
            err);
    json_decref(counts);
    json_decref(events);
    mon_listing_free(&L);
}
