/* P-256 keys and the RFC 8291 message encryption (aes128gcm, RFC 8188) with
 * OpenSSL 3's EVP interfaces:
 *   ecdh   = ECDH(as_private, ua_public)
 *   IKM    = HKDF(salt = auth, ecdh, "WebPush: info" 0 ua_public as_public, 32)
 *   PRK    = HKDF-Extract(salt, IKM)
 *   CEK    = HKDF-Expand(PRK, "Content-Encoding: aes128gcm" 0, 16)
 *   NONCE  = HKDF-Expand(PRK, "Content-Encoding: nonce" 0, 12)
 *   body   = salt || rs (4096) || idlen (65) || as_public || AES-128-GCM(pt || 0x02)
 * Every output is at most 32 bytes, so each HKDF-Expand is one HMAC over
 * info || 0x01. */
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webpush.h"

EVP_PKEY *wp_key_from_raw(const unsigned char *priv, const unsigned char pub[WP_KEY_LEN])
{
    if (pub[0] != 0x04)
        return NULL;
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    BIGNUM *d = priv ? BN_bin2bn(priv, 32, NULL) : NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *k = NULL;
    if (!b || (priv && !d))
        goto out;
    if (!OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pub, WP_KEY_LEN) ||
        (d && !OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_PRIV_KEY, d)))
        goto out;
    params = OSSL_PARAM_BLD_to_param(b);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &k, d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) <= 0)
        k = NULL;
out:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    BN_clear_free(d);
    OSSL_PARAM_BLD_free(b);
    ERR_clear_error();
    return k;
}

EVP_PKEY *wp_key_generate(void) { return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"); }

int wp_key_public(EVP_PKEY *k, unsigned char out[WP_KEY_LEN])
{
    size_t n = 0;
    if (EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, out, WP_KEY_LEN, &n) != 1 ||
        n != WP_KEY_LEN || out[0] != 0x04) {
        ERR_clear_error();
        return -1;
    }
    return 0;
}

char *wp_key_to_pem(EVP_PKEY *k)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *out = NULL;
    if (bio && PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL) == 1) {
        char *data = NULL;
        long n = BIO_get_mem_data(bio, &data);
        if (n > 0 && (out = malloc((size_t)n + 1))) {
            memcpy(out, data, (size_t)n);
            out[n] = '\0';
        }
    }
    BIO_free(bio);
    return out;
}

EVP_PKEY *wp_key_from_pem(const char *pem, size_t len, char *err, size_t errn)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    ERR_clear_error();
    if (!k) {
        snprintf(err, errn, "not a PEM private key");
        return NULL;
    }
    char group[32] = "";
    unsigned char pub[WP_KEY_LEN];
    if (!EVP_PKEY_is_a(k, "EC") ||
        EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, NULL) !=
            1 ||
        strcmp(group, "prime256v1") != 0 || wp_key_public(k, pub) < 0) {
        ERR_clear_error();
        snprintf(err, errn, "VAPID needs an EC P-256 (prime256v1) key, found %s%s%s",
                 EVP_PKEY_get0_type_name(k) ? EVP_PKEY_get0_type_name(k) : "another type",
                 *group ? " " : "", group);
        EVP_PKEY_free(k);
        return NULL;
    }
    return k;
}

static EVP_MAC *mac; /* fetched once: the fetch is most of a small MAC's cost */

void wp_crypto_cleanup(void) { EVP_MAC_free(__atomic_exchange_n(&mac, NULL, __ATOMIC_ACQ_REL)); }

static int hmac256(const unsigned char *key, size_t klen, const unsigned char *a, size_t alen,
                   const unsigned char *b, size_t blen, unsigned char out[32])
{
    EVP_MAC_CTX *ctx = NULL;
    EVP_MAC *m = __atomic_load_n(&mac, __ATOMIC_ACQUIRE);
    if (!m) {
        EVP_MAC *f = EVP_MAC_fetch(NULL, "HMAC", NULL);
        EVP_MAC *expected = NULL;
        if (!f)
            return -1;
        if (__atomic_compare_exchange_n(&mac, &expected, f, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            m = f;
        else {
            EVP_MAC_free(f);
            m = expected;
        }
    }
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
                           OSSL_PARAM_construct_end()};
    size_t n = 0;
    int ok = (ctx = EVP_MAC_CTX_new(m)) && EVP_MAC_init(ctx, key, klen, params) == 1 &&
             EVP_MAC_update(ctx, a, alen) == 1 && (!blen || EVP_MAC_update(ctx, b, blen) == 1) &&
             EVP_MAC_final(ctx, out, &n, 32) == 1 && n == 32;
    EVP_MAC_CTX_free(ctx);
    return ok ? 0 : -1;
}

/* HKDF-Expand for one block: HMAC(prk, info || 0x01). */
static int expand1(const unsigned char prk[32], const char *label, size_t labellen,
                   unsigned char out[32])
{
    unsigned char info[64];
    memcpy(info, label, labellen);
    info[labellen] = 0x01;
    return hmac256(prk, 32, info, labellen + 1, NULL, 0, out);
}

static int ecdh(EVP_PKEY *mine, EVP_PKEY *peer, unsigned char out[32])
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, mine, NULL);
    size_t n = 32;
    int ok = ctx && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, peer) == 1 &&
             EVP_PKEY_derive(ctx, out, &n) == 1 && n == 32;
    EVP_PKEY_CTX_free(ctx);
    return ok ? 0 : -1;
}

