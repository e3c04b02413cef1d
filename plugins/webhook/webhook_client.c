/* The HTTP side of a delivery: one POST with libcurl, never following a
 * redirect, through no proxy, to no address the operator has not allowed.
 * The address check sits in the opensocket callback, which libcurl calls
 * with the address it resolved right before connecting: what is checked is
 * what is connected to, whatever the name resolved to at registration. */
#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "webhook_plugin.h"

#define POOL_MAX 64
#define ANSWER_KEEP 200
#define RETRY_AFTER_MAX_MS 86400000LL
#define IDLE_CONNECTIONS 256

struct webhook_client {
    pthread_mutex_t mu;
    /* One connection cache (and DNS cache, TLS sessions) for every handle:
     * a delivery to any endpoint reuses whatever connection to it is open,
     * whichever worker opened it. */
    CURLSH *share;
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
    CURL *idle[POOL_MAX];
    int nidle;
    bool allow_private;
    long connect_ms, timeout_ms;
    char *user_agent;
};

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *user)
{
    (void)h, (void)access;
    pthread_mutex_lock(&((webhook_client *)user)->locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *user)
{
    (void)h;
    pthread_mutex_unlock(&((webhook_client *)user)->locks[data]);
}

webhook_client *webhook_client_new(const webhook_settings *s, const char *user_agent)
{
    webhook_client *c = calloc(1, sizeof *c);
    if (!c || !(c->user_agent = strdup(user_agent)) || !(c->share = curl_share_init())) {
        if (c)
            free(c->user_agent);
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&c->locks[i], NULL);
    curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    c->allow_private = s->allow_private;
    c->connect_ms = (long)s->connect_timeout;
    c->timeout_ms = (long)s->timeout;
    return c;
}

void webhook_client_free(webhook_client *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->nidle; i++)
        curl_easy_cleanup(c->idle[i]);
    curl_share_cleanup(c->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&c->locks[i]);
    pthread_mutex_destroy(&c->mu);
    free(c->user_agent);
    free(c);
}

static CURL *take(webhook_client *c)
{
    CURL *h = NULL;
    pthread_mutex_lock(&c->mu);
    if (c->nidle)
        h = c->idle[--c->nidle];
    pthread_mutex_unlock(&c->mu);
    if (h)
        curl_easy_reset(h); /* options go, connections and the DNS cache stay */
    return h ? h : curl_easy_init();
}

