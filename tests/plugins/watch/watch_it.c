/* Integration: the real vigia with monitor + watch against the CKAN fixture.
 * Nobody sends mail here: busbridge records every delivery.requested the watch
 * plugin publishes and probe publishes the channel's delivery.result, so the
 * tests see exactly what a channel would be asked to send, to whom and when.
 * The steps run in order on one server (each builds on the previous). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mt.h"

#define NDS 6

static mt_fixture fx;
static vgt_server srv;
static char ids[NDS][40];
static char orgs[NDS][64];

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static long subscribe(const char *email, const char *rest, char **body)
{
    char json[2048];
    snprintf(json, sizeof json, "{\"email\":\"%s\",%s}", email, rest);
    vgt_response r = {0};
    vgt_post_json(&srv, "/api/subscriptions", json, &r);
    long st = r.status;
    if (body)
        *body = r.body ? strdup(r.body) : NULL;
    vgt_response_free(&r);
    return st;
}

/* delivery.requested payloads since `since`, optionally only for `to`/`kind`. */
static json_t *requests(long long since, const char *to, const char *kind)
{
    json_t *ev = mt_events(&srv, since, "delivery.requested");
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach (ev, i, e) {
        json_t *p = json_object_get(e, "payload");
        if ((!to || strcmp(str(p, "to"), to) == 0) && (!kind || strcmp(str(p, "kind"), kind) == 0))
            json_array_append(out, p);
    }
    json_decref(ev);
    return out;
}

/* Waits until at least n such requests exist; returns them (new reference). */
static json_t *wait_requests(long long since, const char *to, const char *kind, size_t n,
                             int timeout_ms)
{
    for (int waited = 0;; waited += 50) {
        json_t *r = requests(since, to, kind);
        if (json_array_size(r) >= n || waited >= timeout_ms)
            return r;
        json_decref(r);
        sleep_ms(50);
    }
}

static void result(const char *key, const char *status)
{
    json_t *o = json_pack("{s:s, s:{s:i, s:s, s:s, s:s}}", "topic", "delivery.result", "payload",
                          "v", 1, "key", key, "channel", "email", "status", status);
    char *s = json_dumps(o, 0);
    json_decref(o);
    vgt_response r = {0};
    vgt_post_json(&srv, "/api/_probe/publish", s, &r);
    assert_int_equal(r.status, 200);
    vgt_response_free(&r);
    free(s);
}

static long get(const char *url, json_t **body)
{
    vgt_response r = {0};
    vgt_http(&srv, "GET", url, NULL, NULL, 0, &r);
    long st = r.status;
    if (body)
        *body = r.body ? json_loads(r.body, 0, NULL) : NULL;
    vgt_response_free(&r);
    return st;
}

/* A confirm link is confirmed by a POST (the manage page's button). */
static long post(const char *url, json_t **body)
{
    vgt_response r = {0};
    vgt_http(&srv, "POST", url, NULL, "", 0, &r);
    long st = r.status;
    if (body)
        *body = r.body ? json_loads(r.body, 0, NULL) : NULL;
    vgt_response_free(&r);
    return st;
}

/* Confirms `email`'s latest confirmation link, answering the channel "sent". */
static void confirm(const char *email, long long since)
{
    json_t *c = wait_requests(since, email, "confirm", 1, 10000);
    assert_true(json_array_size(c) >= 1);
    json_t *p = json_array_get(c, json_array_size(c) - 1);
    result(str(p, "key"), "sent");
    json_t *body = NULL;
    /* a GET (a link scanner) changes nothing */
    assert_int_equal(get(str(json_object_get(p, "links"), "confirm"), NULL), 405);
    assert_int_equal(post(str(json_object_get(p, "links"), "confirm"), &body), 200);
    assert_true(json_is_true(json_object_get(body, "confirmed")));
    json_decref(body);
    json_decref(c);
}

static void control(const char *json)
{
    json_t *r = mt_control(&fx, json);
    assert_non_null(r);
    json_decref(r);
}

static void set_clock(long long ms)
{
    char body[64];
    snprintf(body, sizeof body, "{\"now_ms\":%lld}", ms);
    vgt_response r = {0};
    vgt_post_json(&srv, "/api/_watch/clock", body, &r);
    assert_int_equal(r.status, 200);
    vgt_response_free(&r);
}

