/* Integration: schema drift and content hashing through the real vigia
 * (monitor, notifications, watch, rest, busbridge) against the CKAN fixture,
 * whose files carry their own bytes (set_body):
 *   - a baseline sweep samples and hashes every CSV (nothing announced);
 *   - then each file changes in one way: a column added, removed, renamed,
 *     retyped, the delimiter, Latin-1 -> UTF-8 with BOM, a real new version
 *     (same columns), a file made anew on every request, a file larger than
 *     hash_max_bytes whose ETag moves (from a server that ignores Range: the
 *     sample is cut), and two "CSV"s whose HEAD still says text/csv but whose
 *     bytes are a ZIP and a web page (format drift from the sample);
 *   - one sweep later: exactly one dataset.schema_changed per changed schema
 *     with the library's change list, one dataset.content_changed for the new
 *     version (sha256 moved) and one for the large file (hash "too_large"),
 *     none for the file made per request (fetched twice, hashes differ);
 *   - the es notifications, a watch subscriber following schema_changed gets
 *     its delivery, the dataset's history and the organisation report count
 *     the schema changes;
 *   - a third sweep with nothing changed announces nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mt.h"

enum {
    D_ADD,
    D_REMOVE,
    D_RENAME,
    D_RETYPE,
    D_DELIM,
    D_ENC,
    D_REGEN,
    D_REAL,
    D_BIG,
    D_ZIP,
    D_HTML,
    D_COUNT
};
/* D_ZIP, D_HTML: the HEAD says text/csv, the bytes are a ZIP, a web page */

static mt_fixture fx;
static vgt_server srv;
static char ids[D_COUNT][40];
static char res_ids[D_COUNT][40];
static long long since_change;
static json_t *fin_change; /* sweep_finished of the sweep after the changes */

static const char k_base[] = "id,nombre,valor\\n1,Arica,10\\n2,Iquique,20\\n3,Antofagasta,30\\n";

