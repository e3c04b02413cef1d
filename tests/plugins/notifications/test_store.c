/* The notification store against a real temporary SQLite file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

/* ---- fixture: temp dir, fake clock, captured announcements ------------- */

typedef struct fx {
    char dir[64];
    char path[128];
    int64_t now;
    pthread_mutex_t mu;
    json_t *events; /* [{topic, payload}] */
    nt_store *st;
} fx;

static int64_t fake_clock(void *ctx) { return ((fx *)ctx)->now; }

static void capture(const char *topic, json_t *payload, void *ctx)
{
    fx *f = ctx;
    pthread_mutex_lock(&f->mu);
    json_array_append_new(f->events, json_pack("{s:s, s:o}", "topic", topic, "payload", payload));
    pthread_mutex_unlock(&f->mu);
}

static nt_store_options options(fx *f, int limit)
{
    return (nt_store_options){.path = f->path,
                              .limit = limit,
                              .now_wall_ms = fake_clock,
                              .clock_ctx = f,
                              .announce = capture,
                              .announce_ctx = f};
}

static void open_store(fx *f, const nt_store_options *o)
{
    nt_error err = {{0}};
    int rc = nt_store_open(o, &f->st, &err);
    if (rc != 0)
        fail_msg("open: %s", err.message);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/nt-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/vigia.db", f->dir);
    f->now = 1795856400000LL; /* 2026-11-28T09:00:00.000Z */
    pthread_mutex_init(&f->mu, NULL);
    f->events = json_array();
    *state = f;
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    fx *f = *state;
    nt_store_close(f->st);
    nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    json_decref(f->events);
    pthread_mutex_destroy(&f->mu);
    free(f);
    return 0;
}

static int64_t create(fx *f, const char *type, const char *title)
{
    json_t *n = NULL;
    nt_error err = {{0}};
    int rc = nt_store_create(f->st, type, title, "msg", NULL, &n, NULL, &err);
    if (rc != 0)
        fail_msg("create: %s", err.message);
    int64_t id = nt_parse_id(json_string_value(json_object_get(n, "id")));
    json_decref(n);
    return id;
}

static json_t *list(fx *f, nt_query q)
{
    json_t *res = NULL;
    nt_error err = {{0}};
    if (nt_store_list(f->st, &q, &res, &err) != 0)
        fail_msg("list: %s", err.message);
    return res;
}

/* Ids of a list result, as numbers, newest first, into ids[]; returns count. */
static size_t list_ids(json_t *res, int64_t *ids, size_t max)
{
    json_t *arr = json_object_get(res, "notifications");
    size_t n = json_array_size(arr);
    for (size_t i = 0; i < n && i < max; i++)
        ids[i] = nt_parse_id(json_string_value(json_object_get(json_array_get(arr, i), "id")));
    return n;
}

static long long jint(const json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

/* ---- tests -------------------------------------------------------------- */

static void test_shape(void **state)
{
    fx *f = *state;
    nt_store_options o = options(f, 10);
    open_store(f, &o);
    f->now += 123;
    json_t *data = json_pack("{s:s}", "dataset", "abc");
    json_t *n = NULL;
    long long unread = 0;
    nt_error err;
    assert_int_equal(
        nt_store_create(f->st, "warning", "Título ñandú", "Mensaje", data, &n, &unread, &err), 0);
    json_decref(data);
    assert_string_equal(json_string_value(json_object_get(n, "id")), "1");
    assert_string_equal(json_string_value(json_object_get(n, "type")), "warning");
    assert_string_equal(json_string_value(json_object_get(n, "title")), "Título ñandú");
    assert_string_equal(json_string_value(json_object_get(n, "created_at")),
                        "2026-11-28T09:00:00.123Z");
    assert_true(json_is_false(json_object_get(n, "read")));
    assert_true(json_is_null(json_object_get(n, "read_at")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(n, "data"), "dataset")),
                        "abc");
    assert_int_equal(unread, 1);
    json_decref(n);
    /* announced once, with the same object and the unread count */
    assert_int_equal(json_array_size(f->events), 1);
    json_t *ev = json_array_get(f->events, 0);
    assert_string_equal(json_string_value(json_object_get(ev, "topic")), "notification.created");
    json_t *p = json_object_get(ev, "payload");
    assert_int_equal(jint(p, "unread_count"), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(p, "notification"), "id")), "1");
}

