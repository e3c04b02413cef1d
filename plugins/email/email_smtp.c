/* Sending over SMTP with libcurl, and classifying what the server said.
 *
 * Each worker takes a curl easy handle from a small pool and gives it back:
 * libcurl keeps the connection open in the handle, so a batch of messages
 * goes over one connection (until keepalive passes or the server closes it).
 * libcurl reports the SMTP reply code but not its text, so a debug callback
 * keeps the last reply line and the command it answered (never AUTH's
 * arguments) for the error message.
 *
 * A watchdog thread enforces the timeouts: libcurl 7.88 waits for the reply
 * to the end of the data until the server answers, whatever CURLOPT_TIMEOUT
 * says (the curl tool shows the same), so a stalled server would hold a
 * worker, and the server's shutdown, for as long as it likes. The watchdog
 * shuts the socket of a transfer past its time (or past the stop deadline)
 * down, which ends libcurl's wait at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "email_plugin.h"

struct email_smtp;
typedef struct session {
    struct email_smtp *owner;
    CURL *curl;
    char command[32]; /* the last command sent ("RCPT TO") */
    char reply[256];  /* the first 4xx/5xx reply line (else the last reply) */
    char failed[32];  /* the command that got that reply */
    int has_error;
    const char *data;
    size_t len, off;
    const email_abort *ab;
    int64_t give_up_at; /* monotonic ms: start + timeout */
    int why;            /* 1 timeout, 2 stopping: set by on_progress or the watchdog */
    curl_socket_t fd;   /* the connection's socket, -1 when closed (under lock) */
} session;

