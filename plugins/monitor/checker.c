/* monitor: checks resource URLs with the libcurl multi interface, in the
 * sweep thread: HEAD first, a small ranged GET when HEAD fails in any way or
 * claims an HTML page for a data file; at most `concurrency` transfers in
 * total and `per_host` per host, with a minimum interval between two starts
 * on one host. A host that rate-limits us (429, 503 + Retry-After) is paused
 * for its Retry-After and slowed for the rest of the sweep. */
#include <curl/curl.h>
#include <idn2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "monitor.h"

#define GET_BODY_CAP 16384 /* bytes of a GET body we accept before cutting it */
#define SNIFF_BYTES 512    /* first bytes kept to tell a page from data */
#define GET_RANGE "0-1023"
#define HOST_SLOWED_MS 500      /* a rate-limited host's interval is at least this */
#define HOST_SLOWED_MAX_MS 5000 /* and at most this */

typedef struct host_q {
    char *key;
    size_t *jobs; /* indices into items */
    size_t njobs, next;
    size_t *retry; /* rate-limited items waiting for their Retry-After */
    size_t nretry, capretry;
    int active;
    int limit;            /* per_host, 1 once rate limited */
    int64_t interval;     /* per_host_interval, grows when rate limited */
    int64_t paused_until; /* mono ms: the host's Retry-After */
    int64_t last_start;
} host_q;

typedef struct xfer {
    CURL *easy;
    size_t item;
    host_q *host;
    bool is_head;
    bool aborted_body;
    size_t body_bytes;
    unsigned char head[SNIFF_BYTES];
    size_t nhead;
    char errbuf[CURL_ERROR_SIZE];
} xfer;

/* An IDN host as ASCII (punycode). libcurl's own conversion goes through the
 * process locale, which a server does not set: libidn2 reads UTF-8 as such. */
static int idn_host(CURLU *u, const char *host)
{
    bool ascii = true;
    for (const char *p = host; *p; p++)
        ascii = ascii && (unsigned char)*p < 0x80;
    if (ascii)
        return 0;
    char *out = NULL;
    int rc = idn2_lookup_u8((const uint8_t *)host, (uint8_t **)&out, IDN2_NONTRANSITIONAL);
    if (rc != IDN2_OK)
        rc = idn2_lookup_u8((const uint8_t *)host, (uint8_t **)&out, IDN2_TRANSITIONAL);
    if (rc == IDN2_OK && curl_url_set(u, CURLUPART_HOST, out, 0) != CURLUE_OK)
        rc = -1;
    idn2_free(out);
    return rc == IDN2_OK ? 0 : -1;
}

char *mon_url_normalize(const char *url)
{
    if (!url)
        return NULL;
    while (*url == ' ' || *url == '\t' || *url == '\r' || *url == '\n' || *url == '\f' ||
           *url == '\v')
        url++;
    size_t n = strlen(url);
    while (n > 0 && (url[n - 1] == ' ' || url[n - 1] == '\t' || url[n - 1] == '\r' ||
                     url[n - 1] == '\n' || url[n - 1] == '\f' || url[n - 1] == '\v'))
        n--;
    char *t = strndup(url, n);
    CURLU *u = curl_url();
    char *out = NULL, *scheme = NULL, *host = NULL;
    /* URLENCODE: spaces and other unsafe characters as people type them are
     * percent-encoded instead of making the URL invalid */
    if (t && u && curl_url_set(u, CURLUPART_URL, t, CURLU_URLENCODE) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host && *host &&
        (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) && idn_host(u, host) == 0) {
        char *full = NULL;
        if (curl_url_get(u, CURLUPART_URL, &full, 0) == CURLUE_OK && full)
            out = strdup(full);
        curl_free(full);
    }
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    free(t);
    return out;
}

