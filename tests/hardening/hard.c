#include "hard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

double hard_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

int hard_connect(const char *src, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    if (src) {
        inet_pton(AF_INET, src, &sa.sin_addr);
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            close(fd);
            return -1;
        }
    }
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    if (connect(fd, (struct sockaddr *)&to, sizeof to) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

int hard_send(int fd, const char *s, size_t len)
{
    while (len) {
        ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        s += n;
        len -= (size_t)n;
    }
    return 0;
}

size_t hard_read(int fd, char *buf, size_t max, int timeout_ms)
{
    size_t got = 0;
    double end = hard_now_ms() + timeout_ms;
    while (got + 1 < max) {
        int left = (int)(end - hard_now_ms());
        if (left <= 0)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, left) <= 0)
            break;
        ssize_t n = recv(fd, buf + got, max - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        /* A complete answer with Content-Length: stop early (keep-alive). */
        buf[got] = '\0';
        char *hdr_end = strstr(buf, "\r\n\r\n");
        char *cl = hdr_end ? strcasestr(buf, "\r\nContent-Length:") : NULL;
        if (cl && cl < hdr_end) {
            size_t want = (size_t)(hdr_end + 4 - buf) + (size_t)strtoul(cl + 17, NULL, 10);
            if (got >= want)
                break;
        }
    }
    buf[got] = '\0';
    return got;
}

int hard_request(const char *src, int port, const char *req, char *buf, size_t max, int timeout_ms,
                 double *ms)
{
    double t0 = hard_now_ms();
    buf[0] = '\0';
    int fd = hard_connect(src, port);
    int status = 0;
    if (fd >= 0) {
        if (hard_send(fd, req, strlen(req)) == 0 && hard_read(fd, buf, max, timeout_ms) > 12 &&
            strncmp(buf, "HTTP/1.", 7) == 0)
            status = atoi(buf + 9);
        close(fd);
    }
    if (ms)
        *ms = hard_now_ms() - t0;
    return status;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int hard_health_p99(const char *src, int port, int n, int gap_ms, double *p50, double *p99,
                    double *max)
{
    double *t = calloc((size_t)n, sizeof *t);
    char *buf = malloc(4096);
    int ok = 0;
    char req[160];
    snprintf(req, sizeof req,
             "GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n", port);
    for (int i = 0; i < n; i++) {
        if (hard_request(src, port, req, buf, 4096, 5000, &t[i]) == 200)
            ok++;
        else
            t[i] = 5000; /* a failure counts as the worst */
        if (gap_ms)
            usleep((useconds_t)gap_ms * 1000);
    }
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    *p50 = t[n / 2];
    *p99 = t[(n * 99) / 100 >= n ? n - 1 : (n * 99) / 100];
    *max = t[n - 1];
    free(t);
    free(buf);
    return ok;
}
