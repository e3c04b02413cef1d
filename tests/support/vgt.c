/* Test support: see vgt.h. */
#include "vgt.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

int vgt_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int write_config(vgt_server *s, const char *server_extra)
{
    FILE *f = fopen(s->config_path, "w");
    if (!f)
        return -1;
    fprintf(f,
            "[server]\nlisten = 127.0.0.1:%d\ndatabase = %s\nplugin_dir = %s\nweb_root = %s/web\n"
            "plugins = %s\nlog_level = debug\nlog_file = %s\nthreads = 64\n%s\n%s\n",
            s->port, s->db_path, env_or("VIGIA_PLUGIN_DIR", "."), env_or("VIGIA_SOURCE_DIR", "."),
            s->plugins ? s->plugins : "", s->log_path, server_extra ? server_extra : "",
            s->ini_body ? s->ini_body : "");
    fclose(f);
    return 0;
}

static int spawn(vgt_server *s)
{
    const char *bin = env_or("VIGIA_BIN", "vigia");
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        /* The server's stderr goes to a file next to its log, for post-mortems. */
        char errpath[PATH_MAX + 16];
        snprintf(errpath, sizeof errpath, "%s/stderr.txt", s->dir);
        int fd = open(errpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
            close(fd);
        }
        execl(bin, bin, "--config", s->config_path, (char *)NULL);
        _exit(127);
    }
    s->pid = pid;
    return 0;
}

static void dump_log(const vgt_server *s)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/stderr.txt", s->dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    fprintf(stderr, "---- vigia output (%s) ----\n", path);
    char line[1024];
    while (fgets(line, sizeof line, f))
        fputs(line, stderr);
    fprintf(stderr, "---- end ----\n");
    fclose(f);
}

static int wait_healthy(vgt_server *s, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 50) {
        int status;
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            s->pid = 0;
            fprintf(stderr, "vgt: vigia exited during start-up (status %d)\n", status);
            dump_log(s);
            return -1;
        }
        vgt_response r;
        if (vgt_get(s, "/api/health", &r) == 0 && r.status == 200) {
            vgt_response_free(&r);
            return 0;
        }
        vgt_response_free(&r);
        sleep_ms(50);
    }
    fprintf(stderr, "vgt: vigia did not answer /api/health within %d ms\n", timeout_ms);
    dump_log(s);
    return -1;
}

int vgt_server_start(vgt_server *s, const char *plugins, const char *server_extra,
                     const char *ini_extra)
{
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "/tmp/vgt-XXXXXX");
    if (!mkdtemp(s->dir))
        return -1;
    s->port = vgt_free_port();
    snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", s->port);
    snprintf(s->config_path, sizeof s->config_path, "%s/vigia.ini", s->dir);
    snprintf(s->db_path, sizeof s->db_path, "%s/vigia.db", s->dir);
    snprintf(s->log_path, sizeof s->log_path, "%s/vigia.log", s->dir);
    s->plugins = strdup(plugins ? plugins : "");
    s->ini_body = strdup(ini_extra ? ini_extra : "");
    /* server_extra is written once; restarts reuse the file. */
    if (write_config(s, server_extra) != 0 || spawn(s) != 0)
        return -1;
    return wait_healthy(s, 10000);
}

int vgt_server_restart(vgt_server *s)
{
    if (s->pid)
        vgt_server_signal(s, SIGTERM);
    if (spawn(s) != 0)
        return -1;
    return wait_healthy(s, 10000);
}

int vgt_server_signal(vgt_server *s, int sig)
{
    if (!s->pid)
        return -1;
    kill(s->pid, sig);
    for (int waited = 0; waited < 15000; waited += 20) {
        int status;
        pid_t r = waitpid(s->pid, &status, WNOHANG);
        if (r == s->pid) {
            s->pid = 0;
            return status;
        }
        sleep_ms(20);
    }
    kill(s->pid, SIGKILL);
    int status;
    waitpid(s->pid, &status, 0);
    s->pid = 0;
    return -1;
}

int vgt_server_stop_clean(vgt_server *s)
{
    int status = s->pid ? vgt_server_signal(s, SIGTERM) : 0;
    if (status != 0) {
        char *log = vgt_log_read(s);
        fprintf(stderr, "vigia did not stop cleanly (wait status %d); see %s/stderr.txt\n%s\n",
                status, s->dir, log ? log : "");
        free(log);
    }
    vgt_server_cleanup(s);
    return status == 0 ? 0 : -1;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void vgt_server_cleanup(vgt_server *s)
{
    if (s->pid) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
    if (s->dir[0] && !getenv("VGT_KEEP"))
        vgt_rmtree(s->dir);
    free(s->ini_body);
    free(s->plugins);
    s->ini_body = s->plugins = NULL;
}

char *vgt_log_read(const vgt_server *s)
{
    FILE *f = fopen(s->log_path, "r");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf) {
        size_t got = fread(buf, 1, (size_t)n, f);
        buf[got] = '\0';
    }
    fclose(f);
    return buf;
}

