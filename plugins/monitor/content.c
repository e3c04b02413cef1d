/* monitor: the body pass of a sweep, after the HEAD checks: a ranged GET of
 * the first schema_sample_bytes of tabular and JSON resources (their schema,
 * sniff.h) and, on the sweeps hash_interval schedules, a streamed SHA-256 of
 * whole files up to hash_max_bytes (never held in memory: the bytes go
 * through the hasher and only the sample's prefix is kept). It has its own
 * politeness budget, apart from the checks': at most `concurrency` bodies in
 * flight, `per_host` per host and `per_host_interval` between two starts on
 * one host, since a body costs a server much more than a HEAD. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <vigia/contract/monitor.h>

#include "http.h"
#include "monitor.h"
#include "sniff.h"

typedef struct body_host {
    char *key;
    size_t *jobs;
    size_t njobs, next;
    int active;
    int64_t last_start;
} body_host;

typedef struct body_xfer {
    CURL *easy;
    size_t item;
    body_host *host;
    bool sample, hash, aborted;
    unsigned char *buf; /* the sample's prefix: at most cap bytes */
    size_t nbuf, cap;
    long long bytes;
    mon_hasher h;
    bool hashing; /* h initialised */
    char errbuf[CURL_ERROR_SIZE];
} body_xfer;

typedef struct body_run {
    const mon_body_opts *o;
    mon_res **items;
    bool again;
    mon_body_stats *st;
    size_t *jobs; /* selected items, grouped by host */
    size_t njobs;
    body_host *hosts;
    size_t nhosts, done, rr;
    body_xfer *xs;
    body_xfer **freelist;
    size_t nfree;
    long long conc;
    CURLM *multi;
} body_run;

static bool has(const char *s, const char *w) { return s && strcasestr(s, w) != NULL; }

