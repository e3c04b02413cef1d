#include "log.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static vg_log_level log_level = VG_LOG_INFO;
static FILE *log_file;
static char *capture; /* tests: a copy of every line */
static size_t capture_len;
static bool capturing;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void core_log_set_level(vg_log_level level) { log_level = level; }
vg_log_level core_log_get_level(void) { return log_level; }

int core_log_level_parse(const char *s)
{
    static const char *const words[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, words[i]) == 0)
            return i;
    if (strcasecmp(s, "warning") == 0)
        return VG_LOG_WARN;
    return -1;
}

int core_log_open_file(const char *path)
{
    FILE *f = fopen(path, "a");
    if (!f)
        return -1;
    pthread_mutex_lock(&log_lock);
    if (log_file)
        fclose(log_file);
    log_file = f;
    pthread_mutex_unlock(&log_lock);
    return 0;
}

void core_log_close(void)
{
    pthread_mutex_lock(&log_lock);
    if (log_file)
        fclose(log_file);
    log_file = NULL;
    pthread_mutex_unlock(&log_lock);
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
    if (c >= 0xf5 || !n)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if (n == 3 && ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0)))
        return 0; /* overlong, surrogate */
    if (n == 4 && ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90)))
        return 0;
    return n;
}

void core_log_escape(const char *in, char *out, size_t size)
{
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)in;
    while (*p && o + 1 < size) {
        char esc[8] = "";
        size_t n = 1;
        if (*p == '\n')
            snprintf(esc, sizeof esc, "\\n");
        else if (*p == '\r')
            snprintf(esc, sizeof esc, "\\r");
        else if (*p == '\t')
            snprintf(esc, sizeof esc, "\\t");
        else if (*p < 0x20 || *p == 0x7f)
            snprintf(esc, sizeof esc, "\\x%02x", *p);
        else if (*p >= 0x80) {
            n = utf8_len(p);
            if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0) /* C1 controls, U+0080-U+009F */
                snprintf(esc, sizeof esc, "\\u%04x", p[1]);
            else if (!n) {
                snprintf(esc, sizeof esc, "\\x%02x", *p);
                n = 1;
            }
        }
        size_t el = esc[0] ? strlen(esc) : n;
        if (o + el >= size)
            break;
        memcpy(out + o, esc[0] ? esc : (const char *)p, el);
        o += el;
        p += n;
    }
    out[o] = '\0';
}

void core_logv(const char *who, vg_log_level level, const char *fmt, va_list ap)
{
    if (level > log_level)
        return;
    char raw[2048], msg[4096];
    vsnprintf(raw, sizeof raw, fmt, ap);
    core_log_escape(raw, msg, sizeof msg);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char stamp[40];
    size_t n = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + n, sizeof stamp - n, ".%03ldZ", ts.tv_nsec / 1000000);

    int lv = (int)level;
    if (lv < 0 || lv > 3)
        lv = 2;
    pthread_mutex_lock(&log_lock);
    if (!capturing) {
        fprintf(stderr, "%s %-5s [%s] %s\n", stamp, level_names[lv], who ? who : "core", msg);
    } else {
        char line[4200];
        int ln =
            snprintf(line, sizeof line, "%s [%s] %s\n", level_names[lv], who ? who : "core", msg);
        if (ln < 0)
            ln = 0;
        if ((size_t)ln >= sizeof line)
            ln = (int)sizeof line - 1;
        char *nc = realloc(capture, capture_len + (size_t)ln + 1);
        if (nc) {
            memcpy(nc + capture_len, line, (size_t)ln + 1);
            capture = nc;
            capture_len += (size_t)ln;
        }
    }
    if (log_file) {
        fprintf(log_file, "%s %-5s [%s] %s\n", stamp, level_names[lv], who ? who : "core", msg);
        fflush(log_file);
    }
    pthread_mutex_unlock(&log_lock);
}

void core_log(const char *who, vg_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    core_logv(who, level, fmt, ap);
    va_end(ap);
}

void core_log_capture_start(void)
{
    pthread_mutex_lock(&log_lock);
    free(capture);
    capture = NULL;
    capture_len = 0;
    capturing = true;
    pthread_mutex_unlock(&log_lock);
}

char *core_log_capture_take(void)
{
    pthread_mutex_lock(&log_lock);
    char *c = capture ? capture : strdup("");
    capture = NULL;
    capture_len = 0;
    capturing = false;
    pthread_mutex_unlock(&log_lock);
    return c;
}
