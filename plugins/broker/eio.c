/* Engine.IO v4 packet codec. */
#include "eio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

int brk_eio_decode(const char *text, size_t len, brk_eio_packet *out)
{
    if (!text || len == 0)
        return -EINVAL;
    char c = text[0];
    if (c >= '0' && c <= '6')
        out->type = c - '0';
    else if (c == 'b')
        out->type = EIO_BINARY;
    else
        return -EINVAL;
    out->data = text + 1;
    out->len = len - 1;
    return 0;
}

int brk_eio_payload_next(const char *body, size_t len, size_t *pos, brk_eio_packet *out)
{
    if (len == 0)
        return -EINVAL;
    if (*pos > len)
        return 0; /* the last part had no separator after it: done */
    const char *start = body + *pos;
    const char *sep = memchr(start, EIO_SEPARATOR, len - *pos);
    size_t part = sep ? (size_t)(sep - start) : len - *pos;
    /* An empty part (leading, doubled or trailing separator) is invalid. */
    if (part == 0 || brk_eio_decode(start, part, out) < 0)
        return -EINVAL;
    *pos = sep ? *pos + part + 1 : len + 1;
    return 1;
}

size_t brk_eio_encode(char *out, int type, const char *data, size_t len)
{
    out[0] = (char)('0' + type);
    if (len)
        memcpy(out + 1, data, len);
    return len + 1;
}

int brk_eio_open_packet(char *out, size_t size, const char *sid, int offer_websocket,
                        int64_t ping_interval_ms, int64_t ping_timeout_ms, int64_t max_payload)
{
    int n = snprintf(out, size,
                     "0{\"sid\":\"%s\",\"upgrades\":[%s],\"pingInterval\":%lld,"
                     "\"pingTimeout\":%lld,\"maxPayload\":%lld}",
                     sid, offer_websocket ? "\"websocket\"" : "", (long long)ping_interval_ms,
                     (long long)ping_timeout_ms, (long long)max_payload);
    if (n < 0 || (size_t)n >= size)
        return -ENOSPC;
    return n;
}

const char *brk_eio_error_message(int code)
{
    switch (code) {
    case EIO_ERR_UNKNOWN_TRANSPORT:
        return "Transport unknown";
    case EIO_ERR_UNKNOWN_SID:
        return "Session ID unknown";
    case EIO_ERR_BAD_HANDSHAKE_METHOD:
        return "Bad handshake method";
    case EIO_ERR_BAD_REQUEST:
        return "Bad request";
    case EIO_ERR_FORBIDDEN:
        return "Forbidden";
    case EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION:
        return "Unsupported protocol version";
    default:
        return "Bad request";
    }
}

int brk_eio_error_status(int code) { return code == EIO_ERR_FORBIDDEN ? 403 : 400; }

int brk_eio_error_body(char *out, size_t size, int code)
{
    int n =
        snprintf(out, size, "{\"code\":%d,\"message\":\"%s\"}", code, brk_eio_error_message(code));
    if (n < 0 || (size_t)n >= size)
        return -ENOSPC;
    return n;
}

int brk_eio_random_id(char out[21])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[15];
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)n;
    }
    /* 15 bytes = 5 groups of 3 bytes = 20 base64 characters, no padding. */
    for (int g = 0; g < 5; g++) {
        unsigned v = (unsigned)raw[3 * g] << 16 | (unsigned)raw[3 * g + 1] << 8 | raw[3 * g + 2];
        out[4 * g] = alphabet[(v >> 18) & 63];
        out[4 * g + 1] = alphabet[(v >> 12) & 63];
        out[4 * g + 2] = alphabet[(v >> 6) & 63];
        out[4 * g + 3] = alphabet[v & 63];
    }
    out[20] = '\0';
    return 0;
}
