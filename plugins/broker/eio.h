/* Engine.IO v4 packet codec: pure functions, no host, no allocation except
 * where stated. Wire format: docs/protocol.md §1. */
#ifndef BROKER_EIO_H
#define BROKER_EIO_H

#include <stddef.h>
#include <stdint.h>

enum brk_eio_type {
    EIO_OPEN = 0,
    EIO_CLOSE = 1,
    EIO_PING = 2,
    EIO_PONG = 3,
    EIO_MESSAGE = 4,
    EIO_UPGRADE = 5,
    EIO_NOOP = 6,
    EIO_BINARY = 7, /* 'b' + base64 on polling: always a message */
};

/* The record separator that joins packets in a polling payload. */
#define EIO_SEPARATOR '\x1e'

typedef struct brk_eio_packet {
    int type;
    const char *data; /* points into the decoded text; not NUL-terminated */
    size_t len;
} brk_eio_packet;

/* Decode one text packet. Returns 0, or -EINVAL when empty or when the first
 * character is not 0-6 or 'b'. */
int brk_eio_decode(const char *text, size_t len, brk_eio_packet *out);

/* Iterate the packets of a polling payload joined by \x1e. *pos starts at 0.
 * Returns 1 with *out filled, 0 at the end, -EINVAL on an empty payload, an
 * empty part or an invalid packet. */
int brk_eio_payload_next(const char *body, size_t len, size_t *pos, brk_eio_packet *out);

/* Encode `type` + data into out (room for len + 1 bytes). Returns the length.
 * EIO_BINARY is not encoded by the server (Vigía sends text only). */
size_t brk_eio_encode(char *out, int type, const char *data, size_t len);

/* The open packet with exactly the five keys, NUL-terminated, into out.
 * Returns the length, or -ENOSPC. */
int brk_eio_open_packet(char *out, size_t size, const char *sid, int offer_websocket,
                        int64_t ping_interval_ms, int64_t ping_timeout_ms, int64_t max_payload);

/* Engine.IO error codes and their reference messages (EIO-SRV Server.errors). */
enum brk_eio_error {
    EIO_ERR_UNKNOWN_TRANSPORT = 0,
    EIO_ERR_UNKNOWN_SID = 1,
    EIO_ERR_BAD_HANDSHAKE_METHOD = 2,
    EIO_ERR_BAD_REQUEST = 3,
    EIO_ERR_FORBIDDEN = 4,
    EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION = 5,
};
const char *brk_eio_error_message(int code);
/* HTTP status for an error code: 403 for FORBIDDEN, 400 otherwise. */
int brk_eio_error_status(int code);
/* {"code":N,"message":"..."} into out; returns the length or -ENOSPC. */
int brk_eio_error_body(char *out, size_t size, int code);

/* 20 URL-safe characters from 15 random bytes (Node's base64id shape). out
 * needs 21 bytes. Returns 0 or -errno when no randomness is available. */
int brk_eio_random_id(char out[21]);

#endif
