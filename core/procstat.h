#ifndef VIGIA_CORE_PROCSTAT_H
#define VIGIA_CORE_PROCSTAT_H

#include <jansson.h>

/* The process's resident memory, descriptors, threads and malloc's view of its heap
 * (process.stats in docs/events.md); values that cannot be read are -1. */
json_t *core_process_stats(void);

#endif
