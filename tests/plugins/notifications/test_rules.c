/* Event rules: wording, digests per sweep and flap control, on a fake clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"

#define MIN 60000LL

typedef struct fx {
    int64_t now;
    json_t *out; /* emitted: [{type, title, message, data}] */
    nt_rules *r;
} fx;

static int64_t fake_clock(void *ctx) { return ((fx *)ctx)->now; }

static void capture(const char *type, const char *title, const char *message, json_t *data,
                    void *ctx)
{
    fx *f = ctx;
    json_array_append_new(f->out, json_pack("{s:s, s:s, s:s, s:o}", "type", type, "title", title,
                                            "message", message, "data", data));
}

static nt_rules_options options(fx *f)
{
    return (nt_rules_options){.lang = NT_LANG_ES,
                              .digest_threshold = 10,
                              .min_repeat_ms = 10 * MIN,
                              .now_ms = fake_clock,
                              .clock_ctx = f,
                              .emit = capture,
                              .emit_ctx = f};
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    f->now = 1000000;
    f->out = json_array();
    nt_rules_options o = options(f);
    f->r = nt_rules_new(&o);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    nt_rules_free(f->r);
    json_decref(f->out);
    free(f);
    return 0;
}

static void reopen(fx *f, const nt_rules_options *o)
{
    nt_rules_free(f->r);
    f->r = nt_rules_new(o);
    assert_non_null(f->r);
}

static json_t *dataset(const char *id, const char *title, const char *org, const char *org_title)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:s, s:s}", "id", id, "portal", "datos",
                     "name", id, "title", title, "organization", org, "organization_title",
                     org_title, "url", "https://datos.gob.cl/dataset/x", "status", "down");
}

/* Publishes dataset.status_changed (sweep_id NULL: outside a sweep). */
static void status(fx *f, const char *sweep_id, const char *id, const char *org,
                   const char *previous, const char *current)
{
    json_t *p = json_pack("{s:s, s:o, s:s, s:s, s:s}", "portal", "datos", "dataset",
                          dataset(id, id, org, org), "previous", previous, "current", current,
                          "checked_at", "2026-11-28T09:00:00Z");
    if (sweep_id)
        json_object_set_new(p, "sweep_id", json_string(sweep_id));
    json_object_set_new(p, "failing",
                        json_pack("[{s:s, s:s, s:s, s:s, s:s, s:i}]", "id", "r1", "name", "CSV",
                                  "url", "https://x/a.csv", "status", "down", "reason", "not_found",
                                  "http_status", 404));
    nt_rules_handle(f->r, "dataset.status_changed", p);
    json_decref(p);
}

static json_t *out(fx *f, size_t i) { return json_array_get(f->out, i); }

static const char *field(json_t *n, const char *key)
{
    return json_string_value(json_object_get(n, key));
}

