/* monitor: the pure rules that turn HTTP outcomes into resource and dataset
 * statuses, and the hysteresis that decides when a dataset's status changes. */
#include <ctype.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <vigia/contract/monitor.h>

#include "monitor.h"

static const char *const k_rnames[] = {VG_MONITOR_RESOURCE_UNKNOWN, VG_MONITOR_RESOURCE_UP,
                                       VG_MONITOR_RESOURCE_DOWN, VG_MONITOR_RESOURCE_RESTRICTED,
                                       VG_MONITOR_RESOURCE_DEGRADED};
static const char *const k_dnames[MON_D_COUNT] = {
    VG_MONITOR_DATASET_UNKNOWN, VG_MONITOR_DATASET_UP, VG_MONITOR_DATASET_DEGRADED,
    VG_MONITOR_DATASET_DOWN, VG_MONITOR_DATASET_EMPTY};

const char *mon_rstatus_name(int s)
{
    return s >= 0 && s <= 4 ? k_rnames[s] : VG_MONITOR_RESOURCE_UNKNOWN;
}
const char *mon_dstatus_name(int s)
{
    return s >= 0 && s < MON_D_COUNT ? k_dnames[s] : VG_MONITOR_DATASET_UNKNOWN;
}

int mon_dstatus_parse(const char *s)
{
    for (int i = 0; s && i < MON_D_COUNT; i++)
        if (strcmp(s, k_dnames[i]) == 0)
            return i;
    return -1;
}

/* Errors after which a GET may still work: the server answered, badly. */
static bool misbehaved(int cc)
{
    switch (cc) {
    case CURLE_GOT_NOTHING:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING:
        return true;
    default:
        return false;
    }
}

mon_verdict mon_classify(bool is_head, int cc, long http, bool aborted_body, bool retry_after)
{
    bool answered = cc == CURLE_OK || (!is_head && cc == CURLE_WRITE_ERROR && aborted_body);
    if (!answered)
        return is_head && misbehaved(cc) ? MON_V_RETRY_GET : MON_V_DOWN;
    if (http >= 200 && http < 400)
        return MON_V_UP;
    /* a busy server asking us to come back is not a broken resource */
    if (http == 429 || (http == 503 && retry_after))
        return MON_V_RATE_LIMITED;
    /* many servers answer HEAD wrongly (404, 405, 500...) while GET works:
     * a failure is only believed after a ranged GET */
    if (is_head)
        return MON_V_RETRY_GET;
    if (http == 401 || http == 403)
        return MON_V_RESTRICTED;
    return MON_V_DOWN;
}

/* up: every checked resource reachable and none slow; degraded: some down or
 * slow; down: none reachable; unknown: nothing could be checked. Restricted
 * resources are reachable (they exist, they need credentials). */
mon_dstatus mon_dataset_observe(const mon_res_outcome *res, size_t n)
{
    if (n == 0)
        return MON_D_EMPTY;
    size_t known = 0, reachable = 0, down = 0, slow = 0;
    for (size_t i = 0; i < n; i++) {
        switch (res[i].status) {
        case MON_R_UP:
        case MON_R_RESTRICTED:
        case MON_R_DEGRADED:
            known++;
            reachable++;
            slow += res[i].slow || res[i].soft || res[i].status == MON_R_DEGRADED;
            break;
        case MON_R_DOWN:
            known++;
            down++;
            break;
        default:
            break;
        }
    }
    if (known == 0)
        return MON_D_UNKNOWN;
    if (reachable == 0)
        return MON_D_DOWN;
    if (down > 0 || slow > 0)
        return MON_D_DEGRADED;
    return MON_D_UP;
}

static bool failing(int s) { return s == MON_D_DOWN || s == MON_D_DEGRADED; }

/* Data formats as CKAN portals declare them (lower case). */
static const char *const k_data_formats[] = {
    "csv",   "tsv",  "txt", "xls",   "xlsx", "ods",  "json",    "geojson", "jsonld", "xml",
    "zip",   "rar",  "7z",  "gz",    "gzip", "tar",  "pdf",     "doc",     "docx",   "odt",
    "ppt",   "pptx", "shp", "kml",   "kmz",  "gpkg", "parquet", "dbf",     "sav",    "dta",
    "rdata", "sql",  "mdb", "accdb", "png",  "jpg",  "jpeg",    "tif",     "tiff"};
static const char *const k_data_mimes[] = {"text/csv",
                                           "text/tab-separated-values",
                                           "application/json",
                                           "application/geo+json",
                                           "application/zip",
                                           "application/pdf",
                                           "application/vnd.ms-excel",
                                           "application/vnd.openxmlformats",
                                           "application/vnd.oasis.opendocument",
                                           "application/xml",
                                           "text/xml",
                                           "application/x-zip",
                                           "application/gzip",
                                           "application/x-rar",
                                           "application/x-7z",
                                           "application/msword",
                                           "application/octet-stream"};