static void control(const char *fmt, ...)
{
    char op[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(op, sizeof op, fmt, ap);
    va_end(ap);
    json_t *r = mt_control(&fx, op);
    if (!r || json_object_get(json_array_get(json_object_get(r, "results"), 0), "error"))
        fail_msg("control %s failed", op);
    json_decref(r);
}

static void body(int d, const char *text, const char *extra)
{
    control("{\"op\":\"set_body\",\"id\":\"%s\",\"body\":\"%s\"%s}", res_ids[d], text,
            extra ? extra : "");
}

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int setup(void **state)
{
    (void)state;
    const char *args[] = {"--datasets", "11",     "--orgs", "1", "--resources-per-dataset",
                          "1",          "--seed", "21",     NULL};
    if (mt_fixture_start(&fx, args) < 0)
        return -1;
    json_t *page = mt_fixture_get(&fx, "/api/3/action/package_search?rows=20&sort=id%20asc");
    json_t *results = json_object_get(json_object_get(page, "result"), "results");
    if (json_array_size(results) != D_COUNT)
        return -1;
    for (size_t i = 0; i < D_COUNT; i++) {
        json_t *d = json_array_get(results, i);
        snprintf(ids[i], sizeof ids[i], "%s", str(d, "id"));
        snprintf(res_ids[i], sizeof res_ids[i], "%s",
                 str(json_array_get(json_object_get(d, "resources"), 0), "id"));
    }
    json_decref(page);
    for (int i = 0; i < D_COUNT; i++) {
        control("{\"op\":\"set_format\",\"id\":\"%s\",\"format\":\"CSV\"}", res_ids[i]);
        if (i != D_BIG && i != D_ENC)
            body(i, k_base, i == D_REGEN ? ",\"regen\":true" : NULL);
    }
    /* the new version's dataset was last touched a month ago: its content change is the update */
    control("{\"op\":\"set_modified\",\"id\":\"%s\",\"days_ago\":30}", ids[D_REAL]);
    body(D_ENC, "id,regi\\u00f3n,valor\\n1,Valpara\\u00edso,10\\n2,\\u00d1uble,20\\n",
         ",\"latin1\":true");
    /* a server that ignores Range: the sample is cut at schema_sample_bytes */
    control("{\"op\":\"set_body\",\"id\":\"%s\",\"size\":300000,\"ignore_range\":true}",
            res_ids[D_BIG]);
    char *ini = mt_ini(&fx, "",
                       "fail_threshold = 1\nschema_drift = true\nhashing = true\n"
                       "schema_interval = 0\nhash_interval = 0\nhash_max_bytes = 65536\n"
                       "hash_recheck_delay = 300ms\ncontent_per_host = 4\n"
                       "content_per_host_interval = 0\n");
    char *all = NULL;
    int rc = ini ? asprintf(&all,
                            "%s\n[notifications]\nlanguage = es\nnotify_modified = "
                            "true\ndigest_threshold = 100\n"
                            "[watch]\ngroup_window = 200ms\ntick = 100ms\n",
                            ini)
                 : -1;
    free(ini);
    if (rc < 0)
        return -1;
    rc = vgt_server_start(&srv, "monitor,notifications,watch,rest,busbridge", NULL, all);
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
    json_decref(fin_change);
    int rc = vgt_server_stop_clean(&srv);
    mt_fixture_stop(&fx);
    return rc;
}

/* The resources[0] of the one event of `topic` about dataset `d` (fails unless one). */
static json_t *one_resource(long long since, const char *topic, int d)
{
    json_t *ev = mt_events(&srv, since, topic);
    json_t *found = NULL;
    size_t i, n = 0;
    json_t *e;
    json_array_foreach (ev, i, e) {
        json_t *p = json_object_get(e, "payload");
        if (strcmp(str(json_object_get(p, "dataset"), "id"), ids[d]) == 0) {
            assert_int_equal(json_integer_value(json_object_get(p, "v")), 1);
            assert_int_equal(json_array_size(json_object_get(p, "resources")), 1);
            found = json_array_get(json_object_get(p, "resources"), 0);
            n++;
        }
    }
    if (n != 1)
        fail_msg("%zu %s events for dataset %d, expected 1", n, topic, d);
    json_incref(found);
    json_decref(ev);
    return found;
}

/* The one change of a schema_changed resource entry whose kind is `kind`. */
static const json_t *change_of(const json_t *res, const char *kind)
{
    const json_t *out = NULL;
    size_t i;
    const json_t *c;
    json_array_foreach (json_object_get(res, "changes"), i, c)
        if (strcmp(str(c, "kind"), kind) == 0) {
            assert_null(out);
            out = c;
        }
    if (!out)
        fail_msg("no %s change", kind);
    return out;
}

static void baseline_sampled_and_hashed(void **state)
{
    (void)state;
    int rc;
    json_t *st = mt_call(&srv, "monitor.status", "{}", &rc);
    assert_int_equal(rc, 0);
    json_t *ls = json_object_get(json_array_get(json_object_get(st, "portals"), 0), "last_sweep");
    json_t *c = json_object_get(ls, "content");
    char *dump = json_dumps(c, JSON_COMPACT);
    fprintf(stderr, "# baseline body pass: %s\n", dump);
    free(dump);
    assert_int_equal(json_integer_value(json_object_get(c, "sampled")), D_COUNT);
    assert_int_equal(json_integer_value(json_object_get(c, "hashed")), D_COUNT - 1);
    assert_int_equal(json_integer_value(json_object_get(c, "too_large")), 1);
    /* the large file answered 300,000 bytes to its ranged GET: never read past the sample
     * (256 KiB, and at most one network chunk more) */
    assert_true(json_integer_value(json_object_get(c, "bytes")) < 290000);
    json_decref(st);
    json_t *ev = mt_events(&srv, 0, "dataset.schema_changed");
    assert_int_equal(json_array_size(ev), 0);
    json_decref(ev);
    ev = mt_events(&srv, 0, "dataset.content_changed");
    assert_int_equal(json_array_size(ev), 0);
    json_decref(ev);
}

static void each_change_announced(void **state)
{
    (void)state;
    int rc;
    /* a watch subscriber following schema_changed only (a channel's own subscription) */
    json_t *sub = mt_call(&srv, "watch.subscribe",
                          "{\"v\":1,\"channel\":\"test\",\"address\":\"reuser-1\",\"target\":"
                          "{\"type\":\"portal\",\"portal\":\"fx\"},\"kinds\":[\"schema_changed\"]}",
                          &rc);
    assert_int_equal(rc, 0);
    json_decref(sub);
    body(D_ADD, "id,nombre,valor,fecha\\n1,Arica,10,2026-01-05\\n2,Iquique,20,2026-02-01\\n", NULL);
    body(D_REMOVE, "id,valor\\n1,10\\n2,20\\n", NULL);
    body(D_RENAME, "id,comuna,valor\\n1,Arica,10\\n2,Iquique,20\\n", NULL);
    body(D_RETYPE, "id,nombre,valor\\n1,Arica,alto\\n2,Iquique,bajo\\n", NULL);
    body(D_DELIM, "id;nombre;valor\\n1;Arica;10\\n2;Iquique;20\\n3;Antofagasta;30\\n", NULL);
    body(D_ENC, "id,regi\\u00f3n,valor\\n1,Valpara\\u00edso,10\\n2,\\u00d1uble,20\\n",
         ",\"bom\":true");
    body(D_REAL, "id,nombre,valor\\n1,Arica,11\\n2,Iquique,21\\n3,Antofagasta,31\\n", NULL);
    control("{\"op\":\"set_body\",\"id\":\"%s\",\"size\":300001,\"ignore_range\":true}",
            res_ids[D_BIG]);
    body(D_ZIP, "PK\\u0003\\u0004\\u0014\\u0001\\u0008\\u0001datos.csv", NULL);
    body(D_HTML,
         "<!DOCTYPE html><html><head><title>Portal</title></head><body>Sin datos</body></html>",
         NULL);
    fin_change = mt_sweep(&srv, &since_change);
    assert_non_null(fin_change);
    char *dump = json_dumps(json_object_get(fin_change, "content"), JSON_COMPACT);
    fprintf(stderr, "# body pass after the changes: %s\n", dump);
    free(dump);
    /* every hashed file whose bytes moved was fetched twice: the 6 new schemas, the new
     * version, the file made per request */
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(fin_change, "content"), "rechecked")),
        9); /* and the ZIP (the web page is degraded: not read for content) */

    json_t *r = one_resource(since_change, "dataset.schema_changed", D_ADD);
    const json_t *c = change_of(r, "added");
    assert_string_equal(str(c, "name"), "fecha");
    assert_string_equal(str(c, "type"), "date");
    assert_non_null(json_object_get(r, "before"));
    assert_non_null(json_object_get(r, "after"));
    assert_string_equal(str(r, "id"), res_ids[D_ADD]);
    json_decref(r);

    r = one_resource(since_change, "dataset.schema_changed", D_REMOVE);
    assert_string_equal(str(change_of(r, "removed"), "name"), "nombre");
    json_decref(r);

    r = one_resource(since_change, "dataset.schema_changed", D_RENAME);
    c = change_of(r, "renamed");
    assert_string_equal(str(c, "from"), "nombre");
    assert_string_equal(str(c, "to"), "comuna");
    assert_int_equal(json_array_size(json_object_get(r, "changes")), 1);
    json_decref(r);

    r = one_resource(since_change, "dataset.schema_changed", D_RETYPE);
    c = change_of(r, "retyped");
    assert_string_equal(str(c, "name"), "valor");
    assert_string_equal(str(c, "from"), "integer");
    assert_string_equal(str(c, "to"), "text");
    json_decref(r);

    r = one_resource(since_change, "dataset.schema_changed", D_DELIM);
    c = change_of(r, "delimiter");
    assert_string_equal(str(c, "from"), ",");
    assert_string_equal(str(c, "to"), ";");
    assert_int_equal(json_array_size(json_object_get(r, "changes")), 1); /* same columns */
    json_decref(r);

    r = one_resource(since_change, "dataset.schema_changed", D_ENC);
    c = change_of(r, "encoding");
    assert_string_equal(str(c, "from"), "latin-1");
    assert_string_equal(str(c, "to"), "utf-8-bom");
    /* both read right: the column name is the same, only the encoding moved */
    assert_int_equal(json_array_size(json_object_get(r, "changes")), 1);
    dump = json_dumps(json_object_get(r, "after"), JSON_COMPACT);
    assert_non_null(strstr(dump, "regi\xc3\xb3n"));
    free(dump);
    json_decref(r);

    /* no longer a table: the ZIP and the web page */
    r = one_resource(since_change, "dataset.schema_changed", D_ZIP);
    assert_non_null(change_of(r, "table_lost"));
    json_decref(r);
    r = one_resource(since_change, "dataset.schema_changed", D_HTML);
    assert_non_null(change_of(r, "table_lost"));
    json_decref(r);
    json_t *ev = mt_events(&srv, since_change, "dataset.schema_changed");
    assert_int_equal(json_array_size(ev), 8); /* not the new version, regen, the large file */
    json_decref(ev);

    /* format drift behind a HEAD that says text/csv: the sample's first bytes tell */
    r = one_resource(since_change, "dataset.format_drift", D_ZIP);
    assert_string_equal(str(r, "served"), "zip");
    assert_string_equal(str(r, "content_type"), "text/csv");
    json_decref(r);
    r = one_resource(since_change, "dataset.format_drift", D_HTML);
    assert_string_equal(str(r, "served"), "html");
    json_decref(r);
    /* and a web page instead of data is a degraded dataset, as a GET of the checks says */
    ev = mt_events(&srv, since_change, "dataset.status_changed");
    assert_int_equal(mt_count(ev, NULL, ids[D_HTML]), 1);
    size_t k;
    json_t *e;
    json_array_foreach (ev, k, e) {
        json_t *p = json_object_get(e, "payload");
        if (strcmp(str(json_object_get(p, "dataset"), "id"), ids[D_HTML]) != 0)
            continue;
        assert_string_equal(str(p, "current"), "degraded");
        assert_string_equal(str(json_array_get(json_object_get(p, "failing"), 0), "reason"),
                            "html_instead_of_data");
    }
    json_decref(ev);

    /* content: the new version (the bytes moved, both fetches agree) */
    r = one_resource(since_change, "dataset.content_changed", D_REAL);
    assert_string_equal(str(r, "hash"), "changed");
    json_t *sha = json_object_get(r, "sha256");
    assert_int_equal(strlen(str(sha, "old")), 64);
    assert_int_equal(strlen(str(sha, "new")), 64);
    assert_string_not_equal(str(sha, "old"), str(sha, "new"));
    json_decref(r);
    /* a content change is an update: the freshness's last real update is today */
    char params[80], today[16];
    snprintf(params, sizeof params, "{\"id\":\"%s\"}", ids[D_REAL]);
    int grc;
    json_t *got = mt_call(&srv, "datasets.get", params, &grc);
    assert_int_equal(grc, 0);
    time_t now = time(NULL);
    strftime(today, sizeof today, "%Y-%m-%d", gmtime(&now));
    const char *last = str(json_object_get(got, "freshness"), "last_update");
    assert_non_null(last);
    assert_memory_equal(last, today, 10);
    json_decref(got);
    /* the large file: its ETag moved, its bytes were not read (and it says so) */
    r = one_resource(since_change, "dataset.content_changed", D_BIG);
    assert_string_equal(str(r, "hash"), "too_large");
    assert_null(json_object_get(r, "sha256"));
    json_decref(r);
    /* made per request: ETag and length move every time, the hash too: not news */
    ev = mt_events(&srv, since_change, "dataset.content_changed");
    assert_int_equal(mt_count(ev, NULL, ids[D_REGEN]), 0);
    /* a new schema is new content too: 6 + the ZIP + the new version + the large file (the
     * web page is no answer with the data: not content) */
    assert_int_equal(json_array_size(ev), 9);
    json_decref(ev);
}

