/* cluster plugin: rediss:// without a hiredis built with SSL (Debian 12's
 * 0.14 has none). The TLS connection is ours (OpenSSL); hiredis gets one end
 * of a socketpair and a relay thread moves bytes between the other end and
 * the TLS connection. Either side ending closes both, so hiredis sees EOF
 * and the link's reconnect-with-backoff works as for a plain connection. */
#ifndef CLUSTER_TLS_H
#define CLUSTER_TLS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <vigia/vigia.h>

typedef struct cluster_tls {
    void *ctx; /* SSL_CTX: the CA store, the client certificate */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int relays; /* relay threads alive: the plugin waits for 0 before it goes */
    const vg_host *host;
    char logged[256]; /* the last failure logged: each distinct one once, not per retry */
} cluster_tls;

/* Read [cluster] tls_ca_file, tls_cert_file, tls_key_file and load them:
 * 0, or the config_fail() code naming the key and OpenSSL's reason. */
int cluster_tls_init(cluster_tls *t, const vg_host *h, const vg_config *cfg);
/* Wait for every relay to end (their hiredis ends closed first), free. */
void cluster_tls_free(cluster_tls *t);
/* TCP connect, TLS handshake (certificate and host name verified), one PING
 * through it (a server that refuses our client certificate says so only after
 * a TLS 1.3 handshake), all within timeout_ms; then the relay. The hiredis
 * end of the socketpair, or -1 with why naming the host and the reason. */
int cluster_tls_connect(cluster_tls *t, const char *host, int port, int timeout_ms, char *why,
                        size_t n);

#endif
