/* Rate limits: fixed one-window counters in a small open-addressing table.
 * Memory is bounded: when a probe run is full, the oldest window is evicted
 * (an attacker rotating keys can at worst reset someone's count early). */
#include "watch_plugin.h"

#include <stdlib.h>
#include <string.h>

#define SLOTS 8192
#define PROBE 16

typedef struct slot {
    char key[96];
    int64_t start, window;
    long long count;
} slot;

struct watch_limits {
    pthread_mutex_t mu;
    slot s[SLOTS];
};

watch_limits *watch_limits_new(void)
{
    watch_limits *l = calloc(1, sizeof *l);
    if (l)
        pthread_mutex_init(&l->mu, NULL);
    return l;
}

void watch_limits_free(watch_limits *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->mu);
    free(l);
}

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

bool watch_limit_hit(watch_limits *l, const char *key, long long limit, int64_t window_ms,
                     int64_t now)
{
    if (limit <= 0)
        return false;
    uint64_t h = fnv(key);
    pthread_mutex_lock(&l->mu);
    slot *found = NULL, *victim = NULL;
    bool victim_free = false;
    for (int i = 0; i < PROBE; i++) {
        slot *s = &l->s[(h + (uint64_t)i) % SLOTS];
        if (strncmp(s->key, key, sizeof s->key - 1) == 0 && s->key[0]) {
            found = s;
            break;
        }
        bool expired = !s->key[0] || now - s->start >= s->window;
        if (expired && !victim_free) {
            victim = s;
            victim_free = true;
        } else if (!victim_free && (!victim || s->start < victim->start)) {
            victim = s;
        }
    }
    if (found && now - found->start >= found->window) {
        found->start = now;
        found->count = 0;
    }
    if (!found) {
        found = victim;
        memset(found, 0, sizeof *found);
        strncpy(found->key, key, sizeof found->key - 1);
        found->start = now;
    }
    found->window = window_ms;
    found->count++;
    bool over = found->count > limit;
    pthread_mutex_unlock(&l->mu);
    return over;
}
