/* core/netaddr.c: loopback listeners and peers, and which Host headers may
 * reach the server (DNS rebinding). The old warning flagged [::1] as public. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "netaddr.h"

static void test_listen_is_loopback(void **state)
{
    (void)state;
    assert_true(core_listen_is_loopback("127.0.0.1:8080"));
    assert_true(core_listen_is_loopback("127.1.2.3:80"));
    assert_true(core_listen_is_loopback("localhost:8080"));
    assert_true(core_listen_is_loopback("[::1]:8080"));
    assert_true(core_listen_is_loopback("127.0.0.1:80,[::1]:80"));
    assert_false(core_listen_is_loopback("0.0.0.0:8080"));
    assert_false(core_listen_is_loopback("8080"));
    assert_false(core_listen_is_loopback("192.168.1.2:8080"));
    assert_false(core_listen_is_loopback("[::]:8080"));
    assert_false(core_listen_is_loopback("127.0.0.1:80,0.0.0.0:81"));
    assert_false(core_listen_is_loopback("127.evil.example:80"));
    assert_false(core_listen_is_loopback(""));
    assert_false(core_listen_is_loopback(NULL));
}

static void test_addr_is_loopback(void **state)
{
    (void)state;
    assert_true(core_addr_is_loopback("127.0.0.2"));
    assert_true(core_addr_is_loopback("::1"));
    assert_true(core_addr_is_loopback("::ffff:127.0.0.1"));
    assert_true(core_addr_is_loopback("127.0.0.1"));
    assert_true(core_addr_is_loopback("127.255.255.254"));
    assert_true(core_addr_is_loopback("0:0:0:0:0:0:0:1"));
    assert_true(core_addr_is_loopback("::FFFF:127.1.2.3"));
    assert_false(core_addr_is_loopback("10.0.0.1"));
    assert_false(core_addr_is_loopback("128.0.0.1"));
    assert_false(core_addr_is_loopback("126.255.255.255"));
    assert_false(core_addr_is_loopback("127.0.0.1x"));
    assert_false(core_addr_is_loopback("::2"));
    assert_false(core_addr_is_loopback("::"));
    assert_false(core_addr_is_loopback("::ffff:10.0.0.1"));
    /* Peers are addresses: a name or a bracketed literal is not one. */
    assert_false(core_addr_is_loopback("localhost"));
    assert_false(core_addr_is_loopback("[::1]"));
    assert_false(core_addr_is_loopback(""));
    assert_false(core_addr_is_loopback(NULL));
}

static void test_host_allowed(void **state)
{
    (void)state;
    json_t *none = json_array();
    json_t *names = json_pack("[s, s]", "vigia.example.org", "status.example.org");
    /* Loopback listener, nothing configured: loopback names only. */
    assert_true(core_host_allowed("127.0.0.1:8080", none, true));
    assert_true(core_host_allowed("localhost:8080", none, true));
    assert_true(core_host_allowed("[::1]:8080", none, true));
    assert_true(core_host_allowed("LOCALHOST", none, true));
    assert_true(core_host_allowed(NULL, none, true)); /* HTTP/1.0 */
    assert_false(core_host_allowed("evil.example:8080", none, true));
    assert_false(core_host_allowed("127.0.0.1.evil.example", none, true));
    assert_false(core_host_allowed("10.0.0.1:8080", none, true));
    assert_false(core_host_allowed("", none, true));
    /* Configured names, any port, any case. */
    assert_true(core_host_allowed("Vigia.Example.org:443", names, true));
    assert_true(core_host_allowed("status.example.org", names, false));
    assert_false(core_host_allowed("example.org", names, false));
    /* A public listener: IP literals cannot be rebound. */
    assert_true(core_host_allowed("192.0.2.7:8080", none, false));
    assert_true(core_host_allowed("[2001:db8::1]:8080", none, false));
    assert_false(core_host_allowed("evil.example", none, false));
    json_decref(none);
    json_decref(names);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen_is_loopback),
        cmocka_unit_test(test_addr_is_loopback),
        cmocka_unit_test(test_host_allowed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
