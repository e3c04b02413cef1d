/* The message in wire form: multipart/alternative (text/plain + text/html,
 * UTF-8, quoted-printable), the headers a list mail needs (RFC 5322 Date,
 * Message-ID from the delivery key, List-Id, RFC 8058 one-click unsubscribe,
 * RFC 3834 Auto-Submitted). Pure: same input, same bytes. */
#include <stdio.h>
#include <string.h>

#include "email.h"

void email_message_id(tmpl_buf *out, const char *key, const char *from_addr)
{
    static const char hexd[] = "0123456789ABCDEF";
    tmpl_buf_adds(out, "<");
    /* atext without '.' and '=' is copied; the rest is =XX, so any key is a
     * valid dot-atom and distinct keys stay distinct. */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("!#$%&'*+-/?^_`{|}~", *p)) {
            tmpl_buf_add(out, (const char *)p, 1);
        } else {
            char e[3] = {'=', hexd[*p >> 4], hexd[*p & 15]};
            tmpl_buf_add(out, e, 3);
        }
    }
    const char *at = strrchr(from_addr, '@');
    tmpl_buf_adds(out, "@");
    tmpl_buf_adds(out, at && at[1] ? at + 1 : "vigia.invalid");
    tmpl_buf_adds(out, ">");
}

/* A value that goes into a header as is (URL, List-Id): printable ASCII,
 * no angle brackets or spaces, short enough for one line. */
static int token_ok(const char *s, size_t max)
{
    if (!*s || strlen(s) > max)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= 32 || (unsigned char)*s >= 127 || *s == '<' || *s == '>')
            return 0;
    return 1;
}

static void add_date(tmpl_buf *b, time_t t)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const mons[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    gmtime_r(&t, &tm);
    tmpl_buf_addf(b, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday],
                  tm.tm_mday, mons[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void add_from(tmpl_buf *b, const email_msg *m)
{
    tmpl_buf_adds(b, "From: ");
    const char *n = m->from_name;
    if (n && *n) {
        if (email_is_ascii(n) && !strpbrk(n, "\"\\")) {
            tmpl_buf_addf(b, "\"%s\" ", n);
        } else {
            email_header_text(b, n, 6);
            tmpl_buf_adds(b, " ");
        }
    }
    tmpl_buf_addf(b, "<%s>\r\n", m->from_addr);
}

/* A boundary that quoted-printable output can never contain ("=_"). */
static void boundary_of(const char *key, char *out, size_t n)
{
    unsigned long long h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    snprintf(out, n, "=_vigia_%016llx", h);
}

static void add_part(tmpl_buf *b, const char *boundary, const char *type, const char *body)
{
    tmpl_buf_addf(b, "--%s\r\n", boundary);
    tmpl_buf_addf(b, "Content-Type: %s; charset=UTF-8\r\n", type);
    tmpl_buf_adds(b, "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
    email_qp_encode(b, body, strlen(body));
}

char *email_compose(const email_msg *m, size_t *len, char *err, size_t errn)
{
    if (!email_address_ok(m->from_addr)) {
        snprintf(err, errn, "invalid From address '%s'", m->from_addr);
        return NULL;
    }
    if (!email_address_ok(m->to)) {
        snprintf(err, errn, "invalid address '%s'", m->to);
        return NULL;
    }
    if (!m->key || !*m->key || strlen(m->key) > 200) {
        snprintf(err, errn, "the key must be 1..200 bytes");
        return NULL;
    }
    if (m->list_id && *m->list_id && !token_ok(m->list_id, 200)) {
        snprintf(err, errn, "invalid list_id '%s'", m->list_id);
        return NULL;
    }
    if (m->unsubscribe && *m->unsubscribe && !token_ok(m->unsubscribe, 900)) {
        snprintf(err, errn, "invalid unsubscribe link (printable ASCII without spaces, <= 900)");
        return NULL;
    }
    tmpl_buf b = {0};
    char boundary[40];
    boundary_of(m->key, boundary, sizeof boundary);

    add_from(&b, m);
    tmpl_buf_addf(&b, "To: <%s>\r\n", m->to);
    tmpl_buf_adds(&b, "Subject: ");
    email_header_text(&b, m->subject ? m->subject : "", 9);
    tmpl_buf_adds(&b, "\r\n");
    add_date(&b, m->date);
    tmpl_buf_adds(&b, "Message-ID: ");
    email_message_id(&b, m->key, m->from_addr);
    tmpl_buf_adds(&b, "\r\n");
    if (m->list_id && *m->list_id)
        tmpl_buf_addf(&b, "List-Id: <%s>\r\n", m->list_id);
    if (m->unsubscribe && *m->unsubscribe) {
        tmpl_buf_addf(&b, "List-Unsubscribe: <%s>\r\n", m->unsubscribe);
        tmpl_buf_adds(&b, "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n");
    }
    tmpl_buf_adds(&b, "Auto-Submitted: auto-generated\r\n");
    tmpl_buf_adds(&b, "MIME-Version: 1.0\r\n");
    tmpl_buf_addf(&b, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", boundary);
    tmpl_buf_adds(&b, "This is a multi-part message in MIME format.\r\n\r\n");
    add_part(&b, boundary, "text/plain", m->text ? m->text : "");
    tmpl_buf_adds(&b, "\r\n");
    add_part(&b, boundary, "text/html", m->html ? m->html : "");
    tmpl_buf_adds(&b, "\r\n");
    tmpl_buf_addf(&b, "--%s--\r\n", boundary);
    char *out = tmpl_buf_take(&b, len);
    if (!out)
        snprintf(err, errn, "out of memory");
    return out;
}
