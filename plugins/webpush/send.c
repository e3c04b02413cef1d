/* Delivery to push services (RFC 8030 section 5): one POST per message with
 * the encrypted body, TTL, Urgency, Topic and the VAPID Authorization. Curl
 * easy handles are kept per push-service origin and reused (one per sending
 * thread at most), so libcurl keeps the connection (HTTP/2 over TLS when the
 * service offers it by ALPN), and
 * the VAPID JWT of that origin is signed once per 12 hours, not per message.
 * Answers: 201 (any 2xx) sent; 404/410 the subscription is gone; 413 too
 * large (failed); 429 and 5xx retry (Retry-After honoured); other 4xx failed;
 * no answer (connection, timeout) retry. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "webpush_plugin.h"

#define ORIGINS 64
#define JWT_LIFE_S (12 * 3600)       /* exp: 12 h ahead (RFC 8292 allows 24 h) */
#define JWT_RENEW_S (JWT_LIFE_S / 2) /* sign again when half of it is used */

#define IDLE_MAX 8 /* kept handles per origin: one per sending thread at most */

typedef struct origin {
    char name[256];
    CURL *idle[IDLE_MAX]; /* kept handles (their connections); a worker takes one to send */
    int nidle;
    char *auth; /* "Authorization: vapid ..." */
    int64_t auth_made;
    int64_t used; /* for eviction: the least recently used goes first */
} origin;

struct wp_sender {
    pthread_mutex_t mu;
    EVP_PKEY *key;
    char pub64[96];
    const char *subject;
    long connect_timeout_ms, timeout_ms, ttl_s;
    bool insecure; /* loopback allowed (tests) */
    const char *ca_file;
    origin o[ORIGINS];
    int64_t tick;
};

wp_sender *wp_sender_new(EVP_PKEY *key, const char *pub64, const wp_settings *s)
{
    wp_sender *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    pthread_mutex_init(&x->mu, NULL);
    x->key = key;
    snprintf(x->pub64, sizeof x->pub64, "%s", pub64);
    x->subject = s->subject;
    x->connect_timeout_ms = (long)s->connect_timeout;
    x->timeout_ms = (long)s->timeout;
    x->ttl_s = (long)(s->ttl / 1000);
    x->insecure = s->insecure;
    x->ca_file = s->ca_file;
    return x;
}

void wp_sender_free(wp_sender *x)
{
    if (!x)
        return;
    for (int i = 0; i < ORIGINS; i++) {
        for (int k = 0; k < x->o[i].nidle; k++)
            curl_easy_cleanup(x->o[i].idle[k]);
        free(x->o[i].auth);
    }
    pthread_mutex_destroy(&x->mu);
    free(x);
}

/* Takes a kept handle of the origin (a new one when all are in use) and its
 * Authorization header, signed again when old. */
static CURL *checkout(wp_sender *x, const char *name, int64_t now_s, char **auth)
{
    pthread_mutex_lock(&x->mu);
    origin *o = NULL, *lru = &x->o[0];
    for (int i = 0; i < ORIGINS; i++) {
        if (strcmp(x->o[i].name, name) == 0) {
            o = &x->o[i];
            break;
        }
        if (x->o[i].used < lru->used)
            lru = &x->o[i];
    }
    if (!o) {
        o = lru;
        for (int k = 0; k < o->nidle; k++)
            curl_easy_cleanup(o->idle[k]);
        free(o->auth);
        memset(o, 0, sizeof *o);
        snprintf(o->name, sizeof o->name, "%s", name);
    }
    o->used = ++x->tick;
    if (!o->auth || now_s - o->auth_made >= JWT_RENEW_S || now_s < o->auth_made) {
        char *h = wp_vapid_header(x->key, x->pub64, name, now_s + JWT_LIFE_S, x->subject);
        if (h) {
            free(o->auth);
            size_t n = strlen(h) + 32;
            o->auth = malloc(n);
            if (o->auth) {
                snprintf(o->auth, n, "Authorization: %s", h);
                o->auth_made = now_s;
            }
            free(h);
        }
    }
    *auth = o->auth ? strdup(o->auth) : NULL;
    CURL *c = o->nidle ? o->idle[--o->nidle] : NULL;
    pthread_mutex_unlock(&x->mu);
    return c ? c : curl_easy_init();
}

