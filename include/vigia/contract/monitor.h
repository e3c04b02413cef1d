/* Contract of the monitor plugin: what it publishes, the methods it provides,
 * and the words it uses for statuses, reasons and portal states. The single
 * source for every other plugin (and for the monitor itself): compare with
 * these, never with a copied string. Payloads field by field: docs/events.md.
 *
 * Every event payload carries "v" = VG_MONITOR_V (a major version: a consumer
 * that does not know the v it gets ignores the event). */
#ifndef VIGIA_CONTRACT_MONITOR_H
#define VIGIA_CONTRACT_MONITOR_H

#include <stddef.h>

#define VG_MONITOR_V 1 /* dataset.*, portal.*, monitor.* */

/* ---- events ---- */
#define VG_MONITOR_EV_DATASET_PREFIX "dataset."
#define VG_MONITOR_EV_DATASET_ADDED "dataset.added"
#define VG_MONITOR_EV_DATASET_MODIFIED "dataset.modified"
#define VG_MONITOR_EV_DATASET_REMOVED "dataset.removed"
#define VG_MONITOR_EV_DATASET_STATUS_CHANGED "dataset.status_changed"
/* open-data signals (docs/monitoring.md "Signals") */
#define VG_MONITOR_EV_DATASET_FRESHNESS_CHANGED "dataset.freshness_changed"
#define VG_MONITOR_EV_DATASET_RESOURCE_RECREATED "dataset.resource_recreated"
#define VG_MONITOR_EV_DATASET_FORMAT_DRIFT "dataset.format_drift"
#define VG_MONITOR_EV_DATASET_CONTENT_CHANGED "dataset.content_changed"
#define VG_MONITOR_EV_DATASET_SCHEMA_CHANGED "dataset.schema_changed"
#define VG_MONITOR_EV_PORTAL_PREFIX "portal."
#define VG_MONITOR_EV_PORTAL_STATUS_CHANGED "portal.status_changed"
#define VG_MONITOR_EV_PORTAL_WARNING_RAISED "portal.warning_raised"
#define VG_MONITOR_EV_PREFIX "monitor."
#define VG_MONITOR_EV_SWEEP_STARTED "monitor.sweep_started"
#define VG_MONITOR_EV_SWEEP_FINISHED "monitor.sweep_finished"

/* ---- methods ---- */
#define VG_MONITOR_M_DATASETS_LIST "datasets.list"
#define VG_MONITOR_M_DATASETS_GET "datasets.get"
#define VG_MONITOR_M_DATASETS_HISTORY "datasets.history"
#define VG_MONITOR_M_STATUS "monitor.status"
#define VG_MONITOR_M_RUN_NOW "monitor.run_now"
#define VG_MONITOR_M_DATASETS_CHANGES "datasets.changes"     /* a dataset's change history */
#define VG_MONITOR_M_ORGANIZATIONS_LIST "organizations.list" /* the report per organisation */
#define VG_MONITOR_M_ORGANIZATIONS_GET "organizations.get"

/* ---- payload fields other plugins read ---- */
#define VG_MONITOR_F_PORTAL "portal"
#define VG_MONITOR_F_SWEEP_ID "sweep_id"
#define VG_MONITOR_F_DATASET "dataset" /* the dataset object below */
#define VG_MONITOR_F_PREVIOUS "previous"
#define VG_MONITOR_F_CURRENT "current"
#define VG_MONITOR_F_FAILING "failing" /* resources behind a status change */
#define VG_MONITOR_F_CHANGES "changes"
#define VG_MONITOR_F_RETURNED "returned"
#define VG_MONITOR_F_COMPLETE "complete"
#define VG_MONITOR_F_REASON "reason"
/* the dataset object */
#define VG_MONITOR_DS_ID "id"
#define VG_MONITOR_DS_NAME "name"
#define VG_MONITOR_DS_TITLE "title"
#define VG_MONITOR_DS_ORGANIZATION "organization"
#define VG_MONITOR_DS_ORGANIZATION_TITLE "organization_title"
#define VG_MONITOR_DS_URL "url"
#define VG_MONITOR_DS_STATUS "status"