bool mon_is_tabular(const mon_res *r)
{
    static const char *const formats[] = {"csv", "tsv", "json", "txt", "geojson", NULL};
    if (r->format) {
        char f[16];
        size_t j = 0;
        for (const char *p = r->format; *p && j + 1 < sizeof f; p++)
            if (*p != '.' && *p != ' ')
                f[j++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        f[j] = 0;
        for (size_t i = 0; formats[i]; i++)
            if (strcmp(f, formats[i]) == 0)
                return true;
    }
    return has(r->mimetype, "csv") || has(r->mimetype, "json") ||
           has(r->mimetype, "tab-separated") || has(r->content_type, "text/csv") ||
           has(r->content_type, "application/json") || has(r->content_type, "tab-separated");
}

static bool wanted(const mon_res *r, bool again)
{
    if (!r->body)
        return false;
    return again ? r->body->recheck_wanted : r->body->sample_wanted || r->body->hash_wanted;
}

/* The sample keeps its prefix, the hasher sees every byte up to its limit;
 * the transfer stops as soon as neither wants more (a server that ignores
 * Range sends the whole file with a 200: it is cut there). */
static size_t on_write(char *data, size_t size, size_t nmemb, void *user)
{
    body_xfer *x = user;
    size_t n = size * nmemb;
    x->bytes += (long long)n;
    bool more = false;
    if (x->sample && x->nbuf < x->cap) {
        size_t k = n < x->cap - x->nbuf ? n : x->cap - x->nbuf;
        memcpy(x->buf + x->nbuf, data, k);
        x->nbuf += k;
        more = x->nbuf < x->cap;
    }
    if (x->hashing && !x->h.too_large && !x->h.failed)
        more |= mon_hasher_feed(&x->h, data, n) == 0;
    if (!more) {
        x->aborted = true;
        return 0;
    }
    return n;
}

static void start(body_run *br, body_host *h, body_xfer *x, int64_t t)
{
    const mon_body_opts *o = br->o;
    size_t item = h->jobs[h->next++];
    mon_res *r = br->items[item];
    x->item = item;
    x->host = h;
    x->aborted = false;
    x->nbuf = 0;
    x->bytes = 0;
    x->errbuf[0] = 0;
    x->sample = !br->again && r->body->sample_wanted;
    x->hash = br->again ? r->body->recheck_wanted : r->body->hash_wanted;
    x->hashing = x->hash && mon_hasher_init(&x->h, (uint64_t)o->hash_max_bytes) == 0;
    CURL *c = x->easy;
    mon_curl_defaults(c, o->user_agent, o->connect_timeout_ms, o->timeout_ms, o->stop, x->errbuf);
    char *url = mon_url_normalize(r->url);
    curl_easy_setopt(c, CURLOPT_URL, url ? url : r->url);
    free(url);
    curl_easy_setopt(c, CURLOPT_PRIVATE, x);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    if (!x->hash) { /* the sample alone: ask for its bytes only */
        char range[48];
        snprintf(range, sizeof range, "0-%lld", o->sample_bytes - 1);
        curl_easy_setopt(c, CURLOPT_RANGE, range);
    }
    curl_multi_add_handle(br->multi, c);
    h->active++;
    h->last_start = t;
}

/* Content-Range "bytes 0-N/T": is the sample a prefix of a longer file? */
static bool range_cut(CURL *c, size_t got)
{
    struct curl_header *h = NULL;
    if (curl_easy_header(c, "Content-Range", 0, CURLH_HEADER, -1, &h) != CURLHE_OK || !h ||
        !h->value)
        return false;
    const char *slash = strchr(h->value, '/');
    if (!slash || slash[1] == '*')
        return true;
    return strtoll(slash + 1, NULL, 10) > (long long)got;
}

/* What the first bytes say: a schema (CSV/TSV or JSON), the magic bytes for
 * format drift, and an HTML page where data was promised (degraded). */
static void use_sample(body_xfer *x, mon_res *r, long http)
{
    bool cut = x->aborted || range_cut(x->easy, x->nbuf);
    if (r->nmagic == 0) { /* a HEAD said it all before: now the bytes speak */
        r->nmagic = x->nbuf < sizeof r->magic ? x->nbuf : sizeof r->magic;
        memcpy(r->magic, x->buf, r->nmagic);
    }
    if (x->nbuf && mon_body_is_html(x->buf, x->nbuf) &&
        mon_format_is_data(r->format, r->mimetype) && r->status == MON_R_UP) {
        r->status = MON_R_DEGRADED;
        r->soft = true;
        r->reason = VG_MONITOR_REASON_HTML_INSTEAD_OF_DATA;
    }
    (void)http;
    if (!mon_is_tabular(r)) /* sampled for its first bytes only (a drift mark) */
        return;
    size_t i = 0;
    while (i < x->nbuf &&
           (x->buf[i] == ' ' || x->buf[i] == '\n' || x->buf[i] == '\r' || x->buf[i] == '\t'))
        i++;
    bool json = (i < x->nbuf && (x->buf[i] == '[' || x->buf[i] == '{')) || has(r->format, "json") ||
                has(r->content_type, "json");
    mon_schema s;
    memset(&s, 0, sizeof s);
    int rc = json ? mon_json_sample(x->buf, x->nbuf, &s) : mon_sniff_csv(x->buf, x->nbuf, cut, &s);
    if (rc == 0) {
        json_t *j = mon_schema_to_json(&s, 0);
        free(r->body->schema);
        r->body->schema = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
    }
    mon_schema_free(&s);
}

static void finish(body_run *br, body_xfer *x, CURLcode cc)
{
    mon_res *r = br->items[x->item];
    long http = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &http);
    bool answered =
        (cc == CURLE_OK || (cc == CURLE_WRITE_ERROR && x->aborted)) && (http == 200 || http == 206);
    r->body->bytes += x->bytes;
    br->st->bytes += x->bytes;
    if (x->sample && answered) {
        use_sample(x, r, http);
        br->st->sampled++;
    }
    if (x->hash) {
        int *status = br->again ? &r->body->again : &r->body->hash;
        char *hex = br->again ? r->body->sha256_again : r->body->sha256;
        char tmp[65];
        mon_hash_status hs = x->hashing ? mon_hasher_final(&x->h, tmp) : MON_HASH_ERROR;
        x->hashing = false;
        /* a 206 would be a part of the file, not the file */
        if (answered && http == 200 && hs == MON_HASH_OK && (cc == CURLE_OK)) {
            memcpy(hex, tmp, sizeof tmp);
            *status = MON_HASH_DONE;
            br->st->hashed += !br->again;
            br->st->rechecked += br->again;
        } else if (answered && http == 200 && hs == MON_HASH_TOO_LARGE) {
            *status = MON_HASH_SKIPPED_LARGE;
            br->st->too_large++;
        } else {
            *status = MON_HASH_FAILED;
            br->st->failed++;
        }
    } else if (!answered) {
        br->st->failed++;
    }
    if (x->hashing)
        mon_hasher_free(&x->h);
    x->hashing = false;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct keyed_item {
    char *key;
    size_t item;
} keyed_item;

/* Groups the wanted items by host. */
static int plan(body_run *br, size_t n)
{
    keyed_item *k = calloc(n ? n : 1, sizeof *k);
    br->jobs = calloc(n ? n : 1, sizeof *br->jobs);
    br->hosts = calloc(n ? n : 1, sizeof *br->hosts);
    if (!k || !br->jobs || !br->hosts) {
        free(k);
        return -ENOMEM;
    }
    size_t nk = 0;
    for (size_t i = 0; i < n; i++) {
        if (!wanted(br->items[i], br->again))
            continue;
        char *url = mon_url_normalize(br->items[i]->url);
        char *key = url ? mon_host_key(url) : NULL;
        free(url);
        if (!key)
            continue;
        k[nk].key = key;
        k[nk++].item = i;
    }
    qsort(k, nk, sizeof *k, cmp_str); /* key is the first member */
    for (size_t i = 0; i < nk; i++) {
        br->jobs[i] = k[i].item;
        if (br->nhosts == 0 || strcmp(br->hosts[br->nhosts - 1].key, k[i].key) != 0) {
            body_host *h = &br->hosts[br->nhosts++];
            h->key = k[i].key;
            h->jobs = &br->jobs[i];
            h->last_start = INT64_MIN / 2;
        } else {
            free(k[i].key);
        }
        br->hosts[br->nhosts - 1].njobs++;
    }
    br->njobs = nk;
    free(k);
    return 0;
}

static void start_due(body_run *br, int64_t t, int64_t *wait)
{
    bool started = true;
    while (br->nfree > 0 && started) {
        started = false;
        for (size_t s = 0; s < br->nhosts && br->nfree > 0; s++) {
            body_host *h = &br->hosts[(br->rr + s) % br->nhosts];
            if (h->next >= h->njobs || h->active >= br->o->per_host)
                continue;
            int64_t ready = h->last_start + br->o->per_host_interval_ms;
            if (ready > t) {
                if (ready - t < *wait)
                    *wait = ready - t;
                continue;
            }
            start(br, h, br->freelist[--br->nfree], t);
            started = true;
        }
        br->rr++;
    }
}

static void run_free(body_run *br)
{
    for (long long i = 0; br->xs && i < br->conc; i++) {
        body_xfer *x = &br->xs[i];
        if (x->easy) {
            if (br->multi)
                curl_multi_remove_handle(br->multi, x->easy);
            curl_easy_cleanup(x->easy);
        }
        if (x->hashing)
            mon_hasher_free(&x->h);
        free(x->buf);
    }
    if (br->multi)
        curl_multi_cleanup(br->multi);
    for (size_t i = 0; br->hosts && i < br->nhosts; i++)
        free(br->hosts[i].key);
    free(br->hosts);
    free(br->jobs);
    free(br->xs);
    free(br->freelist);
}

int mon_body_fetch(const mon_body_opts *o, mon_res **items, size_t n, bool again,
                   mon_body_stats *st)
{
    body_run br = {.o = o, .items = items, .again = again, .st = st};
    br.conc = o->concurrency > 0 ? o->concurrency : 1;
    int rc = plan(&br, n);
    if (rc == 0 && br.njobs < (size_t)br.conc)
        br.conc = br.njobs ? (long long)br.njobs : 1;
    br.xs = rc == 0 ? calloc((size_t)br.conc, sizeof *br.xs) : NULL;
    br.freelist = rc == 0 ? calloc((size_t)br.conc, sizeof *br.freelist) : NULL;
    br.multi = rc == 0 ? curl_multi_init() : NULL;
    if (rc == 0 && (!br.xs || !br.freelist || !br.multi))
        rc = -ENOMEM;
    for (long long i = 0; rc == 0 && i < br.conc; i++) {
        body_xfer *x = &br.xs[i];
        x->cap = again ? 0 : (size_t)o->sample_bytes;
        x->easy = curl_easy_init();
        x->buf = x->cap ? malloc(x->cap) : NULL;
        if (!x->easy || (x->cap && !x->buf))
            rc = -ENOMEM;
        br.freelist[br.nfree++] = x;
    }
    while (rc == 0 && br.done < br.njobs) {
        if (atomic_load(o->stop)) {
            rc = -ECANCELED;
            break;
        }
        int64_t wait = 100;
        start_due(&br, mon_mono_ms(), &wait);
        int running = 0;
        curl_multi_perform(br.multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(br.multi, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            body_xfer *x = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            CURLcode cc = msg->data.result;
            curl_multi_remove_handle(br.multi, x->easy);
            finish(&br, x, cc);
            x->host->active--;
            br.freelist[br.nfree++] = x;
            br.done++;
        }
        if (br.done >= br.njobs)
            break;
        curl_multi_poll(br.multi, NULL, 0, (int)(wait < 1 ? 1 : wait), NULL);
    }
    run_free(&br);
    return rc;
}