static void give_back(webhook_client *c, CURL *h)
{
    pthread_mutex_lock(&c->mu);
    if (c->nidle < POOL_MAX) {
        c->idle[c->nidle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    if (h)
        curl_easy_cleanup(h);
}

typedef struct xfer {
    const webhook_post *p;
    bool allow_private;
    char refused[160]; /* why a connection was refused, "" when none */
    char retry_after[64];
    char answer[ANSWER_KEEP + 1];
    size_t answer_len;
} xfer;

static curl_socket_t open_socket(void *user, curlsocktype purpose, struct curl_sockaddr *a)
{
    xfer *x = user;
    (void)purpose;
    webhook_addr_class cls = webhook_addr_classify(&a->addr, a->addrlen);
    if (!x->allow_private && cls != WEBHOOK_ADDR_PUBLIC) {
        char ip[INET6_ADDRSTRLEN + 2] = "?";
        getnameinfo(&a->addr, a->addrlen, ip, sizeof ip, NULL, 0, NI_NUMERICHOST);
        snprintf(x->refused, sizeof x->refused,
                 "refused to connect to %s: a %s address (allow_private_webhooks = false)", ip,
                 webhook_addr_class_name(cls));
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static size_t on_header(char *b, size_t size, size_t n, void *user)
{
    xfer *x = user;
    size_t len = size * n;
    static const char name[] = "retry-after:";
    if (len > sizeof name - 1 && strncasecmp(b, name, sizeof name - 1) == 0) {
        size_t i = sizeof name - 1;
        while (i < len && (b[i] == ' ' || b[i] == '\t'))
            i++;
        size_t m = len - i;
        while (m && (b[i + m - 1] == '\r' || b[i + m - 1] == '\n' || b[i + m - 1] == ' '))
            m--;
        if (m >= sizeof x->retry_after)
            m = sizeof x->retry_after - 1;
        memcpy(x->retry_after, b + i, m);
        x->retry_after[m] = 0;
    }
    return len;
}

/* The answer's body is not used; its start goes into the error text. */
static size_t on_body(char *b, size_t size, size_t n, void *user)
{
    xfer *x = user;
    size_t len = size * n, room = ANSWER_KEEP - x->answer_len;
    size_t k = len < room ? len : room;
    memcpy(x->answer + x->answer_len, b, k);
    x->answer_len += k;
    x->answer[x->answer_len] = 0;
    return len;
}

static int on_progress(void *user, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    const webhook_post *p = ((xfer *)user)->p;
    return p->stop && p->stop(p->ctx) ? 1 : 0;
}

static int64_t parse_retry_after(const char *v)
{
    if (!*v)
        return 0;
    char *end;
    if (isdigit((unsigned char)*v)) {
        long long s = strtoll(v, &end, 10);
        return *end ? 0 : s * 1000 > RETRY_AFTER_MAX_MS ? RETRY_AFTER_MAX_MS : s * 1000;
    }
    time_t t = curl_getdate(v, NULL), now = time(NULL);
    if (t <= now)
        return t < 0 ? 0 : 1000;
    return (int64_t)(t - now) * 1000 > RETRY_AFTER_MAX_MS ? RETRY_AFTER_MAX_MS
                                                          : (int64_t)(t - now) * 1000;
}

/* Printable start of the answer, for the error text. */
static void answer_text(const xfer *x, char *out, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; i < x->answer_len && j + 1 < n; i++) {
        unsigned char ch = (unsigned char)x->answer[i];
        out[j++] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
    }
    out[j] = 0;
}

webhook_status webhook_client_post(webhook_client *c, const webhook_post *p, int *http_status,
                                   char *err, size_t errn, int64_t *retry_after_ms)
{
    *http_status = 0;
    *retry_after_ms = 0;
    xfer *x = calloc(1, sizeof *x);
    CURL *h = x ? take(c) : NULL;
    struct curl_slist *hdr = NULL;
    char line[WEBHOOK_SECRET_MAX * 3 + 256];
    if (!h) {
        free(x);
        snprintf(err, errn, "out of memory");
        return WEBHOOK_RETRY;
    }
    x->p = p;
    x->allow_private = c->allow_private;
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    snprintf(line, sizeof line, "webhook-id: %s", p->msg_id);
    hdr = curl_slist_append(hdr, line);
    snprintf(line, sizeof line, "webhook-timestamp: %lld", p->ts);
    hdr = curl_slist_append(hdr, line);
    snprintf(line, sizeof line, "webhook-signature: %s", p->signature);
    hdr = curl_slist_append(hdr, line);
    hdr = curl_slist_append(hdr, "Expect:"); /* no 100-continue round trip */
    curl_easy_setopt(h, CURLOPT_URL, p->url);
    curl_easy_setopt(h, CURLOPT_SHARE, c->share);
    /* libcurl keeps 5 idle connections by default: with more endpoints than
     * that, every delivery would open a new one */
    curl_easy_setopt(h, CURLOPT_MAXCONNECTS, (long)IDLE_CONNECTIONS);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROXY, ""); /* the address check must see the receiver */
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, x);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, p->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->len);
    curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hdr);
    webhook_status st;
    char ans[ANSWER_KEEP + 1];
    answer_text(x, ans, sizeof ans);
    if (x->refused[0]) {
        snprintf(err, errn, "%s", x->refused);
        st = WEBHOOK_FAILED;
    } else if (rc != CURLE_OK) {
        snprintf(err, errn, "%s", curl_easy_strerror(rc));
        st = rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT ? WEBHOOK_FAILED
                                                                           : WEBHOOK_RETRY;
    } else {
        *http_status = (int)code;
        if (code >= 200 && code < 300) {
            st = WEBHOOK_SENT;
        } else if (code == 410) {
            snprintf(err, errn, "HTTP 410 Gone: the receiver says the endpoint is gone");
            st = WEBHOOK_GONE;
        } else if (code >= 300 && code < 400) {
            snprintf(err, errn, "HTTP %ld: redirects are not followed; register the final URL",
                     code);
            st = WEBHOOK_RETRY;
        } else {
            snprintf(err, errn, "HTTP %ld%s%s", code, ans[0] ? ": " : "", ans);
            st = code == 413 ? WEBHOOK_FAILED : WEBHOOK_RETRY;
            if (st == WEBHOOK_RETRY)
                *retry_after_ms = parse_retry_after(x->retry_after);
        }
    }
    give_back(c, h);
    free(x);
    return st;
}

int webhook_url_check(const char *url, bool allow_private, char *err, size_t errn)
{
    if (!url || !*url || strlen(url) > 2000) {
        snprintf(err, errn, "url: required, at most 2000 bytes");
        return -1;
    }
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int rc = -1;
    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
        snprintf(err, errn, "url: not an absolute http(s) URL with a host");
        goto out;
    }
    if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) {
        snprintf(err, errn, "url: the scheme must be http or https, found '%.16s'", scheme);
        goto out;
    }
    if (allow_private) {
        rc = 0;
        goto out;
    }
    char name[256];
    size_t n = strlen(host);
    if (host[0] == '[' && n > 2 && n < sizeof name) { /* [::1] -> ::1 */
        memcpy(name, host + 1, n - 2);
        name[n - 2] = 0;
    } else {
        snprintf(name, sizeof name, "%s", host);
    }
    char *pct = strchr(name, '%'); /* a zone id: fe80::1%eth0 */
    if (pct)
        *pct = 0;
    int cls = webhook_addr_classify_text(name);
    if (cls > 0) {
        snprintf(err, errn, "url: %s is a %s address (allow_private_webhooks = false)", name,
                 webhook_addr_class_name((webhook_addr_class)cls));
        goto out;
    }
    if (cls < 0) {
        /* A name: refuse it now if it resolves to a refused address; the
         * connect-time check still decides for every delivery. */
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL, *ai;
        if (getaddrinfo(name, NULL, &hints, &res) == 0) {
            for (ai = res; ai; ai = ai->ai_next) {
                webhook_addr_class c = webhook_addr_classify(ai->ai_addr, ai->ai_addrlen);
                if (c != WEBHOOK_ADDR_PUBLIC) {
                    char ip[INET6_ADDRSTRLEN + 2] = "?";
                    getnameinfo(ai->ai_addr, ai->ai_addrlen, ip, sizeof ip, NULL, 0,
                                NI_NUMERICHOST);
                    snprintf(err, errn,
                             "url: %s resolves to %s, a %s address (allow_private_webhooks = "
                             "false)",
                             name, ip, webhook_addr_class_name(c));
                    freeaddrinfo(res);
                    goto out;
                }
            }
            freeaddrinfo(res);
        }
    }
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}
