/* Unit tests of the monitor's pure logic: HTTP outcome classification,
 * dataset status, hysteresis, UTF-8 sanitising, package_search parsing. */
#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h needs the headers above */
#include <cmocka.h>

#include "monitor.h"

static void classify(void **state)
{
    (void)state;
    assert_int_equal(mon_classify(true, CURLE_OK, 200, false, false), MON_V_UP);
    assert_int_equal(mon_classify(true, CURLE_OK, 302, false, false), MON_V_UP);
    /* a HEAD failure is never trusted: a ranged GET confirms it */
    assert_int_equal(mon_classify(true, CURLE_OK, 404, false, false), MON_V_RETRY_GET);
    assert_int_equal(mon_classify(true, CURLE_OK, 410, false, false), MON_V_RETRY_GET);
    assert_int_equal(mon_classify(true, CURLE_OK, 500, false, false), MON_V_RETRY_GET);
    assert_int_equal(mon_classify(true, CURLE_OK, 418, false, false), MON_V_RETRY_GET);
    assert_int_equal(mon_classify(false, CURLE_OK, 404, false, false), MON_V_DOWN);
    assert_int_equal(mon_classify(false, CURLE_OK, 500, false, false), MON_V_DOWN);
    /* rate limiting is not down; a plain 503 is */
    assert_int_equal(mon_classify(true, CURLE_OK, 429, false, false), MON_V_RATE_LIMITED);
    assert_int_equal(mon_classify(false, CURLE_OK, 429, false, true), MON_V_RATE_LIMITED);
    assert_int_equal(mon_classify(false, CURLE_OK, 503, false, true), MON_V_RATE_LIMITED);
    assert_int_equal(mon_classify(false, CURLE_OK, 503, false, false), MON_V_DOWN);
    assert_int_equal(mon_classify(true, CURLE_OK, 405, false, false), MON_V_RETRY_GET);
    assert_int_equal(mon_classify(true, CURLE_OK, 501, false, false), MON_V_RETRY_GET);
    assert_int_equal(mon_classify(true, CURLE_OK, 403, false, false), MON_V_RETRY_GET);
    assert_int_equal(mon_classify(false, CURLE_OK, 403, false, false), MON_V_RESTRICTED);
    assert_int_equal(mon_classify(false, CURLE_OK, 401, false, false), MON_V_RESTRICTED);
    assert_int_equal(mon_classify(false, CURLE_OK, 206, false, false), MON_V_UP);
    assert_int_equal(mon_classify(false, CURLE_OK, 405, false, false), MON_V_DOWN);
    /* misbehaviour on HEAD earns a GET; a timeout does not */
    assert_int_equal(mon_classify(true, CURLE_GOT_NOTHING, 0, false, false), MON_V_RETRY_GET);
    assert_int_equal(mon_classify(true, CURLE_RECV_ERROR, 0, false, false), MON_V_RETRY_GET);
    assert_int_equal(mon_classify(true, CURLE_OPERATION_TIMEDOUT, 0, false, false), MON_V_DOWN);
    assert_int_equal(mon_classify(true, CURLE_COULDNT_CONNECT, 0, false, false), MON_V_DOWN);
    assert_int_equal(mon_classify(false, CURLE_RECV_ERROR, 0, false, false), MON_V_DOWN);
    /* a GET body we cut on purpose is a success */
    assert_int_equal(mon_classify(false, CURLE_WRITE_ERROR, 200, true, false), MON_V_UP);
    assert_int_equal(mon_classify(false, CURLE_WRITE_ERROR, 200, false, false), MON_V_DOWN);
}

