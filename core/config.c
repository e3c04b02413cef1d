#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "log.h"

/* A configuration is a small text file; anything bigger is a mistake (or
 * /dev/zero) and is refused before it is read. */
#define CONFIG_MAX_BYTES (16 * 1024 * 1024)

typedef struct cfg_entry {
    char *key;
    char *value;
    int line;
    bool used;
    struct cfg_entry *next;
} cfg_entry;

struct vg_config {
    char *name;
    int line;
    bool known;
    const core_config *file;
    cfg_entry *entries;
    cfg_entry **tail;
    /* Open-addressing index of the entries by key: duplicate checks and
     * lookups stay linear in the file's size (100,000 keys took 15 s). */
    cfg_entry **index;
    size_t index_cap, count;
    struct vg_config *next;
};

struct core_config {
    char *path;
    struct vg_config *sections;
    struct vg_config **tail;
    struct vg_config *current;
};

/* State of one parse: inih does not report line numbers to the handler in
 * Debian's build, so our reader counts the lines it hands over. */
typedef struct parse_state {
    core_config *cfg;
    const char *text; /* when parsing a string */
    size_t pos;
    FILE *fp;
    int line;
    int section_line; /* line of the last "[section]" header */
    int errors;
    bool too_long;
} parse_state;

static char *reader(char *buf, int size, void *stream)
{
    parse_state *ps = stream;
    char *r;
    if (ps->fp) {
        r = fgets(buf, size, ps->fp);
    } else {
        if (!ps->text[ps->pos])
            return NULL;
        size_t n = 0;
        while (ps->text[ps->pos] && n + 1 < (size_t)size) {
            char c = ps->text[ps->pos++];
            buf[n++] = c;
            if (c == '\n')
                break;
        }
        buf[n] = '\0';
        r = buf;
    }
    if (!r)
        return NULL;
    ps->line++;
    const char *t = buf;
    while (*t == ' ' || *t == '\t')
        t++;
    if (*t == '[')
        ps->section_line = ps->line;
    size_t len = strlen(buf);
    if (len + 1 >= (size_t)size && buf[len - 1] != '\n') {
        /* inih would silently split it; refuse it instead. */
        core_log("config", VG_LOG_ERROR, "%s:%d: line longer than %d characters", ps->cfg->path,
                 ps->line, size - 2);
        ps->errors++;
        int c;
        if (ps->fp) {
            while ((c = fgetc(ps->fp)) != EOF && c != '\n')
                ;
        } else {
            while (ps->text[ps->pos] && ps->text[ps->pos] != '\n')
                ps->pos++;
            if (ps->text[ps->pos])
                ps->pos++;
        }
        buf[0] = '\0';
    }
    return r;
}

static size_t key_hash(const char *k)
{
    size_t h = 1469598103934665603ULL & (size_t)-1;
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * (size_t)1099511628211ULL;
    return h;
}

static cfg_entry *index_find(const struct vg_config *sec, const char *key)
{
    if (!sec->index_cap)
        return NULL;
    for (size_t i = key_hash(key) & (sec->index_cap - 1);; i = (i + 1) & (sec->index_cap - 1)) {
        cfg_entry *e = sec->index[i];
        if (!e || strcmp(e->key, key) == 0)
            return e;
    }
}

static void index_put(struct vg_config *sec, cfg_entry *e)
{
    size_t i = key_hash(e->key) & (sec->index_cap - 1);
    while (sec->index[i])
        i = (i + 1) & (sec->index_cap - 1);
    sec->index[i] = e;
}

/* Add to the index, doubling it at half full. -ENOMEM on failure. */
static int index_add(struct vg_config *sec, cfg_entry *e)
{
    if ((sec->count + 1) * 2 > sec->index_cap) {
        size_t cap = sec->index_cap ? sec->index_cap * 2 : 16;
        cfg_entry **old = sec->index;
        size_t old_cap = sec->index_cap;
        sec->index = calloc(cap, sizeof *sec->index);
        if (!sec->index) {
            sec->index = old;
            return -ENOMEM;
        }
        sec->index_cap = cap;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i])
                index_put(sec, old[i]);
        free(old);
    }
    index_put(sec, e);
    sec->count++;
    return 0;
}

