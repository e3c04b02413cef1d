/* monitor: lists a CKAN portal's datasets by paging package_search with
 * sort=id asc, the way ckanext-harvest does: de-duplicate by id, judge
 * completeness by result.count (paging.c), retry each page with backoff.
 * Everything the portal sends is untrusted: bounded size, depth-checked JSON,
 * sanitised UTF-8, tolerant parsing. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <vigia/json.h>

#include "http.h"
#include "monitor.h"

typedef struct body {
    char *p;
    size_t len, cap, max;
    bool too_big;
} body;

static size_t on_data(char *data, size_t size, size_t nmemb, void *user)
{
    body *b = user;
    size_t n = size * nmemb;
    if (b->len + n > b->max) {
        b->too_big = true;
        return 0;
    }
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 65536;
        while (nc < b->len + n + 1)
            nc *= 2;
        char *p = realloc(b->p, nc);
        if (!p)
            return 0;
        b->p = p;
        b->cap = nc;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = 0;
    return n;
}

size_t mon_utf8_sanitize(char *s, size_t len)
{
    size_t bad = 0;
    unsigned char *u = (unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char c = u[i];
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = n > 0 && i + n <= len;
        for (size_t k = 1; ok && k < n; k++)
            ok = (u[i + k] & 0xc0) == 0x80;
        if (ok && n == 2)
            ok = c >= 0xc2;
        if (ok && n == 3) {
            unsigned cp = ((c & 0x0fu) << 12) | ((u[i + 1] & 0x3fu) << 6) | (u[i + 2] & 0x3fu);
            ok = cp >= 0x800 && (cp < 0xd800 || cp > 0xdfff);
        }
        if (ok && n == 4) {
            unsigned cp = ((c & 0x07u) << 18) | ((u[i + 1] & 0x3fu) << 12) |
                          ((u[i + 2] & 0x3fu) << 6) | (u[i + 3] & 0x3fu);
            ok = cp >= 0x10000 && cp <= 0x10ffff;
        }
        if (!ok) {
            u[i++] = '?';
            bad++;
            continue;
        }
        i += n;
    }
    return bad;
}

static char *dup_str(const json_t *v)
{
    const char *s = json_string_value(v);
    return s ? strdup(s) : NULL;
}

void mon_ds_free(mon_ds *d)
{
    free(d->id);
    free(d->name);
    free(d->title);
    free(d->org);
    free(d->org_title);
    free(d->url);
    free(d->modified);
    free(d->maintainer);
    free(d->maintainer_email);
    free(d->author);
    free(d->author_email);
    free(d->frequency);
    for (size_t i = 0; i < d->nres; i++) {
        mon_res *r = &d->res[i];
        free(r->id);
        free(r->name);
        free(r->url);
        free(r->format);
        free(r->mimetype);
        free(r->content_type);
        free(r->final_url);
        free(r->error);
        free(r->etag);
        free(r->last_modified);
        if (r->body)
            free(r->body->schema);
        free(r->body);
    }
    free(d->res);
    memset(d, 0, sizeof *d);
}

void mon_listing_free(mon_listing *l)
{
    for (size_t i = 0; i < l->n; i++)
        mon_ds_free(&l->ds[i]);
    free(l->ds);
    memset(l, 0, sizeof *l);
}

static bool org_in(const json_t *list, const char *org)
{
    size_t i;
    json_t *v;
    json_array_foreach (list, i, v)
        if (org && strcmp(json_string_value(v), org) == 0)
            return true;
    return false;
}

/* A result of another type (showcase, harvest source...) when the portal
 * ignored fq=+dataset_type: a missing "type" is a dataset. */
static bool type_unwanted(const json_t *types, const json_t *o)
{
    const char *t = json_string_value(json_object_get(o, "type"));
    return t && json_array_size(types) && !org_in(types, t);
}

/* Small open-addressing set of ids already listed, for de-duplication. */
typedef struct idset {
    char **slot;
    size_t cap, n;
} idset;

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
    return h;
}

/* A contact field: kept when it is a non-empty string of at most 320 bytes
 * (an e-mail address is at most 254; a name list a little more), else NULL. */
static char *contact_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && *s && strlen(s) <= 320 ? strdup(s) : NULL;
}

