/* A browser's PushSubscription as the portal posts it (its toJSON()):
 * {endpoint, expirationTime?, keys: {p256dh, auth}}. The endpoint is a
 * capability URL on the browser vendor's push service; only https is
 * accepted, except http on loopback when a test asks for it. The canonical
 * form (sorted keys, unpadded base64url) is the subscriber's address in the
 * watch plugin, so the same browser always maps to the same subscriber. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "webpush.h"

static int fail(char *err, size_t errn, const char *msg)
{
    snprintf(err, errn, "%s", msg);
    return -1;
}

static int loopback_host(const char *hostport)
{
    static const char *const hosts[] = {"127.0.0.1", "[::1]", "localhost"};
    for (size_t i = 0; i < sizeof hosts / sizeof *hosts; i++) {
        size_t n = strlen(hosts[i]);
        if (strncmp(hostport, hosts[i], n) == 0 &&
            (hostport[n] == '\0' || hostport[n] == ':' || hostport[n] == '/'))
            return 1;
    }
    return 0;
}

int wp_sub_parse(const json_t *o, int insecure_loopback, wp_sub *out, char *err, size_t errn)
{
    if (!json_is_object(o))
        return fail(err, errn, "subscription: expected an object {endpoint, keys: {p256dh, auth}}");
    const char *ep = json_string_value(json_object_get(o, "endpoint"));
    const json_t *keys = json_object_get(o, "keys");
    const char *p256dh = json_string_value(json_object_get(keys, "p256dh"));
    const char *auth = json_string_value(json_object_get(keys, "auth"));
    if (!ep || !*ep)
        return fail(err, errn, "subscription.endpoint: required (a URL)");
    size_t n = strlen(ep);
    if (n > WP_ENDPOINT_MAX) {
        snprintf(err, errn, "subscription.endpoint: at most %d bytes", WP_ENDPOINT_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)ep[i] <= ' ' || (unsigned char)ep[i] >= 0x7f || ep[i] == '"' ||
            ep[i] == '\\' || ep[i] == '#')
            return fail(err, errn,
                        "subscription.endpoint: printable ASCII without spaces, quotes or '#'");
    const char *rest = NULL;
    if (strncmp(ep, "https://", 8) == 0)
        rest = ep + 8;
    else if (strncmp(ep, "http://", 7) == 0 && insecure_loopback && loopback_host(ep + 7))
        rest = ep + 7;
    else
        return fail(err, errn,
                    insecure_loopback ? "subscription.endpoint: https:// (http:// only on loopback)"
                                      : "subscription.endpoint: must be an https:// URL");
    size_t hl = strcspn(rest, "/?");
    if (hl == 0 || memchr(rest, '@', hl))
        return fail(err, errn, "subscription.endpoint: needs a host (and no user:password@)");
    if (!json_is_object(keys) || !p256dh || !auth)
        return fail(err, errn, "subscription.keys: needs p256dh and auth (base64url strings)");
    char why[96] = "";
    if (base64_decode(p256dh, strlen(p256dh), out->p256dh, WP_KEY_LEN, BASE64_ANY, why,
                      sizeof why) != WP_KEY_LEN ||
        out->p256dh[0] != 0x04) {
        snprintf(err, errn,
                 "subscription.keys.p256dh: an uncompressed P-256 point (65 bytes, base64url)%s%s",
                 *why ? ": " : "", why);
        return -1;
    }
    EVP_PKEY *k = wp_key_from_raw(NULL, out->p256dh);
    if (!k)
        return fail(err, errn, "subscription.keys.p256dh: not a point on P-256");
    EVP_PKEY_free(k);
    *why = 0;
    if (base64_decode(auth, strlen(auth), out->auth, WP_AUTH_LEN, BASE64_ANY, why, sizeof why) !=
        WP_AUTH_LEN) {
        snprintf(err, errn, "subscription.keys.auth: 16 bytes, base64url%s%s", *why ? ": " : "",
                 why);
        return -1;
    }
    memcpy(out->endpoint, ep, n + 1);
    return 0;
}

int wp_endpoint_allowed(const char *endpoint, const json_t *hosts, char *err, size_t errn)
{
    if (strncmp(endpoint, "http://", 7) == 0)
        return 0; /* wp_sub_parse let it through: loopback, and tests asked for it */
    if (strncmp(endpoint, "https://", 8) != 0)
        return fail(err, errn, "subscription.endpoint: must be an https:// URL");
    const char *h = endpoint + 8;
    size_t n = *h == '[' ? strcspn(h, "]") + 1 : strcspn(h, ":/?");
    size_t i;
    const json_t *v;
    json_array_foreach (hosts, i, v) {
        const char *pat = json_string_value(v);
        if (!pat)
            continue;
        if (strcmp(pat, "*") == 0)
            return 0;
        size_t pl = strlen(pat);
        if (pl == n && strncasecmp(h, pat, n) == 0)
            return 0;
        /* "*.example.com": any name under it */
        if (pl > 2 && pat[0] == '*' && pat[1] == '.' && n > pl - 1 &&
            strncasecmp(h + n - (pl - 1), pat + 1, pl - 1) == 0)
            return 0;
    }
    snprintf(err, errn,
             "subscription.endpoint: %.*s is not a known push service ([webpush] push_hosts)",
             (int)(n > 200 ? 200 : n), h);
    return -1;
}

static int v4_public(const unsigned char *a)
{
    return !(
        a[0] == 0 || a[0] == 10 || a[0] == 127 || a[0] >= 224 ||  /* this, private, loop, multi */
        (a[0] == 100 && (a[1] & 0xc0) == 64) ||                   /* 100.64/10 shared */
        (a[0] == 169 && a[1] == 254) ||                           /* link-local */
        (a[0] == 172 && (a[1] & 0xf0) == 16) ||                   /* 172.16/12 */
        (a[0] == 192 && a[1] == 168) ||                           /* 192.168/16 */
        (a[0] == 192 && a[1] == 0 && (a[2] == 0 || a[2] == 2)) || /* 192.0.0/24, TEST-NET-1 */
        (a[0] == 198 && (a[1] & 0xfe) == 18) ||                   /* 198.18/15 benchmarks */
        (a[0] == 198 && a[1] == 51 && a[2] == 100) || (a[0] == 203 && a[1] == 0 && a[2] == 113));
}

int wp_addr_public(int family, const unsigned char *a)
{
    if (family == AF_INET)
        return v4_public(a);
    if (family != AF_INET6)
        return 0;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(a, mapped, 12) == 0)
        return v4_public(a + 12);
    if ((a[0] & 0xe0) != 0x20)
        return 0; /* only 2000::/3 is global unicast: ::, ::1, fc00::/7, fe80::/10, ff00::/8 out */
    if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8)
        return 0; /* 2001:db8::/32 documentation */
    return 1;
}

char *wp_sub_canonical(const wp_sub *s)
{
    char p[96], a[32];
    base64_encode(s->p256dh, WP_KEY_LEN, p, BASE64_URL);
    base64_encode(s->auth, WP_AUTH_LEN, a, BASE64_URL);
    json_t *o =
        json_pack("{s:s, s:{s:s, s:s}}", "endpoint", s->endpoint, "keys", "auth", a, "p256dh", p);
    char *out = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    return out;
}
