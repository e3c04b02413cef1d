/* Transfer encodings (quoted-printable, base64) and RFC 2047 header words. */
#include <string.h>

#include "base64.h"
#include "email.h"

static const char hexd[] = "0123456789ABCDEF";

/* One source line (without its line end) as QP lines of at most 76. */
static void qp_line(tmpl_buf *out, const unsigned char *s, size_t n)
{
    size_t col = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        char enc[3];
        size_t w;
        int last = i + 1 == n;
        /* Trailing space or tab must be encoded (transports strip it). */
        if ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !last)) {
            enc[0] = (char)c;
            w = 1;
        } else {
            enc[0] = '=';
            enc[1] = hexd[c >> 4];
            enc[2] = hexd[c & 15];
            w = 3;
        }
        /* Keep room for the soft break "=" within 76. */
        if (col + w > (last ? 76 : 75)) {
            tmpl_buf_add(out, "=\r\n", 3);
            col = 0;
        }
        tmpl_buf_add(out, enc, w);
        col += w;
    }
    tmpl_buf_add(out, "\r\n", 2);
}

void email_qp_encode(tmpl_buf *out, const char *in, size_t len)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '\n') {
            size_t end = i;
            if (end > start && s[end - 1] == '\r')
                end--;
            if (i == len && end == start)
                break; /* no empty line after a final line end */
            qp_line(out, s + start, end - start);
            start = i + 1;
        }
    }
}

void email_base64(tmpl_buf *out, const unsigned char *in, size_t len)
{
    char q[64 + 1];
    for (size_t i = 0; i < len; i += 48) /* whole groups of 3: the pieces join */
        tmpl_buf_add(out, q, base64_encode(in + i, len - i < 48 ? len - i : 48, q, BASE64_STD));
}

int email_is_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 32 || (unsigned char)*s > 126)
            return 0;
    return 1;
}

/* Length of the UTF-8 sequence starting with byte c (1 for stray bytes). */
static size_t utf8_len(unsigned char c)
{
    if (c >= 0xF0 && c < 0xF8)
        return 4;
    if (c >= 0xE0)
        return c < 0xF0 ? 3 : 1;
    if (c >= 0xC0)
        return 2;
    return 1;
}

void email_header_text(tmpl_buf *out, const char *value, size_t used)
{
    if (email_is_ascii(value) && used + strlen(value) <= 998) {
        tmpl_buf_adds(out, value);
        return;
    }
    /* "=?UTF-8?B?" + base64 + "?=" <= 75: at most 45 source bytes (60 chars). */
    const unsigned char *s = (const unsigned char *)value;
    size_t n = strlen(value), i = 0;
    int first = 1;
    while (i < n) {
        size_t take = 0;
        while (i + take < n) {
            size_t l = utf8_len(s[i + take]);
            if (i + take + l > n)
                l = n - i - take;
            if (take + l > 45)
                break;
            take += l;
        }
        if (take == 0)
            take = 1;
        if (!first)
            tmpl_buf_add(out, "\r\n ", 3);
        tmpl_buf_adds(out, "=?UTF-8?B?");
        unsigned char chunk[64];
        size_t k = 0;
        for (size_t j = 0; j < take; j++) {
            /* Controls (CR, LF) never reach a header, even encoded. */
            unsigned char c = s[i + j];
            chunk[k++] = c < 32 || c == 127 ? ' ' : c;
        }
        email_base64(out, chunk, k);
        tmpl_buf_adds(out, "?=");
        i += take;
        first = 0;
    }
}

int email_address_ok(const char *a)
{
    size_t n = strlen(a);
    const char *at = strrchr(a, '@');
    if (n < 3 || n > 254 || !at || at == a || !at[1] || at - a > 64)
        return 0;
    if (strchr(a, '@') != at)
        return 0;
    for (const char *p = a; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 32 || c >= 127 || strchr("\"<>()[],;:\\", c))
            return 0;
    }
    const char *d = at + 1;
    if (d[0] == '.' || d[0] == '-' || a[0] == '.' || at[-1] == '.' || strstr(a, ".."))
        return 0;
    return d[strlen(d) - 1] != '.';
}
