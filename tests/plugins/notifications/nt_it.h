/* Helpers shared by the notifications integration tests, over the busbridge
 * test plugin (tests/support/vgt_bus.h). */
#ifndef NT_IT_H
#define NT_IT_H

#include <jansson.h>

#include "vgt.h"
#include "vgt_bus.h"

#define PROBE_PLUGINS "notifications, " VGT_BUS_PLUGIN

/* The payload of the first notification.created whose title is `title`,
 * waiting up to 15 s; new reference or NULL. */
json_t *wait_created(const vgt_server *s, const char *title);
/* notifications.list {limit: 1000} result, new reference or NULL. */
json_t *list_all(const vgt_server *s);
/* The notification titled `title` in a list result (borrowed) or NULL. */
json_t *find_by_title(json_t *list, const char *title);

#endif /* NT_IT_H */