bool mon_format_is_data(const char *format, const char *mimetype)
{
    if (format && *format) {
        char f[24];
        size_t j = 0;
        for (const char *p = format; *p && j < sizeof f - 1; p++)
            if (!isspace((unsigned char)*p) && *p != '.')
                f[j++] = (char)tolower((unsigned char)*p);
        f[j] = 0;
        for (size_t i = 0; i < sizeof k_data_formats / sizeof *k_data_formats; i++)
            if (strcmp(f, k_data_formats[i]) == 0)
                return true;
        return false; /* html, api, web, link...: a page is what is promised */
    }
    for (size_t i = 0; mimetype && i < sizeof k_data_mimes / sizeof *k_data_mimes; i++)
        if (strncasecmp(mimetype, k_data_mimes[i], strlen(k_data_mimes[i])) == 0)
            return true;
    return false;
}

bool mon_ctype_is_html(const char *ct)
{
    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    return strncasecmp(ct, "text/html", 9) == 0 || strncasecmp(ct, "application/xhtml", 17) == 0;
}

bool mon_body_is_html(const unsigned char *b, size_t n)
{
    size_t i = 0;
    if (n >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf)
        i = 3; /* UTF-8 BOM */
    while (i < n && isspace(b[i]))
        i++;
    static const char *const marks[] = {"<!doctype html", "<html",  "<head", "<body",
                                        "<script",        "<title", "<meta", "<!--"};
    for (size_t k = 0; k < sizeof marks / sizeof *marks; k++) {
        size_t l = strlen(marks[k]);
        if (n - i >= l && strncasecmp((const char *)b + i, marks[k], l) == 0)
            return true;
    }
    return false;
}

/* The path of a URL (after scheme://host), "" when there is none. */
static const char *url_path(const char *u)
{
    const char *p = strstr(u, "://");
    p = p ? p + 3 : u;
    p = p + strcspn(p, "/?#");
    return p;
}

int mon_redirect_landing(const char *url, const char *final_url)
{
    if (!url || !final_url || strcmp(url, final_url) == 0)
        return 0;
    const char *p = url_path(final_url);
    static const char *const login[] = {
        "login", "log-in",         "signin",         "sign-in", "sign_in",   "/auth",  "/sso",
        "/cas/", "iniciar-sesion", "iniciar_sesion", "/acceso", "/ingresar", "/entrar"};
    char low[512];
    size_t j = 0;
    for (; p[j] && j < sizeof low - 1; j++)
        low[j] = (char)tolower((unsigned char)p[j]);
    low[j] = 0;
    for (size_t k = 0; k < sizeof login / sizeof *login; k++)
        if (strstr(low, login[k]))
            return 1;
    /* the home page: nothing but "/" (and maybe a query) left of the path */
    const char *orig = url_path(url);
    bool home = low[0] == 0 || low[0] == '?' || low[0] == '#' ||
                (low[0] == '/' && (low[1] == 0 || low[1] == '?' || low[1] == '#'));
    if (home && !(orig[0] == 0 || (orig[0] == '/' && orig[1] == 0)))
        return 2;
    /* a language home ("/es", "/en/") counts as a home page too */
    if (strlen(low) <= 4 && low[0] == '/' && isalpha((unsigned char)low[1]) &&
        isalpha((unsigned char)low[2]) && (low[3] == 0 || low[3] == '/'))
        return 2;
    return 0;
}

bool mon_slow_median(const double *lat, size_t n, int64_t slow_ms)
{
    if (n < 3)
        return false;
    double a = lat[0], b = lat[1], c = lat[2];
    double med = a > b ? (b > c ? b : (a > c ? c : a)) : (a > c ? a : (b > c ? c : b));
    return med > (double)slow_ms;
}

/* A dataset that was never checked takes its first observation at once.
 * Afterwards a change needs `fail_threshold` consecutive failing sweeps
 * (degraded and down both count; the latest one wins) or `recover_threshold`
 * consecutive up sweeps. An unknown observation (nothing checkable) leaves the
 * status alone and does not break a streak. */
bool mon_hyst_feed(mon_hyst *h, int observed, int fail_threshold, int recover_threshold)
{
    if (observed == MON_D_UNKNOWN)
        return false;
    /* an empty dataset is a fact of the listing, not a network observation:
     * entering or leaving it needs no confirmation */
    if (h->status == MON_D_UNKNOWN || observed == MON_D_EMPTY || h->status == MON_D_EMPTY) {
        bool changed = h->status != observed;
        h->status = observed;
        h->candidate = observed;
        h->streak = 0;
        return changed;
    }
    if (observed == h->status) {
        h->streak = 0;
        h->candidate = observed;
        return false;
    }
    bool same_class = h->streak > 0 && failing(h->candidate) == failing(observed);
    h->streak = same_class ? h->streak + 1 : 1;
    h->candidate = observed;
    int need = failing(observed) ? fail_threshold : recover_threshold;
    if (need < 1)
        need = 1;
    /* moving between two failing states (degraded <-> down) is also a
     * failing observation, counted the same way */
    if (h->streak >= need) {
        h->status = observed;
        h->streak = 0;
        return true;
    }
    return false;
}
