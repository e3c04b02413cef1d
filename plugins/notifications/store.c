/* The notification store: memory ring + SQLite history (see store.h). */
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vigia/contract/notifications.h>

#define NT_SCHEMA_VERSION 1
#define NT_PRUNE_BATCH 500

/* The contract's list of types is in the store's order (NT_INFO = 0). */
_Static_assert(NT_TYPE_COUNT == VG_NOTIFICATIONS_TYPE_COUNT, "one word per type");

/* One notification in memory: a single allocation holding the strings, so the
 * ring costs one malloc per entry. */
typedef struct nt_item {
    int64_t id;
    int64_t created_ms;
    int64_t read_ms; /* 0: unread */
    int type;
    const char *title;
    const char *message;
    const char *data; /* compact JSON object, or NULL */
    char buf[];
} nt_item;

typedef struct create_req create_req;

struct nt_store {
    pthread_mutex_t mu;
    /* group commit queue (see nt_store_create); never held with mu by waiters */
    pthread_mutex_t qmu;
    pthread_cond_t qcv;
    create_req *qhead, **qtail;
    bool leader;
    sqlite3 *db;
    sqlite3_stmt *insert;
    nt_item **ring; /* ring[(head + i) % cap], i = 0 is the oldest */
    int cap, head, count;
    int64_t last_id;
    long long visible, unread, by_type[NT_TYPE_COUNT], history, created_total;
    nt_store_options opt;
};

/* ---- small helpers ------------------------------------------------------ */

