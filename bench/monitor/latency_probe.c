/* Latency probe for the monitor benchmark: GETs the given URLs in turn over
 * kept-alive connections until SIGTERM/SIGINT (or 120 s), then prints the
 * count, p50, p99 and max latency of each URL and how many requests failed. */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t g_stop;
static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    (void)p, (void)u;
    return s * n;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: monitor_latency_probe URL...\n");
        return 2;
    }
    int nurl = argc - 1;
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL **h = calloc((size_t)nurl, sizeof *h);
    double **lat = calloc((size_t)nurl, sizeof *lat);
    size_t *n = calloc((size_t)nurl, sizeof *n), *fail = calloc((size_t)nurl, sizeof *fail);
    const size_t cap = 1000000;
    for (int i = 0; i < nurl; i++) {
        h[i] = curl_easy_init();
        lat[i] = malloc(cap * sizeof(double));
        if (!h[i] || !lat[i])
            return 1;
        curl_easy_setopt(h[i], CURLOPT_URL, argv[i + 1]);
        curl_easy_setopt(h[i], CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(h[i], CURLOPT_TIMEOUT_MS, 5000L);
        curl_easy_setopt(h[i], CURLOPT_NOSIGNAL, 1L);
    }
    time_t start = time(NULL);
    while (!g_stop && time(NULL) - start < 120) {
        for (int i = 0; i < nurl && !g_stop; i++) {
            CURLcode cc = curl_easy_perform(h[i]);
            long code = 0;
            curl_easy_getinfo(h[i], CURLINFO_RESPONSE_CODE, &code);
            curl_off_t us = 0;
            curl_easy_getinfo(h[i], CURLINFO_TOTAL_TIME_T, &us);
            if (cc != CURLE_OK || code != 200)
                fail[i]++;
            else if (n[i] < cap)
                lat[i][n[i]++] = (double)us / 1000.0;
            struct timespec ts = {0, 5 * 1000000L}; /* ~200 req/s per URL at most */
            nanosleep(&ts, NULL);
        }
    }
    for (int i = 0; i < nurl; i++) {
        qsort(lat[i], n[i], sizeof(double), cmp);
        double p50 = n[i] ? lat[i][n[i] / 2] : 0, p99 = n[i] ? lat[i][(n[i] * 99) / 100] : 0,
               mx = n[i] ? lat[i][n[i] - 1] : 0;
        printf("latency %s: n=%zu failed=%zu p50=%.2fms p99=%.2fms max=%.2fms\n", argv[i + 1], n[i],
               fail[i], p50, p99, mx);
        curl_easy_cleanup(h[i]);
        free(lat[i]);
    }
    free(h);
    free(lat);
    free(n);
    free(fail);
    curl_global_cleanup();
    return 0;
}
