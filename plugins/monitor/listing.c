/* monitor: lists a CKAN portal's datasets by paging package_search with
 * sort=id asc, the way ckanext-harvest does: de-duplicate by id, stop on an
 * empty page, abort when paging does not advance. Everything the portal
 * sends is untrusted: bounded size, sanitised UTF-8, tolerant parsing. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static int on_progress(void *user, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    return atomic_load((atomic_bool *)user) ? 1 : 0;
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
    json_array_foreach(list, i, v) if (org && strcmp(json_string_value(v), org) == 0) return true;
    return false;
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
        d->nres++;
    }
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
 * mon_list_portal call; mon_parse_page falls back to a linear scan when
 * called on its own (unit tests). */
static idset *g_set_for(const mon_listing *l);
static __thread idset *tl_set;
static __thread const mon_listing *tl_set_owner;
static idset *g_set_for(const mon_listing *l) { return tl_set_owner == l ? tl_set : NULL; }

static bool set_has_or_add(idset *s, char *id)
{
    if (s->n * 2 >= s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 1024;
        char **ns = calloc(nc, sizeof(char *));
        if (!ns)
            return false;
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
            return true;
        j = (j + 1) & (s->cap - 1);
    }
    s->slot[j] = id;
    s->n++;
    return false;
}

int mon_parse_page(const char *text, size_t len, const mon_portal_cfg *p, mon_listing *out,
                   size_t *new_ids, char *err, size_t errlen)
{
    *new_ids = 0;
    char *copy = malloc(len + 1);
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(copy, text, len);
    copy[len] = 0;
    mon_utf8_sanitize(copy, len);
    json_error_t jerr;
    json_t *root = json_loadb(copy, len, 0, &jerr);
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
    if (!json_is_object(root)) {
        snprintf(err, errlen, "package_search: expected a JSON object");
    } else if (!json_is_true(success)) {
        const char *msg = json_string_value(json_object_get(json_object_get(root, "error"),
                                                            "message"));
        snprintf(err, errlen, "package_search: success is not true%s%.200s", msg ? ": " : "",
                 msg ? msg : "");
    } else if (!json_is_array(results)) {
        snprintf(err, errlen, "package_search: result.results is not an array");
    } else {
        size_t i;
        json_t *o;
        rc = (int)json_array_size(results);
        idset *set = g_set_for(out);
        json_array_foreach(results, i, o)
        {
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
            if ((json_array_size(p->include_orgs) && !org_in(p->include_orgs, d.org)) ||
                org_in(p->exclude_orgs, d.org)) {
                /* filtered out, but it still counts as progress */
                (*new_ids)++;
                mon_ds_free(&d);
                continue;
            }
            bool dup = false;
            if (set) {
                dup = set_has_or_add(set, d.id);
            } else {
                for (size_t k = 0; k < out->n && !dup; k++)
                    dup = strcmp(out->ds[k].id, d.id) == 0;
            }
            if (dup) {
                mon_ds_free(&d);
                continue;
            }
            if (ensure_cap(out, out->n + 1) < 0) {
                mon_ds_free(&d);
                snprintf(err, errlen, "out of memory");
                rc = -1;
                break;
            }
            out->ds[out->n++] = d;
            (*new_ids)++;
        }
    }
    json_decref(root);
    return rc;
}

static void url_append_fq(CURL *c, char *url, size_t size, const mon_portal_cfg *p)
{
    size_t n = json_array_size(p->include_orgs);
    if (!n)
        return;
    char fq[2048] = "organization:(";
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(fq);
        snprintf(fq + l, sizeof fq - l, "%s%s", i ? " OR " : "",
                 json_string_value(json_array_get(p->include_orgs, i)));
    }
    size_t l = strlen(fq);
    snprintf(fq + l, sizeof fq - l, ")");
    char *esc = curl_easy_escape(c, fq, 0);
    if (esc) {
        l = strlen(url);
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

int mon_list_portal(const mon_portal_cfg *p, const mon_http_opts *o, mon_listing *out, char *err,
                    size_t errlen)
{
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, errlen, "curl_easy_init failed");
        return -1;
    }
    idset set = {0};
    tl_set = &set;
    tl_set_owner = out;
    body b = {.max = (size_t)p->max_response_bytes};
    char errbuf[CURL_ERROR_SIZE];
    int rc = -1;
    uint64_t prev_hash = 0;
    long long start = 0;
    const int max_pages = 100000;
    for (int page = 0; page < max_pages; page++) {
        if (atomic_load(o->stop)) {
            snprintf(err, errlen, "cancelled");
            break;
        }
        if (page > 0 && p->api_delay_ms > 0)
            sleep_ms_stop(p->api_delay_ms, o->stop);
        char url[4096];
        snprintf(url, sizeof url, "%s/api/3/action/package_search?sort=id%%20asc&rows=%lld&start=%lld",
                 p->base_url, p->rows, start);
        url_append_fq(c, url, sizeof url, p);
        curl_easy_reset(c);
        b.len = 0;
        b.too_big = false;
        errbuf[0] = 0;
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_USERAGENT, o->user_agent);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)o->connect_timeout_ms);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, o->stop);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        struct timespec f0, f1, f2;
        clock_gettime(CLOCK_MONOTONIC, &f0);
        CURLcode cc = curl_easy_perform(c);
        clock_gettime(CLOCK_MONOTONIC, &f1);
        out->fetch_ms += (double)(f1.tv_sec - f0.tv_sec) * 1e3 + (double)(f1.tv_nsec - f0.tv_nsec) / 1e6;
        long http = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
        out->pages++;
        if (b.too_big) {
            snprintf(err, errlen, "package_search page %d: response larger than %lld bytes", page,
                     p->max_response_bytes);
            break;
        }
        if (cc != CURLE_OK) {
            snprintf(err, errlen, "package_search page %d: %s", page,
                     atomic_load(o->stop) ? "cancelled" : errbuf[0] ? errbuf : curl_easy_strerror(cc));
            break;
        }
        if (http != 200) {
            snprintf(err, errlen, "package_search page %d: HTTP %ld", page, http);
            break;
        }
        uint64_t h = b.p ? hash(b.p) ^ b.len : 0;
        if (page > 0 && h == prev_hash) {
            snprintf(err, errlen, "package_search page %d: same page as before, paging does not advance",
                     page);
            break;
        }
        prev_hash = h;
        size_t fresh = 0;
        char perr[300];
        int got = mon_parse_page(b.p ? b.p : "", b.len, p, out, &fresh, perr, sizeof perr);
        clock_gettime(CLOCK_MONOTONIC, &f2);
        out->parse_ms += (double)(f2.tv_sec - f1.tv_sec) * 1e3 + (double)(f2.tv_nsec - f1.tv_nsec) / 1e6;
        if (got < 0) {
            snprintf(err, errlen, "page %d: %s", page, perr);
            break;
        }
        if (got == 0) {
            rc = 0; /* an empty page ends a complete listing */
            break;
        }
        if (fresh == 0) {
            snprintf(err, errlen, "package_search page %d: no new datasets, paging does not advance",
                     page);
            break;
        }
        /* a server may cap rows below what we asked: advance by what came */
        start += got < p->rows ? got : p->rows;
    }
    free(b.p);
    free(set.slot); /* the ids themselves belong to the listing */
    tl_set = NULL;
    tl_set_owner = NULL;
    curl_easy_cleanup(c);
    return rc;
}
