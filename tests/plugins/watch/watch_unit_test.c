/* The watch plugin's pure parts: schedules in local time (zones from the
 * core's tz_info, tested in tests/unit/test_tz.c), folding,
 * tokens, and the store's match -> group -> settle cycle on a temp file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vgt_tz.h"
#include "watch.h"

#define H 3600000LL

static long long utc(int y, int mo, int d, int h, int mi)
{
    return (vg_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60) * 1000LL;
}

static void digests_fall_on_local_time(void **state)
{
    (void)state;
    watch_sched s = {0};
    assert_int_equal(watch_parse_delivery("daily@08:00", &s), 0);
    assert_int_equal(watch_parse_quiet(NULL, &s), 0);
    /* 07:50 in Santiago (10:50Z) -> 08:00 local the same day (11:00Z) */
    assert_int_equal(
        watch_due_ms(&s, &vgt_tz_host, "America/Santiago", utc(2027, 1, 15, 10, 50), 0, false),
        utc(2027, 1, 15, 11, 0));
    /* 08:30 local -> tomorrow */
    assert_int_equal(
        watch_due_ms(&s, &vgt_tz_host, "America/Santiago", utc(2027, 1, 15, 11, 30), 0, false),
        utc(2027, 1, 16, 11, 0));
    assert_int_equal(watch_parse_delivery("weekly@mon@09:15", &s), 0);
    /* 2027-01-15 is a Friday */
    assert_int_equal(watch_due_ms(&s, &vgt_tz_host, "UTC", utc(2027, 1, 15, 10, 0), 0, false),
                     utc(2027, 1, 18, 9, 15));
    assert_int_equal(watch_parse_delivery("hourly", &s), 0);
    assert_int_equal(watch_due_ms(&s, &vgt_tz_host, "UTC", utc(2027, 1, 15, 10, 20), 0, false),
                     utc(2027, 1, 15, 11, 0));
    assert_int_equal(watch_parse_delivery("immediate", &s), 0);
    assert_int_equal(watch_parse_quiet("22:00-07:00", &s), 0);
    /* 23:00 local: a warning waits until 07:00, a critical one does not */
    assert_int_equal(watch_due_ms(&s, &vgt_tz_host, "UTC", utc(2027, 1, 15, 23, 0), 1000, false),
                     utc(2027, 1, 16, 7, 0));
    assert_int_equal(watch_due_ms(&s, &vgt_tz_host, "UTC", utc(2027, 1, 15, 23, 0), 1000, true),
                     utc(2027, 1, 15, 23, 0) + 1000);
    assert_int_not_equal(watch_parse_delivery("weekly@xyz@09:15", &s), 0);
    assert_int_not_equal(watch_parse_delivery("daily@8:00", &s), 0);
    assert_int_not_equal(watch_parse_quiet("22:00-7:00", &s), 0);
}

static void searches_fold_accents_and_case(void **state)
{
    (void)state;
    char t[128], q[128];
    watch_fold("Educaci\xc3\xb3n P\xc3\xbA"
               "blica",
               t, sizeof t);
    assert_string_equal(t, "educacion publica");
    watch_fold("EDUCACION", q, sizeof q);
    assert_true(watch_search_matches(q, t));
    watch_fold("educaci\xc3\xb3n salud", q, sizeof q);
    assert_false(watch_search_matches(q, t));
}

static void tokens_are_random_and_hashed(void **state)
{
    (void)state;
    char a[44], b[44], ha[65], hb[65], h2[65];
    assert_int_equal(watch_token_new(a, ha), 0);
    assert_int_equal(watch_token_new(b, hb), 0);
    assert_int_equal(strlen(a), 43);
    assert_string_not_equal(a, b);
    watch_token_hash(a, h2);
    assert_string_equal(ha, h2);
    assert_int_equal(strlen(ha), 64);
}