static void test_wording_es(void **state)
{
    fx *f = *state;
    json_t *p = json_pack("{s:s, s:o, s:s, s:s, s:[{s:s, s:s, s:s}]}", "portal", "datos", "dataset",
                          dataset("d1", "Presupuesto 2024", "dipres", "DIPRES"), "previous", "up",
                          "current", "down", "failing", "name", "CSV", "reason", "timeout", "url",
                          "https://x/a.csv");
    nt_rules_handle(f->r, "dataset.status_changed", p);
    json_decref(p);
    assert_int_equal(json_array_size(f->out), 1);
    json_t *n = out(f, 0);
    assert_string_equal(field(n, "type"), "error");
    assert_string_equal(field(n, "title"), "Dataset caído: Presupuesto 2024");
    assert_string_equal(field(n, "message"),
                        "«Presupuesto 2024» (DIPRES, portal datos) dejó de responder: el recurso "
                        "«CSV» falla (tiempo de espera agotado).");
    json_t *data = json_object_get(n, "data");
    assert_string_equal(field(data, "kind"), "dataset_down");
    assert_string_equal(field(data, "reason"), "el recurso «CSV» falla (tiempo de espera agotado)");
    assert_string_equal(field(json_object_get(data, "dataset"), "id"), "d1");
    assert_int_equal(json_array_size(json_object_get(data, "failing")), 1);

    /* recovered, degraded, and transitions that say nothing */
    status(f, NULL, "d2", "minsal", "down", "up");
    status(f, NULL, "d3", "minsal", "up", "degraded");
    status(f, NULL, "d4", "minsal", "unknown", "up");
    status(f, NULL, "d5", "minsal", "down", "unknown");
    assert_int_equal(json_array_size(f->out), 3);
    assert_string_equal(field(out(f, 1), "type"), "success");
    assert_string_equal(field(out(f, 1), "title"), "Dataset recuperado: d2");
    assert_string_equal(field(out(f, 1), "message"),
                        "«d2» (minsal, portal datos) vuelve a responder (antes: caído).");
    assert_string_equal(field(out(f, 2), "type"), "warning");
    assert_string_equal(field(out(f, 2), "title"), "Dataset degradado: d3");
    assert_non_null(
        strstr(field(out(f, 2), "message"), "el recurso «CSV» falla (no encontrado, HTTP 404)"));

    /* added, removed; modified is off by default */
    p = json_pack("{s:s, s:o}", "portal", "datos", "dataset", dataset("d6", "Nuevo", NULL, NULL));
    nt_rules_handle(f->r, "dataset.added", p);
    nt_rules_handle(f->r, "dataset.modified", p);
    json_decref(p);
    p = json_pack("{s:s, s:o}", "portal", "datos", "dataset", dataset("d7", "Viejo", "o", "Org"));
    nt_rules_handle(f->r, "dataset.removed", p);
    json_decref(p);
    assert_int_equal(json_array_size(f->out), 5);
    assert_string_equal(field(out(f, 3), "type"), "info");
    assert_string_equal(field(out(f, 3), "title"), "Nuevo dataset: Nuevo");
    assert_string_equal(field(out(f, 3), "message"),
                        "«Nuevo» (sin organización) apareció en el portal datos.");
    assert_string_equal(field(json_object_get(out(f, 3), "data"), "reason"),
                        "dataset nuevo en el portal");
    assert_string_equal(field(out(f, 4), "type"), "warning");
    assert_string_equal(field(out(f, 4), "title"), "Dataset eliminado: Viejo");

    p = json_pack("{s:s, s:[{s:s}], s:s}", "version", "0.1.0", "plugins", "name", "notifications",
                  "kind", "ignored");
    nt_rules_handle(f->r, "system.started", p);
    json_decref(p);
    assert_int_equal(json_array_size(f->out), 6);
    assert_string_equal(field(out(f, 5), "type"), "info");
    assert_string_equal(field(out(f, 5), "title"), "Sistema iniciado");
    assert_string_equal(field(out(f, 5), "message"), "Vigía 0.1.0 está en marcha con 1 plugins.");
}

static void test_wording_en_and_modified(void **state)
{
    fx *f = *state;
    nt_rules_options o = options(f);
    o.lang = NT_LANG_EN;
    o.notify_modified = true;
    reopen(f, &o);
    status(f, NULL, "d1", "minsal", "up", "down");
    json_t *p =
        json_pack("{s:s, s:o, s:{s:{s:s, s:s}, s:[s, s]}}", "portal", "datos", "dataset",
                  dataset("d2", "Camas", "minsal", "MINSAL"), "changes", "metadata_modified", "old",
                  "a", "new", "b", "resources_added", "r1", "r2");
    nt_rules_handle(f->r, "dataset.modified", p);
    json_decref(p);
    p = json_pack("{s:s}", "version", "0.1.0");
    nt_rules_handle(f->r, "system.started", p);
    json_decref(p);
    assert_int_equal(json_array_size(f->out), 3);
    assert_string_equal(field(out(f, 0), "title"), "Dataset down: d1");
    assert_string_equal(field(out(f, 0), "message"),
                        "“d1” (minsal, portal datos) stopped responding: resource “CSV” fails "
                        "(not found, HTTP 404).");
    assert_string_equal(field(out(f, 1), "type"), "info");
    assert_string_equal(field(out(f, 1), "title"), "Dataset modified: Camas");
    assert_string_equal(field(out(f, 1), "message"),
                        "“Camas” (MINSAL, portal datos) changed: metadata updated, 2 resources "
                        "added.");
    assert_string_equal(field(out(f, 2), "title"), "System started");
}

