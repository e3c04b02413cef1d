/* E-mail addresses read from outside: the CKAN contact fields of a dataset
 * (maintainer_email, author_email), free text on many portals. */
#include <ctype.h>
#include <string.h>

#include "watch.h"

bool watch_addr_ok(const char *a)
{
    size_t n = strlen(a);
    const char *at = strchr(a, '@');
    if (!at || at == a || strchr(at + 1, '@') || !strchr(at + 1, '.') || n > 254)
        return false;
    for (const char *p = a; *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 127 || strchr("<>()[]\\\",;:", *p))
            return false;
    return at[1] != '.' && a[n - 1] != '.';
}

bool watch_first_address(const char *field, char *out, size_t n)
{
    if (!field || n == 0)
        return false;
    const char *p = field;
    while (*p) {
        while (*p && (isspace((unsigned char)*p) || *p == ',' || *p == ';'))
            p++;
        size_t len = 0;
        while (p[len] && !isspace((unsigned char)p[len]) && p[len] != ',' && p[len] != ';')
            len++;
        const char *s = p;
        size_t l = len;
        if (l >= 2 && s[0] == '<' && s[l - 1] == '>') { /* "Name <a@x.cl>" */
            s++;
            l -= 2;
        }
        if (l > 0 && l < n && l <= 254) {
            memcpy(out, s, l);
            out[l] = '\0';
            if (watch_addr_ok(out))
                return true;
        }
        p += len;
    }
    out[0] = '\0';
    return false;
}
