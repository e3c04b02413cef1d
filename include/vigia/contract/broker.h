/* Contract of the broker plugin (Socket.IO): the methods it provides. It
 * publishes no bus event; what it sends to browsers is docs/protocol.md. */
#ifndef VIGIA_CONTRACT_BROKER_H
#define VIGIA_CONTRACT_BROKER_H

#define VG_BROKER_M_STATUS "broker.status"
#define VG_BROKER_M_ASK "broker.ask" /* {sid, event, data?, timeout_ms?} -> {ack} */

#endif
