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

int brk_smap_init(brk_smap *m, size_t nbuckets)
{
    m->buckets = calloc(nbuckets, sizeof *m->buckets);
    m->nbuckets = nbuckets;
    m->count = 0;
    return m->buckets ? 0 : -ENOMEM;
}

void brk_smap_free(brk_smap *m, void (*free_value)(void *))
{
    if (!m->buckets)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        brk_smap_entry *e = m->buckets[i];
        while (e) {
            brk_smap_entry *next = e->next;
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

void *brk_smap_get(const brk_smap *m, const char *key)
{
    for (brk_smap_entry *e = m->buckets[hash(key) % m->nbuckets]; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e->value;
    return NULL;
}

int brk_smap_put(brk_smap *m, const char *key, void *value)
{
    size_t b = hash(key) % m->nbuckets;
    for (brk_smap_entry *e = m->buckets[b]; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return -EEXIST;
    size_t klen = strlen(key);
    brk_smap_entry *e = malloc(sizeof *e + klen + 1);
    if (!e)
        return -ENOMEM;
    memcpy(e->key, key, klen + 1);
    e->value = value;
    e->next = m->buckets[b];
    m->buckets[b] = e;
    m->count++;
    return 0;
}

void *brk_smap_del(brk_smap *m, const char *key)
{
    brk_smap_entry **pp = &m->buckets[hash(key) % m->nbuckets];
    for (; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->key, key) == 0) {
            brk_smap_entry *e = *pp;
            void *v = e->value;
            *pp = e->next;
            free(e);
            m->count--;
            return v;
        }
    }
    return NULL;
}

void brk_smap_each(brk_smap *m, int (*fn)(const char *key, void *value, void *arg), void *arg)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        brk_smap_entry **pp = &m->buckets[i];
        while (*pp) {
            brk_smap_entry *e = *pp;
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
