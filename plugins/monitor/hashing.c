/* Content hashing and the content-change rules: a streaming SHA-256 bounded by hash_max_bytes
 * (never the whole file in memory), what moved between two looks, and files regenerated on
 * every request (two fetches seconds apart disagree: not a change worth announcing). */
#include "sniff.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

int mon_hasher_init(mon_hasher *h, uint64_t max_bytes)
{
    memset(h, 0, sizeof *h);
    h->max_bytes = max_bytes;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        h->failed = 1;
        return -1;
    }
    h->ctx = ctx;
    return 0;
}

int mon_hasher_feed(mon_hasher *h, const void *p, size_t n)
{
    if (h->failed || !h->ctx)
        return -1;
    if (h->too_large)
        return 1;
    if (h->max_bytes && (uint64_t)n > h->max_bytes - h->seen) {
        h->too_large = 1; /* what was hashed so far is worthless: the caller stops the transfer */
        return 1;
    }
    if (n && EVP_DigestUpdate(h->ctx, p, n) != 1) {
        h->failed = 1;
        return -1;
    }
    h->seen += n;
    return 0;
}

mon_hash_status mon_hasher_final(mon_hasher *h, char hex[65])
{
    hex[0] = 0;
    mon_hash_status st = h->failed      ? MON_HASH_ERROR
                         : h->too_large ? MON_HASH_TOO_LARGE
                                        : MON_HASH_OK;
    if (st == MON_HASH_OK && h->ctx) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        if (EVP_DigestFinal_ex(h->ctx, md, &len) != 1 || len != 32)
            st = MON_HASH_ERROR;
        else
            for (unsigned i = 0; i < len; i++)
                snprintf(hex + 2 * i, 3, "%02x", md[i]);
    } else if (st == MON_HASH_OK)
        st = MON_HASH_ERROR;
    mon_hasher_free(h);
    return st;
}

void mon_hasher_free(mon_hasher *h)
{
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
}

size_t mon_hasher_curl_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    size_t n = size * nmemb;
    return mon_hasher_feed(userdata, ptr, n) == 0 ? n : 0;
}

unsigned mon_content_compare(const mon_content_state *prev, const mon_content_state *cur)
{
    unsigned m = 0;
    if (prev->etag[0] && cur->etag[0] && strcmp(prev->etag, cur->etag) != 0)
        m |= MON_MOVED_ETAG;
    if (prev->last_modified[0] && cur->last_modified[0] &&
        strcmp(prev->last_modified, cur->last_modified) != 0)
        m |= MON_MOVED_LAST_MODIFIED;
    if (prev->length >= 0 && cur->length >= 0 && prev->length != cur->length)
        m |= MON_MOVED_LENGTH;
    if (prev->sha256[0] && cur->sha256[0]) {
        /* the bytes decide: a new ETag or date on the same bytes is not a change */
        if (strcmp(prev->sha256, cur->sha256) != 0)
            m |= MON_MOVED_HASH | MON_MOVED_CHANGED;
    } else if (m)
        m |= MON_MOVED_CHANGED;
    return m;
}

json_t *mon_content_moved_json(const mon_content_state *prev, const mon_content_state *cur,
                               unsigned moved)
{
    json_t *o = json_object();
    if (moved & MON_MOVED_ETAG)
        json_object_set_new(o, "etag", json_pack("{s:s,s:s}", "old", prev->etag, "new", cur->etag));
    if (moved & MON_MOVED_LAST_MODIFIED)
        json_object_set_new(
            o, "last_modified",
            json_pack("{s:s,s:s}", "old", prev->last_modified, "new", cur->last_modified));
    if (moved & MON_MOVED_LENGTH)
        json_object_set_new(o, "length",
                            json_pack("{s:I,s:I}", "old", (json_int_t)prev->length, "new",
                                      (json_int_t)cur->length));
    if (moved & MON_MOVED_HASH)
        json_object_set_new(o, "sha256",
                            json_pack("{s:s,s:s}", "old", prev->sha256, "new", cur->sha256));
    return o;
}

const char *mon_regen_verdict_name(mon_regen_verdict v)
{
    static const char *n[] = {"first", "same", "need_recheck", "changed", "volatile", "settled"};
    return (unsigned)v < sizeof n / sizeof n[0] ? n[v] : "?";
}

static void keep_hash(mon_regen_state *s, const char *h)
{
    snprintf(s->sha256, sizeof s->sha256, "%s", h);
}

mon_regen_verdict mon_regen_decide(const mon_regen_state *prev, const char *hash_now,
                                   const char *hash_again, int64_t now, int64_t recheck_s,
                                   mon_regen_state *next)
{
    mon_regen_state st = *prev;
    mon_regen_verdict v;
    if (st.is_volatile) {
        if (now - st.volatile_checked < recheck_s) {
            v = MON_REGEN_VOLATILE; /* no second fetch until the mark expires */
        } else if (!hash_again) {
            v = MON_REGEN_NEED_RECHECK;
        } else if (strcmp(hash_now, hash_again) != 0) {
            st.volatile_checked = now;
            v = MON_REGEN_VOLATILE;
        } else {
            /* stable again: a new baseline, but what changed meanwhile is unknown */
            st.is_volatile = 0;
            st.volatile_checked = 0;
            keep_hash(&st, hash_now);
            v = MON_REGEN_SETTLED;
        }
    } else if (!st.sha256[0]) {
        keep_hash(&st, hash_now);
        v = MON_REGEN_FIRST;
    } else if (strcmp(st.sha256, hash_now) == 0) {
        v = MON_REGEN_SAME;
    } else if (!hash_again) {
        v = MON_REGEN_NEED_RECHECK;
    } else if (strcmp(hash_now, hash_again) != 0) {
        st.is_volatile = 1;
        st.volatile_checked = now;
        v = MON_REGEN_VOLATILE;
    } else {
        keep_hash(&st, hash_now);
        v = MON_REGEN_CHANGED;
    }
    *next = st;
    return v;
}
