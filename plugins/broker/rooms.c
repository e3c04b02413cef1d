/* Rooms: validated names, memberships with O(1) removal, and the broadcast
 * that builds one frame and only enqueues. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

#define ROOM_NAME_MAX 128

int brk_room_name_valid(const char *name, const char **why)
{
    size_t n = strlen(name);
    if (n == 0 || n > ROOM_NAME_MAX) {
        *why = "expected 1 to 128 characters";
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':')) {
            *why = "only letters, digits and - _ . : are allowed";
            return 0;
        }
    }
    if (strcmp(name, "notifications") == 0 || strcmp(name, "datasets") == 0 ||
        strcmp(name, "stats") == 0)
        return 1;
    static const char *const prefixes[] = {"dataset:", "organization:", "portal:", NULL};
    for (int i = 0; prefixes[i]; i++) {
        size_t p = strlen(prefixes[i]);
        if (strncmp(name, prefixes[i], p) == 0 && n > p && !strchr(name + p, ':'))
            return 1;
    }
    *why = "unknown room; expected notifications, datasets, stats, dataset:<id>, "
           "organization:<name> or portal:<name>";
    return 0;
}

int brk_session_in_room_locked(brk_session *s, const char *name)
{
    for (int i = 0; i < s->nrooms; i++)
        if (strcmp(s->rooms[i].r->name, name) == 0)
            return 1;
    return 0;
}

int brk_rooms_join_locked(brk_state *b, brk_session *s, const char *name)
{
    if (brk_session_in_room_locked(s, name))
        return -EEXIST;
    if (s->nrooms >= b->cfg.max_rooms)
        return -E2BIG;
    if (s->nrooms == s->rooms_cap) {
        int cap = s->rooms_cap ? s->rooms_cap * 2 : 2;
        brk_room_slot *r = realloc(s->rooms, (size_t)cap * sizeof *r);
        if (!r)
            return -ENOMEM;
        s->rooms = r;
        s->rooms_cap = cap;
    }
    brk_room *r = brk_smap_get(&b->rooms, name);
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r || !(r->name = strdup(name)) || brk_smap_put(&b->rooms, name, r) < 0) {
            if (r)
                free(r->name);
            free(r);
            return -ENOMEM;
        }
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 4;
        brk_session **m = realloc(r->members, cap * sizeof *m);
        if (!m)
            return -ENOMEM;
        r->members = m;
        r->cap = cap;
    }
    r->members[r->n] = s;
    s->rooms[s->nrooms++] = (brk_room_slot){r, r->n};
    r->n++;
    return 0;
}

static void free_room(void *v)
{
    brk_room *r = v;
    free(r->members);
    free(r->name);
    free(r);
}

static void leave_slot(brk_state *b, brk_session *s, int i)
{
    brk_room *r = s->rooms[i].r;
    size_t idx = s->rooms[i].idx;
    brk_session *last = r->members[r->n - 1];
    r->members[idx] = last;
    r->n--;
    if (last != s) {
        for (int k = 0; k < last->nrooms; k++)
            if (last->rooms[k].r == r) {
                last->rooms[k].idx = idx;
                break;
            }
    }
    s->rooms[i] = s->rooms[--s->nrooms];
    if (r->n == 0) {
        brk_smap_del(&b->rooms, r->name);
        free_room(r);
    }
}

int brk_rooms_leave_locked(brk_state *b, brk_session *s, const char *name)
{
    for (int i = 0; i < s->nrooms; i++)
        if (strcmp(s->rooms[i].r->name, name) == 0) {
            leave_slot(b, s, i);
            return 0;
        }
    return -ENOENT;
}

int brk_rooms_change(brk_state *b, brk_session *s, const char *key, bool join)
{
    pthread_mutex_lock(&b->lock);
    int rc = !s->in_table ? -ENOENT
             : join       ? brk_rooms_join_locked(b, s, key)
                          : brk_rooms_leave_locked(b, s, key);
    /* a namespace's room ("<nsp>\x1f<name>") is not in the resume state */
    json_t *state = rc == 0 && !strchr(key, '\x1f') ? brk_resume_state_locked(b, s, 0) : NULL;
    pthread_mutex_unlock(&b->lock);
    brk_resume_publish(b, state);
    return rc;
}