static void sweep_event(fx *f, const char *topic, const char *sweep_id)
{
    json_t *p = json_pack("{s:s, s:s}", "portal", "datos", "sweep_id", sweep_id);
    nt_rules_handle(f->r, topic, p);
    json_decref(p);
}

static void test_digest(void **state)
{
    fx *f = *state;
    const char *orgs[] = {"minsal", "dipres", "mineduc"};
    sweep_event(f, "monitor.sweep_started", "s7");
    for (int i = 0; i < 11; i++) {
        char id[16];
        snprintf(id, sizeof id, "ds%02d", i);
        status(f, "s7", id, orgs[i % 3], "up", i == 10 ? "degraded" : "down");
    }
    /* an event outside any sweep is not held back */
    status(f, NULL, "solo", "minsal", "up", "down");
    assert_int_equal(json_array_size(f->out), 1);
    assert_string_equal(field(out(f, 0), "title"), "Dataset caído: solo");
    nt_rules_stats st;
    nt_rules_stats_get(f->r, &st);
    assert_int_equal(st.buffered, 11);

    sweep_event(f, "monitor.sweep_finished", "s7");
    assert_int_equal(json_array_size(f->out), 2);
    json_t *d = out(f, 1);
    assert_string_equal(field(d, "type"), "error");
    assert_string_equal(field(d, "title"), "Portal datos: 11 cambios en un barrido");
    assert_string_equal(field(d, "message"),
                        "Resumen: caídos: 10, degradados: 1. Por organización: minsal (caídos: "
                        "4); dipres (caídos: 3, degradados: 1); mineduc (caídos: 3).");
    json_t *data = json_object_get(d, "data");
    assert_string_equal(field(data, "kind"), "digest");
    assert_string_equal(field(data, "sweep_id"), "s7");
    assert_int_equal(json_integer_value(json_object_get(data, "count")), 11);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(data, "counts"), "down")),
                     10);
    json_t *groups = json_object_get(data, "organizations");
    assert_int_equal(json_array_size(groups), 3);
    json_t *g0 = json_array_get(groups, 0);
    assert_string_equal(field(g0, "organization"), "minsal");
    assert_int_equal(json_array_size(json_object_get(g0, "datasets")), 4);
    assert_string_equal(field(json_array_get(json_object_get(g0, "datasets"), 0), "id"), "ds00");
    nt_rules_stats_get(f->r, &st);
    assert_int_equal(st.digests, 1);
    assert_int_equal(st.buffered, 0);

    /* exactly the threshold: singles */
    sweep_event(f, "monitor.sweep_started", "s8");
    for (int i = 0; i < 10; i++) {
        char id[16];
        snprintf(id, sizeof id, "other%02d", i);
        status(f, "s8", id, "minsal", "up", "down");
    }
    assert_int_equal(json_array_size(f->out), 2);
    sweep_event(f, "monitor.sweep_finished", "s8");
    assert_int_equal(json_array_size(f->out), 12);
    assert_string_equal(field(out(f, 2), "title"), "Dataset caído: other00");
    assert_string_equal(field(out(f, 11), "title"), "Dataset caído: other09");
}

static void test_digest_fits_data_limit(void **state)
{
    fx *f = *state;
    nt_rules_options o = options(f);
    o.max_data_bytes = 4096;
    reopen(f, &o);
    sweep_event(f, "monitor.sweep_started", "big");
    for (int i = 0; i < 300; i++) {
        char id[16], org[16];
        snprintf(id, sizeof id, "ds%03d", i);
        snprintf(org, sizeof org, "org%02d", i % 40);
        status(f, "big", id, org, "up", "down");
    }
    sweep_event(f, "monitor.sweep_finished", "big");
    assert_int_equal(json_array_size(f->out), 1);
    json_t *data = json_object_get(out(f, 0), "data");
    char *dump = json_dumps(data, JSON_COMPACT);
    assert_true(strlen(dump) <= 4096);
    free(dump);
    assert_int_equal(json_integer_value(json_object_get(data, "count")), 300);
    assert_true(json_is_true(json_object_get(data, "truncated")));
    assert_true(strlen(field(out(f, 0), "message")) <= 4096);
}

