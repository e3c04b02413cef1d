/* fanout: a single-threaded epoll load generator that speaks just enough
 * Engine.IO v4 / Socket.IO v5 over WebSocket to hold N clients in room
 * "notifications" (joined on connect by the server) and measure broadcast
 * delivery: latency p50/p99/max, deliveries per second, the server's RSS per
 * connection and CPU, and its own CPU.
 *
 * Broadcasts are triggered with POST /test/publish {"topic":
 * "notification.created", "payload"} (vigia + the busbridge test plugin, or
 * bench/peers/server.js which serves the same path). Each payload carries the
 * trigger time and index.
 *
 *   fanout -p PORT[,PORT...] -n CLIENTS -m MESSAGES [-i INTERVAL_MS] [-s SERVER_PID]
 *          [-l LABEL] [-P PUBLISH_PORT] [-L LOCAL_PORT]
 *
 * With several ports (the nodes of a cluster, bench/cluster) the clients are
 * spread over them round-robin and broadcasts are triggered on PUBLISH_PORT
 * (default: the first); the paced phase's latency is then also split into
 * clients of the publishing node ("local") and of the others ("remote"). When
 * Socket.IO has its own port per node (transport = lws), -L names the
 * publishing node's Socket.IO port, whose clients are the local ones.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { ST_CONNECTING, ST_HTTP, ST_OPEN, ST_READY, ST_DEAD };

typedef struct conn {
    int fd;
    int port;
    int state;
    int is_trigger;
    char *buf;
    size_t len, cap;
} conn;

static int port = 0, pub_port = 0, local_port = 0, ports[16], nports = 0;
static uint32_t *lat_local, *lat_remote; /* paced phase, by the client's node */
static size_t nlat_local, nlat_remote;
/* per paced message, its first delivery on the publishing node and on any
 * other: their difference is the hop itself, without the time each node
 * takes to fan the message out to its own clients */
static uint32_t *first_local, *first_remote;
static int nclients = 1000, nmsgs = 20, interval_ms = 100, server_pid = 0;
/* -w: the clients' port when Socket.IO has its own (transport = lws); -a:
 * source addresses 127.0.0.1..127.0.0.N, so 50,000 clients have ports enough */
static int ws_port = 0, naddrs = 1, next_addr = 0;
static const char *label = "server";
static conn *conns;
static int epfd;
static int ready_count, dead_count;
static uint32_t *lat_a, *lat_b; /* microseconds */
static size_t nlat_a, nlat_b;
static int64_t *recv_count; /* per message index (2 * nmsgs) */
static int64_t last_delivery_us;
static int phase; /* 0 = paced (latency), 1 = burst (throughput) */

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long server_rss_kb(void)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", server_pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = atol(line + 6);
    fclose(f);
    return kb;
}

static double server_cpu_s(void)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", server_pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long ut = 0, st = 0;
    /* after ") ": state(3) ... utime is field 14, stime 15 */
    int field = 2;
    for (char *t = p + 2; *t && field < 15; t++) {
        if (*t == ' ') {
            field++;
            if (field == 14)
                ut = strtoul(t + 1, NULL, 10);
            if (field == 15)
                st = strtoul(t + 1, NULL, 10);
        }
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static int open_socket(int to_port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (naddrs > 1) {
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + (uint32_t)(next_addr++ % naddrs));
        if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
            close(fd);
            return -1;
        }
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)to_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

static void kill_conn(conn *c)
{
    if (c->state == ST_DEAD)
        return;
    if (!c->is_trigger) {
        if (c->state == ST_READY)
            ready_count--;
        dead_count++;
    }
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->state = ST_DEAD;
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
    if (c->is_trigger)
        free(c);
}

static void send_all(conn *c, const void *data, size_t len)
{
    /* tiny writes on an idle socket: a short write would be a bug worth seeing */
    ssize_t n = write(c->fd, data, len);
    if (n != (ssize_t)len)
        kill_conn(c);
}

static void send_text(conn *c, const char *text)
{
    unsigned char f[128];
    size_t len = strlen(text);
    f[0] = 0x81;
    f[1] = (unsigned char)(0x80 | len); /* masked, key 0: payload as is */
    memset(f + 2, 0, 4);
    memcpy(f + 6, text, len);
    send_all(c, f, len + 6);
}

static long long field_ll(const char *s, size_t len, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i + kl < len; i++)
        if (memcmp(s + i, key, kl) == 0)
            return atoll(s + i + kl);
    return -1;
}

