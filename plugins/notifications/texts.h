/* Every user-visible text of the notifications plugin, one table per language
 * (texts.c). Templates use named placeholders, "{dataset}", filled by
 * nt_text_render, so translators can reorder them freely. */
#ifndef NOTIFICATIONS_TEXTS_H
#define NOTIFICATIONS_TEXTS_H

#include <stddef.h>

typedef enum nt_lang { NT_LANG_ES = 0, NT_LANG_EN, NT_LANG_COUNT } nt_lang;

typedef enum nt_text_id {
    T_SYSTEM_STARTED_TITLE,
    T_SYSTEM_STARTED_MSG,
    T_DOWN_TITLE,
    T_DOWN_MSG,
    T_RECOVERED_TITLE,
    T_RECOVERED_MSG,
    T_DEGRADED_TITLE,
    T_DEGRADED_MSG,
    T_ADDED_TITLE,
    T_ADDED_MSG,
    T_REMOVED_TITLE,
    T_REMOVED_MSG,
    T_MODIFIED_TITLE,
    T_MODIFIED_MSG,
    T_PORTAL_DOWN_TITLE,
    T_PORTAL_DOWN_MSG,
    T_PORTAL_UP_TITLE,
    T_PORTAL_UP_MSG,
    T_REASON_PORTAL_UP,
    T_KIND_PORTAL_DOWN,
    T_KIND_PORTAL_UP,
    T_PORTAL_HELD_TITLE,
    T_PORTAL_HELD_MSG,
    T_REASON_PORTAL_HELD,
    T_KIND_PORTAL_HELD,
    T_SUPPRESSED,
    T_REASON_FAILING_ONE,
    T_REASON_FAILING_MANY,
    T_REASON_NONE,
    T_REASON_HTTP,
    T_REASON_ADDED,
    T_REASON_REMOVED,
    T_REASON_RECOVERED,
    T_WHY_TIMEOUT,
    T_WHY_CONNECTION,
    T_WHY_REDIRECTS,
    T_WHY_SERVER,
    T_WHY_NOT_FOUND,
    T_WHY_HTTP,
    T_WHY_INVALID_URL,
    T_WHY_SLOW,
    T_WHY_RESTRICTED,
    T_WHY_UNKNOWN,
    T_WHY_WITH_HTTP,
    T_CHANGE_METADATA,
    T_CHANGE_RES_ADDED,
    T_CHANGE_RES_REMOVED,
    T_CHANGE_URLS,
    T_CHANGE_TITLE,
    T_STATUS_UP,
    T_STATUS_DOWN,
    T_STATUS_DEGRADED,
    T_STATUS_UNKNOWN,
    T_NO_ORG,
    T_KIND_DOWN,
    T_KIND_RECOVERED,
    T_KIND_DEGRADED,
    T_KIND_ADDED,
    T_KIND_REMOVED,
    T_KIND_MODIFIED,
    T_DIGEST_TITLE,
    T_DIGEST_MSG,
    T_DIGEST_MORE,
    T_LIST_SEP,
    T_EMPTY_TITLE,
    T_EMPTY_MSG,
    T_REASON_EMPTY,
    T_STATUS_EMPTY,
    T_KIND_EMPTY,
    T_WHY_HTML,
    T_WHY_LOGIN,
    /* open-data signals */
    T_STALE_TITLE,
    T_STALE_MSG,
    T_REASON_STALE,
    T_KIND_STALE,
    T_FRESH_OVERDUE,
    T_FRESH_DELINQUENT,
    T_REFRESHED_TITLE,
    T_REFRESHED_MSG,
    T_REASON_REFRESHED,
    T_KIND_REFRESHED,
    T_RECREATED_TITLE,
    T_RECREATED_MSG,
    T_REASON_RECREATED_ONE,
    T_REASON_RECREATED_MANY,
    T_KIND_RECREATED,
    T_FORMAT_TITLE,
    T_FORMAT_MSG,
    T_REASON_FORMAT_ONE,
    T_REASON_FORMAT_MANY,
    T_KIND_FORMAT,
    T_CHANGE_RES_RECREATED,
    T_CONTENT_TITLE,
    T_CONTENT_MSG,
    T_REASON_CONTENT_ONE,
    T_REASON_CONTENT_MANY,
    T_KIND_CONTENT,
    T_SCHEMA_TITLE,
    T_SCHEMA_MSG,
    T_REASON_SCHEMA_ONE,
    T_REASON_SCHEMA_MANY,
    T_KIND_SCHEMA,
    T_SCHEMA_ADDED, /* one change of dataset.schema_changed, in words */
    T_SCHEMA_REMOVED,
    T_SCHEMA_RENAMED,
    T_SCHEMA_RETYPED,
    T_SCHEMA_REORDERED,
    T_SCHEMA_DELIMITER,
    T_SCHEMA_ENCODING,
    T_SCHEMA_TABLE_LOST,
    T_SCHEMA_TABLE_FOUND,
    T_COUNT
} nt_text_id;

/* "es" / "en" -> language; -1 when unknown. */
int nt_lang_parse(const char *name);
const char *nt_lang_name(nt_lang lang);

/* The raw template. Never NULL. */
const char *nt_text(nt_lang lang, nt_text_id id);

/* The template with {name} replaced by values from `vars` ("name", "value",
 * ..., NULL); unknown placeholders are kept as written. Returns malloc'd text
 * or NULL when out of memory. */
char *nt_text_render(nt_lang lang, nt_text_id id, const char *const *vars);

/* A growable string. */
typedef struct nt_sb {
    char *s;
    size_t len, cap;
    int failed; /* an allocation failed: s is incomplete */
} nt_sb;

void nt_sb_add(nt_sb *b, const char *s);
void nt_sb_addn(nt_sb *b, const char *s, size_t n);
/* Hands over the string (NULL when an allocation failed); b is reset. */
char *nt_sb_take(nt_sb *b);
void nt_sb_free(nt_sb *b);

#endif /* NOTIFICATIONS_TEXTS_H */
