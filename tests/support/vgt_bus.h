/* Client of the busbridge test plugin (tests/busbridge): bus calls,
 * publishing and the recorded events, from an integration test. The server
 * must list VGT_BUS_PLUGIN in its plugins. */
#ifndef VGT_BUS_H
#define VGT_BUS_H

#include <jansson.h>

#include "vgt.h"

#define VGT_BUS_PLUGIN "busbridge"

/* vg_bus_call through the bridge: its reply {"rc", "result"} (new reference),
 * or NULL when the request failed. params stolen (NULL: {}). */
json_t *vgt_bus_call(const vgt_server *s, const char *method, json_t *params);
/* The same, split: the result (new reference, may be NULL) and *rc (-999 when
 * the request failed). */
json_t *vgt_bus_call_result(const vgt_server *s, const char *method, json_t *params, int *rc);
/* Publishes `payload` (stolen, an object) on `topic`; the publish return code
 * (-999 when the request failed). */
int vgt_bus_publish(const vgt_server *s, const char *topic, json_t *payload);
/* Events recorded after `since` (a seq) whose topic is `topic` (NULL: all),
 * in order: [{seq, topic, payload}] (new reference, never NULL). */
json_t *vgt_bus_events(const vgt_server *s, long long since, const char *topic);
/* The seq of the last event the bridge saw (0 when none or unreachable). */
long long vgt_bus_last_seq(const vgt_server *s);

#endif /* VGT_BUS_H */
