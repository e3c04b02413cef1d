/* CSV/TSV sniffer: schema from the first bytes of a file. Works on the caller's buffer in place
 * (field spans, no copy of rows), so memory is bounded by the column limit, whatever the input. */
#include "sniff.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DETECT_ROWS 50 /* rows read per candidate delimiter */

enum { M_BOOL = 1, M_INT = 2, M_NUM = 4, M_DATE = 8 };

const char *mon_coltype_name(mon_coltype t)
{
    static const char *n[] = {"empty", "text", "integer", "number", "date", "boolean"};
    return (unsigned)t < sizeof n / sizeof n[0] ? n[t] : "text";
}

const char *mon_encoding_name(mon_encoding e)
{
    static const char *n[] = {"unknown", "utf-8", "utf-8-bom", "latin-1"};
    return (unsigned)e < sizeof n / sizeof n[0] ? n[e] : "unknown";
}

static void set_reason(mon_schema *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->reason, sizeof s->reason, fmt, ap);
    va_end(ap);
    s->is_table = 0;
}

void mon_schema_free(mon_schema *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->ncols; i++)
        free(s->cols[i].name);
    free(s->cols);
    s->cols = NULL;
    s->ncols = 0;
}

/* ---- cells ---- */

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static int lower_eq(const char *s, size_t n, const char *w)
{
    size_t k = strlen(w);
    if (n != k)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        if (c != (unsigned char)w[i])
            return 0;
    }
    return 1;
}

/* Digits grouped by sep in threes ("1.234.567"): at least one separator. */
static int grouped(const char *s, size_t n, char sep)
{
    size_t i = 0, first = 0;
    while (i < n && is_digit((unsigned char)s[i]))
        i++;
    first = i;
    if (first < 1 || first > 3 || i == n)
        return 0;
    while (i < n) {
        if (s[i] != sep || i + 4 > n)
            return 0;
        for (size_t k = 1; k <= 3; k++)
            if (!is_digit((unsigned char)s[i + k]))
                return 0;
        i += 4;
    }
    return 1;
}

static int all_digits(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_digit((unsigned char)s[i]))
            return 0;
    return 1;
}

/* A number with one decimal mark dec and optional grouping grp in the integer part. */
static int decimal(const char *s, size_t n, char dec, char grp)
{
    const char *d = memchr(s, dec, n);
    if (!d)
        return 0;
    size_t il = (size_t)(d - s), fl = n - il - 1;
    if (!all_digits(d + 1, fl))
        return 0;
    if (il == 0)
        return 1; /* ".5" / ",5" */
    return all_digits(s, il) || grouped(s, il, grp);
}

