#include "rds.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vgt.h"
#include "vgt_bus.h"

int rds_init(rds *r)
{
    memset(r, 0, sizeof *r);
    static const char *const cands[] = {"/usr/bin/redis-server", "/usr/local/bin/redis-server",
                                        "/usr/sbin/redis-server"};
    for (size_t i = 0; i < 3 && !r->bin; i++)
        if (access(cands[i], X_OK) == 0)
            r->bin = cands[i];
    if (!r->bin)
        return 1;
    if (vgt_tmpdir(r->dir, sizeof r->dir, "redis") != 0)
        return -1;
    r->port = vgt_free_port();
    return 0;
}

static int accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

int rds_start(rds *r)
{
    char port[16];
    snprintf(port, sizeof port, "%d", r->port);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives a crashed test */
        const char *argv[40] = {
            r->bin, "--port",    port,        "--bind",        "127.0.0.1", "--dir",
            r->dir, "--save",    "",          "--appendonly",  "no",        "--daemonize",
            "no",   "--logfile", "redis.log", "--requirepass", RDS_PASSWORD};
        int n = 17;
        if (r->tls[0]) {
            argv[2] = "0"; /* TLS only */
            argv[n++] = "--tls-port";
            argv[n++] = port;
            for (int i = 0; i < 12 && r->tls[i]; i++)
                argv[n++] = r->tls[i];
        }
        argv[n] = NULL;
        execv(r->bin, (char *const *)argv);
        _exit(127);
    }
    if (pid < 0)
        return -1;
    r->pid = pid;
    for (int i = 0; i < 500; i++) {
        if (accepts(r->port))
            return 0;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return -1;
}

void rds_kill(rds *r)
{
    if (r->pid > 0) {
        kill(r->pid, SIGKILL);
        waitpid(r->pid, NULL, 0);
        r->pid = 0;
    }
}

void rds_cleanup(rds *r)
{
    rds_kill(r);
    if (r->dir[0])
        vgt_rmtree(r->dir);
    r->dir[0] = '\0';
}

json_t *rds_node_status(const vgt_server *s)
{
    int rc = 0;
    json_t *r = vgt_bus_call_result(s, "cluster.status", NULL, &rc);
    if (rc != 0) {
        json_decref(r);
        return NULL;
    }
    return r;
}

int rds_node_connected(void *server)
{
    json_t *st = rds_node_status(server);
    int ok = json_is_true(json_object_get(st, "connected"));
    json_decref(st);
    return ok;
}

int rds_node_disconnected(void *server)
{
    json_t *st = rds_node_status(server);
    int down = st && json_is_false(json_object_get(st, "connected"));
    json_decref(st);
    return down;
}
