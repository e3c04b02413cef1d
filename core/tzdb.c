/* Time zones for plugins (host->tz_info, include/vigia/tz.h). The file comes
 * from outside the program, so the parser checks every count against the
 * bytes there are and every index against its table before use (a libFuzzer
 * target feeds it: tests/fuzz/targets/fuzz_tz.c). Zones are immutable once
 * parsed and cached for the process behind one mutex. */
#include "tzdb.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TZ_MAX_FILE (1 << 20) /* tzdata's largest file is under 4 KiB */
#define TZ_MAX_TIMES 50000
#define TZ_MAX_TYPES 256
#define TZ_MAX_CHARS 4096
#define TZ_MAX_LEAPS 1000
#define TZ_MAX_OFF 93600          /* 26 h: RFC 8536 §3.2 keeps UT offsets inside */
#define TZ_MAX_T 10000000000000LL /* ±317,000 years: the year stays an int */
#define TZ_MAX_CACHE 1024         /* more than tzdata has: names from users never fill it */

typedef struct tz_type {
    int32_t off;
    int32_t isdst;
    char abbr[16];
} tz_type;

typedef struct tz_rule {
    int month, week, day; /* Mm.w.d */
    int32_t time;         /* seconds after local midnight, may be < 0 or > 24 h */
} tz_rule;