static int setup(void **state)
{
    (void)state;
    const char *args[] = {"--datasets", "6", "--orgs", "2", "--resources-per-dataset", "1", NULL};
    if (mt_fixture_start(&fx, args) < 0)
        return -1;
    json_t *page = mt_fixture_get(&fx, "/api/3/action/package_search?rows=100&sort=id%20asc");
    json_t *res = json_object_get(json_object_get(page, "result"), "results");
    if (json_array_size(res) != NDS)
        return -1;
    for (int i = 0; i < NDS; i++) {
        json_t *d = json_array_get(res, (size_t)i);
        snprintf(ids[i], sizeof ids[i], "%s", str(d, "id"));
        snprintf(orgs[i], sizeof orgs[i], "%s",
                 str(json_object_get(d, "organization"), "name")
                     ? str(json_object_get(d, "organization"), "name")
                     : "");
    }
    json_decref(page);
    char *ini = mt_ini(&fx, NULL, "fail_threshold = 1\nrecover_threshold = 1\n");
    char *full = NULL;
    if (asprintf(&full,
                 "%s\n[watch]\ngroup_window = 1s\ntick = 100ms\nlease = 1500ms\n"
                 "backoff_min = 200ms\nbackoff_max = 1s\nmax_attempts = 3\n"
                 "confirm_per_address = 3\nconfirm_per_ip = 45\nrequests_per_ip = 100000\n"
                 "test_clock = true\n[probe]\nenabled_for_tests = true\n",
                 ini) < 0)
        return -1;
    free(ini);
    int rc = vgt_server_start(&srv, "monitor,watch,busbridge,probe", NULL, full);
    free(full);
    if (rc == 0) {
        json_t *fin = mt_wait_sweep(&srv, 0, 60000); /* the silent baseline */
        rc = fin ? 0 : -1;
        json_decref(fin);
    }
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    int rc = vgt_server_stop_clean(&srv);
    mt_fixture_stop(&fx);
    return rc;
}