static void test_sweep_never_finished(void **state)
{
    fx *f = *state;
    sweep_event(f, "monitor.sweep_started", "lost");
    status(f, "lost", "a", "o", "up", "down");
    nt_rules_tick(f->r);
    assert_int_equal(json_array_size(f->out), 0);
    f->now += 61 * MIN;
    nt_rules_tick(f->r);
    assert_int_equal(json_array_size(f->out), 1);
    assert_string_equal(field(out(f, 0), "title"), "Dataset caído: a");
}

static void test_flush_at_shutdown(void **state)
{
    fx *f = *state;
    sweep_event(f, "monitor.sweep_started", "cut");
    status(f, "cut", "a", "o", "up", "down");
    status(f, "cut", "b", "o", "up", "down");
    assert_int_equal(json_array_size(f->out), 0);
    nt_rules_flush(f->r);
    assert_int_equal(json_array_size(f->out), 2);
    nt_rules_stats st;
    nt_rules_stats_get(f->r, &st);
    assert_int_equal(st.buffered, 0);
}

static void test_flap(void **state)
{
    fx *f = *state;
    int64_t t0 = f->now;
    status(f, NULL, "flappy", "o", "up", "down"); /* announced */
    f->now = t0 + 1 * MIN;
    status(f, NULL, "flappy", "o", "down", "up"); /* held back */
    f->now = t0 + 2 * MIN;
    status(f, NULL, "flappy", "o", "up", "down"); /* held back */
    assert_int_equal(json_array_size(f->out), 1);
    nt_rules_stats st;
    nt_rules_stats_get(f->r, &st);
    assert_int_equal(st.suppressed, 2);
    f->now = t0 + 5 * MIN;
    nt_rules_tick(f->r);
    assert_int_equal(json_array_size(f->out), 1);
    /* min_repeat passed; the latest state (down) is what people already saw */
    f->now = t0 + 10 * MIN;
    nt_rules_tick(f->r);
    assert_int_equal(json_array_size(f->out), 1);

    /* the next one shows the held-back count */
    f->now = t0 + 15 * MIN;
    status(f, NULL, "flappy", "o", "down", "up");
    assert_int_equal(json_array_size(f->out), 2);
    json_t *n = out(f, 1);
    assert_string_equal(field(n, "title"), "Dataset recuperado: flappy");
    assert_non_null(
        strstr(field(n, "message"), "Se omitieron 2 cambios de estado desde el aviso anterior."));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(n, "data"), "suppressed")),
                     2);

    /* held back, then its latest state differs from the last notice: said
     * once min_repeat has passed */
    f->now = t0 + 16 * MIN;
    status(f, NULL, "flappy", "o", "up", "down");
    assert_int_equal(json_array_size(f->out), 2);
    f->now = t0 + 24 * MIN;
    nt_rules_tick(f->r);
    assert_int_equal(json_array_size(f->out), 2);
    f->now = t0 + 25 * MIN;
    nt_rules_tick(f->r);
    assert_int_equal(json_array_size(f->out), 3);
    n = out(f, 2);
    assert_string_equal(field(n, "title"), "Dataset caído: flappy");
    assert_null(strstr(field(n, "message"), "Se omitieron"));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(n, "data"), "suppressed")),
                     0);

    /* another dataset is not affected */
    status(f, NULL, "steady", "o", "up", "down");
    assert_int_equal(json_array_size(f->out), 4);

    /* flap control also applies inside a sweep, before the digest count */
    f->now = t0 + 26 * MIN;
    sweep_event(f, "monitor.sweep_started", "s1");
    status(f, "s1", "flappy", "o", "down", "up");
    status(f, "s1", "fresh", "o", "up", "down");
    sweep_event(f, "monitor.sweep_finished", "s1");
    assert_int_equal(json_array_size(f->out), 5);
    assert_string_equal(field(out(f, 4), "title"), "Dataset caído: fresh");

    /* min_repeat = 0 disables flap control */
    nt_rules_options o = options(f);
    o.min_repeat_ms = 0;
    reopen(f, &o);
    json_array_clear(f->out);
    for (int i = 0; i < 4; i++)
        status(f, NULL, "x", "o", i % 2 ? "down" : "up", i % 2 ? "up" : "down");
    assert_int_equal(json_array_size(f->out), 4);
}

