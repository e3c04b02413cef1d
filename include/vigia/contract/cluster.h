/* Contract of the cluster plugin: several Vigía nodes as one through Redis
 * (docs/cluster.md). Results field by field: docs/events.md.
 *
 * Events: the plugin publishes none of its own. An event it republishes from
 * another node is the origin's payload plus VG_CLUSTER_F_ORIGIN (the origin
 * node's id); such events are never forwarded again. */
#ifndef VIGIA_CONTRACT_CLUSTER_H
#define VIGIA_CONTRACT_CLUSTER_H

/* Field added to an event republished from another node: its node id. */
#define VG_CLUSTER_F_ORIGIN "cluster_origin"

/* cluster.status -> {node, connected, redis, events_forwarded,
 *   events_received, events_lost, events_missed, calls_forwarded,
 *   calls_served, calls_failed, reconnects, nodes, remote_methods} */
#define VG_CLUSTER_M_STATUS "cluster.status"

#endif
