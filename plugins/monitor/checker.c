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
#include <vigia/contract/monitor.h>

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
char *mon_host_key(const char *url)
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

/* Soft 404s: an up answer that is a web page where data was promised.
 * Sets *landing (mon_redirect_landing) and *html_page; returns
 * MON_V_RETRY_GET when a HEAD's content type must be checked by a GET. */
static mon_verdict soft_404(const xfer *x, const mon_res *r, const char *ctype, const char *eff,
                            long redirects, int *landing, bool *html_page)
{
    bool page = x->is_head
                    ? mon_ctype_is_html(ctype)
                    : (x->nhead ? mon_body_is_html(x->head, x->nhead) : mon_ctype_is_html(ctype));
    *landing = redirects > 0 && page ? mon_redirect_landing(r->url, eff) : 0;
    *html_page = false;
    if (!*landing && page && mon_format_is_data(r->format, r->mimetype)) {
        if (x->is_head) /* the type may be wrong: look at the first bytes */
            return MON_V_RETRY_GET;
        *html_page = true;
    }
    return MON_V_UP;
}

/* Status and reason of a recorded attempt. */
static void judge(const mon_check_opts *o, mon_res *r, mon_verdict v, int landing, bool html_page,
                  bool answered, CURLcode cc, long http)
{
    switch (v) {
    case MON_V_UP:
        if (landing == 1) {
            r->status = MON_R_RESTRICTED;
            r->soft = true;
            r->reason = VG_MONITOR_REASON_LOGIN_REQUIRED;
        } else if (landing == 2 || html_page) {
            r->status = MON_R_DEGRADED;
            r->soft = true;
            r->reason = VG_MONITOR_REASON_HTML_INSTEAD_OF_DATA;
        } else {
            /* one slow answer is noise: the median of the last three decides */
            double lat[3] = {r->latency_ms, r->prev_lat[0], r->prev_lat[1]};
            r->status = MON_R_UP;
            r->slow = mon_slow_median(lat, 1 + (size_t)r->nprev_lat, o->slow_ms);
            r->reason = r->slow ? VG_MONITOR_REASON_SLOW : VG_MONITOR_REASON_OK;
        }
        break;
    case MON_V_RESTRICTED:
        r->status = MON_R_RESTRICTED;
        r->reason = VG_MONITOR_REASON_RESTRICTED;
        break;
    default:
        r->status = MON_R_DOWN;
        r->reason = !answered
                        ? (cc == CURLE_OPERATION_TIMEDOUT   ? VG_MONITOR_REASON_TIMEOUT
                           : cc == CURLE_TOO_MANY_REDIRECTS ? VG_MONITOR_REASON_TOO_MANY_REDIRECTS
                                                            : VG_MONITOR_REASON_CONNECTION_ERROR)
                    : http >= 500                ? VG_MONITOR_REASON_HTTP_5XX
                    : http == 404 || http == 410 ? VG_MONITOR_REASON_NOT_FOUND
                                                 : VG_MONITOR_REASON_HTTP_ERROR;
        break;
    }
}

/* A header of the final answer (after redirects), or NULL; at most 200 bytes. */
static char *header_of(CURL *c, const char *name)
{
    struct curl_header *h = NULL;
    if (curl_easy_header(c, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK || !h || !h->value ||
        !*h->value || strlen(h->value) > 200)
        return NULL;
    return strdup(h->value);
}

/* ETag and Last-Modified for the content signal (signals.c). A Last-Modified
 * equal to the answer's own Date (2 s of slack) says the server makes the
 * file per request: its validators then change on every fetch and tell
 * nothing about the content. */
static void content_validators(CURL *c, mon_res *r)
{
    free(r->etag);
    free(r->last_modified);
    r->etag = header_of(c, "ETag");
    r->last_modified = header_of(c, "Last-Modified");
    r->regenerated = false;
    char *date = header_of(c, "Date");
    if (date && r->last_modified) {
        time_t lm = curl_getdate(r->last_modified, NULL), now = curl_getdate(date, NULL);
        r->regenerated = lm > 0 && now > 0 && now - lm <= 2 && lm - now <= 2;
    }
    free(date);
}

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
    int landing = 0;
    bool html_page = false;
    if (v == MON_V_UP &&
        soft_404(x, r, ctype, eff, redirects, &landing, &html_page) == MON_V_RETRY_GET)
        return MON_V_RETRY_GET;
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
    content_validators(c, r);
    /* format drift reads the first bytes (drift.c) */
    r->nmagic = x->is_head ? 0 : (x->nhead < sizeof r->magic ? x->nhead : sizeof r->magic);
    memcpy(r->magic, x->head, r->nmagic);
    bool answered = cc == CURLE_OK || (cc == CURLE_WRITE_ERROR && x->aborted_body);
    r->error = answered ? NULL : strdup(x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc));
    judge(o, r, v, landing, html_page, answered, cc, http);
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
    r->reason = VG_MONITOR_REASON_RATE_LIMITED;
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

