/* Keeps docs/api.md true: every ```http request block in it is sent, in
 * order, to a server running reststub + rest with the configuration the doc
 * describes, and the answer is compared with the ```http response block that
 * follows it: the status, the headers shown (ETag only for presence), and the
 * body. JSON bodies must have every key shown, with the same JSON type; error
 * bodies must have the same code and message; text bodies (/metrics) must
 * contain every "# TYPE" line shown. */
#include "rest_test_util.h"

#include <signal.h>

#include <stdbool.h>
#include <strings.h>

typedef struct http_block {
    char *first;    /* request or status line */
    char **headers; /* "Name: value" */
    size_t nheaders;
    char *body; /* may be "" */
    int line;   /* line of the block in the doc */
} http_block;

static void block_free(http_block *b)
{
    free(b->first);
    for (size_t i = 0; i < b->nheaders; i++)
        free(b->headers[i]);
    free(b->headers);
    free(b->body);
}

/* Parse the text of one ```http block. */
static void block_parse(const char *text, int line, http_block *b)
{
    memset(b, 0, sizeof *b);
    b->line = line;
    const char *p = text;
    const char *nl = strchr(p, '\n');
    b->first = strndup(p, nl ? (size_t)(nl - p) : strlen(p));
    p = nl ? nl + 1 : p + strlen(p);
    b->headers = calloc(32, sizeof *b->headers);
    while (*p && *p != '\n') {
        nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (b->nheaders < 32)
            b->headers[b->nheaders++] = strndup(p, n);
        p = nl ? nl + 1 : p + n;
    }
    if (*p == '\n')
        p++;
    b->body = strdup(p);
    size_t bl = strlen(b->body);
    while (bl && b->body[bl - 1] == '\n')
        b->body[--bl] = '\0';
}

/* Every key of `doc` exists in `got` with the same JSON type; arrays compare
 * their first items. Fails the test with the path of the first difference. */
static void shape_match(const json_t *doc, const json_t *got, const char *where, int line)
{
    int dt = json_typeof(doc), gt = json_typeof(got);
    bool same = dt == gt || (json_is_boolean(doc) && json_is_boolean(got)) ||
                (json_is_number(doc) && json_is_number(got));
    /* A null in the doc stands for "may be null": accept anything. */
    if (!json_is_null(doc) && !same)
        fail_msg("docs/api.md:%d: %s has type %d in the doc but %d in the answer", line, where, dt,
                 gt);
    if (json_is_object(doc)) {
        const char *k;
        json_t *v;
        json_object_foreach ((json_t *)doc, k, v) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.%s", where, k);
            json_t *g = json_object_get(got, k);
            if (!g)
                fail_msg("docs/api.md:%d: %s is missing from the answer", line, sub);
            shape_match(v, g, sub, line);
        }
    } else if (json_is_array(doc) && json_array_size(doc) && json_array_size(got)) {
        char sub[256];
        snprintf(sub, sizeof sub, "%s[0]", where);
        shape_match(json_array_get(doc, 0), json_array_get(got, 0), sub, line);
    } else if (json_is_array(doc) && json_array_size(doc) && !json_array_size(got)) {
        fail_msg("docs/api.md:%d: %s is empty in the answer", line, where);
    }
}

