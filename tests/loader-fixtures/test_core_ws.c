/* The core's WebSocket glue through a raw client: a connect handler's refusal
 * reaches the client as an HTTP answer, messages are reassembled from
 * fragments, oversize messages close with 1009, CLOSE is answered, and the
 * server keeps serving others. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "vgt.h"

static vgt_server srv;

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Send the upgrade; returns the whole response head (and any bytes after). */
static int handshake(int fd, const char *query, char *resp, size_t size)
{
    char req[512];
    int n =
        snprintf(req, sizeof req,
                 "GET /fixture/lf_good/ws%s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n",
                 query);
    assert_int_equal(write(fd, req, (size_t)n), n);
    size_t got = 0;
    while (got < size - 1) {
        ssize_t r = read(fd, resp + got, size - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        resp[got] = '\0';
        if (strstr(resp, "\r\n\r\n") &&
            (strncmp(resp, "HTTP/1.1 101", 12) == 0 || strstr(resp, "}")))
            break;
    }
    resp[got] = '\0';
    return (int)got;
}

static void send_frame(int fd, int fin, int opcode, const char *data, size_t len)
{
    unsigned char buf[256];
    size_t h = 0;
    buf[h++] = (unsigned char)((fin ? 0x80 : 0) | opcode);
    assert_true(len < 126);
    buf[h++] = (unsigned char)(0x80 | len);
    const unsigned char mask[4] = {1, 2, 3, 4};
    memcpy(buf + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < len; i++)
        buf[h + i] = (unsigned char)data[i] ^ mask[i % 4];
    assert_int_equal(write(fd, buf, h + len), (ssize_t)(h + len));
}

/* Read one server frame (unmasked, short); returns opcode, payload in out. */
static int read_frame(int fd, char *out, size_t *len)
{
    unsigned char hdr[2];
    if (recv(fd, hdr, 2, MSG_WAITALL) != 2)
        return -1;
    size_t n = hdr[1] & 0x7f;
    if (n == 126) {
        unsigned char ext[2];
        if (recv(fd, ext, 2, MSG_WAITALL) != 2)
            return -1;
        n = (size_t)ext[0] << 8 | ext[1];
    }
    if (n && recv(fd, out, n, MSG_WAITALL) != (ssize_t)n)
        return -1;
    out[n] = '\0';
    *len = n;
    return hdr[0] & 0x0f;
}

/* Skip civetweb's PINGs (ping-pong is on). */
static int read_data_frame(int fd, char *out, size_t *len)
{
    for (;;) {
        int op = read_frame(fd, out, len);
        if (op != 0x9)
            return op;
    }
}

static void test_refusal_is_an_http_answer(void **state)
{
    (void)state;
    int fd = dial();
    char resp[2048];
    handshake(fd, "", resp, sizeof resp);
    if (strncmp(resp, "HTTP/1.1 403", 12) != 0)
        fail_msg("expected a 403 answer, got: %s", resp);
    assert_non_null(strstr(resp, "add ?ok=1"));
    close(fd);
}

static void test_echo_and_fragments(void **state)
{
    (void)state;
    int fd = dial();
    char resp[2048];
    handshake(fd, "?ok=1", resp, sizeof resp);
    assert_int_equal(strncmp(resp, "HTTP/1.1 101", 12), 0);
    char out[256];
    size_t len;
    send_frame(fd, 1, 0x1, "hola", 4);
    assert_int_equal(read_data_frame(fd, out, &len), 0x1);
    assert_string_equal(out, "hola");
    /* Three fragments with a PING in the middle: one message comes back. */
    send_frame(fd, 0, 0x1, "Hel", 3);
    send_frame(fd, 1, 0x9, "p", 1);
    send_frame(fd, 0, 0x0, "lo ", 3);
    send_frame(fd, 1, 0x0, "World", 5);
    int op;
    do {
        op = read_frame(fd, out, &len);
    } while (op == 0xA || op == 0x9); /* the PONG for our PING */
    assert_int_equal(op, 0x1);
    assert_string_equal(out, "Hello World");
    /* CLOSE is answered with CLOSE. */
    send_frame(fd, 1, 0x8, "\x03\xe8", 2);
    assert_int_equal(read_data_frame(fd, out, &len), 0x8);
    assert_int_equal((unsigned char)out[0] << 8 | (unsigned char)out[1], 1000);
    close(fd);
}

static void test_oversize_and_protocol_errors(void **state)
{
    (void)state;
    char resp[2048], out[256];
    size_t len;
    int fd = dial();
    handshake(fd, "?ok=1", resp, sizeof resp);
    char big[100];
    memset(big, 'x', sizeof big);
    send_frame(fd, 1, 0x1, big, sizeof big); /* max_message is 64 */
    assert_int_equal(read_data_frame(fd, out, &len), 0x8);
    assert_int_equal((unsigned char)out[0] << 8 | (unsigned char)out[1], 1009);
    close(fd);

    fd = dial();
    handshake(fd, "?ok=1", resp, sizeof resp);
    /* Fragments adding up past the cap. */
    for (int i = 0; i < 3; i++)
        send_frame(fd, 0, i ? 0x0 : 0x1, big, 30);
    assert_int_equal(read_data_frame(fd, out, &len), 0x8);
    assert_int_equal((unsigned char)out[0] << 8 | (unsigned char)out[1], 1009);
    close(fd);

    fd = dial();
    handshake(fd, "?ok=1", resp, sizeof resp);
    send_frame(fd, 1, 0x0, "orphan", 6); /* continuation without a message */
    assert_int_equal(read_data_frame(fd, out, &len), 0x8);
    assert_int_equal((unsigned char)out[0] << 8 | (unsigned char)out[1], 1002);
    close(fd);

    /* The server is still healthy. */
    vgt_response r;
    assert_int_equal(vgt_get(&srv, "/api/health", &r), 0);
    assert_int_equal(r.status, 200);
    vgt_response_free(&r);
    int st = vgt_server_signal(&srv, SIGTERM);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static int setup(void **state)
{
    (void)state;
    setenv("VIGIA_PLUGIN_DIR", getenv("LOADER_FIXTURE_DIR"), 1);
    return vgt_server_start(&srv, "lf_good", NULL, NULL);
}

static int teardown(void **state)
{
    (void)state;
    vgt_server_cleanup(&srv);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusal_is_an_http_answer),
        cmocka_unit_test(test_echo_and_fragments),
        cmocka_unit_test(test_oversize_and_protocol_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