static void observe(void **state)
{
    (void)state;
    mon_res_outcome all_up[] = {{MON_R_UP, false}, {MON_R_UP, false}};
    mon_res_outcome one_down[] = {{MON_R_UP, false}, {MON_R_DOWN, false}};
    mon_res_outcome all_down[] = {{MON_R_DOWN, false}, {MON_R_DOWN, false}};
    mon_res_outcome slow[] = {{MON_R_UP, true}, {MON_R_UP, false}};
    mon_res_outcome restricted[] = {{MON_R_RESTRICTED, false}, {MON_R_UP, false}};
    mon_res_outcome unknown[] = {{MON_R_UNKNOWN, false}};
    mon_res_outcome invalid_and_down[] = {{MON_R_UNKNOWN, false}, {MON_R_DOWN, false}};
    assert_int_equal(mon_dataset_observe(all_up, 2), MON_D_UP);
    assert_int_equal(mon_dataset_observe(one_down, 2), MON_D_DEGRADED);
    assert_int_equal(mon_dataset_observe(all_down, 2), MON_D_DOWN);
    assert_int_equal(mon_dataset_observe(slow, 2), MON_D_DEGRADED);
    assert_int_equal(mon_dataset_observe(restricted, 2), MON_D_UP);
    assert_int_equal(mon_dataset_observe(unknown, 1), MON_D_UNKNOWN);
    assert_int_equal(mon_dataset_observe(NULL, 0), MON_D_EMPTY); /* no resource at all */
    mon_res_outcome soft[] = {{MON_R_RESTRICTED, false, true}, {MON_R_UP, false, false}};
    mon_res_outcome page[] = {{MON_R_DEGRADED, false, true}};
    assert_int_equal(mon_dataset_observe(soft, 2), MON_D_DEGRADED); /* login page */
    assert_int_equal(mon_dataset_observe(page, 1), MON_D_DEGRADED); /* HTML for data */
    assert_int_equal(mon_dataset_observe(invalid_and_down, 2), MON_D_DOWN);
}

static void hysteresis(void **state)
{
    (void)state;
    mon_hyst h = {MON_D_UNKNOWN, MON_D_UNKNOWN, 0};
    assert_true(mon_hyst_feed(&h, MON_D_UP, 2, 1)); /* first observation is taken */
    assert_int_equal(h.status, MON_D_UP);
    assert_false(mon_hyst_feed(&h, MON_D_DOWN, 2, 1));
    assert_int_equal(h.status, MON_D_UP);
    assert_false(mon_hyst_feed(&h, MON_D_UP, 2, 1)); /* streak broken */
    assert_false(mon_hyst_feed(&h, MON_D_DEGRADED, 2, 1));
    assert_true(mon_hyst_feed(&h, MON_D_DOWN, 2, 1)); /* degraded then down: 2 failing */
    assert_int_equal(h.status, MON_D_DOWN);
    assert_false(mon_hyst_feed(&h, MON_D_UNKNOWN, 2, 1)); /* nothing checkable: no change */
    assert_int_equal(h.status, MON_D_DOWN);
    assert_true(mon_hyst_feed(&h, MON_D_UP, 2, 1));
    assert_int_equal(h.status, MON_D_UP);
    /* recover_threshold 3 */
    h = (mon_hyst){MON_D_DOWN, MON_D_DOWN, 0};
    assert_false(mon_hyst_feed(&h, MON_D_UP, 2, 3));
    assert_false(mon_hyst_feed(&h, MON_D_UP, 2, 3));
    assert_true(mon_hyst_feed(&h, MON_D_UP, 2, 3));
    /* fail_threshold 1: immediate */
    assert_true(mon_hyst_feed(&h, MON_D_DEGRADED, 1, 3));
    assert_int_equal(h.status, MON_D_DEGRADED);
    assert_string_equal(mon_dstatus_name(h.status), "degraded");
    assert_int_equal(mon_dstatus_parse("down"), MON_D_DOWN);
    assert_int_equal(mon_dstatus_parse("bogus"), -1);
}

static void utf8(void **state)
{
    (void)state;
    char a[] = "ni\xc3\xb1o \xff\xfe ok \xe2\x82\xac \xc0\xaf \xed\xa0\x80 \xf0\x9f\x98\x80";
    size_t bad = mon_utf8_sanitize(a, strlen(a));
    assert_string_equal(a, "ni\xc3\xb1o ?? ok \xe2\x82\xac ?? ??? \xf0\x9f\x98\x80");
    assert_int_equal(bad, 7);
    char b[] = "trunc \xe2\x82";
    mon_utf8_sanitize(b, strlen(b));
    assert_string_equal(b, "trunc ??");
}

static mon_portal_cfg portal(void)
{
    mon_portal_cfg p;
    memset(&p, 0, sizeof p);
    p.base_url = "https://datos.example";
    p.include_orgs = json_array();
    p.exclude_orgs = json_array();
    return p;
}

