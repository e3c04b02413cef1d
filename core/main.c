/* vigia: command line. */
#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "server.h"
#include "tzdb.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "Usage: vigia [--config FILE]\n"
        "       vigia --check-config FILE [--strict]\n"
        "       vigia [--config FILE] --call METHOD [JSON]\n"
        "       vigia --version | --help\n"
        "\n"
        "Watches CKAN open-data portals and tells people, live, when a dataset breaks,\n"
        "recovers, changes, appears or disappears.\n"
        "\n"
        "  --config FILE        start the server with this INI file (default config/vigia.ini)\n"
        "  --check-config FILE  validate FILE and every listed plugin's section, then exit\n"
        "                       (0 when valid, 1 otherwise)\n"
        "  --strict             with --check-config: unknown keys and sections are errors\n"
        "  --call METHOD [JSON] initialise the configured plugins without serving, call one\n"
        "                       bus method (e.g. watch.erase '{\"email\":\"a@b.org\"}'), print\n"
        "                       its JSON result and exit (0 answered, 1 its error, 2 not run)\n"
        "  --version            print the version and the plugin ABI\n"
        "  --help               this text\n"
        "\n"
        "Stop the server with SIGINT or SIGTERM: plugins stop in reverse order.\n");
}

/* glibc keeps a per-thread cache of freed chunks (tcache: up to 7 per size
 * class and thread). With hundreds of civetweb workers each cache fills as its
 * thread meets new request shapes, so under the soak RSS climbed ~1.8 MiB/min
 * while the live heap stayed flat (heaptrack); without it 0.5 MiB/min, same
 * health p99 and throughput (docs/operations.md). The tunable is read only at
 * start: set it and run again once, unless the environment already chose.
 * Not under ASan, whose allocator replaces glibc's. */
static void without_thread_cache(char **argv)
{
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
    if (getenv("GLIBC_TUNABLES"))
        return;
    setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0", 1);
    execv("/proc/self/exe", argv);
    unsetenv("GLIBC_TUNABLES"); /* exec failed: run as we are */
#else
    (void)argv;
#endif
}

int main(int argc, char **argv)
{
    const char *config = "config/vigia.ini";
    const char *check = NULL, *call = NULL, *call_params = NULL;
    bool strict = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
            printf("vigia %s (plugin ABI %d.%d, build %s)\n", VIGIA_VERSION, VG_ABI_MAJOR,
                   VG_ABI_MINOR, VG_BUILD_SIGNATURE);
            return 0;
        }
        if (strcmp(a, "--check-config") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "vigia: --check-config needs a FILE\n");
                return 2;
            }
            check = argv[++i];
            continue;
        }
        if (strcmp(a, "--call") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "vigia: --call needs a METHOD (and optionally its JSON params)\n");
                return 2;
            }
            call = argv[++i];
            if (i + 1 < argc && argv[i + 1][0] != '-')
                call_params = argv[++i];
            continue;
        }
        if (strcmp(a, "--strict") == 0) {
            strict = true;
            continue;
        }
        if (strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "vigia: --config needs a FILE\n");
                return 2;
            }
            config = argv[++i];
            continue;
        }
        fprintf(stderr, "vigia: unknown argument '%s'\n\n", a);
        usage(stderr);
        return 2;
    }
    if (strict && !check) {
        fprintf(stderr, "vigia: --strict goes with --check-config FILE\n");
        return 2;
    }
    if (check && call) {
        fprintf(stderr, "vigia: --check-config and --call do not go together\n");
        return 2;
    }
    if (!check && !call)
        without_thread_cache(argv);
    /* libcurl's global state once, before any thread exists, for every
     * plugin (the SDK promises plugins need not call it; its calls nest). */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "vigia: libcurl initialisation failed\n");
        return 1;
    }
    int rc = check  ? core_server_check_config(check, strict)
             : call ? core_server_call(config, call, call_params)
                    : core_server_run(config);
    curl_global_cleanup();
    core_tz_cleanup(); /* every plugin is unloaded by now */
    return rc;
}