static void on_text(conn *c, const char *s, size_t len)
{
    if (len == 1 && s[0] == '2') {
        send_text(c, "3");
        return;
    }
    if (c->state == ST_OPEN && len > 1 && s[0] == '0') {
        send_text(c, "40");
        return;
    }
    if (len > 2 && s[0] == '4' && s[1] == '0') {
        if (c->state == ST_OPEN) {
            c->state = ST_READY;
            ready_count++;
        }
        return;
    }
    if (len > 20 && memcmp(s, "42[\"new_notification\"", 21) == 0) {
        long long t = field_ll(s, len, "\"t\":");
        long long i = field_ll(s, len, "\"i\":");
        if (t < 0 || i < 0 || i >= 2 * nmsgs)
            return;
        int64_t now = now_us();
        uint32_t us = (uint32_t)(now - t);
        if (i < nmsgs) {
            lat_a[nlat_a++] = us;
            int local = c->port == local_port || ws_port;
            uint32_t *first = local ? first_local : first_remote;
            if (us < first[i])
                first[i] = us;
            if (local)
                lat_local[nlat_local++] = us;
            else
                lat_remote[nlat_remote++] = us;
        } else
            lat_b[nlat_b++] = us;
        recv_count[i]++;
        last_delivery_us = now;
    }
}

static void on_readable(conn *c)
{
    for (;;) {
        if (c->cap - c->len < 4096) {
            size_t cap = c->cap ? c->cap * 2 : 8192;
            char *b = realloc(c->buf, cap);
            if (!b) {
                kill_conn(c);
                return;
            }
            c->buf = b;
            c->cap = cap;
        }
        ssize_t n = read(c->fd, c->buf + c->len, c->cap - c->len);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            kill_conn(c);
            return;
        }
        if (n < 0)
            break;
        c->len += (size_t)n;
    }
    if (c->is_trigger) {
        if (memmem(c->buf, c->len, "\r\n\r\n", 4))
            kill_conn(c); /* the reply arrived; its content does not matter */
        return;
    }
    size_t off = 0;
    if (c->state == ST_HTTP) {
        char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (!end)
            return;
        if (c->len < 12 || memcmp(c->buf + 9, "101", 3) != 0) {
            kill_conn(c);
            return;
        }
        off = (size_t)(end - c->buf) + 4;
        c->state = ST_OPEN;
    }
    while (c->len - off >= 2) {
        unsigned char *p = (unsigned char *)c->buf + off;
        size_t avail = c->len - off, hdr = 2;
        uint64_t plen = p[1] & 0x7f;
        if (plen == 126) {
            if (avail < 4)
                break;
            plen = (uint64_t)p[2] << 8 | p[3];
            hdr = 4;
        } else if (plen == 127) {
            if (avail < 10)
                break;
            plen = 0;
            for (int k = 0; k < 8; k++)
                plen = plen << 8 | p[2 + k];
            hdr = 10;
        }
        if (avail < hdr + plen)
            break;
        int opcode = p[0] & 0x0f;
        if (opcode == 0x1)
            on_text(c, (char *)p + hdr, (size_t)plen);
        else if (opcode == 0x8) {
            kill_conn(c);
            return;
        } else if (opcode == 0x9) {
            unsigned char pong[6] = {0x8a, 0x80, 0, 0, 0, 0};
            send_all(c, pong, sizeof pong);
        }
        off += hdr + (size_t)plen;
        if (c->state == ST_DEAD)
            return;
    }
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
}

