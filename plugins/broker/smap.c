/* A small string-keyed hash map with chaining (FNV-1a). Not thread-safe:
 * callers hold the broker lock. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

static size_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)h;
}

int smap_init(smap *m, size_t nbuckets)
{
    m->buckets = calloc(nbuckets, sizeof *m->buckets);
    m->nbuckets = nbuckets;
    m->count = 0;
    return m->buckets ? 0 : -ENOMEM;
}

void smap_free(smap *m, void (*free_value)(void *))
{
    if (!m->buckets)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        smap_entry *e = m->buckets[i];
        while (e) {
            smap_entry *next = e->next;
            if (free_value)
                free_value(e->value);
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = NULL;
    m->count = 0;
}

void *smap_get(const smap *m, const char *key)
{
    for (smap_entry *e = m->buckets[hash(key) % m->nbuckets]; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e->value;
    return NULL;
}

int smap_put(smap *m, const char *key, void *value)
{
    size_t b = hash(key) % m->nbuckets;
    for (smap_entry *e = m->buckets[b]; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return -EEXIST;
    size_t klen = strlen(key);
    smap_entry *e = malloc(sizeof *e + klen + 1);
    if (!e)
        return -ENOMEM;
    memcpy(e->key, key, klen + 1);
    e->value = value;
    e->next = m->buckets[b];
    m->buckets[b] = e;
    m->count++;
    return 0;
}

void *smap_del(smap *m, const char *key)
{
    smap_entry **pp = &m->buckets[hash(key) % m->nbuckets];
    for (; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->key, key) == 0) {
            smap_entry *e = *pp;
            void *v = e->value;
            *pp = e->next;
            free(e);
            m->count--;
            return v;
        }
    }
    return NULL;
}

void smap_each(smap *m, int (*fn)(const char *key, void *value, void *arg), void *arg)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        smap_entry **pp = &m->buckets[i];
        while (*pp) {
            smap_entry *e = *pp;
            if (fn(e->key, e->value, arg)) {
                *pp = e->next;
                free(e);
                m->count--;
            } else {
                pp = &e->next;
            }
        }
    }
}
