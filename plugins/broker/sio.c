/* Socket.IO v5 packet codec. */
#include "sio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <vigia/json.h>

static const char *const reserved_events[] = {
    "connect",     "connect_error",  "disconnect", "disconnecting",
    "newListener", "removeListener", NULL};

int brk_sio_reserved_event(const char *name)
{
    for (int i = 0; reserved_events[i]; i++)
        if (strcmp(name, reserved_events[i]) == 0)
            return 1;
    return 0;
}

void brk_sio_packet_clear(brk_sio_packet *p)
{
    if (p->data)
        json_decref(p->data);
    p->data = NULL;
}

static int fail(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return -EINVAL;
}

static int payload_valid(int type, const json_t *d)
{
    switch (type) {
    case SIO_CONNECT:
        return json_is_object(d);
    case SIO_DISCONNECT:
        return 0; /* DISCONNECT carries no payload */
    case SIO_CONNECT_ERROR:
        return json_is_string(d) || json_is_object(d);
    case SIO_EVENT:
    case SIO_BINARY_EVENT: {
        if (!json_is_array(d) || json_array_size(d) == 0)
            return 0;
        const json_t *name = json_array_get(d, 0);
        if (json_is_number(name))
            return 1;
        return json_is_string(name) && !brk_sio_reserved_event(json_string_value(name));
    }
    case SIO_ACK:
    case SIO_BINARY_ACK:
        return json_is_array(d);
    }
    return 0;
}

int brk_sio_decode(const char *s, size_t len, int max_depth, brk_sio_packet *out, const char **why)
{
    memset(out, 0, sizeof *out);
    out->id = -1;
    strcpy(out->nsp, "/");
    if (!s || len == 0)
        return fail(why, "empty packet");
    if (s[0] < '0' || s[0] > '6')
        return fail(why, "unknown packet type");
    out->type = s[0] - '0';
    size_t i = 1;
    if (out->type == SIO_BINARY_EVENT || out->type == SIO_BINARY_ACK) {
        size_t start = i;
        long n = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 6)
            n = n * 10 + (s[i++] - '0');
        if (i == start || i >= len || s[i] != '-')
            return fail(why, "illegal attachments");
        if (n > 10)
            return fail(why, "too many attachments");
        out->attachments = (int)n;
        i++;
    }
    if (i < len && s[i] == '/') {
        size_t start = i;
        while (i < len && s[i] != ',')
            i++;
        size_t n = i - start;
        if (n > SIO_NSP_MAX)
            return fail(why, "namespace too long");
        memcpy(out->nsp, s + start, n);
        out->nsp[n] = '\0';
        if (memchr(out->nsp, '\0', n))
            return fail(why, "invalid namespace");
        if (i < len)
            i++; /* the comma */
    }
    if (i < len && s[i] >= '0' && s[i] <= '9') {
        long long id = 0;
        size_t start = i;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (i - start >= 15)
                return fail(why, "ack id too large");
            id = id * 10 + (s[i++] - '0');
        }
        out->id = id;
    }
    if (i < len) {
        /* jansson recurses per level: a deep payload would overflow the
         * handler's stack, so the depth is checked before it parses. */
        if (vg_json_depth_exceeds(s + i, len - i, max_depth, NULL)) {
            fail(why, "JSON nested too deeply (json_max_depth)");
            return -E2BIG;
        }
        json_error_t err;
        json_t *d = vg_json_parse(s + i, len - i, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
                                  max_depth, &err);
        if (!d)
            return fail(why, "invalid JSON payload");
        if (!payload_valid(out->type, d)) {
            json_decref(d);
            return fail(why, "invalid payload");
        }
        out->data = d;
    } else if (out->type == SIO_EVENT || out->type == SIO_BINARY_EVENT || out->type == SIO_ACK ||
               out->type == SIO_BINARY_ACK) {
        /* Node would deliver an empty event; an event without a name is useless and an ACK
         * without arguments is always sent as "[]", so refuse both. */
        return fail(why, "missing payload");
    }
    return 0;
}

char *brk_sio_encode(int type, const char *nsp, long long id, const json_t *data, int eio_prefix,
                     size_t *len_out)
{
    char *json = NULL;
    size_t json_len = 0;
    if (data) {
        json = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!json)
            return NULL;
        json_len = strlen(json);
    }
    int with_nsp = nsp && strcmp(nsp, "/") != 0;
    size_t nsp_len = with_nsp ? strlen(nsp) + 1 : 0;
    size_t cap = 2 + nsp_len + 24 + json_len + 1;
    char *out = malloc(cap);
    if (!out) {
        free(json);
        return NULL;
    }
    size_t n = 0;
    if (eio_prefix)
        out[n++] = '4';
    out[n++] = (char)('0' + type);
    if (with_nsp) {
        memcpy(out + n, nsp, nsp_len - 1);
        n += nsp_len - 1;
        out[n++] = ',';
    }
    if (id >= 0) {
        char digits[24];
        int d = 0;
        long long v = id;
        do {
            digits[d++] = (char)('0' + v % 10);
            v /= 10;
        } while (v > 0);
        while (d > 0)
            out[n++] = digits[--d];
    }
    if (json_len) {
        memcpy(out + n, json, json_len);
        n += json_len;
    }
    out[n] = '\0';
    free(json);
    if (len_out)
        *len_out = n;
    return out;
}