/* ---- dataset statuses ---- */
#define VG_MONITOR_DATASET_UP "up"
#define VG_MONITOR_DATASET_DOWN "down"
#define VG_MONITOR_DATASET_DEGRADED "degraded"
#define VG_MONITOR_DATASET_EMPTY "empty" /* lists no resource */
#define VG_MONITOR_DATASET_UNKNOWN "unknown"
/* All of them, in the order the API reports them; NULL-terminated. */
static const char *const VG_MONITOR_DATASET_STATUSES[] = {
    VG_MONITOR_DATASET_UP,    VG_MONITOR_DATASET_DOWN,    VG_MONITOR_DATASET_DEGRADED,
    VG_MONITOR_DATASET_EMPTY, VG_MONITOR_DATASET_UNKNOWN, NULL};

/* ---- resource statuses ---- */
#define VG_MONITOR_RESOURCE_UNKNOWN "unknown"
#define VG_MONITOR_RESOURCE_UP "up"
#define VG_MONITOR_RESOURCE_DOWN "down"
#define VG_MONITOR_RESOURCE_RESTRICTED "restricted"
#define VG_MONITOR_RESOURCE_DEGRADED "degraded"
static const char *const VG_MONITOR_RESOURCE_STATUSES[] = {
    VG_MONITOR_RESOURCE_UP,       VG_MONITOR_RESOURCE_DOWN,    VG_MONITOR_RESOURCE_RESTRICTED,
    VG_MONITOR_RESOURCE_DEGRADED, VG_MONITOR_RESOURCE_UNKNOWN, NULL};

/* ---- why a resource has its status (the "reason" of a check) ---- */
#define VG_MONITOR_REASON_OK "ok"
#define VG_MONITOR_REASON_SLOW "slow"
#define VG_MONITOR_REASON_LOGIN_REQUIRED "login_required"
#define VG_MONITOR_REASON_HTML_INSTEAD_OF_DATA "html_instead_of_data"
#define VG_MONITOR_REASON_RESTRICTED "restricted"
#define VG_MONITOR_REASON_TIMEOUT "timeout"
#define VG_MONITOR_REASON_TOO_MANY_REDIRECTS "too_many_redirects"
#define VG_MONITOR_REASON_CONNECTION_ERROR "connection_error"
#define VG_MONITOR_REASON_HTTP_5XX "http_5xx"
#define VG_MONITOR_REASON_NOT_FOUND "not_found"
#define VG_MONITOR_REASON_HTTP_ERROR "http_error"
#define VG_MONITOR_REASON_RATE_LIMITED "rate_limited"
#define VG_MONITOR_REASON_INVALID_URL "invalid_url"
#define VG_MONITOR_REASON_UNKNOWN "unknown"
static const char *const VG_MONITOR_REASONS[] = {VG_MONITOR_REASON_OK,
                                                 VG_MONITOR_REASON_SLOW,
                                                 VG_MONITOR_REASON_LOGIN_REQUIRED,
                                                 VG_MONITOR_REASON_HTML_INSTEAD_OF_DATA,
                                                 VG_MONITOR_REASON_RESTRICTED,
                                                 VG_MONITOR_REASON_TIMEOUT,
                                                 VG_MONITOR_REASON_TOO_MANY_REDIRECTS,
                                                 VG_MONITOR_REASON_CONNECTION_ERROR,
                                                 VG_MONITOR_REASON_HTTP_5XX,
                                                 VG_MONITOR_REASON_NOT_FOUND,
                                                 VG_MONITOR_REASON_HTTP_ERROR,
                                                 VG_MONITOR_REASON_RATE_LIMITED,
                                                 VG_MONITOR_REASON_INVALID_URL,
                                                 VG_MONITOR_REASON_UNKNOWN,
                                                 NULL};

