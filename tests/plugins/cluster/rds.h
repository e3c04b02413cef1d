/* A real redis-server for the cluster tests: on a free loopback port, in a
 * temp dir, with a password, started and killed by pid. */
#ifndef RDS_H
#define RDS_H

#include <sys/types.h>

#define RDS_PASSWORD "vgt-s3cret"

typedef struct rds {
    const char *bin; /* NULL when redis-server is not installed */
    char dir[256];
    int port;
    pid_t pid;
    /* When tls[0] is set: --port 0 --tls-port <port> and these (a NULL-ended
     * list of redis-server arguments: certificates, --tls-auth-clients). */
    const char *tls[12];
} rds;

/* Finds redis-server, makes the dir, picks the port: 0; 1 when redis-server
 * is not installed (the caller skips, saying so); -1 on error. */
int rds_init(rds *r);
/* Starts it (again, same port and dir) and waits until it accepts: 0 or -1. */
int rds_start(rds *r);
/* SIGKILL and reap. */
void rds_kill(rds *r);
/* Kill and remove the dir. */
void rds_cleanup(rds *r);

/* A node's cluster.status (NULL when the call fails), and vgt_wait_until
 * predicates on it: arg is the vgt_server. */
struct vgt_server;
struct json_t;
struct json_t *rds_node_status(const struct vgt_server *s);
int rds_node_connected(void *server);
int rds_node_disconnected(void *server);

#define RDS_SKIP_MESSAGE                                                                           \
    "SKIP: redis-server is not installed (Debian: redis-server; scripts/install-deps.sh test "     \
    "installs it)\n"

#endif