static int gcm(const unsigned char key[16], const unsigned char iv[12], const unsigned char *pt,
               size_t ptlen, unsigned char *out)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, m = 0;
    unsigned char pad = 0x02; /* the last record's delimiter */
    int ok = ctx && EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, key, iv) == 1 &&
             EVP_EncryptUpdate(ctx, out, &n, pt, (int)ptlen) == 1 &&
             EVP_EncryptUpdate(ctx, out + n, &m, &pad, 1) == 1;
    if (ok) {
        n += m;
        ok = EVP_EncryptFinal_ex(ctx, out + n, &m) == 1 &&
             EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, out + n + m) == 1;
    }
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -1;
}

unsigned char *wp_encrypt(const unsigned char ua_public[WP_KEY_LEN],
                          const unsigned char auth[WP_AUTH_LEN], const unsigned char *pt,
                          size_t ptlen, EVP_PKEY *as_key, const unsigned char *salt, size_t *outlen,
                          char *err, size_t errn)
{
    static const char key_label[] = "WebPush: info";
    static const char cek_label[] = "Content-Encoding: aes128gcm";
    static const char nonce_label[] = "Content-Encoding: nonce";
    if (ptlen > WP_MAX_PLAINTEXT) {
        snprintf(err, errn, "payload: %zu bytes, at most %d", ptlen, WP_MAX_PLAINTEXT);
        return NULL;
    }
    EVP_PKEY *peer = wp_key_from_raw(NULL, ua_public);
    EVP_PKEY *mine = as_key ? as_key : wp_key_generate();
    unsigned char *out = malloc(WP_HEADER_LEN + ptlen + 1 + 16);
    unsigned char as_public[WP_KEY_LEN], secret[32], prk_key[32], ikm[32], prk[32], cek[32],
        nonce[32];
    unsigned char info[sizeof key_label + 2 * WP_KEY_LEN];
    const char *why = "out of memory";
    if (!peer) {
        why = "p256dh: not a P-256 public key";
        goto fail;
    }
    if (!mine || !out)
        goto fail;
    why = "encryption failed";
    if (wp_key_public(mine, as_public) < 0 || ecdh(mine, peer, secret) < 0)
        goto fail;
    if (salt)
        memcpy(out, salt, WP_SALT_LEN);
    else if (RAND_bytes(out, WP_SALT_LEN) != 1)
        goto fail;
    memcpy(info, key_label, sizeof key_label); /* with its NUL: the 0x00 separator */
    memcpy(info + sizeof key_label, ua_public, WP_KEY_LEN);
    memcpy(info + sizeof key_label + WP_KEY_LEN, as_public, WP_KEY_LEN);
    unsigned char one = 0x01;
    if (hmac256(auth, WP_AUTH_LEN, secret, 32, NULL, 0, prk_key) < 0 ||
        hmac256(prk_key, 32, info, sizeof info, &one, 1, ikm) < 0 ||
        hmac256(out, WP_SALT_LEN, ikm, 32, NULL, 0, prk) < 0 ||
        expand1(prk, cek_label, sizeof cek_label, cek) < 0 ||
        expand1(prk, nonce_label, sizeof nonce_label, nonce) < 0)
        goto fail;
    out[16] = (unsigned char)(WP_RS >> 24);
    out[17] = (unsigned char)(WP_RS >> 16);
    out[18] = (unsigned char)(WP_RS >> 8);
    out[19] = (unsigned char)WP_RS;
    out[20] = WP_KEY_LEN;
    memcpy(out + 21, as_public, WP_KEY_LEN);
    if (gcm(cek, nonce, pt, ptlen, out + WP_HEADER_LEN) < 0)
        goto fail;
    OPENSSL_cleanse(secret, sizeof secret);
    OPENSSL_cleanse(prk_key, sizeof prk_key);
    OPENSSL_cleanse(ikm, sizeof ikm);
    OPENSSL_cleanse(prk, sizeof prk);
    OPENSSL_cleanse(cek, sizeof cek);
    if (mine != as_key)
        EVP_PKEY_free(mine);
    EVP_PKEY_free(peer);
    *outlen = WP_HEADER_LEN + ptlen + 1 + 16;
    return out;
fail:
    ERR_clear_error();
    snprintf(err, errn, "%s", why);
    if (mine != as_key)
        EVP_PKEY_free(mine);
    EVP_PKEY_free(peer);
    free(out);
    return NULL;
}
