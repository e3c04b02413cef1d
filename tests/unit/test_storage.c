/* core/storage.c: the database file deleted, replaced or made immutable is
 * noticed (with the reason), and a SIGBUS from writing a memory-mapped page
 * of an immutable file (what SQLite's -shm index did: exit 135, nothing
 * logged) is survived and reported. chattr needs root on ext4-like file
 * systems; those cases are skipped elsewhere. */
#include <fcntl.h>
#include <linux/fs.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "storage.h"

static char dir[64], db[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/var/tmp/vgstorage-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(db, sizeof db, "%s/v.db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[200];
    snprintf(cmd, sizeof cmd, "chattr -i %s/* 2>/dev/null; rm -rf %s", dir, dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void touch(const char *path)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("x", f);
    fclose(f);
}

static void test_deleted_and_replaced(void **state)
{
    (void)state;
    touch(db);
    core_storage *st = core_storage_new(db, 60000);
    assert_int_equal(core_storage_start(st), 0);
    char why[320];
    assert_true(core_storage_ok(st, why, sizeof why));
    unlink(db);
    core_log_capture_start();
    assert_false(core_storage_ok(st, why, sizeof why));
    char *log = core_log_capture_take();
    assert_non_null(strstr(why, "was deleted while the server ran"));
    assert_non_null(strstr(log, "ERROR [storage]"));
    free(log);
    /* Sticky: a new file at the path is not the one the plugins hold. */
    touch(db);
    assert_false(core_storage_ok(st, NULL, 0));
    core_storage_free(st);

    st = core_storage_new(db, 60000);
    assert_int_equal(core_storage_start(st), 0);
    char other[160];
    snprintf(other, sizeof other, "%s/new.db", dir);
    touch(other);
    assert_int_equal(rename(other, db), 0);
    core_log_capture_start();
    assert_false(core_storage_ok(st, why, sizeof why));
    free(core_log_capture_take());
    assert_non_null(strstr(why, "was replaced"));
    core_storage_free(st);
    unlink(db);
}

static int set_immutable(const char *path, int on)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    int flags = 0;
    int rc = ioctl(fd, FS_IOC_GETFLAGS, &flags);
    if (rc == 0) {
        flags = on ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
        rc = ioctl(fd, FS_IOC_SETFLAGS, &flags);
    }
    close(fd);
    return rc;
}

static void test_immutable_and_sigbus(void **state)
{
    (void)state;
    char shm[160];
    snprintf(shm, sizeof shm, "%s-shm", db);
    touch(db);
    int fd = open(shm, O_RDWR | O_CREAT, 0644);
    assert_true(fd >= 0);
    long pg = sysconf(_SC_PAGESIZE);
    assert_int_equal(ftruncate(fd, pg), 0);
    unsigned char *map = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    assert_true(map != MAP_FAILED);
    map[0] = 'a';
    map[1] = 'b';
    assert_int_equal(msync(map, (size_t)pg, MS_SYNC), 0);
    core_storage_install_sigbus();
    core_storage *st = core_storage_new(db, 60000);
    assert_int_equal(core_storage_start(st), 0);
    assert_true(core_storage_ok(st, NULL, 0));
    if (set_immutable(shm, 1) != 0) {
        munmap(map, (size_t)pg);
        close(fd);
        core_storage_free(st);
        skip(); /* not root, or no chattr on this file system */
    }
    /* The first write to a clean page of an immutable file faults (SIGBUS
     * on ext4); the handler swaps in a private copy and the write lands. */
    map[2] = 'c';
    assert_int_equal(map[0], 'a');
    assert_int_equal(map[2], 'c');
    char why[320];
    core_log_capture_start();
    assert_false(core_storage_ok(st, why, sizeof why));
    free(core_log_capture_take());
    printf("# storage: %s\n", why);
    assert_true(strstr(why, "SIGBUS") || strstr(why, "immutable"));
    set_immutable(shm, 0);
    munmap(map, (size_t)pg);
    close(fd);
    core_storage_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deleted_and_replaced),
        cmocka_unit_test(test_immutable_and_sigbus),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