static void parse_page(void **state)
{
    (void)state;
    mon_portal_cfg p = portal();
    mon_listing l;
    memset(&l, 0, sizeof l);
    size_t fresh;
    char err[256];
    const char *page =
        "{\"help\":\"x\",\"success\":true,\"unknown\":[1,2],\"result\":{\"count\":3,\"results\":["
        "{\"id\":\"a\",\"name\":\"set-a\",\"title\":\"A\",\"organization\":{\"name\":\"org1\","
        "\"title\":\"Org 1\"},\"metadata_modified\":\"2026-09-30T02:00:08.746809\","
        "\"resources\":[{\"id\":\"r1\",\"url\":\"http://x/1\",\"format\":\"CSV\",\"extra\":{}},"
        "{\"id\":\"r1\",\"url\":\"http://x/dup\"},{\"url\":\"no id\"},"
        "{\"id\":\"r2\",\"url\":null}]},"
        "{\"id\":\"b\",\"organization\":null},"
        "{\"id\":\"a\",\"name\":\"duplicate\",\"organization\":{\"name\":\"org1\"}},"
        "{\"name\":\"no-id\"}, 42]}}";
    int n = mon_parse_page(page, strlen(page), &p, &l, &fresh, err, sizeof err);
    assert_int_equal(n, 5);
    assert_int_equal(l.n, 2);
    assert_int_equal(fresh, 2);
    assert_int_equal(l.errors, 2);
    assert_string_equal(l.ds[0].id, "a");
    assert_string_equal(l.ds[0].org, "org1");
    assert_string_equal(l.ds[0].url, "https://datos.example/dataset/set-a");
    assert_int_equal(l.ds[0].nres, 2); /* duplicate and id-less resources dropped */
    assert_string_equal(l.ds[0].res[1].url, "");
    assert_null(l.ds[1].org);
    assert_string_equal(l.ds[1].url, "https://datos.example/dataset/b");
    mon_listing_free(&l);

    static const char *const bad[] = {
        "<html>Bad Gateway</html>",
        "{\"success\":false,\"error\":{\"message\":\"Solr down\"}}",
        "{\"success\":true,\"result\":{\"results\":{}}}",
        "{\"success\":true,\"result\":{\"count\":1,\"results\":[{\"id\":\"a\"}",
        "[]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&l, 0, sizeof l);
        err[0] = 0;
        assert_int_equal(mon_parse_page(bad[i], strlen(bad[i]), &p, &l, &fresh, err, sizeof err),
                         -1);
        assert_true(err[0] != 0);
        mon_listing_free(&l);
    }
    /* organisation filters */
    json_array_append_new(p.exclude_orgs, json_string("org1"));
    memset(&l, 0, sizeof l);
    n = mon_parse_page(page, strlen(page), &p, &l, &fresh, err, sizeof err);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.ds[0].id, "b");
    mon_listing_free(&l);
    json_array_clear(p.exclude_orgs);
    json_array_append_new(p.include_orgs, json_string("org1"));
    memset(&l, 0, sizeof l);
    n = mon_parse_page(page, strlen(page), &p, &l, &fresh, err, sizeof err);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.ds[0].id, "a");
    mon_listing_free(&l);
    json_decref(p.include_orgs);
    json_decref(p.exclude_orgs);
}

static void urls(void **state)
{
    (void)state;
    assert_true(mon_url_is_http("http://a.example/x.csv"));
    assert_true(mon_url_is_http("HTTPS://a.example/x.csv"));
    assert_false(mon_url_is_http("ftp://a.example/x.csv"));
    assert_false(mon_url_is_http("file:///etc/passwd"));
    assert_false(mon_url_is_http("gopher://a.example/"));
    assert_false(mon_url_is_http("not a url"));
    assert_false(mon_url_is_http(""));
    assert_false(mon_url_is_http(NULL));
}

static int64_t fake_now = 1700000000000LL; /* 2023-11-14T22:13:20Z */
static int64_t fake_clock(void) { return fake_now; }

/* The clocks can be faked; Retry-After is read as seconds or as an HTTP date
 * relative to the (fake) wall clock. */
