/* Issue 14, item 2: slow clients must not starve the server (threads = 64).
 *   - a body or headers trickled a byte at a time are cut at request_deadline
 *     (civetweb's request_timeout bounds each read, not the request);
 *   - one address holds at most max_conns_per_ip connections; beyond, 503 +
 *     Retry-After at once;
 *   - under 70 slow bodies and under 300 slowloris connections (from other
 *     addresses than the probe's) GET /api/health answers every probe, well
 *     within the probe's 5 s (before: 0 of 20, or 4 of 20 timed out).
 * The latency target (p99 under 100 ms) depends on the machine's load, so the
 * test prints p50/p99/max for docs/security.md and asserts availability with
 * a margin a loaded CI machine keeps (p99 under 1.5 s); VGT_STRICT_LATENCY=1
 * asserts the 100 ms target itself on a quiet machine. */
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
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

#define PROBE "127.0.0.3"
#define DEADLINE_MS 3000

static vgt_server srv;

static int setup(void **state)
{
    (void)state;
    return vgt_server_start(&srv, "notifications, rest",
                            "request_deadline = 3s\nmax_conns_per_ip = 32\n", NULL);
}

static int teardown(void **state)
{
    (void)state;
    return vgt_server_stop_clean(&srv);
}

/* Milliseconds until the server closes `fd` while we send one byte of `drip`
 * every `every_ms`; gives up after `limit_ms`. */
static double time_to_close(int fd, char drip, int every_ms, int limit_ms)
{
    double t0 = hard_now_ms();
    while (hard_now_ms() - t0 < limit_ms) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, every_ms) > 0) {
            char buf[512];
            if (recv(fd, buf, sizeof buf, 0) <= 0)
                return hard_now_ms() - t0;
        }
        if (send(fd, &drip, 1, MSG_NOSIGNAL) < 0)
            return hard_now_ms() - t0;
    }
    return -1;
}

static void test_trickled_body_is_cut_at_the_deadline(void **state)
{
    (void)state;
    int fd = hard_connect("127.0.0.2", srv.port);
    assert_true(fd >= 0);
    char head[256];
    snprintf(head, sizeof head,
             "POST /api/notifications/test HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
             "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
             srv.port);
    assert_int_equal(hard_send(fd, head, strlen(head)), 0);
    double ms = time_to_close(fd, ' ', 500, 20000);
    close(fd);
    printf("# trickled body (1 byte / 500 ms): closed after %.0f ms (request_deadline %d ms)\n", ms,
           DEADLINE_MS);
    assert_true(ms > 0);
    assert_true(ms < DEADLINE_MS + 1500);
}

static void test_trickled_headers_are_cut_at_the_deadline(void **state)
{
    (void)state;
    int fd = hard_connect("127.0.0.2", srv.port);
    assert_true(fd >= 0);
    const char *start = "GET /api/health HTTP/1.1\r\nX-a: ";
    assert_int_equal(hard_send(fd, start, strlen(start)), 0);
    double ms = time_to_close(fd, 'a', 500, 20000);
    close(fd);
    printf("# trickled headers (1 byte / 500 ms): closed after %.0f ms\n", ms);
    assert_true(ms > 0);
    assert_true(ms < DEADLINE_MS + 1500);
}

static void test_per_address_cap(void **state)
{
    (void)state;
    enum { N = 40 };
    int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = hard_connect("127.0.0.4", srv.port);
    usleep(300 * 1000);
    int refused = 0, retry_after = 0;
    for (int i = 0; i < N; i++) {
        assert_true(fds[i] >= 0);
        struct pollfd p = {.fd = fds[i], .events = POLLIN};
        if (poll(&p, 1, 0) > 0) {
            char buf[1024];
            hard_read(fds[i], buf, sizeof buf, 500);
            if (strncmp(buf, "HTTP/1.1 503", 12) == 0) {
                refused++;
                retry_after +=
                    strstr(buf, "Retry-After: ") != NULL && strstr(buf, "max_conns_per_ip") != NULL;
            }
        }
    }
    printf("# %d idle connections from one address: %d refused with 503\n", N, refused);
    assert_int_equal(refused, N - 32);
    assert_int_equal(retry_after, refused);
    /* Another address is not affected. */
    char buf[2048];
    char req[128];
    snprintf(req, sizeof req, "GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", srv.port);
    assert_int_equal(hard_request(PROBE, srv.port, req, buf, sizeof buf, 2000, NULL), 200);
    for (int i = 0; i < N; i++)
        close(fds[i]);
}

/* ---- attackers: N connections that trickle bytes and reconnect when cut ---- */

typedef struct attack {
    const char *srcs[4];
    int nsrc;
    int n;
    int every_ms;
    const char *start; /* sent on (re)connect; then one byte of `drip` per tick */
    char drip;
    atomic_bool stop;
    atomic_int reconnects;
    pthread_t thread;
} attack;