static void test_eviction_keeps_history(void **state)
{
    fx *f = *state;
    nt_store_options o = options(f, 5);
    open_store(f, &o);
    for (int i = 1; i <= 12; i++)
        assert_int_equal(create(f, "info", "n"), i);
    nt_store_stats s;
    nt_store_stats_get(f->st, &s);
    assert_int_equal(s.in_memory, 5);
    assert_int_equal(s.total, 12);
    assert_int_equal(s.history, 12);
    assert_int_equal(s.unread, 12);

    int64_t ids[20];
    json_t *res = list(f, (nt_query){.limit = 50, .type = -1});
    assert_int_equal(list_ids(res, ids, 20), 12);
    for (int i = 0; i < 12; i++)
        assert_int_equal(ids[i], 12 - i);
    assert_int_equal(jint(res, "total"), 12);
    json_decref(res);

    /* an evicted one is still found by id */
    json_t *n = NULL;
    nt_error err;
    assert_int_equal(nt_store_get(f->st, 2, &n, &err), 0);
    assert_string_equal(json_string_value(json_object_get(n, "id")), "2");
    json_decref(n);
    assert_int_equal(nt_store_get(f->st, 99, &n, &err), -ENOENT);
    assert_string_equal(err.code, "NOT_FOUND");
}