static json_t *notifications_of(const char *kind)
{
    json_t *out = json_array();
    for (int tries = 0; tries < 100 && json_array_size(out) == 0; tries++) {
        int rc;
        json_t *nl = mt_call(&srv, "notifications.list", "{\"limit\":100}", &rc);
        assert_int_equal(rc, 0);
        json_t *items = json_object_get(nl, "items");
        if (!items)
            items = json_object_get(nl, "notifications");
        size_t i;
        json_t *n;
        json_array_foreach (items, i, n)
            if (strcmp(str(json_object_get(n, "data"), "kind"), kind) == 0)
                json_array_append(out, n);
        json_decref(nl);
        if (!json_array_size(out))
            usleep(50 * 1000);
    }
    return out;
}

static void notified_watched_and_kept(void **state)
{
    (void)state;
    /* es notifications: one per dataset whose columns changed */
    json_t *ns = notifications_of("dataset_schema_changed");
    assert_int_equal(json_array_size(ns), 8);
    bool renamed = false;
    size_t i;
    json_t *n;
    json_array_foreach (ns, i, n) {
        const char *msg = str(n, "message");
        fprintf(stderr, "# %s | %s\n", str(n, "title"), msg);
        assert_non_null(strstr(str(n, "title"), "Columnas cambiadas"));
        renamed |= strstr(msg, "«nombre» ahora se llama «comuna»") != NULL;
    }
    assert_true(renamed);
    json_decref(ns);
    ns = notifications_of("dataset_content_changed");
    assert_int_equal(json_array_size(ns), 9); /* every content change (notify_modified) */
    json_decref(ns);

    /* the watch subscriber: a delivery whose items are the schema changes */
    size_t items = 0;
    for (int tries = 0; tries < 100 && items < 8; tries++) {
        json_t *ev = mt_events(&srv, since_change, "delivery.requested");
        items = 0;
        json_array_foreach (ev, i, n) {
            json_t *p = json_object_get(n, "payload");
            if (strcmp(str(p, "to"), "reuser-1") != 0)
                continue;
            size_t k;
            json_t *it;
            json_array_foreach (json_object_get(p, "items"), k, it) {
                assert_string_equal(str(it, "kind"), "schema_changed");
                items++;
            }
        }
        json_decref(ev);
        if (items < 8)
            usleep(100 * 1000);
    }
    assert_int_equal(items, 8);

    /* the history and the organisation report */
    char path[160];
    snprintf(path, sizeof path, "{\"id\":\"%s\"}", ids[D_RENAME]);
    int rc;
    json_t *ch = mt_call(&srv, "datasets.changes", path, &rc);
    assert_int_equal(rc, 0);
    json_t *list = json_object_get(ch, "changes");
    size_t kept = 0;
    json_array_foreach (list, i, n)
        kept += strcmp(str(n, "topic"), "dataset.schema_changed") == 0;
    assert_int_equal(kept, 1);
    json_decref(ch);
    json_t *rep = mt_call(&srv, "organizations.list", "{}", &rc);
    assert_int_equal(rc, 0);
    json_t *orgs = json_is_array(rep) ? rep : json_object_get(rep, "items");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(orgs, 0), "schema_changes")),
                     8);
    json_decref(rep);
}

static void nothing_new_nothing_said(void **state)
{
    (void)state;
    long long since;
    json_t *fin = mt_sweep(&srv, &since);
    assert_non_null(fin);
    json_decref(fin);
    json_t *ev = mt_events(&srv, since, "dataset.schema_changed");
    assert_int_equal(json_array_size(ev), 0);
    json_decref(ev);
    ev = mt_events(&srv, since, "dataset.content_changed");
    assert_int_equal(json_array_size(ev), 0); /* the new version is announced once */
    json_decref(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(baseline_sampled_and_hashed),
        cmocka_unit_test(each_change_announced),
        cmocka_unit_test(notified_watched_and_kept),
        cmocka_unit_test(nothing_new_nothing_said),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
