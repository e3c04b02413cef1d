/* Integration: the open-data signals through the real vigia (monitor,
 * notifications, rest, busbridge) against the CKAN fixture portal:
 *   - freshness against the frequency each dataset declares, in several
 *     spellings and places (field, extra, DCAT URI, none), on datasets
 *     updated on time and late (the fixture moves metadata_modified and the
 *     resources' last_modified back N days): the exact states after the
 *     baseline, dataset.freshness_changed on each transition and the es
 *     notifications;
 *   - resources re-created under new ids (same URL; same name): one
 *     dataset.resource_recreated with old and new id, not one removal plus
 *     one addition in dataset.modified;
 *   - format drift: a "CSV" that serves a ZIP, then a PDF: announced once
 *     each, with what is served;
 *   - the history: GET /api/datasets/{id}/changes, newest first;
 *   - the report per organisation (REST, CSV);
 *   - content change from ETag / Last-Modified / Content-Length, a file made
 *     per request left out, and the change counted as an update. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mt.h"

enum { D_MONTHLY, D_ANNUAL, D_WEEKLY, D_NOT_PLANNED, D_NONE, D_COUNT };

static mt_fixture fx;
static vgt_server srv;
static char ids[D_COUNT][40];
static char res_ids[D_COUNT][40];

static void control(const char *fmt, ...)
{
    char op[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(op, sizeof op, fmt, ap);
    va_end(ap);
    json_t *r = mt_control(&fx, op);
    if (!r || json_object_get(json_array_get(json_object_get(r, "results"), 0), "error"))
        fail_msg("control %s failed", op);
    json_decref(r);
}

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int setup(void **state)
{
    (void)state;
    const char *args[] = {"--datasets", "5",      "--orgs", "1", "--resources-per-dataset",
                          "1",          "--seed", "13",     NULL};
    if (mt_fixture_start(&fx, args) < 0)
        return -1;
    json_t *page = mt_fixture_get(&fx, "/api/3/action/package_search?rows=10&sort=id%20asc");
    json_t *results = json_object_get(json_object_get(page, "result"), "results");
    for (size_t i = 0; i < D_COUNT; i++) {
        json_t *d = json_array_get(results, i);
        snprintf(ids[i], sizeof ids[i], "%s", str(d, "id"));
        snprintf(res_ids[i], sizeof res_ids[i], "%s",
                 str(json_array_get(json_object_get(d, "resources"), 0), "id"));
    }
    json_decref(page);
    /* what each dataset declares, where and how real portals write it */
    control("{\"op\":\"set_frequency\",\"id\":\"%s\",\"key\":\"frequency\",\"value\":\"Mensual\"}",
            ids[D_MONTHLY]);
    control("{\"op\":\"set_modified\",\"id\":\"%s\",\"days_ago\":10}", ids[D_MONTHLY]);
    control("{\"op\":\"set_frequency\",\"id\":\"%s\",\"key\":\"extra:frecuencia\","
            "\"value\":\"ANUAL\"}",
            ids[D_ANNUAL]);
    control("{\"op\":\"set_modified\",\"id\":\"%s\",\"days_ago\":800}", ids[D_ANNUAL]);
    control("{\"op\":\"set_frequency\",\"id\":\"%s\",\"key\":\"accrualPeriodicity\",\"value\":"
            "\"http://publications.europa.eu/resource/authority/frequency/WEEKLY\"}",
            ids[D_WEEKLY]);
    control("{\"op\":\"set_modified\",\"id\":\"%s\",\"days_ago\":8}", ids[D_WEEKLY]);
    control("{\"op\":\"set_frequency\",\"id\":\"%s\",\"key\":\"extra:Frecuencia de "
            "actualizaci\\u00f3n\",\"value\":\"No planificada\"}",
            ids[D_NOT_PLANNED]);
    control("{\"op\":\"set_frequency\",\"id\":\"%s\",\"key\":\"\"}", ids[D_NONE]);
    char *ini = mt_ini(&fx, "", "fail_threshold = 1\n");
    char *all = NULL;
    int rc = ini ? asprintf(&all, "%s\n[notifications]\nlanguage = es\n", ini) : -1;
    free(ini);
    if (rc < 0)
        return -1;
    rc = vgt_server_start(&srv, "monitor,notifications,rest,busbridge", NULL, all);
    free(all);
    if (rc)
        return rc;
    json_t *fin = mt_wait_sweep(&srv, 0, 60000); /* the baseline: nothing announced */
    if (!fin)
        return -1;
    json_decref(fin);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int rc = vgt_server_stop_clean(&srv);
    mt_fixture_stop(&fx);
    return rc;
}

