/* Accent and case folding for saved searches: "Educación" matches "educacion". */
#include "watch.h"

#include <string.h>

/* Latin-1 supplement letters (U+00C0..U+00FF) to their base letter. */
static const char latin1[64] = "aaaaaaaceeeeiiiidnooooo*ouuuuyts"
                               "aaaaaaaceeeeiiiidnooooo/ouuuuyty";

void watch_fold(const char *in, char *out, size_t size)
{
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)(in ? in : "");
    while (*p && o + 1 < size) {
        if (*p < 0x80) {
            out[o++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
            p++;
        } else if ((*p == 0xc3) && p[1] >= 0x80 && p[1] <= 0xbf) {
            out[o++] = latin1[p[1] - 0x80];
            p += 2;
        } else { /* other UTF-8 sequences: kept as they are */
            out[o++] = (char)*p++;
        }
    }
    out[o] = '\0';
}

bool watch_search_matches(const char *qfold, const char *textfold)
{
    const char *p = qfold;
    char word[128];
    while (*p) {
        while (*p == ' ')
            p++;
        size_t n = 0;
        while (p[n] && p[n] != ' ')
            n++;
        if (n == 0)
            break;
        if (n >= sizeof word)
            n = sizeof word - 1;
        memcpy(word, p, n);
        word[n] = '\0';
        if (!strstr(textfold, word))
            return false;
        p += n;
        while (*p && *p != ' ')
            p++;
    }
    return true;
}
