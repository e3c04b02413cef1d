/* rest plugin: replies (JSON, ETag, errors), JSON bodies and query parameters. */
#include "rest.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define JSON_TYPE "application/json; charset=utf-8"

int rest_reply_text(rest_req *rq, int status, const char *content_type, const char *data,
                    size_t len)
{
    rq->status = status;
    return vg_http_reply(rq->req, status, content_type, data, len);
}

int rest_reply_json(rest_req *rq, int status, json_t *body, bool etag)
{
    if (!body)
        return rest_reply_error(rq, 500, "INTERNAL", "out of memory building the reply");
    /* 15 significant digits: 0.975 stays 0.975 instead of 0.97499999999999998. */
    char *text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(body);
    if (!text)
        return rest_reply_error(rq, 500, "INTERNAL", "could not serialize the reply");
    size_t len = strlen(text);
    int rc;
    if (etag) {
        char tag[32];
        rest_etag_format(rest_fnv1a64(text, len), tag, sizeof tag);
        vg_http_set_header(rq->req, "ETag", tag);
        /* Clients may keep the body but must revalidate: that is what the ETag is for. */
        vg_http_set_header(rq->req, "Cache-Control", "no-cache");
        if (rest_etag_matches(vg_http_header(rq->req, "If-None-Match"), tag)) {
            free(text);
            return rest_reply_text(rq, 304, JSON_TYPE, NULL, 0);
        }
    } else {
        vg_http_set_header(rq->req, "Cache-Control", "no-store");
    }
    rc = rest_reply_text(rq, status, JSON_TYPE, text, len);
    free(text);
    return rc;
}

static int reply_errorv(rest_req *rq, int status, const char *code, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    json_t *body = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg);
    return rest_reply_json(rq, status, body, false);
}

int rest_reply_error(rest_req *rq, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = reply_errorv(rq, status, code, fmt, ap);
    va_end(ap);
    return rc;
}

/* Which plugin provides a method family (the monitor owns datasets.*). */
static const char *owner_of(const char *method, char *buf, size_t size)
{
    if (!strncmp(method, "datasets.", 9))
        return "monitor";
    const char *dot = strchr(method, '.');
    size_t n = dot ? (size_t)(dot - method) : strlen(method);
    if (n >= size)
        n = size - 1;
    memcpy(buf, method, n);
    buf[n] = '\0';
    return buf;
}

int rest_reply_call_error(rest_req *rq, const char *method, int rc, const json_t *err)
{
    int status = rest_status_for_errno(rc);
    if (rc == -ENOSYS) {
        char owner[64];
        return rest_reply_error(rq, 503, "UNAVAILABLE",
                                "%s is unavailable: plugin '%s' is not loaded", method,
                                owner_of(method, owner, sizeof owner));
    }
    const json_t *e = json_object_get(err, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *message = json_string_value(json_object_get(e, "message"));
    if (rc == -EAGAIN)
        vg_http_set_header(rq->req, "Retry-After", "1");
    return rest_reply_error(rq, status, code ? code : rest_code_for_status(status), "%s",
                            message ? message : "the request failed");
}

int rest_call(rest_req *rq, const char *method, const json_t *params, json_t **result)
{
    json_t *res = NULL;
    int rc = vg_bus_call(rq->st->host->bus, method, params, &res);
    if (rc < 0) {
        rest_reply_call_error(rq, method, rc, res);
        json_decref(res);
        *result = NULL;
        return rc;
    }
    if (!res) {
        rest_reply_error(rq, 500, "INTERNAL", "%s returned no result", method);
        *result = NULL;
        return -EIO;
    }
    *result = res;
    return 0;
}

json_t *rest_call_quiet(rest_state *st, const char *method, const json_t *params, int *rcp)
{
    json_t *res = NULL;
    int rc = vg_bus_call(st->host->bus, method, params, &res);
    if (rcp)
        *rcp = rc;
    if (rc < 0) {
        json_decref(res);
        return NULL;
    }
    return res;
}

int rest_read_body(rest_req *rq, json_t **out)
{
    *out = NULL;
    const char *data = NULL;
    size_t len = 0;
    int rc = vg_http_body(rq->req, rq->st->max_body, &data, &len);
    if (rc == -E2BIG) {
        rest_reply_error(rq, 413, "TOO_LARGE", "request body is larger than max_body (%zu bytes)",
                         rq->st->max_body);
        return rc;
    }
    if (rc < 0) {
        rest_reply_error(rq, 400, "INVALID_ARGUMENT", "could not read the request body");
        return rc;
    }
    if (len == 0)
        return 0;
    const char *ct = vg_http_header(rq->req, "Content-Type");
    if (!rest_is_json_content_type(ct)) {
        char got[64];
        rest_sanitize(ct ? ct : "(none)", got, sizeof got);
        rest_reply_error(rq, 415, "UNSUPPORTED_MEDIA_TYPE",
                         "Content-Type must be application/json (got '%s')", got);
        return -EINVAL;
    }
    json_error_t jerr;
    /* Through the host: jansson recurses per nesting level and a deep body
     * would overflow the worker's stack. */
    const vg_host *h = rq->st->host;
    json_t *body = h->json_parse(h, data, len, JSON_REJECT_DUPLICATES, &jerr);
    rest_utf8_scrub(jerr.text); /* it may quote the bad bytes: the reply must encode */
    if (!body && jerr.line < 0) {
        rest_reply_error(rq, 400, "INVALID_ARGUMENT",
                         "JSON body nested too deep at byte %d: %s ([server] json_max_depth)",
                         jerr.position, jerr.text);
        return -EINVAL;
    }
    if (!body) {
        rest_reply_error(rq, 400, "INVALID_ARGUMENT",
                         "malformed JSON body at line %d, column %d: %s", jerr.line, jerr.column,
                         jerr.text);
        return -EINVAL;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        rest_reply_error(rq, 400, "INVALID_ARGUMENT", "the request body must be a JSON object");
        return -EINVAL;
    }
    *out = body;
    return 0;
}

/* Decode %XX and '+' of a query name (in place is not possible: copy). */
static void url_decode(const char *s, size_t n, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < size; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
                   isxdigit((unsigned char)s[i + 2])) {
            /* exactly two hex digits: strtol would also take "%-2" or "% A" */
            char hex[3] = {s[i + 1], s[i + 2], 0};
            c = (char)strtol(hex, NULL, 16);
            i += 2;
        }
        out[o++] = c;
    }
    out[o] = '\0';
}

int rest_query_check(rest_req *rq, const char *const *allowed)
{
    const char *qs = vg_http_query_string(rq->req);
    if (!qs)
        return 0;
    const char *p = qs;
    while (*p) {
        const char *start = p;
        while (*p && *p != '&')
            p++;
        const char *eq = memchr(start, '=', (size_t)(p - start));
        size_t n = (size_t)((eq ? eq : p) - start);
        if (*p == '&')
            p++;
        if (n == 0)
            continue;
        char name[64];
        url_decode(start, n, name, sizeof name);
        /* "_" is the usual cache-buster (jQuery's _=timestamp): harmless. */
        if (!strcmp(name, "_"))
            continue;
        bool known = false;
        for (size_t i = 0; allowed && allowed[i]; i++)
            if (!strcmp(allowed[i], name))
                known = true;
        if (!known) {
            char list[256] = "";
            for (size_t i = 0; allowed && allowed[i]; i++)
                rest_join(list, sizeof list, ", ", allowed[i]);
            char got[64];
            rest_sanitize(name, got, sizeof got);
            if (allowed && allowed[0])
                rest_reply_error(rq, 400, "INVALID_ARGUMENT",
                                 "unknown query parameter '%s' (accepted: %s)", got, list);
            else
                rest_reply_error(rq, 400, "INVALID_ARGUMENT",
                                 "unknown query parameter '%s' (this route takes none)", got);
            return -EINVAL;
        }
    }
    return 0;
}

/* Fetch a raw parameter into buf: 1 present, 0 absent, -EINVAL replied. */
static int query_raw(rest_req *rq, const char *name, char *buf, size_t size, size_t max_len)
{
    int n = vg_http_query(rq->req, name, buf, size);
    if (n == -ENOENT)
        return 0;
    if (n == -E2BIG || (n >= 0 && (size_t)n > max_len)) {
        rest_reply_error(rq, 400, "INVALID_ARGUMENT", "%s is too long: at most %zu bytes", name,
                         max_len);
        return -EINVAL;
    }
    if (n < 0) {
        rest_reply_error(rq, 400, "INVALID_ARGUMENT", "could not read query parameter %s", name);
        return -EINVAL;
    }
    if (strlen(buf) != (size_t)n) {
        rest_reply_error(rq, 400, "INVALID_ARGUMENT", "%s contains a NUL byte", name);
        return -EINVAL;
    }
    return 1;
}

int rest_query_int(rest_req *rq, const char *name, long long def, long long min, long long max,
                   long long *out, bool *present)
{
    char buf[64];
    *out = def;
    if (present)
        *present = false;
    int r = query_raw(rq, name, buf, sizeof buf, 32);
    if (r <= 0) {
        if (r == -EINVAL)
            return r;
        return 0;
    }
    if (rest_parse_int(buf, min, max, out) < 0) {
        char got[64];
        rest_sanitize(buf, got, sizeof got);
        rest_reply_error(rq, 400, "INVALID_ARGUMENT",
                         "%s must be an integer between %lld and %lld (got '%s')", name, min, max,
                         got);
        return -EINVAL;
    }
    if (present)
        *present = true;
    return 0;
}

int rest_query_bool(rest_req *rq, const char *name, bool *out, bool *present)
{
    char buf[32];
    if (present)
        *present = false;
    int r = query_raw(rq, name, buf, sizeof buf, 16);
    if (r <= 0)
        return r;
    if (rest_parse_bool(buf, out) < 0) {
        char got[64];
        rest_sanitize(buf, got, sizeof got);
        rest_reply_error(rq, 400, "INVALID_ARGUMENT",
                         "%s must be a boolean: true, false, 1 or 0 (got '%s')", name, got);
        return -EINVAL;
    }
    if (present)
        *present = true;
    return 0;
}

int rest_query_enum(rest_req *rq, const char *name, const char *const *choices, const char **out)
{
    char buf[64];
    *out = NULL;
    int r = query_raw(rq, name, buf, sizeof buf, 32);
    if (r <= 0)
        return r;
    for (size_t i = 0; choices[i]; i++) {
        if (!strcmp(choices[i], buf)) {
            *out = choices[i];
            return 0;
        }
    }
    char list[200] = "";
    for (size_t i = 0; choices[i]; i++)
        rest_join(list, sizeof list, ", ", choices[i]);
    char got[64];
    rest_sanitize(buf, got, sizeof got);
    rest_reply_error(rq, 400, "INVALID_ARGUMENT", "%s must be one of %s (got '%s')", name, list,
                     got);
    return -EINVAL;
}

int rest_query_string(rest_req *rq, const char *name, size_t max_len, char **out)
{
    *out = NULL;
    size_t size = max_len + 2;
    char *buf = malloc(size);
    if (!buf) {
        rest_reply_error(rq, 500, "INTERNAL", "out of memory");
        return -ENOMEM;
    }
    int r = query_raw(rq, name, buf, size, max_len);
    if (r <= 0) {
        free(buf);
        return r;
    }
    if (!rest_valid_text(buf, strlen(buf), max_len)) {
        free(buf);
        rest_reply_error(rq, 400, "INVALID_ARGUMENT",
                         "%s must be 1 to %zu bytes of text without control characters", name,
                         max_len);
        return -EINVAL;
    }
    *out = buf;
    return 0;
}
