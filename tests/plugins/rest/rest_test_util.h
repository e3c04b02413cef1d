/* Helpers shared by the rest plugin's integration tests (header-only, static). */
#ifndef REST_TEST_UTIL_H
#define REST_TEST_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "vgt.h"

#define TOKEN_HDR "Authorization: Bearer s3cret"

/* Parse a response body as JSON; fails the test when it is not. */
static inline json_t *rt_json(const vgt_response *r)
{
    json_error_t e;
    json_t *j = json_loads(r->body ? r->body : "", 0, &e);
    if (!j)
        fail_msg("body is not JSON (%s): %.300s", e.text, r->body ? r->body : "(null)");
    return j;
}

/* status + {"error":{"code","message"}} with `code` and a message containing `needle`. */
static inline void rt_expect_error(const vgt_response *r, long status, const char *code,
                                   const char *needle)
{
    if (r->status != status)
        fail_msg("expected %ld, got %ld: %.300s", status, r->status, r->body);
    json_t *j = rt_json(r);
    json_t *e = json_object_get(j, "error");
    const char *c = json_string_value(json_object_get(e, "code"));
    const char *m = json_string_value(json_object_get(e, "message"));
    if (!c || !m)
        fail_msg("no error object: %.300s", r->body);
    if (code && strcmp(c, code))
        fail_msg("expected code %s, got %s (%s)", code, c, m);
    if (needle && !strstr(m, needle))
        fail_msg("message '%s' does not mention '%s'", m, needle);
    json_decref(j);
}

/* GET/POST with optional extra headers; fails the test on transport errors. */
static inline void rt_req(const vgt_server *s, const char *method, const char *path,
                          const char *const *headers, const char *body, vgt_response *r)
{
    if (vgt_http(s, method, path, headers, body, body ? strlen(body) : 0, r) != 0)
        fail_msg("%s %s: request failed", method, path);
}

/* One request that must answer `status` with a JSON body: the body (new reference). */
static inline json_t *rt_req_json(const vgt_server *s, const char *method, const char *path,
                                  const char *const *headers, const char *body, long status)
{
    vgt_response r;
    rt_req(s, method, path, headers, body, &r);
    if (r.status != status)
        fail_msg("%s %s: expected %ld, got %ld: %.300s", method, path, status, r.status, r.body);
    json_t *j = rt_json(&r);
    vgt_response_free(&r);
    return j;
}

/* One request that must fail: rt_req, then rt_expect_error. */
static inline void rt_req_error(const vgt_server *s, const char *method, const char *path,
                                const char *const *headers, const char *body, long status,
                                const char *code, const char *needle)
{
    vgt_response r;
    rt_req(s, method, path, headers, body, &r);
    rt_expect_error(&r, status, code, needle);
    vgt_response_free(&r);
}

/* vgt_server_start that never leaves a process behind: cmocka skips the group
 * teardown when the setup fails. */
static inline int rt_start(vgt_server *s, const char *plugins, const char *server_extra,
                           const char *ini_extra)
{
    if (vgt_server_start(s, plugins, server_extra, ini_extra) == 0)
        return 0;
    vgt_server_cleanup(s);
    return -1;
}

static inline void rt_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Send raw bytes to the server and read the answer until close or timeout.
 * Returns a malloc'd NUL-terminated reply ("" when the server just closed). */
static inline char *rt_raw(int port, const char *data, size_t len, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return NULL;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return NULL;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, data + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the server may close early on an oversize request */
        off += (size_t)n;
    }
    size_t cap = 4096, got = 0;
    char *out = malloc(cap);
    for (int waited = 0; out && waited < timeout_ms;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, 100);
        if (pr == 0) {
            waited += 100;
            continue;
        }
        if (got + 1024 > cap) {
            char *no = realloc(out, cap * 2);
            if (!no)
                break;
            out = no;
            cap *= 2;
        }
        ssize_t n = recv(fd, out + got, cap - got - 1, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (out)
        out[got] = '\0';
    return out;
}

/* Status code of a raw HTTP reply, 0 when there is none. */
static inline int rt_raw_status(const char *reply)
{
    int status = 0;
    if (reply && sscanf(reply, "HTTP/1.%*d %d", &status) != 1)
        status = 0;
    return status;
}

#endif