/* Possible types of one cell as a bit mask (0: text). Integers are numbers too. */
static unsigned cell_mask(const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    if (n == 0)
        return ~0u; /* empty: ignored */
    static const char *bools[] = {"true",      "false", "yes",       "no",   "si",
                                  "s\xc3\xad", "s\xed", "verdadero", "falso"};
    for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++)
        if (lower_eq(s, n, bools[i]))
            return M_BOOL;
    /* dates: yyyy-mm-dd[T ...], yyyy/mm/dd, dd-mm-yyyy, dd/mm/yyyy */
    if (n >= 8 && n <= 40) {
        int y = 0, m = 0, d = 0, ok = 0;
        size_t k = 0;
        if (n >= 10 && all_digits(s, 4) && (s[4] == '-' || s[4] == '/') && s[7] == s[4] &&
            all_digits(s + 5, 2) && all_digits(s + 8, 2)) {
            y = atoi((char[]){s[0], s[1], s[2], s[3], 0});
            m = (s[5] - '0') * 10 + (s[6] - '0');
            d = (s[8] - '0') * 10 + (s[9] - '0');
            k = 10, ok = 1;
        } else if (n >= 10 && all_digits(s, 2) && (s[2] == '-' || s[2] == '/') && s[5] == s[2] &&
                   all_digits(s + 3, 2) && all_digits(s + 6, 4)) {
            d = (s[0] - '0') * 10 + (s[1] - '0');
            m = (s[3] - '0') * 10 + (s[4] - '0');
            y = atoi((char[]){s[6], s[7], s[8], s[9], 0});
            k = 10, ok = 1;
        }
        if (ok && m >= 1 && m <= 12 && d >= 1 && d <= 31 && y >= 1000 &&
            (k == n || s[k] == 'T' || s[k] == ' '))
            return M_DATE;
    }
    const char *p = s;
    size_t pn = n;
    if (*p == '-' || *p == '+')
        p++, pn--;
    if (pn == 0)
        return 0;
    unsigned m = 0;
    if (all_digits(p, pn))
        return M_INT | M_NUM;
    if (grouped(p, pn, '.') || grouped(p, pn, ','))
        m |= M_INT | M_NUM; /* "1.234" is 1234 in Chile, 1.234 elsewhere: both possible */
    if (decimal(p, pn, '.', ',') || decimal(p, pn, ',', '.'))
        m |= M_NUM;
    /* plain exponent forms: 1e5, 1.5E-3 */
    if (!m) {
        char buf[64];
        if (pn < sizeof buf) {
            memcpy(buf, p, pn);
            buf[pn] = 0;
            char *end;
            if (strpbrk(buf, "eE") && strspn(buf, "0123456789.eE+-") == pn) {
                (void)strtod(buf, &end);
                if (*end == 0)
                    m |= M_NUM;
            }
        }
    }
    return m;
}

static mon_coltype mask_type(unsigned m, size_t nonempty)
{
    if (nonempty == 0)
        return MON_COL_EMPTY;
    if (m & M_BOOL)
        return MON_COL_BOOLEAN;
    if (m & M_INT)
        return MON_COL_INTEGER;
    if (m & M_NUM)
        return MON_COL_NUMBER;
    if (m & M_DATE)
        return MON_COL_DATE;
    return MON_COL_TEXT;
}

mon_coltype mon_cell_type(const char *s, size_t n)
{
    unsigned m = cell_mask(s, n);
    return m == ~0u ? MON_COL_EMPTY : mask_type(m, 1);
}

/* ---- encoding ---- */

/* Length of a valid UTF-8 sequence at p, 0 if invalid, -1 if cut by the end of the buffer. */
static int utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    int len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n)
            return -1;
        unsigned char lim_lo = i == 1 ? lo : 0x80, lim_hi = i == 1 ? hi : 0xBF;
        if (p[i] < lim_lo || p[i] > lim_hi)
            return 0;
    }
    return len;
}

static int valid_utf8(const unsigned char *p, size_t n, int truncated)
{
    size_t i = 0;
    while (i < n) {
        int l = utf8_seq(p + i, n - i);
        if (l == -1)
            return truncated; /* cut mid-character by the sample */
        if (l == 0)
            return 0;
        i += (size_t)l;
    }
    return 1;
}

/* Windows-1252 0x80..0x9F; 0 for the five unassigned bytes (kept as U+0080..). */
static const unsigned short cp1252[32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};

/* ---- rows ---- */

typedef struct {
    const unsigned char *start;
    size_t len;
    int quoted;
} span;

enum { ROW_OK, ROW_END, ROW_CUT, ROW_UNBALANCED, ROW_TOO_LONG };

/* Reads one record at *pos with delimiter d. Records up to max spans; *nf gets the field count
 * (may exceed max). ROW_END: nothing left; ROW_CUT: the record runs into the end of a prefix. */