static void test_order_and_paging(void **state)
{
    fx *f = *state;
    nt_store_options o = options(f, 8);
    open_store(f, &o);
    for (int i = 1; i <= 20; i++) {
        f->now += 1000;
        create(f, i % 2 ? "info" : "error", i == 7 ? "Portal CAÍDO datos" : "normal");
    }
    int64_t ids[32];
    /* pages of 5 walking back with `before`, across the memory boundary (13..20) */
    int64_t before = 0, expect = 20;
    for (int page = 0; page < 4; page++) {
        json_t *res = list(f, (nt_query){.limit = 5, .type = -1, .before = before});
        size_t n = list_ids(res, ids, 32);
        assert_int_equal(n, 5);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(ids[i], expect--);
        assert_int_equal(jint(res, "total"), before ? before - 1 : 20);
        before = ids[n - 1];
        json_decref(res);
    }
    json_t *res = list(f, (nt_query){.limit = 5, .type = -1, .before = 1});
    assert_int_equal(list_ids(res, ids, 32), 0);
    json_decref(res);

    /* since: newer than 15, from memory */
    res = list(f, (nt_query){.limit = 50, .type = -1, .since = 15});
    assert_int_equal(list_ids(res, ids, 32), 5);
    assert_int_equal(ids[0], 20);
    assert_int_equal(ids[4], 16);
    assert_int_equal(jint(res, "total"), 5);
    json_decref(res);
    /* since below memory: page from memory, total from SQLite */
    res = list(f, (nt_query){.limit = 3, .type = -1, .since = 4});
    assert_int_equal(list_ids(res, ids, 32), 3);
    assert_int_equal(ids[0], 20);
    assert_int_equal(jint(res, "total"), 16);
    json_decref(res);
    /* since and before together */
    res = list(f, (nt_query){.limit = 50, .type = -1, .since = 3, .before = 7});
    assert_int_equal(list_ids(res, ids, 32), 3);
    assert_int_equal(ids[0], 6);
    assert_int_equal(ids[2], 4);
    json_decref(res);

    /* type and q filters, in memory and in SQLite alike */
    res = list(f, (nt_query){.limit = 4, .type = NT_ERROR});
    assert_int_equal(jint(res, "total"), 10);
    json_decref(res);
    res = list(f, (nt_query){.limit = 4, .type = NT_ERROR, .unread_only = true, .before = 19});
    assert_int_equal(list_ids(res, ids, 32), 4);
    assert_int_equal(ids[0], 18);
    assert_int_equal(jint(res, "total"), 9);
    json_decref(res);
    res = list(f, (nt_query){.limit = 50, .type = NT_ERROR});
    assert_int_equal(list_ids(res, ids, 32), 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(ids[i] % 2, 0);
    json_decref(res);
    /* case folding is ASCII only, in memory as in SQLite's LIKE */
    res = list(f, (nt_query){.limit = 50, .type = -1, .q = "caÍdo"});
    assert_int_equal(list_ids(res, ids, 32), 1);
    json_decref(res);
    res = list(f, (nt_query){.limit = 50, .type = -1, .q = "caído"});
    assert_int_equal(list_ids(res, ids, 32), 0);
    json_decref(res);
    res = list(f, (nt_query){.limit = 50, .type = -1, .q = "portal"});
    assert_int_equal(list_ids(res, ids, 32), 1);
    assert_int_equal(ids[0], 7);
    json_decref(res);
    res = list(f, (nt_query){.limit = 50, .type = -1, .q = "100%"});
    assert_int_equal(list_ids(res, ids, 32), 0);
    json_decref(res);

    nt_query bad = {.limit = NT_LIST_MAX + 1, .type = -1};
    nt_error err;
    assert_int_equal(nt_store_list(f->st, &bad, &res, &err), -EINVAL);
    assert_non_null(strstr(err.message, "limit"));
}

static void test_unread_counts(void **state)
{
    fx *f = *state;
    nt_store_options o = options(f, 3);
    open_store(f, &o);
    for (int i = 0; i < 5; i++)
        create(f, "info", "n");
    long long unread = -1;
    bool changed = false;
    nt_error err;
    /* 1 is no longer in memory, 5 is */
    assert_int_equal(nt_store_mark_read(f->st, 1, &unread, &changed, &err), 0);
    assert_true(changed);
    assert_int_equal(unread, 4);
    assert_int_equal(nt_store_mark_read(f->st, 5, &unread, &changed, &err), 0);
    assert_int_equal(unread, 3);
    assert_int_equal(nt_store_mark_read(f->st, 5, &unread, &changed, &err), 0);
    assert_false(changed);
    assert_int_equal(unread, 3);
    assert_int_equal(nt_store_mark_read(f->st, 77, &unread, &changed, &err), -ENOENT);
    assert_string_equal(err.code, "NOT_FOUND");
    assert_non_null(strstr(err.message, "77"));

    json_t *res = list(f, (nt_query){.limit = 50, .type = -1, .unread_only = true});
    int64_t ids[8];
    assert_int_equal(list_ids(res, ids, 8), 3);
    assert_int_equal(ids[0], 4);
    assert_int_equal(ids[2], 2);
    assert_int_equal(jint(res, "unread_count"), 3);
    assert_int_equal(jint(res, "total"), 3);
    json_decref(res);
    json_t *n = NULL;
    assert_int_equal(nt_store_get(f->st, 5, &n, &err), 0);
    assert_true(json_is_true(json_object_get(n, "read")));
    assert_true(json_is_string(json_object_get(n, "read_at")));
    json_decref(n);

    long long marked = 0;
    assert_int_equal(nt_store_mark_all_read(f->st, &marked, &err), 0);
    assert_int_equal(marked, 3);
    create(f, "warning", "a");
    create(f, "warning", "b");
    nt_store_stats s;
    nt_store_stats_get(f->st, &s);
    assert_int_equal(s.unread, 2);
    assert_int_equal(s.total, 7);
    assert_int_equal(s.by_type[NT_WARNING], 2);

    long long cleared = 0;
    assert_int_equal(nt_store_clear(f->st, &cleared, &err), 0);
    assert_int_equal(cleared, 7);
    nt_store_stats_get(f->st, &s);
    assert_int_equal(s.unread, 0);
    assert_int_equal(s.total, 0);
    assert_int_equal(s.in_memory, 0);
    assert_int_equal(s.history, 7); /* kept by default */
    res = list(f, (nt_query){.limit = 50, .type = -1});
    assert_int_equal(list_ids(res, ids, 8), 0);
    assert_int_equal(jint(res, "total"), 0);
    json_decref(res);
    /* a cleared one marked read does not move the unread count */
    assert_int_equal(nt_store_mark_read(f->st, 6, &unread, &changed, &err), 0);
    assert_int_equal(unread, 0);
    assert_int_equal(create(f, "info", "after clear"), 8);
    nt_store_stats_get(f->st, &s);
    assert_int_equal(s.unread, 1);

    /* the announcements carried the counts, in order */
    const char *topics[] = {"notification.read",    "notification.read",    "notification.read",
                            "notification.created", "notification.created", "notification.cleared"};
    long long counts[] = {4, 3, 0, 1, 2, 0};
    size_t base = 5;
    for (size_t i = 0; i < 6; i++) {
        json_t *ev = json_array_get(f->events, base + i);
        assert_string_equal(json_string_value(json_object_get(ev, "topic")), topics[i]);
        assert_int_equal(jint(json_object_get(ev, "payload"), "unread_count"), counts[i]);
    }
    json_t *first_read = json_object_get(json_array_get(f->events, base), "payload");
    assert_string_equal(json_string_value(json_object_get(first_read, "notification_id")), "1");
}

static void test_persistence(void **state)
{
    fx *f = *state;
    nt_store_options o = options(f, 4);
    open_store(f, &o);
    for (int i = 0; i < 6; i++)
        create(f, "error", "persisted");
    nt_error err;
    assert_int_equal(nt_store_mark_read(f->st, 6, NULL, NULL, &err), 0);
    nt_store_close(f->st);
    f->st = NULL;

    open_store(f, &o);
    nt_store_stats s;
    nt_store_stats_get(f->st, &s);
    assert_int_equal(s.total, 6);
    assert_int_equal(s.unread, 5);
    assert_int_equal(s.in_memory, 4);
    assert_int_equal(s.last_id, 6);
    json_t *n = NULL;
    assert_int_equal(nt_store_get(f->st, 6, &n, &err), 0);
    assert_true(json_is_true(json_object_get(n, "read")));
    assert_string_equal(json_string_value(json_object_get(n, "title")), "persisted");
    json_decref(n);
    assert_int_equal(create(f, "info", "next"), 7);
    nt_store_close(f->st);
    f->st = NULL;

    /* clear that deletes history: ids still keep increasing after a reopen */
    o.clear_deletes_history = true;
    open_store(f, &o);
    assert_int_equal(nt_store_clear(f->st, NULL, &err), 0);
    nt_store_stats_get(f->st, &s);
    assert_int_equal(s.history, 0);
    nt_store_close(f->st);
    f->st = NULL;
    open_store(f, &o);
    assert_int_equal(create(f, "info", "after delete"), 8);
}

static void test_validation(void **state)
{
    fx *f = *state;
    nt_store_options o = options(f, 4);
    o.max_data_bytes = 1024;
    open_store(f, &o);
    nt_error err;
    json_t *n = NULL;

    assert_int_equal(nt_store_create(f->st, "urgent", "t", "m", NULL, &n, NULL, &err), -EINVAL);
    assert_string_equal(err.code, "INVALID_ARGUMENT");
    assert_string_equal(err.message,
                        "type: must be one of info, warning, error, success (got 'urgent')");
    assert_int_equal(nt_store_create(f->st, NULL, "t", "m", NULL, &n, NULL, &err), -EINVAL);
    assert_string_equal(err.message, "type: required, one of info, warning, error, success");

    assert_int_equal(nt_store_create(f->st, "info", NULL, "m", NULL, &n, NULL, &err), -EINVAL);
    assert_string_equal(err.message, "title: required (a non-empty string of at most 256 bytes)");
    assert_int_equal(nt_store_create(f->st, "info", "", "m", NULL, &n, NULL, &err), -EINVAL);
    assert_string_equal(err.message, "title: required (a non-empty string of at most 256 bytes)");

    char big[300];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    assert_int_equal(nt_store_create(f->st, "info", big, "m", NULL, &n, NULL, &err), -E2BIG);
    assert_string_equal(err.code, "TOO_LARGE");
    assert_string_equal(err.message, "title: 299 bytes exceeds the limit of 256 bytes");

    char *huge = malloc(5000);
    memset(huge, 'b', 4999);
    huge[4999] = 0;
    assert_int_equal(nt_store_create(f->st, "info", "t", huge, NULL, &n, NULL, &err), -E2BIG);
    assert_string_equal(err.message, "message: 4999 bytes exceeds the limit of 4096 bytes");

    json_t *data = json_pack("{s:s}", "x", huge + 3000); /* ~2 KB of JSON */
    assert_int_equal(nt_store_create(f->st, "info", "t", "m", data, &n, NULL, &err), -E2BIG);
    assert_string_equal(err.code, "TOO_LARGE");
    assert_string_equal(err.message, "data: 2007 bytes of JSON exceeds the limit of 1024 bytes");
    json_decref(data);
    free(huge);
    data = json_pack("[i]", 1);
    assert_int_equal(nt_store_create(f->st, "info", "t", "m", data, &n, NULL, &err), -EINVAL);
    assert_string_equal(err.message, "data: must be a JSON object or null");
    json_decref(data);

    const char *bad_utf8[] = {"\xff",         "ok\xc3",           "\xc0\xaf",
                              "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"};
    for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
        assert_int_equal(nt_store_create(f->st, "info", bad_utf8[i], "m", NULL, &n, NULL, &err),
                         -EINVAL);
        assert_string_equal(err.message, "title: not valid UTF-8");
        assert_int_equal(nt_store_create(f->st, "info", "t", bad_utf8[i], NULL, &n, NULL, &err),
                         -EINVAL);
        assert_string_equal(err.message, "message: not valid UTF-8");
    }
    assert_true(nt_utf8_valid("año €𝄞", strlen("año €𝄞")));

    nt_store_stats s;
    nt_store_stats_get(f->st, &s);
    assert_int_equal(s.history, 0);
    assert_int_equal(json_array_size(f->events), 0);
    assert_null(n);
}

