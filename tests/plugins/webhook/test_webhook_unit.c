/* webhook: the pure parts without a host: the address classifier (every
 * refused range, IPv4-mapped and other embedded forms), Standard Webhooks
 * signing against the spec's published example, secrets, and the bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "vgt_tz.h"
#include "webhook.h"

static void classify(const char *ip, webhook_addr_class want)
{
    int got = webhook_addr_classify_text(ip);
    if (got != (int)want)
        fail_msg("%s: got %d (%s), want %s", ip, got,
                 got >= 0 ? webhook_addr_class_name((webhook_addr_class)got) : "-",
                 webhook_addr_class_name(want));
}

static void refused_ranges(void **state)
{
    (void)state;
    classify("127.0.0.1", WEBHOOK_ADDR_LOOPBACK);
    classify("127.255.255.254", WEBHOOK_ADDR_LOOPBACK);
    classify("::1", WEBHOOK_ADDR_LOOPBACK);
    classify("::ffff:127.0.0.1", WEBHOOK_ADDR_LOOPBACK);
    classify("::127.0.0.1", WEBHOOK_ADDR_LOOPBACK);
    classify("64:ff9b::7f00:1", WEBHOOK_ADDR_LOOPBACK);
    classify("10.0.0.1", WEBHOOK_ADDR_PRIVATE);
    classify("10.255.255.255", WEBHOOK_ADDR_PRIVATE);
    classify("172.16.0.1", WEBHOOK_ADDR_PRIVATE);
    classify("172.31.255.255", WEBHOOK_ADDR_PRIVATE);
    classify("192.168.1.1", WEBHOOK_ADDR_PRIVATE);
    classify("::ffff:10.1.2.3", WEBHOOK_ADDR_PRIVATE);
    classify("2002:c0a8:0101::1", WEBHOOK_ADDR_PRIVATE); /* 6to4 of 192.168.1.1 */
    classify("fc00::1", WEBHOOK_ADDR_PRIVATE);
    classify("fd12:3456::1", WEBHOOK_ADDR_PRIVATE);
    classify("fec0::1", WEBHOOK_ADDR_PRIVATE);
    classify("169.254.169.254", WEBHOOK_ADDR_LINK_LOCAL);
    classify("::ffff:169.254.169.254", WEBHOOK_ADDR_LINK_LOCAL);
    classify("fe80::1", WEBHOOK_ADDR_LINK_LOCAL);
    classify("febf::1", WEBHOOK_ADDR_LINK_LOCAL);
    classify("100.64.0.1", WEBHOOK_ADDR_CGNAT);
    classify("100.127.255.255", WEBHOOK_ADDR_CGNAT);
    classify("224.0.0.1", WEBHOOK_ADDR_MULTICAST);
    classify("239.255.255.250", WEBHOOK_ADDR_MULTICAST);
    classify("ff02::1", WEBHOOK_ADDR_MULTICAST);
    classify("0.0.0.0", WEBHOOK_ADDR_UNSPECIFIED);
    classify("0.1.2.3", WEBHOOK_ADDR_UNSPECIFIED);
    classify("::", WEBHOOK_ADDR_UNSPECIFIED);
    classify("::ffff:0.0.0.0", WEBHOOK_ADDR_UNSPECIFIED);
    classify("255.255.255.255", WEBHOOK_ADDR_RESERVED);
    classify("240.0.0.1", WEBHOOK_ADDR_RESERVED);
    classify("192.0.0.8", WEBHOOK_ADDR_RESERVED);
    classify("198.18.0.1", WEBHOOK_ADDR_RESERVED);
}

static void public_ranges(void **state)
{
    (void)state;
    classify("8.8.8.8", WEBHOOK_ADDR_PUBLIC);
    classify("1.1.1.1", WEBHOOK_ADDR_PUBLIC);
    classify("172.15.255.255", WEBHOOK_ADDR_PUBLIC); /* just outside 172.16/12 */
    classify("172.32.0.1", WEBHOOK_ADDR_PUBLIC);
    classify("100.63.255.255", WEBHOOK_ADDR_PUBLIC); /* just outside 100.64/10 */
    classify("100.128.0.1", WEBHOOK_ADDR_PUBLIC);
    classify("169.253.1.1", WEBHOOK_ADDR_PUBLIC);
    classify("192.0.2.1", WEBHOOK_ADDR_PUBLIC); /* documentation, routable in tests */
    classify("223.255.255.255", WEBHOOK_ADDR_PUBLIC);
    classify("2001:4860:4860::8888", WEBHOOK_ADDR_PUBLIC);
    classify("::ffff:8.8.8.8", WEBHOOK_ADDR_PUBLIC);
    classify("fbff::1", WEBHOOK_ADDR_PUBLIC);
    assert_int_equal(webhook_addr_classify_text("localhost"), -1);
    assert_int_equal(webhook_addr_classify_text("1.2.3"), -1);
    assert_int_equal(webhook_addr_classify_text(""), -1);
}

