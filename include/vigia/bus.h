/* Vigía public SDK: the in-process event bus.
 *
 * Naming rule (every topic and method; docs/events.md lists them all)
 *   - Event topic: <noun>.<past participle>, or <noun>.<thing>_<past
 *     participle>: it says what has happened to the noun ("dataset.added",
 *     "dataset.status_changed", "monitor.sweep_finished"). The noun is
 *     singular and belongs to one plugin, which alone publishes under it.
 *   - Method: <namespace>.<verb> for an action ("notifications.mark_read",
 *     "monitor.run_now") or <namespace>.<noun> for a read-only query
 *     ("monitor.status", "bus.stats"). The namespace is the providing
 *     plugin's name or the plural of a collection it owns ("datasets.list").
 *   - Lower case, words joined by '_', one dot.
 *   - Each provider declares its names, payload fields and enumerations in
 *     <vigia/contract/<plugin>.h>; use those macros, not copied strings.
 *   - Every event payload is an object with "v" (VG_EVENT_V): the integer
 *     major version of the payload of its family, bumped when a field is
 *     removed or changes meaning (adding fields does not bump it). A consumer
 *     ignores an event whose v it does not know.
 *
 * Events (publish/subscribe)
 *   - Topics are dotted strings ("dataset.status_changed").
 *   - A subscription matches a topic exactly ("dataset.added"), by prefix when
 *     it ends with a dot ("dataset."), or everything when it is "".
 *   - Publishing is thread-safe and never calls a subscriber from inside the
 *     publish call. Events are delivered on the bus's own thread, one at a
 *     time, in publish order; an event's subscribers are called in
 *     subscription order, relays (host->bus_subscribe_first) before the rest.
 *   - The queue is bounded. When it is full, publish waits briefly and then
 *     fails with -EAGAIN; the failure is counted (method "bus.stats").
 *   - Subscriber callbacks run on the bus thread, shared by every plugin:
 *     they must not block (no network, no disk sync, no sleeping, no waiting
 *     for a lock held across I/O); hand such work to a work queue (workq.h),
 *     whose submit from here should use submit_wait_ms = 0. From a callback
 *     you may publish (a full queue then fails at once instead of waiting),
 *     subscribe, unsubscribe (yourself too) and call methods.
 *   - Events and method calls keep arriving after the plugin's stop, until
 *     just before its destroy, when the core removes its subscriptions and
 *     methods itself (waiting for callbacks in flight): plugins need not
 *     unsubscribe or unregister.
 *
 * Methods (request/reply)
 *   - One owner per name ("notifications.list"), named by the rule above.
 *   - vg_bus_call runs the method in the caller's thread (an HTTP worker, the
 *     bus thread, a plugin's or work queue's thread), several at once, so
 *     methods must be thread-safe, and quick: callers may be HTTP handlers or
 *     bus callbacks. A method may itself call other methods and publish.
 *
 * Ownership follows jansson's words: "steals" (the callee owns the reference
 * you passed, also on error), "borrowed" (valid only during the call; incref
 * to keep it), "new reference" (you must json_decref it).
 *
 * Every registration takes (user, user_free). The core calls user_free exactly
 * once: on unsubscribe/unregister, at shutdown, when the owning plugin fails
 * to initialise, and when the registration itself fails.
 *
 * Errors are negative errno values. */
#ifndef VIGIA_BUS_H
#define VIGIA_BUS_H

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vg_bus vg_bus;
typedef struct vg_subscription vg_subscription;

/* `payload` is borrowed and read-only: never modify it, incref to keep it. */
typedef void (*vg_event_cb)(const char *topic, const json_t *payload, void *user);

/* `params` is borrowed (may be NULL). On success return 0 and set *result to a
 * new reference. On failure return a negative errno and set *result to an
 * error object made with vg_error_new() (or leave it NULL: the bus then makes
 * a generic one). */
typedef int (*vg_method_cb)(const json_t *params, json_t **result, void *user);

typedef void (*vg_free_cb)(void *user);

/* The fallback resolver: one per server, set with host->bus_fallback
 * (plugin.h; check host->struct_size first), by a plugin that can answer
 * methods no local plugin provides (the cluster plugin forwards them to the
 * node that owns them).
 *   - vg_bus_call of a name that no local plugin registered calls it, in the
 *     caller's thread, with the method's `name` and borrowed `params`; it
 *     answers exactly like a vg_method_cb (0 and a new reference in *result,
 *     or a negative errno and an error object).
 *   - To decline (it does not know `name` either) return -ENOSYS: with
 *     *result left NULL the bus answers its usual UNAVAILABLE error naming
 *     the method; with an error object that object is the answer.
 *   - It may block, but boundedly (its own timeout): callers are HTTP
 *     handlers and bus callbacks. Keep it well under a second when it can.
 *   - A vg_bus_call of an unknown method made from inside the resolver is not
 *     resolved again (it gets UNAVAILABLE at once): no recursion.
 *   - It is removed with its plugin's registrations (before destroy), after
 *     the calls in flight return; user_free runs then. */
