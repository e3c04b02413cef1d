/* The monitor's topics the watch plugin listens to, from the monitor's bus
 * contract (include/vigia/contract/monitor.h). */
#ifndef WATCH_TOPICS_H
#define WATCH_TOPICS_H

#include <vigia/contract/monitor.h>

#define WATCH_T_STATUS VG_MONITOR_EV_DATASET_STATUS_CHANGED
#define WATCH_T_ADDED VG_MONITOR_EV_DATASET_ADDED
#define WATCH_T_REMOVED VG_MONITOR_EV_DATASET_REMOVED
#define WATCH_T_MODIFIED VG_MONITOR_EV_DATASET_MODIFIED
#define WATCH_T_PORTAL VG_MONITOR_EV_PORTAL_STATUS_CHANGED

#endif
