/* Connection state recovery (socket.io >= 4.6): a log of broadcast packets
 * with their offsets, and the state of recently disconnected sockets. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"

static void rec_free(void *v)
{
    brk_recovery_rec *r = v;
    json_decref(r->rooms);
    free(r);
}

void brk_recovery_save_locked(brk_state *b, brk_session *s)
{
    brk_recovery_rec *r = calloc(1, sizeof *r);
    if (!r)
        return;
    memcpy(r->pid, s->pid, sizeof r->pid);
    memcpy(r->sio_sid, s->sio_sid, sizeof r->sio_sid);
    r->rooms = json_array();
    for (int i = 0; i < s->nrooms; i++)
        if (!strchr(s->rooms[i].r->name, '\x1f')) /* a plugin namespace's: not recovered */
            json_array_append_new(r->rooms, json_string(s->rooms[i].r->name));
    r->admin = s->admin;
    r->at = now_ms(b);
    brk_recovery_rec *old = brk_smap_del(&b->recovery, r->pid);
    if (old)
        rec_free(old);
    if (brk_smap_put(&b->recovery, r->pid, r) < 0)
        rec_free(r);
}

static void entry_free(brk_log_entry *e)
{
    brk_msg_unref(e->m);
    if (e->rooms) {
        for (int i = 0; e->rooms[i]; i++)
            free(e->rooms[i]);
        free(e->rooms);
    }
    memset(e, 0, sizeof *e);
}

static void evict_oldest(brk_state *b)
{
    brk_log_entry *e = &b->log[b->log_head];
    b->log_evicted_upto = e->seq;
    b->log_bytes -= e->m->text_len;
    entry_free(e);
    b->log_head = (b->log_head + 1) % (size_t)b->cfg.recovery_log_max;
    b->log_len--;
}

void brk_recovery_log_append_locked(brk_state *b, uint64_t seq, brk_msg *m,
                                    const char *const *rooms)
{
    if (!b->log || b->cfg.recovery_window <= 0)
        return;
    if ((long long)b->log_len == b->cfg.recovery_log_max)
        evict_oldest(b);
    while (b->log_len && (long long)(b->log_bytes + m->text_len) > b->cfg.recovery_log_bytes)
        evict_oldest(b);
    brk_log_entry *e = &b->log[(b->log_head + b->log_len) % (size_t)b->cfg.recovery_log_max];
    e->seq = seq;
    e->at = now_ms(b);
    e->m = brk_msg_ref(m);
    b->log_bytes += m->text_len;
    e->rooms = NULL;
    if (rooms) {
        int n = 0;
        while (rooms[n])
            n++;
        e->rooms = calloc((size_t)n + 1, sizeof *e->rooms);
        for (int i = 0; e->rooms && i < n; i++)
            e->rooms[i] = strdup(rooms[i]);
    }
    b->log_len++;
}

static int entry_matches(const brk_log_entry *e, brk_session *s)
{
    if (!e->rooms)
        return 1;
    for (int i = 0; e->rooms[i]; i++)
        if (brk_session_in_room_locked(s, e->rooms[i]))
            return 1;
    return 0;
}

int brk_recovery_restore_locked(brk_state *b, brk_session *s, const char *pid, const char *offset)
{
    brk_recovery_rec *r = brk_smap_get(&b->recovery, pid);
    if (!r)
        return 0;
    int64_t now = now_ms(b);
    char *end;
    errno = 0;
    unsigned long long off = strtoull(offset, &end, 10);
    if (now - r->at > b->cfg.recovery_window || errno || *end || end == offset ||
        off < b->log_evicted_upto || off > atomic_load(&b->offset_seq))
        return 0;
    brk_smap_del(&b->recovery, pid);
    memcpy(s->sio_sid, r->sio_sid, sizeof s->sio_sid);
    memcpy(s->pid, r->pid, sizeof s->pid);
    size_t i;
    json_t *name;
    json_array_foreach (r->rooms, i, name)
        brk_rooms_join_locked(b, s, json_string_value(name));
    /* Replay, in offset order, what this socket's rooms got after `offset`. */
    pthread_mutex_lock(&s->lock);
    for (size_t k = 0; k < b->log_len; k++) {
        brk_log_entry *e = &b->log[(b->log_head + k) % (size_t)b->cfg.recovery_log_max];
        if (e->seq > off && entry_matches(e, s))
            brk_session_enqueue_locked(s, e->m);
    }
    pthread_mutex_unlock(&s->lock);
    rec_free(r);
    return 1;
}

static int expire_rec(const char *key, void *value, void *arg)
{
    (void)key;
    int64_t *limit = arg;
    brk_recovery_rec *r = value;
    if (r->at < *limit) {
        rec_free(r);
        return 1;
    }
    return 0;
}

void brk_recovery_expire_locked(brk_state *b, int64_t now)
{
    int64_t limit = now - b->cfg.recovery_window;
    while (b->log_len && b->log[b->log_head].at < limit)
        evict_oldest(b);
    if (b->recovery.count)
        brk_smap_each(&b->recovery, expire_rec, &limit);
}

void brk_recovery_free_all(brk_state *b)
{
    while (b->log && b->log_len)
        evict_oldest(b);
    free(b->log);
    b->log = NULL;
    brk_smap_free(&b->recovery, rec_free);
}
