/* Issue 14, item 4: storage that vanishes under the running server.
 *   - database deleted: before, creates kept answering 201 and all were gone
 *     after a restart; now /api/health turns 503 with the reason within the
 *     watch interval, writes answer 503, and every acknowledged write is
 *     still there after a restart;
 *   - database files made immutable (root + ext4 only, else skipped):
 *     before, SIGBUS, exit 135, nothing logged; now 503s, a logged reason,
 *     and a clean stop. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "vgt.h"

static long create(vgt_server *s)
{
    vgt_response r;
    assert_int_equal(vgt_post_json(s, "/api/notifications/test", "{}", &r), 0);
    long st = r.status;
    if (st != 201 && st != 503)
        fail_msg("POST /api/notifications/test: %ld %s", st, r.body);
    if (st == 503 && !strstr(r.body, "STORAGE_UNAVAILABLE"))
        fail_msg("a 503 without the storage reason: %s", r.body);
    vgt_response_free(&r);
    return st;
}

static long total(vgt_server *s)
{
    vgt_response r;
    assert_int_equal(vgt_get(s, "/api/notifications?limit=1", &r), 0);
    assert_int_equal(r.status, 200);
    json_t *j = json_loads(r.body, 0, NULL);
    long t = (long)json_integer_value(json_object_get(j, "total"));
    json_decref(j);
    vgt_response_free(&r);
    return t;
}

static vgt_server *health_srv;
static int health_is_503(void *arg)
{
    (void)arg;
    vgt_response r;
    int bad = vgt_get(health_srv, "/api/health", &r) == 0 && r.status == 503;
    vgt_response_free(&r);
    return bad;
}

static vgt_server s; /* big (paths): not on the stack */
static char cmd[3 * PATH_MAX + 64];

static int one_notification(void *arg)
{
    (void)arg;
    return total(health_srv) >= 1;
}

static void test_deleted_database(void **state)
{
    (void)state;
    assert_int_equal(vgt_server_start(&s, "notifications, rest", NULL, NULL), 0);
    assert_int_equal(create(&s), 201);
    assert_int_equal(create(&s), 201);
    assert_int_equal(unlink(s.db_path), 0);
    static char side[PATH_MAX + 8];
    snprintf(side, sizeof side, "%s-wal", s.db_path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", s.db_path);
    unlink(side);
    /* Acknowledged after the deletion = lost; count them. */
    int acked_after = 0;
    for (int i = 0; i < 5; i++)
        acked_after += create(&s) == 201;
    printf("# deleted database: %d of 5 writes acknowledged after the deletion\n", acked_after);
    health_srv = &s;
    assert_true(vgt_wait_until(health_is_503, NULL, 3000));
    vgt_response r;
    assert_int_equal(vgt_get(&s, "/api/health", &r), 0);
    assert_non_null(strstr(r.body, "was deleted while the server ran"));
    vgt_response_free(&r);
    assert_int_equal(create(&s), 503);
    assert_true(vgt_log_contains(&s, "ERROR [storage]"));
    assert_int_equal(acked_after, 0);
    /* Restart on a fresh database: only what was acknowledged before the
     * deletion was ever promised, and nothing acknowledged since is missing. */
    assert_int_equal(vgt_server_signal(&s, SIGTERM), 0);
    s.pid = 0;
    assert_int_equal(vgt_server_restart(&s), 0);
    /* The start notice is written just after the server answers: wait for it. */
    assert_true(vgt_wait_until(one_notification, NULL, 3000));
    long after = total(&s);
    printf("# after the restart: %ld notifications (the new start notice)\n", after);
    assert_int_equal(after, 1);
    assert_int_equal(vgt_server_stop_clean(&s), 0);
}

static void test_immutable_database(void **state)
{
    (void)state;
    if (geteuid() != 0 || system("command -v chattr >/dev/null") != 0)
        skip();
    assert_int_equal(vgt_server_start(&s, "notifications, rest", NULL, NULL), 0);
    assert_int_equal(create(&s), 201);
    snprintf(cmd, sizeof cmd, "chattr +i '%s' '%s-wal' '%s-shm' 2>/dev/null", s.db_path, s.db_path,
             s.db_path);
    if (system(cmd) != 0) {
        vgt_server_cleanup(&s);
        skip(); /* a file system without immutable files */
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(create(&s), 503);
    vgt_response r;
    assert_int_equal(vgt_get(&s, "/api/notifications?limit=5", &r), 0); /* reads go on */
    assert_int_equal(r.status, 200);
    vgt_response_free(&r);
    health_srv = &s;
    assert_true(health_is_503(NULL));
    assert_true(vgt_log_contains(&s, "immutable (chattr +i)"));
    /* Still alive (no SIGBUS), and stops cleanly. */
    int status = vgt_server_signal(&s, SIGTERM);
    s.pid = 0;
    snprintf(cmd, sizeof cmd, "chattr -i '%s' '%s-wal' '%s-shm' 2>/dev/null", s.db_path, s.db_path,
             s.db_path);
    (void)!system(cmd);
    printf("# immutable database: exit status %d (signal %d)\n",
           WIFEXITED(status) ? WEXITSTATUS(status) : -1,
           WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    assert_true(WIFEXITED(status));
    vgt_server_cleanup(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deleted_database),
        cmocka_unit_test(test_immutable_database),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
