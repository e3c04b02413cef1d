/* Raw-socket helpers for the hardening tests: connect from a chosen loopback
 * source address (127.0.0.2, 127.0.0.3, ... all route to lo), send, read an
 * answer, and time GET /api/health to report its p99. */
#ifndef HARD_H
#define HARD_H

#include <stddef.h>

/* A TCP connection to 127.0.0.1:port bound to source address `src`
 * ("127.0.0.2"); -1 on failure. */
int hard_connect(const char *src, int port);
/* Send all of `s`; 0 or -1. */
int hard_send(int fd, const char *s, size_t len);
/* Read until the peer closes, `max` bytes, or `timeout_ms` passes; returns the
 * number of bytes in buf (NUL-terminated). */
size_t hard_read(int fd, char *buf, size_t max, int timeout_ms);
/* One request on a fresh connection from `src`; the raw answer in buf. Returns
 * the HTTP status (0 when none came) and the time taken in *ms (may be NULL). */
int hard_request(const char *src, int port, const char *req, char *buf, size_t max, int timeout_ms,
                 double *ms);
/* `n` sequential GET /api/health from `src`; fills the p50/p99/max in ms and
 * returns how many answered 200. */
int hard_health_p99(const char *src, int port, int n, int gap_ms, double *p50, double *p99,
                    double *max);
double hard_now_ms(void);

#endif