/* Gives the handle back (closed when its origin was evicted meanwhile, or
 * IDLE_MAX are kept already). */
static void checkin(wp_sender *x, const char *name, CURL *c)
{
    pthread_mutex_lock(&x->mu);
    for (int i = 0; i < ORIGINS && c; i++)
        if (strcmp(x->o[i].name, name) == 0 && x->o[i].nidle < IDLE_MAX) {
            x->o[i].idle[x->o[i].nidle++] = c;
            c = NULL;
        }
    pthread_mutex_unlock(&x->mu);
    curl_easy_cleanup(c);
}

typedef struct answer {
    char refused[80]; /* the address a connection was refused to */
    bool insecure;
    char retry_after[64];
    char body[256];
    size_t body_len;
    const wp_abort *ab;
} answer;

static size_t on_header(char *buf, size_t size, size_t n, void *user)
{
    answer *a = user;
    size_t len = size * n;
    if (len > 12 && strncasecmp(buf, "Retry-After:", 12) == 0) {
        size_t i = 12;
        while (i < len && (buf[i] == ' ' || buf[i] == '\t'))
            i++;
        size_t m = len - i;
        while (m > 0 && (buf[i + m - 1] == '\r' || buf[i + m - 1] == '\n' || buf[i + m - 1] == ' '))
            m--;
        if (m >= sizeof a->retry_after)
            m = sizeof a->retry_after - 1;
        memcpy(a->retry_after, buf + i, m);
        a->retry_after[m] = '\0';
    }
    return len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *user)
{
    answer *a = user;
    size_t len = size * n, room = sizeof a->body - 1 - a->body_len;
    size_t take = len < room ? len : room;
    memcpy(a->body + a->body_len, buf, take);
    a->body_len += take;
    a->body[a->body_len] = '\0';
    return len;
}

static int on_progress(void *user, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    const answer *a = user;
    return a->ab && a->ab->stop(a->ab->ctx) ? 1 : 0;
}

/* Checked on the address libcurl is about to connect to, after DNS, so no
 * name (or a rebinding of it) leads the server into a private network. */
static curl_socket_t open_socket(void *user, curlsocktype purpose, struct curl_sockaddr *sa)
{
    answer *a = user;
    (void)purpose;
    const unsigned char *ip = NULL;
    if (sa->family == AF_INET)
        ip = (const unsigned char *)&((struct sockaddr_in *)(void *)&sa->addr)->sin_addr;
    else if (sa->family == AF_INET6)
        ip = (const unsigned char *)&((struct sockaddr_in6 *)(void *)&sa->addr)->sin6_addr;
    int loop =
        ip && ((sa->family == AF_INET && ip[0] == 127) ||
               (sa->family == AF_INET6 && IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)ip)));
    if (!ip || !(wp_addr_public(sa->family, ip) || (a->insecure && loop))) {
        if (ip)
            inet_ntop(sa->family, ip, a->refused, sizeof a->refused);
        else
            snprintf(a->refused, sizeof a->refused, "family %d", sa->family);
        return CURL_SOCKET_BAD;
    }
    return socket(sa->family, sa->socktype, sa->protocol);
}

/* Retry-After: delta-seconds or an HTTP-date; 0 when absent or bad. */
static int64_t retry_after_ms(const char *v, int64_t now_s)
{
    if (!*v)
        return 0;
    char *end;
    long long s = strtoll(v, &end, 10);
    if (end != v && !*end && s >= 0)
        return s > 86400 ? 86400000 : s * 1000;
    time_t t = curl_getdate(v, NULL);
    if (t < 0)
        return 0;
    int64_t d = (int64_t)t - now_s;
    return d <= 0 ? 1 : d > 86400 ? 86400000 : d * 1000;
}

/* Printable, one line, for a log and the outbox's last_error. */
static void clean(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < ' ' || (unsigned char)*s == 0x7f)
            *s = ' ';
}

