/* Content and schema signals of the monitor (issue 13, points 2 and 3): pure functions with no
 * sweep or store dependency, so the sweep only has to feed them bytes and keep their results.
 *   - mon_sniff_csv:    CSV/TSV schema from the first bytes of a file (encoding, delimiter, header,
 *                       column names and simple types)
 *   - mon_json_sample:  the same from a (possibly cut) JSON array of objects
 *   - mon_schema_diff:  before/after schema -> list of changes + compact summaries (event payload)
 *   - mon_hasher_*:     streaming SHA-256 bounded by hash_max_bytes
 *   - mon_content_compare / mon_regen_decide: is it a change, what moved, regenerated files.
 * The rules are documented in docs/monitoring.md ("Content and schema"). */
#ifndef VIGIA_MONITOR_SNIFF_H
#define VIGIA_MONITOR_SNIFF_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define MON_SNIFF_MAX_COLS 1000            /* more columns: not a table */
#define MON_SNIFF_MAX_NAME 128             /* bytes of a column name (UTF-8), longer are cut */
#define MON_SNIFF_MAX_ROWS 200             /* data rows read for the types */
#define MON_SNIFF_MAX_ROW_BYTES (1u << 20) /* a longer line: not a table */
#define MON_JSON_MAX_DEPTH 32              /* deeper objects: not a table */

typedef enum {
    MON_COL_EMPTY = 0, /* no non-empty cell in the sample: says nothing */
    MON_COL_TEXT,
    MON_COL_INTEGER,
    MON_COL_NUMBER,
    MON_COL_DATE,
    MON_COL_BOOLEAN,
} mon_coltype;

typedef enum {
    MON_ENC_UNKNOWN = 0,
    MON_ENC_UTF8,
    MON_ENC_UTF8_BOM,
    MON_ENC_LATIN1, /* not valid UTF-8: read as Windows-1252 (a superset of Latin-1) */
} mon_encoding;

typedef struct {
    char *name; /* UTF-8, at most MON_SNIFF_MAX_NAME bytes */
    mon_coltype type;
} mon_column;

typedef struct {
    int is_table;     /* 0: reason says why */
    char reason[160]; /* why it is not a table (empty when it is) */
    char format[8];   /* "csv" or "json" */
    mon_encoding encoding;
    char delimiter; /* ',' ';' '\t' '|'; 0 for JSON */
    int has_header; /* 0: names are column_1..column_N */
    size_t ncols;
    mon_column *cols;
    size_t rows_sampled;  /* data rows (CSV) or objects (JSON) read */
    size_t ragged_rows;   /* data rows whose field count differs from the header's */
    int unbalanced_quote; /* a quote left open: the rows after it were not read */
} mon_schema;

/* CSV/TSV. buf: the first bytes of the file; truncated: 1 when buf is a prefix (the last,
 * incomplete line is then ignored). Returns 0 and fills out (is_table says if it is one);
 * -1 only when out of memory. Never reads past len; memory bounded by MAX_COLS. */
int mon_sniff_csv(const unsigned char *buf, size_t len, int truncated, mon_schema *out);

/* JSON array of objects from a possibly cut prefix: objects are read until the cut (at most
 * MON_SNIFF_MAX_ROWS); keys in first-seen order. Same return convention. */
int mon_json_sample(const unsigned char *buf, size_t len, mon_schema *out);

void mon_schema_free(mon_schema *s);

const char *mon_coltype_name(mon_coltype t);
const char *mon_encoding_name(mon_encoding e);
/* The type a single cell suggests (exposed for tests): EMPTY, TEXT or the most specific type. */
mon_coltype mon_cell_type(const char *s, size_t n);

/* Compact summary of a schema, the form kept in the store and sent in events:
 * {"table":true,"format":"csv","encoding":"utf-8","delimiter":";","header":true,
 *  "columns":[["name","integer"],...]} or {"table":false,"reason":"..."}.
 * max_cols caps the column list (0: all), with "ncols" always the full count. */
json_t *mon_schema_to_json(const mon_schema *s, size_t max_cols);
/* Reads back what mon_schema_to_json wrote (full list); 0 on success, -1 on a bad document. */
int mon_schema_from_json(const json_t *j, mon_schema *out);