static void outbox_groups_settles_and_dead_letters(void **state)
{
    (void)state;
    char path[] = "/tmp/watch_unit_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    watch_db w;
    char err[256];
    assert_int_equal(watch_db_open(&w, path, err, sizeof err), 0);
    assert_int_equal(
        watch_exec(&w, "INSERT INTO watch_subscriber(id, address, lang, tz, created_ms)"
                       " VALUES (1, 'a@x.org', 'en', 'UTC', 0);"
                       "INSERT INTO watch_subscription(id, subscriber, ttype, portal, kinds,"
                       " delivery, confirmed_ms, created_ms) VALUES"
                       " (1, 1, 'portal', 'p', ',down,', 'immediate', 1, 0),"
                       " (2, 1, 'organization', NULL, ',down,', 'immediate', NULL, 0);"),
        0);
    json_t *topics[300], *payloads[300];
    for (int i = 0; i < 300; i++) {
        char id[16];
        snprintf(id, sizeof id, "d%d", i);
        topics[i] = json_string("dataset.status_changed");
        payloads[i] =
            json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s}}", "portal", "p", "previous", "up",
                      "current", "down", "dataset", "id", id, "organization", "o", "title", "T");
    }
    watch_match_opts mo = {.window_ms = 1000, .host = &vgt_tz_host};
    /* one item per event: the unconfirmed org subscription adds nothing */
    assert_int_equal(watch_match_events(&w, topics, payloads, 300, 1000, &mo), 300);
    watch_outbox_opts oo = {.max_items = 5,
                            .max_attempts = 2,
                            .lease_ms = 100,
                            .backoff_min_ms = 10,
                            .backoff_max_ms = 20};
    assert_int_equal(watch_outbox_group(&w, 1500, &oo), 0); /* not due yet */
    assert_int_equal(watch_outbox_group(&w, 2000, &oo), 1); /* a storm: one message */
    sqlite3_stmt *s;
    sqlite3_prepare_v2(w.db, "SELECT key, body FROM watch_outbox", -1, &s, NULL);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    char key[64];
    snprintf(key, sizeof key, "%s", (const char *)sqlite3_column_text(s, 0));
    json_t *body = json_loads((const char *)sqlite3_column_text(s, 1), 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(body, "count")), 300);
    assert_int_equal(json_array_size(json_object_get(body, "items")), 5);
    json_decref(body);
    sqlite3_finalize(s);
    /* leased twice (the plugin does this), answered retry twice: dead */
    assert_int_equal(watch_exec(&w, "UPDATE watch_outbox SET state='leased', attempts=1"), 0);
    assert_int_equal(
        watch_box_result(&w, &watch_box_subscribers, key, "retry", "421", 0, 3000, &oo), 0);
    assert_int_equal(watch_exec(&w, "UPDATE watch_outbox SET state='leased', attempts=2"), 0);
    assert_int_equal(
        watch_box_result(&w, &watch_box_subscribers, key, "retry", "421", 0, 3000, &oo), 0);
    sqlite3_prepare_v2(w.db, "SELECT state FROM watch_outbox", -1, &s, NULL);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "dead");
    sqlite3_finalize(s);
    assert_int_equal(
        watch_box_result(&w, &watch_box_subscribers, "nope", "sent", NULL, 0, 3000, &oo), -ENOENT);
    /* the pending table is empty now: the next message must get a key of its
     * own (its lowest item id once restarted at 1 and repeated a sent key) */
    assert_int_equal(watch_match_events(&w, topics, payloads, 1, 4000, &mo), 1);
    assert_int_equal(watch_outbox_group(&w, 5000, &oo), 1);
    sqlite3_prepare_v2(w.db, "SELECT count(DISTINCT key) FROM watch_outbox", -1, &s, NULL);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s, 0), 2);
    sqlite3_finalize(s);
    for (int i = 0; i < 300; i++) {
        json_decref(topics[i]);
        json_decref(payloads[i]);
    }
    watch_db_close(&w);
    core_tz_cleanup();
    unlink(path);
}

/* A database made before channels (subscribers in `email`) opens with its
 * rows as e-mail subscribers, and a second channel may use the same text. */
static void old_databases_gain_channels(void **state)
{
    (void)state;
    char path[] = "/tmp/watch_unit_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "CREATE TABLE watch_subscriber(id INTEGER PRIMARY KEY"
                     " AUTOINCREMENT, email TEXT NOT NULL UNIQUE, lang TEXT NOT NULL,"
                     " tz TEXT NOT NULL, created_ms INTEGER NOT NULL);"
                     "INSERT INTO watch_subscriber VALUES (7, 'a@x.org', 'es', 'UTC', 0);"
                     "CREATE TABLE watch_pending(id INTEGER PRIMARY KEY, subscriber INTEGER NOT"
                     " NULL, subscription INTEGER NOT NULL, event INTEGER NOT NULL,"
                     " digest INTEGER NOT NULL, due_ms INTEGER NOT NULL);"
                     "INSERT INTO watch_pending VALUES (3, 7, 1, 1, 0, 0);"
                     "CREATE TABLE watch_outbox(id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE,"
                     " subscriber INTEGER NOT NULL, subscription INTEGER, kind TEXT NOT NULL,"
                     " body TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL"
                     " DEFAULT 0, next_ms INTEGER NOT NULL, lease_until INTEGER, last_error TEXT,"
                     " created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);"
                     "INSERT INTO watch_outbox(key, subscriber, kind, body, state, next_ms,"
                     " created_ms, updated_ms) VALUES ('alert-7-41', 7, 'alert', '{}', 'sent', 0,"
                     " 0, 0);",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    watch_db w;
    char err[256];
    assert_int_equal(watch_db_open(&w, path, err, sizeof err), 0);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(w.db,
                                        "SELECT id FROM watch_subscriber WHERE channel = 'email'"
                                        " AND address = 'a@x.org'",
                                        -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s, 0), 7);
    sqlite3_finalize(s);
    /* pending rows kept, and new ids start past every id a stored key names */
    assert_int_equal(watch_exec(&w, "DELETE FROM watch_pending WHERE id = 3;"
                                    "INSERT INTO watch_pending(subscriber, subscription, event,"
                                    " digest, due_ms) VALUES (7, 1, 1, 0, 0)"),
                     0);
    assert_int_equal(sqlite3_prepare_v2(w.db, "SELECT max(id) FROM watch_pending", -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s, 0), 42);
    sqlite3_finalize(s);
    assert_int_equal(watch_exec(&w, "INSERT INTO watch_subscriber(channel, address, lang, tz,"
                                    " created_ms) VALUES ('webhook', 'wh-1', 'en', 'UTC', 0)"),
                     0);
    watch_db_close(&w);
    assert_int_equal(watch_db_open(&w, path, err, sizeof err), 0); /* twice: nothing to do */
    watch_db_close(&w);
    unlink(path);
}

