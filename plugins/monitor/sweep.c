/* monitor: one sweep of one portal: list, check, compare with what the
 * database knows, decide removals (removal.c), commit, then announce what
 * changed. Each step is one function working on a `sweep`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vigia/contract/monitor.h>

#include "monitor.h"
#include "signals.h"
#include "store.h"

/* The bus queue is bounded: wait a little rather than lose an event.
 * `payload` is borrowed: each attempt hands the bus its own reference. It
 * gets its "v" here, once, before the bus sees it. */
int mon_publish(mon_plugin *m, const char *topic, json_t *payload)
{
    vg_bus *bus = m->host->bus;
    if (!json_object_get(payload, VG_EVENT_V))
        json_object_set_new(payload, VG_EVENT_V, json_integer(VG_MONITOR_V));
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

static json_t *dataset_json(const char *portal, const char *id, const char *name, const char *title,
                            const char *org, const char *org_title, const char *url, int status,
                            int64_t last_checked)
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
    json_object_set_new(o, "last_checked", mon_iso_or_null(last_checked));
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
        json_object_set_new(
            ch, "metadata_modified",
            json_pack("{s:o, s:o}", "old", jstr(p->modified), "new", jstr(d->modified)));
    if (str_differs(p->title, d->title))
        json_object_set_new(ch, "title",
                            json_pack("{s:o, s:o}", "old", jstr(p->title), "new", jstr(d->title)));
    json_t *added = json_array(), *removed = json_array(), *urls = json_array();
    /* a resource re-created under a new id is one change, not two (identity.c) */
    size_t maxrec = p->nres < d->nres ? p->nres : d->nres, nrec = 0;
    mon_recreated *rec = maxrec ? calloc(maxrec, sizeof *rec) : NULL;
    if (rec)
        nrec = mon_identity_match(p->res, p->nres, d->res, d->nres, rec);
    json_t *recreated = json_array();
    for (size_t j = 0; j < nrec; j++) {
        const mon_prev_res *o = &p->res[rec[j].prev];
        const mon_res *n = &d->res[rec[j].cur];
        json_array_append_new(recreated,
                              json_pack("{s:o, s:s, s:o, s:o, s:o, s:s}", "old_id", jstr(o->id),
                                        "new_id", n->id, "name", jstr(n->name), "url", jstr(n->url),
                                        "old_url", jstr(o->url), "matched_by", rec[j].matched_by));
    }
    for (size_t i = 0; i < d->nres; i++) {
        bool paired = false;
        for (size_t j = 0; j < nrec && !paired; j++)
            paired = rec[j].cur == i;
        if (paired)
            continue;
        const mon_prev_res *pr = NULL;
        for (size_t k = 0; k < p->nres && !pr; k++)
            if (p->res[k].id && strcmp(p->res[k].id, d->res[i].id) == 0)
                pr = &p->res[k];
        if (!pr)
            json_array_append_new(added,
                                  json_pack("{s:s, s:o, s:o}", "id", d->res[i].id, "name",
                                            jstr(d->res[i].name), "url", jstr(d->res[i].url)));
        else if (str_differs(pr->url, d->res[i].url))
            json_array_append_new(urls,
                                  json_pack("{s:s, s:o, s:o}", "resource_id", d->res[i].id, "old",
                                            jstr(pr->url), "new", jstr(d->res[i].url)));
    }
    for (size_t k = 0; k < p->nres; k++) {
        bool found = false;
        for (size_t j = 0; j < nrec && !found; j++)
            found = rec[j].prev == k;
        for (size_t i = 0; i < d->nres && !found; i++)
            found = p->res[k].id && strcmp(p->res[k].id, d->res[i].id) == 0;
        if (!found)
            json_array_append_new(removed, json_pack("{s:o, s:o}", "id", jstr(p->res[k].id), "url",
                                                     jstr(p->res[k].url)));
    }
    if (json_array_size(added))
        json_object_set(ch, "resources_added", added);
    if (json_array_size(removed))
        json_object_set(ch, "resources_removed", removed);
    if (json_array_size(urls))
        json_object_set(ch, "urls_changed", urls);
    if (json_array_size(recreated))
        json_object_set(ch, "resources_recreated", recreated);
    json_decref(recreated);
    free(rec);
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
                              "url", jstr(r->url), "status", mon_rstatus_name(r->status), "reason",
                              r->reason ? r->reason : VG_MONITOR_REASON_UNKNOWN);
        json_object_set_new(o, "http_status",
                            r->http_status ? json_integer(r->http_status) : json_null());
        if (r->error)
            json_object_set_new(o, "error", json_string(r->error));
        json_array_append_new(arr, o);
    }
    return arr;
}

typedef struct sweep_counts {
    long long datasets, resources, up, down, degraded, unknown, restricted, empty;
    long long r_up, r_down, r_restricted, r_invalid, r_rate_limited;
} sweep_counts;

