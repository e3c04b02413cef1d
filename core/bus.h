/* The in-process event bus behind include/vigia/bus.h: a bounded queue
 * drained by one dispatch thread (delivery in publish order), and a method
 * table called in the caller's thread. Each plugin gets its own client
 * handle so everything it registered can be removed when it goes away. */
#ifndef CORE_BUS_H
#define CORE_BUS_H

#include <jansson.h>
#include <stddef.h>

#include "vigia/bus.h"

typedef struct core_bus core_bus;
typedef struct core_bus_client core_bus_client;

/* `capacity` events may wait in the queue; a publish to a full queue waits up
 * to `full_wait_ms` and then fails with -EAGAIN. */
core_bus *core_bus_new(size_t capacity, int full_wait_ms);
/* Deliver what is queued, stop the thread, refuse further publishes. */
void core_bus_stop(core_bus *bus);
/* Frees the bus; every client must have been released. */
void core_bus_free(core_bus *bus);

/* A handle for one owner (a plugin, or "core"). */
core_bus_client *core_bus_client_new(core_bus *bus, const char *owner);
/* Remove every subscription and method the client registered (running their
 * user_free), then free the handle. */
void core_bus_client_release(core_bus_client *client);
/* Remove every registration but keep the handle usable (calls still work). */
void core_bus_client_clear(core_bus_client *client);
vg_bus *core_bus_client_handle(core_bus_client *client);

/* Set the bus's one fallback resolver (host->bus_fallback), owned by client
 * `c` and removed with its registrations. -EEXIST when another client has
 * set one, -EINVAL without `cb`; user_free runs on failure too. */
int core_bus_set_fallback(core_bus_client *c, vg_bus_fallback_cb cb, void *user,
                          vg_free_cb user_free);
/* vg_bus_subscribe for a relay (host->bus_subscribe_first): called before
 * every ordinary subscriber of an event, relays among themselves in
 * subscription order. */
int core_bus_subscribe_first(core_bus_client *c, const char *topic, vg_event_cb cb, void *user,
                             vg_free_cb user_free, vg_subscription **out);
/* [{name, plugin}] of the methods registered on this bus: new reference. */
json_t *core_bus_methods(core_bus *bus);

/* {published, delivered, failed, queue_depth, queue_high_water,
 *  queue_capacity, subscriptions, methods, fallback, fallback_resolved,
 *  fallback_declined}: new reference. */
json_t *core_bus_stats(core_bus *bus);
/* Block until the queue is empty and the current event is delivered (tests). */
void core_bus_flush(core_bus *bus);

#endif
