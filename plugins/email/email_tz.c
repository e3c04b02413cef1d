/* Local time in the subscriber's IANA zone, thread-safe.
 *
 * localtime_r follows the process-wide TZ, and changing it (setenv + tzset)
 * races with every other thread that reads the environment or the time (libcurl
 * and the core do). So the plugin never touches TZ: it reads the zone's TZif
 * file (RFC 8536) from the system's zoneinfo directory itself, keeps it parsed
 * in a small cache behind a mutex (zones are immutable once loaded), and
 * finds the offset for an instant by binary search in the transition table;
 * after the last transition it applies the file's POSIX TZ footer ("M" rules,
 * which every zone in tzdata uses). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "email.h"

typedef struct ttype {
    int32_t off;
    int isdst;
    char abbr[16];
} ttype;

typedef struct rule {
    int month, week, day; /* Mm.w.d */
    int32_t time;         /* seconds after local midnight */
} rule;

typedef struct zone {
    struct zone *next;
    char name[72];
    size_t ntrans, ntypes;
    int64_t *trans;
    unsigned char *idx;
    ttype *types;
    /* The footer: std (and dst with its rules) after the last transition. */
    int has_footer, has_dst;
    ttype std, dst;
    rule start, end;
} zone;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static zone *zones;
static char zdir[256] = "/usr/share/zoneinfo";

void email_tz_set_dir(const char *dir) { snprintf(zdir, sizeof zdir, "%s", dir); }

static int name_ok(const char *z)
{
    size_t n = strlen(z);
    if (n == 0 || n > 64 || z[0] == '/' || strstr(z, ".."))
        return 0;
    for (; *z; z++)
        if (!((*z >= 'a' && *z <= 'z') || (*z >= 'A' && *z <= 'Z') || (*z >= '0' && *z <= '9') ||
              strchr("_+-/", *z)))
            return 0;
    return 1;
}

static int64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    if (n == 4)
        return (int32_t)(uint32_t)v;
    return (int64_t)v;
}

/* POSIX offset "[+-]hh[:mm[:ss]]" in seconds (sign as written). */
static const char *parse_secs(const char *p, int32_t *out)
{
    int sign = 1;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (*p < '0' || *p > '9')
        return NULL;
    int32_t v = 0, part = 0;
    for (int f = 0; f < 3; f++) {
        part = 0;
        while (*p >= '0' && *p <= '9')
            part = part * 10 + (*p++ - '0');
        v += part * (f == 0 ? 3600 : f == 1 ? 60 : 1);
        if (*p != ':' || f == 2)
            break;
        p++;
    }
    *out = sign * v;
    return p;
}

static const char *parse_abbr(const char *p, char *out, size_t n)
{
    size_t k = 0;
    if (*p == '<') {
        p++;
        while (*p && *p != '>')
            if (k + 1 < n)
                out[k++] = *p++;
            else
                p++;
        if (*p++ != '>')
            return NULL;
    } else {
        while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
            if (k + 1 < n)
                out[k++] = *p++;
            else
                p++;
    }
    out[k] = '\0';
    return k >= 3 ? p : NULL;
}

static const char *parse_rule(const char *p, rule *r)
{
    if (*p != 'M')
        return NULL; /* Jn and n forms: not used by tzdata */
    r->month = (int)strtol(p + 1, (char **)&p, 10);
    if (*p++ != '.')
        return NULL;
    r->week = (int)strtol(p, (char **)&p, 10);
    if (*p++ != '.')
        return NULL;
    r->day = (int)strtol(p, (char **)&p, 10);
    r->time = 7200;
    if (*p == '/' && !(p = parse_secs(p + 1, &r->time)))
        return NULL;
    if (r->month < 1 || r->month > 12 || r->week < 1 || r->week > 5 || r->day < 0 || r->day > 6)
        return NULL;
    return p;
}

static void parse_footer(zone *z, const char *f)
{
    int32_t off;
    const char *p = parse_abbr(f, z->std.abbr, sizeof z->std.abbr);
    if (!p || !(p = parse_secs(p, &off)))
        return;
    z->std.off = -off; /* POSIX counts west positive */
    if (!*p) {
        z->has_footer = 1;
        return;
    }
    if (!(p = parse_abbr(p, z->dst.abbr, sizeof z->dst.abbr)))
        return;
    z->dst.off = z->std.off + 3600;
    z->dst.isdst = 1;
    if (*p != ',') {
        if (!(p = parse_secs(p, &off)))
            return;
        z->dst.off = -off;
    }
    if (*p++ != ',' || !(p = parse_rule(p, &z->start)) || *p++ != ',' ||
        !(p = parse_rule(p, &z->end)) || *p)
        return;
    z->has_footer = z->has_dst = 1;
}

static void zone_free(zone *z)
{
    if (!z)
        return;
    free(z->trans);
    free(z->idx);
    free(z->types);
    free(z);
}