/* Everything one sweep carries from step to step. */
typedef struct sweep {
    mon_plugin *m;
    mon_portal_rt *rt;
    const mon_portal_cfg *p;
    int64_t id, started, t0, t_list, t_checks;
    mon_http_opts ho;
    mon_listing L;
    mon_prev prev;
    mon_sigprev sig; /* the open-data signals' previous state (signals.c) */
    mon_rm_item *rm; /* prev's live datasets, for removal.c */
    size_t nrm;
    mon_rm_result rr;
    sweep_counts c;
    json_t *events;  /* [topic, payload] pairs, published after the commit */
    json_t *content; /* the body pass's figures, or NULL */
    char err[512];
    const char *reason; /* why the sweep is not complete, or NULL */
    int errors;
    bool listed;  /* the listing is usable */
    bool applied; /* the changes were committed */
    bool cancelled;
} sweep;

static json_t *counts_json(const sweep_counts *c)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "datasets",
                     (json_int_t)c->datasets, "resources", (json_int_t)c->resources, "up",
                     (json_int_t)c->up, "down", (json_int_t)c->down, "degraded",
                     (json_int_t)c->degraded, "unknown", (json_int_t)c->unknown, "restricted",
                     (json_int_t)c->restricted, "empty", (json_int_t)c->empty, "rate_limited",
                     (json_int_t)c->r_rate_limited);
}

/* A store write that failed: keep the real SQLite error for the report. */
static void store_failed(sweep *s, const char *what)
{
    s->errors++;
    VG_ERROR(s->m->host, "portal %s: %s failed: %s", s->p->name, what,
             mon_store_errmsg(s->m->store));
    if (!s->err[0] || !s->reason || strcmp(s->reason, VG_MONITOR_SWEEP_STORE_ERROR) != 0) {
        snprintf(s->err, sizeof s->err, "%s failed: %s", what, mon_store_errmsg(s->m->store));
        s->reason = VG_MONITOR_SWEEP_STORE_ERROR;
    }
}

static void persist_portal(sweep *s)
{
    mon_portal_rt *rt = s->rt;
    pthread_mutex_lock(&s->m->mu);
    char state[16];
    snprintf(state, sizeof state, "%s", rt->state);
    int baseline = rt->baseline_done, failures = rt->failures, held = rt->held;
    char err[512];
    snprintf(err, sizeof err, "%s", rt->last_error);
    pthread_mutex_unlock(&s->m->mu);
    if (mon_store_portal_set(s->m->store, s->p->name, state, baseline, err[0] ? err : NULL,
                             failures, held) < 0)
        store_failed(s, "saving the portal state");
}

/* up after a usable listing; down only after fail_threshold failed sweeps in
 * a row, like a dataset. A change is announced; unknown -> up is not news. */
static void portal_outcome(sweep *s, bool ok)
{
    mon_portal_rt *rt = s->rt;
    pthread_mutex_lock(&s->m->mu);
    char prev[16];
    snprintf(prev, sizeof prev, "%s", rt->state);
    rt->failures = ok ? 0 : rt->failures + 1;
    char state[16];
    snprintf(state, sizeof state, "%s",
             ok                                     ? VG_MONITOR_PORTAL_UP
             : rt->failures >= s->p->fail_threshold ? VG_MONITOR_PORTAL_DOWN
                                                    : prev);
    memcpy(rt->state, state, sizeof state);
    snprintf(rt->last_error, sizeof rt->last_error, "%s", ok ? "" : s->err);
    int failures = rt->failures;
    pthread_mutex_unlock(&s->m->mu);
    if (strcmp(prev, state) != 0 &&
        (strcmp(state, VG_MONITOR_PORTAL_DOWN) == 0 || strcmp(prev, VG_MONITOR_PORTAL_DOWN) == 0)) {
        json_t *ev = json_pack("{s:s, s:s, s:s, s:o, s:o, s:i}", "portal", s->p->name, "previous",
                               prev, "current", state, "error", ok ? json_null() : jstr(s->err),
                               "reason", ok ? json_null() : jstr(s->reason), "failures", failures);
        json_array_append_new(s->events,
                              json_pack("[s, o]", VG_MONITOR_EV_PORTAL_STATUS_CHANGED, ev));
    }
}

static void sweep_begin(sweep *s)
{
    s->started = mon_wall_ms();
    s->t0 = mon_mono_ms();
    s->events = json_array();
    s->id = mon_store_sweep_begin(s->m->store, s->p->name, s->started);
    if (s->id < 0)
        store_failed(s, "recording the sweep start");
    char iso[40];
    mon_iso_ms(s->started, iso, sizeof iso);
    json_t *ev = json_pack("{s:s, s:I, s:s}", "portal", s->p->name, "sweep_id", (json_int_t)s->id,
                           "started_at", iso);
    mon_publish(s->m, VG_MONITOR_EV_SWEEP_STARTED, ev);
    json_decref(ev);
    VG_INFO(s->m->host, "sweep %lld of portal %s started", (long long)s->id, s->p->name);
}