static void backoff_grows_with_jitter(void **state)
{
    (void)state;
    watch_outbox_opts o = {.backoff_min_ms = 1000, .backoff_max_ms = 8000};
    for (int i = 0; i < 50; i++) {
        int64_t b1 = watch_backoff_ms(1, &o), b3 = watch_backoff_ms(3, &o),
                b9 = watch_backoff_ms(9, &o);
        assert_true(b1 >= 500 && b1 <= 1000);
        assert_true(b3 >= 2000 && b3 <= 4000);
        assert_true(b9 >= 4000 && b9 <= 8000);
    }
}

/* CKAN contact fields are free text: the first usable address is taken. */
static void contact_fields_give_their_first_address(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"ana@example.org", "ana@example.org"},
        {"  ana@example.org , b@example.org", "ana@example.org"},
        {"Equipo Datos <datos@gob.example.cl>", "datos@gob.example.cl"},
        {"sin correo; otro: x@y.cl", "x@y.cl"},
        {"no address here", NULL},
        {"a@b", NULL},
        {"@example.org", NULL},
        {"a@@example.org", NULL},
        {"a@example.org.", NULL},
        {"a\r\nBcc:@example.org", NULL},
        {"", NULL},
    };
    char out[256];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        bool ok = watch_first_address(cases[i].in, out, sizeof out);
        if (cases[i].want) {
            assert_true(ok);
            assert_string_equal(out, cases[i].want);
        } else {
            assert_false(ok);
            assert_string_equal(out, "");
        }
    }
    assert_false(watch_first_address(NULL, out, sizeof out));
    char small[8];
    assert_false(watch_first_address("ana@example.org", small, sizeof small)); /* never cut */
    assert_true(watch_addr_ok("jefa@example.org"));
    assert_false(watch_addr_ok("jefa@example.org\r\nX: y"));
}

/* The open-data signals are kinds subscribers can follow (the list is open). */
static void signal_kinds(void **state)
{
    (void)state;
    static const struct {
        const char *topic, *payload, *kind;
    } cases[] = {
        {"dataset.freshness_changed", "{\"previous\":\"due\",\"current\":\"overdue\"}", "stale"},
        {"dataset.freshness_changed", "{\"previous\":\"overdue\",\"current\":\"delinquent\"}",
         "stale"},
        {"dataset.freshness_changed", "{\"previous\":\"delinquent\",\"current\":\"fresh\"}",
         "refreshed"},
        {"dataset.freshness_changed", "{\"previous\":\"fresh\",\"current\":\"due\"}", NULL},
        {"dataset.freshness_changed", "{\"previous\":\"due\",\"current\":\"fresh\"}", NULL},
        {"dataset.resource_recreated", "{\"resources\":[{\"old_id\":\"a\",\"new_id\":\"b\"}]}",
         "recreated"},
        {"dataset.format_drift", "{\"resources\":[{\"served\":\"zip\"}]}", "format_drift"},
        {"dataset.format_drift", "{\"resources\":[{\"served\":\"html\"}]}", NULL},
        {"dataset.content_changed", "{\"resources\":[{\"changed\":[\"etag\"]}]}",
         "content_changed"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *p = json_loads(cases[i].payload, 0, NULL);
        const char *k = watch_event_kind(cases[i].topic, p);
        if ((k == NULL) != (cases[i].kind == NULL) || (k && strcmp(k, cases[i].kind) != 0))
            fail_msg("%s %s: got %s", cases[i].topic, cases[i].payload, k ? k : "NULL");
        json_decref(p);
        if (k)
            assert_true(watch_kind_valid(k));
    }
    assert_int_equal(watch_kind_severity("stale"), 2);
    assert_int_equal(watch_kind_severity("recreated"), 2);
    assert_int_equal(watch_kind_severity("format_drift"), 2);
    assert_int_equal(watch_kind_severity("refreshed"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(digests_fall_on_local_time),
        cmocka_unit_test(searches_fold_accents_and_case),
        cmocka_unit_test(tokens_are_random_and_hashed),
        cmocka_unit_test(outbox_groups_settles_and_dead_letters),
        cmocka_unit_test(backoff_grows_with_jitter),
        cmocka_unit_test(contact_fields_give_their_first_address),
        cmocka_unit_test(old_databases_gain_channels),
        cmocka_unit_test(signal_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
