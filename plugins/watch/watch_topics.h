/* The monitor's topics the watch plugin listens to, in one place: the
 * contract work may rename them, and only this header changes then. */
#ifndef WATCH_TOPICS_H
#define WATCH_TOPICS_H

#define WATCH_T_STATUS "dataset.status_changed"
#define WATCH_T_ADDED "dataset.added"
#define WATCH_T_REMOVED "dataset.removed"
#define WATCH_T_MODIFIED "dataset.modified"
#define WATCH_T_PORTAL "portal.status_changed"

#endif
