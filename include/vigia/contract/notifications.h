/* Contract of the notifications plugin: its events, methods and the
 * notification types. Payloads field by field: docs/events.md.
 *
 * Every event payload carries "v" = VG_NOTIFICATIONS_V. */
#ifndef VIGIA_CONTRACT_NOTIFICATIONS_H
#define VIGIA_CONTRACT_NOTIFICATIONS_H

#include <stddef.h>

#define VG_NOTIFICATIONS_V 1 /* notification.* */

/* ---- events ---- */
#define VG_NOTIFICATIONS_EV_PREFIX "notification."
#define VG_NOTIFICATIONS_EV_CREATED "notification.created"
#define VG_NOTIFICATIONS_EV_READ "notification.read"
#define VG_NOTIFICATIONS_EV_CLEARED "notification.cleared" /* all of them at once */

/* ---- methods ---- */
#define VG_NOTIFICATIONS_M_LIST "notifications.list"
#define VG_NOTIFICATIONS_M_GET "notifications.get"
#define VG_NOTIFICATIONS_M_CREATE "notifications.create"
#define VG_NOTIFICATIONS_M_MARK_READ "notifications.mark_read"
#define VG_NOTIFICATIONS_M_MARK_ALL_READ "notifications.mark_all_read"
#define VG_NOTIFICATIONS_M_CLEAR "notifications.clear"
#define VG_NOTIFICATIONS_M_STATS "notifications.stats"

/* ---- payload fields other plugins read ---- */
#define VG_NOTIFICATIONS_F_NOTIFICATION "notification" /* the object below */
#define VG_NOTIFICATIONS_F_NOTIFICATION_ID "notification_id"
#define VG_NOTIFICATIONS_F_UNREAD_COUNT "unread_count"
#define VG_NOTIFICATIONS_F_MARKED "marked"
#define VG_NOTIFICATIONS_F_CLEARED "cleared"
/* the notification object */
#define VG_NOTIFICATIONS_N_ID "id"
#define VG_NOTIFICATIONS_N_TYPE "type"
#define VG_NOTIFICATIONS_N_TITLE "title"
#define VG_NOTIFICATIONS_N_MESSAGE "message"
#define VG_NOTIFICATIONS_N_DATA "data"

/* ---- notification types ---- */
#define VG_NOTIFICATIONS_TYPE_INFO "info"
#define VG_NOTIFICATIONS_TYPE_WARNING "warning"
#define VG_NOTIFICATIONS_TYPE_ERROR "error"
#define VG_NOTIFICATIONS_TYPE_SUCCESS "success"
/* In the store's order (info = 0); NULL-terminated. */
static const char *const VG_NOTIFICATIONS_TYPES[] = {
    VG_NOTIFICATIONS_TYPE_INFO, VG_NOTIFICATIONS_TYPE_WARNING, VG_NOTIFICATIONS_TYPE_ERROR,
    VG_NOTIFICATIONS_TYPE_SUCCESS, NULL};
#define VG_NOTIFICATIONS_TYPE_COUNT 4

#endif
