/* Each public header compiles alone (see header_*.c) and contains no civetweb types. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <vigia/vigia.h>

int header_vigia_compiles(void);
int header_plugin_compiles(void);
int header_bus_compiles(void);
int header_http_compiles(void);
int header_log_compiles(void);
int header_config_compiles(void);
int header_export_compiles(void);
int header_json_compiles(void);
int header_workq_compiles(void);
int header_tz_compiles(void);
int header_channel_compiles(void);

static void test_each_header_alone(void **state)
{
    (void)state;
    assert_int_equal(header_vigia_compiles() + header_plugin_compiles() + header_bus_compiles() +
                         header_http_compiles() + header_log_compiles() + header_config_compiles() +
                         header_export_compiles() + header_json_compiles() +
                         header_workq_compiles() + header_tz_compiles() + header_channel_compiles(),
                     11);
#ifdef CIVETWEB_HEADER_INCLUDED
    fail_msg("a public header pulled in civetweb.h");
#endif
}

static void test_frame_builder(void **state)
{
    (void)state;
    static unsigned char out[70000 + 10];
    static char payload[70000];
    memset(payload, 'x', sizeof payload);
    assert_int_equal(vg_ws_build_frame(out, VG_WS_TEXT, payload, 5), 7);
    assert_int_equal(out[0], 0x81);
    assert_int_equal(out[1], 5);
    assert_int_equal(vg_ws_build_frame(out, VG_WS_TEXT, payload, 300), 304);
    assert_int_equal(out[1], 126);
    assert_int_equal(out[2] << 8 | out[3], 300);
    assert_int_equal(vg_ws_build_frame(out, VG_WS_BINARY, payload, 70000), 70010);
    assert_int_equal(out[0], 0x82);
    assert_int_equal(out[1], 127);
    assert_int_equal(out[7] << 16 | out[8] << 8 | out[9], 70000);
}

static void test_error_helpers(void **state)
{
    (void)state;
    json_t *e = vg_error_new("NOT_FOUND", "no notification '%s'", "42");
    assert_string_equal(json_string_value(json_object_get(json_object_get(e, "error"), "message")),
                        "no notification '42'");
    json_decref(e);
    json_t *r = NULL;
    assert_int_equal(vg_method_fail(&r, -EINVAL, "INVALID_ARGUMENT", "limit %d", 5), -EINVAL);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
                        "INVALID_ARGUMENT");
    json_decref(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_header_alone),
        cmocka_unit_test(test_frame_builder),
        cmocka_unit_test(test_error_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