static void bad_input_names_the_field(void **state)
{
    (void)state;
    char *b = NULL;
    const struct {
        const char *email, *rest, *field;
    } cases[] = {
        {"not-an-address", "\"target\":{\"type\":\"all\"}", "email"},
        {"a@example.org", "\"target\":{\"type\":\"galaxy\"}", "target.type"},
        {"a@example.org", "\"target\":{\"type\":\"dataset\",\"portal\":\"fx\"}", "target.portal"},
        {"a@example.org", "\"target\":{\"type\":\"all\"},\"delivery\":\"daily@25:00\"", "delivery"},
        {"a@example.org", "\"target\":{\"type\":\"all\"},\"tz\":\"Mars/Olympus\"", "tz"},
        {"a@example.org", "\"target\":{\"type\":\"all\"},\"lang\":\"fr\"", "lang"},
        {"a@example.org", "\"target\":{\"type\":\"all\"},\"kinds\":[\"DOWN!\"]", "kinds"},
        {"a@example.org", "\"target\":{\"type\":\"all\"},\"quiet_hours\":\"22-7\"", "quiet_hours"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        assert_int_equal(subscribe(cases[i].email, cases[i].rest, &b), 400);
        assert_non_null(strstr(b, cases[i].field));
        free(b);
    }
}

static long long seq_confirmed;

static void subscribe_confirm_and_only_the_right_subscriber_hears(void **state)
{
    (void)state;
    long long since = mt_last_seq(&srv);
    char rest[512];
    snprintf(rest, sizeof rest,
             "\"target\":{\"type\":\"dataset\",\"portal\":\"fx\",\"id\":\"%s\"},"
             "\"lang\":\"en\",\"kinds\":[\"down\",\"recovered\"]",
             ids[0]);
    assert_int_equal(subscribe("alice@example.org", rest, NULL), 202);
    snprintf(rest, sizeof rest,
             "\"target\":{\"type\":\"dataset\",\"portal\":\"fx\",\"id\":\"%s\"},\"lang\":\"es\"",
             ids[1]);
    assert_int_equal(subscribe("bob@example.org", rest, NULL), 202);
    snprintf(rest, sizeof rest, "\"target\":{\"type\":\"dataset\",\"portal\":\"fx\",\"id\":\"%s\"}",
             ids[0]);
    assert_int_equal(subscribe("carol@example.org", rest, NULL), 202); /* never confirms */
    confirm("alice@example.org", since);
    confirm("bob@example.org", since);
    json_t *c = wait_requests(since, "carol@example.org", "confirm", 1, 10000);
    assert_int_equal(json_array_size(c), 1);
    assert_string_equal(str(json_array_get(c, 0), "lang"), "es"); /* the default language */
    json_decref(c);
    seq_confirmed = mt_last_seq(&srv);

    char op[256];
    snprintf(op, sizeof op, "{\"op\":\"set_dataset\",\"id\":\"%s\",\"behaviour\":\"404\"}", ids[0]);
    control(op);
    json_t *fin = mt_sweep(&srv, NULL);
    assert_non_null(fin);
    json_decref(fin);
    json_t *a = wait_requests(seq_confirmed, "alice@example.org", "alert", 1, 10000);
    assert_int_equal(json_array_size(a), 1);
    json_t *p = json_array_get(a, 0);
    assert_string_equal(str(p, "lang"), "en");
    assert_string_equal(str(p, "channel"), "email");
    assert_int_equal(json_integer_value(json_object_get(p, "count")), 1);
    json_t *it = json_array_get(json_object_get(p, "items"), 0);
    assert_string_equal(str(it, "kind"), "down");
    assert_string_equal(str(json_object_get(it, "dataset"), "id"), ids[0]);
    assert_non_null(str(json_object_get(p, "links"), "manage"));
    assert_non_null(strstr(str(p, "list_id"), "fx.vigia."));
    result(str(p, "key"), "sent");
    json_decref(a);
    sleep_ms(1500); /* a whole grouping window and more ticks */
    json_t *all = requests(seq_confirmed, NULL, "alert");
    assert_int_equal(json_array_size(all), 1); /* not bob (another dataset), not carol */
    json_decref(all);
}

static void unconfirmed_address_gets_nothing_but_the_confirmation(void **state)
{
    (void)state;
    json_t *c = requests(0, "carol@example.org", NULL);
    size_t i;
    json_t *p;
    json_array_foreach (c, i, p)
        assert_string_equal(str(p, "kind"), "confirm");
    json_decref(c);
}

static void no_enumeration(void **state)
{
    (void)state;
    char *known = NULL, *fresh = NULL;
    const char *rest = "\"target\":{\"type\":\"all\"}";
    assert_int_equal(subscribe("alice@example.org", rest, &known), 202);
    assert_int_equal(subscribe("nobody-yet@example.org", rest, &fresh), 202);
    assert_string_equal(known, fresh);
    free(known);
    free(fresh);
}

static void confirmation_mails_are_rate_limited_per_address(void **state)
{
    (void)state;
    const char *rest = "\"target\":{\"type\":\"all\"}";
    char *b = NULL;
    /* alice has used 2 of 3 (subscribe + no_enumeration) */
    assert_int_equal(subscribe("Alice@example.org", rest, NULL), 202);
    assert_int_equal(subscribe("alice@EXAMPLE.org", rest, &b), 429); /* same mailbox */
    assert_non_null(strstr(b, "email"));
    assert_non_null(strstr(b, "3"));
    free(b);
}

static void storm_is_one_message_counted(void **state)
{
    (void)state;
    long long since = mt_last_seq(&srv);
    assert_int_equal(
        subscribe("dave@example.org", "\"target\":{\"type\":\"portal\",\"portal\":\"fx\"}", NULL),
        202);
    confirm("dave@example.org", since);
    since = mt_last_seq(&srv);
    control("{\"op\":\"set_all\",\"behaviour\":\"500\"}");
    json_t *fin = mt_sweep(&srv, NULL);
    json_decref(fin);
    json_t *ch = mt_events(&srv, since, "dataset.status_changed");
    size_t changes = json_array_size(ch);
    json_decref(ch);
    assert_int_equal(changes, NDS - 1); /* dataset 0 was down already */
    json_t *d = wait_requests(since, "dave@example.org", "alert", 1, 10000);
    sleep_ms(1500); /* a whole grouping window (1 s: a sweep under ASan on a busy machine spreads
                       its events over more than 300 ms) */
    json_decref(d);
    d = requests(since, "dave@example.org", "alert");
    assert_int_equal(json_array_size(d), 1);
    json_t *p = json_array_get(d, 0);
    assert_int_equal(json_integer_value(json_object_get(p, "count")), (json_int_t)changes);
    assert_int_equal(json_array_size(json_object_get(p, "items")), changes);
    /* the outbox: retry, retry, dead (max_attempts = 3), with backoff */
    char key[128];
    snprintf(key, sizeof key, "%s", str(p, "key"));
    json_decref(d);
    for (int attempt = 1; attempt <= 3; attempt++) {
        json_t *k = wait_requests(since, "dave@example.org", "alert", (size_t)attempt, 10000);
        assert_int_equal(json_array_size(k), attempt);
        assert_string_equal(str(json_array_get(k, (size_t)attempt - 1), "key"), key);
        json_decref(k);
        result(key, "retry");
    }
    sleep_ms(2500); /* longer than backoff_max and the lease */
    json_t *k = requests(since, "dave@example.org", "alert");
    assert_int_equal(json_array_size(k), 3); /* dead-lettered: no fourth try */
    json_decref(k);
}

static void expired_lease_counts_as_a_retry(void **state)
{
    (void)state;
    long long since = mt_last_seq(&srv);
    assert_int_equal(
        subscribe("erin@example.org", "\"target\":{\"type\":\"all\"},\"lang\":\"en\"", NULL), 202);
    json_t *c = wait_requests(since, "erin@example.org", "confirm", 2, 8000);
    assert_int_equal(json_array_size(c), 2); /* no answer: asked again, same key */
    assert_string_equal(str(json_array_get(c, 0), "key"), str(json_array_get(c, 1), "key"));
    /* fresh tokens each time: the link of the second try confirms */
    json_t *body = NULL;
    assert_int_equal(post(str(json_object_get(json_array_get(c, 1), "links"), "confirm"), &body),
                     200);
    json_decref(body);
    result(str(json_array_get(c, 1), "key"), "sent");
    json_decref(c);
}

static void manage_and_one_click_unsubscribe(void **state)
{
    (void)state;
    json_t *a = requests(0, "alice@example.org", "alert");
    assert_true(json_array_size(a) >= 1);
    json_t *links = json_object_get(json_array_get(a, 0), "links");
    json_t *m = NULL;
    assert_int_equal(get(str(links, "manage"), &m), 200);
    assert_string_equal(str(m, "email"), "alice@example.org");
    assert_string_equal(str(m, "lang"), "en");
    size_t n = json_array_size(json_object_get(m, "subscriptions"));
    assert_true(n >= 1);
    json_decref(m);
    vgt_response r = {0};
    const char *form = "List-Unsubscribe=One-Click";
    vgt_http(&srv, "POST", str(links, "unsubscribe"), NULL, form, strlen(form), &r);
    assert_int_equal(r.status, 200);
    vgt_response_free(&r);
    assert_int_equal(get(str(links, "manage"), &m), 200);
    assert_int_equal(json_array_size(json_object_get(m, "subscriptions")), n - 1);
    json_decref(m);
    /* erase: every row about the address; the token dies with them */
    vgt_http(&srv, "DELETE", "/api/subscriptions/subscriber?token=nope", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 404);
    vgt_response_free(&r);
    char url[512];
    const char *mg = str(links, "manage");
    snprintf(url, sizeof url, "/api/subscriptions/subscriber?%s", strchr(mg, '?') + 1);
    vgt_http(&srv, "DELETE", url, NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    vgt_response_free(&r);
    assert_int_equal(get(mg, NULL), 404);
    json_decref(a);
}

static int run_py(const char *script, const char *file)
{
    char cmd[8192];
    /* Debian's interpreter: python3-feedparser is installed for it */
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c '%s' %s", script, file);
    return system(cmd);
}

static void atom_feeds_parse_and_revalidate(void **state)
{
    (void)state;
    char path[600], file[300];
    const char *py = "import feedparser, sys\n"
                     "d = feedparser.parse(open(sys.argv[1], \"rb\").read())\n"
                     "assert not d.bozo, d.bozo_exception\n"
                     "assert d.version == \"atom10\", d.version\n"
                     "assert d.entries, \"no entries\"\n"
                     "for e in d.entries:\n"
                     "    assert e.id.startswith(\"tag:\"), e.id\n"
                     "    assert e.updated_parsed, e\n"
                     "print(\"# feed\", d.feed.title, len(d.entries), d.entries[0].title)\n";
    snprintf(path, sizeof path, "/feeds/dataset/fx/%s.atom", ids[0]);
    const char *feeds[] = {"/feeds/all.atom", "/feeds/portal/fx.atom", path,
                           "/feeds/search.atom?status=down&lang=es"};
    for (size_t i = 0; i < 4; i++) {
        vgt_response r = {0};
        vgt_get(&srv, feeds[i], &r);
        assert_int_equal(r.status, 200);
        snprintf(file, sizeof file, "%s/feed.xml", srv.dir);
        FILE *f = fopen(file, "wb");
        fwrite(r.body, 1, r.body_len, f);
        fclose(f);
        assert_int_equal(run_py(py, file), 0);
        char *etag = vgt_header(&r, "ETag"), *lm = vgt_header(&r, "Last-Modified");
        assert_non_null(etag);
        assert_non_null(lm);
        char h1[256], h2[256];
        snprintf(h1, sizeof h1, "If-None-Match: %s", etag);
        const char *hdr[] = {h1, NULL};
        vgt_response r2 = {0};
        vgt_http(&srv, "GET", feeds[i], hdr, NULL, 0, &r2);
        assert_int_equal(r2.status, 304);
        vgt_response_free(&r2);
        snprintf(h2, sizeof h2, "If-Modified-Since: %s", lm);
        const char *hdr2[] = {h2, NULL};
        vgt_http(&srv, "GET", feeds[i], hdr2, NULL, 0, &r2);
        assert_int_equal(r2.status, 304);
        vgt_response_free(&r2);
        free(etag);
        free(lm);
        vgt_response_free(&r);
    }
    /* the dataset feed holds that dataset only, in the language asked */
    vgt_response r = {0};
    strcat(path, "?lang=en");
    vgt_get(&srv, path, &r);
    assert_null(strstr(r.body, ids[1]));
    assert_non_null(strstr(r.body, "is down"));
    vgt_response_free(&r);
}

/* Its own server: kill -9 with 500 deliveries handed to the channel and not
 * answered; after the restart every one of them is asked for again. */
static void kill9_loses_no_delivery(void **state)
{
    (void)state;
    enum { N = 500 };
    vgt_server s2 = {0};
    assert_int_equal(
        vgt_server_start(
            &s2, "watch,busbridge", NULL,
            "[watch]\ntick = 100ms\nlease = 3s\nbackoff_min = 200ms\nbackoff_max = 1s\n"
            "confirm_per_ip = 100000\nconfirm_global = 100000\n"
            "requests_per_ip = 100000\n"),
        0);
    char email[64], body[256];
    for (int i = 0; i < N; i++) {
        snprintf(body, sizeof body,
                 "{\"email\":\"k%03d@example.org\",\"target\":{\"type\":\"all\"}}", i);
        vgt_response r = {0};
        vgt_post_json(&s2, "/api/subscriptions", body, &r);
        assert_int_equal(r.status, 202);
        vgt_response_free(&r);
    }
    /* all five hundred asked of the channel (leased), none answered */
    json_t *ev = NULL;
    for (int waited = 0; waited < 30000; waited += 100) {
        json_decref(ev);
        ev = mt_events(&s2, 0, "delivery.requested");
        if (json_array_size(ev) >= N)
            break;
        sleep_ms(100);
    }
    /* more than N when the machine is so slow that the first leases (3 s)
     * ran out while the last subscriptions came in: those were asked again */
    assert_true(json_array_size(ev) >= N);
    json_decref(ev);
    assert_true(WIFSIGNALED(vgt_server_signal(&s2, SIGKILL)));
    assert_int_equal(vgt_server_restart(&s2), 0);
    /* the new process starts its event log at 0: every address asked again,
     * once its lease (3 s from the last ask) has run out */
    char seen[N] = {0};
    int distinct = 0;
    for (int waited = 0; distinct < N && waited < 90000; waited += 200) {
        ev = mt_events(&s2, 0, "delivery.requested");
        size_t i;
        json_t *e;
        json_array_foreach (ev, i, e) {
            const char *to = str(json_object_get(e, "payload"), "to");
            int k;
            if (to && sscanf(to, "k%03d@", &k) == 1 && k >= 0 && k < N && !seen[k]) {
                seen[k] = 1;
                distinct++;
            }
        }
        json_decref(ev);
        if (distinct < N)
            sleep_ms(200);
    }
    snprintf(email, sizeof email, "%d of %d", distinct, N);
    assert_string_equal(email, "500 of 500");
    assert_int_equal(vgt_server_stop_clean(&s2), 0);
}

static void digest_at_local_time(void **state)
{
    (void)state;
    /* 2027-01-15 07:50 in Santiago (UTC-3 in summer) = 10:50 UTC */
    const long long t0 = 1800010200000LL; /* 2027-01-15T10:50:00Z */
    set_clock(t0);
    long long since = mt_last_seq(&srv);
    assert_int_equal(subscribe("fran@example.org",
                               "\"target\":{\"type\":\"portal\",\"portal\":\"fx\"},"
                               "\"delivery\":\"daily@08:00\",\"tz\":\"America/Santiago\","
                               "\"lang\":\"en\"",
                               NULL),
                     202);
    confirm("fran@example.org", since);
    since = mt_last_seq(&srv);
    control("{\"op\":\"set_all\",\"behaviour\":\"up\"}");
    json_t *fin = mt_sweep(&srv, NULL);
    json_decref(fin);
    json_t *ch = mt_events(&srv, since, "dataset.status_changed");
    size_t changes = json_array_size(ch);
    json_decref(ch);
    assert_int_equal(changes, NDS);
    sleep_ms(600);
    set_clock(t0 + 9 * 60000 + 50000); /* 07:59:50 local */
    sleep_ms(600);
    json_t *d = requests(since, "fran@example.org", NULL);
    assert_int_equal(json_array_size(d), 0);
    json_decref(d);
    set_clock(t0 + 10 * 60000 + 1000); /* 08:00:01 local */
    d = wait_requests(since, "fran@example.org", "digest", 1, 5000);
    assert_int_equal(json_array_size(d), 1);
    json_t *p = json_array_get(d, 0);
    assert_int_equal(json_integer_value(json_object_get(p, "count")), NDS);
    assert_string_equal(str(p, "tz"), "America/Santiago");
    assert_string_equal(str(json_array_get(json_object_get(p, "items"), 0), "kind"), "recovered");
    json_decref(d);
}

static void unconfirmed_subscriptions_expire_after_48h(void **state)
{
    (void)state;
    long long since = mt_last_seq(&srv);
    assert_int_equal(subscribe("late@example.org", "\"target\":{\"type\":\"all\"}", NULL), 202);
    json_t *c = wait_requests(since, "late@example.org", "confirm", 1, 5000);
    assert_int_equal(json_array_size(c), 1);
    const long long t0 = 1800010200000LL + 10 * 60000 + 1000;
    set_clock(t0 + 49LL * 3600 * 1000);
    sleep_ms(500);
    assert_int_equal(post(str(json_object_get(json_array_get(c, 0), "links"), "confirm"), NULL),
                     404);
    json_decref(c);
    set_clock(0);
}

static void confirmation_mails_are_rate_limited_per_ip(void **state)
{
    (void)state;
    char email[64], *b = NULL;
    long st = 0;
    for (int i = 0; i < 60 && st != 429; i++) {
        snprintf(email, sizeof email, "ip%02d@example.org", i);
        free(b);
        b = NULL;
        st = subscribe(email, "\"target\":{\"type\":\"all\"}", &b);
    }
    assert_int_equal(st, 429);
    assert_non_null(strstr(b, "remote address"));
    assert_non_null(strstr(b, "45"));
    free(b);
}

/* Its own server: the public endpoints' per-IP limit, low. */
static void public_endpoints_are_limited_per_ip(void **state)
{
    (void)state;
    vgt_server s2 = {0};
    assert_int_equal(vgt_server_start(&s2, "watch", NULL, "[watch]\nrequests_per_ip = 5\n"), 0);
    for (int i = 0; i < 5; i++) {
        vgt_response r = {0};
        vgt_get(&s2, "/api/subscriptions/manage?token=unknown", &r);
        assert_int_equal(r.status, 404);
        vgt_response_free(&r);
    }
    vgt_response r = {0};
    vgt_post_json(&s2, "/api/subscriptions", "{}", &r);
    assert_int_equal(r.status, 429);
    assert_non_null(strstr(r.body, "remote address"));
    assert_non_null(strstr(r.body, "at most 5 requests per minute"));
    char *ra = vgt_header(&r, "Retry-After");
    assert_non_null(ra);
    free(ra);
    vgt_response_free(&r);
    assert_int_equal(vgt_server_stop_clean(&s2), 0);
}

/* Channels other than e-mail (Web Push, webhooks) hold subscriptions through
 * watch.subscribe: confirmed at once, no confirmation sent, their address
 * handed back byte for byte; "gone" erases the subscriber; forget erases it. */
static void other_channels_subscribe_through_the_bus(void **state)
{
    (void)state;
    int rc = 0;
    json_t *r = mt_call(&srv, "watch.subscribe",
                        "{\"v\":1,\"channel\":\"email\",\"address\":\"a@b.org\","
                        "\"target\":{\"type\":\"all\"}}",
                        &rc);
    assert_true(rc < 0);
    assert_non_null(strstr(str(json_object_get(r, "error"), "message"), "channel: expected"));
    json_decref(r);
    r = mt_call(&srv, "watch.subscribe",
                "{\"v\":1,\"channel\":\"testpush\",\"address\":\"x\",\"target\":{}}", &rc);
    assert_true(rc < 0);
    assert_string_equal(str(json_object_get(r, "error"), "code"), "INVALID_ARGUMENT");
    assert_non_null(strstr(str(json_object_get(r, "error"), "message"), "target.type"));
    json_decref(r);

    const char *addr = "{\"endpoint\":\"https://push.example/abc\",\"keys\":{\"auth\":\"q\"}}";
    json_t *params = json_pack("{s:i, s:s, s:s, s:{s:s, s:s, s:s}, s:[s], s:s}", "v", 1, "channel",
                               "testpush", "address", addr, "target", "type", "dataset", "portal",
                               "fx", "id", ids[3], "kinds", "down", "lang", "en");
    long long since = mt_last_seq(&srv);
    char *ps = json_dumps(params, 0);
    json_decref(params);
    r = mt_call(&srv, "watch.subscribe", ps, &rc);
    free(ps);
    assert_int_equal(rc, 0);
    const char *tok = str(r, "manage_token");
    assert_non_null(tok);
    assert_non_null(strstr(str(r, "manage_url"), tok));
    assert_true(json_integer_value(json_object_get(r, "subscription")) > 0);
    char *token = strdup(tok);
    json_decref(r);

    char q[256];
    snprintf(q, sizeof q, "{\"v\":1,\"token\":\"%s\"}", token);
    r = mt_call(&srv, "watch.subscriber", q, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(str(r, "channel"), "testpush");
    assert_string_equal(str(r, "address"), addr);
    json_decref(r);
    json_t *m = NULL;
    char url[256];
    snprintf(url, sizeof url, "/api/subscriptions/manage?token=%s", token);
    assert_int_equal(get(url, &m), 200);
    assert_string_equal(str(m, "channel"), "testpush");
    assert_true(json_is_true(
        json_object_get(json_array_get(json_object_get(m, "subscriptions"), 0), "confirmed")));
    json_decref(m);

    char op[256];
    snprintf(op, sizeof op, "{\"op\":\"set_dataset\",\"id\":\"%s\",\"behaviour\":\"404\"}", ids[3]);
    control(op);
    json_decref(mt_sweep(&srv, NULL));
    json_t *a = wait_requests(since, addr, NULL, 1, 10000);
    assert_int_equal(json_array_size(a), 1); /* the alert, and no confirmation before it */
    json_t *p = json_array_get(a, 0);
    assert_string_equal(str(p, "channel"), "testpush");
    assert_string_equal(str(p, "kind"), "alert");
    assert_string_equal(
        str(json_object_get(json_array_get(json_object_get(p, "items"), 0), "dataset"), "id"),
        ids[3]);
    json_t *o = json_pack("{s:s, s:{s:i, s:s, s:s, s:s}}", "topic", "delivery.result", "payload",
                          "v", 1, "key", str(p, "key"), "channel", "testpush", "status", "gone");
    char *os = json_dumps(o, 0);
    vgt_response pr = {0};
    vgt_post_json(&srv, "/api/_probe/publish", os, &pr);
    assert_int_equal(pr.status, 200);
    vgt_response_free(&pr);
    free(os);
    json_decref(o);
    json_decref(a);
    for (int waited = 0;; waited += 50) {
        r = mt_call(&srv, "watch.subscriber", q, &rc);
        json_decref(r);
        if (rc < 0 || waited > 10000)
            break;
        sleep_ms(50);
    }
    assert_true(rc < 0); /* erased: the token no longer opens anything */
    free(token);

    r = mt_call(&srv, "watch.subscribe",
                "{\"v\":1,\"channel\":\"hook\",\"address\":\"wh-1\","
                "\"target\":{\"type\":\"all\"}}",
                &rc);
    assert_int_equal(rc, 0);
    json_decref(r);
    const char *fg = "{\"v\":1,\"channel\":\"hook\",\"address\":\"wh-1\"}";
    r = mt_call(&srv, "watch.forget", fg, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(json_integer_value(json_object_get(r, "removed")), 1);
    json_decref(r);
    r = mt_call(&srv, "watch.forget", fg, &rc);
    assert_int_equal(json_integer_value(json_object_get(r, "removed")), 0);
    json_decref(r);
}

/* Runs `vigia --config <the running server's INI> --call ...`; its exit
 * status, stdout in out. */
static int vigia_call(const char *method, const char *params, char *out, size_t size)
{
    char cmd[PATH_MAX * 2 + 512];
    snprintf(cmd, sizeof cmd, "'%s' --config '%s' --call %s '%s' 2>/dev/null", getenv("VIGIA_BIN"),
             srv.config_path, method, params);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, size - 1, f);
    out[n] = '\0';
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A request to be forgotten from the command line, the server running. */
static void erase_from_the_command_line(void **state)
{
    (void)state;
    long long since = mt_last_seq(&srv);
    assert_int_equal(subscribe("erin@example.org", "\"target\":{\"type\":\"all\"}", NULL), 202);
    json_t *c = wait_requests(since, "erin@example.org", "confirm", 1, 10000);
    assert_int_equal(json_array_size(c), 1);
    char manage[512];
    snprintf(manage, sizeof manage, "%s",
             str(json_object_get(json_array_get(c, 0), "links"), "manage"));
    json_decref(c);
    assert_int_equal(get(manage, NULL), 200);
    char out[4096];
    assert_int_equal(
        vigia_call("watch.erase", "{\"v\":1,\"email\":\"Erin@Example.org\"}", out, sizeof out), 0);
    assert_non_null(strstr(out, "\"erased\": true"));
    assert_int_equal(get(manage, NULL), 404); /* the running server sees it gone */
    assert_int_equal(vigia_call("watch.erase", "{\"email\":\"erin@example.org\"}", out, sizeof out),
                     0);
    assert_non_null(strstr(out, "\"erased\": false"));
    assert_int_equal(vigia_call("watch.erase", "{\"email\":\"no\"}", out, sizeof out), 1);
    assert_non_null(strstr(out, "INVALID_ARGUMENT"));
    assert_int_equal(vigia_call("watch.erase", "[not json", out, sizeof out), 2);
    assert_int_equal(vigia_call("no.such_method", "{}", out, sizeof out), 1);
    assert_non_null(strstr(out, "UNAVAILABLE"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_input_names_the_field),
        cmocka_unit_test(subscribe_confirm_and_only_the_right_subscriber_hears),
        cmocka_unit_test(unconfirmed_address_gets_nothing_but_the_confirmation),
        cmocka_unit_test(no_enumeration),
        cmocka_unit_test(confirmation_mails_are_rate_limited_per_address),
        cmocka_unit_test(storm_is_one_message_counted),
        cmocka_unit_test(expired_lease_counts_as_a_retry),
        cmocka_unit_test(manage_and_one_click_unsubscribe),
        cmocka_unit_test(atom_feeds_parse_and_revalidate),
        cmocka_unit_test(kill9_loses_no_delivery),
        cmocka_unit_test(digest_at_local_time),
        cmocka_unit_test(unconfirmed_subscriptions_expire_after_48h),
        cmocka_unit_test(erase_from_the_command_line),
        cmocka_unit_test(confirmation_mails_are_rate_limited_per_ip),
        cmocka_unit_test(public_endpoints_are_limited_per_ip),
        cmocka_unit_test(other_channels_subscribe_through_the_bus),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