static struct vg_config *find_section(core_config *cfg, const char *name)
{
    for (struct vg_config *s = cfg->sections; s; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    parse_state *ps = user;
    core_config *cfg = ps->cfg;
    if (!section || !*section) {
        core_log("config", VG_LOG_ERROR, "%s:%d: key '%s' is outside any [section]", cfg->path,
                 ps->line, name);
        ps->errors++;
        return 1;
    }
    struct vg_config *sec = cfg->current;
    if (!sec || strcmp(sec->name, section) != 0) {
        sec = find_section(cfg, section);
        if (!sec) {
            sec = calloc(1, sizeof *sec);
            if (!sec || !(sec->name = strdup(section))) {
                free(sec);
                return 0;
            }
            sec->line = ps->section_line ? ps->section_line : ps->line;
            sec->file = cfg;
            sec->tail = &sec->entries;
            *cfg->tail = sec;
            cfg->tail = &sec->next;
        }
        cfg->current = sec;
    }
    cfg_entry *dup = index_find(sec, name);
    if (dup) {
        core_log("config", VG_LOG_ERROR, "%s:%d: [%s] %s: duplicate key (first set at line %d)",
                 cfg->path, ps->line, section, name, dup->line);
        ps->errors++;
        return 1;
    }
    cfg_entry *e = calloc(1, sizeof *e);
    if (!e)
        return 0;
    e->key = strdup(name);
    e->value = strdup(value ? value : "");
    e->line = ps->line;
    if (!e->key || !e->value || index_add(sec, e) != 0) {
        free(e->key);
        free(e->value);
        free(e);
        return 0;
    }
    *sec->tail = e;
    sec->tail = &e->next;
    return 1;
}

static core_config *parse(const char *name, FILE *fp, const char *text)
{
    core_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return NULL;
    cfg->path = strdup(name);
    cfg->tail = &cfg->sections;
    parse_state ps = {.cfg = cfg, .fp = fp, .text = text};
    int rc = ini_parse_stream(reader, &ps, handler, &ps);
    if (rc > 0 && ps.errors == 0) {
        /* inih's own complaint: neither "[section]" nor "key = value". */
        core_log("config", VG_LOG_ERROR,
                 "%s:%d: malformed line (expected '[section]' or 'key = value')", cfg->path, rc);
        ps.errors++;
    } else if (rc < 0) {
        core_log("config", VG_LOG_ERROR, "%s: cannot read the file", cfg->path);
        ps.errors++;
    } else if (rc > 0) {
        /* Further malformed lines beyond our own errors: inih reports only the first. */
        ps.errors++;
        core_log("config", VG_LOG_ERROR,
                 "%s:%d: malformed line (expected '[section]' or 'key = value')", cfg->path, rc);
    }
    if (ps.errors) {
        core_config_free(cfg);
        return NULL;
    }
    return cfg;
}

/* The whole file as a string: a regular file of at most CONFIG_MAX_BYTES
 * and no NUL byte (a directory, /dev/null or /dev/zero is not a config). */
static char *read_config_text(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        core_log("config", VG_LOG_ERROR, "%s: cannot open the configuration file: %s", path,
                 strerror(errno));
        return NULL;
    }
    struct stat st;
    char *text = NULL;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        core_log("config", VG_LOG_ERROR, "%s: not a regular file (%s): give an INI file", path,
                 S_ISDIR(st.st_mode) ? "a directory" : "a device, pipe or socket");
    } else if (st.st_size > CONFIG_MAX_BYTES) {
        core_log("config", VG_LOG_ERROR,
                 "%s: %lld bytes, more than the %d a configuration may have", path,
                 (long long)st.st_size, CONFIG_MAX_BYTES);
    } else if ((text = malloc((size_t)st.st_size + 1))) {
        size_t n = fread(text, 1, (size_t)st.st_size, fp);
        text[n] = '\0';
        const char *nul = memchr(text, '\0', n);
        if (nul) {
            int line = 1;
            for (const char *p = text; p < nul; p++)
                line += *p == '\n';
            core_log("config", VG_LOG_ERROR, "%s:%d: NUL byte: not a text file", path, line);
            free(text);
            text = NULL;
        }
    }
    fclose(fp);
    return text;
}

