/* webpush plugin, pure parts: the RFC 8291 encryption against the
 * RFC's own test vector (Appendix A), the ES256 JWT checked with OpenSSL's
 * verifier, subscriptions and the notification payload. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "webpush.h"

/* RFC 8291 Appendix A. */
#define RFC_PLAINTEXT "When I grow up, I want to be a watermelon"
#define RFC_AS_PRIVATE "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
#define RFC_AS_PUBLIC                                                                              \
    "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
#define RFC_UA_PUBLIC                                                                              \
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
#define RFC_AUTH "BTBZMqHH6r4Tts7J_aSIgg"
#define RFC_SALT "DGv6ra1nlYgDCS1FRnbzlw"
#define RFC_BODY                                                                                   \
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAm"  \
    "S6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Q" \
    "ulcy4a-fN"

static void decode(const char *b64, unsigned char *out, size_t n)
{
    assert_int_equal(base64_decode(b64, strlen(b64), out, n, BASE64_ANY, NULL, 0), (long)n);
}

static void test_rfc8291_vector(void **state)
{
    (void)state;
    unsigned char as_priv[32], as_pub[WP_KEY_LEN], ua_pub[WP_KEY_LEN], auth[WP_AUTH_LEN],
        salt[WP_SALT_LEN];
    decode(RFC_AS_PRIVATE, as_priv, sizeof as_priv);
    decode(RFC_AS_PUBLIC, as_pub, sizeof as_pub);
    decode(RFC_UA_PUBLIC, ua_pub, sizeof ua_pub);
    decode(RFC_AUTH, auth, sizeof auth);
    decode(RFC_SALT, salt, sizeof salt);
    EVP_PKEY *as = wp_key_from_raw(as_priv, as_pub);
    assert_non_null(as);
    char err[128] = "";
    size_t n = 0;
    unsigned char *body = wp_encrypt(ua_pub, auth, (const unsigned char *)RFC_PLAINTEXT,
                                     strlen(RFC_PLAINTEXT), as, salt, &n, err, sizeof err);
    assert_non_null(body);
    char *b64 = malloc(base64_encoded_len(n, BASE64_URL) + 1);
    base64_encode(body, n, b64, BASE64_URL);
    assert_string_equal(b64, RFC_BODY);
    free(b64);
    free(body);

    /* Fresh key and salt: same size, different bytes, the header right. */
    body = wp_encrypt(ua_pub, auth, (const unsigned char *)RFC_PLAINTEXT, strlen(RFC_PLAINTEXT),
                      NULL, NULL, &n, err, sizeof err);
    assert_non_null(body);
    assert_int_equal(n, WP_HEADER_LEN + strlen(RFC_PLAINTEXT) + 1 + 16);
    assert_memory_equal(body + 16, "\x00\x00\x10\x00\x41\x04", 6);
    assert_memory_not_equal(body, salt, WP_SALT_LEN);
    free(body);

    /* Too large for one record; a public key that is not on the curve. */
    unsigned char *big = calloc(1, WP_MAX_PLAINTEXT + 1);
    assert_null(
        wp_encrypt(ua_pub, auth, big, WP_MAX_PLAINTEXT + 1, NULL, NULL, &n, err, sizeof err));
    assert_non_null(strstr(err, "at most"));
    body = wp_encrypt(ua_pub, auth, big, WP_MAX_PLAINTEXT, NULL, NULL, &n, err, sizeof err);
    assert_non_null(body);
    assert_int_equal(n, 4096);
    free(body);
    free(big);
    ua_pub[40] ^= 1;
    assert_null(
        wp_encrypt(ua_pub, auth, (const unsigned char *)"x", 1, NULL, NULL, &n, err, sizeof err));
    assert_non_null(strstr(err, "p256dh"));
    EVP_PKEY_free(as);
}

