/* Names and addresses: is a listen address loopback-only, is a peer
 * loopback, and may a request's Host header name this server (DNS
 * rebinding: a page on evil.example whose name resolves to 127.0.0.1 sends
 * "Host: evil.example", which no configured name matches). */
#ifndef CORE_NETADDR_H
#define CORE_NETADDR_H

#include <jansson.h>
#include <stdbool.h>

/* 1 for a listen address bound to loopback only: 127.x.y.z:port,
 * localhost:port, [::1]:port. A bare port, 0.0.0.0 or [::] is not. Several
 * comma-separated addresses are loopback only when all of them are. */
bool core_listen_is_loopback(const char *listen);
/* A peer address as civetweb reports it: 127.0.0.0/8, ::1 (in any IPv6
 * spelling), ::ffff:127.x.y.z. Names are not addresses: false. The one
 * loopback test for peers (plugins ask through host->peer_is_loopback). */
bool core_addr_is_loopback(const char *addr);
/* May `host` (a Host header, port optional; NULL = absent, accepted for
 * HTTP/1.0) reach this server? Accepted: a name in `public_names` (array of
 * strings, case-insensitive, without port); on a loopback-only listener the
 * loopback names (localhost, 127.x.y.z, [::1]); on any other listener any IP
 * literal (an address cannot be rebound) and localhost. */
bool core_host_allowed(const char *host, const json_t *public_names, bool loopback_listener);

#endif
