/* Every log line escapes control characters from outside input: C0 (ESC,
 * BEL, CR, LF...), DEL, the C1 controls (U+0080-U+009F) and bytes that are
 * not UTF-8; valid UTF-8 text stays as it is. Before, only CR/LF were
 * folded, so "\x1b[2J" in a path cleared the operator's terminal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"

static void check(const char *in, const char *want)
{
    char out[256];
    core_log_escape(in, out, sizeof out);
    assert_string_equal(out, want);
}

static void test_escape(void **state)
{
    (void)state;
    check("plain text", "plain text");
    check("Vigía ñandú €", "Vigía ñandú €");
    check("a\x1b[2Jb", "a\\x1b[2Jb");
    check("bell\x07 del\x7f", "bell\\x07 del\\x7f");
    check("forged\r\nINFO [core] ok", "forged\\r\\nINFO [core] ok");
    check("tab\there", "tab\\there");
    check("csi \xc2\x9b"
          "31m",
          "csi \\u009b31m");
    check("nel \xc2\x85", "nel \\u0085");
    check("bad \xff\xfe and \x9b", "bad \\xff\\xfe and \\x9b");
    check("cut \xc3", "cut \\xc3");
    check("overlong \xc0\xaf", "overlong \\xc0\\xaf");
    /* Never past the buffer, always terminated, never half an escape. */
    char small[6];
    core_log_escape("\x1b\x1b\x1b", small, sizeof small);
    assert_string_equal(small, "\\x1b");
}

static void test_log_lines_are_escaped(void **state)
{
    (void)state;
    core_log_capture_start();
    core_log("http", VG_LOG_WARN, "GET %s 404", "/\x1b]0;owned\x07/\xc2\x9b");
    char *log = core_log_capture_take();
    assert_non_null(strstr(log, "GET /\\x1b]0;owned\\x07/\\u009b 404\n"));
    assert_null(strchr(log, '\x1b'));
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_log_lines_are_escaped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
