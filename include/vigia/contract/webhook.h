/* Contract of the webhook channel plugin (issue 12). It delivers the watch
 * plugin's outbox rows (include/vigia/contract/delivery.h) whose channel is
 * VG_WEBHOOK_CHANNEL to HTTP endpoints, signed the Standard Webhooks way
 * (standardwebhooks.com). The endpoints are managed over HTTP
 * (docs/subscriptions.md, "Webhooks"); on the bus it offers one read-only
 * method. Results field by field: docs/events.md. */
#ifndef VIGIA_CONTRACT_WEBHOOK_H
#define VIGIA_CONTRACT_WEBHOOK_H

#define VG_WEBHOOK_V 1 /* method results and the body of a "standard" delivery */

/* The channel name in delivery.requested / watch.subscribe; the address
 * ("to") is the endpoint id ("wh_" + 20 hex digits). */
#define VG_WEBHOOK_CHANNEL "webhook"

/* ---- methods ---- */
#define VG_WEBHOOK_M_STATUS "webhook.status" /* endpoints by state, deliveries since start */

/* ---- formats of an endpoint ---- */
#define VG_WEBHOOK_FORMAT_STANDARD "standard" /* the documented JSON body, signed */
#define VG_WEBHOOK_FORMAT_SLACK "slack"       /* Slack / Mattermost / Rocket.Chat incoming */
#define VG_WEBHOOK_FORMAT_DISCORD "discord"   /* Discord execute-webhook body */
#define VG_WEBHOOK_FORMAT_TEAMS "teams"       /* Adaptive Card in the Workflows envelope */

/* ---- headers of every delivery (Standard Webhooks) ---- */
#define VG_WEBHOOK_H_ID "webhook-id"               /* the delivery key: dedupe on it */
#define VG_WEBHOOK_H_TIMESTAMP "webhook-timestamp" /* Unix seconds of this try */
#define VG_WEBHOOK_H_SIGNATURE "webhook-signature" /* "v1,<base64 HMAC-SHA256>" ... */

/* ---- "type" of a standard body ---- */
#define VG_WEBHOOK_TYPE_ALERT "vigia.alert"
#define VG_WEBHOOK_TYPE_DIGEST "vigia.digest"
#define VG_WEBHOOK_TYPE_MAINTAINER "vigia.maintainer"
#define VG_WEBHOOK_TYPE_TEST "vigia.test"

#endif
