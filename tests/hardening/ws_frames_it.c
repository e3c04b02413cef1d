/* Issue 14, item 6: civetweb 1.15 allocates a WebSocket frame's declared
 * length up front and keeps reading into it; that cannot be fixed inside
 * civetweb. What the core bounds: one address holds at most
 * max_conns_per_ip connections, WebSockets included, and the connection
 * watchdog closes a WebSocket that has received more than its message limit
 * without completing a frame (socket byte counters, every 50 ms). This
 * measures the exposure for docs/security.md: N connections from one
 * address, each declaring a 1 GiB frame and streaming up to STREAM_MIB of it. */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "hard.h"
#include "vgt.h"

#define CAP 8
#define N 12
#define STREAM_MIB 64

static vgt_server srv;

static int setup(void **state)
{
    (void)state;
    return vgt_server_start(&srv, "notifications, broker", "max_conns_per_ip = 8\n", NULL);
}

static int teardown(void **state)
{
    (void)state;
    return vgt_server_stop_clean(&srv);
}

static long status_mib(const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)srv.pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, strlen(field)))
            kb = atol(line + strlen(field));
    if (f)
        fclose(f);
    return kb / 1024;
}

static int closed_within(int fd, int ms)
{
    double end = hard_now_ms() + ms;
    char buf[4096];
    while (hard_now_ms() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) > 0 && recv(fd, buf, sizeof buf, MSG_DONTWAIT) <= 0)
            return 1;
    }
    return 0;
}

static void test_huge_frame_headers(void **state)
{
    (void)state;
    long before = status_mib("VmRSS:"), peak_before = status_mib("VmHWM:");
    int fds[N], upgraded = 0, refused = 0;
    char req[512], buf[2048];
    snprintf(req, sizeof req,
             "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
             "Upgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
             srv.port);
    for (int i = 0; i < N; i++) {
        fds[i] = hard_connect("127.0.0.6", srv.port);
        assert_true(fds[i] >= 0);
    }
    usleep(200 * 1000);
    /* All upgrade requests first (an idle connection is closed after
     * request_timeout), then the answers. */
    for (int i = 0; i < N; i++)
        (void)hard_send(fds[i], req, strlen(req));
    for (int i = 0; i < N; i++) {
        hard_read(fds[i], buf, sizeof buf, 300);
        if (!strncmp(buf, "HTTP/1.1 101", 12)) {
            upgraded++;
        } else {
            refused += !strncmp(buf, "HTTP/1.1 503", 12) && strstr(buf, "max_conns_per_ip");
            close(fds[i]);
            fds[i] = -1;
        }
    }
    /* A binary frame declaring 1 GiB, masked, then STREAM_MIB of it. */
    unsigned char hdr[14] = {0x82, 0x80 | 127, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 2, 3, 4};
    char *chunk = calloc(1, 1 << 20);
    long sent_mib = 0;
    int cut = 0;
    for (int i = 0; i < N; i++) {
        if (fds[i] < 0)
            continue;
        hard_send(fds[i], (const char *)hdr, sizeof hdr);
        int m = 0;
        for (; m < STREAM_MIB; m++)
            if (hard_send(fds[i], chunk, 1 << 20) != 0)
                break;
        sent_mib += m;
    }
    free(chunk);
    /* Closed by the server mid-frame: EOF or reset within a second. */
    for (int i = 0; i < N; i++)
        if (fds[i] >= 0)
            cut += closed_within(fds[i], 1500);
    usleep(1000 * 1000);
    long after = status_mib("VmRSS:"), peak = status_mib("VmHWM:");
    printf("# %d WebSocket connections from one address (max_conns_per_ip = %d): %d upgraded, "
           "%d refused; each declared a 1 GiB frame and tried to send %d MiB of it: %ld MiB "
           "accepted in all, %d cut by the server mid-frame; server RSS %ld -> %ld MiB"
           "; peak RSS %ld -> %ld MiB (+%ld MiB, %.1f MiB per upgraded connection)\n",
           N, CAP, upgraded, refused, STREAM_MIB, sent_mib, cut, before, after, peak_before, peak,
           peak - peak_before, upgraded ? (double)(peak - peak_before) / upgraded : 0.0);
    for (int i = 0; i < N; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    char *log = vgt_log_read(&srv);
    for (char *l = log ? strtok(log, "\n") : NULL; l; l = strtok(NULL, "\n"))
        if (strstr(l, "refused") || strstr(l, "/socket.io"))
            printf("# log: %s\n", l);
    free(log);
    assert_true(upgraded <= CAP);
    assert_int_equal(upgraded + refused, N);
    /* Each one is cut soon after its message limit (the broker's 1 MB),
     * long before the 1 GiB it declared or the 64 MiB it tried. */
    assert_int_equal(cut, upgraded);
    /* Under ASan the allocator's shadow and quarantine for civetweb's frame
     * buffers dominate RSS: the bound is for real builds. */
    if (!getenv("HARD_SANITIZED"))
        assert_true(peak - peak_before <= (long)upgraded * 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_huge_frame_headers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
