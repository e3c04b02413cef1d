/* Integration: the cluster over rediss://. A real redis-server serving TLS
 * only, with certificates made here by the openssl CLI in its temp dir (a CA,
 * a server certificate for 127.0.0.1 and localhost, one for another name, a
 * client certificate, and a second CA that signed nothing of the server's).
 * Nodes: A (rest) and B (notifications) trust the CA; C trusts only the other
 * CA; D has the client certificate. The steps run in order and restart Redis
 * with other settings. Skipped, saying so, without redis-server or openssl. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rds.h"
#include "vgt.h"
#include "vgt_bus.h"
#include "vgt_json.h"

static rds R;
static vgt_server A, B, C, D;
static bool have_openssl;
static char cert_args[4][300]; /* --tls-cert-file, --tls-key-file, --tls-ca-cert-file values */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int a_sees_b(void *arg)
{
    (void)arg;
    json_t *st = rds_node_status(&A);
    int ok = json_integer_value(json_object_get(st, "remote_methods")) > 0;
    json_decref(st);
    return ok;
}

/* The log of one node contains a text (polled). */
typedef struct {
    const vgt_server *s;
    const char *needle;
} log_wait;

static int log_has(void *arg)
{
    log_wait *w = arg;
    return vgt_log_contains(w->s, w->needle);
}

static void wait_log(const vgt_server *s, const char *needle)
{
    log_wait w = {s, needle};
    if (!vgt_wait_until(log_has, &w, 10000)) {
        char *log = vgt_log_read(s);
        fail_msg("no '%s' in the log:\n%s", needle, log ? log : "");
    }
}

/* The certificates, EC keys (quick to make), valid two days. */
static int make_certs(const char *dir)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "(cd '%s' && K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes' && "
             "openssl req -x509 $K -keyout ca.key -out ca.crt -days 2 -subj /CN=vgt-ca && "
             "openssl req -x509 $K -keyout other.key -out other.crt -days 2 -subj /CN=vgt-other && "
             "gen() { openssl req $K -keyout $1.key -out $1.csr -subj /CN=$1 && "
             "printf '%%s\\n' \"$2\" > $1.ext && "
             "openssl x509 -req -in $1.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
             "-out $1.crt -extfile $1.ext; } && "
             "gen server 'subjectAltName=IP:127.0.0.1,DNS:localhost' && "
             "gen wrong 'subjectAltName=DNS:wrong.test' && "
             "gen client 'extendedKeyUsage=clientAuth') >/dev/null 2>&1",
             dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Redis with the server certificate `cert` ("server" or "wrong") and
 * --tls-auth-clients `auth` ("optional" or "yes"). */
static int redis_tls_start(const char *cert, const char *auth)
{
    snprintf(cert_args[0], sizeof cert_args[0], "%s/%s.crt", R.dir, cert);
    snprintf(cert_args[1], sizeof cert_args[1], "%s/%s.key", R.dir, cert);
    snprintf(cert_args[2], sizeof cert_args[2], "%s/ca.crt", R.dir);
    snprintf(cert_args[3], sizeof cert_args[3], "%s", auth);
    const char *args[] = {"--tls-cert-file",    cert_args[0],         "--tls-key-file",
                          cert_args[1],         "--tls-ca-cert-file", cert_args[2],
                          "--tls-auth-clients", cert_args[3],         NULL};
    memcpy(R.tls, args, sizeof args);
    return rds_start(&R);
}

static const char *ini(char *buf, size_t n, const char *node, const char *ca, bool client)
{
    int k = snprintf(buf, n,
                     "[cluster]\nredis_url = rediss://:" RDS_PASSWORD
                     "@127.0.0.1:%d\nnode_id = %s\nname = vgt%d\n"
                     "events = test.\nreconnect_max = 300ms\ncall_timeout = 3s\n"
                     "tls_ca_file = %s/%s.crt\n",
                     R.port, node, R.port, R.dir, ca);
    if (client)
        snprintf(buf + k, n - (size_t)k,
                 "tls_cert_file = %s/client.crt\ntls_key_file = %s/client.key\n", R.dir, R.dir);
    return buf;
}

