/* lib/base64: RFC 4648's vectors in both alphabets, and strict decoding:
 * every refusal (bad character, mixed alphabets, misplaced padding, a
 * 4k+1 length, non-zero unused bits, too long for the buffer) says what and
 * where; every encoding decodes back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base64.h"

static void test_rfc4648_vectors(void **state)
{
    (void)state;
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const std[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    static const char *const url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    char out[16];
    unsigned char back[16];
    for (size_t i = 0; i < 7; i++) {
        size_t n = strlen(plain[i]);
        assert_int_equal(base64_encode(plain[i], n, out, BASE64_STD), strlen(std[i]));
        assert_string_equal(out, std[i]);
        assert_int_equal(base64_encoded_len(n, BASE64_STD), strlen(std[i]));
        assert_int_equal(base64_encode(plain[i], n, out, BASE64_URL), strlen(url[i]));
        assert_string_equal(out, url[i]);
        assert_int_equal(base64_encoded_len(n, BASE64_URL), strlen(url[i]));
        for (int padded = 0; padded < 2; padded++) {
            const char *t = padded ? std[i] : url[i];
            assert_int_equal(base64_decode(t, strlen(t), back, sizeof back, BASE64_ANY, NULL, 0),
                             (long)n);
            assert_memory_equal(back, plain[i], n);
        }
    }
}

static void test_alphabets(void **state)
{
    (void)state;
    char out[8];
    unsigned char b[8];
    base64_encode("\xfb\xff", 2, out, BASE64_STD);
    assert_string_equal(out, "+/8=");
    base64_encode("\xfb\xff", 2, out, BASE64_URL);
    assert_string_equal(out, "-_8");
    assert_int_equal(base64_decode("+/8=", 4, b, sizeof b, BASE64_STD, NULL, 0), 2);
    assert_int_equal(base64_decode("-_8", 3, b, sizeof b, BASE64_URL, NULL, 0), 2);
    assert_memory_equal(b, "\xfb\xff", 2);
    char err[96];
    assert_int_equal(base64_decode("-_8", 3, b, sizeof b, BASE64_STD, err, sizeof err), -1);
    assert_string_equal(err, "invalid character '-' at 0");
    assert_int_equal(base64_decode("+/8", 3, b, sizeof b, BASE64_URL, err, sizeof err), -1);
    assert_string_equal(err, "invalid character '+' at 0");
    assert_int_equal(base64_decode("+_8", 3, b, sizeof b, BASE64_ANY, err, sizeof err), -1);
    assert_string_equal(err, "both alphabets (+/ and -_) in one text at 1");
}

static void refused(const char *text, size_t len, size_t max, const char *why)
{
    unsigned char b[64];
    char err[128] = "";
    assert_int_equal(base64_decode(text, len, b, max, BASE64_ANY, err, sizeof err), -1);
    assert_string_equal(err, why);
    assert_int_equal(base64_decode(text, len, b, max, BASE64_ANY, NULL, 0), -1);
}

static void test_strict(void **state)
{
    (void)state;
    refused("YW*j", 4, 8, "invalid character '*' at 2");
    refused("YW j", 4, 8, "invalid byte 0x20 at 2");
    refused("YW\0j", 4, 8, "invalid byte 0x00 at 2");
    refused("YW\xc3\xa9", 4, 8, "invalid byte 0xc3 at 2");
    refused("Y", 1, 8, "a length of 4k+1 (a character too many or too few) at 1");
    refused("Zg=", 3, 8, "padding that does not end a group of four at 2");
    refused("Zm9vY===", 8, 8, "invalid character '=' at 5");
    refused("Zg==Zg==", 8, 8, "invalid character '=' at 2");
    refused("Zm9v=", 5, 8, "padding that does not end a group of four at 4");
    refused("Zh==", 4, 8, "non-zero unused bits (not the canonical encoding) at 1");
    refused("-_9", 3, 8, "non-zero unused bits (not the canonical encoding) at 2");
    unsigned char b[8];
    assert_int_equal(base64_decode("Zh==", 4, b, 8, BASE64_ANY | BASE64_LAX_BITS, NULL, 0), 1);
    assert_int_equal(b[0], 'f');
    refused("YWJjYWJjYWJj", 12, 8, "9 bytes, more than the 8 expected");
}

/* Every byte string of up to 3 bytes round-trips in both alphabets. */
static void test_round_trip(void **state)
{
    (void)state;
    unsigned char in[3], back[3];
    char text[8];
    for (unsigned v = 0; v < (1u << 24); v += 4099) {
        in[0] = (unsigned char)(v >> 16), in[1] = (unsigned char)(v >> 8), in[2] = (unsigned char)v;
        for (size_t n = 0; n <= 3; n++)
            for (unsigned f = BASE64_STD; f <= BASE64_URL; f++) {
                size_t len = base64_encode(in, n, text, f);
                assert_int_equal(base64_decode(text, len, back, n, f, NULL, 0), (long)n);
                assert_memory_equal(back, in, n);
            }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_vectors),
        cmocka_unit_test(test_alphabets),
        cmocka_unit_test(test_strict),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
