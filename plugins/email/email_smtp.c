/* Sending over SMTP with libcurl, and classifying what the server said.
 *
 * Each worker takes a curl easy handle from a small pool and gives it back:
 * libcurl keeps the connection open in the handle, so a batch of messages
 * goes over one connection (until keepalive passes or the server closes it).
 * libcurl reports the SMTP reply code but not its text, so a debug callback
 * keeps the last reply line and the command it answered (never AUTH's
 * arguments) for the error message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "email_plugin.h"

typedef struct session {
    CURL *curl;
    char command[32]; /* the last command sent ("RCPT TO") */
    char reply[256];  /* the first 4xx/5xx reply line (else the last reply) */
    char failed[32];  /* the command that got that reply */
    int has_error;
    const char *data;
    size_t len, off;
} session;

struct email_smtp {
    const email_settings *s;
    char url[600];
    pthread_mutex_t lock;
    session **idle;
    size_t nidle, cap;
};

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
    if (!m->idle) {
        free(m);
        return NULL;
    }
    pthread_mutex_init(&m->lock, NULL);
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
    for (size_t i = 0; i < m->nidle; i++)
        session_free(m->idle[i]);
    free(m->idle);
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
}

static email_status classify(session *ss, CURLcode rc, long code, const char *errbuf, char *err,
                             size_t errn, int64_t *retry_after_ms)
{
    if (rc == CURLE_OK)
        return EMAIL_SENT;
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
                             int64_t now_ms, int64_t deadline, char *err, size_t errn,
                             int64_t *retry_after_ms)
{
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
    set_options(m, ss, rcpt, mail_from, timeout_ms, errbuf);
    CURLcode rc = curl_easy_perform(ss->curl);
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
         * server still answers the old message later): never reuse it. */
        session_free(ss);
    }
    return st;
}
