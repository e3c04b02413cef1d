/* Contract of the broker plugin (Socket.IO): its methods, the extension API
 * for other plugins, and the events it publishes. What it sends to browsers
 * is docs/protocol.md; the extension API is docs/events.md ("Broker
 * extension API"). */
#ifndef VIGIA_CONTRACT_BROKER_H
#define VIGIA_CONTRACT_BROKER_H

#define VG_BROKER_M_STATUS "broker.status"
#define VG_BROKER_M_ASK "broker.ask" /* {sid, event, data?, timeout_ms?} -> {ack} */
/* Admin view: sockets, namespaces, rooms, rates, drops, slowest backlogs
 * (also GET /api/broker/admin with the admin token). */
#define VG_BROKER_M_ADMIN "broker.admin"

/* ---- extension API: plugins add their own real-time features ----
 *
 * broker.register {namespace, handler, events?, auth?}
 *   namespace "/" (the broker's own) or "/<name>" (the plugin owns it).
 *   handler: the name of a bus method of the calling plugin that the broker
 *   calls, in the thread that read the packet (so it must be quick):
 *     {v, type:"auth", sid, namespace, auth, address, admin}   (auth: true only)
 *        -> {accept:true} | {accept:false, message, data?}   (CONNECT_ERROR)
 *     {v, type:"event", sid, namespace, event, args, ack?}
 *        -> {} | {ack:[args]} (answers the client's ack at once)
 *   events: on "/", the event names the plugin takes (not the broker's own);
 *   on its own namespace every event goes to the handler.
 * broker.emit {namespace?, to:{sid}|{room}|{} , event, args?, ack?, timeout_ms?}
 *   -> {sent} | with ack: {acks:[{sid, args}], missing:[sid]}
 * broker.ack {ack, args?}: answer a client's ack handle later.
 * broker.join / broker.leave {sid, room}: rooms of a socket, per namespace.
 * broker.disconnect {sid}: the server closes that socket's namespace.
 *
 * Binary values in args, both ways: {"_binary": "<base64>"} (an object with
 * that one key). They travel as Socket.IO attachments (BINARY_EVENT /
 * BINARY_ACK): WebSocket binary frames, "b<base64>" packets on polling. */
#define VG_BROKER_M_REGISTER "broker.register"
#define VG_BROKER_M_EMIT "broker.emit"
#define VG_BROKER_M_ACK "broker.ack"
#define VG_BROKER_M_JOIN "broker.join"
#define VG_BROKER_M_LEAVE "broker.leave"
#define VG_BROKER_M_DISCONNECT "broker.disconnect"

#define VG_BROKER_BINARY_KEY "_binary"

/* Handler call types (field "type"). */
#define VG_BROKER_CALL_AUTH "auth"
#define VG_BROKER_CALL_EVENT "event"

/* ---- events (published only while a plugin has registered) ---- */
/* {v, sid, namespace, auth, transport} */
#define VG_BROKER_EV_SOCKET_CONNECTED "socket.connected"
/* {v, sid, namespace, reason} */
#define VG_BROKER_EV_SOCKET_DISCONNECTED "socket.disconnected"
#define VG_BROKER_EV_V 1
/* Published only while someone subscribes (the cluster plugin keeps them in
 * Redis so that another node can resume the session: docs/cluster.md).
 * socket.state_saved {v, pid, sid, rooms, ttl_ms}: a recoverable socket's
 *   state changed (connected, joined, left, disconnected); keep it ttl_ms
 *   (0: while the socket is connected, a long time).
 * socket.state_dropped {v, pid}: the socket ended for good (or resumed). */
#define VG_BROKER_EV_STATE_SAVED "socket.state_saved"
#define VG_BROKER_EV_STATE_DROPPED "socket.state_dropped"
#define VG_BROKER_F_PID "pid"
#define VG_BROKER_F_ROOMS "rooms"
#define VG_BROKER_F_TTL_MS "ttl_ms"

#define VG_BROKER_F_SID "sid"
#define VG_BROKER_F_NAMESPACE "namespace"
#define VG_BROKER_F_AUTH "auth"
#define VG_BROKER_F_TRANSPORT "transport"
#define VG_BROKER_F_REASON "reason"
#define VG_BROKER_F_EVENT "event"
#define VG_BROKER_F_ARGS "args"
#define VG_BROKER_F_ACK "ack"

#endif