static int set_err(nt_error *err, int rc, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int set_err(nt_error *err, int rc, const char *code, const char *fmt, ...)
{
    if (err) {
        snprintf(err->code, sizeof err->code, "%s", code);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static int db_err(nt_store *st, nt_error *err, const char *what)
{
    return set_err(err, -EIO, "INTERNAL", "notifications database: %s: %s", what,
                   sqlite3_errmsg(st->db));
}

const char *nt_type_name(int type)
{
    return type >= 0 && type < NT_TYPE_COUNT ? VG_NOTIFICATIONS_TYPES[type] : NULL;
}

int nt_type_parse(const char *name)
{
    for (int i = 0; name && i < NT_TYPE_COUNT; i++)
        if (strcmp(name, VG_NOTIFICATIONS_TYPES[i]) == 0)
            return i;
    return -1;
}

int nt_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        size_t n;
        unsigned cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (len - i <= n) /* not enough continuation bytes */
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        /* overlong forms, surrogates, beyond U+10FFFF */
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

void nt_format_time(int64_t ms, char *buf, size_t size)
{
    time_t secs = (time_t)(ms / 1000);
    int milli = (int)(ms % 1000);
    if (milli < 0) {
        milli += 1000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, milli);
}

int64_t nt_parse_id(const char *s)
{
    if (!s || !*s || strlen(s) > 18)
        return -1;
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v > 0 ? v : -1;
}

static int64_t real_clock(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t now_ms(const nt_store *st)
{
    return st->opt.now_wall_ms ? st->opt.now_wall_ms(st->opt.clock_ctx) : real_clock(NULL);
}

/* ---- notifications as JSON --------------------------------------------- */

static json_t *notification_json(int64_t id, const char *type, const char *title,
                                 const char *message, const char *data, int64_t created_ms,
                                 int64_t read_ms)
{
    char idbuf[24], created[32], readbuf[32];
    snprintf(idbuf, sizeof idbuf, "%lld", (long long)id);
    nt_format_time(created_ms, created, sizeof created);
    /* The store's own text, written by json_dumps of a checked object. */
    json_t *d = data ? json_loads(data, 0, NULL) : NULL; /* json-own-data */
    json_t *read_at = NULL;
    if (read_ms) {
        nt_format_time(read_ms, readbuf, sizeof readbuf);
        read_at = json_string(readbuf);
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:o, s:o}", "id", idbuf, "type", type, "title",
                     title, "message", message ? message : "", "created_at", created, "read",
                     read_ms != 0, "read_at", read_at ? read_at : json_null(), "data",
                     d ? d : json_null());
}

static json_t *item_json(const nt_item *it)
{
    return notification_json(it->id, VG_NOTIFICATIONS_TYPES[it->type], it->title, it->message,
                             it->data, it->created_ms, it->read_ms);
}

/* Columns: id, type, title, message, data, created_at, read_at */
static json_t *row_json(sqlite3_stmt *s)
{
    return notification_json(sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1),
                             (const char *)sqlite3_column_text(s, 2),
                             (const char *)sqlite3_column_text(s, 3),
                             (const char *)sqlite3_column_text(s, 4), sqlite3_column_int64(s, 5),
                             sqlite3_column_int64(s, 6));
}

/* ---- the memory ring ---------------------------------------------------- */

static nt_item *item_new(int64_t id, int type, const char *title, const char *message,
                         const char *data, int64_t created_ms, int64_t read_ms)
{
    size_t lt = strlen(title) + 1, lm = strlen(message ? message : "") + 1;
    size_t ld = data ? strlen(data) + 1 : 0;
    nt_item *it = malloc(sizeof *it + lt + lm + ld);
    if (!it)
        return NULL;
    it->id = id;
    it->type = type;
    it->created_ms = created_ms;
    it->read_ms = read_ms;
    char *p = it->buf;
    memcpy(p, title, lt);
    it->title = p;
    p += lt;
    memcpy(p, message ? message : "", lm);
    it->message = p;
    p += lm;
    if (data) {
        memcpy(p, data, ld);
        it->data = p;
    } else {
        it->data = NULL;
    }
    return it;
}

static nt_item *ring_at(const nt_store *st, int i) { return st->ring[(st->head + i) % st->cap]; }

static void ring_push(nt_store *st, nt_item *it)
{
    if (st->count == st->cap) {
        free(st->ring[st->head]);
        st->ring[st->head] = it;
        st->head = (st->head + 1) % st->cap;
    } else {
        st->ring[(st->head + st->count) % st->cap] = it;
        st->count++;
    }
}

static void ring_drop_oldest(nt_store *st)
{
    free(st->ring[st->head]);
    st->ring[st->head] = NULL;
    st->head = (st->head + 1) % st->cap;
    st->count--;
}

static void ring_clear(nt_store *st)
{
    while (st->count > 0)
        ring_drop_oldest(st);
    st->head = 0;
}

/* Binary search: ids grow from oldest to newest. */
static nt_item *ring_find(const nt_store *st, int64_t id)
{
    int lo = 0, hi = st->count - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        nt_item *it = ring_at(st, mid);
        if (it->id == id)
            return it;
        if (it->id < id)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

/* ---- SQLite ------------------------------------------------------------- */

static int exec(nt_store *st, const char *sql, nt_error *err)
{
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        set_err(err, -EIO, "INTERNAL", "notifications database: %s", msg ? msg : "error");
        sqlite3_free(msg);
        return -EIO;
    }
    return 0;
}

/* One integer from a query with up to one int64 parameter; `def` when no row
 * or NULL. Returns 0 or -EIO. */
static int query_int(nt_store *st, const char *sql, int nparams, int64_t p1, int64_t p2,
                     int64_t def, int64_t *out)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return -EIO;
    if (nparams >= 1)
        sqlite3_bind_int64(s, 1, p1);
    if (nparams >= 2)
        sqlite3_bind_int64(s, 2, p2);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_type(s, 0) == SQLITE_NULL ? def : sqlite3_column_int64(s, 0);
    else
        *out = def;
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -EIO;
}

/* The highest id ever handed out survives deletes (prune, clear). */
static int save_last_id(nt_store *st, nt_error *err)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db,
                           "INSERT OR REPLACE INTO notifications_schema(name, value) "
                           "VALUES('last_id', ?1)",
                           -1, &s, NULL) != SQLITE_OK)
        return db_err(st, err, "save last id");
    sqlite3_bind_int64(s, 1, st->last_id);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : db_err(st, err, "save last id");
}

static int recount(nt_store *st, nt_error *err)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT type, COUNT(*), SUM(read_at IS NULL) FROM notifications "
                           "WHERE cleared = 0 GROUP BY type",
                           -1, &s, NULL) != SQLITE_OK)
        return db_err(st, err, "count");
    st->visible = st->unread = 0;
    memset(st->by_type, 0, sizeof st->by_type);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int t = nt_type_parse((const char *)sqlite3_column_text(s, 0));
        long long n = sqlite3_column_int64(s, 1);
        st->visible += n;
        st->unread += sqlite3_column_int64(s, 2);
        if (t >= 0)
            st->by_type[t] += n;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return db_err(st, err, "count");
    int64_t hist = 0;
    if (query_int(st, "SELECT COUNT(*) FROM notifications", 0, 0, 0, 0, &hist) < 0)
        return db_err(st, err, "count");
    st->history = hist;
    return 0;
}