/* Changes between two schemas, NULL when nothing changed (or neither side is a table):
 * {"v":1,"changes":[{"kind":"added","position":3,"name":"x","type":"text"},
 *   {"kind":"removed",...},{"kind":"renamed","position":2,"from":"a","to":"b","type":"integer"},
 *   {"kind":"retyped","name":"x","from":"integer","to":"text"},
 *   {"kind":"reordered","before":[...],"after":[...]},
 *   {"kind":"delimiter","from":",","to":";"},{"kind":"encoding","from":"utf-8","to":"latin-1"},
 *   {"kind":"table_lost","reason":"..."},{"kind":"table_found"}],
 *  "truncated":false,"before":summary,"after":summary}
 * Summaries are capped at 50 columns and the change list at 100 entries. */
json_t *mon_schema_diff(const mon_schema *before, const mon_schema *after);

/* ---- content hashing ---- */

typedef enum { MON_HASH_OK = 0, MON_HASH_TOO_LARGE, MON_HASH_ERROR } mon_hash_status;

typedef struct {
    void *ctx;          /* EVP_MD_CTX */
    uint64_t max_bytes; /* hash_max_bytes; 0: no limit */
    uint64_t seen;
    int too_large;
    int failed;
} mon_hasher;

int mon_hasher_init(mon_hasher *h, uint64_t max_bytes); /* 0 or -1 */
/* Returns 0 to go on, 1 once more than max_bytes were offered (stop the transfer), -1 on error. */
int mon_hasher_feed(mon_hasher *h, const void *p, size_t n);
/* hex: 64 lowercase hex digits + NUL when MON_HASH_OK, "" otherwise. Frees the context. */
mon_hash_status mon_hasher_final(mon_hasher *h, char hex[65]);
void mon_hasher_free(mon_hasher *h);
/* A libcurl CURLOPT_WRITEFUNCTION (userdata: mon_hasher *): returns 0 past the limit, which makes
 * curl stop with CURLE_WRITE_ERROR; the hasher then says MON_HASH_TOO_LARGE. */
size_t mon_hasher_curl_write(char *ptr, size_t size, size_t nmemb, void *userdata);

/* What is known of a resource's content at one look; "" / -1 when unknown. */
typedef struct {
    char etag[128];
    char last_modified[64];
    int64_t length;
    char sha256[65];
} mon_content_state;

enum {
    MON_MOVED_ETAG = 1,
    MON_MOVED_LAST_MODIFIED = 2,
    MON_MOVED_LENGTH = 4,
    MON_MOVED_HASH = 8,
    MON_MOVED_CHANGED = 0x100, /* the verdict: this is a content change */
};
/* Bit set of what moved between prev and cur (fields known on both sides only), with
 * MON_MOVED_CHANGED when it is a change: the hash decides when both sides have one; without,
 * any moved validator does. */
unsigned mon_content_compare(const mon_content_state *prev, const mon_content_state *cur);
/* {"etag":{"old":..,"new":..},"length":{...},"sha256":{...}} of what moved, for the event
 * payload (the same {old, new} shape as dataset.content_changed). */
json_t *mon_content_moved_json(const mon_content_state *prev, const mon_content_state *cur,
                               unsigned moved);

/* Files made anew on every request: the hash kept, and the volatile mark. */
typedef struct {
    char sha256[65];          /* last hash taken as the content ("" before the first) */
    int is_volatile;          /* two fetches seconds apart gave different hashes */
    int64_t volatile_checked; /* when that was last seen (unix seconds) */
} mon_regen_state;

typedef enum {
    MON_REGEN_FIRST,        /* first hash: baseline, nothing announced */
    MON_REGEN_SAME,         /* same content */
    MON_REGEN_NEED_RECHECK, /* differs: fetch again in a few seconds, call again with both hashes */
    MON_REGEN_CHANGED,      /* differs and the second fetch agrees: announce */
    MON_REGEN_VOLATILE,     /* regenerated per request (or still marked so): announce nothing */
    MON_REGEN_SETTLED, /* was volatile, two fetches now agree: new baseline, nothing announced */
} mon_regen_verdict;

/* hash_now: this sweep's hash; hash_again: a second fetch a few seconds later, or NULL when not
 * taken yet; recheck_s: how long a volatile mark holds before it is tried again. Writes the state
 * to keep into *next (may alias prev). */
mon_regen_verdict mon_regen_decide(const mon_regen_state *prev, const char *hash_now,
                                   const char *hash_again, int64_t now, int64_t recheck_s,
                                   mon_regen_state *next);
const char *mon_regen_verdict_name(mon_regen_verdict v);

#endif
