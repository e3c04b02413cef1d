/* base64: see base64.h. */
#include "base64.h"

#include <stdio.h>

static const char std_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t base64_encoded_len(size_t n, unsigned flags)
{
    if (flags & BASE64_URL)
        return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
    return (n + 2) / 3 * 4;
}

size_t base64_decoded_max(size_t len) { return len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0); }

size_t base64_encode(const void *in, size_t n, char *out, unsigned flags)
{
    const unsigned char *p = in;
    const char *abc = flags & BASE64_URL ? url_chars : std_chars;
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        out[o++] = abc[v >> 18];
        out[o++] = abc[(v >> 12) & 63];
        out[o++] = abc[(v >> 6) & 63];
        out[o++] = abc[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0);
        out[o++] = abc[v >> 18];
        out[o++] = abc[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = abc[(v >> 6) & 63];
        if (!(flags & BASE64_URL)) {
            if (i + 1 >= n)
                out[o++] = '=';
            out[o++] = '=';
        }
    }
    out[o] = '\0';
    return o;
}

/* The value of c (0..63) and which alphabet it belongs to (BASE64_STD,
 * BASE64_URL, or both for the 62 shared characters); -1 for any other. */
static int value_of(unsigned char c, unsigned *alphabet)
{
    *alphabet = BASE64_ANY;
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    *alphabet = c == '+' || c == '/' ? BASE64_STD : BASE64_URL;
    return c == '+' || c == '-' ? 62 : c == '/' || c == '_' ? 63 : -1;
}

static long refuse(char *err, size_t errn, const char *what, size_t at)
{
    if (err && errn)
        snprintf(err, errn, "%s at %zu", what, at);
    return -1;
}

long base64_decode(const char *in, size_t len, unsigned char *out, size_t max, unsigned flags,
                   char *err, size_t errn)
{
    size_t n = len;
    while (n > 0 && in[n - 1] == '=' && len - n < 2)
        n--;
    if (n < len && len % 4 != 0)
        return refuse(err, errn, "padding that does not end a group of four", n);
    if (n % 4 == 1)
        return refuse(err, errn, "a length of 4k+1 (a character too many or too few)", n);
    size_t need = base64_decoded_max(n);
    if (need > max) {
        if (err && errn)
            snprintf(err, errn, "%zu bytes, more than the %zu expected", need, max);
        return -1;
    }
    unsigned acc = 0, seen = BASE64_ANY, a;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = value_of((unsigned char)in[i], &a);
        if (v < 0 || !(a & flags)) {
            unsigned char c = (unsigned char)in[i];
            if (err && errn && c > 0x20 && c < 0x7f)
                snprintf(err, errn, "invalid character '%c' at %zu", c, i);
            else if (err && errn)
                snprintf(err, errn, "invalid byte 0x%02x at %zu", c, i);
            return -1;
        }
        if (!(a & seen))
            return refuse(err, errn, "both alphabets (+/ and -_) in one text", i);
        seen &= a;
        acc = (acc << 6 | (unsigned)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    if (bits > 0 && (acc & ((1u << bits) - 1)) && !(flags & BASE64_LAX_BITS))
        return refuse(err, errn, "non-zero unused bits (not the canonical encoding)", n - 1);
    return (long)o;
}
