/* cluster plugin: redis_url, redis://[[user]:password@]host[:port][/db]
 * (rediss:// the same over TLS, cluster_tls.c).
 * Percent-escapes are not decoded: a password with '@' or '/' cannot be
 * written here (docs/cluster.md says so). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"

static int copy(char *dst, size_t n, const char *src, size_t len)
{
    if (len >= n)
        return -1;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return 0;
}

int cluster_url_parse(const char *s, cluster_url *out, char *err, size_t errn)
{
    memset(out, 0, sizeof *out);
    out->port = 6379;
    const char *p;
    if (strncmp(s, "redis://", 8) == 0) {
        p = s + 8;
    } else if (strncmp(s, "rediss://", 9) == 0) {
        p = s + 9;
        out->tls = true;
    } else {
        snprintf(err, errn, "expected redis://host[:port][/db] or rediss://...");
        return -1;
    }
    const char *at = strrchr(p, '@');
    const char *slash = strchr(at ? at : p, '/');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (!colon) {
            snprintf(err, errn, "credentials: expected [user]:password@ before the host");
            return -1;
        }
        if (copy(out->user, sizeof out->user, p, (size_t)(colon - p)) ||
            copy(out->password, sizeof out->password, colon + 1, (size_t)(at - colon - 1))) {
            snprintf(err, errn, "credentials: user at most %zu, password at most %zu bytes",
                     sizeof out->user - 1, sizeof out->password - 1);
            return -1;
        }
        p = at + 1;
    }
    size_t hostport = slash ? (size_t)(slash - p) : strlen(p);
    const char *colon = memchr(p, ':', hostport);
    size_t hostlen = colon ? (size_t)(colon - p) : hostport;
    if (hostlen == 0 || copy(out->host, sizeof out->host, p, hostlen)) {
        snprintf(err, errn, "host: expected 1..%zu bytes", sizeof out->host - 1);
        return -1;
    }
    if (colon) {
        char *end = NULL;
        long port = strtol(colon + 1, &end, 10);
        if (end != p + hostport || end == colon + 1 || port < 1 || port > 65535) {
            snprintf(err, errn, "port: expected 1..65535");
            return -1;
        }
        out->port = (int)port;
    }
    if (slash && slash[1]) {
        char *end = NULL;
        long db = strtol(slash + 1, &end, 10);
        if (*end || db < 0 || db > 1000000) {
            snprintf(err, errn, "database: expected a number after '/'");
            return -1;
        }
        out->db = (int)db;
    }
    return 0;
}