int mon_url_is_http(const char *url)
{
    if (!url)
        return 0;
    CURLU *u = curl_url();
    if (!u)
        return 0;
    int ok = 0;
    char *scheme = NULL, *host = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
        ok = (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) && host && *host;
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

/* "scheme://host:port" for per-host accounting; NULL when not http(s). */
static char *host_key(const char *url)
{
    CURLU *u = curl_url();
    if (!u)
        return NULL;
    char *scheme = NULL, *host = NULL, *port = NULL, *key = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
        (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) && host && *host) {
        size_t l = strlen(host) + strlen(port) + 2;
        key = malloc(l);
        if (key)
            snprintf(key, l, "%s:%s", host, port);
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return key;
}

static size_t discard(char *data, size_t size, size_t nmemb, void *user)
{
    xfer *x = user;
    size_t n = size * nmemb;
    if (x->nhead < SNIFF_BYTES) {
        size_t k = n < SNIFF_BYTES - x->nhead ? n : SNIFF_BYTES - x->nhead;
        memcpy(x->head + x->nhead, data, k);
        x->nhead += k;
    }
    x->body_bytes += n;
    if (x->body_bytes > GET_BODY_CAP) {
        x->aborted_body = true; /* the server ignored Range: we have seen enough */
        return 0;
    }
    return n;
}

static int setup(const mon_check_opts *o, xfer *x, const char *url)
{
    CURL *c = x->easy;
    x->aborted_body = false;
    x->body_bytes = 0;
    x->nhead = 0;
    x->errbuf[0] = 0;
    mon_curl_defaults(c, o->user_agent, o->connect_timeout_ms, o->timeout_ms, o->stop, x->errbuf);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PRIVATE, x);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard); /* cut at GET_BODY_CAP */
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    if (x->is_head) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c, CURLOPT_RANGE, GET_RANGE);
    }
    return 0;
}

static char *dup_or_null(const char *s) { return s && *s ? strdup(s) : NULL; }

/* Record the attempt's outcome into the item; returns the verdict. For
 * MON_V_RATE_LIMITED nothing is recorded and *retry_after_s is set (0 when
 * the server did not say). */
static mon_verdict finish(const mon_check_opts *o, xfer *x, mon_res *r, CURLcode cc,
                          long long *retry_after_s)
{
    CURL *c = x->easy;
    long http = 0;
    curl_off_t ra = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
    curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &ra);
    *retry_after_s = ra > 0 ? (long long)ra : 0;
    mon_verdict v = mon_classify(x->is_head, (int)cc, http, x->aborted_body, ra > 0);
    if (v == MON_V_RETRY_GET || v == MON_V_RATE_LIMITED)
        return v;
    curl_off_t total_us = 0, clen = -1;
    char *ctype = NULL, *eff = NULL;
    long redirects = 0;
    curl_easy_getinfo(c, CURLINFO_TOTAL_TIME_T, &total_us);
    curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctype);
    curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &eff);
    curl_easy_getinfo(c, CURLINFO_REDIRECT_COUNT, &redirects);
    /* soft 404s: an answer that is a web page where data was promised */
    int landing = 0;
    bool html_page = false;
    if (v == MON_V_UP) {
        bool page = x->is_head ? mon_ctype_is_html(ctype)
                               : (x->nhead ? mon_body_is_html(x->head, x->nhead)
                                           : mon_ctype_is_html(ctype));
        landing = redirects > 0 && page ? mon_redirect_landing(r->url, eff) : 0;
        if (!landing && page && mon_format_is_data(r->format, r->mimetype)) {
            if (x->is_head) /* the type may be wrong: look at the first bytes */
                return MON_V_RETRY_GET;
            html_page = true;
        }
    }
    r->checked = true;
    r->checked_at = mon_wall_ms();
    r->http_status = http;
    r->latency_ms = (double)total_us / 1000.0;
    r->content_length = clen;
    r->method = x->is_head ? "HEAD" : "GET";
    r->soft = false;
    r->slow = false;
    free(r->content_type);
    free(r->final_url);
    free(r->error);
    r->content_type = dup_or_null(ctype);
    r->final_url = dup_or_null(eff);
    bool answered = cc == CURLE_OK || (cc == CURLE_WRITE_ERROR && x->aborted_body);
    r->error = answered ? NULL : strdup(x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc));
    switch (v) {
    case MON_V_UP:
        if (landing == 1) {
            r->status = MON_R_RESTRICTED;
            r->soft = true;
            r->reason = "login_required";
        } else if (landing == 2 || html_page) {
            r->status = MON_R_DEGRADED;
            r->soft = true;
            r->reason = "html_instead_of_data";
        } else {
            /* one slow answer is noise: the median of the last three decides */
            double lat[3] = {r->latency_ms, r->prev_lat[0], r->prev_lat[1]};
            r->status = MON_R_UP;
            r->slow = mon_slow_median(lat, 1 + (size_t)r->nprev_lat, o->slow_ms);
            r->reason = r->slow ? "slow" : "ok";
        }
        break;
    case MON_V_RESTRICTED:
        r->status = MON_R_RESTRICTED;
        r->reason = "restricted";
        break;
    default:
        r->status = MON_R_DOWN;
        r->reason = !answered                    ? (cc == CURLE_OPERATION_TIMEDOUT   ? "timeout"
                                                    : cc == CURLE_TOO_MANY_REDIRECTS ? "too_many_redirects"
                                                                                     : "connection_error")
                    : http >= 500                ? "http_5xx"
                    : http == 404 || http == 410 ? "not_found"
                                                 : "http_error";
        break;
    }
    return v;
}

