/* cluster plugin: Redis over TLS (rediss://) through a relay thread per
 * connection (cluster_tls.h says why). */
#include "cluster_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RELAY_BUF 16384

typedef struct relay {
    cluster_tls *t;
    SSL *ssl;
    int tcp, plain;
    char host[256];
    int port;
    bool tls_failed; /* a fatal TLS error: no close_notify then (OpenSSL forbids it) */
    char up[RELAY_BUF], down[RELAY_BUF];       /* hiredis -> Redis, Redis -> hiredis */
    size_t up_off, up_len, down_off, down_len; /* sent and held of each buffer */
    short plain_ev, tls_ev;                    /* what the next poll waits for */
    char reason[200];                          /* why the relay ended, when an error */
} relay;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* OpenSSL's last queued reason, or the system's. */
static void ssl_reason(char *buf, size_t n, int ssl_err, int sys_errno)
{
    unsigned long e = ERR_peek_last_error();
    if (e) {
        ERR_error_string_n(e, buf, n);
    } else if (ssl_err == SSL_ERROR_SYSCALL || ssl_err == SSL_ERROR_ZERO_RETURN) {
        snprintf(buf, n, "%s", sys_errno ? strerror(sys_errno) : "connection closed by the server");
    } else {
        snprintf(buf, n, "SSL error %d", ssl_err);
    }
    ERR_clear_error();
}

int cluster_tls_init(cluster_tls *t, const vg_host *h, const vg_config *cfg)
{
    const char *ca, *cert, *key;
    if (h->config_string(h, cfg, "tls_ca_file", "", &ca) < 0 ||
        h->config_string(h, cfg, "tls_cert_file", "", &cert) < 0 ||
        h->config_string(h, cfg, "tls_key_file", "", &key) < 0)
        return -EINVAL;
    if (!cert[0] != !key[0])
        return h->config_fail(h, cfg, cert[0] ? "tls_key_file" : "tls_cert_file",
                              "tls_cert_file and tls_key_file go together (mutual TLS)");
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    char why[256];
    const char *bad = NULL;
    if (!ctx) {
        bad = "redis_url";
    } else {
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        if (ca[0] ? SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1
                  : SSL_CTX_set_default_verify_paths(ctx) != 1)
            bad = "tls_ca_file";
        else if (cert[0] && SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
            bad = "tls_cert_file";
        else if (key[0] && (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
                            SSL_CTX_check_private_key(ctx) != 1))
            bad = "tls_key_file";
    }
    if (bad) {
        ssl_reason(why, sizeof why, SSL_ERROR_SSL, errno);
        SSL_CTX_free(ctx);
        return h->config_fail(h, cfg, bad, "TLS: %s", why);
    }
    t->ctx = ctx;
    t->host = h;
    t->relays = 0;
    t->logged[0] = '\0';
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    return 0;
}

void cluster_tls_free(cluster_tls *t)
{
    if (!t->ctx)
        return;
    pthread_mutex_lock(&t->mu);
    while (t->relays > 0)
        pthread_cond_wait(&t->cv, &t->mu);
    pthread_mutex_unlock(&t->mu);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    SSL_CTX_free(t->ctx);
    t->ctx = NULL;
}

/* Wait for ev on fd until the deadline: 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short ev, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = ev};
        int n = poll(&p, 1, (int)left);
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

static int tcp_connect(const char *host, int port, int64_t deadline, char *why, size_t n)
{
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int g = getaddrinfo(host, ps, &hints, &res);
    if (g != 0) {
        snprintf(why, n, "connect %s:%d: %s", host, port, gai_strerror(g));
        return -1;
    }
    int fd = -1;
    snprintf(why, n, "connect %s:%d: no address", host, port);
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        int err = 0;
        if (connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
            err = errno;
            if (err == EINPROGRESS) {
                int w = wait_fd(fd, POLLOUT, deadline);
                socklen_t len = sizeof err;
                if (w == 0)
                    err = ETIMEDOUT;
                else if (w < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                    err = errno;
            }
        }
        if (err) {
            snprintf(why, n, "connect %s:%d: %s", host, port, strerror(err));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    }
    return fd;
}

/* Why the handshake failed, naming the host: the certificate's verdict
 * first (it is what an operator fixes), else OpenSSL's reason. */
static void handshake_error(SSL *ssl, const char *host, int port, int e, char *why, size_t n)
{
    char reason[200];
    int sys = errno;
    long v = SSL_get_verify_result(ssl);
    if (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH) {
        snprintf(why, n, "TLS %s:%d: host name mismatch: the server's certificate is not for %s",
                 host, port, host);
    } else if (v != X509_V_OK) {
        snprintf(why, n, "TLS %s:%d: certificate not trusted: %s (check tls_ca_file)", host, port,
                 X509_verify_cert_error_string(v));
    } else {
        ssl_reason(reason, sizeof reason, e, sys);
        snprintf(why, n, "TLS %s:%d: handshake failed: %s", host, port, reason);
    }
    ERR_clear_error();
}

/* Drive one SSL call to completion within the deadline: its result > 0, or
 * 0 with *e set (an error, or SSL_ERROR_WANT_* when the time ran out). */
#define SSL_RETRY(call, ssl, fd, deadline, e, out)                                                 \
    for (;;) {                                                                                     \
        ERR_clear_error();                                                                         \
        int r_ = (call);                                                                           \
        if (r_ > 0) {                                                                              \
            out = r_;                                                                              \
            break;                                                                                 \
        }                                                                                          \
        *(e) = SSL_get_error(ssl, r_);                                                             \
        short ev_ = *(e) == SSL_ERROR_WANT_READ    ? POLLIN                                        \
                    : *(e) == SSL_ERROR_WANT_WRITE ? POLLOUT                                       \
                                                   : 0;                                            \
        out = 0;                                                                                   \
        if (!ev_ || wait_fd(fd, ev_, deadline) <= 0)                                               \
            break;                                                                                 \
    }

/* One PING: a Redis that requires a client certificate we did not send
 * rejects it after a TLS 1.3 handshake, on the first read. Any reply line
 * (even -NOAUTH) says the connection is accepted. */
static int first_ping(SSL *ssl, int fd, const char *host, int port, int64_t deadline, char *why,
                      size_t n)
{
    static const char ping[] = "*1\r\n$4\r\nPING\r\n";
    int e = 0, got = 0;
    SSL_RETRY(SSL_write(ssl, ping, (int)sizeof ping - 1), ssl, fd, deadline, &e, got);
    char line[128];
    size_t len = 0;
    while (got > 0 && (len == 0 || line[len - 1] != '\n')) {
        if (len == sizeof line) {
            snprintf(why, n, "TLS %s:%d: not a Redis server (no reply line to PING)", host, port);
            return -1;
        }
        SSL_RETRY(SSL_read(ssl, line + len, 1), ssl, fd, deadline, &e, got);
        if (got > 0)
            len++;
    }
    if (got > 0)
        return 0;
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        snprintf(why, n, "TLS %s:%d: no reply to PING within the connect timeout", host, port);
    } else {
        char reason[200];
        ssl_reason(reason, sizeof reason, e, errno);
        snprintf(why, n, "TLS %s:%d: connection refused after the handshake: %s", host, port,
                 reason);
    }
    return -1;
}

