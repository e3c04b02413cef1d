/* cmocka tests of the broker's Engine.IO and Socket.IO codecs: every wire
 * example and malformed case of socketio-protocol.md §1-2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* cmocka.h needs the headers above */
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "eio.h"
#include "sio.h"

static int dec(const char *s, brk_eio_packet *p) { return brk_eio_decode(s, strlen(s), p); }

static void test_eio_decode_types(void **st)
{
    (void)st;
    brk_eio_packet p;
    const char *ok[] = {"0{}", "1", "2", "3", "4hello", "5", "6", "2probe", "3probe", "bAQIDBA=="};
    int types[] = {EIO_OPEN,    EIO_CLOSE, EIO_PING, EIO_PONG, EIO_MESSAGE,
                   EIO_UPGRADE, EIO_NOOP,  EIO_PING, EIO_PONG, EIO_BINARY};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        assert_int_equal(dec(ok[i], &p), 0);
        assert_int_equal(p.type, types[i]);
        assert_int_equal(p.len, strlen(ok[i]) - 1);
    }
    assert_int_equal(dec("2probe", &p), 0);
    assert_memory_equal(p.data, "probe", 5);
    assert_int_equal(dec("4hello", &p), 0);
    assert_memory_equal(p.data, "hello", 5);
    /* malformed */
    assert_int_equal(brk_eio_decode("", 0, &p), -EINVAL);
    assert_int_equal(dec("7", &p), -EINVAL);
    assert_int_equal(dec("abc", &p), -EINVAL);
    assert_int_equal(dec("x4", &p), -EINVAL);
    assert_int_equal(dec("\x1e", &p), -EINVAL);
    assert_int_equal(brk_eio_decode(NULL, 3, &p), -EINVAL);
}

static int split(const char *body, size_t len, brk_eio_packet *out, int max)
{
    size_t pos = 0;
    int n = 0, rc;
    while ((rc = brk_eio_payload_next(body, len, &pos, &out[n])) == 1)
        if (++n == max)
            break;
    return rc < 0 ? rc : n;
}

static void test_eio_payload(void **st)
{
    (void)st;
    brk_eio_packet p[8];
    const char *b = "4hello\x1e"
                    "2\x1e"
                    "4world";
    assert_int_equal(split(b, strlen(b), p, 8), 3);
    assert_int_equal(p[0].type, EIO_MESSAGE);
    assert_memory_equal(p[0].data, "hello", 5);
    assert_int_equal(p[1].type, EIO_PING);
    assert_int_equal(p[1].len, 0);
    assert_memory_equal(p[2].data, "world", 5);
    const char *bin = "4hello\x1e"
                      "bAQIDBA==";
    assert_int_equal(split(bin, strlen(bin), p, 8), 2);
    assert_int_equal(p[1].type, EIO_BINARY);
    const char *batch = "442[\"hello\"]\x1e"
                        "42[\"world\"]";
    assert_int_equal(split(batch, strlen(batch), p, 8), 2);
    assert_int_equal(p[1].type, EIO_MESSAGE);
    assert_memory_equal(p[1].data, "2[\"world\"]", 10);
    assert_int_equal(split("40", 2, p, 8), 1);
    assert_int_equal(split("1", 1, p, 8), 1);
    /* malformed: empty body, empty parts, bad type */
    assert_int_equal(split("", 0, p, 8), -EINVAL);
    assert_int_equal(split("\x1e", 1, p, 8), -EINVAL);
    assert_int_equal(split("4a\x1e", 3, p, 8), -EINVAL);
    assert_int_equal(split("\x1e"
                           "4a",
                           3, p, 8),
                     -EINVAL);
    assert_int_equal(split("4a\x1e\x1e"
                           "4b",
                           6, p, 8),
                     -EINVAL);
    assert_int_equal(split("abc", 3, p, 8), -EINVAL);
    assert_int_equal(split("4a\x1e"
                           "9",
                           4, p, 8),
                     -EINVAL);
}