static void sockaddr_forms(void **state)
{
    (void)state;
    struct sockaddr_in s4 = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &s4.sin_addr);
    assert_int_equal(webhook_addr_classify((struct sockaddr *)&s4, sizeof s4),
                     WEBHOOK_ADDR_LOOPBACK);
    assert_int_equal(webhook_addr_classify((struct sockaddr *)&s4, 4), WEBHOOK_ADDR_UNKNOWN);
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::ffff:192.168.0.1", &s6.sin6_addr);
    assert_int_equal(webhook_addr_classify((struct sockaddr *)&s6, sizeof s6),
                     WEBHOOK_ADDR_PRIVATE);
    struct sockaddr un = {.sa_family = AF_UNIX};
    assert_int_equal(webhook_addr_classify(&un, sizeof un), WEBHOOK_ADDR_UNKNOWN);
    assert_int_equal(webhook_addr_classify(NULL, 0), WEBHOOK_ADDR_UNKNOWN);
}

/* The example of the Standard Webhooks specification and its libraries. */
static void signature_matches_the_spec(void **state)
{
    (void)state;
    const char *body = "{\"test\": 2432232314}";
    char sig[64];
    assert_int_equal(webhook_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                  "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, strlen(body),
                                  sig, sizeof sig),
                     0);
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    assert_int_equal(
        webhook_sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "id", 1, "", 0, sig, sizeof sig), -1);
    assert_int_equal(webhook_sign("whsec_!!!!", "id", 1, "", 0, sig, sizeof sig), -1);
    assert_int_equal(webhook_sign("whsec_AAAA", "id", 1, "", 0, sig, sizeof sig), -1); /* 3 bytes */
    assert_int_equal(
        webhook_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "id", 1, "", 0, sig, 10), -1);
}

static void secrets_and_ids(void **state)
{
    (void)state;
    char a[WEBHOOK_SECRET_MAX], b[WEBHOOK_SECRET_MAX], id[32], sig[64];
    assert_int_equal(webhook_secret_new(a), 0);
    assert_int_equal(webhook_secret_new(b), 0);
    assert_string_not_equal(a, b);
    assert_int_equal(strlen(a), 6 + 32);
    assert_int_equal(webhook_sign(a, "k", 2, "x", 1, sig, sizeof sig), 0);
    assert_int_equal(webhook_id_new(id), 0);
    assert_int_equal(strlen(id), 23);
    assert_memory_equal(id, "wh_", 3);
}

static json_t *payload(const char *lang, const char *kind)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:i, s:[{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}}], "
                     "s:{s:s}}",
                     "key", "k1", "lang", lang, "kind", kind, "tz", "UTC", "count", 1, "items",
                     "kind", "recovered", "portal", "p", "at", "2026-12-01T00:00:00Z", "previous",
                     "down", "current", "up", "dataset", "title", "Título <b>", "url",
                     "https://x.example/d", "links", "manage", "https://v.example/m");
}

static void bodies(void **state)
{
    (void)state;
    char err[256];
    webhook_texts *t = webhook_texts_load(err, sizeof err);
    assert_non_null(t);
    for (int f = 0; f < WEBHOOK_FORMATS; f++) {
        json_t *p = payload(f % 2 ? "es" : "en", "alert");
        char *b =
            webhook_body(&vgt_tz_host, t, (webhook_format)f, p, 1764547200, 20, err, sizeof err);
        assert_non_null(b);
        json_t *j = json_loads(b, 0, NULL); /* json-own-data */
        assert_non_null(j);
        if (f == WEBHOOK_STANDARD) {
            assert_int_equal(json_integer_value(json_object_get(j, "v")), 1);
            assert_string_equal(json_string_value(json_object_get(j, "type")), "vigia.alert");
            assert_string_equal(json_string_value(json_object_get(j, "timestamp")),
                                "2025-12-01T00:00:00Z");
        }
        assert_non_null(strstr(b, "Título") ? b : strstr(b, "T\\u00edtulo"));
        json_decref(j);
        json_decref(p);
        free(b);
    }
    json_t *p = payload("fr", "alert");
    assert_null(webhook_body(&vgt_tz_host, t, WEBHOOK_STANDARD, p, 0, 20, err, sizeof err));
    assert_non_null(strstr(err, "lang"));
    json_decref(p);
    p = payload("es", "confirm");
    assert_null(webhook_body(&vgt_tz_host, t, WEBHOOK_SLACK, p, 0, 20, err, sizeof err));
    json_decref(p);
    p = webhook_sample_payload("test-1", "en", 0);
    char *b = webhook_body(&vgt_tz_host, t, WEBHOOK_STANDARD, p, 0, 20, err, sizeof err);
    assert_non_null(b);
    assert_non_null(strstr(b, "\"type\":\"vigia.test\""));
    free(b);
    json_decref(p);
    assert_int_equal(webhook_format_parse("teams"), WEBHOOK_TEAMS);
    assert_int_equal(webhook_format_parse("irc"), -1);
    webhook_texts_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refused_ranges),  cmocka_unit_test(public_ranges),
        cmocka_unit_test(sockaddr_forms),  cmocka_unit_test(signature_matches_the_spec),
        cmocka_unit_test(secrets_and_ids), cmocka_unit_test(bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