/* A portal that recovers right after a digest: the held-back recoveries come
 * back as one digest too, not as a storm of singles. */
static void test_flap_after_digest(void **state)
{
    fx *f = *state;
    int64_t t0 = f->now;
    sweep_event(f, "monitor.sweep_started", "a");
    for (int i = 0; i < 12; i++) {
        char id[16];
        snprintf(id, sizeof id, "ds%02d", i);
        status(f, "a", id, "o", "up", "down");
    }
    sweep_event(f, "monitor.sweep_finished", "a");
    assert_int_equal(json_array_size(f->out), 1);
    f->now = t0 + 5 * MIN;
    sweep_event(f, "monitor.sweep_started", "b");
    for (int i = 0; i < 12; i++) {
        char id[16];
        snprintf(id, sizeof id, "ds%02d", i);
        status(f, "b", id, "o", "down", "up");
    }
    sweep_event(f, "monitor.sweep_finished", "b");
    assert_int_equal(json_array_size(f->out), 1); /* all held back */
    f->now = t0 + 10 * MIN;
    nt_rules_tick(f->r);
    assert_int_equal(json_array_size(f->out), 2);
    json_t *d = out(f, 1);
    assert_string_equal(field(d, "type"), "success");
    assert_string_equal(field(d, "title"), "Portal datos: 12 cambios en un barrido");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(d, "data"), "counts"), "recovered")),
                     12);
    f->now = t0 + 30 * MIN;
    nt_rules_tick(f->r);
    assert_int_equal(json_array_size(f->out), 2);
    nt_rules_stats st;
    nt_rules_stats_get(f->r, &st);
    assert_int_equal(st.tracked, 0); /* idle datasets are forgotten */
}

static void test_reasons(void **state)
{
    fx *f = *state;
    const char *const failing[] = {
        "[{\"name\": \"API\", \"reason\": \"weird_code\"}]",
        "[{\"url\": \"http://x/b\", \"http_status\": 500}, {\"name\": \"b\"}]",
        "[{\"name\": \"Z\", \"reason\": \"http_5xx\", \"http_status\": 503}, {}, {}]",
        "[]",
    };
    const char *const expect[] = {
        "el recurso «API» falla (weird_code)",
        "2 recursos fallan, entre ellos «http://x/b» (HTTP 500)",
        "3 recursos fallan, entre ellos «Z» (error del servidor, HTTP 503)",
        "sin detalle",
    };
    for (size_t i = 0; i < 4; i++) {
        char id[8];
        snprintf(id, sizeof id, "r%zu", i);
        json_t *p = json_pack("{s:s, s:o, s:s, s:s, s:o}", "portal", "datos", "dataset",
                              dataset(id, id, "o", "O"), "previous", "up", "current", "down",
                              "failing", json_loads(failing[i], 0, NULL));
        nt_rules_handle(f->r, "dataset.status_changed", p);
        json_decref(p);
        assert_int_equal(json_array_size(f->out), i + 1);
        assert_string_equal(field(json_object_get(out(f, i), "data"), "reason"), expect[i]);
    }
}

/* A first sweep that finds thousands of changes across thousands of
 * organisations is still one digest, built quickly. */
static void test_digest_many_orgs(void **state)
{
    fx *f = *state;
    sweep_event(f, "monitor.sweep_started", "huge");
    for (int i = 0; i < 5000; i++) {
        char id[16], org[16];
        snprintf(id, sizeof id, "ds%04d", i);
        snprintf(org, sizeof org, "org%04d", i);
        json_t *p = json_pack("{s:s, s:s, s:o}", "portal", "datos", "sweep_id", "huge", "dataset",
                              dataset(id, id, org, org));
        nt_rules_handle(f->r, "dataset.added", p);
        json_decref(p);
    }
    sweep_event(f, "monitor.sweep_finished", "huge");
    assert_int_equal(json_array_size(f->out), 1);
    json_t *d = out(f, 0);
    assert_string_equal(field(d, "type"), "info");
    assert_string_equal(field(d, "title"), "Portal datos: 5000 cambios en un barrido");
    assert_true(strlen(field(d, "message")) <= 4096);
    assert_non_null(strstr(field(d, "message"), "organizaciones más"));
    json_t *data = json_object_get(d, "data");
    assert_int_equal(json_integer_value(json_object_get(data, "count")), 5000);
    char *dump = json_dumps(data, JSON_COMPACT);
    assert_true(strlen(dump) <= 65536);
    free(dump);
}

