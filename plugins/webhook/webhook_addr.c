/* Which addresses a webhook may reach by default: public unicast only. The
 * check runs on the address libcurl is about to connect to (the plugin's
 * opensocket callback), so a name that resolves elsewhere later (DNS
 * rebinding) is caught too. IPv6 forms that carry an IPv4 address (mapped,
 * compatible, NAT64, 6to4) are judged by the IPv4 address inside. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "webhook.h"

static webhook_addr_class v4_class(uint32_t a)
{
    uint8_t b0 = (uint8_t)(a >> 24), b1 = (uint8_t)(a >> 16), b2 = (uint8_t)(a >> 8);
    if (b0 == 0)
        return WEBHOOK_ADDR_UNSPECIFIED;
    if (b0 == 127)
        return WEBHOOK_ADDR_LOOPBACK;
    if (b0 == 10 || (b0 == 172 && (b1 & 0xf0) == 16) || (b0 == 192 && b1 == 168))
        return WEBHOOK_ADDR_PRIVATE;
    if (b0 == 169 && b1 == 254)
        return WEBHOOK_ADDR_LINK_LOCAL;
    if (b0 == 100 && (b1 & 0xc0) == 64)
        return WEBHOOK_ADDR_CGNAT;
    if ((b0 & 0xf0) == 224)
        return WEBHOOK_ADDR_MULTICAST;
    if ((b0 & 0xf0) == 240 || (b0 == 192 && b1 == 0 && b2 == 0) || (b0 == 198 && (b1 & 0xfe) == 18))
        return WEBHOOK_ADDR_RESERVED;
    return WEBHOOK_ADDR_PUBLIC;
}

static uint32_t v4_at(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static webhook_addr_class v6_class(const unsigned char *a)
{
    static const unsigned char zero[12] = {0};
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    if (memcmp(a, zero, 12) == 0) {
        uint32_t v4 = v4_at(a + 12);
        if (v4 == 0)
            return WEBHOOK_ADDR_UNSPECIFIED;
        if (v4 == 1)
            return WEBHOOK_ADDR_LOOPBACK;
        return v4_class(v4); /* IPv4-compatible (deprecated, still routable by some stacks) */
    }
    if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0)
        return v4_class(v4_at(a + 12));
    if (a[0] == 0x20 && a[1] == 0x02) /* 6to4: 2002:AABB:CCDD::/48 */
        return v4_class(v4_at(a + 2));
    if (a[0] == 0xff)
        return WEBHOOK_ADDR_MULTICAST;
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
        return WEBHOOK_ADDR_LINK_LOCAL;
    if ((a[0] & 0xfe) == 0xfc || (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0))
        return WEBHOOK_ADDR_PRIVATE; /* unique-local fc00::/7, site-local fec0::/10 */
    return WEBHOOK_ADDR_PUBLIC;
}

webhook_addr_class webhook_addr_classify(const struct sockaddr *sa, size_t len)
{
    if (!sa)
        return WEBHOOK_ADDR_UNKNOWN;
    if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
        return v4_class(ntohl(s4->sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
        return v6_class(s6->sin6_addr.s6_addr);
    }
    return WEBHOOK_ADDR_UNKNOWN;
}

int webhook_addr_classify_text(const char *text)
{
    unsigned char buf[16];
    if (!text)
        return -1;
    if (inet_pton(AF_INET, text, buf) == 1)
        return (int)v4_class(v4_at(buf));
    if (inet_pton(AF_INET6, text, buf) == 1)
        return (int)v6_class(buf);
    return -1;
}

const char *webhook_addr_class_name(webhook_addr_class c)
{
    switch (c) {
    case WEBHOOK_ADDR_PUBLIC:
        return "public";
    case WEBHOOK_ADDR_LOOPBACK:
        return "loopback";
    case WEBHOOK_ADDR_PRIVATE:
        return "private";
    case WEBHOOK_ADDR_LINK_LOCAL:
        return "link-local";
    case WEBHOOK_ADDR_CGNAT:
        return "shared (CGNAT)";
    case WEBHOOK_ADDR_MULTICAST:
        return "multicast";
    case WEBHOOK_ADDR_UNSPECIFIED:
        return "unspecified";
    case WEBHOOK_ADDR_RESERVED:
        return "reserved";
    default:
        return "not IPv4 or IPv6";
    }
}