/* The listing pass: a failure after every retry is a failed sweep. */
static void sweep_list(sweep *s)
{
    mon_plugin *m = s->m;
    s->ho =
        (mon_http_opts){.user_agent = m->cfg.user_agent,
                        .connect_timeout_ms = s->p->connect_timeout_ms,
                        .timeout_ms = s->p->timeout_ms,
                        .max_response_bytes = s->p->max_response_bytes,
                        .stop = &m->stop,
                        .max_json_depth = m->host->json_max_depth ? m->host->json_max_depth(m->host)
                                                                  : VG_JSON_MAX_DEPTH_DEFAULT,
                        .legacy_api = &s->rt->legacy_api};
    int lrc = mon_list_portal(s->p, &s->ho, &s->L, s->err, sizeof s->err);
    s->errors += s->L.errors;
    s->t_list = s->t_checks = mon_mono_ms();
    if (atomic_load(&m->stop)) {
        s->cancelled = true;
        s->reason = VG_MONITOR_SWEEP_CANCELLED;
        snprintf(s->err, sizeof s->err, "sweep cancelled");
        return;
    }
    if (lrc < 0) {
        s->errors++;
        s->reason = VG_MONITOR_SWEEP_LISTING_FAILED;
        VG_WARN(m->host, "portal %s: listing failed: %s", s->p->name, s->err);
        if (mon_store_mark_stale(m->store, s->p->name) < 0)
            store_failed(s, "marking datasets stale");
        return;
    }
    s->listed = true;
    if (!s->L.complete) {
        s->reason = VG_MONITOR_SWEEP_LISTING_INCOMPLETE;
        snprintf(s->err, sizeof s->err, "listing incomplete: %s", s->L.incomplete);
        VG_WARN(m->host, "portal %s: %s; nothing is removed from it", s->p->name, s->err);
    }
    if (s->L.n > 1)
        qsort(s->L.ds, s->L.n, sizeof *s->L.ds, cmp_ds);
}

static void sweep_check(sweep *s)
{
    mon_plugin *m = s->m;
    if (mon_store_load_prev(m->store, s->p->name, &s->prev) < 0 ||
        mon_store_sig_load(m->store, s->p->name, &s->sig) < 0 ||
        mon_store_recent_attach(m->store, s->p->name, &s->L) < 0) {
        store_failed(s, "loading the previous state");
        s->listed = false;
        return;
    }
    size_t nitems = 0;
    for (size_t i = 0; i < s->L.n; i++)
        nitems += s->L.ds[i].nres;
    mon_res **items = calloc(nitems ? nitems : 1, sizeof *items);
    if (!items) {
        snprintf(s->err, sizeof s->err, "out of memory");
        s->listed = false;
        return;
    }
    nitems = 0;
    for (size_t i = 0; i < s->L.n; i++)
        for (size_t k = 0; k < s->L.ds[i].nres; k++)
            items[nitems++] = &s->L.ds[i].res[k];
    mon_check_opts co = {.user_agent = m->cfg.user_agent,
                         .concurrency = m->cfg.concurrency,
                         .per_host = s->p->per_host,
                         .per_host_interval_ms = s->p->per_host_interval_ms,
                         .connect_timeout_ms = s->p->connect_timeout_ms,
                         .timeout_ms = s->p->timeout_ms,
                         .slow_ms = s->p->slow_ms,
                         .rate_limit_max_wait_ms = s->p->rate_limit_max_wait_ms,
                         .rate_limit_retries = s->p->rate_limit_retries,
                         .stop = &m->stop};
    int crc = mon_check_all(&co, items, nitems);
    free(items);
    s->t_checks = mon_mono_ms();
    if (crc == -ECANCELED || atomic_load(&m->stop)) {
        s->cancelled = true;
        s->reason = VG_MONITOR_SWEEP_CANCELLED;
        snprintf(s->err, sizeof s->err, "sweep cancelled");
        s->listed = false;
    } else if (crc < 0) {
        snprintf(s->err, sizeof s->err, "resource checks failed: %d", crc);
        s->reason = VG_MONITOR_SWEEP_CHECKS_FAILED;
        s->errors++;
        s->listed = false;
    }
}

/* Which resources the body pass reads this sweep (at most content_max_per_sweep:
 * those left are still due next sweep): a sample of the tabular
 * ones whose schema is older than schema_interval (and of those marked as
 * drifting, whose first bytes decide when the mark goes), a hash of those
 * whose hash is older than hash_interval. Only answers with the data. */
