/* Standard Webhooks signing: HMAC-SHA256 over "id.timestamp.body" with the
 * bytes of the endpoint's secret ("whsec_" + base64), sent as
 * "v1,<base64>". */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webhook.h"

#define PREFIX "whsec_"

int webhook_secret_new(char out[WEBHOOK_SECRET_MAX])
{
    unsigned char raw[WEBHOOK_SECRET_BYTES];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return -1;
    memcpy(out, PREFIX, sizeof PREFIX - 1);
    EVP_EncodeBlock((unsigned char *)out + sizeof PREFIX - 1, raw, sizeof raw);
    return 0;
}

int webhook_id_new(char out[32])
{
    unsigned char raw[10];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return -1;
    char *p = out + 3;
    memcpy(out, "wh_", 3);
    for (size_t i = 0; i < sizeof raw; i++, p += 2)
        snprintf(p, 3, "%02x", raw[i]);
    return 0;
}

/* The secret's key bytes; -1 unless it is whsec_ + canonical base64 of
 * 24..64 bytes. */
static int secret_key(const char *secret, unsigned char key[64], size_t *keylen)
{
    if (!secret || strncmp(secret, PREFIX, sizeof PREFIX - 1) != 0)
        return -1;
    const char *b = secret + sizeof PREFIX - 1;
    size_t n = strlen(b);
    if (n == 0 || n % 4 || n > 88)
        return -1;
    unsigned char tmp[66];
    int got = EVP_DecodeBlock(tmp, (const unsigned char *)b, (int)n);
    if (got < 0)
        return -1;
    size_t len = (size_t)got - (b[n - 1] == '=') - (b[n - 2] == '=');
    if (len < 16 || len > 64)
        return -1;
    memcpy(key, tmp, len);
    *keylen = len;
    return 0;
}

int webhook_sign(const char *secret, const char *id, long long ts, const char *body, size_t len,
                 char *out, size_t outn)
{
    unsigned char key[64];
    size_t keylen;
    if (secret_key(secret, key, &keylen) != 0 || outn < 48 || !id)
        return -1;
    char tsb[32];
    int tsn = snprintf(tsb, sizeof tsb, "%lld", ts);
    size_t idn = strlen(id), n = idn + 1 + (size_t)tsn + 1 + len;
    unsigned char *msg = malloc(n ? n : 1);
    if (!msg)
        return -1;
    memcpy(msg, id, idn);
    msg[idn] = '.';
    memcpy(msg + idn + 1, tsb, (size_t)tsn);
    msg[idn + 1 + (size_t)tsn] = '.';
    if (len)
        memcpy(msg + idn + 2 + (size_t)tsn, body, len);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    unsigned char *ok = HMAC(EVP_sha256(), key, (int)keylen, msg, n, mac, &maclen);
    free(msg);
    OPENSSL_cleanse(key, sizeof key);
    if (!ok)
        return -1;
    memcpy(out, "v1,", 3);
    EVP_EncodeBlock((unsigned char *)out + 3, mac, (int)maclen);
    return 0;
}
