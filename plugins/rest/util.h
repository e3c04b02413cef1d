/* rest plugin: pure helpers (no host, no I/O), unit-tested on their own. */
#ifndef VIGIA_REST_UTIL_H
#define VIGIA_REST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Largest integer a JSON number keeps exactly (2^53 - 1): the bound for ids. */
#define REST_MAX_SAFE_INT 9007199254740991LL

/* HTTP status for a method's negative errno. */
int rest_status_for_errno(int rc);
/* Error code string matching that status when the method gave none. */
const char *rest_code_for_status(int status);

/* Parse a whole decimal integer in [min, max]. 0 or -EINVAL (junk, empty,
 * out of range). No leading '+', spaces or trailing characters. */
int rest_parse_int(const char *s, long long min, long long max, long long *out);
/* true/false/1/0/yes/no/on/off (case-insensitive). 0 or -EINVAL. */
int rest_parse_bool(const char *s, bool *out);

/* 64-bit FNV-1a. */
uint64_t rest_fnv1a64(const void *data, size_t len);
/* "\"<16 hex digits>\"" into buf (>= 19 bytes). */
void rest_etag_format(uint64_t hash, char *buf, size_t size);
/* If-None-Match semantics (RFC 9110 13.1.2, weak comparison): 1 when the
 * header lists `etag` (quoted, W/ prefix ignored) or is "*". */
int rest_etag_matches(const char *if_none_match, const char *etag);

/* 1 when `origin` is in `allowed` (array of strings, "*" = any origin). */
int rest_origin_allowed(const json_t *allowed, const char *origin);
/* 1 when `origin` is this server's own: http(s):// + the Host header. */
int rest_same_origin(const char *origin, const char *host);
/* 1 when the Content-Type header is application/json (parameters allowed). */
int rest_is_json_content_type(const char *content_type);
/* 1 when s (length len) is 1..max_len bytes without control characters. */
int rest_valid_text(const char *s, size_t len, size_t max_len);
/* Copy s into buf for an error message: at most 40 bytes; control characters
 * and bytes that are not UTF-8 become ?, so the message always encodes. */
void rest_sanitize(const char *s, char *buf, size_t size);
/* Replace, in place, every byte of s that is not part of valid UTF-8 with '?'
 * (jansson's error texts quote the offending input). */
void rest_utf8_scrub(char *s);

/* Append "<sep><word>" to a NUL-terminated buffer, truncating safely. */
void rest_join(char *buf, size_t size, const char *sep, const char *word);

/* Growable string for the metrics text. */
typedef struct rest_buf {
    char *data;
    size_t len;
    size_t cap;
    bool oom;
} rest_buf;
void rest_buf_append(rest_buf *b, const char *s, size_t n);
void rest_buf_printf(rest_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append a Prometheus label value, escaping \ " and newline. */
void rest_buf_label_value(rest_buf *b, const char *s);
void rest_buf_free(rest_buf *b);

/* Prometheus metric/label name: [a-zA-Z_:][a-zA-Z0-9_:]* (labels: no ':'). */
int rest_prom_valid_name(const char *s, bool label);

#endif /* VIGIA_REST_UTIL_H */
