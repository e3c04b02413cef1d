/* libFuzzer target: the INI reader (core/config.c over inih) and every typed
 * getter, plus the value parsers the getters share (durations, lists). The
 * input is one whole INI file. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

static void exercise(core_config *cfg)
{
    static const char *const sections[] = {
        "server", "monitor", "monitor:datos", "broker", "rest", "notifications", "", "x"};
    static const char *const keys[] = {"listen",         "plugins",     "threads",  "interval",
                                       "fail_threshold", "enabled",     "base_url", "organizations",
                                       "json_max_depth", "admin_token", "",         "a"};
    static const char *const choices[] = {"a", "b", "debug", NULL};
    char err[512];
    for (size_t s = 0; s < sizeof sections / sizeof sections[0]; s++) {
        const vg_config *sec = core_config_section(cfg, sections[s]);
        if (sec)
            (void)core_config_section_name(sec);
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            const char *str;
            long long ll;
            bool b;
            int64_t d;
            int e;
            json_t *l = NULL;
            char where[256];
            core_cfg_string(sec, keys[k], "d", &str, err, sizeof err);
            core_cfg_require(sec, sections[s], keys[k], &str, err, sizeof err);
            core_cfg_int(sec, keys[k], 1, -5, 5000, &ll, err, sizeof err);
            core_cfg_bool(sec, keys[k], true, &b, err, sizeof err);
            core_cfg_duration(sec, keys[k], 1, 0, 86400000, &d, err, sizeof err);
            core_cfg_enum(sec, keys[k], "a", choices, &e, err, sizeof err);
            core_cfg_list(sec, keys[k], "x y", &l, err, sizeof err);
            core_cfg_locate(sec, sections[s], keys[k], where, sizeof where, &str);
            json_decref(l);
        }
        if (sec)
            core_config_warn_unused(sec, "fuzz");
    }
    json_decref(core_config_sections(cfg, "monitor"));
    json_decref(core_config_sections(cfg, ""));
    core_config_warn_unknown_sections(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    core_log_capture_start(); /* errors and warnings are expected: keep them quiet */
    core_config *cfg = core_config_parse_string("fuzz.ini", text);
    if (cfg) {
        exercise(cfg);
        core_config_free(cfg);
    }
    /* The value parsers, on the raw text too (they see any string a key holds). */
    int64_t ms;
    core_parse_duration_ms(text, &ms);
    json_decref(core_split_list(text));
    free(core_log_capture_take());
    free(text);
    return 0;
}