static size_t content_plan(sweep *s, mon_res **items, int64_t now)
{
    const mon_portal_cfg *p = s->p;
    size_t n = 0;
    for (size_t i = 0; i < s->L.n; i++) {
        mon_ds *d = &s->L.ds[i];
        for (size_t k = 0; k < d->nres; k++) {
            mon_res *r = &d->res[k];
            if (!r->checked || r->invalid || r->rate_limited || r->status != MON_R_UP || r->soft)
                continue;
            if (p->content_max_per_sweep > 0 && (long long)n >= p->content_max_per_sweep)
                return n;
            bool sample = false, hash = false;
            if (p->schema_drift) {
                const mon_sigkv *sk = mon_sigprev_schema(&s->sig, d->id, r->id);
                bool marked = mon_sigprev_served(&s->sig, d->id, r->id) != NULL;
                sample = (mon_is_tabular(r) && (!sk || now - sk->at >= p->schema_interval_ms)) ||
                         (marked && r->nmagic == 0);
            }
            if (p->hashing) {
                const mon_sigkv *hk = mon_sigprev_hash(&s->sig, d->id, r->id);
                hash = !hk || now - hk->at >= p->hash_interval_ms;
            }
            if (!sample && !hash)
                continue;
            r->body = calloc(1, sizeof *r->body);
            if (!r->body)
                continue; /* out of memory: this resource is not read this time */
            r->body->sample_wanted = sample;
            /* the answer said it is too large: not even started */
            if (hash && r->content_length > p->hash_max_bytes)
                r->body->hash = MON_HASH_SKIPPED_LARGE;
            else
                r->body->hash_wanted = hash;
            items[n++] = r;
        }
    }
    return n;
}

/* The files whose hash moved are fetched again a few seconds later: a file
 * made anew on every request differs again and is not announced. */
static size_t content_recheck(sweep *s, mon_res **items, size_t n)
{
    size_t again = 0;
    int64_t recheck_s = s->p->hash_interval_ms * 7 / 1000, now_s = mon_wall_ms() / 1000;
    for (size_t i = 0; i < s->L.n; i++) {
        mon_ds *d = &s->L.ds[i];
        for (size_t k = 0; k < d->nres; k++) {
            mon_res *r = &d->res[k];
            /* a page where data was promised (the sample said so) is no content */
            if (!r->body || r->body->hash != MON_HASH_DONE || r->status != MON_R_UP || r->soft)
                continue;
            const mon_sigkv *hk = mon_sigprev_hash(&s->sig, d->id, r->id);
            mon_regen_state was, next;
            mon_regen_parse(hk ? hk->val : NULL, &was, NULL, 0);
            if (mon_regen_decide(&was, r->body->sha256, NULL, now_s, recheck_s, &next) ==
                MON_REGEN_NEED_RECHECK) {
                r->body->recheck_wanted = true;
                again++;
            }
        }
    }
    (void)items;
    (void)n;
    return again;
}

/* The body pass (content.c), with its own politeness budget. */
static void sweep_content(sweep *s)
{
    const mon_portal_cfg *p = s->p;
    mon_plugin *m = s->m;
    if (!p->schema_drift && !p->hashing)
        return;
    int64_t t0 = mon_mono_ms();
    size_t nitems = 0;
    for (size_t i = 0; i < s->L.n; i++)
        nitems += s->L.ds[i].nres;
    mon_res **items = calloc(nitems ? nitems : 1, sizeof *items);
    if (!items)
        return;
    size_t n = content_plan(s, items, mon_wall_ms());
    mon_body_opts bo = {.user_agent = m->cfg.user_agent,
                        .concurrency = p->content_concurrency,
                        .per_host = p->content_per_host,
                        .sample_bytes = p->schema_sample_bytes,
                        .hash_max_bytes = p->hash_max_bytes,
                        .per_host_interval_ms = p->content_per_host_interval_ms,
                        .connect_timeout_ms = p->connect_timeout_ms,
                        .timeout_ms = p->timeout_ms,
                        .stop = &m->stop};
    mon_body_stats st = {0};
    for (size_t i = 0; i < n; i++)
        st.too_large += items[i]->body->hash == MON_HASH_SKIPPED_LARGE;
    int rc = n ? mon_body_fetch(&bo, items, n, false, &st) : 0;
    size_t again = rc == 0 ? content_recheck(s, items, n) : 0;
    if (again) {
        for (int64_t left = p->hash_recheck_delay_ms; left > 0 && !atomic_load(&m->stop);
             left -= 50) {
            struct timespec ts = {0, (long)(left < 50 ? left : 50) * 1000000L};
            nanosleep(&ts, NULL);
        }
        rc = mon_body_fetch(&bo, items, n, true, &st);
    }
    free(items);
    s->content = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "sampled", (json_int_t)st.sampled,
                           "hashed", (json_int_t)st.hashed, "too_large", (json_int_t)st.too_large,
                           "rechecked", (json_int_t)st.rechecked, "failed", (json_int_t)st.failed,
                           "bytes", (json_int_t)st.bytes, "ms", (json_int_t)(mon_mono_ms() - t0));
    if (rc == -ECANCELED || atomic_load(&m->stop)) {
        s->cancelled = true;
        s->reason = VG_MONITOR_SWEEP_CANCELLED;
        snprintf(s->err, sizeof s->err, "sweep cancelled");
        s->listed = false;
    }
    VG_INFO(m->host,
            "portal %s: body pass: %lld sampled, %lld hashed, %lld too large to hash, %lld "
            "fetched again, %lld failed, %lld bytes in %lld ms",
            p->name, st.sampled, st.hashed, st.too_large, st.rechecked, st.failed, st.bytes,
            (long long)(mon_mono_ms() - t0));
}

