/* Time zones without setenv/tzset: glibc's localtime_r reads the process-wide
 * TZ, which threads must not change. We read the zone's TZif file
 * (RFC 8536, /usr/share/zoneinfo) ourselves, use its transitions, and its
 * POSIX TZ footer for times after the last one (Debian ships "slim" files,
 * so the footer carries every future DST rule). Parsed zones are cached. */
#include "watch.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZONEINFO "/usr/share/zoneinfo/"
#define MAX_ZONES 1024 /* more than tzdata has: user input can never fill it */

typedef struct rule {
    int m, w, d; /* Mm.w.d; m == 0: none */
    int secs;    /* local time of the change, may be <0 or >24h */
} rule;

typedef struct zone {
    char name[64];
    int64_t *trans;
    int *offs; /* utoff after each transition */
    int ntrans;
    int first_off;
    bool posix;
    int std_off, dst_off; /* seconds east of UTC */
    bool has_dst;
    rule start, end;
} zone;

static pthread_mutex_t zmu = PTHREAD_MUTEX_INITIALIZER;
static zone *zones[MAX_ZONES];
static int nzones;

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* "[+-]hh[:mm[:ss]]" -> seconds; returns chars used or -1. */
static int parse_hms(const char *s, int *out)
{
    const char *p = s;
    int sign = 1;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (*p < '0' || *p > '9')
        return -1;
    int h = (int)strtol(p, (char **)&p, 10), m = 0, sec = 0;
    if (*p == ':') {
        m = (int)strtol(p + 1, (char **)&p, 10);
        if (*p == ':')
            sec = (int)strtol(p + 1, (char **)&p, 10);
    }
    *out = sign * (h * 3600 + m * 60 + sec);
    return (int)(p - s);
}

static const char *skip_name(const char *p)
{
    if (*p == '<') {
        const char *e = strchr(p, '>');
        return e ? e + 1 : NULL;
    }
    const char *s = p;
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
        p++;
    return p - s >= 3 ? p : NULL;
}

static const char *parse_rule(const char *p, rule *r)
{
    if (*p != 'M')
        return NULL; /* Jn and n forms are not used by current tzdata */
    char *e;
    r->m = (int)strtol(p + 1, &e, 10);
    if (*e != '.')
        return NULL;
    r->w = (int)strtol(e + 1, &e, 10);
    if (*e != '.')
        return NULL;
    r->d = (int)strtol(e + 1, &e, 10);
    r->secs = 7200;
    if (*e == '/') {
        int n = parse_hms(e + 1, &r->secs);
        if (n < 0)
            return NULL;
        e += 1 + n;
    }
    if (r->m < 1 || r->m > 12 || r->w < 1 || r->w > 5 || r->d < 0 || r->d > 6)
        return NULL;
    return e;
}

static bool parse_posix(zone *z, const char *s)
{
    const char *p = skip_name(s);
    int off;
    int n;
    if (!p || (n = parse_hms(p, &off)) < 0)
        return false;
    p += n;
    z->std_off = -off;
    z->posix = true;
    if (!*p)
        return true;
    if (!(p = skip_name(p)))
        return false;
    z->dst_off = z->std_off + 3600;
    if (*p && *p != ',') {
        if ((n = parse_hms(p, &off)) < 0)
            return false;
        z->dst_off = -off;
        p += n;
    }
    if (*p++ != ',' || !(p = parse_rule(p, &z->start)) || *p++ != ',' ||
        !(p = parse_rule(p, &z->end)))
        return false;
    z->has_dst = true;
    return true;
}

