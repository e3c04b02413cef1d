#include "netaddr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool name_is_loopback(const char *h, size_t n)
{
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
        h++;
        n -= 2;
    }
    if (n == 3 && !strncmp(h, "::1", 3))
        return true;
    if (n == 9 && !strncasecmp(h, "localhost", 9))
        return true;
    if (n == 10 && !strncasecmp(h, "localhost.", 10))
        return true;
    char buf[64];
    struct in_addr a4;
    if (n >= sizeof buf)
        return false;
    memcpy(buf, h, n);
    buf[n] = '\0';
    return inet_pton(AF_INET, buf, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

bool core_listen_is_loopback(const char *listen)
{
    if (!listen || !*listen)
        return false;
    bool seen = false;
    const char *p = listen;
    while (*p) {
        while (*p == ',' || *p == ' ')
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && *p != ',' && *p != ' ')
            p++;
        size_t n = (size_t)(p - start);
        const char *colon = NULL;
        if (start[0] == '[') {
            const char *rb = memchr(start, ']', n);
            if (!rb)
                return false;
            colon = (rb + 1 < start + n && rb[1] == ':') ? rb + 1 : NULL;
        } else {
            colon = memchr(start, ':', n);
        }
        if (!colon)
            return false; /* a bare port listens on every interface */
        if (!name_is_loopback(start, (size_t)(colon - start)))
            return false;
        seen = true;
    }
    return seen;
}

bool core_addr_is_loopback(const char *addr)
{
    if (!addr)
        return false;
    if (!strncasecmp(addr, "::ffff:", 7))
        addr += 7;
    /* An address, never a name: "localhost" or "[::1]" are no peer's address. */
    unsigned char a6[16];
    static const unsigned char one[16] = {[15] = 1};
    if (inet_pton(AF_INET6, addr, a6) == 1)
        return memcmp(a6, one, sizeof one) == 0;
    struct in_addr a4;
    return inet_pton(AF_INET, addr, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

/* Split "name:port" / "[v6]:port" into the name part. */
static size_t host_name_len(const char *host)
{
    size_t n = strlen(host);
    if (host[0] == '[') {
        const char *rb = strchr(host, ']');
        return rb ? (size_t)(rb - host) + 1 : n;
    }
    const char *colon = strchr(host, ':');
    return colon ? (size_t)(colon - host) : n;
}

static bool is_ip_literal(const char *h, size_t n)
{
    char buf[64];
    unsigned char a[16];
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
        h++;
        n -= 2;
        if (n >= sizeof buf)
            return false;
        memcpy(buf, h, n);
        buf[n] = '\0';
        return inet_pton(AF_INET6, buf, a) == 1;
    }
    if (n >= sizeof buf)
        return false;
    memcpy(buf, h, n);
    buf[n] = '\0';
    return inet_pton(AF_INET, buf, a) == 1;
}

bool core_host_allowed(const char *host, const json_t *public_names, bool loopback_listener)
{
    if (!host)
        return true;
    size_t n = host_name_len(host);
    if (n == 0)
        return false;
    size_t i;
    const json_t *v;
    json_array_foreach (public_names, i, v) {
        const char *name = json_string_value(v);
        if (name && strlen(name) == n && !strncasecmp(name, host, n))
            return true;
    }
    if (loopback_listener)
        return name_is_loopback(host, n);
    return is_ip_literal(host, n) || (n == 9 && !strncasecmp(host, "localhost", 9));
}
