#include "log.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
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

void core_logv(const char *who, vg_log_level level, const char *fmt, va_list ap)
{
    if (level > log_level)
        return;
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    /* One line per message: fold embedded newlines. */
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';

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
        char line[2200];
        int ln = snprintf(line, sizeof line, "%s [%s] %s\n", level_names[lv], who ? who : "core",
                          msg);
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
