/* webpush: the Web Push channel. The pure parts (base64url, RFC 8291
 * encryption, VAPID keys and JWTs, subscriptions, the notification payload)
 * are in the static library webpush_core so unit tests, the fuzz target and
 * the bench use them without a host. All functions are thread-safe. */
#ifndef WEBPUSH_H
#define WEBPUSH_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "base64.h"

#define WP_KEY_LEN 65  /* an uncompressed P-256 point: 0x04 || X || Y */
#define WP_AUTH_LEN 16 /* the subscription's auth secret */
#define WP_SALT_LEN 16 /* RFC 8188 salt */
#define WP_RS 4096     /* record size: one record per message */
#define WP_HEADER_LEN (WP_SALT_LEN + 4 + 1 + WP_KEY_LEN)
/* The largest plaintext: one record holds it, its 0x02 delimiter and the
 * 16-byte tag, and the whole body stays within the 4096 bytes every push
 * service must accept (RFC 8030 section 7.2). */
#define WP_MAX_PLAINTEXT (4096 - WP_HEADER_LEN - 1 - 16)
#define WP_ENDPOINT_MAX 2048

/* base64url (RFC 4648 section 5, no padding) for every key, JWT part and
 * p256dh/auth value: lib/base64 with BASE64_URL; decoding takes either
 * alphabet and padding (BASE64_ANY), as browsers and libraries hand out both. */

/* ---- keys ---- */
/* A P-256 key pair from raw bytes: `priv` (32) may be NULL (public only);
 * `pub` is the uncompressed point. NULL when they are not a valid key. */
EVP_PKEY *wp_key_from_raw(const unsigned char *priv, const unsigned char pub[WP_KEY_LEN]);
/* A new random P-256 key pair, or NULL. */
EVP_PKEY *wp_key_generate(void);
/* The uncompressed public point of a P-256 key; 0 or -1. */
int wp_key_public(EVP_PKEY *k, unsigned char out[WP_KEY_LEN]);
/* PEM (PKCS#8) text of the private key (malloc'd), or NULL. */
char *wp_key_to_pem(EVP_PKEY *k);
/* The key in PEM text; NULL with err when it is not a P-256 private key. */
EVP_PKEY *wp_key_from_pem(const char *pem, size_t len, char *err, size_t errn);

/* ---- RFC 8291 aes128gcm ---- */
/* Frees what the encryption keeps between calls (the plugin's destroy). */
void wp_crypto_cleanup(void);
/* Encrypts `pt` for the subscription (ua_public, auth) into one record.
 * `as_key` and `salt` are the ephemeral key and salt: NULL to draw fresh ones
 * (tests pass RFC 8291's own). Returns the body (header || record), malloc'd,
 * and its length, or NULL with err. */
unsigned char *wp_encrypt(const unsigned char ua_public[WP_KEY_LEN],
                          const unsigned char auth[WP_AUTH_LEN], const unsigned char *pt,
                          size_t ptlen, EVP_PKEY *as_key, const unsigned char *salt, size_t *outlen,
                          char *err, size_t errn);

/* ---- RFC 8292 VAPID ---- */
/* The origin (scheme://host[:port]) of an https/http URL into out; 0 or -1. */
int wp_origin(const char *url, char *out, size_t n);
/* A signed ES256 JWT {aud, exp, sub} (malloc'd), or NULL. The signature is
 * the raw r || s (64 bytes), not DER. */
char *wp_vapid_jwt(EVP_PKEY *key, const char *aud, int64_t exp, const char *sub);
/* "vapid t=<jwt>, k=<public key>" (malloc'd), or NULL. */
char *wp_vapid_header(EVP_PKEY *key, const char *pub_b64, const char *aud, int64_t exp,
                      const char *sub);
/* A vapid_subject is a mailto: address or an https: URL: 0, or -1 with why. */
int wp_subject_ok(const char *s, char *why, size_t n);

/* ---- subscriptions ---- */
typedef struct wp_sub {
    char endpoint[WP_ENDPOINT_MAX + 1];
    unsigned char p256dh[WP_KEY_LEN];
    unsigned char auth[WP_AUTH_LEN];
} wp_sub;
/* Checks a PushSubscription object {endpoint, keys: {p256dh, auth}} (extra
 * members such as expirationTime are ignored). `insecure_loopback` admits
 * http:// on 127.0.0.1, [::1] or localhost (tests). 0, or -1 with err naming
 * the field and the limit. */
int wp_sub_parse(const json_t *o, int insecure_loopback, wp_sub *out, char *err, size_t errn);
/* The endpoint's host is one of `hosts` (a JSON array of names: "fcm.googleapis.com",
 * "*.push.apple.com" for any name under it, "*" for any host), or it is an
 * http loopback endpoint (only ever accepted with insecure_loopback). 0, or -1
 * with err: the server must not POST wherever a client points it. */
int wp_endpoint_allowed(const char *endpoint, const json_t *hosts, char *err, size_t errn);
/* 1 when an address (AF_INET: 4 bytes, AF_INET6: 16) is a public unicast
 * one; 0 for loopback, private, shared (100.64/10), link-local, multicast,
 * unspecified, documentation and IPv4-mapped forms of those. The sender
 * refuses to connect to anything else, whatever the endpoint's name says. */
int wp_addr_public(int family, const unsigned char *a);
/* The compact canonical JSON of a checked subscription (malloc'd): sorted
 * keys, unpadded base64url keys. */
char *wp_sub_canonical(const wp_sub *s);

/* ---- the notification ---- */
typedef struct wp_message {
    char *payload; /* JSON {v, title, body, url, tag, lang, kind, count} (malloc'd) */
    size_t len;
    char topic[33];      /* per dataset, "" for none */
    const char *urgency; /* "high" (something is down) | "normal" */
} wp_message;
/* Builds the notification of a delivery.requested payload in its language,
 * trimmed to WP_MAX_PLAINTEXT. `home` is the portal's address for messages
 * about several datasets (may be NULL). 0, or -1 with err. */
int wp_message_build(const json_t *req, const char *home, wp_message *out, char *err, size_t errn);
void wp_message_free(wp_message *m);

#endif