static void portal_event(fx *f, const char *previous, const char *current, const char *error)
{
    json_t *p = json_pack("{s:s, s:s, s:s, s:s?}", "portal", "datos", "previous", previous,
                          "current", current, "error", error);
    nt_rules_handle(f->r, "portal.status_changed", p);
    json_decref(p);
}

static void test_portal_status(void **state)
{
    fx *f = *state;
    int64_t t0 = f->now;
    portal_event(f, "up", "down", "HTTP 503 from package_search");
    assert_int_equal(json_array_size(f->out), 1);
    json_t *n = out(f, 0);
    assert_string_equal(field(n, "type"), "error");
    assert_string_equal(field(n, "title"), "Portal sin respuesta: datos");
    assert_string_equal(field(n, "message"),
                        "No se pudo consultar el catálogo del portal datos: HTTP 503 from "
                        "package_search. Sus datasets no se revisan hasta que vuelva.");
    json_t *data = json_object_get(n, "data");
    assert_string_equal(field(data, "kind"), "portal_down");
    assert_true(json_is_null(json_object_get(data, "dataset")));
    assert_string_equal(field(data, "reason"), "HTTP 503 from package_search");

    /* flapping portal: the recovery a minute later waits for min_repeat */
    f->now = t0 + MIN;
    portal_event(f, "down", "up", NULL);
    assert_int_equal(json_array_size(f->out), 1);
    f->now = t0 + 10 * MIN;
    nt_rules_tick(f->r);
    assert_int_equal(json_array_size(f->out), 2);
    assert_string_equal(field(out(f, 1), "type"), "success");
    assert_string_equal(field(out(f, 1), "title"), "Portal recuperado: datos");
    /* transitions that are not news */
    portal_event(f, "unknown", "up", NULL);
    assert_int_equal(json_array_size(f->out), 2);
}

/* A mass removal the monitor holds for a sweep is told once, as a warning,
 * with the figures; other portal warnings are not notifications. */
static void test_portal_removals_held(void **state)
{
    fx *f = *state;
    json_t *p = json_pack("{s:i, s:s, s:i, s:s, s:i, s:i, s:f}", "v", 1, "portal", "datos",
                          "sweep_id", 7, "reason", "mass_removal_held", "candidates", 120,
                          "datasets", 400, "max_removed_fraction", 0.1);
    nt_rules_handle(f->r, "portal.warning_raised", p);
    json_decref(p);
    assert_int_equal(json_array_size(f->out), 1);
    json_t *n = out(f, 0);
    assert_string_equal(field(n, "type"), "warning");
    assert_string_equal(field(n, "title"), "Eliminaciones retenidas: datos");
    assert_string_equal(field(n, "message"),
                        "En el portal datos, 120 de 400 datasets faltan a la vez en el catálogo "
                        "(más del 10 %). No se anuncian hasta que el próximo barrido lo confirme.");
    assert_string_equal(field(json_object_get(n, "data"), "kind"), "portal_removals_held");
    p = json_pack("{s:s, s:s}", "portal", "datos", "reason", "something_else");
    nt_rules_handle(f->r, "portal.warning_raised", p);
    json_decref(p);
    assert_int_equal(json_array_size(f->out), 1);
}

/* Open-data signals: stale and up to date again, re-created resources,
 * format drift, in Spanish and English; due, and drift to an HTML page (the
 * status change says it), are no notifications. */
static void signal_event(fx *f, const char *topic, json_t *extra)
{
    json_t *p = json_pack("{s:s, s:o}", "portal", "datos", "dataset",
                          dataset("d9", "Matrícula 2025", "mineduc", "Mineduc"));
    json_object_update(p, extra);
    json_decref(extra);
    nt_rules_handle(f->r, topic, p);
    json_decref(p);
}

