/* Contract of the watch plugin: its methods. Results field by field:
 * docs/events.md. Its deliveries use include/vigia/contract/delivery.h. */
#ifndef VIGIA_CONTRACT_WATCH_H
#define VIGIA_CONTRACT_WATCH_H

/* ---- methods ---- */
#define VG_WATCH_M_STATUS "watch.status" /* outbox depth, deliveries, oldest pending */

#endif