core_config *core_config_load(const char *path)
{
    char *text = read_config_text(path);
    if (!text)
        return NULL;
    core_config *cfg = parse(path, NULL, text);
    free(text);
    return cfg;
}

core_config *core_config_parse_string(const char *name, const char *text)
{
    return parse(name, NULL, text);
}

void core_config_free(core_config *cfg)
{
    if (!cfg)
        return;
    struct vg_config *s = cfg->sections;
    while (s) {
        struct vg_config *sn = s->next;
        cfg_entry *e = s->entries;
        while (e) {
            cfg_entry *en = e->next;
            free(e->key);
            free(e->value);
            free(e);
            e = en;
        }
        free(s->index);
        free(s->name);
        free(s);
        s = sn;
    }
    free(cfg->path);
    free(cfg);
}

const char *core_config_path(const core_config *cfg) { return cfg->path; }

const vg_config *core_config_section(core_config *cfg, const char *name)
{
    struct vg_config *s = find_section(cfg, name);
    if (s)
        s->known = true;
    return s;
}

json_t *core_config_sections(core_config *cfg, const char *prefix)
{
    json_t *arr = json_array();
    size_t n = strlen(prefix);
    for (struct vg_config *s = cfg->sections; s && arr; s = s->next) {
        if (strncmp(s->name, prefix, n) == 0) {
            s->known = true;
            json_array_append_new(arr, json_string(s->name));
        }
    }
    return arr;
}

const char *core_config_section_name(const vg_config *sec) { return sec ? sec->name : NULL; }

static cfg_entry *lookup(const vg_config *sec, const char *key)
{
    if (!sec)
        return NULL;
    cfg_entry *e = index_find(sec, key);
    if (e)
        e->used = true;
    return e;
}

static int bad_value(const vg_config *sec, const cfg_entry *e, char *err, size_t errlen,
                     const char *expected)
{
    snprintf(err, errlen, "%s:%d: [%s] %s: expected %s, found '%s'", sec->file->path, e->line,
             sec->name, e->key, expected, e->value);
    return -EINVAL;
}

void core_cfg_locate(const vg_config *sec, const char *section_name, const char *key, char *buf,
                     size_t n, const char **value)
{
    cfg_entry *e = lookup(sec, key);
    *value = e ? e->value : NULL;
    if (e)
        snprintf(buf, n, "%s:%d: [%s] %s", sec->file->path, e->line, sec->name, key);
    else
        snprintf(buf, n, "[%s] %s", sec ? sec->name : section_name, key);
}

int core_cfg_string(const vg_config *sec, const char *key, const char *def, const char **out,
                    char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    cfg_entry *e = lookup(sec, key);
    *out = e ? e->value : def;
    return 0;
}

int core_cfg_require(const vg_config *sec, const char *section_name, const char *key,
                     const char **out, char *err, size_t errlen)
{
    cfg_entry *e = lookup(sec, key);
    if (!e || !*e->value) {
        if (sec)
            snprintf(err, errlen, "%s:%d: [%s] %s: required key is %s", sec->file->path,
                     e ? e->line : sec->line, sec->name, key, e ? "empty" : "missing");
        else
            snprintf(err, errlen, "[%s] %s: required key is missing (the section is absent)",
                     section_name ? section_name : "?", key);
        *out = NULL;
        return -EINVAL;
    }
    *out = e->value;
    return 0;
}

int core_cfg_int(const vg_config *sec, const char *key, long long def, long long min, long long max,
                 long long *out, char *err, size_t errlen)
{
    cfg_entry *e = lookup(sec, key);
    if (!e) {
        *out = def;
        return 0;
    }
    char expected[128];
    snprintf(expected, sizeof expected, "an integer from %lld to %lld", min, max);
    errno = 0;
    char *end;
    long long v = strtoll(e->value, &end, 10);
    if (end == e->value || *end || errno)
        return bad_value(sec, e, err, errlen, expected);
    if (v < min || v > max)
        return bad_value(sec, e, err, errlen, expected);
    *out = v;
    return 0;
}

