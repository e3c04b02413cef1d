/* Contract of the watch plugin: its methods. Results field by field:
 * docs/events.md. Its deliveries use include/vigia/contract/delivery.h. */
#ifndef VIGIA_CONTRACT_WATCH_H
#define VIGIA_CONTRACT_WATCH_H

/* ---- methods ---- */
#define VG_WATCH_M_STATUS "watch.status" /* outbox depth, deliveries, oldest pending */

/* Channel plugins other than e-mail hold subscriptions through these. Call
 * them from your own thread (an HTTP handler, a job), never the bus thread.
 *
 * watch.subscribe {v, channel, address, target, kinds?, delivery?,
 *                  quiet_hours?, min_severity?, lang?, tz?}
 *   target and the preferences: as POST /api/subscriptions takes them
 *   (docs/subscriptions.md). `address` is the channel's own (a push
 *   subscription, a webhook endpoint id), opaque to the watch, at most
 *   VG_WATCH_ADDRESS_MAX bytes; it comes back as `to` in delivery.requested.
 *   The caller vouches for consent (a browser's permission, an admin token):
 *   the subscription is confirmed at once, no confirmation is sent. The same
 *   (channel, address) again adds a subscription to the same subscriber.
 *   -> {v, subscriber, subscription, manage_token, manage_url}; the token is
 *   returned only here (stored as a hash). Errors: INVALID_ARGUMENT naming
 *   the field, UNAVAILABLE when the store cannot write.
 * watch.forget {v, channel, address} -> {v, removed}: erases the subscriber
 *   and everything of it.
 * watch.subscriber {v, token} -> {v, subscriber, channel, address, lang, tz}
 *   for a valid manage token, else NOT_FOUND: lets a channel accept a request
 *   made with a manage link. */
/* watch.erase {v, email} -> {v, erased}: a right-to-be-forgotten request
 * for an e-mail address (subscriptions, tokens, pending items, outbox rows);
 * what `vigia --call watch.erase '{"email": "..."}'` runs for an operator. */
#define VG_WATCH_M_ERASE "watch.erase"
#define VG_WATCH_M_SUBSCRIBE "watch.subscribe"
#define VG_WATCH_M_FORGET "watch.forget"
#define VG_WATCH_M_SUBSCRIBER "watch.subscriber"
#define VG_WATCH_V 1
#define VG_WATCH_ADDRESS_MAX 4096
#define VG_WATCH_CHANNEL_EMAIL "email"

#endif
