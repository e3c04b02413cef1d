/* Integration: docs/events.md against the real thing. The real vigia with the
 * real plugins (monitor against the CKAN fixture, notifications, broker,
 * rest) and the busbridge recorder runs a few sweeps with changes: a dataset
 * added, one modified, one broken, three removed (held, then confirmed), the
 * portal down and back, notifications read and cleared. Then:
 *   - every event recorded has a topic documented in docs/events.md, and each
 *     payload has exactly the documented fields, of the documented types,
 *     and the documented "v";
 *   - every documented event was seen, so the scenario really covers the doc
 *     (system.stop_requested, published during shutdown, from the file the
 *     busbridge recorder writes at destroy);
 *   - every documented method answers its documented call (placeholders
 *     $dataset, $notification, $sid, $manage_token filled from the run: a dataset, a
 *     notification, a Socket.IO client connected by long-polling that
 *     acknowledges what it is asked) with rc 0 and a result that has exactly
 *     the fields of its table.
 * The doc format is described at its top ("How to read this"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mt.h"

/* ---- the doc ---- */

enum { T_EVENT, T_METHOD };
enum { ROW_FIELD, ROW_PARAM, ROW_RESULT };

typedef struct row {
    char name[96]; /* "dataset.id", "failing[].reason"; no '?' */
    bool optional;
    char types[64]; /* "string or null" */
    int kind;       /* ROW_* */
} row;

typedef struct entry {
    int what; /* T_EVENT or T_METHOD */
    char name[64];
    int v; /* events: the documented "v" */
    char example[256];
    char expect[32]; /* "- expect: CODE": the call must fail with that code */
    row *rows;
    size_t nrows;
    bool seen;
} entry;

typedef struct doc {
    entry *e;
    size_t n;
} doc;

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = 0;
    size_t k = 0;
    while (s[k] == ' ')
        k++;
    memmove(s, s + k, strlen(s + k) + 1);
}

/* Table cell i (0-based) of a "| a | b | c |" line, without backticks. */
static bool cell(const char *line, int i, char *out, size_t size)
{
    const char *p = line;
    for (int k = 0; k <= i; k++) {
        p = strchr(p, '|');
        if (!p)
            return false;
        p++;
    }
    const char *end = strchr(p, '|');
    if (!end)
        return false;
    size_t n = (size_t)(end - p) < size - 1 ? (size_t)(end - p) : size - 1;
    memcpy(out, p, n);
    out[n] = 0;
    char *w = out;
    for (char *r = out; *r; r++)
        if (*r != '`')
            *w++ = *r;
    *w = 0;
    trim(out);
    return true;
}

/* The text between the first pair of backticks after `key`, or "". */
static void quoted_after(const char *line, const char *key, char *out, size_t size)
{
    out[0] = 0;
    const char *p = strstr(line, key);
    const char *a = p ? strchr(p + strlen(key), '`') : NULL;
    const char *b = a ? strchr(a + 1, '`') : NULL;
    if (b && (size_t)(b - a - 1) < size) {
        memcpy(out, a + 1, (size_t)(b - a - 1));
        out[b - a - 1] = 0;
    }
}