/* Everything one mon_check_all carries between its steps. */
typedef struct check_run {
    const mon_check_opts *o;
    mon_res **items;
    size_t n;
    keyed *k;                /* (host, item) of every fetchable item, by host */
    host_q *hosts;           /* one queue per host */
    size_t *jobs;            /* the queues' items, host by host */
    char **urls;             /* normalized URL of each item, NULL when invalid */
    unsigned char *attempts; /* rate-limited re-checks of each item */
    long long conc;
    xfer *xs;
    xfer **freelist; /* idle transfers */
    CURLM *multi;
    size_t nk, nhosts, done, nfree;
    size_t rr; /* round-robin cursor over hosts */
} check_run;

static int run_alloc(check_run *cr)
{
    size_t n = cr->n ? cr->n : 1;
    cr->conc = cr->o->concurrency > 0 ? cr->o->concurrency : 1;
    cr->k = calloc(n, sizeof *cr->k);
    cr->hosts = calloc(n, sizeof *cr->hosts);
    cr->jobs = calloc(n, sizeof *cr->jobs);
    cr->urls = calloc(n, sizeof *cr->urls);
    cr->attempts = calloc(n, 1);
    cr->xs = calloc((size_t)cr->conc, sizeof *cr->xs);
    cr->freelist = calloc((size_t)cr->conc, sizeof *cr->freelist);
    cr->multi = curl_multi_init();
    if (!cr->k || !cr->hosts || !cr->jobs || !cr->urls || !cr->attempts || !cr->xs ||
        !cr->freelist || !cr->multi)
        return -ENOMEM;
    return 0;
}

/* Invalid URLs are recorded at once and never fetched; the others are
 * queued by host. */
static void plan_hosts(check_run *cr)
{
    for (size_t i = 0; i < cr->n; i++) {
        cr->urls[i] = mon_url_normalize(cr->items[i]->url);
        char *key = cr->urls[i] ? mon_host_key(cr->urls[i]) : NULL;
        if (!key) {
            mon_res *r = cr->items[i];
            r->checked = true;
            r->invalid = true;
            r->status = MON_R_UNKNOWN;
            r->reason = VG_MONITOR_REASON_INVALID_URL;
            r->checked_at = mon_wall_ms();
            free(r->error);
            r->error = strdup("not an http(s) URL: never fetched");
            cr->done++;
            continue;
        }
        cr->k[cr->nk].key = key;
        cr->k[cr->nk].item = i;
        cr->nk++;
    }
    qsort(cr->k, cr->nk, sizeof *cr->k, cmp_keyed);
    for (size_t i = 0; i < cr->nk; i++) {
        if (cr->nhosts == 0 || strcmp(cr->hosts[cr->nhosts - 1].key, cr->k[i].key) != 0) {
            host_q *h = &cr->hosts[cr->nhosts++];
            h->key = cr->k[i].key;
            h->jobs = &cr->jobs[i];
            h->last_start = INT64_MIN / 2;
            h->paused_until = INT64_MIN / 2;
            h->limit = (int)cr->o->per_host;
            h->interval = cr->o->per_host_interval_ms;
        }
        host_q *h = &cr->hosts[cr->nhosts - 1];
        h->jobs[h->njobs++] = cr->k[i].item;
    }
}

static int make_xfers(check_run *cr)
{
    for (long long i = 0; i < cr->conc; i++) {
        cr->xs[i].easy = curl_easy_init();
        if (!cr->xs[i].easy)
            return -ENOMEM;
        cr->freelist[cr->nfree++] = &cr->xs[i];
    }
    curl_multi_setopt(cr->multi, CURLMOPT_MAXCONNECTS, (long)(cr->conc * 2));
    return 0;
}

/* Starts transfers, one per host per pass, round robin, while slots last.
 * Lowers *wait to the time until the next host is ready. */