typedef struct confirm_ctx {
    sweep *s;
    int calls;
} confirm_ctx;

/* package_show, politely spaced like the listing's pages. */
static int confirm_gone(void *ctx, const char *id)
{
    confirm_ctx *cc = ctx;
    sweep *s = cc->s;
    if (atomic_load(&s->m->stop))
        return -1;
    if (cc->calls++ > 0 || s->L.pages > 0) {
        for (int64_t left = s->p->api_delay_ms; left > 0 && !atomic_load(&s->m->stop); left -= 50) {
            struct timespec ts = {0, (long)(left < 50 ? left : 50) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    int v = mon_confirm_gone(s->p, &s->ho, id);
    VG_INFO(s->m->host, "portal %s: package_show %s: %s", s->p->name, id,
            v > 0    ? "gone"
            : v == 0 ? "still there, kept"
                     : "no answer, kept for now");
    return v;
}

/* The removal decision (network: package_show), before the write batch so no
 * database lock is held while waiting for the portal. */
static void sweep_plan_removals(sweep *s)
{
    s->rm = calloc(s->prev.n ? s->prev.n : 1, sizeof *s->rm);
    if (!s->rm) {
        snprintf(s->err, sizeof s->err, "out of memory");
        s->listed = false;
        return;
    }
    for (size_t k = 0; k < s->prev.n; k++) {
        const mon_prev_ds *pd = &s->prev.ds[k];
        if (pd->removed)
            continue;
        mon_ds key = {.id = pd->id};
        mon_rm_item *it = &s->rm[s->nrm++];
        it->id = pd->id;
        it->missing = pd->missing;
        it->listed = s->L.n && bsearch(&key, s->L.ds, s->L.n, sizeof *s->L.ds, cmp_ds);
    }
    confirm_ctx cc = {.s = s};
    mon_rm_opts o = {.remove_after = (int)s->p->remove_after,
                     .max_fraction = s->p->max_removed_fraction,
                     .confirm = confirm_gone,
                     .ctx = &cc};
    pthread_mutex_lock(&s->m->mu);
    bool held_before = s->rt->held != 0;
    pthread_mutex_unlock(&s->m->mu);
    mon_removal_plan(s->rm, s->nrm, s->L.complete, held_before, &o, &s->rr);
}

static mon_prev_ds *find_prev(mon_prev *prev, const char *id)
{
    mon_prev_ds key = {.id = (char *)id};
    return prev->n ? bsearch(&key, prev->ds, prev->n, sizeof *prev->ds, cmp_prev) : NULL;
}

/* What one dataset's checks of this sweep add up to. */
typedef struct ds_tally {
    int observed; /* mon_dstatus */
    int64_t last_checked;
    int checks, ok, lat_n; /* uptime samples for the daily roll-up */
    double lat_sum;
} ds_tally;

/* Writes each check of `d`, counts them, and observes the dataset's status. */
static int tally_checks(sweep *s, mon_wbatch *b, const mon_ds *d, ds_tally *t)
{
    sweep_counts *c = &s->c;
    mon_res_outcome stack_out[16];
    mon_res_outcome *out = d->nres <= 16 ? stack_out : calloc(d->nres, sizeof *out);
    if (!out)
        return -ENOMEM;
    int rc = 0;
    for (size_t k = 0; k < d->nres; k++) {
        const mon_res *r = &d->res[k];
        out[k].status = r->checked ? r->status : MON_R_UNKNOWN;
        out[k].slow = r->slow;
        out[k].soft = r->soft;
        if (!r->checked)
            continue;
        t->last_checked = r->checked_at > t->last_checked ? r->checked_at : t->last_checked;
        if (r->invalid) {
            c->r_invalid++;
        } else if (r->rate_limited) {
            c->r_rate_limited++; /* not a check of the resource: no uptime sample */
        } else {
            t->checks++;
            t->ok += r->status == MON_R_UP || r->status == MON_R_RESTRICTED;
            t->lat_sum += r->latency_ms;
            t->lat_n++;
            c->r_up += r->status == MON_R_UP;
            c->r_down += r->status == MON_R_DOWN;
            c->r_restricted += r->status == MON_R_RESTRICTED;
        }
        c->restricted += r->status == MON_R_RESTRICTED;
        rc |= mon_wbatch_check(b, s->p->name, d->id, r, s->id);
    }
    t->observed = mon_dataset_observe(out, d->nres);
    if (out != stack_out)
        free(out);
    return rc ? -EIO : 0;
}

static void count_dataset(sweep_counts *c, const mon_ds *d, const mon_hyst *h)
{
    c->datasets++;
    c->resources += (long long)d->nres;
    c->up += h->status == MON_D_UP;
    c->down += h->status == MON_D_DOWN;
    c->degraded += h->status == MON_D_DEGRADED;
    c->unknown += h->status == MON_D_UNKNOWN;
    c->empty += h->status == MON_D_EMPTY;
}

/* One listed dataset: classify its checks, write it, queue its events. */
static int apply_dataset(sweep *s, mon_wbatch *b, mon_sig_ctx *sc, mon_ds *d, bool quiet,
                         int64_t now)
{
    size_t first_event = json_array_size(s->events);
    const char *portal = s->p->name;
    mon_prev_ds *pd = find_prev(&s->prev, d->id);
    bool returned = pd && pd->removed;
    mon_hyst h = pd ? pd->h : (mon_hyst){MON_D_UNKNOWN, MON_D_UNKNOWN, 0};
    int before = h.status;
    ds_tally t = {.last_checked = pd ? pd->last_checked : 0};
    int rc = tally_checks(s, b, d, &t);
    if (rc == -ENOMEM)
        return rc;
    rc |= mon_wbatch_recent(b, portal, d);
    int64_t last_checked = t.last_checked;
    bool changed =
        mon_hyst_feed(&h, t.observed, (int)s->p->fail_threshold, (int)s->p->recover_threshold);
    rc |= mon_wbatch_dataset(b, portal, d, &h, t.observed, last_checked, now, pd);
    if (t.checks > 0)
        rc |= mon_wbatch_daily(b, portal, d->id, now, t.checks, t.ok, t.lat_sum, t.lat_n);
    if (t.checks > 0 && sc) /* the organisation report's roll-up (signals.c) */
        mon_signals_tally(sc, d->org, t.checks, t.ok);
    count_dataset(&s->c, d, &h);

    json_t *dj = dataset_json(portal, d->id, d->name, d->title, d->org, d->org_title, d->url,
                              h.status, last_checked);
    json_int_t sid = (json_int_t)s->id;
    if ((!pd && !quiet) || returned) /* a return is the same dataset, back */
        json_array_append_new(
            s->events, json_pack("[s, {s:s, s:I, s:O, s:b}]", VG_MONITOR_EV_DATASET_ADDED, "portal",
                                 portal, "sweep_id", sid, "dataset", dj, "returned", returned));
    json_t *ch = pd && !returned ? diff_dataset(pd, d) : NULL;
    if (ch)
        json_array_append_new(s->events, json_pack("[s, {s:s, s:I, s:O, s:O}]",
                                                   VG_MONITOR_EV_DATASET_MODIFIED, "portal", portal,
                                                   "sweep_id", sid, "dataset", dj, "changes", ch));
    if (sc && mon_signals_dataset(sc, d, dj, ch) < 0)
        rc |= -EIO;
    json_decref(ch);
    /* unknown -> up is the normal first classification: not news; nor is a
     * new dataset that starts empty (dataset.added tells) */
    if (changed &&
        !(before == MON_D_UNKNOWN && (h.status == MON_D_UP || h.status == MON_D_EMPTY || quiet))) {
        char at[40];
        mon_iso_ms(last_checked ? last_checked : now, at, sizeof at);
        json_array_append_new(s->events, json_pack("[s, {s:s, s:I, s:O, s:s, s:s, s:o, s:s}]",
                                                   VG_MONITOR_EV_DATASET_STATUS_CHANGED, "portal",
                                                   portal, "sweep_id", sid, "dataset", dj,
                                                   "previous", mon_dstatus_name(before), "current",
                                                   mon_dstatus_name(h.status), "failing",
                                                   failing_list(d), "checked_at", at));
    }
    json_decref(dj);
    if (sc && mon_signals_history(sc, d->id, first_event) < 0)
        rc |= -EIO;
    return rc ? -EIO : 0;
}

/* Writes what removal.c decided: removals, missing counters, the hold. */
static int apply_removals(sweep *s, mon_wbatch *b, int64_t now)
{
    int rc = 0;
    for (size_t i = 0; i < s->nrm && rc == 0; i++) {
        const mon_rm_item *it = &s->rm[i];
        mon_prev_ds *pd = find_prev(&s->prev, it->id);
        if (it->remove) {
            rc |= mon_wbatch_remove(b, s->p->name, it->id, now);
            json_array_append_new(
                s->events,
                json_pack("[s, {s:s, s:I, s:o}]", VG_MONITOR_EV_DATASET_REMOVED, "portal",
                          s->p->name, "sweep_id", (json_int_t)s->id, "dataset",
                          dataset_json(s->p->name, pd->id, pd->name, pd->title, pd->org,
                                       pd->org_title, pd->url, pd->h.status, pd->last_checked)));
        } else if (!it->listed && it->missing != pd->missing) {
            rc |= mon_wbatch_missing(b, s->p->name, it->id, it->missing);
        }
    }
    return rc ? -EIO : 0;
}

/* Holds a mass removal for one sweep and says so once. */
static void hold_outcome(sweep *s)
{
    if (!s->L.complete)
        return;
    pthread_mutex_lock(&s->m->mu);
    bool was = s->rt->held != 0;
    s->rt->held = s->rr.held;
    pthread_mutex_unlock(&s->m->mu);
    if (!s->rr.held || was)
        return;
    VG_WARN(s->m->host,
            "portal %s: %zu of %zu datasets would be removed at once (over %.0f%%): held until "
            "the next sweep confirms it",
            s->p->name, s->rr.candidates, s->nrm, s->p->max_removed_fraction * 100);
    json_array_append_new(s->events,
                          json_pack("[s, {s:s, s:I, s:s, s:I, s:I, s:f}]",
                                    VG_MONITOR_EV_PORTAL_WARNING_RAISED, "portal", s->p->name,
                                    "sweep_id", (json_int_t)s->id, "reason",
                                    VG_MONITOR_WARNING_MASS_REMOVAL_HELD, "candidates",
                                    (json_int_t)s->rr.candidates, "datasets", (json_int_t)s->nrm,
                                    "max_removed_fraction", s->p->max_removed_fraction));
}

/* The apply pass: one transaction for everything the listing changed. */
static void sweep_apply(sweep *s)
{
    mon_plugin *m = s->m;
    if (!mon_lease_fence(m, s->p->name, s->err, sizeof s->err)) {
        s->cancelled = true; /* another node sweeps this portal now */
        s->reason = VG_MONITOR_SWEEP_CANCELLED;
        return;
    }
    pthread_mutex_lock(&m->mu);
    bool quiet = !s->rt->baseline_done && !m->cfg.announce_initial;
    pthread_mutex_unlock(&m->mu);
    int64_t now = mon_wall_ms();
    mon_wbatch *b = mon_wbatch_begin(m->store);
    if (!b) {
        store_failed(s, "starting the sweep's transaction");
        return;
    }
    mon_sig_ctx sc = {.p = s->p,
                      .sweep_id = s->id,
                      .now = now,
                      .quiet = quiet,
                      .prev = &s->sig,
                      .b = mon_sigbatch_begin(m->store),
                      .events = s->events};
    int rc = sc.b ? 0 : -EIO;
    for (size_t i = 0; i < s->L.n && rc == 0; i++)
        rc = apply_dataset(s, b, &sc, &s->L.ds[i], quiet, now);
    size_t removals_from = json_array_size(s->events);
    if (rc == 0)
        rc = apply_removals(s, b, now);
    if (rc == 0 && mon_signals_history(&sc, NULL, removals_from) < 0)
        rc = -EIO;
    if (rc == 0 && mon_wbatch_prune_recent(b, s->p->name) < 0)
        rc = -EIO;
    if (rc == 0 && mon_signals_flush(&sc) < 0)
        rc = -EIO;
    json_decref(sc.org_daily); /* when an error came first */
    if (mon_sigbatch_end(sc.b) < 0 && rc == 0)
        rc = -EIO;
    char dberr[256] = "";
    int erc = mon_wbatch_end(b, rc == 0, dberr, sizeof dberr);
    if (rc < 0 || erc < 0) {
        s->errors++;
        s->reason = VG_MONITOR_SWEEP_STORE_ERROR;
        snprintf(s->err, sizeof s->err, "database write failed: %s",
                 dberr[0]        ? dberr
                 : rc == -ENOMEM ? "out of memory"
                                 : "unknown error");
        VG_ERROR(m->host, "portal %s: %s", s->p->name, s->err);
        json_array_clear(s->events);
        return;
    }
    s->applied = true;
    hold_outcome(s);
}

static void sweep_counts_from_store(sweep *s)
{
    long long by[MON_D_COUNT];
    sweep_counts *c = &s->c;
    if (mon_store_counts(s->m->store, s->p->name, by, &c->resources, &c->restricted) < 0) {
        store_failed(s, "counting datasets");
        return;
    }
    c->unknown = by[MON_D_UNKNOWN];
    c->up = by[MON_D_UP];
    c->degraded = by[MON_D_DEGRADED];
    c->down = by[MON_D_DOWN];
    c->empty = by[MON_D_EMPTY];
    c->datasets = c->unknown + c->up + c->degraded + c->down + c->empty;
}

/* Records the outcome, updates the portal, publishes, logs. */
static void sweep_finish(sweep *s)
{
    mon_plugin *m = s->m;
    mon_portal_rt *rt = s->rt;
    bool complete = s->applied && s->L.complete;
    if (!s->cancelled && s->reason && strcmp(s->reason, VG_MONITOR_SWEEP_STORE_ERROR) != 0)
        portal_outcome(s, s->listed); /* incomplete is not an outage */
    else if (complete)
        portal_outcome(s, true);
    if (!complete) /* what the database knows, stale as it is */
        sweep_counts_from_store(s);
    if (s->applied) {
        pthread_mutex_lock(&m->mu);
        rt->baseline_done |= complete;
        rt->checks_up += s->c.r_up;
        rt->checks_down += s->c.r_down;
        rt->checks_restricted += s->c.r_restricted;
        rt->checks_invalid += s->c.r_invalid;
        pthread_mutex_unlock(&m->mu);
    }
    if (!s->cancelled)
        persist_portal(s);
    int64_t finished = mon_wall_ms();
    int64_t t_end = mon_mono_ms(), duration = t_end - s->t0;
    json_t *counts = counts_json(&s->c);
    int changes = (int)json_array_size(s->events);
    if (s->id >= 0 &&
        mon_store_sweep_finish(m->store, s->id, finished, complete, counts, s->errors, changes) < 0)
        store_failed(s, "recording the sweep end");
    if (complete && mon_store_retention(m->store, finished, m->cfg.history_days) < 0)
        store_failed(s, "pruning old checks");
    if (complete && mon_store_sig_retention(m->store, finished) < 0)
        store_failed(s, "pruning old changes");
    if (s->reason && strcmp(s->reason, VG_MONITOR_SWEEP_STORE_ERROR) == 0) {
        pthread_mutex_lock(&m->mu);
        snprintf(rt->last_error, sizeof rt->last_error, "%s", s->err);
        pthread_mutex_unlock(&m->mu);
    }
    /* announce after the commit, so readers already see the new state */
    size_t i;
    json_t *pair;
    json_array_foreach (s->events, i, pair)
        mon_publish(m, json_string_value(json_array_get(pair, 0)), json_array_get(pair, 1));
    char iso[40], fin_iso[40];
    mon_iso_ms(s->started, iso, sizeof iso);
    mon_iso_ms(finished, fin_iso, sizeof fin_iso);
    json_t *last = json_pack(
        "{s:s, s:s, s:I, s:O, s:b, s:I, s:i, s:I, s:I, s:I, s:i, s:o}", "started_at", iso,
        "finished_at", fin_iso, "duration_ms", (json_int_t)duration, "counts", counts, "complete",
        complete, "sweep_id", (json_int_t)s->id, "errors", s->errors, "listing_ms",
        (json_int_t)(s->t_list - s->t0), "checks_ms", (json_int_t)(s->t_checks - s->t_list),
        "store_ms", (json_int_t)(t_end - s->t_checks), "retries", s->L.retries, "reason",
        jstr(complete ? NULL : s->reason));
    if (s->content)
        json_object_set(last, "content", s->content);
    pthread_mutex_lock(&m->mu);
    json_decref(rt->last_sweep);
    rt->last_sweep = last;
    pthread_mutex_unlock(&m->mu);
    json_t *ev = json_pack("{s:s, s:I, s:b, s:O, s:I, s:i, s:i, s:i, s:I, s:o}", "portal",
                           s->p->name, "sweep_id", (json_int_t)s->id, "complete", complete,
                           "counts", counts, "duration_ms", (json_int_t)duration, "errors",
                           s->errors, "changes", changes, "retries", s->L.retries, "removed",
                           (json_int_t)s->rr.removed, "reason", jstr(complete ? NULL : s->reason));
    if (!complete && s->err[0])
        json_object_set_new(ev, "error", json_string(s->err));
    if (s->content)
        json_object_set(ev, "content", s->content);
    mon_publish(m, VG_MONITOR_EV_SWEEP_FINISHED, ev);
    json_decref(ev);
    VG_INFO(m->host,
            "sweep %lld of portal %s %s in %lld ms: %lld datasets, %lld resources, %lld up, "
            "%lld degraded, %lld down, %d changes (listing %lld ms [%d pages, %d retries, fetch "
            "%.0f ms, parse %.0f ms], checks %lld ms, store %lld ms)%s%s",
            (long long)s->id, s->p->name, complete ? "finished" : "incomplete", (long long)duration,
            s->c.datasets, s->c.resources, s->c.up, s->c.degraded, s->c.down, changes,
            (long long)(s->t_list - s->t0), s->L.pages, s->L.retries, s->L.fetch_ms, s->L.parse_ms,
            (long long)(s->t_checks - s->t_list), (long long)(t_end - s->t_checks),
            s->err[0] ? ": " : "", s->err);
    json_decref(counts);
}

void mon_sweep_portal(mon_plugin *m, size_t idx)
{
    sweep s;
    memset(&s, 0, sizeof s);
    s.m = m;
    s.rt = &m->rt[idx];
    s.p = s.rt->cfg;
    sweep_begin(&s);
    if (s.id >= 0)
        sweep_list(&s);
    if (s.listed)
        sweep_check(&s);
    if (s.listed) {
        sweep_content(&s);
        s.t_checks = mon_mono_ms(); /* checks_ms holds the body pass too ("content".ms) */
    }
    if (s.listed)
        sweep_plan_removals(&s);
    if (s.listed)
        sweep_apply(&s);
    sweep_finish(&s);
    free(s.rm);
    mon_prev_free(&s.prev);
    mon_sigprev_free(&s.sig);
    mon_listing_free(&s.L);
    json_decref(s.events);
    json_decref(s.content);
}