static void on_writable(conn *c)
{
    int err = 0;
    socklen_t l = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
    if (err) {
        kill_conn(c);
        return;
    }
    char req[512];
    int n =
        snprintf(req, sizeof req,
                 "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                 c->port);
    c->state = ST_HTTP;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    send_all(c, req, (size_t)n);
}

static void pump(int timeout_ms)
{
    struct epoll_event evs[512];
    int n = epoll_wait(epfd, evs, 512, timeout_ms);
    for (int i = 0; i < n; i++) {
        conn *c = evs[i].data.ptr;
        if (c->state == ST_DEAD)
            continue;
        if (c->state == ST_CONNECTING && (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            on_writable(c);
        else if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
            on_readable(c);
    }
}

static void trigger(int index)
{
    conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->is_trigger = 1;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)pub_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(c->fd);
        free(c);
        return;
    }
    char body[256], req[512];
    int bl =
        snprintf(body, sizeof body,
                 "{\"topic\":\"notification.created\",\"payload\":{\"notification\":"
                 "{\"id\":\"%d\",\"title\":\"bench\",\"i\":%d,\"t\":%lld},\"unread_count\":0}}",
                 index, index, (long long)now_us());
    int rl = snprintf(req, sizeof req,
                      "POST /test/publish HTTP/1.1\r\n"
                      "Host: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\n"
                      "Content-Length: %d\r\n\r\n%s",
                      bl, body);
    if (write(c->fd, req, (size_t)rl) != rl) {
        close(c->fd);
        free(c);
        return;
    }
    fcntl(c->fd, F_SETFL, O_NONBLOCK);
    c->state = ST_READY;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void pct(uint32_t *v, size_t n, double *p50, double *p99, double *max)
{
    if (!n) {
        *p50 = *p99 = *max = -1;
        return;
    }
    qsort(v, n, sizeof *v, cmp_u32);
    *p50 = v[n / 2] / 1000.0;
    *p99 = v[(size_t)((double)n * 0.99) < n ? (size_t)((double)n * 0.99) : n - 1] / 1000.0;
    *max = v[n - 1] / 1000.0;
}

static int64_t delivered(int from, int to)
{
    int64_t s = 0;
    for (int i = from; i < to; i++)
        s += recv_count[i];
    return s;
}

int main(int argc, char **argv)
{
    int opt;
    while ((opt = getopt(argc, argv, "p:n:m:i:s:l:P:L:w:a:")) != -1) {
        switch (opt) {
        case 'p':
            for (char *tok = strtok(optarg, ","); tok && nports < 16; tok = strtok(NULL, ","))
                ports[nports++] = atoi(tok);
            port = nports ? ports[0] : 0;
            break;
        case 'P':
            pub_port = atoi(optarg);
            break;
        case 'L':
            local_port = atoi(optarg);
            break;
        case 'n':
            nclients = atoi(optarg);
            break;
        case 'm':
            nmsgs = atoi(optarg);
            break;
        case 'i':
            interval_ms = atoi(optarg);
            break;
        case 's':
            server_pid = atoi(optarg);
            break;
        case 'l':
            label = optarg;
            break;
        case 'w':
            ws_port = atoi(optarg);
            break;
        case 'a':
            naddrs = atoi(optarg) < 1 ? 1 : atoi(optarg) > 8 ? 8 : atoi(optarg);
            break;
        default:
            fprintf(stderr,
                    "usage: %s -p PORT[,PORT...] -n CLIENTS -m MESSAGES [-i MS] [-s PID] "
                    "[-l LABEL] [-P PUBLISH_PORT] [-L LOCAL_PORT] [-w WSPORT] [-a ADDRS]\n",
                    argv[0]);
            return 2;
        }
    }
    if (!port || nclients < 1 || nmsgs < 1) {
        fprintf(stderr, "fanout: -p PORT is required\n");
        return 2;
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)nclients + 64) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (!pub_port)
        pub_port = port;
    if (!local_port)
        local_port = pub_port;
    if (ws_port) { /* transport = lws: clients on its port, notifications made over HTTP */
        ports[0] = ws_port;
        nports = 1;
    }
    conns = calloc((size_t)nclients, sizeof *conns);
    lat_local = calloc((size_t)nclients * (size_t)nmsgs, sizeof *lat_local);
    lat_remote = calloc((size_t)nclients * (size_t)nmsgs, sizeof *lat_remote);
    lat_a = calloc((size_t)nclients * (size_t)nmsgs, sizeof *lat_a);
    lat_b = calloc((size_t)nclients * (size_t)nmsgs, sizeof *lat_b);
    recv_count = calloc((size_t)nmsgs * 2, sizeof *recv_count);
    first_local = malloc((size_t)nmsgs * sizeof *first_local);
    first_remote = malloc((size_t)nmsgs * sizeof *first_remote);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!conns || !lat_a || !lat_b || !lat_local || !lat_remote || !recv_count || !first_local ||
        !first_remote || epfd < 0)
        return 1;
    memset(first_local, 0xff, (size_t)nmsgs * sizeof *first_local); /* UINT32_MAX: none yet */
    memset(first_remote, 0xff, (size_t)nmsgs * sizeof *first_remote);
    long rss0 = server_rss_kb();
    double cpu_self0 = self_cpu_s();

    /* connect, at most 256 handshakes in flight */
    int64_t t0 = now_us();
    int started = 0;
    while ((ready_count + dead_count < nclients) && now_us() - t0 < 180000000) {
        while (started < nclients && started - ready_count - dead_count < 256) {
            conn *c = &conns[started++];
            c->port = ports[(started - 1) % nports];
            c->fd = open_socket(c->port);
            if (c->fd < 0) {
                c->state = ST_DEAD;
                dead_count++;
                continue;
            }
            c->state = ST_CONNECTING;
            struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
            epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
        }
        pump(50);
    }
    double connect_s = (double)(now_us() - t0) / 1e6;
    for (int64_t end = now_us() + 1000000; now_us() < end;)
        pump(50);
    long rss1 = server_rss_kb();
    int held = ready_count;
    double scpu0 = server_cpu_s(), gcpu0 = self_cpu_s();

    /* phase A: paced broadcasts, latency */
    int64_t ta = now_us();
    for (int k = 0; k < nmsgs; k++) {
        trigger(k);
        for (int64_t end = now_us() + (int64_t)interval_ms * 1000; now_us() < end;)
            pump(1);
    }
    for (int64_t end = now_us() + 10000000;
         now_us() < end && delivered(0, nmsgs) < (int64_t)held * nmsgs;)
        pump(5);
    double phase_a_s = (double)(last_delivery_us - ta) / 1e6;

    /* phase B: burst, throughput */
    phase = 1;
    int64_t tb = now_us();
    for (int k = 0; k < nmsgs; k++) {
        trigger(nmsgs + k);
        pump(0);
    }
    for (int64_t end = now_us() + 30000000;
         now_us() < end && delivered(nmsgs, 2 * nmsgs) < (int64_t)held * nmsgs;)
        pump(5);
    double burst_s = (double)(last_delivery_us - tb) / 1e6;
    double scpu1 = server_cpu_s(), gcpu1 = self_cpu_s();
    double wall = (double)(now_us() - ta) / 1e6;

    double a50, a99, amax, b50, b99, bmax;
    int64_t got_a = delivered(0, nmsgs), got_b = delivered(nmsgs, 2 * nmsgs);
    pct(lat_a, nlat_a, &a50, &a99, &amax);
    pct(lat_b, nlat_b, &b50, &b99, &bmax);
    printf("{\"label\":\"%s\",\"clients\":%d,\"held\":%d,\"connect_s\":%.2f,\"messages\":%d,"
           "\"paced\":{\"interval_ms\":%d,\"delivered\":%lld,\"expected\":%lld,\"p50_ms\":%.2f,"
           "\"p99_ms\":%.2f,\"max_ms\":%.2f,\"span_s\":%.2f},"
           "\"burst\":{\"delivered\":%lld,\"expected\":%lld,\"seconds\":%.3f,\"deliveries_per_s\":%"
           ".0f,"
           "\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f},"
           "\"server\":{\"rss_before_kb\":%ld,\"rss_after_kb\":%ld,\"rss_per_conn_kb\":%.1f,"
           "\"rss_total_per_conn_kb\":%.1f,\"cpu_s\":%.2f,\"cpu_pct\":%.0f},"
           "\"generator\":{\"cpu_s\":%.2f,\"cpu_pct\":%.0f,\"connect_cpu_s\":%.2f},",
           label, nclients, held, connect_s, nmsgs, interval_ms, (long long)got_a,
           (long long)held * nmsgs, a50, a99, amax, phase_a_s, (long long)got_b,
           (long long)held * nmsgs, burst_s, burst_s > 0 ? (double)got_b / burst_s : 0, b50, b99,
           bmax, rss0, rss1, held ? (double)(rss1 - rss0) / held : 0,
           held ? (double)rss1 / held : 0, scpu1 - scpu0, 100.0 * (scpu1 - scpu0) / wall,
           gcpu1 - gcpu0, 100.0 * (gcpu1 - gcpu0) / wall, gcpu0 - cpu_self0);
    double l50, l99, lmax, r50, r99, rmax;
    pct(lat_local, nlat_local, &l50, &l99, &lmax);
    pct(lat_remote, nlat_remote, &r50, &r99, &rmax);
    /* hop: first remote - first local per message (the remote can be first) */
    int64_t *hop = calloc((size_t)nmsgs, sizeof *hop);
    size_t nhop = 0;
    for (int i = 0; hop && i < nmsgs; i++)
        if (first_local[i] != UINT32_MAX && first_remote[i] != UINT32_MAX)
            hop[nhop++] = (int64_t)first_remote[i] - (int64_t)first_local[i];
    if (nhop)
        qsort(hop, nhop, sizeof *hop, cmp_i64);
    printf("\"nodes\":%d,\"paced_local\":{\"n\":%zu,\"p50_ms\":%.2f,\"p99_ms\":%.2f},"
           "\"paced_remote\":{\"n\":%zu,\"p50_ms\":%.2f,\"p99_ms\":%.2f},"
           "\"hop_first\":{\"n\":%zu,\"p50_ms\":%.3f,\"max_ms\":%.3f}}\n",
           nports, nlat_local, l50, l99, nlat_remote, r50, r99, nhop,
           nhop ? (double)hop[nhop / 2] / 1000.0 : -1, nhop ? (double)hop[nhop - 1] / 1000.0 : -1);
    free(hop);
    return held == nclients ? 0 : 1;
}