/* Parse a TZif file (v1 header, then the 64-bit v2+ block and footer). */
static zone *zone_load(const char *name)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", zdir, name);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    unsigned char *d = malloc(1 << 20);
    size_t n = d ? fread(d, 1, 1 << 20, fp) : 0;
    fclose(fp);
    zone *z = calloc(1, sizeof *z);
    if (!d || !z || n < 44 || memcmp(d, "TZif", 4) != 0)
        goto bad;
    size_t off = 0;
    int v2 = d[4] >= '2';
    for (int pass = 0; pass < 2; pass++) {
        if (off + 44 > n)
            goto bad;
        const unsigned char *h = d + off + 20;
        size_t isut = (size_t)be(h, 4), isstd = (size_t)be(h + 4, 4), leap = (size_t)be(h + 8, 4),
               tcnt = (size_t)be(h + 12, 4), typ = (size_t)be(h + 16, 4),
               chr = (size_t)be(h + 20, 4);
        int tw = pass == 0 ? 4 : 8;
        size_t len = tcnt * tw + tcnt + typ * 6 + chr + leap * (tw + 4) + isstd + isut;
        if (tcnt > 100000 || typ == 0 || typ > 256 || off + 44 + len > n)
            goto bad;
        if (pass == 0 && v2) {
            off += 44 + len;
            continue;
        }
        const unsigned char *p = d + off + 44;
        z->ntrans = tcnt;
        z->ntypes = typ;
        z->trans = calloc(tcnt + 1, sizeof *z->trans);
        z->idx = calloc(tcnt + 1, 1);
        z->types = calloc(typ, sizeof *z->types);
        if (!z->trans || !z->idx || !z->types)
            goto bad;
        for (size_t i = 0; i < tcnt; i++)
            z->trans[i] = be(p + i * tw, tw);
        p += tcnt * tw;
        for (size_t i = 0; i < tcnt; i++)
            if ((z->idx[i] = p[i]) >= typ)
                goto bad;
        p += tcnt;
        const unsigned char *chars = p + typ * 6;
        for (size_t i = 0; i < typ; i++) {
            z->types[i].off = (int32_t)be(p + i * 6, 4);
            z->types[i].isdst = p[i * 6 + 4];
            size_t ai = p[i * 6 + 5];
            if (ai < chr)
                snprintf(z->types[i].abbr, sizeof z->types[i].abbr, "%.*s", (int)(chr - ai),
                         (const char *)chars + ai);
        }
        off += 44 + len;
        break;
    }
    if (v2 && off < n && d[off] == '\n') {
        char foot[128];
        size_t k = 0;
        for (size_t i = off + 1; i < n && d[i] != '\n' && k + 1 < sizeof foot; i++)
            foot[k++] = (char)d[i];
        foot[k] = '\0';
        parse_footer(z, foot);
    }
    free(d);
    snprintf(z->name, sizeof z->name, "%s", name);
    return z;
bad:
    free(d);
    zone_free(z);
    return NULL;
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The UTC instant of a Mm.w.d/time rule in `year`, local time at `off`. */
static int64_t rule_at(const rule *r, int year, int32_t off)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    int dim = mdays[r->month - 1] + (r->month == 2 && leap);
    int64_t first = days_from_civil(year, r->month, 1);
    int wd1 = (int)(((first % 7) + 11) % 7); /* 1970-01-01 was a Thursday (4) */
    int day = 1 + (r->day - wd1 + 7) % 7 + 7 * (r->week - 1);
    while (day > dim)
        day -= 7;
    return (days_from_civil(year, r->month, day)) * 86400 + r->time - off;
}

static const ttype *footer_type(const zone *z, int64_t t)
{
    if (!z->has_dst)
        return &z->std;
    struct tm tm;
    time_t tt = (time_t)(t + z->std.off);
    gmtime_r(&tt, &tm);
    int y = tm.tm_year + 1900;
    int64_t s = rule_at(&z->start, y, z->std.off), e = rule_at(&z->end, y, z->dst.off);
    int in = s < e ? (t >= s && t < e) : !(t >= e && t < s);
    return in ? &z->dst : &z->std;
}

static const ttype *type_at(const zone *z, int64_t t)
{
    if (z->ntrans == 0 || t < z->trans[0]) {
        if (z->ntrans == 0 && z->has_footer)
            return footer_type(z, t);
        /* Before the first transition: the first standard-time type. */
        for (size_t i = 0; i < z->ntypes; i++)
            if (!z->types[i].isdst)
                return &z->types[i];
        return &z->types[0];
    }
    if (t >= z->trans[z->ntrans - 1] && z->has_footer)
        return footer_type(z, t);
    size_t lo = 0, hi = z->ntrans; /* last transition <= t */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (z->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return &z->types[z->idx[lo]];
}

int email_tz_local(const char *name, time_t t, email_tm *out)
{
    const ttype *ty = NULL;
    ttype copy;
    pthread_mutex_lock(&lock);
    zone *z = NULL;
    if (name && name_ok(name)) {
        for (z = zones; z && strcmp(z->name, name) != 0; z = z->next)
            ;
        if (!z && (z = zone_load(name)) != NULL) {
            z->next = zones;
            zones = z;
        }
    }
    if (z) {
        ty = type_at(z, (int64_t)t);
        copy = *ty;
    }
    pthread_mutex_unlock(&lock);
    if (!ty) {
        memset(&copy, 0, sizeof copy);
        snprintf(copy.abbr, sizeof copy.abbr, "UTC");
    }
    time_t local = t + copy.off;
    gmtime_r(&local, &out->tm);
    out->offset_s = copy.off;
    snprintf(out->abbr, sizeof out->abbr, "%s", copy.abbr);
    return ty ? 0 : -1;
}

void email_tz_cleanup(void)
{
    pthread_mutex_lock(&lock);
    while (zones) {
        zone *z = zones;
        zones = z->next;
        zone_free(z);
    }
    pthread_mutex_unlock(&lock);
}