struct core_tz_zone {
    struct core_tz_zone *next;
    char name[72];
    size_t ntrans, ntypes;
    int64_t *trans;
    unsigned char *idx;
    tz_type *types;
    /* The POSIX TZ footer: what holds after the last transition. */
    int has_footer, has_dst;
    tz_type std, dst;
    tz_rule start, end;
};

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be_time(const unsigned char *p, int width)
{
    if (width == 4)
        return (int32_t)be32(p);
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* ---- the POSIX TZ footer ("<-04>4<-03>,M9.1.6/24,M4.1.6/24") ---- */

/* 1 to `digits` decimal digits, at most `max`. */
static const char *small_int(const char *p, int digits, int max, int *out)
{
    int v = 0, k = 0;
    while (*p >= '0' && *p <= '9') {
        if (++k > digits)
            return NULL;
        v = v * 10 + (*p++ - '0');
    }
    if (k == 0 || v > max)
        return NULL;
    *out = v;
    return p;
}

/* "[+-]hh[:mm[:ss]]" in seconds as written (POSIX counts west positive);
 * hours up to 167 (RFC 8536 §3.3.1). */
static const char *parse_secs(const char *p, int32_t *out)
{
    static const int unit[] = {3600, 60, 1}, max[] = {167, 59, 59};
    int sign = 1, part;
    int32_t v = 0;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    for (int f = 0; f < 3; f++) {
        if (!(p = small_int(p, 3, max[f], &part)))
            return NULL;
        v += part * unit[f];
        if (*p != ':' || f == 2)
            break;
        p++;
    }
    *out = sign * v;
    return p;
}

static const char *parse_abbr(const char *p, char *out, size_t n)
{
    size_t k = 0, len = 0;
    int quoted = *p == '<';
    if (quoted)
        p++;
    for (;; p++, len++) {
        char c = *p;
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                 (quoted && ((c >= '0' && c <= '9') || c == '+' || c == '-'));
        if (!ok)
            break;
        if (k + 1 < n)
            out[k++] = c;
    }
    out[k] = '\0';
    if (quoted && *p++ != '>')
        return NULL;
    return len >= 3 ? p : NULL;
}

static const char *parse_rule(const char *p, tz_rule *r)
{
    if (*p != 'M')
        return NULL; /* the Jn and n forms: tzdata uses neither */
    if (!(p = small_int(p + 1, 2, 12, &r->month)) || r->month < 1 || *p++ != '.' ||
        !(p = small_int(p, 1, 5, &r->week)) || r->week < 1 || *p++ != '.' ||
        !(p = small_int(p, 1, 6, &r->day)))
        return NULL;
    r->time = 7200;
    if (*p == '/')
        p = parse_secs(p + 1, &r->time);
    return p;
}

/* Unparseable footers are ignored: the transitions still answer. */
static void parse_footer(core_tz_zone *z, const char *f)
{
    int32_t off;
    const char *p = parse_abbr(f, z->std.abbr, sizeof z->std.abbr);
    if (!p || !(p = parse_secs(p, &off)))
        return;
    z->std.off = -off;
    if (off <= -TZ_MAX_OFF || off >= TZ_MAX_OFF)
        return;
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
    if (z->dst.off <= -TZ_MAX_OFF || z->dst.off >= TZ_MAX_OFF)
        return;
    if (*p++ != ',' || !(p = parse_rule(p, &z->start)) || *p++ != ',' ||
        !(p = parse_rule(p, &z->end)) || *p)
        return;
    z->has_footer = z->has_dst = 1;
}

/* ---- the TZif file ---- */

void core_tz_free(core_tz_zone *z)
{
    if (!z)
        return;
    free(z->trans);
    free(z->idx);
    free(z->types);
    free(z);
}

#define BAD(...)                                                                                   \
    do {                                                                                           \
        snprintf(err, errn, __VA_ARGS__);                                                          \
        goto bad;                                                                                  \
    } while (0)

/* One data block (RFC 8536 §3.2) whose header starts at d; `left` bytes from
 * there. Fills z; returns the block's size with its header, 0 on error. */
static size_t parse_block(core_tz_zone *z, const unsigned char *d, size_t left, int width, int keep,
                          char *err, size_t errn)
{
    char ver = width == 4 ? '1' : '2';
    uint32_t isut = be32(d + 20), isstd = be32(d + 24), leap = be32(d + 28), tcnt = be32(d + 32),
             typ = be32(d + 36), chr = be32(d + 40);
    if (tcnt > TZ_MAX_TIMES)
        BAD("v%c block: %u transitions (at most %d)", ver, tcnt, TZ_MAX_TIMES);
    if (typ == 0 || typ > TZ_MAX_TYPES)
        BAD("v%c block: %u time types (1 to %d)", ver, typ, TZ_MAX_TYPES);
    if (chr > TZ_MAX_CHARS || leap > TZ_MAX_LEAPS)
        BAD("v%c block: %u abbreviation bytes, %u leap seconds (limits %d, %d)", ver, chr, leap,
            TZ_MAX_CHARS, TZ_MAX_LEAPS);
    if ((isstd && isstd != typ) || (isut && isut != typ))
        BAD("v%c block: %u standard/wall and %u UT/local indicators for %u types", ver, isstd, isut,
            typ);
    size_t len = (size_t)tcnt * (size_t)(width + 1) + (size_t)typ * 6 + chr +
                 (size_t)leap * (size_t)(width + 4) + isstd + isut;
    if (len > left - 44)
        BAD("truncated: the v%c data block needs %zu bytes, %zu left", ver, len, left - 44);
    if (!keep)
        return 44 + len;
    const unsigned char *p = d + 44, *idx = p + (size_t)tcnt * width, *tt = idx + tcnt,
                        *chars = tt + (size_t)typ * 6;
    z->ntrans = tcnt;
    z->ntypes = typ;
    z->trans = calloc(tcnt + 1, sizeof *z->trans);
    z->idx = calloc(tcnt + 1, 1);
    z->types = calloc(typ, sizeof *z->types);
    if (!z->trans || !z->idx || !z->types)
        BAD("out of memory");
    for (uint32_t i = 0; i < tcnt; i++) {
        z->trans[i] = be_time(p + (size_t)i * width, width);
        if (i > 0 && z->trans[i] <= z->trans[i - 1])
            BAD("v%c block: transition %u is not after the one before", ver, i);
        if ((z->idx[i] = idx[i]) >= typ)
            BAD("v%c block: transition %u names time type %u of %u", ver, i, idx[i], typ);
    }
    for (uint32_t i = 0; i < typ; i++) {
        const unsigned char *e = tt + (size_t)i * 6;
        int32_t off = (int32_t)be32(e);
        if (off <= -TZ_MAX_OFF || off >= TZ_MAX_OFF)
            BAD("v%c block: time type %u has a UT offset of %d s (limit ±26 h)", ver, i, off);
        if (e[4] > 1 || e[5] >= chr)
            BAD("v%c block: time type %u: isdst %u, abbreviation index %u of %u", ver, i, e[4],
                e[5], chr);
        z->types[i].off = off;
        z->types[i].isdst = e[4];
        snprintf(z->types[i].abbr, sizeof z->types[i].abbr, "%.*s", (int)(chr - e[5]),
                 (const char *)chars + e[5]);
    }
    return 44 + len;
bad:
    return 0;
}

core_tz_zone *core_tz_parse(const unsigned char *d, size_t n, char *err, size_t errn)
{
    core_tz_zone *z = calloc(1, sizeof *z);
    if (!z)
        BAD("out of memory");
    if (n < 44)
        BAD("truncated: %zu bytes, a TZif header needs 44", n);
    if (memcmp(d, "TZif", 4) != 0)
        BAD("not a TZif file (no \"TZif\" at the start)");
    int v2 = d[4] >= '2';
    /* Version 2+ files repeat the data with 64-bit times after the v1 block:
     * skip the v1 block and read those. */
    size_t off = parse_block(z, d, n, 4, !v2, err, errn);
    if (!off)
        goto bad;
    if (v2) {
        if (n - off < 44)
            BAD("truncated: the v2 header at byte %zu needs 44 bytes, %zu left", off, n - off);
        if (memcmp(d + off, "TZif", 4) != 0)
            BAD("no \"TZif\" at byte %zu where the v2 header starts", off);
        size_t len = parse_block(z, d + off, n - off, 8, 1, err, errn);
        if (!len)
            goto bad;
        off += len;
        if (off < n && d[off] == '\n') {
            char foot[128];
            size_t k = 0;
            for (size_t i = off + 1; i < n && d[i] != '\n' && k + 1 < sizeof foot; i++)
                foot[k++] = d[i] ? (char)d[i] : '?';
            foot[k] = '\0';
            parse_footer(z, foot);
        }
    }
    return z;
bad:
    core_tz_free(z);
    return NULL;
}

/* The UTC instant of rule r in `year`, its local time counted at `off`. */
static int64_t rule_at(const tz_rule *r, int year, int32_t off)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    int dim = mdays[r->month - 1] + (r->month == 2 && leap);
    int64_t first = vg_days_from_civil(year, r->month, 1);
    int wd1 = (int)(((first + 4) % 7 + 7) % 7);
    int day = 1 + (r->day - wd1 + 7) % 7 + 7 * (r->week - 1);
    while (day > dim)
        day -= 7; /* week 5: the last such day */
    return (first + day - 1) * 86400 + r->time - off;
}

