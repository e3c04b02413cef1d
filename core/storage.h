/* Storage watch: the database file every plugin writes must stay the file
 * they opened. Deleted or replaced while running, SQLite keeps writing into
 * the old inode and everything acknowledged is gone at the next start; made
 * immutable, the first write to its memory-mapped WAL index (-shm) raises
 * SIGBUS. The watch notices both (a timer, and a fresh check whenever a
 * plugin asks before or after a write), logs the reason once, turns
 * /api/health to 503, and lets plugins refuse writes (host->storage_ok). */
#ifndef CORE_STORAGE_H
#define CORE_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct core_storage core_storage;

core_storage *core_storage_new(const char *db_path, int64_t interval_ms);
/* Record the file's identity (if it exists yet) and start the timer. */
int core_storage_start(core_storage *st);
void core_storage_free(core_storage *st);
/* Check now. true when the database is usable; otherwise `why` (may be
 * NULL) gets the reason. Once broken it stays broken until a restart: the
 * plugins' connections still point at the old file. */
bool core_storage_ok(core_storage *st, char *why, size_t n);

/* Catch SIGBUS on a memory-mapped file (SQLite's -shm): the faulting page is
 * replaced by anonymous memory with the same contents so the process lives,
 * and the next check reports the storage as broken. Once, before threads. */
void core_storage_install_sigbus(void);

#endif