/* RFC 8030/8291/8292 request headers: VAPID, encoding, TTL, urgency, topic. */
static struct curl_slist *push_headers(const wp_sender *x, const wp_message *m, const char *auth)
{
    struct curl_slist *hs = NULL;
    char line[96];
    hs = curl_slist_append(hs, auth);
    hs = curl_slist_append(hs, "Content-Type: application/octet-stream");
    hs = curl_slist_append(hs, "Content-Encoding: aes128gcm");
    snprintf(line, sizeof line, "TTL: %ld", x->ttl_s);
    hs = curl_slist_append(hs, line);
    snprintf(line, sizeof line, "Urgency: %s", m->urgency);
    hs = curl_slist_append(hs, line);
    if (m->topic[0]) {
        snprintf(line, sizeof line, "Topic: %s", m->topic);
        hs = curl_slist_append(hs, line);
    }
    return curl_slist_append(hs, "Expect:"); /* no 100-continue round trip */
}

static void set_request(CURL *c, const wp_sender *x, const char *endpoint,
                        const unsigned char *body, size_t blen, struct curl_slist *hs, answer *a,
                        long timeout)
{
    curl_easy_reset(c); /* keeps the connection, forgets the last request */
    curl_easy_setopt(c, CURLOPT_URL, endpoint);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)blen);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, x->connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, a);
    if (*x->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, x->ca_file);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, a);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "Vigia-webpush/1");
}

/* The push service's answer in the contract's terms (RFC 8030 section 8). */
static wp_status classify(CURLcode rc, long status, const answer *a, const char *name,
                          int64_t now_s, char *err, size_t errn, int64_t *retry_ms)
{
    if (rc != CURLE_OK && a->refused[0]) {
        snprintf(err, errn, "%s: refused to connect to %s (not a public address)", name,
                 a->refused);
        return WP_FAILED;
    }
    if (rc != CURLE_OK) {
        snprintf(err, errn, "%s: %s", name, curl_easy_strerror(rc));
        return WP_RETRY;
    }
    if (status >= 200 && status < 300)
        return WP_SENT;
    snprintf(err, errn, "%s answered %ld%s%.200s", name, status, a->body_len ? ": " : "", a->body);
    if (status == 404 || status == 410)
        return WP_GONE;
    if (status == 429 || status >= 500) {
        *retry_ms = retry_after_ms(a->retry_after, now_s);
        return WP_RETRY;
    }
    return WP_FAILED; /* 400 bad request, 401/403 VAPID refused, 413 too large */
}

wp_status wp_send(wp_sender *x, const wp_sub *sub, const wp_message *m, int64_t now_s,
                  int64_t budget_ms, const wp_abort *ab, char *err, size_t errn, int64_t *retry_ms)
{
    char name[256];
    *retry_ms = 0;
    if (wp_origin(sub->endpoint, name, sizeof name) < 0) {
        snprintf(err, errn, "endpoint: not an http(s) URL");
        return WP_FAILED;
    }
    size_t blen = 0;
    unsigned char *body = wp_encrypt(sub->p256dh, sub->auth, (const unsigned char *)m->payload,
                                     m->len, NULL, NULL, &blen, err, errn);
    if (!body)
        return strstr(err, "memory") ? WP_RETRY : WP_FAILED;
    char *auth = NULL;
    CURL *c = checkout(x, name, now_s, &auth);
    struct curl_slist *hs = NULL;
    wp_status result = WP_RETRY;
    if (!c || !auth) {
        snprintf(err, errn, "out of memory (or the VAPID signature failed)");
    } else {
        hs = push_headers(x, m, auth);
        answer a = {.ab = ab, .insecure = x->insecure};
        long timeout = x->timeout_ms;
        if (budget_ms < timeout)
            timeout = budget_ms < 100 ? 100 : (long)budget_ms;
        set_request(c, x, sub->endpoint, body, blen, hs, &a, timeout);
        CURLcode rc = curl_easy_perform(c);
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_reset(c); /* no pointer to this stack frame stays in the kept handle */
        clean(a.body);
        result = classify(rc, status, &a, name, now_s, err, errn, retry_ms);
    }
    curl_slist_free_all(hs);
    free(auth);
    free(body);
    if (c)
        checkin(x, name, c);
    return result;
}