static const tz_type *footer_type(const core_tz_zone *z, int64_t t)
{
    if (!z->has_dst)
        return &z->std;
    vg_civil c;
    vg_civil_from_secs(t + z->std.off, &c);
    int64_t s = rule_at(&z->start, c.year, z->std.off), e = rule_at(&z->end, c.year, z->dst.off);
    /* Southern zones start DST late in the year and end it early. */
    int in = s < e ? (t >= s && t < e) : !(t >= e && t < s);
    return in ? &z->dst : &z->std;
}

void core_tz_at(const core_tz_zone *z, int64_t t, vg_tz_info *out)
{
    const tz_type *ty;
    t = t > TZ_MAX_T ? TZ_MAX_T : t < -TZ_MAX_T ? -TZ_MAX_T : t;
    if (z->ntrans == 0 || t < z->trans[0])
        /* Before the first transition the first type holds (RFC 8536 §3.2). */
        ty = z->ntrans == 0 && z->has_footer ? footer_type(z, t) : &z->types[0];
    else if (t >= z->trans[z->ntrans - 1] && z->has_footer)
        ty = footer_type(z, t);
    else {
        size_t lo = 0, hi = z->ntrans; /* the last transition <= t */
        while (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            if (z->trans[mid] <= t)
                lo = mid;
            else
                hi = mid;
        }
        ty = &z->types[z->idx[lo]];
    }
    memset(out, 0, sizeof *out);
    out->offset_s = ty->off;
    out->is_dst = ty->isdst;
    snprintf(out->abbr, sizeof out->abbr, "%s", ty->abbr);
}

/* ---- the cache ---- */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static core_tz_zone *zones;
static size_t nzones;
static char zdir[256] = "/usr/share/zoneinfo";

int core_tz_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 64 || name[0] == '/' || strstr(name, ".."))
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '+' || *p == '-' || *p == '/'))
            return 0;
    return 1;
}

/* Called with the lock held: zones are small and read once. */
static int load(const char *name, core_tz_zone **out, char *why, size_t n)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", zdir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        snprintf(why, n, "no such time zone");
        return -ENOENT;
    }
    if (st.st_size > TZ_MAX_FILE) {
        close(fd);
        snprintf(why, n, "zone file of %lld bytes (at most %d)", (long long)st.st_size,
                 TZ_MAX_FILE);
        return -EBADMSG;
    }
    unsigned char *buf = malloc((size_t)st.st_size + 1);
    size_t len = 0;
    ssize_t r = 1;
    while (buf && len < (size_t)st.st_size &&
           (r = read(fd, buf + len, (size_t)st.st_size - len)) > 0)
        len += (size_t)r;
    close(fd);
    if (!buf || r < 0) {
        free(buf);
        snprintf(why, n, "cannot read the zone file: %s", buf ? strerror(errno) : "out of memory");
        return -EBADMSG;
    }
    *out = core_tz_parse(buf, len, why, n);
    free(buf);
    if (!*out)
        return -EBADMSG;
    snprintf((*out)->name, sizeof(*out)->name, "%s", name);
    return 0;
}

int core_tz_info(const char *name, int64_t t, vg_tz_info *out, char *why, size_t n)
{
    char spare[160];
    if (!why || !n) {
        why = spare;
        n = sizeof spare;
    }
    memset(out, 0, sizeof *out);
    snprintf(out->abbr, sizeof out->abbr, "UTC");
    if (!core_tz_name_ok(name)) {
        snprintf(why, n, "not a time zone name");
        return -EINVAL;
    }
    int rc = 0;
    pthread_mutex_lock(&lock);
    core_tz_zone *z = zones;
    while (z && strcmp(z->name, name) != 0)
        z = z->next;
    if (!z && (rc = load(name, &z, why, n)) == 0) {
        core_tz_at(z, t, out);
        if (nzones < TZ_MAX_CACHE) {
            z->next = zones;
            zones = z;
            nzones++;
        } else
            core_tz_free(z);
    } else if (z)
        core_tz_at(z, t, out);
    pthread_mutex_unlock(&lock);
    return rc;
}

void core_tz_cleanup(void)
{
    pthread_mutex_lock(&lock);
    while (zones) {
        core_tz_zone *z = zones;
        zones = z->next;
        core_tz_free(z);
    }
    nzones = 0;
    pthread_mutex_unlock(&lock);
}

void core_tz_set_dir(const char *dir)
{
    core_tz_cleanup();
    pthread_mutex_lock(&lock);
    snprintf(zdir, sizeof zdir, "%s", dir);
    pthread_mutex_unlock(&lock);
}