static void *attack_run(void *arg)
{
    attack *a = arg;
    int *fds = calloc((size_t)a->n, sizeof *fds);
    for (int i = 0; i < a->n; i++) {
        fds[i] = hard_connect(a->srcs[i % a->nsrc], srv.port);
        if (fds[i] >= 0)
            hard_send(fds[i], a->start, strlen(a->start));
    }
    while (!atomic_load(&a->stop)) {
        double t0 = hard_now_ms();
        for (int i = 0; i < a->n && !atomic_load(&a->stop); i++) {
            if (fds[i] >= 0 && send(fds[i], &a->drip, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1)
                continue;
            if (fds[i] >= 0)
                close(fds[i]);
            fds[i] = hard_connect(a->srcs[i % a->nsrc], srv.port);
            if (fds[i] >= 0)
                hard_send(fds[i], a->start, strlen(a->start));
            atomic_fetch_add(&a->reconnects, 1);
        }
        /* Answers (503, 408) and closes show up as readable: drain them so the
         * next send notices a closed peer. */
        for (int i = 0; i < a->n; i++) {
            struct pollfd p = {.fd = fds[i], .events = POLLIN};
            if (fds[i] >= 0 && poll(&p, 1, 0) > 0) {
                char buf[1024];
                if (recv(fds[i], buf, sizeof buf, MSG_DONTWAIT) <= 0) {
                    close(fds[i]);
                    fds[i] = -1;
                }
            }
        }
        double left = a->every_ms - (hard_now_ms() - t0);
        if (left > 0)
            usleep((useconds_t)(left * 1000));
    }
    for (int i = 0; i < a->n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
    return NULL;
}

static void probe_under(attack *a, const char *what)
{
    atomic_init(&a->stop, false);
    atomic_init(&a->reconnects, 0);
    assert_int_equal(pthread_create(&a->thread, NULL, attack_run, a), 0);
    sleep(1); /* the attackers are in place */
    double p50, p99, max;
    int ok = hard_health_p99(PROBE, srv.port, 300, 20, &p50, &p99, &max);
    atomic_store(&a->stop, true);
    pthread_join(a->thread, NULL);
    printf("# /api/health under %s: %d/300 answered, p50 %.2f ms, p99 %.2f ms, max %.2f ms "
           "(attacker reconnects: %d)\n",
           what, ok, p50, p99, max, atomic_load(&a->reconnects));
    assert_int_equal(ok, 300);
    const char *strict = getenv("VGT_STRICT_LATENCY");
    assert_true(p99 < (strict && strict[0] == '1' ? 100.0 : 1500.0));
}

static void test_health_under_slow_bodies(void **state)
{
    (void)state;
    static char start[256];
    snprintf(start, sizeof start,
             "POST /api/notifications/test HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
             "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n",
             srv.port);
    attack a = {
        .srcs = {"127.0.0.2"}, .nsrc = 1, .n = 70, .every_ms = 2000, .start = start, .drip = ' '};
    probe_under(&a, "70 slow bodies (1 byte / 2 s each)");
}

/* From 3 addresses, each under the cap: only the pressure rule (the last
 * workers are kept free by closing the oldest unfinished requests) helps. */
static void test_health_under_slow_bodies_from_three_addresses(void **state)
{
    (void)state;
    static char start[256];
    snprintf(start, sizeof start,
             "POST /api/notifications/test HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
             "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n",
             srv.port);
    attack a = {.srcs = {"127.0.0.2", "127.0.0.4", "127.0.0.5"},
                .nsrc = 3,
                .n = 70,
                .every_ms = 2000,
                .start = start,
                .drip = ' '};
    probe_under(&a, "70 slow bodies from 3 addresses (23-24 each, under the cap)");
}

static void test_health_under_slowloris(void **state)
{
    (void)state;
    attack a = {.srcs = {"127.0.0.5"},
                .nsrc = 1,
                .n = 300,
                .every_ms = 2000,
                .start = "GET /api/health HTTP/1.1\r\nX-a: ",
                .drip = 'a'};
    probe_under(&a, "300 slowloris connections (1 header byte / 2 s each)");
}

static void test_health_under_slowloris_from_four_addresses(void **state)
{
    (void)state;
    attack a = {.srcs = {"127.0.0.2", "127.0.0.4", "127.0.0.5", "127.0.0.6"},
                .nsrc = 4,
                .n = 300,
                .every_ms = 2000,
                .start = "GET /api/health HTTP/1.1\r\nX-a: ",
                .drip = 'a'};
    probe_under(&a, "300 slowloris connections from 4 addresses");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trickled_body_is_cut_at_the_deadline),
        cmocka_unit_test(test_trickled_headers_are_cut_at_the_deadline),
        cmocka_unit_test(test_per_address_cap),
        cmocka_unit_test(test_health_under_slow_bodies),
        cmocka_unit_test(test_health_under_slow_bodies_from_three_addresses),
        cmocka_unit_test(test_health_under_slowloris),
        cmocka_unit_test(test_health_under_slowloris_from_four_addresses),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
