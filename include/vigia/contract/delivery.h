/* Contract between the watch plugin (subscriptions and the durable outbox)
 * and channel plugins (email now; Web Push and webhooks next). Channels are
 * plugins: the outbox never knows how a message travels, a channel never
 * knows who subscribed to what.
 *
 * 1. The watch plugin publishes VG_DELIVERY_REQUESTED for each outbox row
 *    that is due, from its own worker (never the bus thread). Payload:
 *      v         VG_DELIVERY_V
 *      key       idempotency key, unique per (subscription, notification or
 *                digest); the channel carries it with the message (the
 *                Message-ID of a mail, a header of a webhook)
 *      channel   the subscriber's channel ("email", or the name a channel
 *                plugin gave to watch.subscribe); other channels ignore it
 *      to        the address in the channel's terms (an e-mail address, or
 *                what the channel gave to watch.subscribe, byte for byte)
 *      lang      "es" | "en"
 *      tz        IANA time zone of the subscriber ("America/Santiago")
 *      kind      VG_DELIVERY_KIND_* below (confirm: e-mail only)
 *      items     array of changes, oldest first, each
 *                {topic, kind, portal, at (ISO 8601 UTC), previous?, current?,
 *                 reason?, changes?, dataset: {id, name, title, organization,
 *                 organization_title, url (on the portal), vigia_url (its
 *                 page on Vigía: <public_url>/#dataset=<id>&portal=<portal>)}}
 *      count     total changes this message stands for (a digest of a storm
 *                may carry fewer items than it counts)
 *      links     {manage, unsubscribe (one-click, RFC 8058 POST target),
 *                 confirm (kind "confirm" only)}
 *      list_id   List-Id value ("<portal-or-all>.vigia.<host>")
 * 2. The channel tries once and publishes VG_DELIVERY_RESULT:
 *      v, key, channel, status (VG_DELIVERY_SENT | _RETRY | _FAILED | _GONE),
 *      error (text, absent when sent), retry_after_ms (optional, for RETRY)
 *    RETRY: temporary (4xx SMTP reply, connection refused, timeout); the
 *    outbox backs off with jitter. FAILED: permanent (5xx, invalid address);
 *    the row is dead-lettered. GONE: the address no longer exists (a push
 *    subscription the browser dropped: 404/410; a webhook answering 410); the
 *    row is dead-lettered and the subscriber erased. No answer within the outbox's lease counts as
 *    RETRY, so a channel that crashed mid-send costs at most a duplicate of
 *    the one message in flight (at-least-once). */
#ifndef VIGIA_CONTRACT_DELIVERY_H
#define VIGIA_CONTRACT_DELIVERY_H

#include <string.h>
#include <vigia/bus.h>

#define VG_DELIVERY_V 1

#define VG_DELIVERY_REQUESTED "delivery.requested"
#define VG_DELIVERY_RESULT "delivery.result"

#define VG_DELIVERY_KIND_CONFIRM "confirm"       /* double opt-in: the only kind sent unconfirmed */
#define VG_DELIVERY_KIND_ALERT "alert"           /* immediate: one change (or one storm, grouped) */
#define VG_DELIVERY_KIND_DIGEST "digest"         /* hourly / daily / weekly summary */
#define VG_DELIVERY_KIND_MAINTAINER "maintainer" /* a dataset's maintainer, told it is down */

#define VG_DELIVERY_SENT "sent"
#define VG_DELIVERY_RETRY "retry"
#define VG_DELIVERY_FAILED "failed"
#define VG_DELIVERY_GONE "gone"

/* For a channel's bus callback: 1 when `payload` is a request for `channel`
 * with a key (*key set), 0 when it is another channel's, -1 when it is ours
 * but has no key (nobody could match its result: ignore it, say so). */
static inline int vg_delivery_request_key(const json_t *payload, const char *channel,
                                          const char **key)
{
    const char *c = json_string_value(json_object_get(payload, "channel"));
    if (!c || strcmp(c, channel) != 0)
        return 0;
    *key = json_string_value(json_object_get(payload, "key"));
    return *key && **key ? 1 : -1;
}

/* Publishes a channel's VG_DELIVERY_RESULT for `key`: `error` (a reason is
 * always given when not sent) and `retry_after_ms` (RETRY only, when > 0)
 * as the contract above says. 0, or the bus's negative errno. */
static inline int vg_delivery_publish_result(vg_bus *bus, const char *key, const char *channel,
                                             const char *status, const char *error,
                                             int64_t retry_after_ms)
{
    json_t *r = json_pack("{s:i, s:s, s:s, s:s}", "v", VG_DELIVERY_V, "key", key, "channel",
                          channel, "status", status);
    if (!r)
        return -ENOMEM;
    if (strcmp(status, VG_DELIVERY_SENT) != 0)
        json_object_set_new(r, "error", json_string(error && *error ? error : "unknown error"));
    if (strcmp(status, VG_DELIVERY_RETRY) == 0 && retry_after_ms > 0)
        json_object_set_new(r, "retry_after_ms", json_integer(retry_after_ms));
    return vg_bus_publish_new(bus, VG_DELIVERY_RESULT, r);
}

#endif