static json_t *get_dataset(const char *id)
{
    char params[128];
    snprintf(params, sizeof params, "{\"id\":\"%s\"}", id);
    int rc;
    json_t *d = mt_call(&srv, "datasets.get", params, &rc);
    assert_int_equal(rc, 0);
    return d;
}

/* The one event of `topic` about dataset `id` after `since` (fails if not one). */
static json_t *one_event(long long since, const char *topic, const char *id)
{
    json_t *ev = mt_events(&srv, since, topic);
    json_t *found = NULL;
    size_t i, n = 0;
    json_t *e;
    json_array_foreach (ev, i, e) {
        json_t *p = json_object_get(e, "payload");
        if (strcmp(str(json_object_get(p, "dataset"), "id"), id) == 0) {
            found = p;
            n++;
        }
    }
    if (n != 1)
        fail_msg("%zu %s events for %s, expected 1", n, topic, id);
    json_incref(found);
    json_decref(ev);
    return found;
}

/* The notifications whose data.kind is `kind`, newest first. */
static json_t *notifications_now(const char *kind)
{
    int rc;
    json_t *nl = mt_call(&srv, "notifications.list", "{\"limit\":100}", &rc);
    assert_int_equal(rc, 0);
    json_t *out = json_array();
    size_t i;
    json_t *n;
    json_t *items = json_object_get(nl, "items");
    if (!items)
        items = json_object_get(nl, "notifications");
    json_array_foreach (items, i, n)
        if (strcmp(str(json_object_get(n, "data"), "kind"), kind) == 0)
            json_array_append(out, n);
    json_decref(nl);
    return out;
}

/* ... once there are `want` of them: the notifications plugin writes them
 * when the sweep's end reaches it, a moment after the monitor's. */
static json_t *notifications(const char *kind, size_t want)
{
    json_t *out = NULL;
    for (int i = 0; i < 100; i++) {
        json_decref(out);
        out = notifications_now(kind);
        if (json_array_size(out) >= want)
            break;
        usleep(50 * 1000);
    }
    if (json_array_size(out) != want)
        fail_msg("%zu notifications of kind %s, expected %zu", json_array_size(out), kind, want);
    return out;
}