int core_cfg_bool(const vg_config *sec, const char *key, bool def, bool *out, char *err,
                  size_t errlen)
{
    cfg_entry *e = lookup(sec, key);
    if (!e) {
        *out = def;
        return 0;
    }
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(e->value, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(e->value, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return bad_value(sec, e, err, errlen, "a boolean (true/false, yes/no, on/off, 1/0)");
}

int core_parse_duration_ms(const char *s, int64_t *out)
{
    while (isspace((unsigned char)*s))
        s++;
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0)
        return -EINVAL;
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].unit) == 0) {
            double ms = v * units[i].ms;
            if (ms > (double)INT64_MAX / 2)
                return -ERANGE;
            *out = (int64_t)(ms + 0.5);
            return 0;
        }
    }
    return -EINVAL;
}

static void format_duration(int64_t ms, char *buf, size_t n)
{
    if (ms % 86400000 == 0 && ms)
        snprintf(buf, n, "%lldd", (long long)(ms / 86400000));
    else if (ms % 3600000 == 0 && ms)
        snprintf(buf, n, "%lldh", (long long)(ms / 3600000));
    else if (ms % 60000 == 0 && ms)
        snprintf(buf, n, "%lldm", (long long)(ms / 60000));
    else if (ms % 1000 == 0)
        snprintf(buf, n, "%llds", (long long)(ms / 1000));
    else
        snprintf(buf, n, "%lldms", (long long)ms);
}

int core_cfg_duration(const vg_config *sec, const char *key, int64_t def, int64_t min, int64_t max,
                      int64_t *out, char *err, size_t errlen)
{
    cfg_entry *e = lookup(sec, key);
    if (!e) {
        *out = def;
        return 0;
    }
    char lo[32], hi[32], expected[160];
    format_duration(min, lo, sizeof lo);
    format_duration(max, hi, sizeof hi);
    snprintf(expected, sizeof expected,
             "a duration from %s to %s with a unit (ms, s, m, h, d), like 30s or 5m", lo, hi);
    int64_t v;
    if (core_parse_duration_ms(e->value, &v) != 0 || v < min || v > max)
        return bad_value(sec, e, err, errlen, expected);
    *out = v;
    return 0;
}

json_t *core_split_list(const char *s)
{
    json_t *arr = json_array();
    if (!arr || !s)
        return arr;
    const char *p = s;
    while (*p) {
        while (*p && (isspace((unsigned char)*p) || *p == ','))
            p++;
        const char *start = p;
        while (*p && !isspace((unsigned char)*p) && *p != ',')
            p++;
        if (p > start)
            json_array_append_new(arr, json_stringn(start, (size_t)(p - start)));
    }
    return arr;
}

int core_cfg_list(const vg_config *sec, const char *key, const char *def, json_t **out, char *err,
                  size_t errlen)
{
    (void)err;
    (void)errlen;
    cfg_entry *e = lookup(sec, key);
    *out = core_split_list(e ? e->value : def);
    return *out ? 0 : -ENOMEM;
}

int core_cfg_enum(const vg_config *sec, const char *key, const char *def,
                  const char *const *choices, int *out, char *err, size_t errlen)
{
    cfg_entry *e = lookup(sec, key);
    const char *v = e ? e->value : def;
    for (int i = 0; v && choices[i]; i++) {
        if (strcasecmp(v, choices[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    if (!e) {
        *out = -1;
        return 0;
    }
    char expected[256] = "one of ";
    for (int i = 0; choices[i]; i++) {
        size_t n = strlen(expected);
        snprintf(expected + n, sizeof expected - n, "%s%s", i ? ", " : "", choices[i]);
    }
    return bad_value(sec, e, err, errlen, expected);
}

int core_config_warn_unused(const vg_config *sec, const char *who)
{
    int n = 0;
    if (!sec)
        return 0;
    for (cfg_entry *e = sec->entries; e; e = e->next) {
        if (!e->used) {
            core_log(who, VG_LOG_WARN, "%s:%d: [%s] %s: unknown key (ignored)", sec->file->path,
                     e->line, sec->name, e->key);
            n++;
        }
    }
    return n;
}

int core_config_warn_unknown_sections(core_config *cfg)
{
    int n = 0;
    for (struct vg_config *s = cfg->sections; s; s = s->next) {
        if (!s->known) {
            core_log("config", VG_LOG_WARN,
                     "%s:%d: [%s]: unknown section (no loaded plugin reads it; ignored)", cfg->path,
                     s->line, s->name);
            n++;
        }
    }
    return n;
}