void brk_rooms_leave_all_locked(brk_state *b, brk_session *s)
{
    while (s->nrooms > 0)
        leave_slot(b, s, s->nrooms - 1);
}

static int add_room_status(const char *key, void *value, void *arg)
{
    brk_room *r = value;
    json_array_append_new(arg, json_pack("{s:s,s:I}", "name", key, "members", (json_int_t)r->n));
    return 0;
}

json_t *brk_rooms_status_locked(brk_state *b)
{
    json_t *a = json_array();
    if (a)
        brk_smap_each(&b->rooms, add_room_status, a);
    return a;
}

typedef struct victims {
    brk_session **v;
    size_t n, cap;
} victims;

static void deliver(brk_session *s, brk_msg *m, victims *vs, brk_sched_batch *batch)
{
    pthread_mutex_lock(&s->lock);
    int rc = brk_session_enqueue_batch_locked(s, m, batch);
    pthread_mutex_unlock(&s->lock);
    if (rc == 0)
        return;
    if (vs->n == vs->cap) {
        size_t cap = vs->cap ? vs->cap * 2 : 16;
        brk_session **v = realloc(vs->v, cap * sizeof *v);
        if (!v)
            return; /* it will overflow again on the next message */
        vs->v = v;
        vs->cap = cap;
    }
    brk_session_ref(s);
    vs->v[vs->n++] = s;
}

brk_msg *brk_broadcast_msg(brk_state *b, const char *event, const json_t *arg, uint64_t seq)
{
    char off[24];
    snprintf(off, sizeof off, "%" PRIu64, seq);
    json_t *arr = json_pack("[s]", event);
    if (arr && arg)
        json_array_append(arr, (json_t *)arg);
    if (arr && b->cfg.recovery_window > 0)
        json_array_append_new(arr, json_string(off)); /* the offset: only with recovery on */
    size_t len = 0;
    char *text = arr ? brk_sio_encode(SIO_EVENT, "/", -1, arr, 1, &len) : NULL;
    json_decref(arr);
    brk_msg *m = text ? brk_msg_new(text, len) : NULL;
    free(text);
    return m;
}

int brk_broadcast(brk_state *b, const char *const *rooms, const char *event, json_t *arg)
{
    return brk_broadcast_at(b, rooms, event, arg, 0);
}

int brk_broadcast_at(brk_state *b, const char *const *rooms, const char *event, json_t *arg,
                     uint64_t offset)
{
    victims vs = {0};
    brk_sched_batch batch = {0};
    pthread_mutex_lock(&b->lock);
    uint64_t seq;
    if (offset) { /* the cluster's: offsets after it continue from there */
        seq = offset;
        uint_fast64_t cur = atomic_load(&b->offset_seq);
        while (cur < offset && !atomic_compare_exchange_weak(&b->offset_seq, &cur, offset))
            ;
    } else {
        seq = atomic_fetch_add(&b->offset_seq, 1) + 1;
    }
    brk_msg *m = brk_broadcast_msg(b, event, arg, seq);
    json_decref(arg);
    if (!m) {
        pthread_mutex_unlock(&b->lock);
        return -ENOMEM;
    }
    brk_recovery_log_append_locked(b, seq, m, rooms);
    uint64_t mark = ++b->bcast_mark;
    if (!rooms) {
        for (brk_session *s = b->list; s; s = s->next)
            if (s->sio_connected && seq > s->resume_upto)
                deliver(s, m, &vs, &batch);
    } else {
        for (int i = 0; rooms[i]; i++) {
            brk_room *r = brk_smap_get(&b->rooms, rooms[i]);
            for (size_t k = 0; r && k < r->n; k++) {
                brk_session *s = r->members[k];
                if (s->bcast_mark == mark || seq <= s->resume_upto)
                    continue; /* in several of the target rooms: once; or replayed (resume.c) */
                s->bcast_mark = mark;
                deliver(s, m, &vs, &batch);
            }
        }
    }
    pthread_mutex_unlock(&b->lock);
    brk_sched_batch_flush(b, &batch);
    brk_msg_unref(m);
    for (size_t i = 0; i < vs.n; i++) {
        atomic_fetch_add(&b->dropped_backlog, 1);
        brk_session_terminate(vs.v[i], "backlog overflow", TERM_RECOVERABLE | TERM_CLOSE_WS);
        brk_session_unref(vs.v[i]);
    }
    free(vs.v);
    return 0;
}
