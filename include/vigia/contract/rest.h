/* Contract of the rest plugin for what it provides on the bus: the stats
 * object (method and coalesced event). Payload: docs/events.md.
 *
 * Every event payload carries "v" = VG_REST_V. */
#ifndef VIGIA_CONTRACT_REST_H
#define VIGIA_CONTRACT_REST_H

#define VG_REST_V 1 /* stats.* */

#define VG_REST_EV_STATS_UPDATED "stats.updated"
#define VG_REST_M_STATS_GET "stats.get"

#endif