static doc parse_doc(void)
{
    const char *src = getenv("VIGIA_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/docs/events.md", src ? src : ".");
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    doc d = {0};
    int section = -1, table = -1;
    char line[2048];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "## ", 3)) {
            section = strstr(line, "Events") ? T_EVENT : strstr(line, "Methods") ? T_METHOD : -1;
            continue;
        }
        if (section < 0)
            continue;
        if (!strncmp(line, "### `", 5)) {
            d.e = realloc(d.e, (d.n + 1) * sizeof *d.e);
            entry *e = &d.e[d.n++];
            memset(e, 0, sizeof *e);
            e->what = section;
            e->v = -1;
            quoted_after(line, "###", e->name, sizeof e->name);
            table = -1;
            continue;
        }
        if (!d.n || d.e[d.n - 1].what != section)
            continue;
        entry *e = &d.e[d.n - 1];
        if (!strncmp(line, "- v: ", 5))
            e->v = atoi(line + 5);
        if (!strncmp(line, "- call: ", 8))
            quoted_after(line, "- call:", e->example, sizeof e->example);
        if (!strncmp(line, "- expect: ", 10))
            quoted_after(line, "- expect:", e->expect, sizeof e->expect);
        if (line[0] != '|') {
            table = -1;
            continue;
        }
        char c0[96], c1[64];
        if (!cell(line, 0, c0, sizeof c0) || !cell(line, 1, c1, sizeof c1))
            continue;
        if (!strcmp(c0, "field") || !strcmp(c0, "param") || !strcmp(c0, "result")) {
            table = !strcmp(c0, "field")   ? ROW_FIELD
                    : !strcmp(c0, "param") ? ROW_PARAM
                                           : ROW_RESULT;
            continue;
        }
        if (table < 0 || c0[0] == '-' || !c0[0])
            continue;
        e->rows = realloc(e->rows, (e->nrows + 1) * sizeof *e->rows);
        row *r = &e->rows[e->nrows++];
        memset(r, 0, sizeof *r);
        size_t n = strlen(c0);
        r->optional = n && c0[n - 1] == '?';
        if (r->optional)
            c0[n - 1] = 0;
        snprintf(r->name, sizeof r->name, "%s", c0);
        snprintf(r->types, sizeof r->types, "%s", c1);
        r->kind = table;
    }
    fclose(f);
    return d;
}

static void doc_free(doc *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->e[i].rows);
    free(d->e);
}

static entry *find(doc *d, int what, const char *name)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->e[i].what == what && !strcmp(d->e[i].name, name))
            return &d->e[i];
    return NULL;
}

/* ---- checking a value against the rows ---- */

typedef struct report {
    char buf[16384];
    size_t len;
    int count;
} report;

