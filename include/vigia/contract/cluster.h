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

/* Leases: exactly one node does a job (the monitor's sweeps of a portal).
 * cluster.lease {name} -> {held, token, holder, error?}: takes the lease when
 *   free, renews it when this node holds it; the cluster plugin renews held
 *   leases every second until its node stops (then it gives them back) or
 *   pauses past [cluster] lease_ttl. token: the fencing token, larger for
 *   every new holder. Without Redis: held only while the local expiry lasts.
 * cluster.lease_check {name} -> {valid, token?, reason?}: is this node still
 *   the holder (its token is the key's)? Ask right before acting on the
 *   job's result: a holder that was paused and lost the lease gets false.
 * Without the cluster plugin both are UNAVAILABLE: the node is alone. */
#define VG_CLUSTER_M_LEASE "cluster.lease"
#define VG_CLUSTER_M_LEASE_CHECK "cluster.lease_check"

#endif
