/* monitor: the open-data signals of one listed dataset in a sweep, beside
 * its up/down status: freshness against the declared frequency, format
 * drift of its resources, re-created resources (found by the sweep's diff),
 * and the history row of every dataset event. Called by sweep.c inside the
 * sweep's transaction; events are queued like the sweep's own, published
 * after the commit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vigia/contract/monitor.h>

#include "signals.h"

/* Queues `topic` about the resources in `list` of one dataset; nothing when
 * the list is empty. */
static void resources_event(mon_sig_ctx *c, const char *topic, const json_t *dj, const json_t *list)
{
    if (json_array_size(list))
        json_array_append_new(c->events, json_pack("[s, {s:s, s:I, s:O, s:O}]", topic, "portal",
                                                   c->p->name, "sweep_id", (json_int_t)c->sweep_id,
                                                   "dataset", dj, "resources", list));
}

static json_t *jstr(const char *s) { return s ? json_string(s) : json_null(); }

/* Transitions worth an event: any change but the first sight of a dataset
 * (a baseline, even after an upgrade) and unknown <-> fresh (a frequency
 * declared or dropped on a dataset that is on time). */
static bool fresh_news(int before, int now)
{
    if (before < 0 || before == now)
        return false;
    return !((before == MON_F_UNKNOWN && now == MON_F_FRESH) ||
             (before == MON_F_FRESH && now == MON_F_UNKNOWN));
}

static int freshness(mon_sig_ctx *c, const mon_ds *d, const json_t *dj, int64_t content_at)
{
    long long period = 0;
    int declared = d->frequency ? mon_freq_parse(d->frequency, &period) : -1;
    if (declared <= 0)
        period = 0;
    int64_t last = mon_last_update_ms(d, content_at);
    mon_fresh_opts o = {c->p->fresh_overdue, c->p->fresh_delinquent};
    int state = c->p->freshness ? mon_fresh_state(period, last, c->now, &o) : MON_F_UNKNOWN;
    const mon_sigkv *pk = mon_sigprev_fresh(c->prev, d->id);
    int before = pk ? mon_fstate_parse(pk->val) : -1;
    int64_t since = before == state && pk->at > 0 ? pk->at : c->now;
    /* switched off: every state reads unknown, which is no news */
    if (c->p->freshness && fresh_news(before, state) && !c->quiet) {
        json_t *ev =
            json_pack("{s:s, s:I, s:O, s:s, s:s, s:o, s:o, s:o}", "portal", c->p->name, "sweep_id",
                      (json_int_t)c->sweep_id, "dataset", dj, "previous", mon_fstate_name(before),
                      "current", mon_fstate_name(state), "frequency", jstr(d->frequency),
                      "period_days", period > 0 ? json_real((double)period / 86400.0) : json_null(),
                      "last_update", mon_iso_or_null(last));
        if (period > 0 && last > 0) {
            json_object_set_new(ev, "due_at", mon_iso_or_null(last + period * 1000));
            json_object_set_new(
                ev, "overdue_at",
                mon_iso_or_null(last + (int64_t)((double)period * 1000 * o.overdue)));
            json_object_set_new(
                ev, "delinquent_at",
                mon_iso_or_null(last + (int64_t)((double)period * 1000 * o.delinquent)));
        }
        json_array_append_new(c->events,
                              json_pack("[s, o]", VG_MONITOR_EV_DATASET_FRESHNESS_CHANGED, ev));
    }
    return mon_sigbatch_fresh(c->b, c->p->name, d->id, d->frequency, period, last,
                              mon_fstate_name(state), since, content_at);
}

/* A format drift is announced when a resource starts serving something its
 * declared format is not (or something else again); nothing is said while it
 * stays so, and the mark goes when it serves what it declares again. */