static int parse_dataset(const json_t *o, const char *base_url, mon_ds *d)
{
    memset(d, 0, sizeof *d);
    const char *id = json_string_value(json_object_get(o, "id"));
    if (!id || !*id || strlen(id) > 200)
        return -1;
    d->id = strdup(id);
    d->name = dup_str(json_object_get(o, "name"));
    d->title = dup_str(json_object_get(o, "title"));
    d->modified = dup_str(json_object_get(o, "metadata_modified"));
    d->maintainer = contact_str(o, "maintainer");
    d->maintainer_email = contact_str(o, "maintainer_email");
    d->author = contact_str(o, "author");
    d->author_email = contact_str(o, "author_email");
    const json_t *org = json_object_get(o, "organization");
    if (json_is_object(org)) {
        d->org = dup_str(json_object_get(org, "name"));
        d->org_title = dup_str(json_object_get(org, "title"));
    }
    const char *slug = d->name ? d->name : d->id;
    size_t ul = strlen(base_url) + strlen(slug) + 16;
    d->url = malloc(ul);
    if (d->url)
        snprintf(d->url, ul, "%s/dataset/%s", base_url, slug);
    if (!d->id || !d->url)
        return -1;
    const json_t *res = json_object_get(o, "resources");
    size_t n = json_is_array(res) ? json_array_size(res) : 0;
    if (n) {
        d->res = calloc(n, sizeof(mon_res));
        if (!d->res)
            return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *r = json_array_get(res, i);
        const char *rid = json_string_value(json_object_get(r, "id"));
        if (!json_is_object(r) || !rid || !*rid)
            continue;
        bool dup = false;
        for (size_t k = 0; k < d->nres && !dup; k++)
            dup = strcmp(d->res[k].id, rid) == 0;
        if (dup)
            continue;
        mon_res *m = &d->res[d->nres];
        m->id = strdup(rid);
        m->name = dup_str(json_object_get(r, "name"));
        m->url = dup_str(json_object_get(r, "url"));
        m->format = dup_str(json_object_get(r, "format"));
        m->mimetype = dup_str(json_object_get(r, "mimetype"));
        m->position = (int)d->nres;
        m->content_length = -1;
        if (!m->id)
            return -1;
        if (!m->url)
            m->url = strdup("");
        /* freshness: the newest file date the portal knows */
        int64_t lm = mon_iso_parse_ms(json_string_value(json_object_get(r, "last_modified")));
        if (lm > d->res_modified_ms)
            d->res_modified_ms = lm;
        d->nres++;
    }
    const char *freq = mon_freq_declared(o);
    if (freq && strlen(freq) <= 512) /* longer is no frequency: frequency.c refuses it */
        d->frequency = strdup(freq);
    return 0;
}

static int ensure_cap(mon_listing *l, size_t need)
{
    if (need <= l->cap)
        return 0;
    size_t nc = l->cap ? l->cap * 2 : 256;
    while (nc < need)
        nc *= 2;
    mon_ds *p = realloc(l->ds, nc * sizeof(mon_ds));
    if (!p)
        return -1;
    l->ds = p;
    l->cap = nc;
    return 0;
}

/* The de-duplication set lives beside the listing for the duration of one
 * mon_list_portal call and owns copies of every id seen (filtered-out ones
 * too: they count toward result.count); mon_parse_page falls back to a linear
 * scan when called on its own (unit tests). */
static __thread idset *tl_set;
static __thread const mon_listing *tl_set_owner;
static idset *g_set_for(const mon_listing *l) { return tl_set_owner == l ? tl_set : NULL; }

/* 1 when `id` was already there, 0 when added, -1 out of memory. */
static int set_has_or_add(idset *s, const char *id)
{
    if (s->n * 2 >= s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 1024;
        char **ns = calloc(nc, sizeof(char *));
        if (!ns)
            return -1;
        for (size_t i = 0; i < s->cap; i++)
            if (s->slot[i]) {
                size_t j = hash(s->slot[i]) & (nc - 1);
                while (ns[j])
                    j = (j + 1) & (nc - 1);
                ns[j] = s->slot[i];
            }
        free(s->slot);
        s->slot = ns;
        s->cap = nc;
    }
    size_t j = hash(id) & (s->cap - 1);
    while (s->slot[j]) {
        if (strcmp(s->slot[j], id) == 0)
            return 1;
        j = (j + 1) & (s->cap - 1);
    }
    s->slot[j] = strdup(id);
    if (!s->slot[j])
        return -1;
    s->n++;
    return 0;
}