/* Verifies the ES256 signature of a JWT with OpenSSL from the raw r || s. */
static int jwt_verify(EVP_PKEY *key, const char *jwt)
{
    const char *dot2 = strrchr(jwt, '.');
    unsigned char raw[64];
    if (!dot2 ||
        base64_decode(dot2 + 1, strlen(dot2 + 1), raw, sizeof raw, BASE64_ANY, NULL, 0) != 64)
        return 0;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    ECDSA_SIG_set0(sig, BN_bin2bn(raw, 32, NULL), BN_bin2bn(raw + 32, 32, NULL));
    unsigned char *der = NULL;
    int derlen = i2d_ECDSA_SIG(sig, &der);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestVerify(md, der, (size_t)derlen, (const unsigned char *)jwt,
                              (size_t)(dot2 - jwt)) == 1;
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);
    return ok;
}

static json_t *jwt_part(const char *jwt, int which)
{
    char buf[512];
    const char *p = jwt;
    for (int i = 0; i < which; i++)
        p = strchr(p, '.') + 1;
    size_t n = strcspn(p, ".");
    char part[600];
    memcpy(part, p, n);
    part[n] = '\0';
    long len = base64_decode(part, strlen(part), (unsigned char *)buf, sizeof buf - 1, BASE64_ANY,
                             NULL, 0);
    assert_true(len > 0);
    return json_loadb(buf, (size_t)len, 0, NULL);
}

static void test_vapid_jwt(void **state)
{
    (void)state;
    EVP_PKEY *k = wp_key_generate();
    assert_non_null(k);
    char *jwt = wp_vapid_jwt(k, "https://push.example.net", 1767225600, "mailto:ops@example.org");
    assert_non_null(jwt);
    assert_true(jwt_verify(k, jwt));
    json_t *h = jwt_part(jwt, 0), *c = jwt_part(jwt, 1);
    assert_string_equal(json_string_value(json_object_get(h, "alg")), "ES256");
    assert_string_equal(json_string_value(json_object_get(h, "typ")), "JWT");
    assert_string_equal(json_string_value(json_object_get(c, "aud")), "https://push.example.net");
    assert_int_equal(json_integer_value(json_object_get(c, "exp")), 1767225600);
    assert_string_equal(json_string_value(json_object_get(c, "sub")), "mailto:ops@example.org");
    json_decref(h);
    json_decref(c);
    /* A changed claim no longer verifies. */
    char *bad = strdup(jwt);
    bad[strchr(bad, '.') - bad + 3] ^= 1;
    assert_false(jwt_verify(k, bad));
    free(bad);
    free(jwt);

    /* The header: vapid t=<jwt>, k=<the key's public point>. */
    unsigned char pub[WP_KEY_LEN];
    char pub64[96];
    assert_int_equal(wp_key_public(k, pub), 0);
    base64_encode(pub, WP_KEY_LEN, pub64, BASE64_URL);
    char *hdr = wp_vapid_header(k, pub64, "https://push.example.net", 1, "https://example.org");
    assert_non_null(hdr);
    assert_int_equal(strncmp(hdr, "vapid t=", 8), 0);
    assert_string_equal(strstr(hdr, ", k=") + 4, pub64);
    free(hdr);

    /* The key round-trips through PEM (how it is stored). */
    char *pem = wp_key_to_pem(k);
    char err[128];
    assert_non_null(pem);
    EVP_PKEY *k2 = wp_key_from_pem(pem, strlen(pem), err, sizeof err);
    assert_non_null(k2);
    unsigned char pub2[WP_KEY_LEN];
    assert_int_equal(wp_key_public(k2, pub2), 0);
    assert_memory_equal(pub, pub2, WP_KEY_LEN);
    jwt = wp_vapid_jwt(k2, "https://a.example", 1, "mailto:a@b.cl");
    assert_true(jwt_verify(k, jwt));
    free(jwt);
    free(pem);
    EVP_PKEY_free(k2);
    assert_null(wp_key_from_pem("nope", 4, err, sizeof err));
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    pem = wp_key_to_pem(rsa);
    assert_null(wp_key_from_pem(pem, strlen(pem), err, sizeof err));
    assert_non_null(strstr(err, "P-256"));
    free(pem);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(k);

    char o[128];
    assert_int_equal(wp_origin("https://FCM.googleapis.com/fcm/send/abc", o, sizeof o), 0);
    assert_string_equal(o, "https://fcm.googleapis.com");
    assert_int_equal(wp_origin("http://127.0.0.1:8080?x", o, sizeof o), 0);
    assert_string_equal(o, "http://127.0.0.1:8080");
    assert_int_equal(wp_origin("ftp://x/", o, sizeof o), -1);
    assert_int_equal(wp_origin("https:///x", o, sizeof o), -1);

    assert_int_equal(wp_subject_ok("mailto:ops@example.org", err, sizeof err), 0);
    assert_int_equal(wp_subject_ok("https://vigia.example.org/contact", err, sizeof err), 0);
    assert_int_equal(wp_subject_ok("ops@example.org", err, sizeof err), -1);
    assert_int_equal(wp_subject_ok("mailto:nobody", err, sizeof err), -1);
    assert_int_equal(wp_subject_ok("http://example.org", err, sizeof err), -1);
    assert_int_equal(wp_subject_ok("mailto:a b@c.d", err, sizeof err), -1);
}

static int parse(const char *json, int loop, wp_sub *s, char *err, size_t n)
{
    json_t *o = json_loads(json, 0, NULL);
    int rc = wp_sub_parse(o, loop, s, err, n);
    json_decref(o);
    return rc;
}

static void test_subscription(void **state)
{
    (void)state;
    wp_sub s;
    char err[256];
    const char *ok = "{\"endpoint\":\"https://push.example.net/w/abc\",\"expirationTime\":null,"
                     "\"keys\":{\"p256dh\":\"" RFC_UA_PUBLIC "\",\"auth\":\"" RFC_AUTH "\"}}";
    assert_int_equal(parse(ok, 0, &s, err, sizeof err), 0);
    char *c = wp_sub_canonical(&s);
    assert_string_equal(
        c, "{\"endpoint\":\"https://push.example.net/w/abc\",\"keys\":{\"auth\":\"" RFC_AUTH
           "\",\"p256dh\":\"" RFC_UA_PUBLIC "\"}}");
    free(c);
    /* Padded base64 gives the same canonical form. */
    assert_int_equal(
        parse("{\"endpoint\":\"https://p.example/x\",\"keys\":{\"p256dh\":\"" RFC_UA_PUBLIC
              "=\",\"auth\":\"BTBZMqHH6r4Tts7J/aSIgg==\"}}",
              0, &s, err, sizeof err),
        0);
    c = wp_sub_canonical(&s);
    assert_non_null(strstr(c, "\"auth\":\"" RFC_AUTH "\""));
    free(c);

    static const struct {
        const char *json, *field;
        int loop;
    } bad[] = {
        {"[]", "subscription:", 0},
        {"{\"keys\":{}}", "subscription.endpoint:", 0},
        {"{\"endpoint\":\"http://push.example.net/x\"}", "must be an https", 0},
        {"{\"endpoint\":\"http://push.example.net/x\"}", "only on loopback", 1},
        {"{\"endpoint\":\"https://a b/x\"}", "printable", 0},
        {"{\"endpoint\":\"https://u:p@h/x\"}", "needs a host", 0},
        {"{\"endpoint\":\"https:///x\"}", "needs a host", 0},
        {"{\"endpoint\":\"https://h/x\",\"keys\":{\"auth\":\"" RFC_AUTH "\"}}", "keys:", 0},
        {"{\"endpoint\":\"https://h/x\",\"keys\":{\"p256dh\":\"AAAA\",\"auth\":\"" RFC_AUTH "\"}}",
         "keys.p256dh", 0},
        {"{\"endpoint\":\"https://h/x\",\"keys\":{\"p256dh\":\"" RFC_UA_PUBLIC
         "\",\"auth\":\"AAAA\"}}",
         "keys.auth", 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        assert_int_equal(parse(bad[i].json, bad[i].loop, &s, err, sizeof err), -1);
        if (!strstr(err, bad[i].field))
            fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i].field);
    }
    /* Not a point on the curve. */
    unsigned char pt[WP_KEY_LEN];
    decode(RFC_UA_PUBLIC, pt, sizeof pt);
    pt[64] ^= 1;
    char p64[96], json[400];
    base64_encode(pt, sizeof pt, p64, BASE64_URL);
    snprintf(json, sizeof json,
             "{\"endpoint\":\"https://h/x\",\"keys\":{\"p256dh\":\"%s\",\"auth\":\"" RFC_AUTH
             "\"}}",
             p64);
    assert_int_equal(parse(json, 0, &s, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a point"));
    /* Loopback http only when allowed. */
    assert_int_equal(
        parse("{\"endpoint\":\"http://127.0.0.1:9/p\",\"keys\":{\"p256dh\":\"" RFC_UA_PUBLIC
              "\",\"auth\":\"" RFC_AUTH "\"}}",
              1, &s, err, sizeof err),
        0);
    assert_int_equal(parse("{\"endpoint\":\"http://127.0.0.1.evil.example/"
                           "p\",\"keys\":{\"p256dh\":\"" RFC_UA_PUBLIC "\",\"auth\":\"" RFC_AUTH
                           "\"}}",
                           1, &s, err, sizeof err),
                     -1);
}

static void test_hosts_and_addresses(void **state)
{
    (void)state;
    char err[256];
    json_t *def = json_pack("[s, s, s, s]", "fcm.googleapis.com", "*.push.services.mozilla.com",
                            "*.notify.windows.com", "*.push.apple.com");
    static const char *const ok[] = {
        "https://fcm.googleapis.com/fcm/send/abc",
        "https://FCM.googleapis.com:443/x",
        "https://updates.push.services.mozilla.com/wpush/v2/x",
        "https://wns2-par02p.notify.windows.com/w/?token=x",
        "https://web.push.apple.com/QO",
        "http://127.0.0.1:9/p" /* only ever parsed with the tests' flag */};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        if (wp_endpoint_allowed(ok[i], def, err, sizeof err) != 0)
            fail_msg("%s refused: %s", ok[i], err);
    static const char *const bad[] = {"https://10.0.0.1/x",
                                      "https://evil.example/fcm.googleapis.com",
                                      "https://fcm.googleapis.com.evil.example/x",
                                      "https://push.services.mozilla.com.evil/x",
                                      "https://xpush.apple.com/x",
                                      "https://[::1]/x",
                                      "ftp://fcm.googleapis.com/x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (wp_endpoint_allowed(bad[i], def, err, sizeof err) == 0)
            fail_msg("%s accepted", bad[i]);
    assert_non_null(strstr(err, "subscription.endpoint:"));
    json_t *any = json_pack("[s]", "*");
    assert_int_equal(wp_endpoint_allowed("https://evil.example/x", any, err, sizeof err), 0);
    json_decref(any);
    json_decref(def);

    static const struct {
        const char *ip;
        int pub;
    } addrs[] = {
        {"8.8.8.8", 1},         {"142.250.1.1", 1},    {"127.0.0.1", 0},  {"10.1.2.3", 0},
        {"172.16.0.1", 0},      {"172.31.255.255", 0}, {"172.32.0.1", 1}, {"192.168.1.1", 0},
        {"169.254.169.254", 0}, {"100.64.0.1", 0},     {"0.0.0.0", 0},    {"224.0.0.1", 0},
        {"255.255.255.255", 0}, {"2607:f8b0::1", 1},   {"::1", 0},        {"::", 0},
        {"fe80::1", 0},         {"fd00::1", 0},        {"ff02::1", 0},    {"::ffff:10.0.0.1", 0},
        {"::ffff:8.8.8.8", 1},  {"2001:db8::1", 0}};
    for (size_t i = 0; i < sizeof addrs / sizeof *addrs; i++) {
        unsigned char a[16];
        int fam = strchr(addrs[i].ip, ':') ? AF_INET6 : AF_INET;
        assert_int_equal(inet_pton(fam, addrs[i].ip, a), 1);
        if (wp_addr_public(fam, a) != addrs[i].pub)
            fail_msg("%s: expected %s", addrs[i].ip, addrs[i].pub ? "public" : "refused");
    }
}

static json_t *request(const char *lang, const char *kind, int count, int nitems)
{
    json_t *items = json_array();
    static const char *const kinds[] = {"down", "recovered", "added"};
    for (int i = 0; i < nitems; i++)
        json_array_append_new(
            items, json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s}}", "topic",
                             "dataset.status_changed", "kind", kinds[i % 3], "portal", "datos",
                             "previous", "up", "current", "down", "dataset", "id",
                             i ? "otro" : "5b3e", "name", "presupuesto", "title",
                             "Presupuesto 2026", "organization_title", "Dirección de Presupuestos",
                             "url", "https://datos.example.cl/dataset/presupuesto"));
    return json_pack("{s:i, s:s, s:s, s:s, s:s, s:i, s:o, s:{s:s}}", "v", 1, "key", "alert-1-1",
                     "channel", "webpush", "lang", lang, "kind", kind, "count", count, "items",
                     items, "links", "manage", "https://vigia.example.org/api/subscriptions/m");
}