static int setup(void **state)
{
    (void)state;
    int rc = rds_init(&R);
    if (rc != 0)
        return rc > 0 ? 0 : -1;
    have_openssl = system("openssl version >/dev/null 2>&1") == 0;
    if (!have_openssl)
        return 0;
    if (make_certs(R.dir) != 0 || redis_tls_start("server", "optional") != 0)
        return -1;
    char buf[1024];
    if (vgt_server_start(&A, "busbridge,rest,cluster", NULL,
                         ini(buf, sizeof buf, "a", "ca", false)) != 0 ||
        vgt_server_start(&B, "busbridge,notifications,cluster", NULL,
                         ini(buf, sizeof buf, "b", "ca", false)) != 0 ||
        vgt_server_start(&C, "busbridge,cluster", NULL,
                         ini(buf, sizeof buf, "c", "other", false)) != 0 ||
        vgt_server_start(&D, "busbridge,cluster", NULL, ini(buf, sizeof buf, "d", "ca", true)) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int bad = 0;
    bad |= vgt_server_stop_clean(&A);
    bad |= vgt_server_stop_clean(&B);
    bad |= vgt_server_stop_clean(&C);
    bad |= vgt_server_stop_clean(&D);
    rds_cleanup(&R);
    return bad ? -1 : 0;
}

#define NEED_TLS_REDIS()                                                                           \
    do {                                                                                           \
        if (!R.bin) {                                                                              \
            fprintf(stderr, RDS_SKIP_MESSAGE);                                                     \
            skip();                                                                                \
        }                                                                                          \
        if (!have_openssl) {                                                                       \
            fprintf(stderr, "SKIP: the openssl command is not installed (Debian: openssl)\n");     \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* A's event reaches `to` once, marked with A as its origin. */
static void event_a_to(const vgt_server *to, const char *run)
{
    long long since = vgt_bus_last_seq(to);
    assert_int_equal(
        vgt_bus_publish(&A, "test.tick", json_pack("{s:i, s:s, s:i}", "v", 1, "run", run, "i", 1)),
        0);
    json_t *got = NULL;
    for (int waited = 0; waited < 10000; waited += 50) {
        json_decref(got);
        got = vgt_bus_events(to, since, "test.tick");
        if (json_array_size(got) >= 1)
            break;
        sleep_ms(50);
    }
    sleep_ms(200); /* a duplicate would arrive by now */
    json_decref(got);
    got = vgt_bus_events(to, since, "test.tick");
    assert_int_equal(json_array_size(got), 1);
    json_t *p = json_object_get(json_array_get(got, 0), "payload");
    assert_string_equal(json_string_value(json_object_get(p, "run")), run);
    assert_string_equal(json_string_value(json_object_get(p, "cluster_origin")), "a");
    json_decref(got);
}

static void test_exchange(void **state)
{
    (void)state;
    NEED_TLS_REDIS();
    assert_true(vgt_wait_until(rds_node_connected, &A, 10000));
    assert_true(vgt_wait_until(rds_node_connected, &B, 10000));
    assert_true(
        vgt_wait_until(rds_node_connected, &D, 10000)); /* a client certificate is optional here */
    assert_true(vgt_wait_until(a_sees_b, NULL, 10000));
    event_a_to(&B, "tls1");
    int rc = 0;
    json_t *r = vgt_bus_call_result(&A, "notifications.stats", NULL, &rc);
    assert_int_equal(rc, 0);
    assert_true(json_is_object(r));
    json_decref(r);
    json_t *h = vgt_get_json(&A, "/api/health");
    assert_string_equal(json_string_value(json_object_get(h, "status")), "ok");
    json_decref(h);
}

static void test_untrusted_ca(void **state)
{
    (void)state;
    NEED_TLS_REDIS();
    char needle[128];
    snprintf(needle, sizeof needle, "TLS 127.0.0.1:%d: certificate not trusted", R.port);
    wait_log(&C, needle);
    assert_true(rds_node_disconnected(&C));
    json_t *h = vgt_get_json(&C, "/api/health");
    assert_string_equal(json_string_value(json_object_get(h, "status")), "degraded");
    char *text = json_dumps(h, 0);
    assert_non_null(strstr(text, "certificate not trusted"));
    free(text);
    json_decref(h);
}

static void test_restart_reconnects(void **state)
{
    (void)state;
    NEED_TLS_REDIS();
    rds_kill(&R);
    assert_true(vgt_wait_until(rds_node_disconnected, &A, 10000));
    assert_int_equal(redis_tls_start("server", "optional"), 0);
    assert_true(vgt_wait_until(rds_node_connected, &A, 10000));
    assert_true(vgt_wait_until(rds_node_connected, &B, 10000));
    assert_true(vgt_wait_until(a_sees_b, NULL, 10000));
    event_a_to(&B, "tls2");
}

static void test_hostname_mismatch(void **state)
{
    (void)state;
    NEED_TLS_REDIS();
    rds_kill(&R);
    assert_int_equal(redis_tls_start("wrong", "optional"), 0);
    char needle[160];
    snprintf(needle, sizeof needle,
             "TLS 127.0.0.1:%d: host name mismatch: the server's certificate is not for 127.0.0.1",
             R.port);
    wait_log(&A, needle);
    assert_true(rds_node_disconnected(&A));
}

static void test_mutual_tls(void **state)
{
    (void)state;
    NEED_TLS_REDIS();
    rds_kill(&R);
    assert_int_equal(redis_tls_start("server", "yes"), 0);
    assert_true(vgt_wait_until(rds_node_connected, &D, 10000)); /* with its client certificate */
    char needle[160];
    snprintf(needle, sizeof needle, "TLS 127.0.0.1:%d: connection refused after the handshake",
             R.port);
    wait_log(&A, needle);
    wait_log(&A, "certificate required");
    assert_true(rds_node_disconnected(&A));
}

static void test_config_errors(void **state)
{
    (void)state;
    NEED_TLS_REDIS();
    char ini[1200];
    snprintf(ini, sizeof ini,
             "[cluster]\nredis_url = rediss://127.0.0.1:1\ntls_ca_file = %s/ca.crt\n"
             "tls_cert_file = %s/client.crt\ntls_key_file = %s/other.key\n",
             R.dir, R.dir, R.dir);
    char *out = NULL;
    int rc = vgt_check_config("cluster", ini, &out);
    if (rc == 0 || !out || !strstr(out, "tls_key_file"))
        fail_msg("a key of another certificate: rc %d, output: %s", rc, out ? out : "(none)");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exchange),           cmocka_unit_test(test_untrusted_ca),
        cmocka_unit_test(test_restart_reconnects), cmocka_unit_test(test_hostname_mismatch),
        cmocka_unit_test(test_mutual_tls),         cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