static void set_free(idset *s)
{
    for (size_t i = 0; i < s->cap; i++)
        free(s->slot[i]);
    free(s->slot);
    memset(s, 0, sizeof *s);
}

/* Whether `d` is new to this listing; counts it in *new_ids when it is. */
static int seen_before(mon_listing *out, const char *id, size_t *new_ids)
{
    idset *set = g_set_for(out);
    int dup = 0;
    if (set) {
        dup = set_has_or_add(set, id);
        if (dup < 0)
            return -1;
    } else {
        for (size_t k = 0; k < out->n && !dup; k++)
            dup = strcmp(out->ds[k].id, id) == 0;
    }
    if (!dup)
        (*new_ids)++;
    return dup;
}

static int add_results(const json_t *results, const mon_portal_cfg *p, mon_listing *out,
                       size_t *new_ids, char *err, size_t errlen)
{
    size_t i;
    json_t *o;
    json_array_foreach (results, i, o) {
        if (!json_is_object(o)) {
            out->errors++;
            continue;
        }
        mon_ds d;
        if (parse_dataset(o, p->base_url, &d) < 0) {
            mon_ds_free(&d);
            out->errors++;
            continue;
        }
        int dup = seen_before(out, d.id, new_ids);
        bool unwanted = (json_array_size(p->include_orgs) && !org_in(p->include_orgs, d.org)) ||
                        org_in(p->exclude_orgs, d.org) || type_unwanted(p->types, o);
        if (dup != 0 || unwanted) {
            /* filtered out, but it counts toward result.count */
            mon_ds_free(&d);
            if (dup < 0) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            continue;
        }
        if (ensure_cap(out, out->n + 1) < 0) {
            mon_ds_free(&d);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        out->ds[out->n++] = d;
    }
    return 0;
}

int mon_parse_page_ex(const char *text, size_t len, const mon_portal_cfg *p, int max_depth,
                      mon_listing *out, size_t *new_ids, long long *count, char *err, size_t errlen)
{
    *new_ids = 0;
    *count = -1;
    char *copy = malloc(len + 1);
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(copy, text, len);
    copy[len] = 0;
    mon_utf8_sanitize(copy, len);
    json_error_t jerr;
    json_t *root = vg_json_parse(copy, len, 0, max_depth, &jerr);
    free(copy);
    if (!root) {
        snprintf(err, errlen, "invalid JSON from package_search (line %d: %s)", jerr.line,
                 jerr.text);
        return -1;
    }
    int rc = -1;
    const json_t *success = json_object_get(root, "success");
    const json_t *result = json_object_get(root, "result");
    const json_t *results = json_object_get(result, "results");
    const json_t *jc = json_object_get(result, "count");
    if (!json_is_object(root)) {
        snprintf(err, errlen, "package_search: expected a JSON object");
    } else if (!json_is_true(success)) {
        const char *msg =
            json_string_value(json_object_get(json_object_get(root, "error"), "message"));
        snprintf(err, errlen, "package_search: success is not true%s%.200s", msg ? ": " : "",
                 msg ? msg : "");
    } else if (!json_is_array(results)) {
        snprintf(err, errlen, "package_search: result.results is not an array");
    } else {
        *count = json_is_integer(jc) && json_integer_value(jc) >= 0 ? json_integer_value(jc) : -1;
        rc = (int)json_array_size(results);
        if (add_results(results, p, out, new_ids, err, errlen) < 0)
            rc = -1;
    }
    json_decref(root);
    return rc;
}

int mon_parse_page(const char *text, size_t len, const mon_portal_cfg *p, mon_listing *out,
                   size_t *new_ids, char *err, size_t errlen)
{
    long long count;
    return mon_parse_page_ex(text, len, p, VG_JSON_MAX_DEPTH_DEFAULT, out, new_ids, &count, err,
                             errlen);
}

/* "field:value" or "field:(a OR b)" from a list of names. */
static void fq_clause(char *fq, size_t size, const char *field, const json_t *list)
{
    size_t n = json_array_size(list), l = strlen(fq);
    if (!n)
        return;
    snprintf(fq + l, size - l, "%s+%s:%s", l ? " " : "", field, n > 1 ? "(" : "");
    for (size_t i = 0; i < n; i++) {
        l = strlen(fq);
        snprintf(fq + l, size - l, "%s%s", i ? " OR " : "",
                 json_string_value(json_array_get(list, i)));
    }
    l = strlen(fq);
    if (n > 1)
        snprintf(fq + l, size - l, ")");
}

/* Only datasets are datasets: package_search also returns showcases and
 * harvest sources unless asked for a type (ckan/ckan#2803). */
static void url_append_fq(CURL *c, char *url, size_t size, const mon_portal_cfg *p)
{
    char fq[2048] = "";
    fq_clause(fq, sizeof fq, "dataset_type", p->types);
    fq_clause(fq, sizeof fq, "organization", p->include_orgs);
    if (!fq[0])
        return;
    char *esc = curl_easy_escape(c, fq, 0);
    if (esc) {
        size_t l = strlen(url);
        snprintf(url + l, size - l, "&fq=%s", esc);
        curl_free(esc);
    }
}

static void sleep_ms_stop(int64_t ms, atomic_bool *stop)
{
    while (ms > 0 && !atomic_load(stop)) {
        int64_t step = ms < 50 ? ms : 50;
        struct timespec ts = {0, (long)step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

static double ms_between(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

long long mon_retry_after_s(const char *v, int64_t now_ms)
{
    if (!v)
        return -1;
    while (*v == ' ')
        v++;
    char *end = NULL;
    long long s = strtoll(v, &end, 10);
    if (end != v && (*end == 0 || *end == ' ' || *end == '\r' || *end == '\n'))
        return s < 0 ? 0 : s;
    time_t t = curl_getdate(v, NULL); /* HTTP date */
    if (t < 0)
        return -1;
    long long d = (long long)t - now_ms / 1000;
    return d < 0 ? 0 : d;
}

/* One HTTP exchange of the listing. */
typedef struct fetch {
    body b;
    long http;
    long long retry_after; /* seconds, -1 none */
    bool html;
    CURLcode cc;
    char errbuf[CURL_ERROR_SIZE];
} fetch;

static size_t on_header(char *data, size_t size, size_t nmemb, void *user)
{
    fetch *f = user;
    size_t n = size * nmemb;
    if (n > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
        char v[128];
        size_t l = n - 12 < sizeof v - 1 ? n - 12 : sizeof v - 1;
        memcpy(v, data + 12, l);
        v[l] = 0;
        f->retry_after = mon_retry_after_s(v, mon_wall_ms());
    }
    return n;
}

static void fetch_run(CURL *c, const char *url, const mon_http_opts *o, fetch *f)
{
    f->b.len = 0;
    f->b.too_big = false;
    f->errbuf[0] = 0;
    f->retry_after = -1;
    f->http = 0;
    mon_curl_defaults(c, o->user_agent, o->connect_timeout_ms, o->timeout_ms, o->stop, f->errbuf);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data); /* bounded by max_response_bytes */
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &f->b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, f);
    f->cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &f->http);
    const char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    size_t i = 0;
    while (f->b.p && i < f->b.len && (f->b.p[i] == ' ' || f->b.p[i] == '\n' || f->b.p[i] == '\r'))
        i++;
    /* maintenance, login and firewall pages come as HTML, often with 200 */
    f->html = (ct && strstr(ct, "html")) || (f->b.p && i < f->b.len && f->b.p[i] == '<');
}

static int depth(const mon_http_opts *o)
{
    return o->max_json_depth > 0 ? o->max_json_depth : VG_JSON_MAX_DEPTH_DEFAULT;
}

static const char *api_path(const mon_http_opts *o)
{
    return o->legacy_api && *o->legacy_api ? "/api/action" : "/api/3/action";
}

/* What one attempt at a page came to. */
enum { ATT_OK, ATT_RETRY, ATT_SMALLER, ATT_LEGACY, ATT_FATAL, ATT_CANCELLED };

static int judge(const fetch *f, const mon_http_opts *o, char *err, size_t errlen)
{
    if (atomic_load(o->stop)) {
        snprintf(err, errlen, "cancelled");
        return ATT_CANCELLED;
    }
    if (f->b.too_big) {
        snprintf(err, errlen, "response larger than %lld bytes", o->max_response_bytes);
        return ATT_SMALLER;
    }
    if (f->cc != CURLE_OK) {
        snprintf(err, errlen, "%s", f->errbuf[0] ? f->errbuf : curl_easy_strerror(f->cc));
        return ATT_RETRY;
    }
    if (f->http == 404 && o->legacy_api && !*o->legacy_api)
        return ATT_LEGACY;
    if (f->http != 200) {
        snprintf(err, errlen, "HTTP %ld%s", f->http, f->html ? " (an HTML page)" : "");
        bool transient = f->http >= 500 || f->http == 429 || f->http == 408;
        return transient ? ATT_RETRY : ATT_FATAL;
    }
    if (f->html) {
        snprintf(err, errlen,
                 "an HTML page with status 200 instead of JSON (maintenance, "
                 "login or firewall page)");
        return ATT_RETRY;
    }
    return ATT_OK;
}

/* Backoff with jitter, or the server's Retry-After, capped. */
static int64_t retry_wait_ms(const mon_portal_cfg *p, const fetch *f, int attempt, uint64_t *rng)
{
    int64_t base = p->api_retry_delay_ms;
    for (int i = 0; i < attempt && base < p->api_retry_max_ms; i++)
        base *= 2;
    *rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL;
    double jitter = 0.5 + (double)(*rng >> 11) / (double)(1ULL << 53); /* 0.5 .. 1.5 */
    int64_t wait = (int64_t)((double)base * jitter);
    if (f->retry_after >= 0 && (f->http == 429 || f->http == 503))
        wait = f->retry_after * 1000;
    if (wait > p->api_retry_max_ms)
        wait = p->api_retry_max_ms;
    return wait < p->api_delay_ms ? p->api_delay_ms : wait; /* never below the crawl delay */
}

typedef struct lister {
    const mon_portal_cfg *p;
    const mon_http_opts *o;
    CURL *c;
    fetch f;
    mon_pager pg;
    mon_listing *out;
    uint64_t rng;
    uint64_t prev_hash;
    int page;
} lister;

/* Fetches and parses the page at pg.start, retrying. Returns 1 when the
 * listing ends, 0 for the next page, -1 on failure (err filled). */
static int list_page(lister *ls, char *err, size_t errlen)
{
    const mon_portal_cfg *p = ls->p;
    char why[300] = "";
    for (int attempt = 0; attempt <= p->api_retries;) {
        char url[4096];
        snprintf(url, sizeof url, "%s%s/package_search?sort=id%%20asc&rows=%lld&start=%lld",
                 p->base_url, api_path(ls->o), ls->pg.rows, ls->pg.start);
        url_append_fq(ls->c, url, sizeof url, p);
        struct timespec f0, f1, f2;
        clock_gettime(CLOCK_MONOTONIC, &f0);
        fetch_run(ls->c, url, ls->o, &ls->f);
        clock_gettime(CLOCK_MONOTONIC, &f1);
        ls->out->fetch_ms += ms_between(&f0, &f1);
        ls->out->pages++;
        int v = judge(&ls->f, ls->o, why, sizeof why);
        if (v == ATT_CANCELLED) {
            snprintf(err, errlen, "cancelled");
            return -1;
        }
        if (v == ATT_LEGACY) { /* an old portal: same request on /api/action */
            *ls->o->legacy_api = true;
            continue;
        }
        if (v == ATT_SMALLER && ls->pg.rows > 1) {
            ls->pg.rows = ls->pg.rows / 2; /* not a failure: ask for less */
            continue;
        }
        if (v == ATT_OK) {
            uint64_t h = ls->f.b.p ? hash(ls->f.b.p) ^ ls->f.b.len : 0;
            if (ls->page > 0 && h == ls->prev_hash) {
                snprintf(ls->pg.why, sizeof ls->pg.why,
                         "page %d is the same as the previous one: paging does not advance",
                         ls->page);
                ls->pg.state = MON_PAGER_INCOMPLETE;
                return 1;
            }
            size_t fresh = 0;
            long long count = -1;
            int got = mon_parse_page_ex(ls->f.b.p ? ls->f.b.p : "", ls->f.b.len, p, depth(ls->o),
                                        ls->out, &fresh, &count, why, sizeof why);
            clock_gettime(CLOCK_MONOTONIC, &f2);
            ls->out->parse_ms += ms_between(&f1, &f2);
            if (got >= 0 && count < 0)
                snprintf(why, sizeof why, "package_search: result.count is missing");
            if (got >= 0 && count >= 0) {
                ls->prev_hash = h;
                ls->page++;
                return mon_pager_page(&ls->pg, count, (size_t)got, fresh);
            }
        } else if (v == ATT_FATAL || v == ATT_SMALLER) {
            break;
        }
        if (attempt++ < p->api_retries) {
            ls->out->retries++;
            sleep_ms_stop(retry_wait_ms(p, &ls->f, attempt - 1, &ls->rng), ls->o->stop);
        }
    }
    snprintf(err, errlen, "package_search start=%lld: %s (after %d retries)", ls->pg.start, why,
             (int)p->api_retries);
    return -1;
}

int mon_list_portal(const mon_portal_cfg *p, const mon_http_opts *o, mon_listing *out, char *err,
                    size_t errlen)
{
    memset(out, 0, sizeof *out);
    lister ls = {.p = p,
                 .o = o,
                 .out = out,
                 .c = curl_easy_init(),
                 .rng = (uint64_t)mon_wall_ms() ^ (uint64_t)(uintptr_t)out};
    if (!ls.c) {
        snprintf(err, errlen, "curl_easy_init failed");
        return -1;
    }
    idset set = {0};
    tl_set = &set;
    tl_set_owner = out;
    ls.f.b.max = (size_t)p->max_response_bytes;
    mon_pager_init(&ls.pg, p->rows);
    int rc = 0;
    for (;;) {
        if (ls.page > 0 && p->api_delay_ms > 0)
            sleep_ms_stop(p->api_delay_ms, o->stop);
        rc = list_page(&ls, err, errlen);
        if (rc != 0)
            break;
    }
    out->complete = rc == 1 && ls.pg.state == MON_PAGER_COMPLETE;
    out->count = ls.pg.count;
    snprintf(out->incomplete, sizeof out->incomplete, "%s", out->complete ? "" : ls.pg.why);
    free(ls.f.b.p);
    set_free(&set);
    tl_set = NULL;
    tl_set_owner = NULL;
    curl_easy_cleanup(ls.c);
    return rc < 0 ? -1 : 0;
}

/* The dict of package_show says whether the dataset still exists. */
static int show_verdict(const fetch *f, int max_depth, const json_t *types)
{
    if (f->cc != CURLE_OK || f->html || f->b.too_big)
        return -1;
    json_t *root = f->b.p ? vg_json_parse(f->b.p, f->b.len, 0, max_depth, NULL) : NULL;
    const json_t *e = json_object_get(root, "error");
    const char *type = json_string_value(json_object_get(e, "__type"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    const json_t *result = json_object_get(root, "result");
    const char *state = json_string_value(json_object_get(result, "state"));
    int v = -1;
    if (f->http == 404 && (!root || (type && strstr(type, "Not Found")) ||
                           (msg && strcasecmp(msg, "Not found") == 0)))
        v = 1;
    else if (f->http == 200 && json_is_true(json_object_get(root, "success")))
        /* deleted, or no longer one of the monitored types */
        v = (state && strcmp(state, "deleted") == 0) || type_unwanted(types, result) ? 1 : 0;
    json_decref(root);
    return v;
}

int mon_confirm_gone(const mon_portal_cfg *p, const mon_http_opts *o, const char *id)
{
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    fetch f;
    memset(&f, 0, sizeof f);
    f.b.max = (size_t)p->max_response_bytes;
    char *esc = curl_easy_escape(c, id, 0);
    char url[4096];
    snprintf(url, sizeof url, "%s%s/package_show?id=%s", p->base_url, api_path(o), esc ? esc : "");
    curl_free(esc);
    fetch_run(c, url, o, &f);
    int v = show_verdict(&f, depth(o), p->types);
    free(f.b.p);
    curl_easy_cleanup(c);
    return v;
}