static int load_ring(nt_store *st, nt_error *err)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT id, type, title, message, data, created_at, read_at "
                           "FROM notifications WHERE cleared = 0 ORDER BY id DESC LIMIT ?1",
                           -1, &s, NULL) != SQLITE_OK)
        return db_err(st, err, "load");
    sqlite3_bind_int(s, 1, st->cap);
    /* Rows come newest first: fill the ring backwards. */
    nt_item **tmp = calloc((size_t)st->cap, sizeof *tmp);
    if (!tmp) {
        sqlite3_finalize(s);
        return set_err(err, -ENOMEM, "INTERNAL", "out of memory");
    }
    int n = 0, rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && n < st->cap) {
        int t = nt_type_parse((const char *)sqlite3_column_text(s, 1));
        nt_item *it = item_new(sqlite3_column_int64(s, 0), t < 0 ? NT_INFO : t,
                               (const char *)sqlite3_column_text(s, 2),
                               (const char *)sqlite3_column_text(s, 3),
                               (const char *)sqlite3_column_text(s, 4), sqlite3_column_int64(s, 5),
                               sqlite3_column_int64(s, 6));
        if (!it) {
            rc = SQLITE_NOMEM;
            break;
        }
        tmp[n++] = it;
    }
    sqlite3_finalize(s);
    for (int i = n - 1; i >= 0; i--)
        ring_push(st, tmp[i]);
    free(tmp);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return db_err(st, err, "load");
    return 0;
}

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS notifications_schema ("
    "  name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO notifications_schema(name, value) VALUES('version', 1);"
    "CREATE TABLE IF NOT EXISTS notifications ("
    "  id INTEGER PRIMARY KEY,"
    "  type TEXT NOT NULL,"
    "  title TEXT NOT NULL,"
    "  message TEXT NOT NULL,"
    "  data TEXT,"
    "  created_at INTEGER NOT NULL," /* ms since the epoch, UTC */
    "  read_at INTEGER,"
    "  cleared INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS notifications_visible ON notifications(cleared, id);"
    "CREATE INDEX IF NOT EXISTS notifications_created ON notifications(created_at);";

int nt_store_open(const nt_store_options *opt, nt_store **out, nt_error *err)
{
    *out = NULL;
    if (!opt || !opt->path || opt->limit < 1)
        return set_err(err, -EINVAL, "INVALID_ARGUMENT", "limit: must be at least 1");
    nt_store *st = calloc(1, sizeof *st);
    if (!st)
        return set_err(err, -ENOMEM, "INTERNAL", "out of memory");
    st->opt = *opt;
    st->opt.path = NULL; /* not kept: the caller owns it */
    if (!st->opt.max_title_bytes)
        st->opt.max_title_bytes = NT_DEFAULT_MAX_TITLE;
    if (!st->opt.max_message_bytes)
        st->opt.max_message_bytes = NT_DEFAULT_MAX_MESSAGE;
    if (!st->opt.max_data_bytes)
        st->opt.max_data_bytes = NT_DEFAULT_MAX_DATA;
    st->cap = opt->limit;
    st->ring = calloc((size_t)st->cap, sizeof *st->ring);
    if (!st->ring || pthread_mutex_init(&st->mu, NULL) != 0) {
        free(st->ring);
        free(st);
        return set_err(err, -ENOMEM, "INTERNAL", "out of memory");
    }
    pthread_mutex_init(&st->qmu, NULL);
    pthread_cond_init(&st->qcv, NULL);
    st->qtail = &st->qhead;
    int rc = sqlite3_open_v2(
        opt->path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        set_err(err, -EIO, "INTERNAL", "cannot open %s: %s", opt->path,
                st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_busy_timeout(st->db, 5000);
    /* WAL + synchronous=NORMAL: a committed row survives a kill -9 of the
     * process (it is in the OS page cache); only an OS crash may lose the last
     * commits. */
    if (exec(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", err) < 0 ||
        exec(st, "BEGIN IMMEDIATE;", err) < 0)
        goto fail;
    if (exec(st, schema_sql, err) < 0) {
        exec(st, "ROLLBACK;", NULL);
        goto fail;
    }
    if (exec(st, "COMMIT;", err) < 0)
        goto fail;
    int64_t version = 0, max_id = 0, saved = 0;
    if (query_int(st, "SELECT value FROM notifications_schema WHERE name = 'version'", 0, 0, 0, 0,
                  &version) < 0 ||
        query_int(st, "SELECT MAX(id) FROM notifications", 0, 0, 0, 0, &max_id) < 0 ||
        query_int(st, "SELECT value FROM notifications_schema WHERE name = 'last_id'", 0, 0, 0, 0,
                  &saved) < 0) {
        db_err(st, err, "read schema");
        goto fail;
    }
    if (version > NT_SCHEMA_VERSION) {
        set_err(err, -EINVAL, "INTERNAL",
                "notifications schema version %lld is newer than this plugin supports (%d)",
                (long long)version, NT_SCHEMA_VERSION);
        goto fail;
    }
    st->last_id = max_id > saved ? max_id : saved;
    if (sqlite3_prepare_v2(st->db,
                           "INSERT INTO notifications(id, type, title, message, data, created_at) "
                           "VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                           -1, &st->insert, NULL) != SQLITE_OK) {
        db_err(st, err, "prepare");
        goto fail;
    }
    if (load_ring(st, err) < 0 || recount(st, err) < 0)
        goto fail;
    *out = st;
    return 0;
fail:
    nt_store_close(st);
    return -EIO;
}

void nt_store_close(nt_store *st)
{
    if (!st)
        return;
    if (st->ring)
        ring_clear(st);
    free(st->ring);
    sqlite3_finalize(st->insert);
    sqlite3_close(st->db);
    pthread_mutex_destroy(&st->mu);
    pthread_mutex_destroy(&st->qmu);
    pthread_cond_destroy(&st->qcv);
    free(st);
}

/* ---- create ------------------------------------------------------------- */

/* One queued create (group commit). Lives on the creator's stack. */
struct create_req {
    nt_item *item; /* built by the creator; the ring owns it once committed */
    int rc;
    nt_error err;
    json_t *notification; /* new reference for the creator */
    long long unread;
    bool done;
    create_req *next;
};

static void fail_batch(create_req *batch, int rc, const nt_error *err)
{
    for (create_req *r = batch; r; r = r->next) {
        r->rc = rc;
        r->err = *err;
    }
}

/* Writes a batch in one transaction, then (durable) adds it to memory and
 * announces each in id order. */
static void commit_batch(nt_store *st, create_req *batch)
{
    nt_error err = {{0}};
    pthread_mutex_lock(&st->mu);
    int64_t created = now_ms(st), id = st->last_id;
    bool many = batch->next != NULL;
    if (many && exec(st, "BEGIN IMMEDIATE;", &err) < 0) {
        fail_batch(batch, -EIO, &err);
        pthread_mutex_unlock(&st->mu);
        return;
    }
    int rc = 0;
    for (create_req *r = batch; r && rc == 0; r = r->next) {
        nt_item *it = r->item;
        it->id = ++id;
        it->created_ms = created;
        sqlite3_stmt *s = st->insert;
        sqlite3_bind_int64(s, 1, it->id);
        sqlite3_bind_text(s, 2, VG_NOTIFICATIONS_TYPES[it->type], -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, it->title, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, it->message, -1, SQLITE_STATIC);
        if (it->data)
            sqlite3_bind_text(s, 5, it->data, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(s, 5);
        sqlite3_bind_int64(s, 6, created);
        if (sqlite3_step(s) != SQLITE_DONE)
            rc = db_err(st, &err, "insert");
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
    if (rc == 0 && many && exec(st, "COMMIT;", &err) < 0)
        rc = -EIO;
    if (rc < 0) {
        if (!sqlite3_get_autocommit(st->db))
            exec(st, "ROLLBACK;", NULL);
        fail_batch(batch, rc, &err);
        /* Someone else wrote our table? Never reuse an id that exists. */
        int64_t max_id = 0;
        if (query_int(st, "SELECT MAX(id) FROM notifications", 0, 0, 0, 0, &max_id) == 0 &&
            max_id > st->last_id)
            st->last_id = max_id;
        pthread_mutex_unlock(&st->mu);
        return;
    }
    /* Durable from here: memory and counters follow, then the announcements. */
    for (create_req *r = batch; r; r = r->next) {
        nt_item *it = r->item;
        st->last_id = it->id;
        ring_push(st, it);
        st->visible++;
        st->unread++;
        st->by_type[it->type]++;
        st->history++;
        st->created_total++;
        r->unread = st->unread;
        r->notification = item_json(it);
        r->item = NULL;
        /* The event gets its own object: the caller's may be changed by its
         * thread while the bus thread reads the event. */
        json_t *copy = st->opt.announce ? item_json(it) : NULL;
        if (copy)
            st->opt.announce(VG_NOTIFICATIONS_EV_CREATED,
                             json_pack("{s:o, s:I}", "notification", copy, "unread_count",
                                       (json_int_t)r->unread),
                             st->opt.announce_ctx);
    }
    pthread_mutex_unlock(&st->mu);
}

/* Only printable ASCII of a refused value goes into an error message (which
 * must itself be valid UTF-8). */
static void printable(const char *in, char *out, size_t size)
{
    size_t n = 0;
    for (; in && *in && n + 1 < size; in++)
        out[n++] = (*in >= 0x20 && *in < 0x7f) ? *in : '?';
    out[n] = 0;
}

static int check_text(const char *field, const char *s, bool required, size_t max, nt_error *err)
{
    if (!s || (required && !*s))
        return required
                   ? set_err(err, -EINVAL, "INVALID_ARGUMENT",
                             "%s: required (a non-empty string of at most %zu bytes)", field, max)
                   : 0;
    size_t len = strlen(s);
    if (len > max)
        return set_err(err, -E2BIG, "TOO_LARGE", "%s: %zu bytes exceeds the limit of %zu bytes",
                       field, len, max);
    if (!nt_utf8_valid(s, len))
        return set_err(err, -EINVAL, "INVALID_ARGUMENT", "%s: not valid UTF-8", field);
    return 0;
}

int nt_store_create(nt_store *st, const char *type, const char *title, const char *message,
                    const json_t *data, json_t **notification, long long *unread, nt_error *err)
{
    if (notification)
        *notification = NULL;
    int t = nt_type_parse(type);
    if (t < 0) {
        char shown[40];
        printable(type, shown, sizeof shown);
        return type
                   ? set_err(err, -EINVAL, "INVALID_ARGUMENT",
                             "type: must be one of info, warning, error, success (got '%s')", shown)
                   : set_err(err, -EINVAL, "INVALID_ARGUMENT",
                             "type: required, one of info, warning, error, success");
    }
    int rc;
    if ((rc = check_text("title", title, true, st->opt.max_title_bytes, err)) < 0 ||
        (rc = check_text("message", message, false, st->opt.max_message_bytes, err)) < 0)
        return rc;
    char *dj = NULL;
    if (data && !json_is_null(data)) {
        if (!json_is_object(data))
            return set_err(err, -EINVAL, "INVALID_ARGUMENT", "data: must be a JSON object or null");
        dj = json_dumps(data, JSON_COMPACT);
        if (!dj)
            return set_err(err, -EINVAL, "INVALID_ARGUMENT", "data: cannot be serialised");
        size_t len = strlen(dj);
        if (len > st->opt.max_data_bytes) {
            free(dj);
            return set_err(err, -E2BIG, "TOO_LARGE",
                           "data: %zu bytes of JSON exceeds the limit of %zu bytes", len,
                           st->opt.max_data_bytes);
        }
    }
    if (!message)
        message = "";
    /* The entry is built outside every lock; id and time come at commit. */
    create_req rq = {.item = item_new(0, t, title, message, dj, 0, 0)};
    free(dj);
    if (!rq.item)
        return set_err(err, -ENOMEM, "INTERNAL", "out of memory");

    /* Group commit: the first creator in becomes the leader and commits
     * every request queued meanwhile in one transaction; the others wait. */
    pthread_mutex_lock(&st->qmu);
    *st->qtail = &rq;
    st->qtail = &rq.next;
    while (!rq.done && st->leader)
        pthread_cond_wait(&st->qcv, &st->qmu);
    if (!rq.done) {
        st->leader = true;
        while (st->qhead) {
            create_req *batch = st->qhead;
            st->qhead = NULL;
            st->qtail = &st->qhead;
            pthread_mutex_unlock(&st->qmu);
            commit_batch(st, batch);
            pthread_mutex_lock(&st->qmu);
            for (create_req *r = batch, *next; r; r = next) {
                next = r->next; /* r may be gone as soon as it is done */
                r->done = true;
            }
            pthread_cond_broadcast(&st->qcv);
        }
        st->leader = false;
        pthread_cond_broadcast(&st->qcv);
    }
    pthread_mutex_unlock(&st->qmu);

    if (rq.rc < 0) {
        free(rq.item);
        if (err)
            *err = rq.err;
        return rq.rc;
    }
    if (unread)
        *unread = rq.unread;
    if (notification)
        *notification = rq.notification;
    else
        json_decref(rq.notification);
    return 0;
}

/* ---- list / get --------------------------------------------------------- */

static bool item_matches(const nt_item *it, const nt_query *q)
{
    if (q->unread_only && it->read_ms)
        return false;
    if (q->type >= 0 && it->type != q->type)
        return false;
    if (q->since > 0 && it->id <= q->since)
        return false;
    if (q->before > 0 && it->id >= q->before)
        return false;
    if (q->q && *q->q && !strcasestr(it->title, q->q) && !strcasestr(it->message, q->q))
        return false;
    return true;
}

/* The WHERE clause with only the filters in use, so SQLite can walk the
 * (cleared, id) index for id ranges and the newest-first order. Parameters
 * keep fixed numbers (?2 type, ?3 since, ?4 before, ?5 q). */
static void list_where(const nt_query *q, const char *like, char *buf, size_t size)
{
    snprintf(buf, size, " FROM notifications WHERE cleared = 0%s%s%s%s%s",
             q->unread_only ? " AND read_at IS NULL" : "", q->type >= 0 ? " AND type = ?2" : "",
             q->since > 0 ? " AND id > ?3" : "", q->before > 0 ? " AND id < ?4" : "",
             like ? " AND (title LIKE ?5 ESCAPE '\\' OR message LIKE ?5 ESCAPE '\\')" : "");
}

/* LIKE pattern "%q%" with % _ and \ escaped; NULL when no q. */
static char *like_pattern(const char *q)
{
    if (!q || !*q)
        return NULL;
    char *p = malloc(strlen(q) * 2 + 3);
    if (!p)
        return NULL;
    size_t n = 0;
    p[n++] = '%';
    for (; *q; q++) {
        if (*q == '%' || *q == '_' || *q == '\\')
            p[n++] = '\\';
        p[n++] = *q;
    }
    p[n++] = '%';
    p[n] = 0;
    return p;
}

/* Binding a number the statement does not use is a harmless SQLITE_RANGE. */
static void bind_query(sqlite3_stmt *s, const nt_query *q, const char *like)
{
    if (q->type >= 0)
        sqlite3_bind_text(s, 2, VG_NOTIFICATIONS_TYPES[q->type], -1, SQLITE_STATIC);
    if (q->since > 0)
        sqlite3_bind_int64(s, 3, q->since);
    if (q->before > 0)
        sqlite3_bind_int64(s, 4, q->before);
    if (like)
        sqlite3_bind_text(s, 5, like, -1, SQLITE_STATIC);
}

/* The number of matches: from the counters when the filters allow it. */
static int sql_count(nt_store *st, const nt_query *q, const char *like, long long *out)
{
    bool ranged = q->since > 0 || q->before > 0 || like;
    if (!ranged && !q->unread_only) {
        *out = q->type >= 0 ? st->by_type[q->type] : st->visible;
        return 0;
    }
    if (!ranged && q->type < 0) {
        *out = st->unread;
        return 0;
    }
    char sql[512], where[400];
    list_where(q, like, where, sizeof where);
    snprintf(sql, sizeof sql, "SELECT COUNT(*)%s", where);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return -EIO;
    bind_query(s, q, like);
    int rc = sqlite3_step(s);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : -EIO;
}

static int sql_page(nt_store *st, const nt_query *q, const char *like, int limit, json_t *arr)
{
    char sql[640], where[400];
    list_where(q, like, where, sizeof where);
    snprintf(sql, sizeof sql,
             "SELECT id, type, title, message, data, created_at, read_at%s ORDER BY id DESC "
             "LIMIT ?6",
             where);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return -EIO;
    bind_query(s, q, like);
    sqlite3_bind_int(s, 6, limit);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        json_t *n = row_json(s);
        if (!n || json_array_append_new(arr, n) < 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -EIO;
}

int nt_store_list(nt_store *st, const nt_query *query, json_t **result, nt_error *err)
{
    *result = NULL;
    nt_query q = *query;
    if (q.limit <= 0)
        q.limit = NT_LIST_DEFAULT;
    if (q.limit > NT_LIST_MAX)
        return set_err(err, -EINVAL, "INVALID_ARGUMENT", "limit: must be between 1 and %d",
                       NT_LIST_MAX);
    json_t *arr = json_array();
    if (!arr)
        return set_err(err, -ENOMEM, "INTERNAL", "out of memory");
    char *like = like_pattern(q.q);
    if (q.q && *q.q && !like) {
        json_decref(arr);
        return set_err(err, -ENOMEM, "INTERNAL", "out of memory");
    }

    pthread_mutex_lock(&st->mu);
    long long matched = 0;
    int rc = 0;
    for (int i = st->count - 1; i >= 0; i--) {
        const nt_item *it = ring_at(st, i);
        if (!item_matches(it, &q))
            continue;
        if (matched++ < q.limit && json_array_append_new(arr, item_json(it)) < 0)
            rc = -ENOMEM;
    }
    /* Memory holds every visible notification with id >= its oldest entry. */
    bool complete = st->count == st->visible ||
                    (st->count > 0 && q.since > 0 && q.since >= ring_at(st, 0)->id - 1);
    long long total = matched;
    if (rc == 0 && !complete) {
        if ((long long)json_array_size(arr) < q.limit) {
            json_array_clear(arr);
            rc = sql_page(st, &q, like, q.limit, arr);
        }
        if (rc == 0)
            rc = sql_count(st, &q, like, &total);
        if (rc < 0)
            db_err(st, err, "list");
    }
    long long unread = st->unread;
    pthread_mutex_unlock(&st->mu);
    free(like);
    if (rc < 0) {
        json_decref(arr);
        if (rc == -ENOMEM)
            set_err(err, rc, "INTERNAL", "out of memory");
        return rc;
    }
    *result = json_pack("{s:o, s:I, s:I}", "notifications", arr, "unread_count", (json_int_t)unread,
                        "total", (json_int_t)total);
    return *result ? 0 : set_err(err, -ENOMEM, "INTERNAL", "out of memory");
}

static int sql_get(nt_store *st, int64_t id, json_t **out)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT id, type, title, message, data, created_at, read_at "
                           "FROM notifications WHERE id = ?1",
                           -1, &s, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *out = row_json(s);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : -EIO;
}

int nt_store_get(nt_store *st, int64_t id, json_t **notification, nt_error *err)
{
    *notification = NULL;
    pthread_mutex_lock(&st->mu);
    nt_item *it = ring_find(st, id);
    int rc = 0;
    if (it)
        *notification = item_json(it);
    else
        rc = sql_get(st, id, notification);
    if (rc == -EIO)
        db_err(st, err, "get");
    pthread_mutex_unlock(&st->mu);
    if (rc == -ENOENT)
        return set_err(err, rc, "NOT_FOUND", "id: no notification %lld", (long long)id);
    if (rc == 0 && !*notification)
        return set_err(err, -ENOMEM, "INTERNAL", "out of memory");
    return rc;
}

/* ---- read state and clear ----------------------------------------------- */

static void announce_read(nt_store *st, json_t *id, long long marked)
{
    if (!st->opt.announce) {
        json_decref(id);
        return;
    }
    json_t *p = json_pack("{s:o, s:I}", "notification_id", id ? id : json_null(), "unread_count",
                          (json_int_t)st->unread);
    if (p && marked >= 0)
        json_object_set_new(p, "marked", json_integer(marked));
    st->opt.announce(VG_NOTIFICATIONS_EV_READ, p, st->opt.announce_ctx);
}

int nt_store_mark_read(nt_store *st, int64_t id, long long *unread, bool *changed, nt_error *err)
{
    if (changed)
        *changed = false;
    pthread_mutex_lock(&st->mu);
    sqlite3_stmt *s = NULL;
    int rc = -EIO;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT read_at IS NULL, cleared FROM notifications WHERE id = ?1", -1,
                           &s, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(s, 1, id);
    int step = sqlite3_step(s);
    bool was_unread = step == SQLITE_ROW && sqlite3_column_int(s, 0);
    bool cleared = step == SQLITE_ROW && sqlite3_column_int(s, 1);
    sqlite3_finalize(s);
    s = NULL;
    if (step == SQLITE_DONE) {
        rc = -ENOENT;
        goto out;
    }
    if (step != SQLITE_ROW)
        goto out;
    rc = 0;
    if (!was_unread)
        goto out;
    int64_t now = now_ms(st);
    if (sqlite3_prepare_v2(st->db, "UPDATE notifications SET read_at = ?1 WHERE id = ?2", -1, &s,
                           NULL) != SQLITE_OK) {
        rc = -EIO;
        goto out;
    }
    sqlite3_bind_int64(s, 1, now);
    sqlite3_bind_int64(s, 2, id);
    step = sqlite3_step(s);
    sqlite3_finalize(s);
    if (step != SQLITE_DONE) {
        rc = -EIO;
        goto out;
    }
    nt_item *it = ring_find(st, id);
    if (it)
        it->read_ms = now;
    if (!cleared && st->unread > 0)
        st->unread--;
    if (changed)
        *changed = true;
    char idbuf[24];
    snprintf(idbuf, sizeof idbuf, "%lld", (long long)id);
    announce_read(st, json_string(idbuf), -1);
out:
    if (rc == -EIO)
        db_err(st, err, "mark read");
    if (unread)
        *unread = st->unread;
    pthread_mutex_unlock(&st->mu);
    if (rc == -ENOENT)
        return set_err(err, rc, "NOT_FOUND", "id: no notification %lld", (long long)id);
    return rc;
}

int nt_store_mark_all_read(nt_store *st, long long *marked, nt_error *err)
{
    pthread_mutex_lock(&st->mu);
    int64_t now = now_ms(st);
    sqlite3_stmt *s = NULL;
    int rc = -EIO;
    if (sqlite3_prepare_v2(st->db,
                           "UPDATE notifications SET read_at = ?1 "
                           "WHERE read_at IS NULL AND cleared = 0",
                           -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, now);
        if (sqlite3_step(s) == SQLITE_DONE)
            rc = 0;
        sqlite3_finalize(s);
    }
    if (rc < 0) {
        db_err(st, err, "mark all read");
        pthread_mutex_unlock(&st->mu);
        return rc;
    }
    long long n = sqlite3_changes(st->db);
    for (int i = 0; i < st->count; i++) {
        nt_item *it = ring_at(st, i);
        if (!it->read_ms)
            it->read_ms = now;
    }
    st->unread = 0;
    if (n > 0)
        announce_read(st, NULL, n);
    pthread_mutex_unlock(&st->mu);
    if (marked)
        *marked = n;
    return 0;
}

int nt_store_clear(nt_store *st, long long *cleared, nt_error *err)
{
    pthread_mutex_lock(&st->mu);
    int rc = 0;
    if (st->opt.clear_deletes_history) {
        rc = save_last_id(st, err);
        if (rc == 0)
            rc = exec(st, "DELETE FROM notifications;", err);
    } else {
        rc = exec(st, "UPDATE notifications SET cleared = 1 WHERE cleared = 0;", err);
    }
    if (rc < 0) {
        pthread_mutex_unlock(&st->mu);
        return rc;
    }
    long long n = st->opt.clear_deletes_history ? st->visible : sqlite3_changes(st->db);
    ring_clear(st);
    rc = recount(st, err);
    if (st->opt.announce)
        st->opt.announce(VG_NOTIFICATIONS_EV_CLEARED,
                         json_pack("{s:I, s:I}", "unread_count", (json_int_t)st->unread, "cleared",
                                   (json_int_t)n),
                         st->opt.announce_ctx);
    pthread_mutex_unlock(&st->mu);
    if (cleared)
        *cleared = n;
    return rc;
}

/* ---- retention ---------------------------------------------------------- */

int nt_store_prune(nt_store *st, int64_t max_age_ms, long long max_rows, long long *deleted,
                   nt_error *err)
{
    if (deleted)
        *deleted = 0;
    int64_t upto = 0, v = 0;
    pthread_mutex_lock(&st->mu);
    int rc = 0;
    if (max_age_ms > 0)
        rc = query_int(st, "SELECT MAX(id) FROM notifications WHERE created_at < ?1", 1,
                       now_ms(st) - max_age_ms, 0, 0, &v);
    if (rc == 0 && v > upto)
        upto = v;
    v = 0;
    if (rc == 0 && max_rows > 0)
        rc = query_int(st, "SELECT id FROM notifications ORDER BY id DESC LIMIT 1 OFFSET ?1", 1,
                       max_rows, 0, 0, &v);
    if (rc == 0 && v > upto)
        upto = v;
    if (rc == 0 && upto > 0)
        rc = save_last_id(st, err);
    else if (rc < 0)
        db_err(st, err, "prune");
    pthread_mutex_unlock(&st->mu);
    if (rc < 0 || upto == 0)
        return rc;

    /* Small batches, releasing the lock between them. */
    long long total = 0;
    for (;;) {
        pthread_mutex_lock(&st->mu);
        sqlite3_stmt *s = NULL;
        int step = SQLITE_ERROR;
        if (sqlite3_prepare_v2(st->db,
                               "DELETE FROM notifications WHERE id IN (SELECT id FROM "
                               "notifications WHERE id <= ?1 ORDER BY id LIMIT ?2)",
                               -1, &s, NULL) == SQLITE_OK) {
            sqlite3_bind_int64(s, 1, upto);
            sqlite3_bind_int(s, 2, NT_PRUNE_BATCH);
            step = sqlite3_step(s);
            sqlite3_finalize(s);
        }
        long long n = step == SQLITE_DONE ? sqlite3_changes(st->db) : 0;
        if (step != SQLITE_DONE)
            rc = db_err(st, err, "prune");
        pthread_mutex_unlock(&st->mu);
        total += n;
        if (rc < 0 || n < NT_PRUNE_BATCH)
            break;
    }
    pthread_mutex_lock(&st->mu);
    while (st->count > 0 && ring_at(st, 0)->id <= upto)
        ring_drop_oldest(st);
    if (st->count == 0)
        st->head = 0;
    int rc2 = recount(st, err);
    pthread_mutex_unlock(&st->mu);
    if (deleted)
        *deleted = total;
    return rc < 0 ? rc : rc2;
}

void nt_store_stats_get(nt_store *st, nt_store_stats *out)
{
    pthread_mutex_lock(&st->mu);
    out->total = st->visible;
    out->unread = st->unread;
    out->in_memory = st->count;
    memcpy(out->by_type, st->by_type, sizeof out->by_type);
    out->history = st->history;
    out->created_total = st->created_total;
    out->last_id = st->last_id;
    pthread_mutex_unlock(&st->mu);
}
