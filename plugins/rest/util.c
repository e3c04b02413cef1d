/* rest plugin: pure helpers. No host calls here so the unit test links only this. */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int rest_status_for_errno(int rc)
{
    switch (rc) {
    case -EINVAL:
        return 400;
    case -EACCES:
    case -EPERM:
        return 401;
    case -ENOENT:
        return 404;
    case -EEXIST:
    case -EBUSY:
        return 409;
    case -E2BIG:
    case -EMSGSIZE:
        return 413;
    case -ENOSYS:
    case -EAGAIN:
    case -ESHUTDOWN:
    case -EROFS: /* the database is gone or unwritable: nothing was written */
        return 503;
    default:
        return 500;
    }
}

const char *rest_code_for_status(int status)
{
    switch (status) {
    case 400:
        return "INVALID_ARGUMENT";
    case 401:
        return "UNAUTHORIZED";
    case 403:
        return "FORBIDDEN";
    case 404:
        return "NOT_FOUND";
    case 409:
        return "CONFLICT";
    case 413:
        return "TOO_LARGE";
    case 415:
        return "UNSUPPORTED_MEDIA_TYPE";
    case 503:
        return "UNAVAILABLE";
    default:
        return "INTERNAL";
    }
}

int rest_parse_int(const char *s, long long min, long long max, long long *out)
{
    if (!s || !*s)
        return -EINVAL;
    const char *p = s;
    if (*p == '-')
        p++;
    if (!*p)
        return -EINVAL;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            return -EINVAL;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno || !end || *end || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

int rest_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    if (!s)
        return -EINVAL;
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i])) {
            *out = true;
            return 0;
        }
        if (!strcasecmp(s, no[i])) {
            *out = false;
            return 0;
        }
    }
    return -EINVAL;
}

uint64_t rest_fnv1a64(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

void rest_etag_format(uint64_t hash, char *buf, size_t size)
{
    snprintf(buf, size, "\"%016llx\"", (unsigned long long)hash);
}

int rest_etag_matches(const char *inm, const char *etag)
{
    if (!inm || !etag)
        return 0;
    /* Compare the opaque part (without quotes). */
    const char *e = etag;
    if (*e == '"')
        e++;
    size_t elen = strlen(e);
    if (elen && e[elen - 1] == '"')
        elen--;

    const char *p = inm;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        if (*p == '*')
            return 1;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        if (*p != '"') {
            /* Not an entity-tag: skip to the next comma. */
            while (*p && *p != ',')
                p++;
            continue;
        }
        p++;
        const char *start = p;
        while (*p && *p != '"')
            p++;
        size_t n = (size_t)(p - start);
        if (n == elen && !memcmp(start, e, n))
            return 1;
        if (*p == '"')
            p++;
    }
    return 0;
}

int rest_origin_allowed(const json_t *allowed, const char *origin)
{
    if (!allowed || !origin || !*origin)
        return 0;
    size_t i;
    json_t *v;
    json_array_foreach (allowed, i, v) {
        const char *a = json_string_value(v);
        if (!a)
            continue;
        if (!strcmp(a, "*"))
            return 1;
        /* Scheme and host are case-insensitive; a trailing slash is not part of an origin. */
        size_t alen = strlen(a);
        while (alen && a[alen - 1] == '/')
            alen--;
        if (strlen(origin) == alen && !strncasecmp(a, origin, alen))
            return 1;
    }
    return 0;
}

int rest_same_origin(const char *origin, const char *host)
{
    if (!origin || !host || !*host)
        return 0;
    size_t hl = strlen(host);
    static const char *const schemes[] = {"http://", "https://"};
    for (int i = 0; i < 2; i++) {
        size_t sl = strlen(schemes[i]);
        if (!strncasecmp(origin, schemes[i], sl) && strlen(origin + sl) == hl &&
            !strncasecmp(origin + sl, host, hl))
            return 1;
    }
    return 0;
}

int rest_is_json_content_type(const char *ct)
{
    if (!ct)
        return 0;
    while (*ct == ' ')
        ct++;
    static const char want[] = "application/json";
    size_t n = sizeof want - 1;
    if (strncasecmp(ct, want, n))
        return 0;
    char c = ct[n];
    return c == '\0' || c == ';' || c == ' ';
}

int rest_valid_text(const char *s, size_t len, size_t max_len)
{
    if (!s || len == 0 || len > max_len)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return 0;
    }
    return 1;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n = c < 0x80             ? 1
               : (c & 0xe0) == 0xc0 ? 2
               : (c & 0xf0) == 0xe0 ? 3
               : (c & 0xf8) == 0xf0 ? 4
                                    : 0;
    if (n == 0 || (n == 2 && c < 0xc2) || (n == 4 && c > 0xf4))
        return 0;
    for (size_t k = 1; k < n; k++)
        if ((s[k] & 0xc0) != 0x80)
            return 0;
    /* overlong 3/4-byte forms, UTF-16 surrogates, beyond U+10FFFF */
    if ((n == 3 && c == 0xe0 && s[1] < 0xa0) || (n == 3 && c == 0xed && s[1] >= 0xa0) ||
        (n == 4 && c == 0xf0 && s[1] < 0x90) || (n == 4 && c == 0xf4 && s[1] >= 0x90))
        return 0;
    return n;
}

void rest_utf8_scrub(char *s)
{
    while (s && *s) {
        size_t n = utf8_seq((const unsigned char *)s);
        if (n == 0) {
            *s++ = '?';
            continue;
        }
        s += n;
    }
}

/* Echoes outside text in an error message: at most 40 bytes, control
 * characters and bytes that are not UTF-8 become '?', so the JSON encoder
 * never refuses the message (a 500 instead of the 400 the client earned). */
void rest_sanitize(const char *s, char *buf, size_t size)
{
    size_t o = 0, i = 0;
    if (!size)
        return;
    while (s && s[i] && i < 40) {
        const unsigned char *u = (const unsigned char *)s + i;
        size_t n = utf8_seq(u);
        if (n == 0 || *u < 0x20 || *u == 0x7f) {
            if (o + 1 >= size)
                break;
            buf[o++] = '?';
            i++;
            continue;
        }
        if (o + n >= size || i + n > 40)
            break;
        memcpy(buf + o, u, n);
        o += n;
        i += n;
    }
    if (s && s[i] && o + 4 <= size) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
}

void rest_join(char *buf, size_t size, const char *sep, const char *word)
{
    size_t o = strnlen(buf, size);
    if (o + 1 >= size)
        return;
    snprintf(buf + o, size - o, "%s%s", o ? sep : "", word);
}

void rest_buf_append(rest_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) {
            b->oom = true;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void rest_buf_printf(rest_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        rest_buf_append(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    rest_buf_append(b, big, (size_t)n);
    free(big);
}

void rest_buf_label_value(rest_buf *b, const char *s)
{
    for (const char *p = s ? s : ""; *p; p++) {
        if (*p == '\\')
            rest_buf_append(b, "\\\\", 2);
        else if (*p == '"')
            rest_buf_append(b, "\\\"", 2);
        else if (*p == '\n')
            rest_buf_append(b, "\\n", 2);
        else
            rest_buf_append(b, p, 1);
    }
}

void rest_buf_free(rest_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int rest_prom_valid_name(const char *s, bool label)
{
    if (!s || !*s)
        return 0;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        int ok = isalpha((unsigned char)c) || c == '_' || (!label && c == ':') ||
                 (i > 0 && isdigit((unsigned char)c));
        if (!ok)
            return 0;
    }
    return 1;
}