static void clock_and_retry_after(void **state)
{
    (void)state;
    mon_clock_set(fake_clock, fake_clock);
    assert_int_equal(mon_wall_ms(), fake_now);
    assert_int_equal(mon_mono_ms(), fake_now);
    fake_now += 1500;
    assert_int_equal(mon_wall_ms(), 1700000001500LL);
    assert_int_equal(mon_retry_after_s("120", mon_wall_ms()), 120);
    assert_int_equal(mon_retry_after_s(" 7\r\n", mon_wall_ms()), 7);
    assert_int_equal(mon_retry_after_s("Tue, 14 Nov 2023 22:14:21 GMT", mon_wall_ms()), 60);
    assert_int_equal(mon_retry_after_s("Tue, 14 Nov 2023 22:00:00 GMT", mon_wall_ms()), 0);
    assert_int_equal(mon_retry_after_s("soon", mon_wall_ms()), -1);
    assert_int_equal(mon_retry_after_s(NULL, mon_wall_ms()), -1);
    mon_clock_set(NULL, NULL);
    assert_true(mon_wall_ms() > 1700000001500LL);
}

/* A page's result.count is read; results of other types are not datasets
 * but count toward it. */
static void parse_count_and_types(void **state)
{
    (void)state;
    mon_portal_cfg p = {.base_url = "http://x",
                        .include_orgs = json_array(),
                        .exclude_orgs = json_array(),
                        .types = json_pack("[s]", "dataset")};
    mon_listing l = {0};
    const char *page = "{\"success\":true,\"result\":{\"count\":3,\"results\":["
                       "{\"id\":\"a\",\"type\":\"dataset\"},{\"id\":\"b\",\"type\":\"showcase\"},"
                       "{\"id\":\"c\"}]}}";
    size_t fresh = 0;
    long long count = 0;
    char err[256];
    assert_int_equal(
        mon_parse_page_ex(page, strlen(page), &p, 64, &l, &fresh, &count, err, sizeof err), 3);
    assert_int_equal(count, 3);
    assert_int_equal(fresh, 3);
    assert_int_equal(l.n, 2); /* a and c: a missing type is a dataset */
    /* too deep for the host's limit: refused before jansson recurses */
    const char *deep = "{\"success\":true,\"result\":{\"count\":1,\"results\":[[[[[[]]]]]]}}";
    assert_int_equal(
        mon_parse_page_ex(deep, strlen(deep), &p, 4, &l, &fresh, &count, err, sizeof err), -1);
    assert_non_null(strstr(err, "nesting deeper than 4"));
    mon_listing_free(&l);
    json_decref(p.include_orgs);
    json_decref(p.exclude_orgs);
    json_decref(p.types);
}

/* Entering and leaving "empty" needs no confirmation: it is the listing's word. */
static void empty_hysteresis(void **state)
{
    (void)state;
    mon_hyst h = {MON_D_UP, MON_D_UP, 0};
    assert_true(mon_hyst_feed(&h, MON_D_EMPTY, 3, 3));
    assert_int_equal(h.status, MON_D_EMPTY);
    assert_false(mon_hyst_feed(&h, MON_D_EMPTY, 3, 3));
    assert_true(mon_hyst_feed(&h, MON_D_DOWN, 3, 3));
    assert_int_equal(h.status, MON_D_DOWN);
    assert_string_equal(mon_dstatus_name(MON_D_EMPTY), "empty");
    assert_int_equal(mon_dstatus_parse("empty"), MON_D_EMPTY);
    assert_string_equal(mon_rstatus_name(MON_R_DEGRADED), "degraded");
}