int vgt_log_contains(const vgt_server *s, const char *needle)
{
    char *log = vgt_log_read(s);
    int found = log && strstr(log, needle) != NULL;
    free(log);
    return found;
}

typedef struct buf {
    char *data;
    size_t len;
} buf;

static size_t collect(char *ptr, size_t size, size_t nmemb, void *user)
{
    buf *b = user;
    size_t n = size * nmemb;
    char *nd = realloc(b->data, b->len + n + 1);
    if (!nd)
        return 0;
    memcpy(nd + b->len, ptr, n);
    b->data = nd;
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

int vgt_http(const vgt_server *s, const char *method, const char *path, const char *const *headers,
             const char *body, size_t body_len, vgt_response *out)
{
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    char url[4096];
    if (strncmp(path, "http", 4) == 0)
        snprintf(url, sizeof url, "%s", path);
    else
        snprintf(url, sizeof url, "%s%s", s->base, path);
    buf b = {0}, h = {0};
    struct curl_slist *hl = NULL;
    for (size_t i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
    } else if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
        double t = 0;
        curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &t);
        out->total_ms = t * 1000.0;
    }
    out->body = b.data ? b.data : strdup("");
    out->body_len = b.len;
    out->headers = h.data ? h.data : strdup("");
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return rc == CURLE_OK ? 0 : -1;
}

int vgt_get(const vgt_server *s, const char *path, vgt_response *out)
{
    return vgt_http(s, "GET", path, NULL, NULL, 0, out);
}

int vgt_post_json(const vgt_server *s, const char *path, const char *json, vgt_response *out)
{
    static const char *const hdrs[] = {"Content-Type: application/json", NULL};
    return vgt_http(s, "POST", path, hdrs, json, json ? strlen(json) : 0, out);
}

char *vgt_header(const vgt_response *r, const char *name)
{
    size_t n = strlen(name);
    const char *p = r->headers;
    while (p && *p) {
        const char *eol = strstr(p, "\r\n");
        if (!eol)
            eol = p + strlen(p);
        if ((size_t)(eol - p) > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            return strndup(v, (size_t)(eol - v));
        }
        p = *eol ? eol + 2 : eol;
    }
    return NULL;
}

void vgt_response_free(vgt_response *r)
{
    free(r->body);
    free(r->headers);
    r->body = r->headers = NULL;
}

int vgt_wait_until(int (*fn)(void *arg), void *arg, int timeout_ms)
{
    int v = 0;
    for (int waited = 0; waited <= timeout_ms; waited += 20) {
        if ((v = fn(arg)) != 0)
            return v;
        sleep_ms(20);
    }
    return v;
}

int vgt_check_config(const char *plugins, const char *ini_extra, char **output)
{
    *output = NULL;
    char dir[] = "/tmp/vgt-cc-XXXXXX";
    if (!mkdtemp(dir))
        return -1;
    char ini[64];
    snprintf(ini, sizeof ini, "%s/v.ini", dir);
    FILE *f = fopen(ini, "w");
    if (!f) {
        rmdir(dir);
        return -1;
    }
    fprintf(
        f,
        "[server]\nlisten = 127.0.0.1:1\ndatabase = %s/v.db\nplugin_dir = %s\nplugins = %s\n\n%s",
        dir, getenv("VIGIA_PLUGIN_DIR"), plugins, ini_extra ? ini_extra : "");
    fclose(f);
    char cmd[PATH_MAX + 128];
    snprintf(cmd, sizeof cmd, "'%s' --check-config '%s' 2>&1", getenv("VIGIA_BIN"), ini);
    FILE *p = popen(cmd, "r");
    int status = -1;
    if (p) {
        size_t cap = 65536, len = 0, got;
        char *out = calloc(1, cap);
        while (out && (got = fread(out + len, 1, cap - 1 - len, p)) > 0)
            len += got;
        status = pclose(p);
        status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        *output = out;
    }
    vgt_rmtree(dir);
    return status;
}

int vgt_tmpdir(char *dir, size_t size, const char *tag)
{
    int n = snprintf(dir, size, "/tmp/vgt-%s-XXXXXX", tag);
    return n > 0 && (size_t)n < size && mkdtemp(dir) ? 0 : -1;
}

int vgt_rmtree(const char *dir) { return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }
