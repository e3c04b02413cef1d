/* Web Push sender throughput on one thread: per message, a fresh ephemeral
 * key, ECDH, HKDF and AES-128-GCM (wp_encrypt), plus the VAPID JWT signed
 * for the push service (wp_vapid_header) as the npm web-push package's
 * generateRequestDetails does per call. The input (subscription, VAPID key
 * pair, payloads) is the one bench/webpush/peer.mjs uses, so both sides do
 * the same work. Prints messages per CPU second (= per core). The plugin
 * itself signs a JWT once per push service per 6 hours: the second figure. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "webpush.h"

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static const char *str(const json_t *o, const char *path1, const char *path2)
{
    const json_t *v = json_object_get(o, path1);
    if (path2)
        v = json_object_get(v, path2);
    const char *s = json_string_value(v);
    if (!s) {
        fprintf(stderr, "input: %s%s%s missing\n", path1, path2 ? "." : "", path2 ? path2 : "");
        exit(2);
    }
    return s;
}

static double run(EVP_PKEY *key, const char *pub64, const wp_sub *sub, const json_t *payloads,
                  const char *subject, double seconds, int jwt_each, long *count)
{
    char aud[256];
    wp_origin(sub->endpoint, aud, sizeof aud);
    size_t np = json_array_size(payloads);
    char *hdr = jwt_each ? NULL : wp_vapid_header(key, pub64, aud, time(NULL) + 43200, subject);
    double t0 = cpu_s(), t = t0;
    long n = 0;
    while (t - t0 < seconds) {
        for (int k = 0; k < 50; k++, n++) {
            const char *p = json_string_value(json_array_get(payloads, (size_t)n % np));
            char err[128];
            size_t len;
            unsigned char *body = wp_encrypt(sub->p256dh, sub->auth, (const unsigned char *)p,
                                             strlen(p), NULL, NULL, &len, err, sizeof err);
            char *h =
                jwt_each ? wp_vapid_header(key, pub64, aud, time(NULL) + 43200, subject) : hdr;
            if (!body || !h) {
                fprintf(stderr, "failed: %s\n", body ? "jwt" : err);
                exit(1);
            }
            free(body);
            if (jwt_each)
                free(h);
        }
        t = cpu_s();
    }
    free(hdr);
    *count = n;
    return (double)n / (t - t0);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s INPUT.json [SECONDS]\n", argv[0]);
        return 2;
    }
    double seconds = argc > 2 ? atof(argv[2]) : 3;
    json_error_t je;
    json_t *in = json_load_file(argv[1], 0, &je);
    if (!in) {
        fprintf(stderr, "%s: %s\n", argv[1], je.text);
        return 2;
    }
    wp_sub sub;
    char err[256];
    if (wp_sub_parse(json_object_get(in, "subscription"), 1, &sub, err, sizeof err) < 0) {
        fprintf(stderr, "input: %s\n", err);
        return 2;
    }
    unsigned char priv[32], pub[WP_KEY_LEN];
    const char *pub64 = str(in, "vapid", "publicKey"), *priv64 = str(in, "vapid", "privateKey");
    if (base64_decode(priv64, strlen(priv64), priv, 32, BASE64_ANY, NULL, 0) != 32 ||
        base64_decode(pub64, strlen(pub64), pub, WP_KEY_LEN, BASE64_ANY, NULL, 0) != WP_KEY_LEN) {
        fprintf(stderr, "input: bad VAPID keys\n");
        return 2;
    }
    EVP_PKEY *key = wp_key_from_raw(priv, pub);
    const json_t *payloads = json_object_get(in, "payloads");
    if (!key || !json_array_size(payloads)) {
        fprintf(stderr, "input: bad VAPID key or no payloads\n");
        return 2;
    }
    const char *subject = str(in, "subject", NULL);
    long n1, n2;
    double each = run(key, pub64, &sub, payloads, subject, seconds, 1, &n1);
    double cached = run(key, pub64, &sub, payloads, subject, seconds, 0, &n2);
    printf("vigia   encrypt+JWT per message: %8.0f msg/s per core (%ld messages)\n", each, n1);
    printf("vigia   encrypt, JWT per service: %8.0f msg/s per core (%ld messages)\n", cached, n2);
    printf("RESULT vigia %.1f\n", each);
    EVP_PKEY_free(key);
    json_decref(in);
    return 0;
}