static void freshness(void **state)
{
    (void)state;
    static const struct {
        int ds;
        const char *state;
        double period;
    } after_baseline[] = {{D_MONTHLY, "fresh", 30},
                          {D_ANNUAL, "delinquent", 365},
                          {D_WEEKLY, "due", 7},
                          {D_NOT_PLANNED, "unknown", -1},
                          {D_NONE, "unknown", -1}};
    for (size_t i = 0; i < sizeof after_baseline / sizeof *after_baseline; i++) {
        json_t *d = get_dataset(ids[after_baseline[i].ds]);
        json_t *f = json_object_get(d, "freshness");
        char *dump = json_dumps(f, JSON_COMPACT);
        fprintf(stderr, "# %s: %s\n", ids[after_baseline[i].ds], dump);
        free(dump);
        assert_string_equal(str(f, "state"), after_baseline[i].state);
        if (after_baseline[i].period > 0)
            assert_true(json_real_value(json_object_get(f, "period_days")) ==
                        after_baseline[i].period);
        else
            assert_true(json_is_null(json_object_get(f, "period_days")));
        json_decref(d);
    }
    json_t *ev = mt_events(&srv, 0, "dataset.freshness_changed");
    assert_int_equal(json_array_size(ev), 0); /* the baseline announces nothing */
    json_decref(ev);

    /* 50 days without an update on a monthly dataset: overdue (45-60 days) */
    control("{\"op\":\"set_modified\",\"id\":\"%s\",\"days_ago\":50}", ids[D_MONTHLY]);
    long long since;
    json_decref(mt_sweep(&srv, &since));
    json_t *p = one_event(since, "dataset.freshness_changed", ids[D_MONTHLY]);
    assert_string_equal(str(p, "previous"), "fresh");
    assert_string_equal(str(p, "current"), "overdue");
    assert_string_equal(str(p, "frequency"), "Mensual");
    assert_true(json_real_value(json_object_get(p, "period_days")) == 30.0);
    assert_non_null(str(p, "last_update"));
    assert_non_null(str(p, "due_at"));
    assert_non_null(str(p, "overdue_at"));
    assert_non_null(str(p, "delinquent_at"));
    json_decref(p);
    ev = mt_events(&srv, since, "dataset.freshness_changed");
    assert_int_equal(json_array_size(ev), 1); /* nobody else moved */
    json_decref(ev);
    json_t *nl = notifications("dataset_stale", 1);
    const char *msg = str(json_array_get(nl, 0), "message");
    fprintf(stderr, "# %s\n", msg);
    assert_non_null(strstr(msg, "está atrasado: declara una frecuencia «Mensual» y su última "
                                "actualización fue el "));
    json_decref(nl);

    /* then 61 days: delinquent; the annual one is updated: fresh again */
    control("{\"op\":\"set_modified\",\"id\":\"%s\",\"days_ago\":61}", ids[D_MONTHLY]);
    control("{\"op\":\"modify_dataset\",\"id\":\"%s\",\"touch\":true}", ids[D_ANNUAL]);
    json_decref(mt_sweep(&srv, &since));
    p = one_event(since, "dataset.freshness_changed", ids[D_MONTHLY]);
    assert_string_equal(str(p, "previous"), "overdue");
    assert_string_equal(str(p, "current"), "delinquent");
    json_decref(p);
    p = one_event(since, "dataset.freshness_changed", ids[D_ANNUAL]);
    assert_string_equal(str(p, "previous"), "delinquent");
    assert_string_equal(str(p, "current"), "fresh");
    assert_string_equal(str(p, "frequency"), "ANUAL");
    json_decref(p);
    nl = notifications("dataset_stale", 2);
    assert_non_null(strstr(str(json_array_get(nl, 0), "message"), "está muy atrasado"));
    json_decref(nl);
    nl = notifications("dataset_refreshed", 1);
    assert_non_null(strstr(str(json_array_get(nl, 0), "title"), "Dataset al día otra vez: "));
    json_decref(nl);
    /* a sweep with no change says nothing */
    json_decref(mt_sweep(&srv, &since));
    ev = mt_events(&srv, since, "dataset.freshness_changed");
    assert_int_equal(json_array_size(ev), 0);
    json_decref(ev);
}

static void recreated_resources(void **state)
{
    (void)state;
    control("{\"op\":\"recreate_resource\",\"id\":\"%s\",\"position\":0,\"match\":\"url\"}",
            ids[D_WEEKLY]);
    control("{\"op\":\"recreate_resource\",\"id\":\"%s\",\"position\":0,\"match\":\"name\"}",
            ids[D_NOT_PLANNED]);
    long long since;
    json_decref(mt_sweep(&srv, &since));
    const struct {
        int ds;
        const char *by;
    } cases[] = {{D_WEEKLY, "url"}, {D_NOT_PLANNED, "name"}};
    for (size_t c = 0; c < 2; c++) {
        const char *id = ids[cases[c].ds];
        json_t *p = one_event(since, "dataset.resource_recreated", id);
        json_t *r = json_array_get(json_object_get(p, "resources"), 0);
        assert_int_equal(json_array_size(json_object_get(p, "resources")), 1);
        assert_string_equal(str(r, "old_id"), res_ids[cases[c].ds]);
        assert_string_not_equal(str(r, "new_id"), res_ids[cases[c].ds]);
        assert_string_equal(str(r, "matched_by"), cases[c].by);
        json_decref(p);
        /* not one removal plus one addition */
        p = one_event(since, "dataset.modified", id);
        json_t *ch = json_object_get(p, "changes");
        assert_null(json_object_get(ch, "resources_added"));
        assert_null(json_object_get(ch, "resources_removed"));
        assert_int_equal(json_array_size(json_object_get(ch, "resources_recreated")), 1);
        json_decref(p);
    }
    json_t *nl = notifications("dataset_resource_recreated", 2);
    fprintf(stderr, "# %s\n", str(json_array_get(nl, 0), "message"));
    assert_non_null(strstr(str(json_array_get(nl, 0), "message"), "cambió de id ("));
    json_decref(nl);
}

