/* Contract of the core: the system.* events and the methods every server
 * has, whatever plugins it loads. Payloads: docs/events.md.
 *
 * Every event payload carries "v" = VG_CORE_V. */
#ifndef VIGIA_CONTRACT_CORE_H
#define VIGIA_CONTRACT_CORE_H

#define VG_CORE_V 1 /* system.* */

#define VG_CORE_EV_SYSTEM_PREFIX "system."
#define VG_CORE_EV_SYSTEM_STARTED "system.started"               /* every plugin started */
#define VG_CORE_EV_SYSTEM_STOP_REQUESTED "system.stop_requested" /* before plugins stop */

#define VG_CORE_M_STATUS "core.status"
#define VG_CORE_M_BUS_STATS "bus.stats"
#define VG_CORE_M_BUS_METHODS "bus.methods" /* {"methods":[{name, plugin}]} registered here */
#define VG_CORE_M_HTTP_STATS "http.stats"
#define VG_CORE_M_PROCESS_STATS "process.stats" /* RSS, fds, threads, malloc heap */

#endif