/* ---- freshness against the declared update frequency ---- */
#define VG_MONITOR_FRESHNESS_UNKNOWN "unknown" /* no usable frequency declared */
#define VG_MONITOR_FRESHNESS_FRESH "fresh"
#define VG_MONITOR_FRESHNESS_DUE "due"
#define VG_MONITOR_FRESHNESS_OVERDUE "overdue"
#define VG_MONITOR_FRESHNESS_DELINQUENT "delinquent"
static const char *const VG_MONITOR_FRESHNESS_STATES[] = {
    VG_MONITOR_FRESHNESS_FRESH,      VG_MONITOR_FRESHNESS_DUE,     VG_MONITOR_FRESHNESS_OVERDUE,
    VG_MONITOR_FRESHNESS_DELINQUENT, VG_MONITOR_FRESHNESS_UNKNOWN, NULL};

/* ---- what a resource serves (dataset.format_drift "served") ---- */
#define VG_MONITOR_SERVED_HTML "html"
#define VG_MONITOR_SERVED_PDF "pdf"
#define VG_MONITOR_SERVED_ZIP "zip"
#define VG_MONITOR_SERVED_GZIP "gzip"
#define VG_MONITOR_SERVED_OLE2 "ole2" /* legacy Office: XLS, DOC */

/* ---- what the bytes said of a content change (dataset.content_changed resources[].hash) ---- */
#define VG_MONITOR_HASH_CHANGED "changed"     /* hashed: the SHA-256 moved (both fetches agree) */
#define VG_MONITOR_HASH_TOO_LARGE "too_large" /* over hash_max_bytes: not hashed */
#define VG_MONITOR_HASH_REGENERATED "regenerated" /* differs on every fetch: never announced */

/* ---- schema drift (dataset.schema_changed resources[].changes[].kind) ---- */
#define VG_MONITOR_SCHEMA_ADDED "added"
#define VG_MONITOR_SCHEMA_REMOVED "removed"
#define VG_MONITOR_SCHEMA_RENAMED "renamed"
#define VG_MONITOR_SCHEMA_RETYPED "retyped"
#define VG_MONITOR_SCHEMA_REORDERED "reordered"
#define VG_MONITOR_SCHEMA_DELIMITER "delimiter"
#define VG_MONITOR_SCHEMA_ENCODING "encoding"
#define VG_MONITOR_SCHEMA_TABLE_LOST "table_lost"
#define VG_MONITOR_SCHEMA_TABLE_FOUND "table_found"

/* ---- how a re-created resource was recognised ("matched_by") ---- */
#define VG_MONITOR_MATCHED_URL "url"
#define VG_MONITOR_MATCHED_NAME "name"

/* ---- portal states (monitor.status, portal.status_changed) ---- */
#define VG_MONITOR_PORTAL_UNKNOWN "unknown"
#define VG_MONITOR_PORTAL_UP "up"
#define VG_MONITOR_PORTAL_DOWN "down"
static const char *const VG_MONITOR_PORTAL_STATES[] = {VG_MONITOR_PORTAL_UP, VG_MONITOR_PORTAL_DOWN,
                                                       VG_MONITOR_PORTAL_UNKNOWN, NULL};

/* ---- why a sweep is not complete (monitor.sweep_finished "reason") ---- */
#define VG_MONITOR_SWEEP_CANCELLED "cancelled"
#define VG_MONITOR_SWEEP_LISTING_FAILED "listing_failed"
#define VG_MONITOR_SWEEP_LISTING_INCOMPLETE "listing_incomplete"
#define VG_MONITOR_SWEEP_CHECKS_FAILED "checks_failed"
#define VG_MONITOR_SWEEP_STORE_ERROR "store_error"

/* ---- portal.warning_raised "reason" ---- */
#define VG_MONITOR_WARNING_MASS_REMOVAL_HELD "mass_removal_held"

#endif