static void relay_end(relay *r, const char *reason)
{
    close(r->plain); /* hiredis sees EOF first */
    if (!r->tls_failed)
        SSL_shutdown(r->ssl); /* best effort: the socket does not block */
    SSL_free(r->ssl);
    close(r->tcp);
    cluster_tls *t = r->t;
    if (reason && reason[0])
        VG_WARN(t->host, "redis TLS %s:%d: %s", r->host, r->port, reason);
    free(r);
    pthread_mutex_lock(&t->mu);
    t->relays--;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

/* After an SSL_read/SSL_write that did not move bytes: what to wait for
 * (true), or the TLS connection is over (false; the reason kept when it was
 * a protocol error or alert — a plain end the link reports already). */
static bool tls_wait_or_end(relay *r, int k, bool clean_end_ok)
{
    int e = SSL_get_error(r->ssl, k);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        r->tls_ev |= e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
        return true;
    }
    if (e == SSL_ERROR_SSL)
        ssl_reason(r->reason, sizeof r->reason, e, errno);
    r->tls_failed = !(clean_end_ok && e == SSL_ERROR_ZERO_RETURN);
    return false;
}

/* The same for a send/recv on hiredis's end of the socketpair. */
static bool plain_wait_or_end(relay *r, ssize_t k, short ev)
{
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        r->plain_ev |= ev;
        return true;
    }
    return k < 0 && errno == EINTR; /* 0 or an error: hiredis closed its end */
}

/* One pass over both directions: false when either side ended. Sets the
 * poll interests for the next wait and whether any byte moved. */
static bool relay_pass(relay *r, bool *progress)
{
    r->plain_ev = r->tls_ev = 0;
    *progress = false;
    if (r->down_off == r->down_len) { /* Redis -> buffer */
        r->down_off = r->down_len = 0;
        ERR_clear_error();
        int k = SSL_read(r->ssl, r->down, sizeof r->down);
        if (k > 0) {
            r->down_len = (size_t)k;
            *progress = true;
        } else if (!tls_wait_or_end(r, k, true)) {
            return false;
        }
    }
    if (r->down_off < r->down_len) { /* buffer -> hiredis */
        ssize_t w = send(r->plain, r->down + r->down_off, r->down_len - r->down_off,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w > 0) {
            r->down_off += (size_t)w;
            *progress = true;
        } else if (!plain_wait_or_end(r, w, POLLOUT)) {
            return false;
        }
    }
    if (r->up_off == r->up_len) { /* hiredis -> buffer */
        r->up_off = r->up_len = 0;
        ssize_t k = recv(r->plain, r->up, sizeof r->up, MSG_DONTWAIT);
        if (k > 0) {
            r->up_len = (size_t)k;
            *progress = true;
        } else if (!plain_wait_or_end(r, k, POLLIN)) {
            return false;
        }
    }
    if (r->up_off < r->up_len) { /* buffer -> Redis */
        ERR_clear_error();
        int k = SSL_write(r->ssl, r->up + r->up_off, (int)(r->up_len - r->up_off));
        if (k > 0) {
            r->up_off += (size_t)k;
            *progress = true;
        } else if (!tls_wait_or_end(r, k, false)) {
            return false;
        }
    }
    return true;
}

