/* monitor: the libcurl safety options, written once for the listing
 * (listing.c) and the resource checks (checker.c). */
#include "http.h"

#define MON_MAX_REDIRS 5L

static int on_progress(void *user, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    return atomic_load((atomic_bool *)user) ? 1 : 0;
}

void mon_curl_defaults(CURL *c, const char *user_agent, int64_t connect_timeout_ms,
                       int64_t timeout_ms, atomic_bool *stop, char *errbuf)
{
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_USERAGENT, user_agent);
    /* a portal or a resource must not send us to file://, gopher://, ... */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, MON_MAX_REDIRS);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS timeouts */
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, stop);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
}
