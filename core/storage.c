#include "storage.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

struct core_storage {
    char *path;
    int64_t interval_ms;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool have_id, broken, stop, running;
    dev_t dev;
    ino_t ino;
    char why[320];
    pthread_t thread;
};

/* Set by the SIGBUS handler (async-signal-safe: atomics only). */
static atomic_uint_fast64_t sigbus_count;
static atomic_uintptr_t sigbus_addr;

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    long pg = sysconf(_SC_PAGESIZE);
    uintptr_t page = (uintptr_t)si->si_addr & ~(uintptr_t)(pg - 1);
    /* Only a file mapping's page can be replaced; anything else is fatal. */
    if (si->si_code == BUS_ADRERR && page && pg > 0) {
        void *tmp =
            mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (tmp != MAP_FAILED) {
            /* Keep the contents: an immutable file's page still reads (only
             * writing faults); process_vm_readv fails instead of faulting for
             * a page past the end of a truncated file, which stays zeros. */
            struct iovec local = {tmp, (size_t)pg}, remote = {(void *)page, (size_t)pg};
            (void)!process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
            void *got =
                mremap(tmp, (size_t)pg, (size_t)pg, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)page);
            if (got != MAP_FAILED) {
                atomic_fetch_add(&sigbus_count, 1);
                atomic_store(&sigbus_addr, page);
                return;
            }
            munmap(tmp, (size_t)pg);
        }
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

void core_storage_install_sigbus(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

core_storage *core_storage_new(const char *db_path, int64_t interval_ms)
{
    core_storage *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(db_path ? db_path : ""))) {
        free(st);
        return NULL;
    }
    st->interval_ms = interval_ms > 0 ? interval_ms : 1000;
    pthread_mutex_init(&st->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&st->cond, &ca);
    pthread_condattr_destroy(&ca);
    return st;
}

/* chattr +i / +a on the file or its -wal / -shm: SQLite cannot write (and
 * faults on the mapped -shm). Read with statx, never by opening the file:
 * closing any descriptor of a database file drops every POSIX lock this
 * process's SQLite connections hold on it, and another process could then
 * take the -shm over and truncate it under our mapping (a SIGBUS). */
static const char *locked_flag(const char *path)
{
    struct statx sx;
    if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) != 0)
        return NULL;
    uint64_t known = sx.stx_attributes_mask, attrs = sx.stx_attributes & known;
    if (attrs & STATX_ATTR_IMMUTABLE)
        return "immutable (chattr +i)";
    if (attrs & STATX_ATTR_APPEND)
        return "append-only (chattr +a)";
    return NULL;
}

/* Under st->lock. Sets st->broken and st->why on the first problem found. */
static void check_locked(core_storage *st)
{
    if (st->broken || !st->path[0])
        return;
    char why[320] = "";
    uint64_t bus = atomic_load(&sigbus_count);
    struct stat sb;
    if (bus) {
        snprintf(why, sizeof why,
                 "a write to the memory-mapped database index faulted (SIGBUS at %#lx, %llu "
                 "time%s): %s or its -shm became unwritable",
                 (unsigned long)atomic_load(&sigbus_addr), (unsigned long long)bus,
                 bus == 1 ? "" : "s", st->path);
    } else if (stat(st->path, &sb) != 0) {
        if (errno == ENOENT && st->have_id)
            snprintf(why, sizeof why, "the database file %s was deleted while the server ran",
                     st->path);
        else if (errno != ENOENT)
            snprintf(why, sizeof why, "cannot stat the database file %s: %s", st->path,
                     strerror(errno));
    } else if (!st->have_id) {
        st->dev = sb.st_dev;
        st->ino = sb.st_ino;
        st->have_id = true;
    } else if (sb.st_dev != st->dev || sb.st_ino != st->ino) {
        snprintf(why, sizeof why,
                 "the database file %s was replaced while the server ran (inode %llu, opened as "
                 "%llu)",
                 st->path, (unsigned long long)sb.st_ino, (unsigned long long)st->ino);
    }
    if (!why[0] && st->have_id) {
        static const char *const suffix[] = {"", "-wal", "-shm"};
        for (int i = 0; i < 3 && !why[0]; i++) {
            char p[4096];
            snprintf(p, sizeof p, "%s%s", st->path, suffix[i]);
            const char *flag = locked_flag(p);
            if (flag)
                snprintf(why, sizeof why, "the database file %.240s was made %s", p, flag);
        }
    }
    if (why[0]) {
        st->broken = true;
        snprintf(st->why, sizeof st->why, "%s", why);
        core_log("storage", VG_LOG_ERROR,
                 "%s; writes are refused (503) and /api/health answers 503 until the file is "
                 "restored and the server restarted",
                 why);
    }
}

bool core_storage_ok(core_storage *st, char *why, size_t n)
{
    if (!st)
        return true;
    pthread_mutex_lock(&st->lock);
    check_locked(st);
    bool ok = !st->broken;
    if (!ok && why && n)
        snprintf(why, n, "%s", st->why);
    pthread_mutex_unlock(&st->lock);
    return ok;
}

static void *watch(void *arg)
{
    core_storage *st = arg;
    pthread_mutex_lock(&st->lock);
    while (!st->stop) {
        check_locked(st);
        int64_t next = mono_ms() + st->interval_ms;
        struct timespec ts = {.tv_sec = next / 1000, .tv_nsec = (next % 1000) * 1000000L};
        pthread_cond_timedwait(&st->cond, &st->lock, &ts);
    }
    pthread_mutex_unlock(&st->lock);
    return NULL;
}

int core_storage_start(core_storage *st)
{
    pthread_mutex_lock(&st->lock);
    check_locked(st);
    pthread_mutex_unlock(&st->lock);
    if (pthread_create(&st->thread, NULL, watch, st) != 0)
        return -errno;
    st->running = true;
    return 0;
}

void core_storage_free(core_storage *st)
{
    if (!st)
        return;
    if (st->running) {
        pthread_mutex_lock(&st->lock);
        st->stop = true;
        pthread_cond_signal(&st->cond);
        pthread_mutex_unlock(&st->lock);
        pthread_join(st->thread, NULL);
    }
    pthread_cond_destroy(&st->cond);
    pthread_mutex_destroy(&st->lock);
    free(st->path);
    free(st);
}
