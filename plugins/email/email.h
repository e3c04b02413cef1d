/* email: the e-mail channel plugin (issue 11). Internal declarations shared by
 * its files; the pure parts (encodings, composition, the template set) are a
 * static library so unit tests use them without a host. The template engine,
 * its buffer and the delivery context are lib/template's (tmpl.h), shared
 * with the webhook channel. */
#ifndef EMAIL_H
#define EMAIL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <vigia/plugin.h>

#include "tmpl.h"

/* ---- email_encode.c: transfer encodings and header words. */
/* Quoted-printable (RFC 2045 6.7) of UTF-8 text whose lines end in \n or
 * \r\n: CRLF line ends, encoded lines of at most 76 characters. */
void email_qp_encode(tmpl_buf *out, const char *in, size_t len);
void email_base64(tmpl_buf *out, const unsigned char *in, size_t len);
/* A header value: ASCII as is, otherwise RFC 2047 encoded-words
 * (=?UTF-8?B?...?=), each at most 75 characters and never splitting a UTF-8
 * sequence, folded with CRLF SP. `used` is the length already on the line
 * ("Subject: "). */
void email_header_text(tmpl_buf *out, const char *value, size_t used);
/* 1 when `s` is plain printable ASCII (no controls, no CR/LF). */
int email_is_ascii(const char *s);
/* 1 for an address we can put in RCPT TO and To: local@domain, printable
 * ASCII without spaces, quotes, angle brackets or controls, at most 254. */
int email_address_ok(const char *addr);

/* ---- email_compose.c: the whole message, a pure function. */
typedef struct email_msg {
    const char *from_name; /* display name (UTF-8), may be NULL */
    const char *from_addr;
    const char *to;
    const char *subject;     /* UTF-8 */
    time_t date;             /* the Date header, UTC */
    const char *key;         /* delivery key: the Message-ID is built from it */
    const char *list_id;     /* may be NULL */
    const char *unsubscribe; /* one-click URL (RFC 8058), may be NULL */
    const char *text;        /* text/plain body, UTF-8 */
    const char *html;        /* text/html body, UTF-8 */
} email_msg;

/* The message in wire form (CRLF, lines <= 998), malloc'd, or NULL with a
 * reason in `err` (an invalid address or header value). */
char *email_compose(const email_msg *m, size_t *len, char *err, size_t errn);
/* "<key-as-atext@domain-of-from>": the same key always gives the same id. */
void email_message_id(tmpl_buf *out, const char *key, const char *from_addr);

/* ---- email_templates.c: the set of templates, per language and kind. */
#define EMAIL_LANGS 2
#define EMAIL_KINDS 4
typedef struct email_templates email_templates;
/* Load every (lang, kind, part), from `dir` when the file is there, else the
 * built-in copy. NULL with "file:line: why" in err. */
email_templates *email_templates_load(const char *dir, char *err, size_t errn);
void email_templates_free(email_templates *t);
/* Render subject, text and html for `ctx` (lang and kind read from it).
 * -1 with err when the lang or kind is unknown. Outputs malloc'd. */
int email_templates_render(const email_templates *t, const json_t *ctx, char **subject, char **text,
                           char **html, char *err, size_t errn);

/* Built-in copies of plugins/email/templates (generated at build time). */
typedef struct email_builtin {
    const char *path; /* "es/alert.txt" */
    const char *text;
} email_builtin;
extern const email_builtin email_builtin_templates[];
extern const size_t email_builtin_count;

#endif
