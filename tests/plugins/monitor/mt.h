/* Helpers for the monitor integration tests: the CKAN fixture process, the
 * busbridge plugin's event log and bus calls (tests/support/vgt_bus.h). */
#ifndef MT_H
#define MT_H

#include <jansson.h>
#include <stdarg.h>
#include <sys/types.h>

#include "vgt.h"

typedef struct mt_fixture {
    pid_t pid;
    int port;
    char base[64];
} mt_fixture;

/* Starts ckan-fixture with extra args (NULL-terminated) on a free port. */
int mt_fixture_start(mt_fixture *f, const char *const *args);
void mt_fixture_stop(mt_fixture *f);
/* POST /_control; returns the parsed reply (new reference) or NULL. */
json_t *mt_control(const mt_fixture *f, const char *json);
/* The same with the JSON written printf-style (at most 4 KiB). */
json_t *mt_controlv(const mt_fixture *f, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
json_t *mt_fixture_get(const mt_fixture *f, const char *path);

/* Bus method through the busbridge plugin. Returns the result (new reference)
 * and sets *rc. */
json_t *mt_call(const vgt_server *s, const char *method, const char *params_json, int *rc);
/* Events recorded after `since` (seq) whose topic equals `topic` (NULL: all). */
json_t *mt_events(const vgt_server *s, long long since, const char *topic);
long long mt_last_seq(const vgt_server *s);
/* Calls monitor.run_now and waits for the matching sweep_finished (after
 * `since`). Returns its payload (new reference) or NULL on timeout. */
json_t *mt_sweep(const vgt_server *s, long long *since);
/* Waits for a sweep_finished after `since` (no run_now). */
json_t *mt_wait_sweep(const vgt_server *s, long long since, int timeout_ms);
/* Waits (60 s) for a sweep_finished after `since` and returns it (new
 * reference) only when the sweep was complete; NULL otherwise. */
json_t *mt_wait_complete(const vgt_server *s, long long since);
/* The usual teardown: the server, then the fixture. */
void mt_stop(vgt_server *s, mt_fixture *f);
/* INI text for [monitor] + [monitor:fx] pointing at the fixture. */
char *mt_ini(const mt_fixture *f, const char *extra_monitor, const char *extra_portal);
size_t mt_count(const json_t *events, const char *topic, const char *dataset_id);

#endif