static void test_retention(void **state)
{
    fx *f = *state;
    nt_store_options o = options(f, 4);
    open_store(f, &o);
    for (int i = 0; i < 10; i++)
        create(f, "info", "old");
    f->now += 2 * 86400000LL;
    for (int i = 0; i < 5; i++)
        create(f, "info", "new");
    long long deleted = 0;
    nt_error err;
    assert_int_equal(nt_store_prune(f->st, 86400000LL, 0, &deleted, &err), 0);
    assert_int_equal(deleted, 10);
    nt_store_stats s;
    nt_store_stats_get(f->st, &s);
    assert_int_equal(s.total, 5);
    assert_int_equal(s.history, 5);
    assert_int_equal(nt_store_prune(f->st, 0, 3, &deleted, &err), 0);
    assert_int_equal(deleted, 2);
    nt_store_stats_get(f->st, &s);
    assert_int_equal(s.history, 3);
    assert_int_equal(s.in_memory, 3); /* 12 left memory with the prune */
    json_t *res = list(f, (nt_query){.limit = 50, .type = -1});
    int64_t ids[8];
    assert_int_equal(list_ids(res, ids, 8), 3);
    assert_int_equal(ids[0], 15);
    assert_int_equal(ids[2], 13);
    assert_int_equal(jint(res, "total"), 3);
    json_decref(res);
    /* nothing to do is fine */
    assert_int_equal(nt_store_prune(f->st, 86400000LL, 3, &deleted, &err), 0);
    assert_int_equal(deleted, 0);
}

