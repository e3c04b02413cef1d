/* Tokens for the confirm and manage links: 256 random bits from OpenSSL's
 * CSPRNG, handed out once, stored only as their SHA-256. */
#include "watch.h"

#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

void watch_token_hash(const char *tok, char hash[65])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)tok, strlen(tok), d);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(hash + 2 * i, 3, "%02x", d[i]);
}

int watch_token_new(char tok[44], char hash[65])
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char r[33];
    if (RAND_bytes(r, 33) != 1)
        return -1;
    /* 33 bytes -> 44 chars; keep 43 (258 bits of which 256 fully random) */
    int o = 0;
    for (int i = 0; i < 33; i += 3) {
        unsigned v = (unsigned)r[i] << 16 | (unsigned)r[i + 1] << 8 | r[i + 2];
        for (int k = 3; k >= 0 && o < 43; k--)
            tok[o++] = b64[(v >> (6 * k)) & 63];
    }
    tok[43] = '\0';
    watch_token_hash(tok, hash);
    return 0;
}