static void test_eio_encode_open_errors(void **st)
{
    (void)st;
    char buf[512];
    size_t n = brk_eio_encode(buf, EIO_MESSAGE, "hello", 5);
    assert_int_equal(n, 6);
    assert_memory_equal(buf, "4hello", 6);
    assert_int_equal(brk_eio_encode(buf, EIO_NOOP, NULL, 0), 1);
    assert_int_equal(buf[0], '6');
    assert_int_equal(brk_eio_encode(buf, EIO_PONG, "probe", 5), 6);
    assert_memory_equal(buf, "3probe", 6);

    int len =
        brk_eio_open_packet(buf, sizeof buf, "lv_VI97HAXpY6yYWAAAC", 1, 25000, 20000, 1000000);
    assert_true(len > 0);
    assert_string_equal(buf,
                        "0{\"sid\":\"lv_VI97HAXpY6yYWAAAC\",\"upgrades\":[\"websocket\"],"
                        "\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000000}");
    json_t *j = json_loads(buf + 1, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 5); /* exactly the five keys */
    json_decref(j);
    len = brk_eio_open_packet(buf, sizeof buf, "abc", 0, 300, 200, 1000);
    assert_string_equal(buf, "0{\"sid\":\"abc\",\"upgrades\":[],\"pingInterval\":300,"
                             "\"pingTimeout\":200,\"maxPayload\":1000}");
    assert_int_equal(brk_eio_open_packet(buf, 10, "abc", 0, 1, 1, 1), -ENOSPC);

    const char *msgs[] = {
        "Transport unknown", "Session ID unknown", "Bad handshake method",
        "Bad request",       "Forbidden",          "Unsupported protocol version"};
    for (int c = 0; c <= 5; c++) {
        assert_string_equal(brk_eio_error_message(c), msgs[c]);
        assert_int_equal(brk_eio_error_status(c), c == 4 ? 403 : 400);
    }
    brk_eio_error_body(buf, sizeof buf, 1);
    assert_string_equal(buf, "{\"code\":1,\"message\":\"Session ID unknown\"}");

    char a[21], b[21];
    assert_int_equal(brk_eio_random_id(a), 0);
    assert_int_equal(brk_eio_random_id(b), 0);
    assert_int_equal(strlen(a), 20);
    assert_string_not_equal(a, b);
    for (int i = 0; i < 20; i++)
        assert_non_null(
            strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", a[i]));
}

static int sdec(const char *s, brk_sio_packet *p)
{
    const char *why = NULL;
    int rc = brk_sio_decode(s, strlen(s), 64, p, &why);
    if (rc < 0)
        assert_non_null(why);
    return rc;
}

static void test_sio_decode_examples(void **st)
{
    (void)st;
    brk_sio_packet p;
    assert_int_equal(sdec("0", &p), 0);
    assert_int_equal(p.type, SIO_CONNECT);
    assert_string_equal(p.nsp, "/");
    assert_null(p.data);

    assert_int_equal(sdec("0{\"token\":\"123\"}", &p), 0);
    assert_string_equal(json_string_value(json_object_get(p.data, "token")), "123");
    brk_sio_packet_clear(&p);

    assert_int_equal(sdec("0/admin,", &p), 0);
    assert_string_equal(p.nsp, "/admin");
    assert_int_equal(sdec("0/admin,{\"token\":\"abc\"}", &p), 0);
    assert_string_equal(p.nsp, "/admin");
    assert_true(json_is_object(p.data));
    brk_sio_packet_clear(&p);
    assert_int_equal(sdec("0/custom", &p), 0); /* namespace up to the end, no comma */
    assert_string_equal(p.nsp, "/custom");
    assert_int_equal(sdec("1/custom", &p), 0);
    assert_int_equal(p.type, SIO_DISCONNECT);

    assert_int_equal(sdec("0{\"pid\":\"YHcX2sdAF1z452-HAAAW\",\"offset\":\"MzUPkW0\"}", &p), 0);
    assert_string_equal(json_string_value(json_object_get(p.data, "offset")), "MzUPkW0");
    brk_sio_packet_clear(&p);

    assert_int_equal(sdec("2[\"hey\",\"Jude\"]", &p), 0);
    assert_int_equal(p.type, SIO_EVENT);
    assert_int_equal(p.id, -1);
    assert_int_equal(json_array_size(p.data), 2);
    brk_sio_packet_clear(&p);
    assert_int_equal(sdec("2/admin,[\"bar\"]", &p), 0);
    assert_string_equal(p.nsp, "/admin");
    brk_sio_packet_clear(&p);
    assert_int_equal(sdec("212[\"foo\"]", &p), 0);
    assert_int_equal(p.id, 12);
    brk_sio_packet_clear(&p);
    assert_int_equal(sdec("20[\"hello\",\"world\"]", &p), 0);
    assert_int_equal(p.id, 0);
    brk_sio_packet_clear(&p);
    assert_int_equal(sdec("2/admin,0[\"hello\",\"world\"]", &p), 0);
    assert_int_equal(p.id, 0);
    assert_string_equal(p.nsp, "/admin");
    brk_sio_packet_clear(&p);
    assert_int_equal(sdec("2456[\"message-with-ack\",1,\"2\",{\"3\":[false]}]", &p), 0);
    assert_int_equal(p.id, 456);
    brk_sio_packet_clear(&p);
    assert_int_equal(sdec("2[1]", &p), 0); /* numeric event names are allowed */
    brk_sio_packet_clear(&p);

    assert_int_equal(sdec("312[]", &p), 0);
    assert_int_equal(p.type, SIO_ACK);
    assert_int_equal(p.id, 12);
    assert_int_equal(json_array_size(p.data), 0);
    brk_sio_packet_clear(&p);
    assert_int_equal(sdec("3/admin,13[\"bar\"]", &p), 0);
    assert_int_equal(p.id, 13);
    brk_sio_packet_clear(&p);

    assert_int_equal(sdec("4{\"message\":\"Not authorized\"}", &p), 0);
    assert_int_equal(p.type, SIO_CONNECT_ERROR);
    brk_sio_packet_clear(&p);
    assert_int_equal(sdec("4\"legacy\"", &p), 0);
    brk_sio_packet_clear(&p);

    /* binary types decode, with their attachment count, so they can be refused */
    assert_int_equal(sdec("51-[\"baz\",{\"_placeholder\":true,\"num\":0}]", &p), 0);
    assert_int_equal(p.type, SIO_BINARY_EVENT);
    assert_int_equal(p.attachments, 1);
    brk_sio_packet_clear(&p);
    assert_int_equal(sdec("52-/admin,[\"baz\",{\"_placeholder\":true,\"num\":0},"
                          "{\"_placeholder\":true,\"num\":1}]",
                          &p),
                     0);
    assert_int_equal(p.attachments, 2);
    assert_string_equal(p.nsp, "/admin");
    brk_sio_packet_clear(&p);
    assert_int_equal(sdec("61-15[\"bar\",{\"_placeholder\":true,\"num\":0}]", &p), 0);
    assert_int_equal(p.type, SIO_BINARY_ACK);
    assert_int_equal(p.id, 15);
    brk_sio_packet_clear(&p);
    assert_int_equal(sdec("52-789[\"message-with-ack\",{\"_placeholder\":true,\"num\":0},"
                          "{\"_placeholder\":true,\"num\":1}]",
                          &p),
                     0);
    assert_int_equal(p.id, 789);
    brk_sio_packet_clear(&p);
}

static void test_sio_decode_malformed(void **st)
{
    (void)st;
    brk_sio_packet p;
    const char *bad[] = {
        "",            /* empty */
        "abc",         /* 4abc on the wire: unknown type */
        "7",           /* unknown type */
        "9[\"x\"]",    /* unknown type */
        "2{}",         /* 42{}: event payload must be an array */
        "2abc[\"a\"]", /* 42abc[...]: garbage */
        "2[]",         /* empty event array */
        "2[\"connect\"]",
        "2[\"disconnect\"]",
        "2[\"connect_error\"]",
        "2[\"disconnecting\"]",
        "2[\"newListener\"]",
        "2[\"removeListener\"]",
        "2[{}]",                    /* event name must be a string or a number */
        "2",                        /* event without payload */
        "3",                        /* ack without payload */
        "3{}",                      /* ack payload must be an array */
        "0[]",                      /* connect payload must be an object */
        "0\"x\"",                   /* connect payload must be an object */
        "1{}",                      /* disconnect has no payload */
        "4[]",                      /* connect_error must be string or object */
        "2[\"a\"",                  /* truncated JSON */
        "5[\"a\"]",                 /* binary without count */
        "5x-[\"a\"]",               /* bad count */
        "599-[\"a\"]",              /* too many attachments */
        "21234567890123456[\"a\"]", /* ack id too long */
        "2[\"a\"]trailing",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (sdec(bad[i], &p) != -EINVAL)
            fail_msg("accepted malformed packet '%s'", bad[i]);
        assert_null(p.data);
    }
    char longnsp[300] = "0/";
    memset(longnsp + 2, 'a', 200);
    longnsp[202] = ',';
    longnsp[203] = '\0';
    assert_int_equal(sdec(longnsp, &p), -EINVAL);
}

static void test_sio_encode(void **st)
{
    (void)st;
    size_t n;
    char *s;
    json_t *sid = json_pack("{s:s}", "sid", "wZX3oN0bSVIhsaknAAAI");
    s = brk_sio_encode(SIO_CONNECT, "/", -1, sid, 1, &n);
    assert_string_equal(s, "40{\"sid\":\"wZX3oN0bSVIhsaknAAAI\"}");
    assert_int_equal(n, strlen(s));
    free(s);
    s = brk_sio_encode(SIO_CONNECT, "/admin", -1, sid, 1, &n);
    assert_string_equal(s, "40/admin,{\"sid\":\"wZX3oN0bSVIhsaknAAAI\"}");
    free(s);
    json_decref(sid);

    json_t *err = json_pack("{s:s}", "message", "Invalid namespace");
    s = brk_sio_encode(SIO_CONNECT_ERROR, "/random", -1, err, 1, &n);
    assert_string_equal(s, "44/random,{\"message\":\"Invalid namespace\"}");
    free(s);
    json_decref(err);

    json_t *ev = json_pack("[ss]", "hey", "Jude");
    s = brk_sio_encode(SIO_EVENT, "/", -1, ev, 1, &n);
    assert_string_equal(s, "42[\"hey\",\"Jude\"]");
    free(s);
    s = brk_sio_encode(SIO_EVENT, "/", 5, ev, 0, &n);
    assert_string_equal(s, "25[\"hey\",\"Jude\"]");
    free(s);
    json_decref(ev);

    json_t *empty = json_array();
    s = brk_sio_encode(SIO_ACK, "/", 12, empty, 1, &n);
    assert_string_equal(s, "4312[]");
    free(s);
    s = brk_sio_encode(SIO_ACK, "/", 0, empty, 1, &n);
    assert_string_equal(s, "430[]");
    free(s);
    json_decref(empty);
    json_t *bar = json_pack("[s]", "bar");
    s = brk_sio_encode(SIO_ACK, "/admin", 13, bar, 1, &n);
    assert_string_equal(s, "43/admin,13[\"bar\"]");
    free(s);
    json_decref(bar);

    s = brk_sio_encode(SIO_DISCONNECT, "/", -1, NULL, 1, &n);
    assert_string_equal(s, "41");
    free(s);
    s = brk_sio_encode(SIO_DISCONNECT, "/admin", -1, NULL, 1, &n);
    assert_string_equal(s, "41/admin,");
    free(s);

    /* round trip */
    json_t *args = json_pack("[s,i,s,{s:[b]}]", "message-with-ack", 1, "2", "3", 0);
    s = brk_sio_encode(SIO_EVENT, "/", 456, args, 0, &n);
    brk_sio_packet p;
    assert_int_equal(brk_sio_decode(s, n, 64, &p, NULL), 0);
    assert_int_equal(p.id, 456);
    assert_true(json_equal(p.data, args));
    brk_sio_packet_clear(&p);
    free(s);
    json_decref(args);
}

/* 1,000 nested arrays in 2 KB: refused by the depth check before jansson
 * recurses (which overflowed the 100 KiB handler stack); at the limit it parses. */
static char *nested(const char *prefix, int depth, const char *suffix)
{
    size_t pl = strlen(prefix), sl = strlen(suffix);
    char *s = malloc(pl + 2 * (size_t)depth + sl + 1);
    memcpy(s, prefix, pl);
    memset(s + pl, '[', (size_t)depth);
    memset(s + pl + depth, ']', (size_t)depth);
    memcpy(s + pl + 2 * depth, suffix, sl + 1);
    return s;
}

static void test_sio_decode_too_deep(void **st)
{
    (void)st;
    brk_sio_packet p;
    const char *why = NULL;
    char *s = nested("2[\"x\",", 1000, "]");
    assert_int_equal(brk_sio_decode(s, strlen(s), 64, &p, &why), -E2BIG);
    assert_non_null(strstr(why, "json_max_depth"));
    assert_null(p.data);
    free(s);
    /* CONNECT: the type is known, so the caller can answer CONNECT_ERROR */
    s = malloc(1 + 5 * 1000 + 1);
    strcpy(s, "0");
    for (int i = 0; i < 1000; i++)
        strcat(s, "{\"a\":");
    assert_int_equal(brk_sio_decode(s, strlen(s), 64, &p, &why), -E2BIG);
    assert_int_equal(p.type, SIO_CONNECT);
    free(s);
    /* with an ack id: the id survives for the answer */
    s = nested("212[\"x\",", 100, "]");
    assert_int_equal(brk_sio_decode(s, strlen(s), 64, &p, &why), -E2BIG);
    assert_int_equal(p.id, 12);
    free(s);
    /* 63 levels inside the event array: 64 in all, accepted */
    s = nested("2[\"x\",", 63, "]");
    assert_int_equal(brk_sio_decode(s, strlen(s), 64, &p, &why), 0);
    brk_sio_packet_clear(&p);
    free(s);
    /* brackets inside strings do not count */
    s = nested("2[\"", 500, "\"]");
    assert_int_equal(brk_sio_decode(s, strlen(s), 64, &p, &why), 0);
    brk_sio_packet_clear(&p);
    free(s);
}

/* base64 both ways, and the placeholder swap of binary attachments */
static void test_binary(void **st)
{
    (void)st;
    char out[64];
    unsigned char raw[64];
    size_t n;
    static const struct {
        const char *in, *b64;
    } v[] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        assert_int_equal(brk_b64_encode((const unsigned char *)v[i].in, strlen(v[i].in), out),
                         strlen(v[i].b64));
        assert_string_equal(out, v[i].b64);
        assert_int_equal(brk_b64_decode(v[i].b64, strlen(v[i].b64), raw, &n), 0);
        assert_int_equal(n, strlen(v[i].in));
        assert_memory_equal(raw, v[i].in, n);
    }
    assert_int_equal(brk_b64_decode("Zm9", 3, raw, &n), 0); /* unpadded */
    assert_int_equal(n, 2);
    assert_int_equal(brk_b64_decode("-_8", 3, raw, &n), 0); /* URL-safe */
    assert_int_equal(brk_b64_decode("Z", 1, raw, &n), -EINVAL);
    assert_int_equal(brk_b64_decode("Zm!v", 4, raw, &n), -EINVAL);

    json_t *d = json_loads("[\"m\",{\"_placeholder\":true,\"num\":1},"
                           "{\"a\":{\"_placeholder\":true,\"num\":0}}]",
                           0, NULL);
    json_t *parts = json_pack("[ss]", "AQID", "BAU=");
    assert_int_equal(brk_sio_reconstruct(d, parts), 0);
    char *txt = json_dumps(d, JSON_COMPACT);
    assert_string_equal(txt, "[\"m\",{\"_binary\":\"BAU=\"},{\"a\":{\"_binary\":\"AQID\"}}]");
    free(txt);
    json_t *back = brk_sio_deconstruct(d);
    txt = json_dumps(d, JSON_COMPACT);
    assert_string_equal(txt, "[\"m\",{\"_placeholder\":true,\"num\":0},"
                             "{\"a\":{\"_placeholder\":true,\"num\":1}}]");
    free(txt);
    assert_int_equal(json_array_size(back), 2);
    assert_string_equal(json_string_value(json_array_get(back, 0)), "BAU=");
    json_decref(back);
    json_decref(d);
    /* a placeholder out of range, or with a bad num, is refused */
    d = json_loads("[\"m\",{\"_placeholder\":true,\"num\":2}]", 0, NULL);
    assert_int_equal(brk_sio_reconstruct(d, parts), -EINVAL);
    json_decref(d);
    d = json_loads("[\"m\",{\"_placeholder\":true,\"num\":\"0\"}]", 0, NULL);
    assert_int_equal(brk_sio_reconstruct(d, parts), -EINVAL);
    json_decref(d);
    json_decref(parts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eio_decode_types),       cmocka_unit_test(test_eio_payload),
        cmocka_unit_test(test_eio_encode_open_errors), cmocka_unit_test(test_sio_decode_examples),
        cmocka_unit_test(test_sio_decode_malformed),   cmocka_unit_test(test_sio_encode),
        cmocka_unit_test(test_sio_decode_too_deep),    cmocka_unit_test(test_binary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