static void *relay_main(void *arg)
{
    relay *r = arg;
    for (;;) {
        bool progress = true, alive = true;
        while (alive && progress)
            alive = relay_pass(r, &progress);
        if (!alive)
            break;
        struct pollfd p[2] = {{.fd = r->plain, .events = r->plain_ev},
                              {.fd = r->tcp, .events = r->tls_ev}};
        int n = poll(p, 2, 1000);
        if (n < 0 && errno != EINTR) {
            snprintf(r->reason, sizeof r->reason, "poll: %s", strerror(errno));
            break;
        }
        if (n > 0 && (p[0].revents & (POLLHUP | POLLERR | POLLNVAL)))
            break; /* hiredis is gone: what it had not sent does not matter */
    }
    relay_end(r, r->reason);
    return NULL;
}

/* A TLS failure goes to the log (the link logs only up/down changes, and a
 * node whose certificates are wrong never comes up): once per distinct
 * reason, so that the reconnect loop does not flood it. */
static void log_failure(cluster_tls *t, const char *why)
{
    pthread_mutex_lock(&t->mu);
    bool fresh = strcmp(t->logged, why) != 0;
    if (fresh)
        snprintf(t->logged, sizeof t->logged, "%s", why);
    pthread_mutex_unlock(&t->mu);
    if (fresh)
        VG_WARN(t->host, "redis %s", why);
}

static int tls_connect(cluster_tls *t, const char *host, int port, int timeout_ms, char *why,
                       size_t n);

int cluster_tls_connect(cluster_tls *t, const char *host, int port, int timeout_ms, char *why,
                        size_t n)
{
    int fd = tls_connect(t, host, port, timeout_ms, why, n);
    if (fd >= 0) {
        pthread_mutex_lock(&t->mu);
        t->logged[0] = '\0';
        pthread_mutex_unlock(&t->mu);
    } else if (strncmp(why, "TLS", 3) == 0) {
        log_failure(t, why);
    }
    return fd;
}

static int tls_connect(cluster_tls *t, const char *host, int port, int timeout_ms, char *why,
                       size_t n)
{
    int64_t deadline = now_ms() + timeout_ms;
    int fd = tcp_connect(host, port, deadline, why, n);
    if (fd < 0)
        return -1;
    SSL *ssl = SSL_new(t->ctx);
    if (!ssl || SSL_set_fd(ssl, fd) != 1) {
        snprintf(why, n, "TLS %s:%d: out of memory", host, port);
        goto fail;
    }
    /* The name checked is the one in redis_url: an address literal against
     * the certificate's IP entries, a name against its DNS ones (and SNI). */
    unsigned char ip[16];
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    bool literal = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    if (literal ? X509_VERIFY_PARAM_set1_ip_asc(param, host) != 1
                : (SSL_set1_host(ssl, host) != 1 || SSL_set_tlsext_host_name(ssl, host) != 1)) {
        snprintf(why, n, "TLS %s:%d: cannot set the name to verify", host, port);
        goto fail;
    }
    int e = 0, ok = 0;
    SSL_RETRY(SSL_connect(ssl), ssl, fd, deadline, &e, ok);
    if (!ok) {
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            snprintf(why, n, "TLS %s:%d: handshake timed out after %d ms", host, port, timeout_ms);
        else
            handshake_error(ssl, host, port, e, why, n);
        goto fail;
    }
    if (first_ping(ssl, fd, host, port, deadline, why, n) < 0)
        goto fail;
    /* The PING's reply must not reach hiredis: it is read above, whole. */
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
        snprintf(why, n, "socketpair: %s", strerror(errno));
        goto fail;
    }
    relay *r = calloc(1, sizeof *r);
    if (!r) {
        close(sp[0]);
        close(sp[1]);
        snprintf(why, n, "TLS %s:%d: out of memory", host, port);
        goto fail;
    }
    r->t = t; /* field by field: a compound literal would put 32 KiB on the stack */
    r->ssl = ssl;
    r->tcp = fd;
    r->plain = sp[1];
    r->port = port;
    snprintf(r->host, sizeof r->host, "%s", host);
    pthread_mutex_lock(&t->mu);
    t->relays++;
    pthread_mutex_unlock(&t->mu);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    int rc = pthread_create(&th, &attr, relay_main, r);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        pthread_mutex_lock(&t->mu);
        t->relays--;
        pthread_mutex_unlock(&t->mu);
        free(r);
        close(sp[0]);
        close(sp[1]);
        snprintf(why, n, "TLS %s:%d: relay thread: %s", host, port, strerror(rc));
        goto fail;
    }
    return sp[0];
fail:
    if (ssl)
        SSL_free(ssl);
    close(fd);
    return -1;
}
