/* Fuzz targets: run a parse on a thread whose stack is as small as a civetweb
 * worker's (the server's handlers run there), so input that recurses too deep
 * is reported as the stack overflow it would be in the server, not hidden by
 * the 8 MiB main stack libFuzzer runs on. */
#ifndef FUZZ_STACK_H
#define FUZZ_STACK_H

#include <pthread.h>
#include <stdlib.h>

/* civetweb 1.15's worker stack in the server (see CMakeLists.txt: -Wstack-usage). */
#define FUZZ_HANDLER_STACK (100 * 1024)

static inline void fuzz_on_handler_stack(void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    pthread_t t;
    if (pthread_attr_init(&attr) != 0 ||
        pthread_attr_setstacksize(&attr, FUZZ_HANDLER_STACK) != 0 ||
        pthread_create(&t, &attr, fn, arg) != 0)
        abort();
    pthread_attr_destroy(&attr);
    pthread_join(t, NULL);
}

#endif
