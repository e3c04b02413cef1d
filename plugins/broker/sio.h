/* Socket.IO v5 packet codec (mirrors socket.io-parser decodeString, see
 * socketio-protocol.md §2.2). Pure: jansson only. */
#ifndef BROKER_SIO_H
#define BROKER_SIO_H

#include <jansson.h>
#include <stddef.h>

enum brk_sio_type {
    SIO_CONNECT = 0,
    SIO_DISCONNECT = 1,
    SIO_EVENT = 2,
    SIO_ACK = 3,
    SIO_CONNECT_ERROR = 4,
    SIO_BINARY_EVENT = 5,
    SIO_BINARY_ACK = 6,
};

#define SIO_NSP_MAX 128

typedef struct brk_sio_packet {
    int type;
    char nsp[SIO_NSP_MAX + 1]; /* "/" when absent */
    long long id;              /* -1 when absent */
    int attachments;           /* binary types only */
    json_t *data;              /* new reference or NULL */
} brk_sio_packet;

/* Decode a Socket.IO packet (the Engine.IO message payload, without the '4').
 * Returns 0, or -EINVAL with *why set to a static reason, or -E2BIG when the
 * JSON nests deeper than `max_depth` (type, nsp and id are filled then, so the
 * caller can answer it). Binary types decode (so the caller can refuse them
 * politely and skip their attachments). */
int brk_sio_decode(const char *text, size_t len, int max_depth, brk_sio_packet *out,
                   const char **why);
void brk_sio_packet_clear(brk_sio_packet *p);

/* Encode "<type>[nsp,][id][json]" (no Engine.IO prefix unless `eio_prefix`).
 * `data` is borrowed (may be NULL). Returns a malloc'd NUL-terminated string
 * and its length, or NULL on allocation failure. */
char *brk_sio_encode(int type, const char *nsp, long long id, const json_t *data, int eio_prefix,
                     size_t *len_out);

/* binary.c: attachments. A binary value in the bus JSON is {"_binary": b64}. */
#define BRK_BINARY_KEY "_binary"
/* Base64 (standard alphabet, padded) of len bytes into out (4*ceil(len/3)+1
 * bytes); returns the length. */
size_t brk_b64_encode(const unsigned char *in, size_t len, char *out);
/* Decode standard or URL-safe base64 (padding optional) into out (len*3/4+3
 * bytes). 0 or -EINVAL. */
int brk_b64_decode(const char *in, size_t len, unsigned char *out, size_t *out_len);
/* Placeholders in `data` (in place) -> {"_binary": parts[num]}; every part
 * used once at least, every num in range, or -EINVAL. */
int brk_sio_reconstruct(json_t *data, const json_t *parts);
/* {"_binary": b64} in `data` (in place) -> placeholders; returns the array
 * of base64 strings (new reference, maybe empty) or NULL. */
json_t *brk_sio_deconstruct(json_t *data);

/* 1 when `name` is reserved and may not be used as an event name. */
int brk_sio_reserved_event(const char *name);

#endif