static void test_message(void **state)
{
    (void)state;
    char err[256];
    wp_message m;
    json_t *r = request("es", "alert", 1, 1);
    assert_int_equal(wp_message_build(r, "https://vigia.example.org/", &m, err, sizeof err), 0);
    json_t *p = json_loadb(m.payload, m.len, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(p, "title")),
                        "«Presupuesto 2026» dejó de responder");
    assert_string_equal(json_string_value(json_object_get(p, "body")),
                        "datos · Dirección de Presupuestos · disponible → caído");
    assert_string_equal(json_string_value(json_object_get(p, "url")),
                        "https://datos.example.cl/dataset/presupuesto");
    assert_string_equal(json_string_value(json_object_get(p, "tag")), "vigia:datos:5b3e");
    assert_string_equal(m.urgency, "high");
    assert_int_equal(strlen(m.topic), 32);
    char topic[33];
    memcpy(topic, m.topic, sizeof topic);
    json_decref(p);
    wp_message_free(&m);
    json_decref(r);

    /* The recovery of the same dataset: same topic and tag, normal urgency, English. */
    r = request("en", "alert", 1, 1);
    json_object_set_new(json_array_get(json_object_get(r, "items"), 0), "kind",
                        json_string("recovered"));
    assert_int_equal(wp_message_build(r, NULL, &m, err, sizeof err), 0);
    p = json_loadb(m.payload, m.len, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(p, "title")),
                        "“Presupuesto 2026” recovered");
    assert_string_equal(json_string_value(json_object_get(p, "lang")), "en");
    assert_string_equal(m.urgency, "normal");
    assert_string_equal(m.topic, topic);
    json_decref(p);
    wp_message_free(&m);
    json_decref(r);

    /* A storm: counted, a few lines, the portal's address, no topic. */
    r = request("en", "alert", 300, 20);
    assert_int_equal(wp_message_build(r, "https://vigia.example.org/", &m, err, sizeof err), 0);
    p = json_loadb(m.payload, m.len, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(p, "title")),
                        "Vigía: 300 changes in what you follow");
    assert_non_null(strstr(json_string_value(json_object_get(p, "body")), "and 296 more"));
    assert_string_equal(json_string_value(json_object_get(p, "url")), "https://vigia.example.org/");
    assert_string_equal(m.topic, "");
    assert_string_equal(m.urgency, "high");
    json_decref(p);
    wp_message_free(&m);
    json_decref(r);

    /* Very long titles still fit one record. */
    r = request("es", "digest", 50, 20);
    char *long_title = malloc(20000);
    memset(long_title, 'x', 19999);
    long_title[19999] = '\0';
    for (size_t i = 0; i < 20; i++)
        json_object_set_new(
            json_object_get(json_array_get(json_object_get(r, "items"), i), "dataset"), "title",
            json_string(long_title));
    free(long_title);
    assert_int_equal(wp_message_build(r, NULL, &m, err, sizeof err), 0);
    assert_true(m.len <= WP_MAX_PLAINTEXT);
    wp_message_free(&m);
    json_decref(r);

    r = request("es", "alert", 0, 0);
    assert_int_equal(wp_message_build(r, NULL, &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "items"));
    json_decref(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc8291_vector), cmocka_unit_test(test_vapid_jwt),
        cmocka_unit_test(test_subscription),   cmocka_unit_test(test_hosts_and_addresses),
        cmocka_unit_test(test_message),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    wp_crypto_cleanup();
    return rc;
}