typedef int (*vg_bus_fallback_cb)(const char *name, const json_t *params, json_t **result,
                                  void *user);

/* The operations behind the inline functions below. Plugins never call these
 * members directly; they are filled in by the core. */
typedef struct vg_bus_ops {
    int (*publish_new)(vg_bus *bus, const char *topic, json_t *payload);
    int (*subscribe)(vg_bus *bus, const char *topic, vg_event_cb cb, void *user,
                     vg_free_cb user_free, vg_subscription **out);
    int (*unsubscribe)(vg_bus *bus, vg_subscription *sub);
    int (*register_method)(vg_bus *bus, const char *name, vg_method_cb cb, void *user,
                           vg_free_cb user_free);
    int (*unregister_method)(vg_bus *bus, const char *name);
    int (*call)(vg_bus *bus, const char *name, const json_t *params, json_t **result);
    int (*has_subscribers)(vg_bus *bus, const char *topic);
} vg_bus_ops;

/* Each plugin gets its own bus handle, so the core knows what to unregister
 * when that plugin fails or stops. */
struct vg_bus {
    const vg_bus_ops *ops;
};

/* Publish an event. Steals `payload` (may be NULL for an empty object), also
 * on error. Returns 0, -EINVAL (bad topic), -EAGAIN (queue full) or
 * -ESHUTDOWN (bus stopped). */
static inline int vg_bus_publish_new(vg_bus *bus, const char *topic, json_t *payload)
{
    return bus->ops->publish_new(bus, topic, payload);
}

/* Subscribe `cb` to `topic` (exact, "prefix." or ""). *out (may be NULL)
 * receives a handle for vg_bus_unsubscribe. Safe to call from any thread,
 * including from inside a subscriber callback. */
static inline int vg_bus_subscribe(vg_bus *bus, const char *topic, vg_event_cb cb, void *user,
                                   vg_free_cb user_free, vg_subscription **out)
{
    return bus->ops->subscribe(bus, topic, cb, user, user_free, out);
}

/* After this returns, `cb` is not running and will not be called again
 * (unless called from inside that very callback, in which case it will not be
 * called again after it returns). user_free runs once the callback is idle. */
static inline int vg_bus_unsubscribe(vg_bus *bus, vg_subscription *sub)
{
    return bus->ops->unsubscribe(bus, sub);
}

/* Returns 0 or -EEXIST when another owner has `name` (user_free still runs). */
static inline int vg_bus_register_method(vg_bus *bus, const char *name, vg_method_cb cb, void *user,
                                         vg_free_cb user_free)
{
    return bus->ops->register_method(bus, name, cb, user, user_free);
}

/* Waits for calls in flight to return, then runs user_free. -ENOENT if this
 * plugin does not own `name`. */
static inline int vg_bus_unregister_method(vg_bus *bus, const char *name)
{
    return bus->ops->unregister_method(bus, name);
}

/* Call a method in this thread. `params` is borrowed (may be NULL). *result is
 * always set to a new reference: the reply on 0, an error object
 * {"error":{"code","message"}} on a negative return. -ENOSYS means no plugin
 * provides `name` (code "UNAVAILABLE"), neither locally nor through the
 * fallback resolver (vg_bus_fallback_cb), when one is set. */
static inline int vg_bus_call(vg_bus *bus, const char *name, const json_t *params, json_t **result)
{
    return bus->ops->call(bus, name, params, result);
}

/* 1 when at least one subscription would receive `topic`, so a publisher can
 * skip building a payload nobody wants; 0 otherwise. */
static inline int vg_bus_has_subscribers(vg_bus *bus, const char *topic)
{
    return bus->ops->has_subscribers(bus, topic);
}

/* The payload field every event carries: the major version of its payload. */
#define VG_EVENT_V "v"

/* The "v" of an event payload; 0 when it has none (a publisher from before
 * the contract, or a test's hand-made event). */
static inline int vg_event_version(const json_t *payload)
{
    const json_t *v = json_object_get(payload, VG_EVENT_V);
    return json_is_integer(v) ? (int)json_integer_value(v) : 0;
}

/* Error object {"error":{"code": code, "message": formatted}}. New reference.
 * Codes are upper-case strings: INVALID_ARGUMENT, NOT_FOUND, CONFLICT,
 * UNAUTHORIZED, TOO_LARGE, UNAVAILABLE, INTERNAL. */
static inline json_t *vg_error_newv(const char *code, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    return json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg);
}

static inline json_t *vg_error_new(const char *code, const char *fmt, ...) VG_PRINTF(2, 3);
static inline json_t *vg_error_new(const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_t *err = vg_error_newv(code, fmt, ap);
    va_end(ap);
    return err;
}

/* Convenience for method callbacks: set *result to an error and return `rc`. */
static inline int vg_method_fail(json_t **result, int rc, const char *code, const char *fmt, ...)
    VG_PRINTF(4, 5);
static inline int vg_method_fail(json_t **result, int rc, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    *result = vg_error_newv(code, fmt, ap);
    va_end(ap);
    return rc;
}

#ifdef __cplusplus
}
#endif

#endif /* VIGIA_BUS_H */
