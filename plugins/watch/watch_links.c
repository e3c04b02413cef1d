/* Links of the portal that mails carry: a dataset's page on Vigía. */
#include <stdio.h>
#include <string.h>

#include "watch_plugin.h"

/* Percent-encodes everything but RFC 3986 unreserved characters. */
static size_t enc(const char *s, char *out, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t k = 0;
    for (; s && *s && k + 4 < n; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~')
            out[k++] = (char)c;
        else {
            out[k++] = '%';
            out[k++] = hex[c >> 4];
            out[k++] = hex[c & 15];
        }
    }
    out[k] = '\0';
    return k;
}

/* The portal's datasets view opens a dataset's detail from #dataset=&portal=
 * (web/js/datasets.js), so the link shows a page, not the API's JSON. */
void watch_dataset_link(const watch_plugin *w, const char *portal, const char *id, char *out,
                        size_t n)
{
    char eid[400], ep[200];
    enc(id, eid, sizeof eid);
    enc(portal, ep, sizeof ep);
    if (portal && *portal)
        snprintf(out, n, "%s/#dataset=%s&portal=%s", w->public_url, eid, ep);
    else
        snprintf(out, n, "%s/#dataset=%s", w->public_url, eid);
}
