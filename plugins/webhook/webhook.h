/* webhook: the webhook channel plugin (issue 12). The pure parts (address
 * classifier, signing, bodies) are a static library so unit tests and the
 * fuzz target use them without a host. */
#ifndef WEBHOOK_H
#define WEBHOOK_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <vigia/plugin.h>

/* ---- webhook_addr.c: which addresses a webhook may connect to. */
typedef enum webhook_addr_class {
    WEBHOOK_ADDR_PUBLIC = 0,
    WEBHOOK_ADDR_LOOPBACK,
    WEBHOOK_ADDR_PRIVATE, /* RFC 1918, IPv6 unique-local and site-local */
    WEBHOOK_ADDR_LINK_LOCAL,
    WEBHOOK_ADDR_CGNAT, /* 100.64.0.0/10 */
    WEBHOOK_ADDR_MULTICAST,
    WEBHOOK_ADDR_UNSPECIFIED, /* 0.0.0.0/8, :: */
    WEBHOOK_ADDR_RESERVED,    /* 240.0.0.0/4, broadcast, 192.0.0.0/24, 198.18.0.0/15 */
    WEBHOOK_ADDR_UNKNOWN,     /* not IPv4 or IPv6 */
} webhook_addr_class;

webhook_addr_class webhook_addr_classify(const struct sockaddr *sa, size_t len);
/* The same for a numeric address ("10.0.0.1", "::ffff:127.0.0.1"); -1 when
 * `text` is not one. */
int webhook_addr_classify_text(const char *text);
/* "loopback", "private", ... */
const char *webhook_addr_class_name(webhook_addr_class c);

/* ---- webhook_sign.c: secrets and Standard Webhooks signatures. */
#define WEBHOOK_SECRET_BYTES 24
#define WEBHOOK_SECRET_MAX 96 /* "whsec_" + base64 of at most 64 bytes + NUL */
/* "whsec_" + base64 of 24 random bytes. 0, or -1 when the RNG failed. */
int webhook_secret_new(char out[WEBHOOK_SECRET_MAX]);
/* "wh_" + 20 hex digits. 0 or -1. */
int webhook_id_new(char out[32]);
/* "v1,<base64 HMAC-SHA256(key, id.ts.body)>" where key is the secret's
 * base64 after "whsec_". 0, or -1 for a malformed secret or a short out. */
int webhook_sign(const char *secret, const char *id, long long ts, const char *body, size_t len,
                 char *out, size_t outn);

/* ---- webhook_format.c: the request body of each format. */
typedef enum webhook_format {
    WEBHOOK_STANDARD = 0,
    WEBHOOK_SLACK,
    WEBHOOK_DISCORD,
    WEBHOOK_TEAMS,
    WEBHOOK_FORMATS
} webhook_format;
/* -1 for an unknown name. */
int webhook_format_parse(const char *name);
const char *webhook_format_name(webhook_format f);

typedef struct webhook_texts webhook_texts;
/* The built-in title/text templates (es, en) compiled against the e-mail
 * plugin's template context. NULL with the reason in err. */
webhook_texts *webhook_texts_load(char *err, size_t errn);
void webhook_texts_free(webhook_texts *t);
/* The body for one delivery.requested payload (kinds alert, digest,
 * maintainer and "test"): malloc'd JSON text, or NULL with the reason. */
char *webhook_body(const vg_host *h, const webhook_texts *t, webhook_format f,
                   const json_t *payload, time_t now, int max_items, char *err, size_t errn);
/* A sample payload for POST /api/webhooks/{id}/test (new reference). */
json_t *webhook_sample_payload(const char *key, const char *lang, time_t now);

#endif