static zone *load_zone(const char *name)
{
    char path[160];
    snprintf(path, sizeof path, ZONEINFO "%s", name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *buf = malloc(1 << 17);
    size_t len = buf ? fread(buf, 1, 1 << 17, f) : 0;
    fclose(f);
    zone *z = calloc(1, sizeof *z);
    if (!buf || !z || len < 44 || memcmp(buf, "TZif", 4) != 0 || buf[4] < '2')
        goto bad;
    /* skip the v1 block */
    uint32_t c[6];
    for (int i = 0; i < 6; i++)
        c[i] = be32(buf + 20 + 4 * i);
    size_t v1 = 44 + c[3] * 5 + c[4] * 6 + c[5] + c[2] * 8 + c[1] + c[0];
    if (v1 + 44 > len || memcmp(buf + v1, "TZif", 4) != 0)
        goto bad;
    const unsigned char *h = buf + v1;
    for (int i = 0; i < 6; i++)
        c[i] = be32(h + 20 + 4 * i);
    uint32_t timecnt = c[3], typecnt = c[4];
    size_t need = 44 + timecnt * 9 + typecnt * 6 + c[5] + c[2] * 12 + c[1] + c[0];
    if (v1 + need > len || typecnt == 0)
        goto bad;
    const unsigned char *tt = h + 44, *idx = tt + timecnt * 8, *types = idx + timecnt;
    z->trans = calloc(timecnt + 1, sizeof *z->trans);
    z->offs = calloc(timecnt + 1, sizeof *z->offs);
    if (!z->trans || !z->offs)
        goto bad;
    for (uint32_t i = 0; i < timecnt; i++) {
        if (idx[i] >= typecnt)
            goto bad;
        z->trans[i] = be64(tt + 8 * i);
        z->offs[i] = (int)be32(types + 6 * idx[i]);
    }
    z->ntrans = (int)timecnt;
    z->first_off = (int)be32(types);
    const char *foot = (const char *)h + need;
    if (foot < (const char *)buf + len - 1 && *foot == '\n') {
        char tzs[128];
        size_t k = 0;
        for (foot++; foot < (const char *)buf + len && *foot != '\n' && k + 1 < sizeof tzs; foot++)
            tzs[k++] = *foot;
        tzs[k] = '\0';
        if (k && !parse_posix(z, tzs))
            z->posix = false;
    }
    snprintf(z->name, sizeof z->name, "%s", name);
    free(buf);
    return z;
bad:
    free(buf);
    if (z) {
        free(z->trans);
        free(z->offs);
        free(z);
    }
    return NULL;
}

bool watch_tz_valid_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 60 || name[0] == '/' || strstr(name, ".."))
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '/' || *p == '_' || *p == '-' || *p == '+'))
            return false;
    return true;
}

static zone *get_zone(const char *name)
{
    if (!watch_tz_valid_name(name))
        return NULL;
    pthread_mutex_lock(&zmu);
    for (int i = 0; i < nzones; i++)
        if (strcmp(zones[i]->name, name) == 0) {
            pthread_mutex_unlock(&zmu);
            return zones[i];
        }
    zone *z = load_zone(name);
    if (z && nzones < MAX_ZONES)
        zones[nzones++] = z;
    else if (z) { /* cache full: keep it anyway, leaked once per extra zone name is not ok */
        free(z->trans);
        free(z->offs);
        free(z);
        z = NULL;
    }
    pthread_mutex_unlock(&zmu);
    return z;
}