static int format_drift(mon_sig_ctx *c, const mon_ds *d, const json_t *dj)
{
    json_t *list = json_array();
    int rc = 0;
    for (size_t i = 0; i < d->nres && rc == 0; i++) {
        const mon_res *r = &d->res[i];
        /* only what answered tells what it serves */
        if (!r->checked || r->invalid || r->rate_limited || r->status == MON_R_DOWN ||
            r->status == MON_R_UNKNOWN)
            continue;
        const char *served =
            r->reason && strcmp(r->reason, VG_MONITOR_REASON_HTML_INSTEAD_OF_DATA) == 0
                ? VG_MONITOR_SERVED_HTML
                : mon_served_kind(r->content_type, r->magic, r->nmagic);
        bool drift =
            r->status != MON_R_RESTRICTED && mon_format_drifts(r->format, r->mimetype, served);
        const mon_sigkv *pk = mon_sigprev_served(c->prev, d->id, r->id);
        if (drift && (!pk || !pk->val || strcmp(pk->val, served) != 0)) {
            json_t *o = json_pack("{s:s, s:o, s:o, s:o, s:o, s:s, s:o}", "id", r->id, "name",
                                  jstr(r->name), "url", jstr(r->url), "format", jstr(r->format),
                                  "mimetype", jstr(r->mimetype), "served", served, "content_type",
                                  jstr(r->content_type));
            json_object_set_new(o, "previous", pk && pk->val ? json_string(pk->val) : json_null());
            json_array_append_new(list, o);
            rc = mon_sigbatch_served(c->b, c->p->name, d->id, r->id, served, c->now);
        } else if (!drift && pk) {
            rc = mon_sigbatch_served(c->b, c->p->name, d->id, r->id, NULL, c->now);
        }
    }
    if (!c->quiet)
        resources_event(c, VG_MONITOR_EV_DATASET_FORMAT_DRIFT, dj, list);
    json_decref(list);
    return rc;
}

/* "etag\x1flast-modified\x1flength\x1fR" of one answer; R is "1" when its
 * Last-Modified was its own Date (checker.c). */
static void validators(const mon_res *r, char *out, size_t size)
{
    char len[24] = "";
    if (r->content_length >= 0)
        snprintf(len, sizeof len, "%lld", r->content_length);
    snprintf(out, size, "%s\x1f%s\x1f%s\x1f%s", r->etag ? r->etag : "",
             r->last_modified ? r->last_modified : "", len, r->regenerated ? "1" : "");
}

/* Field `i` (0 etag, 1 last-modified, 2 length) of a validators string. */
static void field(const char *v, int i, char *out, size_t size)
{
    for (; i > 0 && v; i--) {
        v = strchr(v, '\x1f');
        v = v ? v + 1 : NULL;
    }
    size_t n = 0;
    while (v && v[n] && v[n] != '\x1f')
        n++;
    snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), v ? v : "");
}

int mon_regen_parse(const char *val, mon_regen_state *out, char *status, size_t size)
{
    memset(out, 0, sizeof *out);
    if (status && size)
        status[0] = 0;
    if (!val)
        return -1;
    char f[4][80];
    for (int i = 0; i < 4; i++)
        field(val, i, f[i], sizeof f[i]);
    if (strlen(f[0]) == 64)
        memcpy(out->sha256, f[0], 65);
    out->is_volatile = f[1][0] == '1';
    out->volatile_checked = strtoll(f[2], NULL, 10);
    if (status && size)
        snprintf(status, size, "%s", f[3]);
    return 0;
}

void mon_regen_format(const mon_regen_state *st, const char *status, char *out, size_t size)
{
    snprintf(out, size, "%s\x1f%s\x1f%lld\x1f%s", st->sha256, st->is_volatile ? "1" : "",
             (long long)st->volatile_checked, status ? status : "");
}

/* The content hash of this sweep (content.c) against the one kept: the
 * verdict of mon_regen_decide, or -1 when the file was not hashed now. A
 * file too large to hash is recorded as such. Sets *was to the state kept
 * before (its hash is the "old" of a change). */
static int hash_verdict(mon_sig_ctx *c, const mon_ds *d, const mon_res *r, mon_regen_state *was,
                        int *rc)
{
    const mon_sigkv *hk = mon_sigprev_hash(c->prev, d->id, r->id);
    mon_regen_parse(hk ? hk->val : NULL, was, NULL, 0);
    const mon_body *b = r->body;
    char val[256];
    if (b && b->hash == MON_HASH_SKIPPED_LARGE) {
        mon_regen_format(was, VG_MONITOR_HASH_TOO_LARGE, val, sizeof val);
        *rc = mon_sigbatch_hash(c->b, c->p->name, d->id, r->id, val, c->now);
        return -1;
    }
    if (!b || b->hash != MON_HASH_DONE)
        return -1;
    mon_regen_state next;
    int64_t recheck_s = c->p->hash_interval_ms * 7 / 1000;
    mon_regen_verdict v =
        mon_regen_decide(was, b->sha256, b->again == MON_HASH_DONE ? b->sha256_again : NULL,
                         c->now / 1000, recheck_s, &next);
    if (v == MON_REGEN_NEED_RECHECK) /* the second fetch failed: try again next time */
        return -1;
    mon_regen_format(&next, v == MON_REGEN_VOLATILE ? VG_MONITOR_HASH_REGENERATED : "ok", val,
                     sizeof val);
    *rc = mon_sigbatch_hash(c->b, c->p->name, d->id, r->id, val, c->now);
    return (int)v;
}

