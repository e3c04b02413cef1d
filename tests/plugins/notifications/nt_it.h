/* Helpers shared by the notifications integration tests: HTTP to the
 * notifications_probe plugin (bus calls, publishing, recorded events). */
#ifndef NT_IT_H
#define NT_IT_H

#include <jansson.h>

#include "vgt.h"

#define PROBE_PLUGINS "notifications, notifications_probe"

/* GET path as JSON (200 only), new reference or NULL. */
json_t *get_json(const vgt_server *s, const char *path);
/* POST body (stolen) as JSON, the 200 reply as JSON or NULL. */
json_t *post_json(const vgt_server *s, const char *path, json_t *body);
/* vg_bus_call through the probe: {"rc", "result"}. params stolen (may be NULL). */
json_t *call(const vgt_server *s, const char *method, json_t *params);
/* Publish an event through the probe; the publish return code. payload stolen. */
int publish(const vgt_server *s, const char *topic, json_t *payload);
/* The payload of the first notification.created whose title is `title`,
 * waiting up to 15 s; new reference or NULL. */
json_t *wait_created(const vgt_server *s, const char *title);
/* Events recorded by the probe with this topic, in order (new reference). */
json_t *probe_events(const vgt_server *s, const char *topic);
/* notifications.list {limit: 1000} result, new reference or NULL. */
json_t *list_all(const vgt_server *s);
/* The notification titled `title` in a list result (borrowed) or NULL. */
json_t *find_by_title(json_t *list, const char *title);

#endif /* NT_IT_H */