static void format_drift(void **state)
{
    (void)state;
    const char *rid = res_ids[D_NONE], *id = ids[D_NONE];
    control("[{\"op\":\"set_format\",\"id\":\"%s\",\"format\":\"CSV\"},"
            "{\"op\":\"set_resource\",\"id\":\"%s\",\"behaviour\":\"zip\"}]",
            rid, rid);
    long long since;
    json_decref(mt_sweep(&srv, &since));
    json_t *p = one_event(since, "dataset.format_drift", id);
    json_t *r = json_array_get(json_object_get(p, "resources"), 0);
    assert_string_equal(str(r, "id"), rid);
    assert_string_equal(str(r, "format"), "CSV");
    assert_string_equal(str(r, "served"), "zip");
    assert_string_equal(str(r, "content_type"), "application/zip");
    assert_true(json_is_null(json_object_get(r, "previous")));
    json_decref(p);
    /* still a ZIP: nothing new */
    json_decref(mt_sweep(&srv, &since));
    json_t *ev = mt_events(&srv, since, "dataset.format_drift");
    assert_int_equal(json_array_size(ev), 0);
    json_decref(ev);
    /* now a PDF */
    control("{\"op\":\"set_resource\",\"id\":\"%s\",\"behaviour\":\"pdf\"}", rid);
    json_decref(mt_sweep(&srv, &since));
    p = one_event(since, "dataset.format_drift", id);
    r = json_array_get(json_object_get(p, "resources"), 0);
    assert_string_equal(str(r, "served"), "pdf");
    assert_string_equal(str(r, "previous"), "zip");
    json_decref(p);
    json_t *nl = notifications("dataset_format_drift", 2);
    fprintf(stderr, "# %s\n", str(json_array_get(nl, 0), "message"));
    assert_non_null(
        strstr(str(json_array_get(nl, 0), "message"), "se declara CSV pero entrega PDF"));
    json_decref(nl);
    /* serving a CSV again clears it silently; a later ZIP is news again */
    control("{\"op\":\"set_resource\",\"id\":\"%s\",\"behaviour\":\"up\"}", rid);
    json_decref(mt_sweep(&srv, &since));
    control("{\"op\":\"set_resource\",\"id\":\"%s\",\"behaviour\":\"zip\"}", rid);
    json_decref(mt_sweep(&srv, &since));
    p = one_event(since, "dataset.format_drift", id);
    assert_true(json_is_null(
        json_object_get(json_array_get(json_object_get(p, "resources"), 0), "previous")));
    json_decref(p);
}

static void history(void **state)
{
    (void)state;
    char path[160];
    snprintf(path, sizeof path, "/api/datasets/%s/changes?days=2", ids[D_MONTHLY]);
    vgt_response r;
    assert_int_equal(vgt_get(&srv, path, &r), 0);
    assert_int_equal(r.status, 200);
    json_t *j = json_loads(r.body, 0, NULL);
    vgt_response_free(&r);
    /* newest first: delinquent, then overdue, each beside the metadata change
     * that moved the date (set_modified) */
    json_t *fresh = json_array(), *c;
    size_t i, modified = 0;
    json_array_foreach (json_object_get(j, "changes"), i, c) {
        assert_non_null(str(c, "at"));
        assert_null(json_object_get(c, "dataset"));
        if (strcmp(str(c, "topic"), "dataset.freshness_changed") == 0)
            json_array_append(fresh, c);
        modified += strcmp(str(c, "topic"), "dataset.modified") == 0;
    }
    assert_int_equal(json_array_size(fresh), 2);
    assert_int_equal(modified, 2);
    assert_string_equal(str(json_array_get(fresh, 0), "current"), "delinquent");
    assert_string_equal(str(json_array_get(fresh, 1), "current"), "overdue");
    json_decref(fresh);
    assert_string_equal(str(json_object_get(json_object_get(j, "dataset"), "freshness"), "state"),
                        "delinquent");
    json_decref(j);
    /* the re-created and drifted datasets keep theirs, beside the metadata changes */
    snprintf(path, sizeof path, "/api/datasets/%s/changes", ids[D_NONE]);
    assert_int_equal(vgt_get(&srv, path, &r), 0);
    j = json_loads(r.body, 0, NULL);
    vgt_response_free(&r);
    size_t drift = 0;
    json_array_foreach (json_object_get(j, "changes"), i, c)
        drift += strcmp(str(c, "topic"), "dataset.format_drift") == 0;
    assert_int_equal(drift, 3);
    json_decref(j);
    assert_int_equal(vgt_get(&srv, "/api/datasets/no-such-dataset/changes", &r), 0);
    assert_int_equal(r.status, 404);
    vgt_response_free(&r);
}

