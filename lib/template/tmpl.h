/* template: the text of delivery messages, shared by the channels that write
 * text (email: subject and bodies; webhook: the chat formats). A growable
 * string buffer, a small logic-less template engine checked against a schema
 * at load, and the delivery payload (include/vigia/contract/delivery.h) as
 * the templates see it. Pure but for host->tz_info; thread-safe. */
#ifndef VIGIA_LIB_TMPL_H
#define VIGIA_LIB_TMPL_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>
#include <vigia/plugin.h>

/* ---- tmpl_buf.c: a growable string; `oom` sticks once an append fails. */
typedef struct tmpl_buf {
    char *p;
    size_t len, cap;
    int oom;
} tmpl_buf;

void tmpl_buf_add(tmpl_buf *b, const char *s, size_t n);
void tmpl_buf_adds(tmpl_buf *b, const char *s);
void tmpl_buf_addf(tmpl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Takes the string (NUL-terminated, or NULL after an allocation failure). */
char *tmpl_buf_take(tmpl_buf *b, size_t *len);
void tmpl_buf_free(tmpl_buf *b);

/* ---- tmpl.c: {{var}}, {{#section}}..{{/section}}, {{^inverted}}. */
typedef struct tmpl_template tmpl_template;
/* Compile `text`; every name must exist in `schema` (a JSON sample of the
 * context: objects, and arrays holding one sample element). On error NULL
 * and "name:line: why" in err. `html`: values are HTML-escaped. */
tmpl_template *tmpl_compile(const char *name, const char *text, const json_t *schema, int html,
                            char *err, size_t errn);
void tmpl_render(const tmpl_template *t, const json_t *ctx, tmpl_buf *out);
void tmpl_free(tmpl_template *t);

/* ---- tmpl_context.c: the delivery payload as the templates see it. */
/* The shape every template is checked against at load. New reference. */
json_t *tmpl_context_schema(void);
/* The context for one delivery, times in the subscriber's zone, at most
 * `max_items` items. New reference, or NULL with the reason in err. */
json_t *tmpl_context_build(const vg_host *h, const json_t *payload, time_t now, int max_items,
                           char *err, size_t errn);

/* What a change or a status is called in the subscriber's language (en 0:
 * Spanish, 1: English): "went down" for "down"; the key itself when unknown. */
const char *tmpl_kind_label(const char *kind, int en);
const char *tmpl_status_label(const char *status, int en);

#endif