void watch_tz_free_all(void)
{
    pthread_mutex_lock(&zmu);
    for (int i = 0; i < nzones; i++) {
        free(zones[i]->trans);
        free(zones[i]->offs);
        free(zones[i]);
    }
    nzones = 0;
    pthread_mutex_unlock(&zmu);
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
int64_t watch_days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void watch_civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static int month_days(int y, int m)
{
    static const int md[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : md[m - 1];
}

/* Local seconds since the epoch at which `r` happens in year y. */
static int64_t rule_local(int y, const rule *r)
{
    int64_t first = watch_days_from_civil(y, r->m, 1);
    int dow = (int)(((first + 4) % 7 + 7) % 7);
    int day = 1 + (r->d - dow + 7) % 7 + (r->w - 1) * 7;
    while (day > month_days(y, r->m))
        day -= 7;
    return (first + day - 1) * 86400 + r->secs;
}

static int posix_offset(const zone *z, int64_t t)
{
    if (!z->has_dst)
        return z->std_off;
    int y, m, d;
    watch_civil_from_days((t + z->std_off) / 86400 - ((t + z->std_off) % 86400 < 0), &y, &m, &d);
    int64_t start = rule_local(y, &z->start) - z->std_off; /* std time until start */
    int64_t end = rule_local(y, &z->end) - z->dst_off;     /* dst time until end */
    bool dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
    return dst ? z->dst_off : z->std_off;
}

int watch_tz_offset(const char *name, int64_t t, int *off)
{
    zone *z = get_zone(name);
    if (!z)
        return -1;
    if (z->ntrans == 0 || t < z->trans[0]) {
        *off = z->ntrans == 0 && z->posix ? posix_offset(z, t) : z->first_off;
        return 0;
    }
    if (t >= z->trans[z->ntrans - 1] && z->posix) {
        *off = posix_offset(z, t);
        return 0;
    }
    int lo = 0, hi = z->ntrans - 1; /* last transition <= t */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (z->trans[mid] <= t)
            lo = mid;
        else
            hi = mid - 1;
    }
    *off = z->offs[lo];
    return 0;
}

/* Local wall-clock seconds -> UTC seconds (the earlier instant of an
 * ambiguous time; a time skipped by DST moves forward). */
static int64_t local_to_utc(const char *tz, int64_t local)
{
    int off = 0;
    watch_tz_offset(tz, local, &off);
    int64_t t = local - off;
    watch_tz_offset(tz, t, &off);
    return local - off;
}

void watch_local_tm(const char *tz, int64_t ms, watch_ltime *lt)
{
    int off = 0;
    int64_t t = ms / 1000;
    watch_tz_offset(tz, t, &off);
    int64_t l = t + off;
    int64_t days = l / 86400 - (l % 86400 < 0);
    int64_t sod = l - days * 86400;
    watch_civil_from_days(days, &lt->year, &lt->mon, &lt->mday);
    lt->wday = (int)(((days + 4) % 7 + 7) % 7);
    lt->minute_of_day = (int)(sod / 60);
    lt->days = days;
    lt->offset = off;
}

static bool in_quiet(int qs, int qe, int mod)
{
    if (qs < 0 || qe < 0 || qs == qe)
        return false;
    return qs < qe ? (mod >= qs && mod < qe) : (mod >= qs || mod < qe);
}

int64_t watch_due_ms(const watch_sched *s, const char *tz, int64_t now_ms, int64_t window_ms,
                     bool urgent)
{
    if (s->mode == WATCH_IMMEDIATE && (s->quiet_start < 0 || urgent))
        return now_ms + window_ms; /* the common case needs no zone */
    watch_ltime lt;
    watch_local_tm(tz, now_ms, &lt);
    int64_t due;
    switch (s->mode) {
    case WATCH_HOURLY: {
        int64_t local = lt.days * 86400 + (int64_t)(lt.minute_of_day / 60 + 1) * 3600;
        due = local_to_utc(tz, local) * 1000;
        break;
    }
    case WATCH_DAILY:
    case WATCH_WEEKLY: {
        int64_t day = lt.days;
        if (s->mode == WATCH_WEEKLY)
            day += (s->wday - lt.wday + 7) % 7;
        int64_t t = local_to_utc(tz, day * 86400 + (int64_t)s->minute * 60);
        if (t * 1000 <= now_ms)
            t = local_to_utc(tz, (day + (s->mode == WATCH_WEEKLY ? 7 : 1)) * 86400 +
                                     (int64_t)s->minute * 60);
        due = t * 1000;
        break;
    }
    default:
        due = now_ms + window_ms;
    }
    if (!urgent && s->quiet_start >= 0) {
        watch_local_tm(tz, due, &lt);
        if (in_quiet(s->quiet_start, s->quiet_end, lt.minute_of_day)) {
            int64_t day =
                lt.days + (s->quiet_start > s->quiet_end && lt.minute_of_day >= s->quiet_start);
            due = local_to_utc(tz, day * 86400 + (int64_t)s->quiet_end * 60) * 1000;
        }
    }
    return due;
}