static void test_signals(void **state)
{
    fx *f = *state;
    signal_event(f, "dataset.freshness_changed",
                 json_pack("{s:s, s:s, s:s, s:s}", "previous", "fresh", "current", "due",
                           "frequency", "Mensual", "last_update", "2026-01-05T10:00:00.000Z"));
    assert_int_equal(json_array_size(f->out), 0);
    signal_event(f, "dataset.freshness_changed",
                 json_pack("{s:s, s:s, s:s, s:s}", "previous", "due", "current", "overdue",
                           "frequency", "Mensual", "last_update", "2026-01-05T10:00:00.000Z"));
    assert_int_equal(json_array_size(f->out), 1);
    json_t *n = out(f, 0);
    assert_string_equal(field(n, "type"), "warning");
    assert_string_equal(field(n, "title"), "Dataset desactualizado: Matrícula 2025");
    assert_string_equal(field(n, "message"),
                        "«Matrícula 2025» (Mineduc, portal datos) está atrasado: declara una "
                        "frecuencia «Mensual» y su última actualización fue el 2026-01-05.");
    assert_string_equal(field(json_object_get(n, "data"), "kind"), "dataset_stale");
    assert_string_equal(field(json_object_get(n, "data"), "frequency"), "Mensual");
    /* escalation to delinquent is said; back to fresh too */
    signal_event(f, "dataset.freshness_changed",
                 json_pack("{s:s, s:s, s:s, s:s}", "previous", "overdue", "current", "delinquent",
                           "frequency", "Mensual", "last_update", "2026-01-05T10:00:00.000Z"));
    assert_int_equal(json_array_size(f->out), 2);
    assert_non_null(strstr(field(out(f, 1), "message"), "está muy atrasado"));
    signal_event(f, "dataset.freshness_changed",
                 json_pack("{s:s, s:s, s:s, s:s}", "previous", "delinquent", "current", "fresh",
                           "frequency", "Mensual", "last_update", "2026-03-01T00:00:00"));
    assert_int_equal(json_array_size(f->out), 3);
    assert_string_equal(field(out(f, 2), "type"), "success");
    assert_string_equal(field(out(f, 2), "message"),
                        "«Matrícula 2025» (Mineduc, portal datos) se actualizó: última "
                        "actualización el 2026-03-01.");
    signal_event(f, "dataset.resource_recreated",
                 json_pack("{s:[{s:s, s:s, s:s, s:s}]}", "resources", "old_id", "r-1", "new_id",
                           "r-2", "name", "matricula.csv", "matched_by", "url"));
    assert_int_equal(json_array_size(f->out), 4);
    assert_string_equal(field(out(f, 3), "title"), "Recurso recreado con otro id: Matrícula 2025");
    assert_string_equal(field(out(f, 3), "message"),
                        "«Matrícula 2025» (Mineduc, portal datos): el recurso «matricula.csv» "
                        "cambió de id (r-1 → r-2). Quien usa la API con el id anterior recibe "
                        "un error.");
    signal_event(f, "dataset.format_drift",
                 json_pack("{s:[{s:s, s:s, s:s, s:s}]}", "resources", "id", "r-2", "name",
                           "matricula.csv", "format", "CSV", "served", "zip"));
    assert_int_equal(json_array_size(f->out), 5);
    assert_string_equal(field(out(f, 4), "message"),
                        "«Matrícula 2025» (Mineduc, portal datos): el recurso «matricula.csv» se "
                        "declara CSV pero entrega ZIP.");
    assert_string_equal(field(json_object_get(out(f, 4), "data"), "kind"), "dataset_format_drift");
    signal_event(f, "dataset.format_drift",
                 json_pack("{s:[{s:s, s:s, s:s, s:s}]}", "resources", "id", "r-2", "name",
                           "matricula.csv", "format", "CSV", "served", "html"));
    assert_int_equal(json_array_size(f->out), 5);
    /* a content change is a modification: only with notify_modified */
    signal_event(f, "dataset.content_changed",
                 json_pack("{s:[{s:s, s:s, s:[s, s]}]}", "resources", "id", "r-2", "name",
                           "matricula.csv", "changed", "etag", "content_length"));
    assert_int_equal(json_array_size(f->out), 5);
    /* English */
    nt_rules_options o = options(f);
    o.lang = NT_LANG_EN;
    reopen(f, &o);
    signal_event(f, "dataset.freshness_changed",
                 json_pack("{s:s, s:s, s:s, s:s}", "previous", "fresh", "current", "delinquent",
                           "frequency", "annual", "last_update", "2024-01-05T10:00:00"));
    assert_string_equal(field(out(f, 5), "title"), "Dataset out of date: Matrícula 2025");
    assert_string_equal(field(out(f, 5), "message"),
                        "“Matrícula 2025” (Mineduc, portal datos) is delinquent: it declares the "
                        "frequency “annual” and was last updated on 2024-01-05.");
    signal_event(f, "dataset.format_drift",
                 json_pack("{s:[{s:s, s:s, s:s, s:s}]}", "resources", "id", "r-2", "name",
                           "informe.csv", "format", "csv", "served", "pdf"));
    assert_string_equal(field(out(f, 6), "message"),
                        "“Matrícula 2025” (Mineduc, portal datos): resource “informe.csv” is "
                        "declared csv but serves PDF.");
    o.notify_modified = true;
    reopen(f, &o);
    signal_event(f, "dataset.content_changed",
                 json_pack("{s:[{s:s, s:s, s:[s, s]}]}", "resources", "id", "r-2", "name",
                           "matricula.csv", "changed", "etag", "content_length"));
    assert_string_equal(field(out(f, 7), "title"), "Content updated: Matrícula 2025");
    assert_string_equal(field(out(f, 7), "message"),
                        "“Matrícula 2025” (Mineduc, portal datos): the content of resource "
                        "“matricula.csv” changed (etag, content_length).");
}

