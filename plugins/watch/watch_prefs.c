/* Parsing of the subscriber's preferences: delivery, quiet hours, kinds and
 * severities. */
#include "watch.h"

#include <stdio.h>
#include <string.h>

static int parse_hhmm(const char *s, int *minute)
{
    int h, m;
    char tail;
    if (strlen(s) != 5 || sscanf(s, "%2d:%2d%c", &h, &m, &tail) != 2 || h < 0 || h > 23 || m < 0 ||
        m > 59)
        return -1;
    *minute = h * 60 + m;
    return 0;
}

int watch_parse_delivery(const char *s, watch_sched *out)
{
    static const char *const days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    if (!s)
        return -1;
    if (strcmp(s, "immediate") == 0) {
        out->mode = WATCH_IMMEDIATE;
        return 0;
    }
    if (strcmp(s, "hourly") == 0) {
        out->mode = WATCH_HOURLY;
        return 0;
    }
    if (strncmp(s, "daily@", 6) == 0) {
        out->mode = WATCH_DAILY;
        return parse_hhmm(s + 6, &out->minute);
    }
    if (strncmp(s, "weekly@", 7) == 0 && strlen(s) == 7 + 3 + 1 + 5 && s[10] == '@') {
        for (int i = 0; i < 7; i++)
            if (strncmp(s + 7, days[i], 3) == 0) {
                out->mode = WATCH_WEEKLY;
                out->wday = i;
                return parse_hhmm(s + 11, &out->minute);
            }
    }
    return -1;
}

int watch_parse_quiet(const char *s, watch_sched *out)
{
    out->quiet_start = out->quiet_end = -1;
    if (!s || !*s)
        return 0;
    char a[6], b[6];
    if (strlen(s) != 11 || s[5] != '-')
        return -1;
    memcpy(a, s, 5);
    a[5] = '\0';
    memcpy(b, s + 6, 5);
    b[5] = '\0';
    if (parse_hhmm(a, &out->quiet_start) || parse_hhmm(b, &out->quiet_end)) {
        out->quiet_start = out->quiet_end = -1;
        return -1;
    }
    return 0;
}

int watch_severity_parse(const char *s)
{
    if (!s)
        return 0;
    if (strcmp(s, "info") == 0)
        return 1;
    if (strcmp(s, "warning") == 0)
        return 2;
    if (strcmp(s, "critical") == 0)
        return 3;
    return 0;
}

/* down is critical; what may cost someone data is a warning; the rest info. */
int watch_kind_severity(const char *kind)
{
    if (strcmp(kind, "down") == 0)
        return 3;
    if (strcmp(kind, "degraded") == 0 || strcmp(kind, "empty") == 0 ||
        strcmp(kind, "removed") == 0 || strcmp(kind, "stale") == 0 ||
        strcmp(kind, "recreated") == 0 || strcmp(kind, "format_drift") == 0 ||
        strcmp(kind, "schema_changed") == 0)
        return 2;
    return 1;
}

/* The list stays open (stale, content_changed, ... next): any lower-case word. */
bool watch_kind_valid(const char *kind)
{
    size_t n = strlen(kind);
    if (n == 0 || n > 32)
        return false;
    for (const char *p = kind; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || *p == '_'))
            return false;
    return true;
}
