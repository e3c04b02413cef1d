/* VAPID (RFC 8292): the application server proves who it is to the push
 * service with a JWT signed by its P-256 key (ES256, RFC 7518 section 3.4:
 * the signature is r || s, 32 bytes each, not the DER that OpenSSL gives).
 * The claims are aud (the push service's origin), exp (at most 24 h ahead)
 * and sub (a contact: mailto: or https:). */
#include <ctype.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webpush.h"

int wp_origin(const char *url, char *out, size_t n)
{
    size_t skip = strncmp(url, "https://", 8) == 0 ? 8 : strncmp(url, "http://", 7) == 0 ? 7 : 0;
    if (!skip)
        return -1;
    size_t end = skip + strcspn(url + skip, "/?#");
    if (end == skip || end >= n)
        return -1;
    for (size_t i = 0; i < end; i++)
        out[i] = (char)tolower((unsigned char)url[i]);
    out[end] = '\0';
    return 0;
}

static char *b64_of(const unsigned char *p, size_t n)
{
    char *s = malloc(base64_encoded_len(n, BASE64_URL) + 1);
    if (s)
        base64_encode(p, n, s, BASE64_URL);
    return s;
}

/* ES256 over `data`: the raw 64-byte r || s. */
static int sign_es256(EVP_PKEY *key, const char *data, size_t n, unsigned char out[64])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char der[80];
    size_t derlen = sizeof der;
    ECDSA_SIG *sig = NULL;
    int ok = md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestSign(md, der, &derlen, (const unsigned char *)data, n) == 1;
    const unsigned char *p = der;
    if (ok && (sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen))) {
        const BIGNUM *r, *s;
        ECDSA_SIG_get0(sig, &r, &s);
        ok = BN_bn2binpad(r, out, 32) == 32 && BN_bn2binpad(s, out + 32, 32) == 32;
    } else {
        ok = 0;
    }
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    return ok ? 0 : -1;
}

char *wp_vapid_jwt(EVP_PKEY *key, const char *aud, int64_t exp, const char *sub)
{
    static const char header[] = "{\"typ\":\"JWT\",\"alg\":\"ES256\"}";
    json_t *claims = json_pack("{s:s, s:I, s:s}", "aud", aud, "exp", (json_int_t)exp, "sub", sub);
    char *cj = claims ? json_dumps(claims, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(claims);
    char *h64 = b64_of((const unsigned char *)header, sizeof header - 1);
    char *c64 = cj ? b64_of((const unsigned char *)cj, strlen(cj)) : NULL;
    free(cj);
    char *jwt = NULL;
    if (h64 && c64) {
        size_t hl = strlen(h64), cl = strlen(c64);
        size_t sl = base64_encoded_len(64, BASE64_URL);
        unsigned char sig[64];
        jwt = malloc(hl + 1 + cl + 1 + sl + 1);
        if (jwt) {
            memcpy(jwt, h64, hl);
            jwt[hl] = '.';
            memcpy(jwt + hl + 1, c64, cl + 1);
            if (sign_es256(key, jwt, hl + 1 + cl, sig) == 0) {
                jwt[hl + 1 + cl] = '.';
                base64_encode(sig, 64, jwt + hl + 1 + cl + 1, BASE64_URL);
            } else {
                free(jwt);
                jwt = NULL;
            }
        }
    }
    free(h64);
    free(c64);
    return jwt;
}

char *wp_vapid_header(EVP_PKEY *key, const char *pub_b64, const char *aud, int64_t exp,
                      const char *sub)
{
    char *jwt = wp_vapid_jwt(key, aud, exp, sub);
    if (!jwt)
        return NULL;
    size_t n = strlen(jwt) + strlen(pub_b64) + 16;
    char *h = malloc(n);
    if (h)
        snprintf(h, n, "vapid t=%s, k=%s", jwt, pub_b64);
    free(jwt);
    return h;
}

int wp_subject_ok(const char *s, char *why, size_t n)
{
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f || *p == '"' || *p == '\\') {
            snprintf(why, n, "printable ASCII without spaces or quotes");
            return -1;
        }
    if (strncmp(s, "mailto:", 7) == 0) {
        const char *at = strchr(s + 7, '@');
        if (at && at > s + 7 && strchr(at, '.') && at[1] != '.' && s[strlen(s) - 1] != '.' &&
            strlen(s) <= 254 + 7)
            return 0;
        snprintf(why, n, "mailto: needs an address, like mailto:ops@example.org");
        return -1;
    }
    if (strncmp(s, "https://", 8) == 0 && s[8] && s[8] != '/' && strlen(s) <= 512)
        return 0;
    snprintf(why, n, "a mailto: address or an https: URL (RFC 8292 section 2.1)");
    return -1;
}