static void problem(report *rp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(report *rp, const char *fmt, ...)
{
    rp->count++;
    if (rp->len >= sizeof rp->buf - 2)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(rp->buf + rp->len, sizeof rp->buf - rp->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        rp->len += (size_t)n < sizeof rp->buf - rp->len ? (size_t)n : sizeof rp->buf - rp->len - 1;
    if (rp->len < sizeof rp->buf - 1)
        rp->buf[rp->len++] = '\n';
    rp->buf[rp->len] = 0;
}

static const char *type_of(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

/* "integer or null" accepts an integer; "number" accepts integers too. */
static bool type_ok(const char *types, const json_t *v)
{
    const char *t = type_of(v);
    char list[64];
    snprintf(list, sizeof list, "%s", types);
    char *save = NULL;
    for (char *w = strtok_r(list, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        if (!strcmp(w, "or"))
            continue;
        if (!strcmp(w, t) || !strcmp(w, "any") || (!strcmp(w, "number") && !strcmp(t, "integer")))
            return true;
    }
    return false;
}

/* The rows directly under `prefix` ("" for the top, "dataset." below). */
static bool direct_child(const row *r, const char *prefix, int kind)
{
    size_t n = strlen(prefix);
    return r->kind == kind && !strncmp(r->name, prefix, n) && r->name[n] &&
           !strpbrk(r->name + n, ".[");
}

static bool has_children(const entry *e, const char *prefix, int kind)
{
    for (size_t i = 0; i < e->nrows; i++)
        if (e->rows[i].kind == kind && !strncmp(e->rows[i].name, prefix, strlen(prefix)))
            return true;
    return false;
}

static void check_object(const entry *e, int kind, const char *prefix, const json_t *obj,
                         const char *where, report *rp)
{
    for (size_t i = 0; i < e->nrows; i++) {
        const row *r = &e->rows[i];
        if (!direct_child(r, prefix, kind))
            continue;
        const char *key = r->name + strlen(prefix);
        const json_t *v = json_object_get(obj, key);
        if (!v) {
            if (!r->optional)
                problem(rp, "%s: %s: documented field %s is missing", where, e->name, r->name);
            continue;
        }
        if (!type_ok(r->types, v)) {
            problem(rp, "%s: %s: %s is %s, documented as %s", where, e->name, r->name, type_of(v),
                    r->types);
            continue;
        }
        char sub[128];
        if (json_is_object(v)) {
            snprintf(sub, sizeof sub, "%s.", r->name);
            if (has_children(e, sub, kind))
                check_object(e, kind, sub, v, where, rp);
        } else if (json_is_array(v)) {
            snprintf(sub, sizeof sub, "%s[].", r->name);
            if (has_children(e, sub, kind)) {
                size_t k;
                const json_t *it;
                json_array_foreach (v, k, it) {
                    if (json_is_object(it))
                        check_object(e, kind, sub, it, where, rp);
                    else
                        problem(rp, "%s: %s: %s[%zu] is %s, documented as object", where, e->name,
                                r->name, k, type_of(it));
                }
            }
        }
    }
    const char *key;
    const json_t *v;
    json_object_foreach ((json_t *)obj, key, v) {
        char full[160];
        snprintf(full, sizeof full, "%s%s", prefix, key);
        bool documented = false;
        for (size_t i = 0; i < e->nrows && !documented; i++)
            documented = e->rows[i].kind == kind && !strcmp(e->rows[i].name, full);
        if (!documented)
            problem(rp, "%s: %s: field %s (%s) is not documented", where, e->name, full,
                    type_of(v));
    }
}

/* ---- the run ---- */

static mt_fixture fx;
static vgt_server srv;
static char ids[4][40];
static char plain_rid[40];  /* a resource nothing else changes: its content does */
static char table_rid[40];  /* a CSV whose columns change */
static char record_dir[64]; /* the busbridge's record_file: events.json */
static char notification_id[64];
static char manage_token[64];
static char organization[128]; /* $dataset's organisation */

/* ---- a Socket.IO client for broker.ask: Engine.IO long-polling ---- */

typedef struct sio_client {
    char url[192]; /* .../socket.io/?EIO=4&transport=polling&sid=<engine sid> */
    char sid[64];  /* the Socket.IO socket id broker.ask takes */
    int asked;     /* events acknowledged */
    pthread_t thread;
    bool running;
} sio_client;

static sio_client sio;

static int sio_post(const char *packet)
{
    const char *hdr[] = {"Content-Type: text/plain;charset=UTF-8", NULL};
    vgt_response r = {0};
    vgt_http(NULL, "POST", sio.url, hdr, packet, strlen(packet), &r);
    long st = r.status;
    vgt_response_free(&r);
    return st == 200 ? 0 : -1;
}

/* Answers pings and acknowledges every event ("42<id>[...]" -> "43<id>["pong"]")
 * until the server ends the session or stops. */
static void *sio_main(void *arg)
{
    (void)arg;
    for (;;) {
        vgt_response r = {0};
        vgt_http(NULL, "GET", sio.url, NULL, NULL, 0, &r);
        if (r.status != 200) {
            vgt_response_free(&r);
            return NULL;
        }
        for (char *save = NULL, *pk = strtok_r(r.body, "\x1e", &save); pk;
             pk = strtok_r(NULL, "\x1e", &save)) {
            if (!strcmp(pk, "2"))
                sio_post("3");
            else if (!strncmp(pk, "42", 2) && pk[2] >= '0' && pk[2] <= '9') {
                char ack[64];
                snprintf(ack, sizeof ack, "43%ld[\"pong\"]", strtol(pk + 2, NULL, 10));
                sio.asked++;
                sio_post(ack);
            } else if (!strcmp(pk, "1")) {
                vgt_response_free(&r);
                return NULL;
            }
        }
        vgt_response_free(&r);
    }
}

static int sio_connect(void)
{
    char url[160];
    snprintf(url, sizeof url, "%s/socket.io/?EIO=4&transport=polling", srv.base);
    vgt_response r = {0};
    vgt_http(NULL, "GET", url, NULL, NULL, 0, &r);
    const char *p = r.status == 200 && r.body ? strstr(r.body, "\"sid\":\"") : NULL;
    if (!p) {
        vgt_response_free(&r);
        return -1;
    }
    snprintf(sio.url, sizeof sio.url, "%s&sid=%.*s", url, (int)strcspn(p + 7, "\""), p + 7);
    vgt_response_free(&r);
    if (sio_post("40") < 0)
        return -1;
    vgt_http(NULL, "GET", sio.url, NULL, NULL, 0, &r); /* 40{"sid":"..."} */
    p = r.status == 200 && r.body ? strstr(r.body, "\"sid\":\"") : NULL;
    if (p)
        snprintf(sio.sid, sizeof sio.sid, "%.*s", (int)strcspn(p + 7, "\""), p + 7);
    vgt_response_free(&r);
    if (!p || pthread_create(&sio.thread, NULL, sio_main, NULL) != 0)
        return -1;
    sio.running = true;
    return 0;
}

/* The documented call with $dataset, $notification and $sid filled in. */
static void fill_call(const char *example, char *out, size_t size)
{
    static const struct {
        const char *name;
        const char *value;
    } vars[] = {{"$dataset", ids[0]},
                {"$notification", notification_id},
                {"$sid", sio.sid},
                {"$manage_token", manage_token},
                {"$organization", organization}};
    size_t o = 0;
    for (const char *p = example[0] ? example : "{}"; *p && o + 1 < size;) {
        size_t k = 0;
        while (k < sizeof vars / sizeof *vars && strncmp(p, vars[k].name, strlen(vars[k].name)))
            k++;
        if (k < sizeof vars / sizeof *vars) {
            o += (size_t)snprintf(out + o, size - o, "%s", vars[k].value);
            p += strlen(vars[k].name);
        } else
            out[o++] = *p++;
    }
    out[o < size ? o : size - 1] = 0;
}

static void control(const char *json)
{
    json_t *r = mt_control(&fx, json);
    assert_non_null(r);
    json_decref(r);
}

/* A fixture op written printf-style; an op that fails shows as a missing event later. */
__attribute__((format(printf, 1, 2))) static void control_fmt(const char *fmt, ...)
{
    char op[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(op, sizeof op, fmt, ap);
    va_end(ap);
    json_decref(mt_control(&fx, op));
}

static void sweep(void)
{
    json_t *fin = mt_sweep(&srv, NULL);
    assert_non_null(fin);
    json_decref(fin);
}

static int setup(void **state)
{
    (void)state;
    const char *args[] = {"--datasets", "10",     "--orgs", "2", "--resources-per-dataset",
                          "1",          "--seed", "5",      NULL};
    if (mt_fixture_start(&fx, args) < 0)
        return -1;
    json_t *page = mt_fixture_get(&fx, "/api/3/action/package_search?rows=10&sort=id%20asc");
    json_t *results = json_object_get(json_object_get(page, "result"), "results");
    for (size_t i = 0; i < 4; i++)
        snprintf(ids[i], sizeof ids[i], "%s",
                 json_string_value(json_object_get(json_array_get(results, i), "id")));
    snprintf(
        plain_rid, sizeof plain_rid, "%s",
        json_string_value(json_object_get(
            json_array_get(json_object_get(json_array_get(results, 4), "resources"), 0), "id")));
    snprintf(
        table_rid, sizeof table_rid, "%s",
        json_string_value(json_object_get(
            json_array_get(json_object_get(json_array_get(results, 5), "resources"), 0), "id")));
    json_decref(page);
    /* a CSV of its own whose columns change later: dataset.schema_changed */
    control_fmt("{\"op\":\"set_format\",\"id\":\"%s\",\"format\":\"CSV\"}", table_rid);
    control_fmt("{\"op\":\"set_body\",\"id\":\"%s\",\"body\":\"id,valor\\n1,10\\n\"}", table_rid);
    /* thresholds of one: every change shows in the next sweep; the body pass on every sweep */
    char *ini = mt_ini(&fx, "api_retries = 0\n",
                       "fail_threshold = 1\nrecover_threshold = 1\nremove_after = 2\n"
                       "max_removed_fraction = 10%\nschema_drift = true\nhashing = true\n"
                       "schema_interval = 0\nhash_interval = 0\nhash_recheck_delay = 100ms\n"
                       "content_per_host_interval = 0\n");
    if (!ini)
        return -1;
    if (vgt_tmpdir(record_dir, sizeof record_dir, "contract") < 0) {
        free(ini);
        return -1;
    }
    char *all = NULL;
    int rc = asprintf(&all,
                      "%s\n[rest]\nstats_interval = 100ms\n\n[busbridge]\n"
                      "record_file = %s/events.json\n",
                      ini, record_dir);
    free(ini);
    if (rc < 0)
        return -1;
    rc = vgt_server_start(&srv, "monitor,notifications,broker,rest,busbridge,watch,webhook", NULL,
                          all);
    free(all);
    if (rc)
        return rc;
    json_t *fin = mt_wait_sweep(&srv, 0, 60000); /* the baseline */
    if (!fin)
        return -1;
    json_decref(fin);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int rc = vgt_server_stop_clean(&srv); /* exit 0: in sanitizer builds, no leak either */
    if (sio.running)
        pthread_join(sio.thread, NULL);
    mt_fixture_stop(&fx);
    if (record_dir[0])
        vgt_rmtree(record_dir);
    return rc;
}

/* Changes for every event the monitor and the notifications publish. */
static void drive(void)
{
    char op[256];
    /* a dataset whose "CSV" is a ZIP: dataset.format_drift */
    json_t *added =
        mt_control(&fx, "{\"op\":\"add_dataset\",\"name\":\"contrato-nuevo\",\"resources\":1,"
                        "\"behaviour\":\"zip\"}");
    const char *rid = json_string_value(json_object_get(
        json_array_get(
            json_object_get(json_array_get(json_object_get(added, "results"), 0), "resources"), 0),
        "id"));
    assert_non_null(rid);
    snprintf(op, sizeof op, "{\"op\":\"set_format\",\"id\":\"%s\",\"format\":\"CSV\"}", rid);
    control(op);
    char touch[160]; /* a new version of a file: dataset.content_changed */
    snprintf(touch, sizeof touch, "{\"op\":\"touch_resource\",\"id\":\"%s\"}", plain_rid);
    json_decref(added);
    /* a resource re-created under a new id: dataset.resource_recreated */
    snprintf(op, sizeof op,
             "{\"op\":\"recreate_resource\",\"id\":\"%s\",\"position\":0,\"match\":\"url\"}",
             ids[0]);
    control(op);
    snprintf(op, sizeof op, "{\"op\":\"modify_dataset\",\"id\":\"%s\",\"title\":\"Otro título\"}",
             ids[0]);
    control(op);
    snprintf(op, sizeof op, "{\"op\":\"set_dataset\",\"id\":\"%s\",\"behaviour\":\"500\"}", ids[1]);
    control(op);
    for (int i = 2; i < 4; i++) {
        snprintf(op, sizeof op, "{\"op\":\"remove_dataset\",\"id\":\"%s\"}", ids[i]);
        control(op);
    }
    sweep(); /* added, modified, status_changed; the removed missing once */
    control(touch);
    control_fmt("{\"op\":\"set_body\",\"id\":\"%s\",\"body\":\"id,valor,fecha\\n1,10,"
                "2026-01-01\\n\"}",
                table_rid);
    sweep(); /* 2 of 11 missing twice: over 10 %, held: portal.warning_raised */
    sweep(); /* confirmed: dataset.removed */
    control("{\"op\":\"api_fail\",\"mode\":\"500\",\"count\":-1}");
    sweep(); /* portal down */
    control("{\"op\":\"api_fail\",\"mode\":\"none\"}");
    sweep(); /* portal up */

    int rc = 0;
    json_t *list = mt_call(&srv, "notifications.list", "{\"limit\":1}", &rc);
    assert_int_equal(rc, 0);
    json_t *n = json_array_get(json_object_get(list, "notifications"), 0);
    assert_non_null(n);
    char params[128];
    json_t *id = json_object_get(n, "id");
    if (json_is_string(id))
        snprintf(params, sizeof params, "{\"id\":\"%s\"}", json_string_value(id));
    else
        snprintf(params, sizeof params, "{\"id\":%lld}", (long long)json_integer_value(id));
    json_decref(list);
    json_decref(mt_call(&srv, "notifications.mark_read", params, &rc));
    assert_int_equal(rc, 0);
    json_decref(mt_call(&srv, "notifications.mark_all_read", "{}", &rc));
    assert_int_equal(rc, 0);
    json_decref(mt_call(&srv, "notifications.clear", "{}", &rc));
    assert_int_equal(rc, 0);
    /* A visible one for $notification (get, mark_read). */
    json_t *made = mt_call(&srv, "notifications.create",
                           "{\"type\": \"warning\", \"title\": \"contract test\"}", &rc);
    assert_int_equal(rc, 0);
    id = json_object_get(json_object_get(made, "notification"), "id");
    if (json_is_string(id))
        snprintf(notification_id, sizeof notification_id, "%s", json_string_value(id));
    else
        snprintf(notification_id, sizeof notification_id, "%lld",
                 (long long)json_integer_value(id));
    json_decref(made);
    /* $dataset's organisation for organizations.get */
    char q[128];
    snprintf(q, sizeof q, "{\"id\": \"%s\"}", ids[0]);
    json_t *got = mt_call(&srv, "datasets.get", q, &rc);
    assert_int_equal(rc, 0);
    snprintf(organization, sizeof organization, "%s",
             json_string_value(json_object_get(got, "organization")));
    json_decref(got);
    /* A channel's subscriber for $manage_token (watch.subscriber). */
    json_t *sub = mt_call(&srv, "watch.subscribe",
                          "{\"v\": 1, \"channel\": \"contract\", \"address\": \"c-1\","
                          " \"target\": {\"type\": \"all\"}}",
                          &rc);
    assert_int_equal(rc, 0);
    snprintf(manage_token, sizeof manage_token, "%s",
             json_string_value(json_object_get(sub, "manage_token")));
    json_decref(sub);
    assert_int_equal(sio_connect(), 0);
    usleep(500 * 1000); /* stats.updated: coalesced every 100 ms */
}

/* Each recorded event ({seq, topic, payload}) against its documented entry,
 * which is marked seen. */
static void check_events(doc *d, const json_t *events, report *rp)
{
    size_t i;
    const json_t *ev;
    json_array_foreach (events, i, ev) {
        const char *topic = json_string_value(json_object_get(ev, "topic"));
        const json_t *payload = json_object_get(ev, "payload");
        entry *e = find(d, T_EVENT, topic ? topic : "");
        if (!e) {
            problem(rp, "event %s is not in docs/events.md", topic ? topic : "(no topic)");
            continue;
        }
        e->seen = true;
        char where[64];
        snprintf(where, sizeof where, "event #%zu", i);
        if (!json_is_object(payload)) {
            problem(rp, "%s: %s: payload is %s", where, topic, type_of(payload));
            continue;
        }
        check_object(e, ROW_FIELD, "", payload, where, rp);
        const json_t *v = json_object_get(payload, "v");
        if (!json_is_integer(v) || json_integer_value(v) != e->v)
            problem(rp, "%s: %s: v is %s, documented v %d", where, topic,
                    json_is_integer(v) ? "another integer" : type_of(v), e->v);
    }
}

static void events_and_methods_match_the_doc(void **state)
{
    (void)state;
    doc d = parse_doc();
    size_t nev = 0, nm = 0;
    for (size_t i = 0; i < d.n; i++)
        *(d.e[i].what == T_EVENT ? &nev : &nm) += 1;
    assert_true(nev >= 14);
    assert_true(nm >= 18);
    drive();

    report *rp = calloc(1, sizeof *rp);
    assert_non_null(rp);
    json_t *events = mt_events(&srv, 0, NULL);
    check_events(&d, events, rp);
    printf("# %zu events checked against %zu documented topics\n", json_array_size(events), nev);
    json_decref(events);

    for (size_t i = 0; i < d.n; i++) {
        entry *e = &d.e[i];
        if (e->what != T_METHOD)
            continue;
        char call[512];
        fill_call(e->example, call, sizeof call);
        int rc = 0;
        json_t *res = mt_call(&srv, e->name, call, &rc);
        if (getenv("CONTRACT_DUMP")) {
            char *dump = json_dumps(res, JSON_COMPACT);
            printf("# %s -> %s\n", e->name, dump ? dump : "NULL");
            free(dump);
        }
        const char *code =
            json_string_value(json_object_get(json_object_get(res, "error"), "code"));
        if (e->expect[0]) {
            if (rc == 0 || !code || strcmp(code, e->expect) != 0)
                problem(rp, "method %s %s: expected the error %s, got rc %d (%s)", e->name, call,
                        e->expect, rc, code ? code : "no code");
        } else if (rc != 0)
            problem(rp, "method %s %s: rc %d", e->name, call, rc);
        else if (!has_children(e, "", ROW_RESULT))
            problem(rp, "method %s: no result table", e->name);
        else
            check_object(e, ROW_RESULT, "", res, "result", rp);
        char *shown = json_dumps(res, JSON_COMPACT);
        printf("# %s %s -> %d %.400s\n", e->name, call, rc, shown ? shown : "");
        free(shown);
        json_decref(res);
    }
    if (!sio.asked)
        problem(rp, "broker.ask: the Socket.IO client was never asked");

    /* system.stop_requested is published once the server is asked to stop:
     * the recorder writes everything it saw at destroy. */
    int status = vgt_server_signal(&srv, SIGTERM);
    if (status != 0)
        problem(rp, "vigia did not stop cleanly (wait status %d)", status);
    srv.pid = 0;
    char path[128];
    snprintf(path, sizeof path, "%s/events.json", record_dir);
    json_t *all = json_load_file(path, 0, NULL);
    if (!json_is_array(all))
        problem(rp, "%s: not written at stop", path);
    json_t *last = json_array();
    size_t k;
    json_t *ev;
    json_array_foreach (all, k, ev)
        if (json_string_value(json_object_get(ev, "topic")) &&
            !strcmp(json_string_value(json_object_get(ev, "topic")), "system.stop_requested"))
            json_array_append(last, ev);
    if (json_array_size(last) != 1)
        problem(rp, "system.stop_requested: %zu recorded at stop, expected 1",
                json_array_size(last));
    check_events(&d, last, rp);
    json_decref(last);
    json_decref(all);

    for (size_t i = 0; i < d.n; i++) {
        entry *e = &d.e[i];
        if (e->what != T_EVENT)
            continue;
        if (e->v < 1)
            problem(rp, "doc: %s has no \"- v: N\" line", e->name);
        if (!e->seen)
            problem(rp, "%s: documented, but the run never produced it", e->name);
    }
    if (rp->count)
        fail_msg("%d differences between docs/events.md and the running server:\n%s", rp->count,
                 rp->buf);
    free(rp);
    doc_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(events_and_methods_match_the_doc),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