/* Content change, from what the check's answer says (ETag, Last-Modified,
 * Content-Length) and, on the sweeps that hash, from the bytes: a field that
 * both answers carry and that moved. When the file was hashed the hash
 * decides (a new ETag on the same bytes is no change); a file whose hash
 * differs on two fetches seconds apart is made per request and never
 * announced. The first sight of a resource is a baseline. Returns the
 * dataset's last content change (this sweep's time when one moved now), 0
 * when none is known. */
static int64_t content(mon_sig_ctx *c, const mon_ds *d, const json_t *dj, int *rc)
{
    static const char *const names[3] = {"etag", "last_modified", "content_length"};
    const mon_sigkv *fk = mon_sigprev_fresh(c->prev, d->id);
    int64_t at = fk ? fk->at2 : 0;
    json_t *list = json_array();
    for (size_t i = 0; i < d->nres && *rc == 0; i++) {
        const mon_res *r = &d->res[i];
        if (!r->checked || r->status != MON_R_UP || r->soft || r->rate_limited)
            continue; /* only an answer with the data tells about the data */
        mon_regen_state was;
        int verdict = hash_verdict(c, d, r, &was, rc);
        if (*rc)
            break;
        char now[512];
        validators(r, now, sizeof now);
        const mon_sigkv *pk = mon_sigprev_content(c->prev, d->id, r->id);
        bool same_headers = pk && pk->val && strcmp(pk->val, now) == 0;
        if (same_headers && verdict != MON_REGEN_CHANGED)
            continue;
        json_t *moved = json_object(), *which = json_array();
        /* Last-Modified = Date on two checks in a row: the file is made per
         * request (HDX sees it as a hash that differs seconds apart); its
         * ETag and Last-Modified then change every time and say nothing. Once
         * only is a file updated just before the check. */
        char was_r[4], is_r[4];
        field(pk && pk->val ? pk->val : "", 3, was_r, sizeof was_r);
        field(now, 3, is_r, sizeof is_r);
        bool per_request = was_r[0] && is_r[0];
        /* the bytes decide when they were read: same bytes, no change; bytes
         * that differ on every fetch, no news */
        bool quiet = verdict == MON_REGEN_SAME || verdict == MON_REGEN_VOLATILE ||
                     (verdict < 0 && was.is_volatile);
        for (int f = per_request ? 2 : 0; !quiet && pk && pk->val && f < 3; f++) {
            char a[256], b[256];
            field(pk->val, f, a, sizeof a);
            field(now, f, b, sizeof b);
            if (a[0] && b[0] && strcmp(a, b) != 0) {
                json_array_append_new(which, json_string(names[f]));
                json_object_set_new(moved, names[f],
                                    f == 2 ? json_pack("{s:I, s:I}", "old",
                                                       (json_int_t)strtoll(a, NULL, 10), "new",
                                                       (json_int_t)strtoll(b, NULL, 10))
                                           : json_pack("{s:s, s:s}", "old", a, "new", b));
            }
        }
        if (verdict == MON_REGEN_CHANGED) {
            json_array_append_new(which, json_string("sha256"));
            json_object_set_new(moved, "sha256",
                                json_pack("{s:s, s:s}", "old", was.sha256, "new", r->body->sha256));
        }
        bool changed = json_array_size(which) > 0;
        if (changed) {
            json_object_set_new(moved, "id", json_string(r->id));
            json_object_set_new(moved, "name", jstr(r->name));
            json_object_set_new(moved, "url", jstr(r->url));
            json_object_set(moved, "changed", which);
            /* what the bytes said: hashed now, too large to hash, or not read this sweep */
            json_object_set_new(moved, "hash",
                                verdict == MON_REGEN_CHANGED ? json_string(VG_MONITOR_HASH_CHANGED)
                                : r->body && r->body->hash == MON_HASH_SKIPPED_LARGE
                                    ? json_string(VG_MONITOR_HASH_TOO_LARGE)
                                    : json_null());
            json_array_append(list, moved);
            at = c->now;
        }
        json_decref(moved);
        json_decref(which);
        if (same_headers)
            continue;
        /* a field that appeared or went is recorded, not announced */
        *rc = mon_sigbatch_content(c->b, c->p->name, d->id, r->id, now,
                                   changed || !pk ? c->now : pk->at);
    }
    if (!c->quiet)
        resources_event(c, VG_MONITOR_EV_DATASET_CONTENT_CHANGED, dj, list);
    json_decref(list);
    return at;
}

/* Schema drift: the schema of this sweep's sample (content.c) against the
 * one kept; the change list and before/after summaries are the library's
 * (mon_schema_diff). The first sample is a baseline. */
