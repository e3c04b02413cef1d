/* monitor: the store's connections, shared by store*.c only (and the store's
 * white-box unit test). Everything else sees an opaque mon_store. */
#ifndef MONITOR_STORE_DB_H
#define MONITOR_STORE_DB_H

#include <pthread.h>
#include <sqlite3.h>

#include "store.h"

struct mon_store {
    sqlite3 *w; /* writer: the sweep thread */
    sqlite3 *r; /* reader: bus methods, behind rmu */
    pthread_mutex_t rmu;
};

#endif
