/* Contract of the webpush plugin (the Web Push channel). It publishes no
 * topic and provides no method: it consumes VG_DELIVERY_REQUESTED rows whose
 * channel is VG_WEBPUSH_CHANNEL and answers VG_DELIVERY_RESULT
 * (include/vigia/contract/delivery.h); docs/events.md has the fields.
 *
 * The subscriber's address (`to`) is the browser's PushSubscription as
 * compact JSON with sorted keys and unpadded base64url keys:
 *   {"endpoint":"https://…","keys":{"auth":"<16 bytes>","p256dh":"<65 bytes>"}}
 * Results: sent (2xx), gone (404/410: the watch erases the subscriber),
 * retry (429, 5xx, no answer; retry_after_ms from Retry-After), failed
 * (413 and other 4xx, a bad address, kind "confirm").
 *
 * The notification the service worker receives (decrypted payload, JSON):
 *   v, title, body, url, tag, lang, kind, count. */
#ifndef VIGIA_CONTRACT_WEBPUSH_H
#define VIGIA_CONTRACT_WEBPUSH_H

#define VG_WEBPUSH_CHANNEL "webpush"
#define VG_WEBPUSH_PAYLOAD_V 1 /* "v" of the notification payload */

#endif