static int schema(mon_sig_ctx *c, const mon_ds *d, const json_t *dj)
{
    json_t *list = json_array();
    int rc = 0;
    for (size_t i = 0; i < d->nres && rc == 0; i++) {
        const mon_res *r = &d->res[i];
        if (!r->body || !r->body->schema)
            continue;
        char *before = NULL;
        if (mon_sigprev_schema(c->prev, d->id, r->id))
            rc = mon_sigbatch_schema_get(c->b, c->p->name, d->id, r->id, &before);
        if (rc == 0 && before && strcmp(before, r->body->schema) != 0) {
            json_t *bj = json_loads(before, 0, NULL);          /* json-own-data: written by us */
            json_t *aj = json_loads(r->body->schema, 0, NULL); /* json-own-data */
            mon_schema sb, sa;
            memset(&sb, 0, sizeof sb);
            memset(&sa, 0, sizeof sa);
            if (bj && aj && mon_schema_from_json(bj, &sb) == 0 &&
                mon_schema_from_json(aj, &sa) == 0) {
                json_t *diff = mon_schema_diff(&sb, &sa);
                if (diff) {
                    json_object_del(diff, VG_EVENT_V);
                    json_object_set_new(diff, "id", json_string(r->id));
                    json_object_set_new(diff, "name", jstr(r->name));
                    json_object_set_new(diff, "url", jstr(r->url));
                    json_object_set_new(diff, "format", jstr(r->format));
                    json_array_append_new(list, diff);
                }
            }
            mon_schema_free(&sb);
            mon_schema_free(&sa);
            json_decref(bj);
            json_decref(aj);
        }
        free(before);
        if (rc == 0)
            rc = mon_sigbatch_schema(c->b, c->p->name, d->id, r->id, r->body->schema, c->now);
    }
    if (!c->quiet)
        resources_event(c, VG_MONITOR_EV_DATASET_SCHEMA_CHANGED, dj, list);
    json_decref(list);
    return rc;
}

int mon_signals_dataset(mon_sig_ctx *c, const mon_ds *d, const json_t *dj, const json_t *changes)
{
    const json_t *rec = json_object_get(changes, "resources_recreated");
    resources_event(c, VG_MONITOR_EV_DATASET_RESOURCE_RECREATED, dj, rec);
    int rc = format_drift(c, d, dj), crc = 0;
    rc |= schema(c, d, dj);
    int64_t content_at = content(c, d, dj, &crc);
    rc |= crc;
    rc |= freshness(c, d, dj, content_at);
    return rc ? -EIO : 0;
}

void mon_signals_tally(mon_sig_ctx *c, const char *organization, int checks, int ok)
{
    if (!c->org_daily && !(c->org_daily = json_object()))
        return;
    const char *k = organization ? organization : "";
    json_t *t = json_object_get(c->org_daily, k);
    if (!t) {
        t = json_pack("[I, I]", (json_int_t)0, (json_int_t)0);
        json_object_set_new(c->org_daily, k, t);
    }
    json_array_set_new(t, 0, json_integer(json_integer_value(json_array_get(t, 0)) + checks));
    json_array_set_new(t, 1, json_integer(json_integer_value(json_array_get(t, 1)) + ok));
}

int mon_signals_flush(mon_sig_ctx *c)
{
    int rc = 0;
    const char *k;
    json_t *t;
    json_object_foreach (c->org_daily, k, t)
        if (rc == 0)
            rc = mon_sigbatch_org_daily(c->b, c->p->name, k, c->now,
                                        json_integer_value(json_array_get(t, 0)),
                                        json_integer_value(json_array_get(t, 1)));
    json_decref(c->org_daily);
    c->org_daily = NULL;
    return rc;
}

int mon_signals_history(mon_sig_ctx *c, const char *dataset_id, size_t from)
{
    int rc = 0;
    for (size_t i = from; i < json_array_size(c->events) && rc == 0; i++) {
        json_t *pair = json_array_get(c->events, i);
        const char *topic = json_string_value(json_array_get(pair, 0));
        json_t *payload = json_array_get(pair, 1);
        const char *id =
            dataset_id
                ? dataset_id
                : json_string_value(json_object_get(json_object_get(payload, "dataset"), "id"));
        if (id && topic &&
            strncmp(topic, VG_MONITOR_EV_DATASET_PREFIX, strlen(VG_MONITOR_EV_DATASET_PREFIX)) == 0)
            rc = mon_sigbatch_change(c->b, c->p->name, id, c->now, topic, payload);
    }
    return rc;
}