static json_t *rest_json(const char *path, long want)
{
    vgt_response r;
    assert_int_equal(vgt_get(&srv, path, &r), 0);
    if (r.status != want)
        fail_msg("%s: %ld %s", path, r.status, r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    vgt_response_free(&r);
    assert_non_null(j);
    return j;
}

/* The public report per organisation, from what the sweeps stored: a
 * dataset goes down and is repaired; the report counts it, its repair time,
 * the freshness shares, and lists what to fix first. */
static void organization_report(void **state)
{
    (void)state;
    const char *rid = res_ids[D_MONTHLY];
    control("{\"op\":\"set_resource\",\"id\":\"%s\",\"behaviour\":\"404\"}", rid);
    json_decref(mt_sweep(&srv, NULL));
    json_t *o = rest_json("/api/organizations/ministerio_de_salud", 200);
    assert_int_equal(json_integer_value(json_object_get(o, "datasets")), 5);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "status"), "down")), 1);
    assert_int_equal(json_integer_value(json_object_get(o, "resources_broken")), 1);
    assert_true(json_real_value(json_object_get(o, "broken_share")) == 0.2);
    json_t *fix = json_object_get(o, "to_fix");
    assert_string_equal(str(json_array_get(fix, 0), "id"), ids[D_MONTHLY]);
    assert_string_equal(str(json_array_get(fix, 0), "why"), "down");
    json_decref(o);

    control("{\"op\":\"set_resource\",\"id\":\"%s\",\"behaviour\":\"up\"}", rid);
    json_decref(mt_sweep(&srv, NULL));
    json_t *l = rest_json("/api/organizations?sort=-broken_share", 200);
    assert_int_equal(json_integer_value(json_object_get(l, "total")), 1);
    o = json_array_get(json_object_get(l, "items"), 0);
    char *dump = json_dumps(o, JSON_COMPACT);
    fprintf(stderr, "# %s\n", dump);
    free(dump);
    assert_string_equal(str(o, "organization"), "ministerio_de_salud");
    assert_int_equal(json_integer_value(json_object_get(o, "resources_broken")), 0);
    assert_true(json_real_value(json_object_get(o, "broken_share")) == 0.0);
    assert_int_equal(json_integer_value(json_object_get(o, "repairs")), 1);
    double mttr = json_real_value(json_object_get(o, "median_repair_hours"));
    assert_true(mttr >= 0 && mttr < 0.1); /* the seconds between two sweeps */
    double av = json_real_value(json_object_get(o, "availability_30d"));
    assert_true(av > 50 && av < 100); /* one failed check among the day's */
    assert_true(json_real_value(json_object_get(o, "availability_365d")) == av);
    json_t *spark = json_object_get(o, "availability_daily");
    assert_int_equal(json_array_size(spark), 30);
    assert_true(json_real_value(json_array_get(spark, 29)) == av); /* today, last */
    assert_true(json_is_null(json_array_get(spark, 0)));
    /* freshness: monthly delinquent, annual fresh, weekly due; 2 undeclared */
    json_t *f = json_object_get(o, "freshness");
    assert_int_equal(json_integer_value(json_object_get(f, "delinquent")), 1);
    assert_int_equal(json_integer_value(json_object_get(f, "fresh")), 1);
    assert_int_equal(json_integer_value(json_object_get(f, "due")), 1);
    assert_int_equal(json_integer_value(json_object_get(f, "unknown")), 2);
    assert_true(json_real_value(json_object_get(o, "delinquent_share")) == 0.3333);
    assert_int_equal(json_integer_value(json_object_get(o, "schema_changes")),
                     0); /* measured: none */
    json_decref(l);
    /* what to fix first, now: the delinquent monthly dataset */
    o = rest_json("/api/organizations/ministerio_de_salud?portal=fx", 200);
    fix = json_object_get(o, "to_fix");
    assert_int_equal(json_array_size(fix), 1);
    assert_string_equal(str(json_array_get(fix, 0), "why"), "delinquent");
    assert_string_equal(str(json_array_get(fix, 0), "frequency"), "Mensual");
    json_decref(o);
    json_decref(rest_json("/api/organizations/no-such-org", 404));
    json_decref(rest_json("/api/organizations?sort=bogus", 400));
    /* the table as CSV */
    vgt_response r;
    assert_int_equal(vgt_get(&srv, "/api/organizations?format=csv", &r), 0);
    assert_int_equal(r.status, 200);
    fprintf(stderr, "# %s", r.body);
    assert_non_null(strstr(r.body, "portal,organization,organization_title,datasets,"
                                   "availability_30d,"));
    assert_non_null(
        strstr(r.body, "\r\nfx,ministerio_de_salud,Organismo 0 (ministerio_de_salud),5,"));
    vgt_response_free(&r);
}

