/* Mutation fuzzing of the INI parser and the typed getters: 20,000 mutated
 * files from a valid seed, each parsed and read with every getter. Run under
 * ASan/UBSan in `make test`; a crash, leak or UB fails the test. The seed of
 * the PRNG is printed so a failure can be replayed (VGT_FUZZ_SEED=...). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "config.h"
#include "log.h"

static const char seed_ini[] = "[server]\n"
                               "listen = 127.0.0.1:8080\n"
                               "plugins = notifications, monitor?, broker rest\n"
                               "threads = 256\n"
                               "; comment\n"
                               "[monitor]\n"
                               "interval = 15m\n"
                               "fail_threshold = 2\n"
                               "enabled = yes\n"
                               "[monitor:datos]\n"
                               "base_url = https://datos.gob.cl\n"
                               "organizations = a b, c\n";

static uint64_t rng;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static size_t mutate(char *buf, size_t len, size_t cap)
{
    static const char *const tokens[] = {"[",
                                         "]",
                                         "=",
                                         ":",
                                         ";",
                                         "#",
                                         "\n",
                                         "\r\n",
                                         " ",
                                         "\t",
                                         "\xff",
                                         "\xc3\x28",
                                         "999999999999999999999",
                                         "-1",
                                         "1ms",
                                         "0",
                                         "yes",
                                         "[server]",
                                         "[",
                                         "\\",
                                         "%00"};
    int ops = 1 + (int)(next_rand() % 8);
    for (int k = 0; k < ops; k++) {
        size_t pos = len ? next_rand() % len : 0;
        switch (next_rand() % 4) {
        case 0: /* flip a byte */
            if (len)
                buf[pos] = (char)(next_rand() & 0xff);
            break;
        case 1: /* delete a run */
            if (len) {
                size_t n = next_rand() % 8;
                if (pos + n > len)
                    n = len - pos;
                memmove(buf + pos, buf + pos + n, len - pos - n);
                len -= n;
            }
            break;
        default: { /* insert a token */
            const char *t = tokens[next_rand() % (sizeof tokens / sizeof tokens[0])];
            size_t tl = strlen(t);
            if (len + tl < cap) {
                memmove(buf + pos + tl, buf + pos, len - pos);
                memcpy(buf + pos, t, tl);
                len += tl;
            }
        }
        }
    }
    return len;
}

static void exercise(core_config *cfg)
{
    static const char *const sections[] = {"server", "monitor", "monitor:datos", "", "x"};
    static const char *const keys[] = {"listen",         "plugins", "threads",  "interval",
                                       "fail_threshold", "enabled", "base_url", "organizations"};
    static const char *const choices[] = {"a", "b", NULL};
    char err[512];
    for (size_t s = 0; s < sizeof sections / sizeof sections[0]; s++) {
        const vg_config *sec = core_config_section(cfg, sections[s]);
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            const char *str;
            long long ll;
            bool b;
            int64_t d;
            int e;
            json_t *l = NULL;
            core_cfg_string(sec, keys[k], "d", &str, err, sizeof err);
            core_cfg_require(sec, sections[s], keys[k], &str, err, sizeof err);
            core_cfg_int(sec, keys[k], 1, -5, 5000, &ll, err, sizeof err);
            core_cfg_bool(sec, keys[k], true, &b, err, sizeof err);
            core_cfg_duration(sec, keys[k], 1, 0, 86400000, &d, err, sizeof err);
            core_cfg_enum(sec, keys[k], "a", choices, &e, err, sizeof err);
            core_cfg_list(sec, keys[k], "x y", &l, err, sizeof err);
            json_decref(l);
        }
        core_config_warn_unused(sec, "fuzz");
    }
    json_decref(core_config_sections(cfg, "monitor"));
    core_config_warn_unknown_sections(cfg);
}

static void test_mutated_ini(void **state)
{
    (void)state;
    const char *env = getenv("VGT_FUZZ_SEED");
    rng = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    if (!rng)
        rng = 88172645463325252ULL;
    printf("fuzz seed: VGT_FUZZ_SEED=%llu\n", (unsigned long long)rng);
    core_log_set_level(VG_LOG_ERROR);
    int parsed = 0, refused = 0;
    enum { CAP = 4096 };
    char *buf = malloc(CAP + 1);
    assert_non_null(buf);
    for (int i = 0; i < 20000; i++) {
        size_t len = sizeof seed_ini - 1;
        memcpy(buf, seed_ini, len);
        len = mutate(buf, len, CAP);
        buf[len] = '\0';
        core_log_capture_start(); /* keep the output quiet; also exercises capture */
        core_config *cfg = core_config_parse_string("fuzz.ini", buf);
        if (cfg) {
            parsed++;
            exercise(cfg);
            core_config_free(cfg);
        } else {
            refused++;
        }
        free(core_log_capture_take());
    }
    free(buf);
    printf("parsed %d, refused %d\n", parsed, refused);
    /* Both paths were exercised. */
    assert_true(parsed > 100);
    assert_true(refused > 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_mutated_ini)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