static void start_due(check_run *cr, int64_t now, int64_t *wait)
{
    bool started = true;
    while (cr->nfree > 0 && started) {
        started = false;
        for (size_t s = 0; s < cr->nhosts && cr->nfree > 0; s++) {
            host_q *h = &cr->hosts[(cr->rr + s) % cr->nhosts];
            if ((h->next >= h->njobs && h->nretry == 0) || h->active >= h->limit)
                continue;
            int64_t ready = h->last_start + h->interval;
            if (h->paused_until > ready)
                ready = h->paused_until;
            if (ready > now) {
                if (ready - now < *wait)
                    *wait = ready - now;
                continue;
            }
            started = start_one(cr->o, cr->multi, h, cr->freelist[--cr->nfree], cr->urls, now);
        }
        cr->rr++;
    }
}

/* A rate-limited answer: slows the whole host down for the rest of the
 * sweep; true when the item was queued to be checked again. */
static bool rate_limited(check_run *cr, xfer *x, long long ra)
{
    const mon_check_opts *o = cr->o;
    host_q *h = x->host;
    int64_t t = mon_mono_ms();
    h->limit = 1;
    h->interval = h->interval * 2 > HOST_SLOWED_MS ? h->interval * 2 : HOST_SLOWED_MS;
    if (h->interval > HOST_SLOWED_MAX_MS)
        h->interval = HOST_SLOWED_MAX_MS;
    int64_t pause = ra > 0 ? ra * 1000 : h->interval;
    bool again = cr->attempts[x->item] < o->rate_limit_retries &&
                 pause <= o->rate_limit_max_wait_ms && !atomic_load(o->stop);
    if (t + pause > h->paused_until)
        h->paused_until = t + pause;
    if (again && push_retry(h, x->item) == 0) {
        cr->attempts[x->item]++;
        h->active--;
        cr->freelist[cr->nfree++] = x;
        return true;
    }
    record_rate_limited(x, cr->items[x->item]);
    return false;
}

/* One finished transfer: a GET after a HEAD, a retry later, or done. */
static void on_done(check_run *cr, CURLMsg *msg)
{
    xfer *x = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
    CURLcode cc = msg->data.result;
    curl_multi_remove_handle(cr->multi, x->easy);
    long long ra = 0;
    mon_verdict v = finish(cr->o, x, cr->items[x->item], cc, &ra);
    if (v == MON_V_RETRY_GET && !atomic_load(cr->o->stop)) {
        x->is_head = false;
        setup(cr->o, x, cr->urls[x->item]);
        curl_multi_add_handle(cr->multi, x->easy);
        return;
    }
    if (v == MON_V_RATE_LIMITED && rate_limited(cr, x, ra))
        return;
    if (v == MON_V_RETRY_GET) /* stopping: leave it unchecked */
        cr->items[x->item]->checked = false;
    x->host->active--;
    cr->freelist[cr->nfree++] = x;
    cr->done++;
}

static void run_free(check_run *cr)
{
    for (long long i = 0; cr->xs && i < cr->conc; i++) {
        if (!cr->xs[i].easy)
            continue;
        if (cr->multi)
            curl_multi_remove_handle(cr->multi, cr->xs[i].easy);
        curl_easy_cleanup(cr->xs[i].easy);
    }
    if (cr->multi)
        curl_multi_cleanup(cr->multi);
    for (size_t i = 0; i < cr->nk; i++)
        free(cr->k[i].key);
    for (size_t i = 0; cr->hosts && i < cr->nhosts; i++)
        free(cr->hosts[i].retry);
    for (size_t i = 0; cr->urls && i < cr->n; i++)
        free(cr->urls[i]);
    free(cr->k);
    free(cr->hosts);
    free(cr->jobs);
    free(cr->urls);
    free(cr->attempts);
    free(cr->xs);
    free(cr->freelist);
}

int mon_check_all(const mon_check_opts *o, mon_res **items, size_t n)
{
    check_run cr = {.o = o, .items = items, .n = n};
    int rc = run_alloc(&cr);
    if (rc == 0) {
        plan_hosts(&cr);
        rc = make_xfers(&cr);
    }
    int running = 0;
    while (rc == 0 && cr.done < n) {
        if (atomic_load(o->stop)) {
            rc = -ECANCELED;
            break;
        }
        int64_t wait = 100;
        start_due(&cr, mon_mono_ms(), &wait);
        curl_multi_perform(cr.multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(cr.multi, &left)) != NULL)
            if (msg->msg == CURLMSG_DONE)
                on_done(&cr, msg);
        if (cr.done >= n)
            break;
        curl_multi_poll(cr.multi, NULL, 0, (int)(wait < 1 ? 1 : wait), NULL);
    }
    run_free(&cr);
    return rc;
}