/* Still rate limited after the retries: the resource keeps what it was. */
static void record_rate_limited(xfer *x, mon_res *r)
{
    long http = 0;
    curl_off_t total_us = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &http);
    curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME_T, &total_us);
    r->checked = true;
    r->rate_limited = true;
    r->checked_at = mon_wall_ms();
    r->http_status = http;
    r->latency_ms = (double)total_us / 1000.0;
    r->content_length = -1;
    r->method = x->is_head ? "HEAD" : "GET";
    r->status = r->prev_status;
    r->slow = false;
    r->soft = false;
    r->reason = "rate_limited";
    free(r->error);
    r->error = strdup("the server asked us to slow down; the previous status is kept");
}

static int push_retry(host_q *h, size_t item)
{
    if (h->nretry == h->capretry) {
        size_t nc = h->capretry ? h->capretry * 2 : 4;
        size_t *p = realloc(h->retry, nc * sizeof *p);
        if (!p)
            return -ENOMEM;
        h->retry = p;
        h->capretry = nc;
    }
    h->retry[h->nretry++] = item;
    return 0;
}

typedef struct keyed {
    char *key;
    size_t item;
} keyed;

static int cmp_keyed(const void *a, const void *b)
{
    return strcmp(((const keyed *)a)->key, ((const keyed *)b)->key);
}

/* Starts one job of `h`: a due rate-limited retry first, else the next job. */
static bool start_one(const mon_check_opts *o, CURLM *multi, host_q *h, xfer *x, char **urls,
                      int64_t now)
{
    if (h->nretry > 0) {
        x->item = h->retry[0];
        memmove(h->retry, h->retry + 1, (h->nretry - 1) * sizeof *h->retry);
        h->nretry--;
    } else {
        x->item = h->jobs[h->next++];
    }
    x->host = h;
    x->is_head = true;
    setup(o, x, urls[x->item]);
    curl_multi_add_handle(multi, x->easy);
    h->active++;
    h->last_start = now;
    return true;
}