/* dataset.schema_changed: always (it breaks readers), the first changes in words, es and en;
 * a tab delimiter shown as \t. */
static void test_schema_changed(void **state)
{
    fx *f = *state;
    signal_event(f, "dataset.schema_changed",
                 json_pack("{s:[{s:s, s:s, s:[{s:s, s:I, s:s, s:s, s:s}, {s:s, s:s, s:s}], s:b}]}",
                           "resources", "id", "r-2", "name", "matricula.csv", "changes", "kind",
                           "renamed", "position", (json_int_t)2, "from", "nombre", "to", "comuna",
                           "type", "text", "kind", "delimiter", "from", ",", "to", "\t",
                           "truncated", 0));
    assert_int_equal(json_array_size(f->out), 1);
    json_t *n = out(f, 0);
    assert_string_equal(field(n, "type"), "warning");
    assert_string_equal(field(n, "title"), "Columnas cambiadas: Matrícula 2025");
    assert_string_equal(field(n, "message"),
                        "«Matrícula 2025» (Mineduc, portal datos): cambiaron las columnas del "
                        "recurso «matricula.csv»: «nombre» ahora se llama «comuna»; separador "
                        "«,» → «\\t».");
    assert_string_equal(field(json_object_get(n, "data"), "kind"), "dataset_schema_changed");
    /* an empty list says nothing */
    signal_event(f, "dataset.schema_changed", json_pack("{s:[]}", "resources"));
    assert_int_equal(json_array_size(f->out), 1);
    nt_rules_options o = options(f);
    o.lang = NT_LANG_EN;
    reopen(f, &o);
    signal_event(f, "dataset.schema_changed",
                 json_pack("{s:[{s:s, s:s, s:[{s:s, s:s, s:s, s:s}]}]}", "resources", "id", "r-2",
                           "name", "matricula.csv", "changes", "kind", "retyped", "name", "valor",
                           "from", "integer", "to", "text"));
    assert_string_equal(field(out(f, 1), "message"),
                        "“Matrícula 2025” (Mineduc, portal datos): the columns of resource "
                        "“matricula.csv” changed: “valor” went from integer to text.");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_signals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wording_es, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wording_en_and_modified, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reasons, setup, teardown),
        cmocka_unit_test_setup_teardown(test_digest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_digest_fits_data_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_digest_many_orgs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep_never_finished, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_at_shutdown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_portal_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_portal_removals_held, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flap_after_digest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_changed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
