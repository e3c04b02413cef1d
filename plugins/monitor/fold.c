/* monitor: case and accent folding for dataset search, so "ÁRBOLES" finds
 * "árboles" and "catalogo" finds "Catálogo" (Spanish and Portuguese text).
 * The store registers it on its reader as the SQL function vg_fold(text). */
#include <stdlib.h>
#include <string.h>

#include "monitor.h"

/* U+00C0..U+00FF folded to ASCII ("" keeps the character as it is). */
static const char *const k_latin1[64] = {
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",
    "d", "n", "o", "o", "o", "o", "o",  "",  "o", "u", "u", "u", "u", "y", "",  "ss",
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",
    "d", "n", "o", "o", "o", "o", "o",  "",  "o", "u", "u", "u", "u", "y", "",  "y"};

char *mon_fold(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *out = malloc(n + 1); /* folding never grows the text: 2 bytes -> at most 2 */
    if (!out)
        return NULL;
    size_t j = 0;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c < 0x80) {
            out[j++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            i++;
        } else if (c == 0xc3 && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] <= 0xbf) {
            const char *f = k_latin1[p[i + 1] - 0x80];
            if (*f) {
                size_t l = strlen(f);
                memcpy(out + j, f, l);
                j += l;
            } else {
                out[j++] = (char)c;
                out[j++] = (char)p[i + 1];
            }
            i += 2;
        } else {
            out[j++] = (char)c;
            i++;
        }
    }
    out[j] = 0;
    return out;
}
