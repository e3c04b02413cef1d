/* monitor: the libcurl options every request of the monitor shares (http.c). */
#ifndef MONITOR_HTTP_H
#define MONITOR_HTTP_H

#include <curl/curl.h>
#include <stdatomic.h>
#include <stdint.h>

/* Resets `c` and sets the safety options of every monitor request: http(s)
 * only, redirects too and at most 5 of them, no signals, the timeouts, the
 * user agent, the error buffer, and `stop` polled by the progress callback
 * (a set flag aborts the transfer). The caller adds its URL, method and body
 * handling (each caller bounds the body it accepts in its write callback). */
void mon_curl_defaults(CURL *c, const char *user_agent, int64_t connect_timeout_ms,
                       int64_t timeout_ms, atomic_bool *stop, char *errbuf);

#endif