/* Content change from the answers' validators: a new version of a file is
 * announced with what moved and counts as an update for freshness; a file
 * made per request (Last-Modified = Date, a new ETag each time) is not. */
static void content_change(void **state)
{
    (void)state;
    /* a file made per request: its first answer so is a change seen from
     * outside (the file was just updated, for all one can tell) */
    control("{\"op\":\"set_resource\",\"id\":\"%s\",\"behaviour\":\"regen\"}", res_ids[D_MONTHLY]);
    long long since;
    json_decref(mt_sweep(&srv, &since));
    control("{\"op\":\"touch_resource\",\"id\":\"%s\"}", res_ids[D_ANNUAL]);
    /* the weekly dataset's file, served under its re-created id: due -> fresh */
    control("{\"op\":\"touch_resource\",\"id\":\"%s\"}", res_ids[D_WEEKLY]);
    sleep(1); /* a new Date for the per-request file */
    json_decref(mt_sweep(&srv, &since));
    json_t *p = one_event(since, "dataset.content_changed", ids[D_ANNUAL]);
    json_t *r = json_array_get(json_object_get(p, "resources"), 0);
    assert_string_equal(str(r, "id"), res_ids[D_ANNUAL]);
    json_t *changed = json_object_get(r, "changed");
    assert_int_equal(json_array_size(changed), 3);
    assert_string_equal(json_string_value(json_array_get(changed, 0)), "etag");
    assert_string_equal(json_string_value(json_array_get(changed, 1)), "last_modified");
    assert_string_equal(json_string_value(json_array_get(changed, 2)), "content_length");
    json_t *len = json_object_get(r, "content_length");
    assert_int_equal(json_integer_value(json_object_get(len, "new")),
                     json_integer_value(json_object_get(len, "old")) + 1);
    assert_string_not_equal(str(json_object_get(r, "etag"), "old"),
                            str(json_object_get(r, "etag"), "new"));
    json_decref(p);
    json_decref(one_event(since, "dataset.content_changed", ids[D_WEEKLY]));
    p = one_event(since, "dataset.freshness_changed", ids[D_WEEKLY]);
    assert_string_equal(str(p, "previous"), "due");
    assert_string_equal(str(p, "current"), "fresh");
    json_decref(p);
    json_t *ev = mt_events(&srv, since, "dataset.content_changed");
    assert_int_equal(mt_count(ev, NULL, ids[D_MONTHLY]), 0); /* made per request */
    assert_int_equal(json_array_size(ev), 2);
    json_decref(ev);
    /* nothing new: nothing said, the per-request file included */
    json_decref(mt_sweep(&srv, &since));
    ev = mt_events(&srv, since, "dataset.content_changed");
    assert_int_equal(json_array_size(ev), 0);
    json_decref(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(freshness),           cmocka_unit_test(recreated_resources),
        cmocka_unit_test(format_drift),        cmocka_unit_test(history),
        cmocka_unit_test(organization_report), cmocka_unit_test(content_change),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
