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
 *                 organization_title, url (on the portal), vigia_url}}
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

#endif
