/* inbox: a delivery channel in one function (include/vigia/channel.h).
 * Subscribers of channel "inbox" (watch.subscribe with channel "inbox"; their
 * address is a file name) get each message appended to <dir>/<to>.jsonl.
 * The helper subscribes to delivery.requested, queues, calls inbox_send on a
 * worker thread, answers delivery.result and counts; this file says only how
 * one message travels and what a failure means.
 *
 *   [inbox]
 *   dir = /var/lib/vigia/inbox   ; required, must exist
 */
#define _POSIX_C_SOURCE 200809L /* open flags, fsync under -std=c11 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <vigia/channel.h>
#include <vigia/vigia.h>

typedef struct inbox {
    const char *dir; /* a config string: valid until destroy */
    vg_channel *ch;
} inbox;

/* A worker thread: may block. Returns the contract's status. */
static int inbox_send(vg_channel_msg *m, void *user)
{
    inbox *b = user;
    if (!*m->to || strspn(m->to, "abcdefghijklmnopqrstuvwxyz0123456789-_") != strlen(m->to))
        return vg_channel_say(m, VG_CHANNEL_FAILED, "to: a name of [a-z0-9_-], found '%.64s'",
                              m->to);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.jsonl", b->dir, m->to);
    char *line = json_dumps(m->payload, JSON_COMPACT | JSON_SORT_KEYS);
    int fd = line ? open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640) : -1;
    int err = !line ? ENOMEM : fd < 0 ? errno : 0;
    if (!err) {
        size_t n = strlen(line);
        line[n] = '\n'; /* replaces the terminator: written by length */
        if (write(fd, line, n + 1) != (ssize_t)(n + 1) || fsync(fd) != 0)
            err = errno ? errno : EIO;
    }
    if (fd >= 0)
        close(fd);
    free(line);
    if (err == ENOENT) /* the directory went away: nobody will read this inbox */
        return vg_channel_say(m, VG_CHANNEL_GONE, "%s: %s", path, strerror(err));
    if (err) /* a full disk, a busy file: the outbox tries again later */
        return vg_channel_say(m, VG_CHANNEL_RETRY, "%s: %s", path, strerror(err));
    return VG_CHANNEL_SENT;
}

static int inbox_check_config(const vg_host *host, const vg_config *cfg)
{
    const char *dir;
    return host->config_require(host, cfg, "dir", &dir);
}

static int inbox_init(const vg_host *host, const vg_config *cfg, void **state)
{
    inbox *b = calloc(1, sizeof *b);
    if (!b)
        return host->fail(host, "out of memory");
    int rc = host->config_require(host, cfg, "dir", &b->dir);
    if (rc == 0)
        rc = vg_channel_register(host, "inbox", inbox_send, b, NULL, &b->ch);
    if (rc != 0) {
        vg_channel_free(b->ch);
        free(b);
        return rc;
    }
    *state = b;
    return 0;
}

static void inbox_destroy(void *state)
{
    inbox *b = state;
    vg_channel_free(b->ch); /* the core has stopped its queue already */
    free(b);
}

VG_PLUGIN_DEFINE(inbox, "1.0.0", "Example delivery channel: messages appended to files",
                 .check_config = inbox_check_config, .init = inbox_init, .destroy = inbox_destroy);
