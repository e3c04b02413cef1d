/* libFuzzer target: the REST plugin's request input (plugins/rest/http.c
 * and util.c): the unknown-parameter check with its own %XX decoding,
 * the typed query getters with the bounds the list routes use, and the JSON
 * body reader, on a civetweb-sized stack. The request is a stand-in whose
 * query() is civetweb's mg_get_var2, as in the core.
 *
 * Input: the query string (without '?'), then optionally a \x1e byte and a
 * request body. Checks, beyond "no crash": every refusal is a 400-class
 * reply sent exactly once (never a 500: the seeds regress-invalid-utf8-* are
 * names and values that are not UTF-8, once echoed raw into the message so the
 * JSON encoder refused it); accepted values respect their bounds. */
#include <civetweb.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_stack.h"
#include "rest.h"

typedef struct fake_req {
    vg_http_request pub;
    const char *qs;
    const char *body;
    size_t body_len;
    int replies;
    int status;
} fake_req;

static fake_req *fr(vg_http_request *r) { return (fake_req *)r; }
static const char *f_query_string(vg_http_request *r) { return fr(r)->qs; }
/* The core's get_var: mg_get_var2 with its return codes mapped to errnos. */
static int f_query(vg_http_request *r, const char *name, char *buf, size_t size)
{
    const char *qs = fr(r)->qs;
    if (!qs || size == 0)
        return -ENOENT;
    int n = mg_get_var2(qs, strlen(qs), name, buf, size, 0);
    if (n == -1)
        return -ENOENT;
    return n < 0 ? -E2BIG : n;
}
static const char *f_header(vg_http_request *r, const char *name)
{
    (void)r;
    return strcasecmp(name, "Content-Type") == 0 ? "application/json; charset=utf-8" : NULL;
}
static int f_body(vg_http_request *r, size_t max, const char **data, size_t *len)
{
    if (fr(r)->body_len > max)
        return -E2BIG;
    *data = fr(r)->body;
    *len = fr(r)->body_len;
    return 0;
}
static int f_set_header(vg_http_request *r, const char *name, const char *value)
{
    (void)r, (void)name, (void)value;
    return 0;
}
static int f_reply(vg_http_request *r, int status, const char *ct, const void *data, size_t len)
{
    (void)ct, (void)data, (void)len;
    fr(r)->replies++;
    fr(r)->status = status;
    return 0;
}

static const vg_http_ops ops = {.query_string = f_query_string,
                                .query = f_query,
                                .header = f_header,
                                .body = f_body,
                                .set_header = f_set_header,
                                .reply = f_reply};

/* The host's JSON reader, at the largest depth the core accepts (the worst
 * case for the handler's stack). */
static json_t *f_json_parse(const vg_host *h, const char *buf, size_t len, size_t flags,
                            json_error_t *err)
{
    (void)h;
    return vg_json_parse(buf, len, flags, 128, err);
}
static const vg_host host = {.json_parse = f_json_parse};

static const char *const types[] = {"info", "warning", "error", "success", NULL};
static const char *const statuses[] = {"up", "down", "degraded", "unknown", NULL};

static void expect_refusal(fake_req *q, int rc)
{
    if (rc < 0 ? (q->replies != 1 || q->status < 400 || q->status > 415) : q->replies != 0)
        abort();
}

static void *run(void *arg)
{
    fake_req *base = arg;
    rest_state st = {.host = &host, .max_body = 65536};
    /* GET /api/notifications */
    {
        fake_req q = *base;
        rest_req rq = {.st = &st, .req = &q.pub};
        static const char *const allowed[] = {"limit",  "unread", "type", "since",
                                              "before", "q",      NULL};
        long long limit = 0, since = 0, before = 0;
        bool unread = false, has = false;
        const char *type = NULL;
        char *text = NULL;
        int rc = rest_query_check(&rq, allowed);
        if (rc == 0 && (rc = rest_query_int(&rq, "limit", 50, 1, 500, &limit, NULL)) == 0 &&
            (limit < 1 || limit > 500))
            abort();
        if (rc == 0)
            rc = rest_query_bool(&rq, "unread", &unread, &has);
        if (rc == 0)
            rc = rest_query_enum(&rq, "type", types, &type);
        if (rc == 0 &&
            (rc = rest_query_int(&rq, "since", 0, 0, REST_MAX_SAFE_INT, &since, &has)) == 0 &&
            (since < 0 || since > REST_MAX_SAFE_INT))
            abort();
        if (rc == 0)
            rc = rest_query_int(&rq, "before", 0, 1, REST_MAX_SAFE_INT, &before, &has);
        if (rc == 0 && (rc = rest_query_string(&rq, "q", 200, &text)) == 0 && text &&
            !rest_valid_text(text, strlen(text), 200))
            abort();
        free(text);
        expect_refusal(&q, rc);
    }
    /* GET /api/datasets */
    {
        fake_req q = *base;
        rest_req rq = {.st = &st, .req = &q.pub};
        static const char *const allowed[] = {"portal", "status", "organization", "q",
                                              "sort",   "limit",  "offset",       NULL};
        long long offset = 0;
        const char *status = NULL;
        char *portal = NULL, *org = NULL;
        int rc = rest_query_check(&rq, allowed);
        if (rc == 0)
            rc = rest_query_int(&rq, "offset", 0, 0, 100000000, &offset, NULL);
        if (rc == 0)
            rc = rest_query_enum(&rq, "status", statuses, &status);
        if (rc == 0)
            rc = rest_query_string(&rq, "portal", 100, &portal);
        if (rc == 0)
            rc = rest_query_string(&rq, "organization", 200, &org);
        free(portal);
        free(org);
        expect_refusal(&q, rc);
    }
    /* A route that takes no parameters, then the JSON body (POST routes). */
    {
        fake_req q = *base;
        rest_req rq = {.st = &st, .req = &q.pub};
        int rc = rest_query_check(&rq, NULL);
        json_t *body = NULL;
        if (rc == 0 && (rc = rest_read_body(&rq, &body)) == 0 && body && !json_is_object(body))
            abort();
        json_decref(body);
        expect_refusal(&q, rc);
    }
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    fake_req q = {.pub.ops = &ops, .qs = in};
    char *sep = memchr(in, 0x1e, size);
    if (sep) {
        *sep = '\0';
        q.body = sep + 1;
        q.body_len = size - (size_t)(sep + 1 - in);
    }
    fuzz_on_handler_stack(run, &q);
    free(in);
    return 0;
}
