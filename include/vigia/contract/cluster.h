/* Contract of the cluster plugin: several Vigía nodes as one through Redis
 * (docs/cluster.md). Results field by field: docs/events.md.
 *
 * Events: an event it republishes from another node is the origin's payload
 * plus VG_CLUSTER_F_ORIGIN (the origin node's id); such events are never
 * forwarded again. Its own (for the broker): cluster.event_logged and
 * cluster.clients_changed, below. */
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

/* ---- connection state recovery across nodes (docs/cluster.md) ----
 * Every shared event goes into the cluster's replay log (a Redis Stream,
 * capped by [cluster] replay_max entries and replay_bytes) and gets a
 * cluster-wide offset there, the same on every node. The Socket.IO broker
 * uses these offsets so that a client can resume on any node.
 *
 * VG_CLUSTER_F_OFFSET: integer added to an event republished from another
 *   node (with VG_CLUSTER_F_ORIGIN): its offset in the replay log.
 * cluster.event_logged {v, topic, payload, offset?}: one of this node's own
 *   shared events, published again here once Redis has logged it, in the
 *   same order as the other nodes' events (offset absent when Redis could
 *   not log it: then at once). Only the broker needs it: other plugins take
 *   the original event.
 * cluster.replay_topics -> {topics:[prefix...], offset, session_ttl_ms}: the
 *   shared topics whose own events come back as cluster.event_logged ([]
 *   with replay_max = 0); how long a connected socket's saved state lives
 *   (the broker saves it again before that).
 * cluster.recover {pid, offset} -> {found, sid?, rooms?, events?, reason?}:
 *   takes (once) a Socket.IO session another node saved (socket.state_saved)
 *   and the shared events logged after `offset`: [{topic, payload,
 *   offset}], oldest first. found false with reason: unknown (no such
 *   session, or it expired), trimmed (events after offset left the log),
 *   unavailable (no Redis). */
#define VG_CLUSTER_F_OFFSET "cluster_offset"
#define VG_CLUSTER_EV_EVENT_LOGGED "cluster.event_logged"
#define VG_CLUSTER_EV_V 1
#define VG_CLUSTER_M_REPLAY_TOPICS "cluster.replay_topics"
#define VG_CLUSTER_M_RECOVER "cluster.recover"

/* ---- client counts of the whole cluster (stats_update) ----
 * cluster.clients -> {connected, websocket, polling, nodes}: the Socket.IO
 *   clients of the other live nodes (their last second's counts), at once.
 * cluster.clients_changed {v, connected, websocket, polling, nodes}: that
 *   sum changed (at most once a second); published while someone listens. */
#define VG_CLUSTER_M_CLIENTS "cluster.clients"
#define VG_CLUSTER_EV_CLIENTS_CHANGED "cluster.clients_changed"

/* Offsets from Redis stream ids "<ms>-<seq>": ((ms - epoch) << 22) | (seq << 6).
 * The low 6 bits stay free for a node's own broadcasts between two logged
 * events (offset + 1 ... + 63), so offsets only grow on every node. */
#define VG_CLUSTER_OFFSET_EPOCH 1600000000000ULL
static inline unsigned long long vg_cluster_offset(unsigned long long ms, unsigned long long seq)
{
    if (ms < VG_CLUSTER_OFFSET_EPOCH)
        ms = VG_CLUSTER_OFFSET_EPOCH;
    if (seq > 0xFFFF)
        seq = 0xFFFF;
    return ((ms - VG_CLUSTER_OFFSET_EPOCH) << 22) | (seq << 6);
}

#endif
