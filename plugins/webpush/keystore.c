/* The VAPID key pair. Push services bind each browser subscription to the
 * public key it was made with, so the key must survive restarts: it is made
 * once, at first start, and kept in the database (table webpush_vapid, one
 * row), or read from a PEM file the operator names (vapid_key_file) to keep
 * it out of the database or share it between installations. Two servers
 * starting at once on one database agree on one key (INSERT OR IGNORE, then
 * read back). */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "webpush_plugin.h"

#define PEM_MAX 16384

static EVP_PKEY *from_file(const vg_host *host, const vg_config *cfg, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        host->config_fail(host, cfg, "vapid_key_file", "cannot open: %s", strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & 0044))
        VG_WARN(host, "[webpush] vapid_key_file %s is readable by others (chmod 600 it)", path);
    char *buf = malloc(PEM_MAX);
    size_t n = buf ? fread(buf, 1, PEM_MAX, f) : 0;
    fclose(f);
    char err[200] = "out of memory";
    EVP_PKEY *k = NULL;
    if (buf && n == PEM_MAX)
        snprintf(err, sizeof err, "larger than %d bytes: not a PEM key", PEM_MAX);
    else if (buf)
        k = wp_key_from_pem(buf, n, err, sizeof err);
    if (buf) {
        memset(buf, 0, PEM_MAX);
        free(buf);
    }
    if (!k)
        host->config_fail(host, cfg, "vapid_key_file", "%s", err);
    return k;
}

static const char SCHEMA[] = "CREATE TABLE IF NOT EXISTS webpush_vapid ("
                             " id INTEGER PRIMARY KEY CHECK (id = 1),"
                             " private_pem TEXT NOT NULL,"
                             " public_key TEXT NOT NULL,"
                             " created_at INTEGER NOT NULL)";

static EVP_PKEY *from_db(const vg_host *host)
{
    const char *path = host->database_path(host);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    EVP_PKEY *k = NULL, *fresh = NULL;
    char *pem = NULL;
    const char *what = "open";
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK)
        goto out;
    sqlite3_busy_timeout(db, 5000);
    what = "create webpush_vapid";
    if ((rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL)) != SQLITE_OK ||
        (rc = sqlite3_exec(db, SCHEMA, NULL, NULL, NULL)) != SQLITE_OK)
        goto out;
    /* A candidate key; kept only if no key is stored yet. */
    unsigned char pub[WP_KEY_LEN];
    char pub64[96];
    what = "generate a key";
    rc = SQLITE_ERROR;
    if (!(fresh = wp_key_generate()) || wp_key_public(fresh, pub) < 0 ||
        !(pem = wp_key_to_pem(fresh)))
        goto out;
    base64_encode(pub, WP_KEY_LEN, pub64, BASE64_URL);
    what = "store the key";
    if ((rc = sqlite3_prepare_v2(db,
                                 "INSERT OR IGNORE INTO webpush_vapid"
                                 " (id, private_pem, public_key, created_at)"
                                 " VALUES (1, ?, ?, strftime('%s','now'))",
                                 -1, &st, NULL)) != SQLITE_OK)
        goto out;
    sqlite3_bind_text(st, 1, pem, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, pub64, -1, SQLITE_STATIC);
    if ((rc = sqlite3_step(st)) != SQLITE_DONE)
        goto out;
    if (sqlite3_changes(db) == 1)
        VG_INFO(host, "made a new VAPID key (public key %s)", pub64);
    sqlite3_finalize(st);
    st = NULL;
    what = "read the key";
    if ((rc = sqlite3_prepare_v2(db, "SELECT private_pem FROM webpush_vapid WHERE id = 1", -1, &st,
                                 NULL)) != SQLITE_OK)
        goto out;
    if ((rc = sqlite3_step(st)) != SQLITE_ROW)
        goto out;
    rc = SQLITE_OK;
    const char *stored = (const char *)sqlite3_column_text(st, 0);
    char err[200] = "empty";
    if (!stored || !(k = wp_key_from_pem(stored, strlen(stored), err, sizeof err)))
        host->fail(host,
                   "webpush_vapid in %s holds a bad key (%s): delete the row to make a new "
                   "one (browsers must then subscribe again)",
                   path, err);
out:
    if (rc != SQLITE_OK)
        host->fail(host, "database %s: cannot %s: %s", path, what,
                   db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (pem) {
        memset(pem, 0, strlen(pem));
        free(pem);
    }
    EVP_PKEY_free(fresh);
    return k;
}

EVP_PKEY *wp_keystore_load(const vg_host *host, const vg_config *cfg, const wp_settings *s)
{
    return *s->key_file ? from_file(host, cfg, s->key_file) : from_db(host);
}
