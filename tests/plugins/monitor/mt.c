/* Helpers for the monitor integration tests (see mt.h). */
#include "mt.h"

#include "vgt_bus.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int mt_fixture_start(mt_fixture *f, const char *const *args)
{
    const char *bd = getenv("VIGIA_BUILD_DIR");
    char bin[4096];
    snprintf(bin, sizeof bin, "%s/tests/fixtures/ckan-fixture/ckan-fixture", bd ? bd : ".");
    f->port = vgt_free_port();
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d", f->port);
    char port[16];
    snprintf(port, sizeof port, "%d", f->port);
    const char *argv[64];
    int n = 0;
    argv[n++] = bin;
    argv[n++] = "--port";
    argv[n++] = port;
    for (int i = 0; args && args[i] && n < 62; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    f->pid = fork();
    if (f->pid < 0)
        return -1;
    if (f->pid == 0) {
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 250; i++) {
        json_t *st = mt_fixture_get(f, "/_stats");
        if (st) {
            json_decref(st);
            return 0;
        }
        sleep_ms(20);
    }
    fprintf(stderr, "ckan-fixture did not come up on port %d\n", f->port);
    mt_fixture_stop(f);
    return -1;
}

void mt_fixture_stop(mt_fixture *f)
{
    if (f->pid > 0) {
        kill(f->pid, SIGTERM);
        for (int i = 0; i < 250; i++) {
            if (waitpid(f->pid, NULL, WNOHANG) == f->pid) {
                f->pid = 0;
                return;
            }
            sleep_ms(20);
        }
        kill(f->pid, SIGKILL);
        waitpid(f->pid, NULL, 0);
        f->pid = 0;
    }
}

static json_t *parse(vgt_response *r)
{
    json_t *j = r->body ? json_loads(r->body, 0, NULL) : NULL;
    vgt_response_free(r);
    return j;
}

json_t *mt_control(const mt_fixture *f, const char *json)
{
    char url[128];
    snprintf(url, sizeof url, "%s/_control", f->base);
    vgt_response r = {0};
    const char *hdr[] = {"Content-Type: application/json", NULL};
    vgt_http(NULL, "POST", url, hdr, json, strlen(json), &r);
    if (r.status != 200)
        fprintf(stderr, "fixture control %s -> %ld %s\n", json, r.status, r.body ? r.body : "");
    return parse(&r);
}

json_t *mt_controlv(const mt_fixture *f, const char *fmt, va_list ap)
{
    char op[4096];
    vsnprintf(op, sizeof op, fmt, ap);
    return mt_control(f, op);
}

json_t *mt_fixture_get(const mt_fixture *f, const char *path)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", f->base, path);
    vgt_response r = {0};
    vgt_http(NULL, "GET", url, NULL, NULL, 0, &r);
    if (r.status != 200) {
        vgt_response_free(&r);
        return NULL;
    }
    return parse(&r);
}

json_t *mt_call(const vgt_server *s, const char *method, const char *params_json, int *rc)
{
    json_t *params = params_json ? json_loads(params_json, JSON_DECODE_ANY, NULL) : NULL;
    return vgt_bus_call_result(s, method, params, rc);
}

json_t *mt_events(const vgt_server *s, long long since, const char *topic)
{
    return vgt_bus_events(s, since, topic);
}

long long mt_last_seq(const vgt_server *s) { return vgt_bus_last_seq(s); }

json_t *mt_wait_sweep(const vgt_server *s, long long since, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 50) {
        json_t *ev = mt_events(s, since, "monitor.sweep_finished");
        if (json_array_size(ev) > 0) {
            json_t *p = json_incref(json_object_get(json_array_get(ev, 0), "payload"));
            json_decref(ev);
            return p;
        }
        json_decref(ev);
        sleep_ms(50);
    }
    return NULL;
}

json_t *mt_sweep(const vgt_server *s, long long *since)
{
    long long from = mt_last_seq(s);
    int rc = 0;
    json_t *r = mt_call(s, "monitor.run_now", "{}", &rc);
    json_decref(r);
    if (rc != 0)
        return NULL;
    json_t *p = mt_wait_sweep(s, from, 60000);
    if (since)
        *since = from;
    return p;
}

char *mt_ini(const mt_fixture *f, const char *extra_monitor, const char *extra_portal)
{
    char *out = NULL;
    if (asprintf(&out,
                 "[monitor]\napi_delay = 0\ntimeout = 2s\nconnect_timeout = 1s\n"
                 /* loopback fixture: no politeness pause between checks */
                 "per_host = 8\nper_host_interval = 0\n"
                 /* the body pass (sampling, hashing) only where a test turns it on */
                 "schema_drift = false\nhashing = false\n"
                 "contact_url = https://example.invalid/vigia-tests\n%s\n"
                 "[monitor:fx]\nbase_url = %s\ninterval = 1h\nrows = 5\n%s\n",
                 extra_monitor ? extra_monitor : "", f->base, extra_portal ? extra_portal : "") < 0)
        return NULL;
    return out;
}

size_t mt_count(const json_t *events, const char *topic, const char *dataset_id)
{
    size_t n = 0, i;
    json_t *e;
    json_array_foreach (events, i, e) {
        if (topic && strcmp(json_string_value(json_object_get(e, "topic")), topic) != 0)
            continue;
        const json_t *p = json_object_get(e, "payload");
        const char *id = json_string_value(json_object_get(json_object_get(p, "dataset"), "id"));
        if (dataset_id && (!id || strcmp(id, dataset_id) != 0))
            continue;
        n++;
    }
    return n;
}

json_t *mt_wait_complete(const vgt_server *s, long long since)
{
    json_t *fin = mt_wait_sweep(s, since, 60000);
    if (fin && !json_is_true(json_object_get(fin, "complete"))) {
        json_decref(fin);
        return NULL;
    }
    return fin;
}

void mt_stop(vgt_server *s, mt_fixture *f)
{
    vgt_server_cleanup(s);
    mt_fixture_stop(f);
}