static int read_row(const unsigned char *b, size_t len, size_t *pos, char d, int truncated,
                    span *sp, size_t max, size_t *nf)
{
    size_t i = *pos, start_row = i;
    *nf = 0;
    if (i >= len)
        return ROW_END;
    for (;;) {
        span f = {b + i, 0, 0};
        if (i < len && b[i] == '"') {
            f.quoted = 1;
            i++;
            f.start = b + i;
            for (;;) {
                if (i >= len)
                    return truncated ? ROW_CUT : ROW_UNBALANCED;
                if (i - start_row > MON_SNIFF_MAX_ROW_BYTES)
                    return ROW_UNBALANCED;
                if (b[i] == '"') {
                    if (i + 1 < len && b[i + 1] == '"') {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i++;
            }
            f.len = (size_t)(b + i - f.start);
            i++; /* closing quote; text after it (lenient) runs to the delimiter */
        }
        while (i < len && b[i] != (unsigned char)d && b[i] != '\n' && b[i] != '\r') {
            i++;
            if (i - start_row > MON_SNIFF_MAX_ROW_BYTES)
                return ROW_TOO_LONG;
        }
        if (!f.quoted)
            f.len = (size_t)(b + i - f.start);
        if (*nf < max)
            sp[*nf] = f;
        (*nf)++;
        if (i >= len) {
            *pos = i;
            return truncated ? ROW_CUT : ROW_OK;
        }
        if (b[i] == (unsigned char)d) {
            i++;
            continue;
        }
        if (b[i] == '\r' && i + 1 < len && b[i + 1] == '\n')
            i++;
        *pos = i + 1;
        return ROW_OK;
    }
}

static int blank_row(const span *sp, size_t nf) { return nf == 1 && sp[0].len == 0; }

/* Field counts over the first rows for one delimiter: consistency = rows with the modal count. */
typedef struct {
    size_t rows, mode, match, line;
    int status; /* of the row that stopped the scan */
} detect;

static void detect_rows(const unsigned char *b, size_t len, char d, int truncated, span *sp,
                        detect *out)
{
    size_t pos = 0, counts[DETECT_ROWS];
    memset(out, 0, sizeof *out);
    out->status = ROW_END;
    while (out->rows < DETECT_ROWS) {
        size_t nf;
        int st = read_row(b, len, &pos, d, truncated, sp, MON_SNIFF_MAX_COLS, &nf);
        out->line++;
        if (st != ROW_OK) {
            out->status = st;
            break;
        }
        if (blank_row(sp, nf))
            continue;
        counts[out->rows++] = nf;
    }
    for (size_t i = 0; i < out->rows; i++) {
        size_t c = 0;
        for (size_t k = 0; k < out->rows; k++)
            c += counts[k] == counts[i];
        if (c > out->match || (c == out->match && counts[i] > out->mode))
            out->match = c, out->mode = counts[i];
    }
}

/* Copies a field as a column name: unquoted "" pairs, converted to UTF-8, trimmed, control
 * characters as spaces, cut at MON_SNIFF_MAX_NAME bytes on a character boundary. */
static char *field_name(const span *f, mon_encoding enc)
{
    char *out = malloc(MON_SNIFF_MAX_NAME + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < f->len; i++) {
        unsigned c = f->start[i];
        if (f->quoted && c == '"' && i + 1 < f->len && f->start[i + 1] == '"')
            i++;
        unsigned char tmp[4];
        size_t tl = 0;
        if (enc == MON_ENC_LATIN1 && c >= 0x80) {
            unsigned u = c;
            if (c < 0xA0 && cp1252[c - 0x80])
                u = cp1252[c - 0x80];
            if (u < 0x800) {
                tmp[0] = (unsigned char)(0xC0 | (u >> 6));
                tmp[1] = (unsigned char)(0x80 | (u & 0x3F));
                tl = 2;
            } else {
                tmp[0] = (unsigned char)(0xE0 | (u >> 12));
                tmp[1] = (unsigned char)(0x80 | ((u >> 6) & 0x3F));
                tmp[2] = (unsigned char)(0x80 | (u & 0x3F));
                tl = 3;
            }
        } else if (c >= 0x80) {
            int l = utf8_seq(f->start + i, f->len - i);
            if (l <= 0) {
                tmp[0] = '?';
                tl = 1;
            } else {
                memcpy(tmp, f->start + i, (size_t)l);
                tl = (size_t)l;
                i += (size_t)l - 1;
            }
        } else {
            tmp[0] = (unsigned char)(c < 0x20 || c == 0x7F ? ' ' : c);
            tl = 1;
        }
        if (o + tl > MON_SNIFF_MAX_NAME)
            break;
        memcpy(out + o, tmp, tl);
        o += tl;
    }
    out[o] = 0;
    size_t s = 0;
    while (out[s] == ' ')
        s++;
    while (o > s && out[o - 1] == ' ')
        o--;
    memmove(out, out + s, o - s);
    out[o - s] = 0;
    return out;
}

static int looks_binary(const unsigned char *b, size_t n, mon_schema *s)
{
    size_t ctl = 0;
    for (size_t i = 0; i < n; i++) {
        if (b[i] == 0) {
            set_reason(s, "NUL byte at offset %zu: binary, not a text table", i);
            return 1;
        }
        if ((b[i] < 0x20 && b[i] != '\t' && b[i] != '\n' && b[i] != '\r') || b[i] == 0x7F)
            ctl++;
    }
    if (ctl * 100 > n) {
        set_reason(s, "%zu control bytes in %zu: binary, not a text table", ctl, n);
        return 1;
    }
    return 0;
}

int mon_sniff_csv(const unsigned char *buf, size_t len, int truncated, mon_schema *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->format, sizeof out->format, "csv");
    if (len >= 2 && ((buf[0] == 0xFF && buf[1] == 0xFE) || (buf[0] == 0xFE && buf[1] == 0xFF))) {
        set_reason(out, "UTF-16 byte order mark: UTF-16 text is not read");
        return 0;
    }
    if (len >= 3 && buf[0] == 0xEF && buf[1] == 0xBB && buf[2] == 0xBF) {
        out->encoding = MON_ENC_UTF8_BOM;
        buf += 3, len -= 3;
    }
    if (len == 0) {
        set_reason(out, "empty sample");
        return 0;
    }
    if (looks_binary(buf, len, out))
        return 0;
    if (out->encoding != MON_ENC_UTF8_BOM)
        out->encoding = valid_utf8(buf, len, truncated) ? MON_ENC_UTF8 : MON_ENC_LATIN1;
    size_t lead = 0;
    while (lead < len &&
           (buf[lead] == ' ' || buf[lead] == '\t' || buf[lead] == '\r' || buf[lead] == '\n'))
        lead++;
    if (lead < len && buf[lead] == '<') {
        set_reason(out, "starts with '<': HTML or XML, not a table");
        return 0;
    }
    if (lead < len && (buf[lead] == '{' || buf[lead] == '[')) {
        set_reason(out, "starts with '%c': JSON, not a delimited table", buf[lead]);
        return 0;
    }

    span *sp = malloc(sizeof *sp * MON_SNIFF_MAX_COLS);
    if (!sp)
        return -1;
    static const char cands[] = {',', ';', '\t', '|'};
    detect best = {0}, dt;
    char delim = 0;
    for (size_t c = 0; c < sizeof cands; c++) {
        detect_rows(buf, len, cands[c], truncated, sp, &dt);
        if (c == 0)
            best = dt; /* keeps the stop reason when no delimiter fits */
        if (dt.mode < 2)
            continue;
        /* most rows with the same count; then more columns */
        if (!delim || dt.match * best.rows > best.match * dt.rows ||
            (dt.match * best.rows == best.match * dt.rows && dt.mode > best.mode))
            best = dt, delim = cands[c];
    }
    if (!delim) {
        if (best.rows == 0 && best.status == ROW_TOO_LONG)
            set_reason(out, "line 1 is longer than %u bytes", MON_SNIFF_MAX_ROW_BYTES);
        else if (best.rows == 0 && best.status == ROW_UNBALANCED)
            set_reason(out, "unbalanced quote on line 1");
        else if (best.rows == 0)
            set_reason(out, "no complete line in the sample");
        else
            set_reason(out, "no delimiter among , ; TAB | splits the lines into columns");
        free(sp);
        return 0;
    }
    if (best.mode > MON_SNIFF_MAX_COLS) {
        set_reason(out, "%zu columns: more than %d", best.mode, MON_SNIFF_MAX_COLS);
        free(sp);
        return 0;
    }
    if (best.rows >= 4 && best.match * 2 < best.rows) {
        set_reason(out, "ragged rows: only %zu of %zu lines have %zu fields", best.match, best.rows,
                   best.mode);
        free(sp);
        return 0;
    }
    out->delimiter = delim;

    /* Real pass: first row, then up to MAX_ROWS data rows for the types. */
    size_t pos = 0, nf = 0, line = 0;
    int st;
    do {
        st = read_row(buf, len, &pos, delim, truncated, sp, MON_SNIFF_MAX_COLS, &nf);
        line++;
    } while (st == ROW_OK && blank_row(sp, nf));
    if (st != ROW_OK) { /* cannot happen after a successful detection; kept for safety */
        set_reason(out, "no complete first line");
        free(sp);
        return 0;
    }
    size_t ncols = nf < MON_SNIFF_MAX_COLS ? nf : MON_SNIFF_MAX_COLS;
    out->cols = calloc(ncols, sizeof *out->cols);
    unsigned *mask = malloc(sizeof *mask * ncols), *first = malloc(sizeof *first * ncols);
    size_t *nonempty = calloc(ncols, sizeof *nonempty);
    if (!out->cols || !mask || !first || !nonempty)
        goto oom;
    out->ncols = ncols;
    for (size_t i = 0; i < ncols; i++) {
        out->cols[i].name = field_name(&sp[i], out->encoding);
        if (!out->cols[i].name)
            goto oom;
        first[i] = cell_mask((const char *)sp[i].start, sp[i].len);
        mask[i] = ~0u;
    }
    while (out->rows_sampled < MON_SNIFF_MAX_ROWS) {
        st = read_row(buf, len, &pos, delim, truncated, sp, MON_SNIFF_MAX_COLS, &nf);
        line++;
        if (st == ROW_UNBALANCED) {
            out->unbalanced_quote = 1;
            break;
        }
        if (st != ROW_OK)
            break;
        if (blank_row(sp, nf))
            continue;
        out->rows_sampled++;
        if (nf != ncols)
            out->ragged_rows++;
        for (size_t i = 0; i < ncols && i < nf; i++) {
            unsigned m = cell_mask((const char *)sp[i].start, sp[i].len);
            if (m != ~0u)
                nonempty[i]++;
            mask[i] &= m;
        }
    }
    /* Header: a typed column whose first cell does not fit its type votes yes, one that fits
     * votes no; with only text columns the first line is taken as a header (the usual case). */
    int yes = 0, no = 0;
    for (size_t i = 0; i < ncols; i++) {
        mon_coltype t = mask_type(mask[i], nonempty[i]);
        if (t == MON_COL_EMPTY || t == MON_COL_TEXT)
            continue;
        if (first[i] != ~0u && (first[i] & mask[i]))
            no++;
        else
            yes++;
    }
    out->has_header = yes >= no;
    for (size_t i = 0; i < ncols; i++) {
        if (!out->has_header) {
            snprintf(out->cols[i].name, MON_SNIFF_MAX_NAME + 1, "column_%zu", i + 1);
            if (first[i] != ~0u)
                nonempty[i]++;
            mask[i] &= first[i];
        }
        out->cols[i].type = mask_type(mask[i], nonempty[i]);
    }
    out->is_table = 1;
    free(mask);
    free(first);
    free(nonempty);
    free(sp);
    return 0;
oom:
    free(mask);
    free(first);
    free(nonempty);
    free(sp);
    mon_schema_free(out);
    return -1;
}
