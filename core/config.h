/* The INI file, parsed with inih into sections that remember file:line for
 * every key, so every error and warning can point at the line to fix. */
#ifndef CORE_CONFIG_H
#define CORE_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vigia/config.h"

typedef struct core_config core_config;

/* Parse `path`. On syntax errors (malformed line, key outside a section,
 * overlong line) logs each as "file:line: ..." and returns NULL. */
core_config *core_config_load(const char *path);
/* Parse from memory (tests); `name` stands for the file name in messages. */
core_config *core_config_parse_string(const char *name, const char *text);
void core_config_free(core_config *cfg);

const char *core_config_path(const core_config *cfg);
/* NULL when the file has no such section. Marks the section as known. */
const vg_config *core_config_section(core_config *cfg, const char *name);
/* JSON array of section names starting with `prefix`, in file order. */
json_t *core_config_sections(core_config *cfg, const char *prefix);
const char *core_config_section_name(const vg_config *sec);

/* Getters: 0 (with the default when absent) or -EINVAL with a message
 * "file:line: [section] key: expected ..., found '...'" in `err`. */
int core_cfg_string(const vg_config *sec, const char *key, const char *def, const char **out,
                    char *err, size_t errlen);
int core_cfg_require(const vg_config *sec, const char *section_name, const char *key,
                     const char **out, char *err, size_t errlen);
int core_cfg_int(const vg_config *sec, const char *key, long long def, long long min, long long max,
                 long long *out, char *err, size_t errlen);
int core_cfg_bool(const vg_config *sec, const char *key, bool def, bool *out, char *err,
                  size_t errlen);
int core_cfg_duration(const vg_config *sec, const char *key, int64_t def, int64_t min, int64_t max,
                      int64_t *out, char *err, size_t errlen);
int core_cfg_list(const vg_config *sec, const char *key, const char *def, json_t **out, char *err,
                  size_t errlen);
int core_cfg_enum(const vg_config *sec, const char *key, const char *def,
                  const char *const *choices, int *out, char *err, size_t errlen);

/* "file:line: [section] key" (or "[section] key" when absent) into buf;
 * *value is the key's value or NULL. */
void core_cfg_locate(const vg_config *sec, const char *section_name, const char *key, char *buf,
                     size_t n, const char **value);

/* Parse helpers shared with the getters (exposed for tests). */
int core_parse_duration_ms(const char *s, int64_t *out);
json_t *core_split_list(const char *s);

/* Warn (through the log, as `who`) about every key of `sec` nobody read. */
int core_config_warn_unused(const vg_config *sec, const char *who);
/* Warn about sections nobody asked for. */
int core_config_warn_unknown_sections(core_config *cfg);

#endif