static void test_open_errors_and_foreign_rows(void **state)
{
    fx *f = *state;
    nt_error err = {{0}};
    nt_store_options o = options(f, 4);
    char bad[160];
    snprintf(bad, sizeof bad, "%s/missing-dir/x.db", f->dir);
    o.path = bad;
    assert_int_equal(nt_store_open(&o, &f->st, &err), -EIO);
    assert_null(f->st);
    assert_non_null(strstr(err.message, "missing-dir/x.db"));
    o.limit = 0;
    o.path = f->path;
    assert_int_equal(nt_store_open(&o, &f->st, &err), -EINVAL);
    assert_non_null(strstr(err.message, "limit"));

    /* a row written behind the store's back: one create fails, ids move on */
    o = options(f, 4);
    open_store(f, &o);
    assert_int_equal(create(f, "info", "one"), 1);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO notifications(id, type, title, message, created_at)"
                                  " VALUES(2, 'info', 'foreign', '', 0)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    json_t *n = NULL;
    assert_int_equal(nt_store_create(f->st, "info", "clash", "", NULL, &n, NULL, &err), -EIO);
    assert_string_equal(err.code, "INTERNAL");
    assert_non_null(strstr(err.message, "insert"));
    assert_int_equal(create(f, "info", "after"), 3);
    nt_store_close(f->st);
    f->st = NULL;

    /* a newer schema is refused, not misread */
    assert_int_equal(
        sqlite3_exec(db, "UPDATE notifications_schema SET value = 2 WHERE name = 'version'", NULL,
                     NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(nt_store_open(&o, &f->st, &err), -EIO);
    assert_null(f->st);
    assert_string_equal(err.message,
                        "notifications schema version 2 is newer than this plugin supports (1)");
}

/* ---- concurrency -------------------------------------------------------- */

#define THREADS 8
#define PER_THREAD 1000

typedef struct worker {
    fx *f;
    int64_t ids[PER_THREAD];
    int failures;
} worker;

static void *creator(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        json_t *n = NULL;
        nt_error err;
        if (nt_store_create(w->f->st, i % 3 ? "info" : "error", "concurrent", "m", NULL, &n, NULL,
                            &err) != 0) {
            w->failures++;
            continue;
        }
        w->ids[i] = nt_parse_id(json_string_value(json_object_get(n, "id")));
        json_decref(n);
        if (i % 100 == 0) { /* readers and markers at the same time */
            json_t *res = NULL;
            nt_query q = {.limit = 20, .type = -1};
            if (nt_store_list(w->f->st, &q, &res, &err) == 0)
                json_decref(res);
            nt_store_mark_read(w->f->st, w->ids[i], NULL, NULL, &err);
        }
    }
    return NULL;
}

static void test_concurrent_creates(void **state)
{
    fx *f = *state;
    nt_store_options o = options(f, 100);
    open_store(f, &o);
    worker *w = calloc(THREADS, sizeof *w);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i].f = f;
        assert_int_equal(pthread_create(&th[i], NULL, creator, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    const int total = THREADS * PER_THREAD;
    char *seen = calloc((size_t)total + 1, 1);
    for (int t = 0; t < THREADS; t++) {
        assert_int_equal(w[t].failures, 0);
        int64_t prev = 0;
        for (int i = 0; i < PER_THREAD; i++) {
            int64_t id = w[t].ids[i];
            assert_true(id >= 1 && id <= total);
            assert_false(seen[id]); /* no duplicate */
            seen[id] = 1;
            assert_true(id > prev); /* increasing within a thread */
            prev = id;
        }
    }
    for (int id = 1; id <= total; id++)
        assert_true(seen[id]); /* none lost */
    nt_store_stats s;
    nt_store_stats_get(f->st, &s);
    assert_int_equal(s.history, total);
    assert_int_equal(s.created_total, total);
    assert_int_equal(s.last_id, total);
    assert_int_equal(s.unread, total - THREADS * (PER_THREAD / 100));
    /* announcements left in id order */
    int64_t prev = 0;
    size_t created = 0;
    for (size_t i = 0; i < json_array_size(f->events); i++) {
        json_t *ev = json_array_get(f->events, i);
        if (strcmp(json_string_value(json_object_get(ev, "topic")), "notification.created"))
            continue;
        json_t *n = json_object_get(json_object_get(ev, "payload"), "notification");
        int64_t id = nt_parse_id(json_string_value(json_object_get(n, "id")));
        assert_true(id > prev);
        prev = id;
        created++;
    }
    assert_int_equal(created, total);
    /* and all of it is on disk */
    nt_store_close(f->st);
    f->st = NULL;
    open_store(f, &o);
    nt_store_stats_get(f->st, &s);
    assert_int_equal(s.history, total);
    free(seen);
    free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eviction_keeps_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_order_and_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unread_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors_and_foreign_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_creates, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
