/* vigia: command line. */
#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "server.h"
#include "tzdb.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "Usage: vigia [--config FILE]\n"
        "       vigia --check-config FILE [--strict]\n"
        "       vigia --version | --help\n"
        "\n"
        "Watches CKAN open-data portals and tells people, live, when a dataset breaks,\n"
        "recovers, changes, appears or disappears.\n"
        "\n"
        "  --config FILE        start the server with this INI file (default config/vigia.ini)\n"
        "  --check-config FILE  validate FILE and every listed plugin's section, then exit\n"
        "                       (0 when valid, 1 otherwise)\n"
        "  --strict             with --check-config: unknown keys and sections are errors\n"
        "  --version            print the version and the plugin ABI\n"
        "  --help               this text\n"
        "\n"
        "Stop the server with SIGINT or SIGTERM: plugins stop in reverse order.\n");
}

int main(int argc, char **argv)
{
    const char *config = "config/vigia.ini";
    const char *check = NULL;
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
    /* libcurl's global state once, before any thread exists, for every
     * plugin (the SDK promises plugins need not call it; its calls nest). */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "vigia: libcurl initialisation failed\n");
        return 1;
    }
    int rc = check ? core_server_check_config(check, strict) : core_server_run(config);
    curl_global_cleanup();
    core_tz_cleanup(); /* every plugin is unloaded by now */
    return rc;
}
