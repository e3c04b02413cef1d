/* process.stats: what the process holds, read from /proc and glibc's allocator, so an operator
 * (and the soak) can tell memory the program still uses from memory malloc keeps for reuse. */
#include "procstat.h"

#include <dirent.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Resident pages from statm (field 2), in bytes; -1 when /proc is not there. */
static long long resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "re");
    if (!f)
        return -1;
    long long size = 0, resident = -1;
    if (fscanf(f, "%lld %lld", &size, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

static long long open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long long n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static long long thread_count(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    if (!f)
        return -1;
    char line[256];
    long long n = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %lld", &n) == 1)
            break;
    fclose(f);
    return n;
}

json_t *core_process_stats(void)
{
    /* mallinfo2 counts every arena's free chunks under that arena's lock: fine for a /metrics
     * scrape, not for a hot path (nothing else calls it). */
    struct mallinfo2 mi = mallinfo2();
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "rss_bytes", (json_int_t)resident_bytes(),
                     "open_fds", (json_int_t)open_fds(), "threads", (json_int_t)thread_count(),
                     "malloc_in_use_bytes", (json_int_t)(mi.uordblks + mi.hblkhd),
                     "malloc_free_bytes", (json_int_t)mi.fordblks, "malloc_mapped_bytes",
                     (json_int_t)(mi.arena + mi.hblkhd));
}