int mon_check_all(const mon_check_opts *o, mon_res **items, size_t n)
{
    keyed *k = calloc(n ? n : 1, sizeof *k);
    host_q *hosts = calloc(n ? n : 1, sizeof *hosts);
    size_t *jobs = calloc(n ? n : 1, sizeof *jobs);
    char **urls = calloc(n ? n : 1, sizeof *urls);
    unsigned char *attempts = calloc(n ? n : 1, 1);
    long long conc = o->concurrency > 0 ? o->concurrency : 1;
    xfer *xs = calloc((size_t)conc, sizeof *xs);
    xfer **freelist = calloc((size_t)conc, sizeof *freelist);
    CURLM *multi = curl_multi_init();
    int rc = 0;
    size_t nk = 0, nhosts = 0, done = 0, nfree = 0;
    if (!k || !hosts || !jobs || !urls || !attempts || !xs || !freelist || !multi) {
        rc = -ENOMEM;
        goto out;
    }
    /* invalid URLs are recorded at once and never fetched */
    for (size_t i = 0; i < n; i++) {
        urls[i] = mon_url_normalize(items[i]->url);
        char *key = urls[i] ? host_key(urls[i]) : NULL;
        if (!key) {
            mon_res *r = items[i];
            r->checked = true;
            r->invalid = true;
            r->status = MON_R_UNKNOWN;
            r->reason = "invalid_url";
            r->checked_at = mon_wall_ms();
            free(r->error);
            r->error = strdup("not an http(s) URL: never fetched");
            done++;
            continue;
        }
        k[nk].key = key;
        k[nk].item = i;
        nk++;
    }
    qsort(k, nk, sizeof *k, cmp_keyed);
    for (size_t i = 0; i < nk; i++) {
        if (nhosts == 0 || strcmp(hosts[nhosts - 1].key, k[i].key) != 0) {
            hosts[nhosts].key = k[i].key;
            hosts[nhosts].jobs = &jobs[i];
            hosts[nhosts].last_start = INT64_MIN / 2;
            hosts[nhosts].paused_until = INT64_MIN / 2;
            hosts[nhosts].limit = (int)o->per_host;
            hosts[nhosts].interval = o->per_host_interval_ms;
            nhosts++;
        }
        host_q *h = &hosts[nhosts - 1];
        h->jobs[h->njobs++] = k[i].item;
    }
    for (long long i = 0; i < conc; i++) {
        xs[i].easy = curl_easy_init();
        if (!xs[i].easy) {
            rc = -ENOMEM;
            goto out;
        }
        freelist[nfree++] = &xs[i];
    }
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)(conc * 2));
    size_t rr = 0; /* round-robin cursor over hosts */
    int running = 0;
    while (done < n) {
        if (atomic_load(o->stop)) {
            rc = -ECANCELED;
            break;
        }
        int64_t now = mon_mono_ms();
        int64_t wait = 100;
        /* start transfers: one per host per pass, round robin, while slots last */
        bool started = true;
        while (nfree > 0 && started) {
            started = false;
            for (size_t s = 0; s < nhosts && nfree > 0; s++) {
                host_q *h = &hosts[(rr + s) % nhosts];
                if ((h->next >= h->njobs && h->nretry == 0) || h->active >= h->limit)
                    continue;
                int64_t ready = h->last_start + h->interval;
                if (h->paused_until > ready)
                    ready = h->paused_until;
                if (ready > now) {
                    if (ready - now < wait)
                        wait = ready - now;
                    continue;
                }
                started = start_one(o, multi, h, freelist[--nfree], urls, now);
            }
            rr++;
        }
        curl_multi_perform(multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            xfer *x = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            CURLcode cc = msg->data.result;
            curl_multi_remove_handle(multi, x->easy);
            long long ra = 0;
            mon_verdict v = finish(o, x, items[x->item], cc, &ra);
            if (v == MON_V_RETRY_GET && !atomic_load(o->stop)) {
                x->is_head = false;
                setup(o, x, urls[x->item]);
                curl_multi_add_handle(multi, x->easy);
                continue;
            }
            if (v == MON_V_RATE_LIMITED) {
                host_q *h = x->host;
                int64_t t = mon_mono_ms();
                /* slow the whole host down for the rest of the sweep */
                h->limit = 1;
                h->interval = h->interval * 2 > HOST_SLOWED_MS ? h->interval * 2 : HOST_SLOWED_MS;
                if (h->interval > HOST_SLOWED_MAX_MS)
                    h->interval = HOST_SLOWED_MAX_MS;
                int64_t pause = ra > 0 ? ra * 1000 : h->interval;
                bool again = attempts[x->item] < o->rate_limit_retries &&
                             pause <= o->rate_limit_max_wait_ms && !atomic_load(o->stop);
                if (t + pause > h->paused_until)
                    h->paused_until = t + pause;
                if (again && push_retry(h, x->item) == 0) {
                    attempts[x->item]++;
                    h->active--;
                    freelist[nfree++] = x;
                    continue;
                }
                record_rate_limited(x, items[x->item]);
            }
            if (v == MON_V_RETRY_GET) /* stopping: leave it unchecked */
                items[x->item]->checked = false;
            x->host->active--;
            freelist[nfree++] = x;
            done++;
        }
        if (done >= n)
            break;
        if (wait < 1)
            wait = 1;
        curl_multi_poll(multi, NULL, 0, (int)wait, NULL);
    }
out:
    if (xs) {
        for (long long i = 0; i < conc; i++) {
            if (!xs[i].easy)
                continue;
            if (multi)
                curl_multi_remove_handle(multi, xs[i].easy);
            curl_easy_cleanup(xs[i].easy);
        }
    }
    if (multi)
        curl_multi_cleanup(multi);
    for (size_t i = 0; i < nk; i++)
        free(k[i].key);
    for (size_t i = 0; hosts && i < nhosts; i++)
        free(hosts[i].retry);
    for (size_t i = 0; urls && i < n; i++)
        free(urls[i]);
    free(k);
    free(hosts);
    free(jobs);
    free(urls);
    free(attempts);
    free(xs);
    free(freelist);
    return rc;
}
