/* A growable string for building messages; an allocation failure sticks so
 * callers check once at the end. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmpl.h"

void tmpl_buf_add(tmpl_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void tmpl_buf_adds(tmpl_buf *b, const char *s) { tmpl_buf_add(b, s, strlen(s)); }

void tmpl_buf_addf(tmpl_buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = 1;
        return;
    }
    if ((size_t)n < sizeof tmp) {
        tmpl_buf_add(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    tmpl_buf_add(b, big, (size_t)n);
    free(big);
}

char *tmpl_buf_take(tmpl_buf *b, size_t *len)
{
    if (!b->p)
        tmpl_buf_add(b, "", 0);
    if (b->oom) {
        tmpl_buf_free(b);
        return NULL;
    }
    char *p = b->p;
    if (len)
        *len = b->len;
    memset(b, 0, sizeof *b);
    return p;
}

void tmpl_buf_free(tmpl_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}
