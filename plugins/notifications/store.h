/* The notification store: the newest `limit` notifications in memory, every
 * notification in SQLite (WAL). Plain C + jansson + sqlite3, no host, so it is
 * unit-tested on its own.
 *
 * Thread-safety: one mutex guards the ring, the counters and the one SQLite
 * connection; every public function takes it. Concurrent creates are group
 * committed: the first one in writes every create queued meanwhile in one
 * transaction. The announce callback runs under the mutex, right after the
 * commit, so events leave in id order with consistent unread counts (it must
 * only queue, never call back into the store).
 *
 * Visibility: notifications.clear hides every current notification from the
 * user list (rows are flagged `cleared`, or deleted when
 * clear_deletes_history). "visible" below means "not cleared". */
#ifndef NOTIFICATIONS_STORE_H
#define NOTIFICATIONS_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct nt_store nt_store;

enum nt_type { NT_INFO = 0, NT_WARNING, NT_ERROR, NT_SUCCESS, NT_TYPE_COUNT };

/* Name of a type ("info", ...) and back; -1 when unknown. */
const char *nt_type_name(int type);
int nt_type_parse(const char *name);

/* Wall clock in ms since the epoch; tests inject their own. */
typedef int64_t (*nt_clock_fn)(void *ctx);

/* Called under the store lock after a change is durable. Steals `payload`. */
typedef void (*nt_announce_fn)(const char *topic, json_t *payload, void *ctx);

typedef struct nt_store_options {
    const char *path;         /* SQLite file */
    int limit;                /* notifications kept in memory (>= 1) */
    size_t max_title_bytes;   /* 0: NT_DEFAULT_MAX_TITLE */
    size_t max_message_bytes; /* 0: NT_DEFAULT_MAX_MESSAGE */
    size_t max_data_bytes;    /* compact JSON of data; 0: NT_DEFAULT_MAX_DATA */
    bool clear_deletes_history;
    nt_clock_fn now_wall_ms; /* NULL: the real clock */
    void *clock_ctx;
    nt_announce_fn announce; /* may be NULL */
    void *announce_ctx;
} nt_store_options;

#define NT_DEFAULT_MAX_TITLE 256
#define NT_DEFAULT_MAX_MESSAGE 4096
#define NT_DEFAULT_MAX_DATA 65536

/* A refusal or failure: code is a bus error code, message names the field and
 * the limit. */
typedef struct nt_error {
    char code[24];
    char message[256];
} nt_error;

/* Opens (creating the tables when needed) and reloads the newest `limit`
 * visible notifications. Returns 0 or a negative errno with *err filled. */
int nt_store_open(const nt_store_options *opt, nt_store **out, nt_error *err);
void nt_store_close(nt_store *st);

/* Validates, writes the row, adds it to memory, announces
 * notification.created. *notification (may be NULL) gets a new reference.
 * -EINVAL (INVALID_ARGUMENT), -E2BIG (TOO_LARGE) or -EIO (INTERNAL). */
int nt_store_create(nt_store *st, const char *type, const char *title, const char *message,
                    const json_t *data, json_t **notification, long long *unread, nt_error *err);

typedef struct nt_query {
    int limit; /* 1..NT_LIST_MAX; 0 means NT_LIST_DEFAULT */
    bool unread_only;
    int type;       /* -1: any */
    int64_t since;  /* id > since; 0: no bound */
    int64_t before; /* id < before; 0: no bound */
    const char *q;  /* case-insensitive (ASCII) substring of title or message; NULL/"" any */
} nt_query;

#define NT_LIST_DEFAULT 50
#define NT_LIST_MAX 1000

/* {notifications: [newest first], unread_count, total (matching the filters,
 * ignoring limit)}. Served from memory when memory holds every candidate. */
int nt_store_list(nt_store *st, const nt_query *q, json_t **result, nt_error *err);

/* The notification object (also a cleared one still in history); -ENOENT. */
int nt_store_get(nt_store *st, int64_t id, json_t **notification, nt_error *err);

/* Marks one read; announces notification.read when it changed. *changed (may
 * be NULL) tells whether it did. -ENOENT when no such id. */
int nt_store_mark_read(nt_store *st, int64_t id, long long *unread, bool *changed, nt_error *err);
/* Marks every visible one read; announces notification.read with
 * notification_id null when any changed. */
int nt_store_mark_all_read(nt_store *st, long long *marked, nt_error *err);
/* Hides every visible notification (or deletes when configured); announces
 * notification.cleared. */
int nt_store_clear(nt_store *st, long long *cleared, nt_error *err);

/* Deletes history older than max_age_ms (0: no age limit) and beyond the
 * newest max_rows (0: no count limit), in small batches so creators are not
 * held up. *deleted (may be NULL) gets the number of rows removed. */
int nt_store_prune(nt_store *st, int64_t max_age_ms, long long max_rows, long long *deleted,
                   nt_error *err);

typedef struct nt_store_stats {
    long long total;  /* visible */
    long long unread; /* visible and unread */
    long long in_memory;
    long long by_type[NT_TYPE_COUNT]; /* visible */
    long long history;                /* rows in SQLite, cleared included */
    long long created_total;          /* since open */
    int64_t last_id;
} nt_store_stats;

void nt_store_stats_get(nt_store *st, nt_store_stats *out);

/* Validation used by create, exposed for tests: 1 when valid UTF-8. */
int nt_utf8_valid(const char *s, size_t len);

/* "2026-11-28T09:00:00.123Z" into buf (>= 25 bytes). */
void nt_format_time(int64_t ms, char *buf, size_t size);

/* Parses a decimal id ("42"); -1 when not a positive decimal integer. */
int64_t nt_parse_id(const char *s);

#endif /* NOTIFICATIONS_STORE_H */