struct email_smtp {
    const email_settings *s;
    char url[600];
    pthread_mutex_t lock;
    session **idle;
    size_t nidle, cap;
    session **active; /* transfers in flight, watched */
    int64_t stop_at;  /* own clock; INT64_MAX until the queue stops */
    int quit;
    pthread_cond_t wake;
    pthread_t watchdog;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *watch(void *arg)
{
    email_smtp *m = arg;
    pthread_mutex_lock(&m->lock);
    while (!m->quit) {
        int64_t now = mono_ms();
        for (size_t i = 0; i < m->cap; i++) {
            session *ss = m->active[i];
            if (!ss || ss->fd < 0 || ss->why)
                continue;
            if (now >= ss->give_up_at || now >= m->stop_at) {
                ss->why = now >= ss->give_up_at ? 1 : 2;
                shutdown(ss->fd, SHUT_RDWR);
            }
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&m->wake, &m->lock, &ts);
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

void email_smtp_stop_in(email_smtp *m, int64_t ms)
{
    pthread_mutex_lock(&m->lock);
    m->stop_at = mono_ms() + ms;
    pthread_mutex_unlock(&m->lock);
}

static int on_sockopt(void *user, curl_socket_t fd, curlsocktype purpose)
{
    (void)purpose;
    session *ss = user;
    email_smtp *m = ss->owner;
    pthread_mutex_lock(&m->lock);
    ss->fd = fd;
    pthread_mutex_unlock(&m->lock);
    return CURL_SOCKOPT_OK;
}

/* Forget the socket before it is closed, so the watchdog never shuts down a
 * descriptor number that has been reused. */
static int on_close(void *user, curl_socket_t fd)
{
    session *ss = user;
    email_smtp *m = ss->owner;
    pthread_mutex_lock(&m->lock);
    if (ss->fd == fd)
        ss->fd = -1;
    pthread_mutex_unlock(&m->lock);
    return close(fd);
}

email_smtp *email_smtp_new(const email_settings *s)
{
    email_smtp *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->s = s;
    /* libcurl takes the EHLO name from the URL's path. */
    snprintf(m->url, sizeof m->url, "%s%s%s", s->url, *s->helo ? "/" : "", s->helo);
    m->cap = (size_t)s->threads;
    m->idle = calloc(m->cap, sizeof *m->idle);
    m->active = calloc(m->cap, sizeof *m->active);
    m->stop_at = INT64_MAX;
    if (!m->idle || !m->active) {
        free(m->idle);
        free(m->active);
        free(m);
        return NULL;
    }
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->wake, NULL);
    if (pthread_create(&m->watchdog, NULL, watch, m) != 0) {
        pthread_cond_destroy(&m->wake);
        pthread_mutex_destroy(&m->lock);
        free(m->idle);
        free(m->active);
        free(m);
        return NULL;
    }
    return m;
}

static void session_free(session *ss)
{
    if (!ss)
        return;
    if (ss->curl)
        curl_easy_cleanup(ss->curl);
    free(ss);
}

void email_smtp_free(email_smtp *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    m->quit = 1;
    pthread_cond_signal(&m->wake);
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->watchdog, NULL);
    for (size_t i = 0; i < m->nidle; i++)
        session_free(m->idle[i]);
    free(m->idle);
    free(m->active);
    pthread_cond_destroy(&m->wake);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static int on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *user)
{
    (void)h;
    session *ss = user;
    if (type == CURLINFO_HEADER_IN) {
        /* Keep the first refusal: libcurl's QUIT and its 221 come after. */
        if (ss->has_error)
            return 0;
        size_t n = size < sizeof ss->reply - 1 ? size : sizeof ss->reply - 1;
        memcpy(ss->reply, data, n);
        while (n > 0 && (ss->reply[n - 1] == '\r' || ss->reply[n - 1] == '\n'))
            n--;
        ss->reply[n] = '\0';
        if (ss->reply[0] == '4' || ss->reply[0] == '5') {
            ss->has_error = 1;
            memcpy(ss->failed, ss->command, sizeof ss->failed);
        }
    } else if (type == CURLINFO_HEADER_OUT) {
        /* The verb only: "MAIL FROM", "RCPT TO", "DATA", "AUTH", "EHLO". */
        size_t n = 0;
        while (n < size && n < sizeof ss->command - 1 && data[n] != ':' && data[n] != '\r' &&
               data[n] != '\n' && !(n >= 4 && data[n] == ' ' && strncmp(data, "AUTH", 4) == 0))
            n++;
        if (n > 0 && strncmp(data, "AUTH", 4) == 0)
            n = 4;
        memcpy(ss->command, data, n);
        ss->command[n] = '\0';
    }
    return 0;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *user)
{
    session *ss = user;
    size_t n = size * nitems, left = ss->len - ss->off;
    if (n > left)
        n = left;
    memcpy(buf, ss->data + ss->off, n);
    ss->off += n;
    return n;
}

/* libcurl calls this about once a second even while it waits for a reply. */
static int on_progress(void *user, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    session *ss = user;
    int stop = ss->ab->stop(ss->ab->ctx), late = mono_ms() >= ss->give_up_at;
    pthread_mutex_lock(&ss->owner->lock);
    if (!ss->why && (stop || late))
        ss->why = stop ? 2 : 1;
    int why = ss->why;
    pthread_mutex_unlock(&ss->owner->lock);
    return why != 0;
}

static session *take(email_smtp *m)
{
    session *ss = NULL;
    pthread_mutex_lock(&m->lock);
    if (m->nidle > 0)
        ss = m->idle[--m->nidle];
    pthread_mutex_unlock(&m->lock);
    if (ss)
        return ss;
    ss = calloc(1, sizeof *ss);
    if (ss && !(ss->curl = curl_easy_init())) {
        free(ss);
        return NULL;
    }
    if (ss) {
        ss->owner = m;
        ss->fd = -1;
    }
    return ss;
}

static void give_back(email_smtp *m, session *ss)
{
    pthread_mutex_lock(&m->lock);
    if (m->nidle < m->cap) {
        m->idle[m->nidle++] = ss;
        ss = NULL;
    }
    pthread_mutex_unlock(&m->lock);
    session_free(ss);
}

static void set_options(email_smtp *m, session *ss, struct curl_slist *rcpt, char *mail_from,
                        long timeout_ms, char *errbuf)
{
    const email_settings *s = m->s;
    CURL *c = ss->curl;
    static const long tls[] = {CURLUSESSL_TRY, CURLUSESSL_ALL, CURLUSESSL_NONE};
    curl_easy_setopt(c, CURLOPT_URL, m->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(c, CURLOPT_USE_SSL, tls[s->use_tls]);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)s->connect_timeout);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    /* Each SMTP reply too (whole seconds): libcurl waits for one without
     * looking at CURLOPT_TIMEOUT or the progress callback in between. */
    curl_easy_setopt(c, CURLOPT_SERVER_RESPONSE_TIMEOUT, (timeout_ms + 999) / 1000);
    curl_easy_setopt(c, CURLOPT_MAXAGE_CONN, (long)(s->keepalive / 1000));
    if (*s->username) {
        curl_easy_setopt(c, CURLOPT_USERNAME, s->username);
        curl_easy_setopt(c, CURLOPT_PASSWORD, s->password ? s->password : "");
    }
    if (*s->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, s->ca_file);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, s->tls_verify ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, s->tls_verify ? 2L : 0L);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, mail_from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, ss);
    curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
    curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, on_debug);
    curl_easy_setopt(c, CURLOPT_DEBUGDATA, ss);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, ss);
    curl_easy_setopt(c, CURLOPT_SOCKOPTFUNCTION, on_sockopt);
    curl_easy_setopt(c, CURLOPT_SOCKOPTDATA, ss);
    curl_easy_setopt(c, CURLOPT_CLOSESOCKETFUNCTION, on_close);
    curl_easy_setopt(c, CURLOPT_CLOSESOCKETDATA, ss);
}

/* Watch (or stop watching) a transfer. */
static void set_active(email_smtp *m, session *ss, int on)
{
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->cap; i++) {
        if (on ? m->active[i] == NULL : m->active[i] == ss) {
            m->active[i] = on ? ss : NULL;
            break;
        }
    }
    pthread_mutex_unlock(&m->lock);
}

static email_status classify(session *ss, CURLcode rc, long code, const char *errbuf, char *err,
                             size_t errn, int64_t *retry_after_ms)
{
    if (rc == CURLE_OK)
        return EMAIL_SENT;
    if (rc == CURLE_ABORTED_BY_CALLBACK || (ss->why && !ss->has_error)) {
        snprintf(err, errn, "%s%s%s%s",
                 ss->why == 2 ? "not sent: the server is stopping" : "timeout: no answer in time",
                 ss->reply[0] ? " (last reply: " : "", ss->reply, ss->reply[0] ? ")" : "");
        return EMAIL_RETRY;
    }
    const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    if (ss->has_error) {
        snprintf(err, errn, "%s%s%s", ss->failed, ss->failed[0] ? ": " : "", ss->reply);
        int code3 = atoi(ss->reply);
        if (rc == CURLE_LOGIN_DENIED || strcmp(ss->failed, "AUTH") == 0 || code3 == 530) {
            /* AUTH refused (535) or required (530): our configuration, not
             * the recipient: retry after the operator fixes it, never
             * dead-letter every message. */
            *retry_after_ms = 60000;
            return EMAIL_RETRY;
        }
        return code3 >= 500 ? EMAIL_FAILED : EMAIL_RETRY;
    }
    (void)code;
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        snprintf(err, errn, "connection refused: %s", why);
        break;
    case CURLE_OPERATION_TIMEDOUT:
        snprintf(err, errn, "timeout: %s", why);
        break;
    default:
        snprintf(err, errn, "%s%s%s", why, ss->reply[0] ? " (last reply: " : "",
                 ss->reply[0] ? ss->reply : "");
        if (ss->reply[0])
            strncat(err, ")", errn - strlen(err) - 1);
    }
    return EMAIL_RETRY;
}

email_status email_smtp_send(email_smtp *m, const char *to, const char *msg, size_t len,
                             const email_abort *ab, int64_t deadline, char *err, size_t errn,
                             int64_t *retry_after_ms)
{
    int64_t now_ms = ab->now_ms(ab->ctx);
    *retry_after_ms = 0;
    long timeout_ms = (long)m->s->timeout;
    if (deadline != INT64_MAX) {
        if (deadline - now_ms < 50) {
            snprintf(err, errn, "not sent: the server is stopping");
            return EMAIL_RETRY;
        }
        if (deadline - now_ms < timeout_ms)
            timeout_ms = (long)(deadline - now_ms);
    }
    session *ss = take(m);
    char rcpt_addr[300], mail_from[300];
    snprintf(rcpt_addr, sizeof rcpt_addr, "<%s>", to);
    snprintf(mail_from, sizeof mail_from, "<%s>", m->s->envelope_from);
    struct curl_slist *rcpt = ss ? curl_slist_append(NULL, rcpt_addr) : NULL;
    if (!ss || !rcpt) {
        curl_slist_free_all(rcpt);
        give_back(m, ss);
        snprintf(err, errn, "out of memory");
        return EMAIL_RETRY;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    ss->data = msg;
    ss->len = len;
    ss->off = 0;
    ss->reply[0] = ss->command[0] = ss->failed[0] = '\0';
    ss->has_error = 0;
    ss->ab = ab;
    ss->why = 0;
    ss->give_up_at = mono_ms() + timeout_ms;
    set_options(m, ss, rcpt, mail_from, timeout_ms, errbuf);
    set_active(m, ss, 1);
    CURLcode rc = curl_easy_perform(ss->curl);
    set_active(m, ss, 0);
    long code = 0;
    curl_easy_getinfo(ss->curl, CURLINFO_RESPONSE_CODE, &code);
    email_status st = classify(ss, rc, code, errbuf, err, errn, retry_after_ms);
    /* The handle must not keep pointers to this call's buffers. */
    curl_easy_setopt(ss->curl, CURLOPT_MAIL_RCPT, NULL);
    curl_easy_setopt(ss->curl, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(rcpt);
    ss->data = NULL;
    if (st == EMAIL_SENT) {
        give_back(m, ss);
    } else {
        /* After a failure the connection may be out of step (a timed-out
         * server still answers the old message later): never reuse it, and
         * cut it first so libcurl's QUIT does not wait for that server. */
        pthread_mutex_lock(&m->lock);
        if (ss->fd >= 0)
            shutdown(ss->fd, SHUT_RDWR);
        pthread_mutex_unlock(&m->lock);
        session_free(ss);
    }
    return st;
}