/* Soft 404s: declared format vs Content-Type vs the first bytes. */
static void soft_404(void **state)
{
    (void)state;
    assert_true(mon_format_is_data("CSV", NULL));
    assert_true(mon_format_is_data(" .xlsx", "text/html"));
    assert_true(mon_format_is_data("ZIP", NULL));
    assert_true(mon_format_is_data(NULL, "application/vnd.openxmlformats-officedocument"));
    assert_false(mon_format_is_data("HTML", NULL));
    assert_false(mon_format_is_data("API", "text/csv")); /* the format wins */
    assert_false(mon_format_is_data(NULL, NULL));
    assert_true(mon_ctype_is_html("text/html; charset=utf-8"));
    assert_true(mon_ctype_is_html("TEXT/HTML"));
    assert_true(mon_ctype_is_html("application/xhtml+xml"));
    assert_false(mon_ctype_is_html("text/csv"));
    assert_false(mon_ctype_is_html(NULL));
    static const char html[] = "\xef\xbb\xbf\n  <!DOCTYPE html><html>";
    static const char html2[] = "<HTML><head>";
    static const char csv[] = "id,nombre\n1,<b>x</b>\n";
    static const char zip[] = "PK\x03\x04";
    assert_true(mon_body_is_html((const unsigned char *)html, sizeof html - 1));
    assert_true(mon_body_is_html((const unsigned char *)html2, sizeof html2 - 1));
    assert_false(mon_body_is_html((const unsigned char *)csv, sizeof csv - 1));
    assert_false(mon_body_is_html((const unsigned char *)zip, sizeof zip - 1));
    assert_false(mon_body_is_html((const unsigned char *)"<ht", 3));
    /* where a redirect chain ends */
    assert_int_equal(mon_redirect_landing("http://a/f.csv", "http://a/user/login?came_from=x"), 1);
    assert_int_equal(mon_redirect_landing("http://a/f.csv", "https://sso.a/cas/login"), 1);
    assert_int_equal(mon_redirect_landing("http://a/f.csv", "http://a/"), 2);
    assert_int_equal(mon_redirect_landing("http://a/f.csv", "http://a"), 2);
    assert_int_equal(mon_redirect_landing("http://a/f.csv", "http://a/es/"), 2);
    assert_int_equal(mon_redirect_landing("http://a/f.csv", "http://cdn.a/x/f.csv"), 0);
    assert_int_equal(mon_redirect_landing("http://a/", "http://a/"), 0);
    assert_int_equal(mon_redirect_landing("http://a/f.csv", NULL), 0);
}

/* "slow" is the median of the last three latencies. */
static void slow_median(void **state)
{
    (void)state;
    double once[3] = {9000, 100, 120};
    double twice[3] = {9000, 8000, 120};
    double thrice[3] = {9000, 8000, 7000};
    assert_false(mon_slow_median(once, 3, 5000));
    assert_true(mon_slow_median(twice, 3, 5000));
    assert_true(mon_slow_median(thrice, 3, 5000));
    assert_false(mon_slow_median(thrice, 2, 5000)); /* fewer than three samples */
    assert_false(mon_slow_median(thrice, 1, 5000));
    double edge[3] = {5000, 5000, 5001};
    assert_false(mon_slow_median(edge, 3, 5000)); /* above, not equal */
}

/* URLs as people type them. */
static void url_normalize(void **state)
{
    (void)state;
    char *u = mon_url_normalize("  http://datos.gob.cl/dataset/mi archivo.csv\t\n");
    assert_string_equal(u, "http://datos.gob.cl/dataset/mi%20archivo.csv");
    free(u);
    u = mon_url_normalize("https://example.org/a b/c?x=1 2");
    assert_non_null(u);
    assert_null(strchr(u, ' '));
    free(u);
    /* IDN hosts become punycode, without depending on the process locale */
    u = mon_url_normalize("http://datos-\xc3\xb1"
                          "and\xc3\xba.cl:8080/f.csv");
    assert_string_equal(u, "http://xn--datos-and-q6a6h.cl:8080/f.csv");
    free(u);
    assert_null(mon_url_normalize("ftp://example.org/f.csv"));
    assert_null(mon_url_normalize("file:///etc/passwd"));
    assert_null(mon_url_normalize("   "));
    assert_null(mon_url_normalize("no url at all"));
    assert_null(mon_url_normalize(NULL));
}

/* Search folding for Spanish and Portuguese. */
static void fold(void **state)
{
    (void)state;
    char *f = mon_fold("\xc3\x81RBOLES de \xc3\x91u\xc3\xb1oa");
    assert_string_equal(f, "arboles de nunoa");
    free(f);
    f = mon_fold("Cat\xc3\xa1logo de Informa\xc3\xa7\xc3\xb5"
                 "es");
    assert_string_equal(f, "catalogo de informacoes");
    free(f);
    f = mon_fold("\xe2\x82\xac 100%"); /* other characters are kept */
    assert_string_equal(f, "\xe2\x82\xac 100%");
    free(f);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(classify),
        cmocka_unit_test(observe),
        cmocka_unit_test(hysteresis),
        cmocka_unit_test(utf8),
        cmocka_unit_test(parse_page),
        cmocka_unit_test(urls),
        cmocka_unit_test(clock_and_retry_after),
        cmocka_unit_test(parse_count_and_types),
        cmocka_unit_test(soft_404),
        cmocka_unit_test(slow_median),
        cmocka_unit_test(url_normalize),
        cmocka_unit_test(fold),
        cmocka_unit_test(empty_hysteresis),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