static void check_pair(const vgt_server *s, const http_block *rq, const http_block *rs)
{
    char method[16], path[1024];
    if (sscanf(rq->first, "%15s %1023s", method, path) != 2)
        fail_msg("docs/api.md:%d: bad request line '%s'", rq->line, rq->first);
    int want = 0;
    if (sscanf(rs->first, "HTTP/1.1 %d", &want) != 1)
        fail_msg("docs/api.md:%d: bad status line '%s'", rs->line, rs->first);
    const char *hdrs[34];
    size_t nh = 0;
    for (size_t i = 0; i < rq->nheaders && nh < 32; i++)
        hdrs[nh++] = rq->headers[i];
    bool has_ct = false;
    for (size_t i = 0; i < rq->nheaders; i++)
        if (!strncasecmp(rq->headers[i], "Content-Type:", 13))
            has_ct = true;
    if (*rq->body && !has_ct)
        hdrs[nh++] = "Content-Type:"; /* send exactly what the doc shows */
    hdrs[nh] = NULL;
    vgt_response r;
    rt_req(s, method, path, hdrs, *rq->body ? rq->body : NULL, &r);
    if (r.status != want)
        fail_msg("docs/api.md:%d: %s %s answered %ld, the doc says %d: %.300s", rq->line, method,
                 path, r.status, want, r.body);

    for (size_t i = 0; i < rs->nheaders; i++) {
        const char *h = rs->headers[i];
        const char *colon = strchr(h, ':');
        if (!colon)
            fail_msg("docs/api.md:%d: bad header line '%s'", rs->line, h);
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(colon - h), h);
        const char *value = colon + 1;
        while (*value == ' ')
            value++;
        char *got = vgt_header(&r, name);
        if (!got)
            fail_msg("docs/api.md:%d: %s %s: no %s header", rs->line, method, path, name);
        if (!strcasecmp(name, "Content-Type")) {
            if (strncmp(got, value, strcspn(value, ";")))
                fail_msg("docs/api.md:%d: Content-Type '%s', the doc says '%s'", rs->line, got,
                         value);
        } else if (strcasecmp(name, "ETag") && strcmp(got, value)) {
            fail_msg("docs/api.md:%d: %s is '%s', the doc says '%s'", rs->line, name, got, value);
        }
        free(got);
    }

    if (*rs->body) {
        json_error_t e;
        json_t *doc = json_loads(rs->body, 0, &e);
        if (doc) {
            json_t *got = rt_json(&r);
            shape_match(doc, got, "body", rs->line);
            json_t *de = json_object_get(doc, "error");
            if (de) {
                json_t *ge = json_object_get(got, "error");
                const char *dm = json_string_value(json_object_get(de, "message"));
                const char *gm = json_string_value(json_object_get(ge, "message"));
                if (!json_equal(json_object_get(de, "code"), json_object_get(ge, "code")) || !dm ||
                    !gm || strcmp(dm, gm))
                    fail_msg("docs/api.md:%d: error %s differs from the answer %s", rs->line,
                             rs->body, r.body);
            }
            json_decref(got);
            json_decref(doc);
        } else {
            /* Text: every TYPE line shown must be in the answer. */
            char *copy = strdup(rs->body), *save = NULL;
            for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
                if (!strncmp(l, "# TYPE ", 7) && !strstr(r.body, l))
                    fail_msg("docs/api.md:%d: '%s' not in the answer", rs->line, l);
            free(copy);
        }
    } else if (r.body_len && want != 204 && want != 304) {
        fail_msg("docs/api.md:%d: the doc shows no body, the answer has one", rs->line);
    }
    vgt_response_free(&r);
}

static vgt_server s;

/* The configuration docs/api.md describes. */
static int setup(void **state)
{
    (void)state;
    return rt_start(&s, "reststub, rest", "admin_token = s3cret",
                    "[rest]\nallowed_origins = https://dash.example.org\n");
}

/* A clean stop (SIGTERM, exit 0) also lets ASan's leak check run in sanitizer builds. */
static int teardown(void **state)
{
    (void)state;
    return vgt_server_stop_clean(&s);
}

static void test_doc_examples(void **state)
{
    (void)state;
    const char *src = getenv("VIGIA_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/docs/api.md", src ? src : ".");
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    size_t cap = 1 << 20;
    char *doc = malloc(cap);
    size_t len = fread(doc, 1, cap - 1, f);
    fclose(f);
    doc[len] = '\0';

    http_block pending;
    bool have_request = false;
    int pairs = 0, line;
    const char *p = doc;
    while ((p = strstr(p, "```http\n"))) {
        line = 1;
        for (const char *q = doc; q < p; q++)
            line += *q == '\n';
        const char *start = p + 8;
        const char *end = strstr(start, "\n```");
        if (!end)
            fail_msg("docs/api.md:%d: unterminated block", line);
        char *text = strndup(start, (size_t)(end - start) + 1);
        http_block b;
        block_parse(text, line, &b);
        free(text);
        bool is_response = !strncmp(b.first, "HTTP/", 5);
        if (!is_response) {
            if (have_request)
                fail_msg("docs/api.md:%d: request without a response", pending.line);
            pending = b;
            have_request = true;
        } else {
            if (!have_request)
                fail_msg("docs/api.md:%d: response without a request", b.line);
            check_pair(&s, &pending, &b);
            block_free(&pending);
            block_free(&b);
            have_request = false;
            pairs++;
        }
        p = end + 4;
    }
    free(doc);
    /* Every route of the API has at least one example. */
    assert_true(pairs >= 30);
    static const char *const routes[] = {"GET /api/notifications",
                                         "POST /api/notifications/1/read",
                                         "POST /api/notifications/read-all",
                                         "POST /api/notifications/test",
                                         "POST /api/notifications/clear",
                                         "GET /api/datasets?",
                                         "GET /api/datasets/ds-00003 ",
                                         "GET /api/datasets/ds-00003/history",
                                         "GET /api/portals",
                                         "POST /api/monitor/run",
                                         "GET /api/websockets/status",
                                         "GET /api/stats",
                                         "GET /metrics"};
    f = fopen(path, "r");
    doc = malloc(cap);
    len = fread(doc, 1, cap - 1, f);
    fclose(f);
    doc[len] = '\0';
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (!strstr(doc, routes[i]))
            fail_msg("docs/api.md has no example for %s", routes[i]);
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_doc_examples)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
