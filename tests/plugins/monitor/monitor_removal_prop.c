/* Property test of the monitor's removal rules (paging.c + removal.c, the
 * same code the plugin runs) against a model portal: random edits (add,
 * delete, make private, re-add), edits between two pages of a listing, and
 * transient faults (a failed page, an empty page before count, a partial
 * index), over many sweeps. Checked:
 *   - a removal is announced only for a dataset really gone, missing from the
 *     last `remove_after` complete listings, and only once;
 *   - after the portal settles, every dataset really gone is announced and
 *     every live one is known and not removed.
 * Seeded (VIGIA_PROP_SEED=<n> replays one run), bounded in time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "monitor.h"

#define NIDS 48
enum { ABSENT = 0, LIVE, PRIVATE };

typedef struct world {
    uint64_t rng;
    int truth[NIDS]; /* the portal */
    char id[NIDS][8];
    /* the monitor */
    bool known[NIDS];   /* in its store, live */
    bool removed[NIDS]; /* announced removed (and not back since) */
    int missing[NIDS];
    bool held;
    int remove_after;
    double max_fraction;
    /* the model's view of listings */
    int absent_streak[NIDS]; /* consecutive complete listings without it */
    int hide;                /* partial index this sweep */
    unsigned long long seed;
    int sweep;
} world;

static uint64_t rnd(world *w)
{
    uint64_t z = (w->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int pick(world *w, int n) { return (int)(rnd(w) % (uint64_t)n); }

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "property failed (seed %llu, sweep %d): ", w->seed, w->sweep);         \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

static void edit(world *w)
{
    int i = pick(w, NIDS);
    switch (pick(w, 4)) {
    case 0: /* add or re-add */
        w->truth[i] = LIVE;
        break;
    case 1: /* delete */
        w->truth[i] = ABSENT;
        break;
    case 2: /* make private (or public again) */
        if (w->truth[i] != ABSENT)
            w->truth[i] = w->truth[i] == PRIVATE ? LIVE : PRIVATE;
        break;
    default:
        break;
    }
}

/* The public, searchable ids in id order, minus a partial index's tail. */
static int visible(const world *w, int *out)
{
    int n = 0;
    for (int i = 0; i < NIDS; i++)
        if (w->truth[i] == LIVE)
            out[n++] = i;
    return n - w->hide > 0 ? n - w->hide : 0;
}

/* One listing by offset paging. Returns -1 failed, else 0 with listed[] and
 * *complete. */
static int list(world *w, bool listed[NIDS], bool *complete, bool faults)
{
    memset(listed, 0, NIDS * sizeof *listed);
    mon_pager pg;
    mon_pager_init(&pg, 3 + pick(w, 5));
    w->hide = faults && pick(w, 8) == 0 ? 1 + pick(w, 6) : 0;
    for (int page = 0; page < 1000; page++) {
        if (faults && pick(w, 25) == 0)
            return -1; /* every retry failed */
        if (faults && page > 0 && pick(w, 3) == 0)
            for (int k = pick(w, 3); k >= 0; k--)
                edit(w); /* the portal changes between two pages */
        int vis[NIDS];
        int count = visible(w, vis);
        bool empty = faults && pick(w, 30) == 0;
        size_t got = 0, fresh = 0;
        for (long long k = pg.start; !empty && k < count && k < pg.start + pg.rows; k++) {
            got++;
            fresh += !listed[vis[k]];
            listed[vis[k]] = true;
        }
        if (mon_pager_page(&pg, count, got, fresh))
            break;
    }
    *complete = pg.state == MON_PAGER_COMPLETE;
    return 0;
}

static int confirm(void *ctx, const char *id)
{
    world *w = ctx;
    int i = atoi(id + 1);
    /* package_show: 404 when deleted, 403 when private (proves nothing) */
    return w->truth[i] == ABSENT ? 1 : w->truth[i] == LIVE ? 0 : -1;
}

/* One sweep of the monitor, as sweep.c does it. */
static void sweep(world *w, bool faults)
{
    w->sweep++;
    bool listed[NIDS], complete;
    if (list(w, listed, &complete, faults) < 0)
        return;
    if (complete)
        for (int i = 0; i < NIDS; i++)
            w->absent_streak[i] = listed[i] ? 0 : w->absent_streak[i] + 1;
    mon_rm_item items[NIDS];
    int map[NIDS], n = 0;
    for (int i = 0; i < NIDS; i++) {
        if (!w->known[i])
            continue;
        items[n] = (mon_rm_item){.id = w->id[i], .listed = listed[i], .missing = w->missing[i]};
        map[n++] = i;
    }
    mon_rm_opts o = {.remove_after = w->remove_after,
                     .max_fraction = w->max_fraction,
                     .confirm = confirm,
                     .ctx = w};
    mon_rm_result r;
    mon_removal_plan(items, (size_t)n, complete, w->held, &o, &r);
    if (complete)
        w->held = r.held;
    for (int k = 0; k < n; k++) {
        int i = map[k];
        w->missing[i] = items[k].missing;
        if (!items[k].remove)
            continue;
        CHECK(w->truth[i] == ABSENT, "%s announced removed but it is %s", w->id[i],
              w->truth[i] == LIVE ? "live" : "private");
        CHECK(w->absent_streak[i] >= w->remove_after,
              "%s announced removed after %d complete listings without it (need %d)", w->id[i],
              w->absent_streak[i], w->remove_after);
        CHECK(!w->removed[i], "%s announced removed twice", w->id[i]);
        w->removed[i] = true;
        w->known[i] = false;
    }
    for (int i = 0; i < NIDS; i++) /* listed: (again) a live dataset */
        if (listed[i] && !w->known[i]) {
            w->known[i] = true;
            w->removed[i] = false;
            w->missing[i] = 0;
        }
}

static void one_run(unsigned long long seed)
{
    world ws, *w = &ws;
    memset(w, 0, sizeof *w);
    w->seed = seed;
    w->rng = seed;
    for (int i = 0; i < NIDS; i++) {
        snprintf(w->id[i], sizeof w->id[i], "d%02d", i);
        w->truth[i] = pick(w, 4) ? LIVE : ABSENT;
    }
    w->remove_after = 1 + pick(w, 3);
    w->max_fraction = pick(w, 2) ? 0.1 : 1.0;
    int sweeps = 10 + pick(w, 30);
    for (int s = 0; s < sweeps; s++) {
        for (int k = pick(w, 4); k > 0; k--)
            edit(w);
        sweep(w, true);
    }
    /* the portal settles: no edits, no faults */
    for (int s = 0; s < w->remove_after + 3; s++)
        sweep(w, false);
    for (int i = 0; i < NIDS; i++) {
        if (w->truth[i] == LIVE)
            CHECK(w->known[i] && !w->removed[i], "%s is live but not known", w->id[i]);
        if (w->truth[i] == ABSENT)
            CHECK(!w->known[i], "%s is gone but was never announced removed", w->id[i]);
    }
}

static void removals_match_the_model(void **state)
{
    (void)state;
    const char *env = getenv("VIGIA_PROP_SEED");
    if (env) {
        one_run(strtoull(env, NULL, 10));
        return;
    }
    unsigned long long base = (unsigned long long)time(NULL);
    fprintf(stderr, "# property runs from seed %llu (VIGIA_PROP_SEED replays one)\n", base);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int runs = 0;
    for (; runs < 20000; runs++) {
        one_run(base + (unsigned long long)runs);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (t1.tv_sec - t0.tv_sec >= 5)
            break; /* bounded in time */
    }
    fprintf(stderr, "# %d runs\n", runs);
}

/* The pager's rules, one by one. */
static void pager_rules(void **state)
{
    (void)state;
    mon_pager pg;
    mon_pager_init(&pg, 5);
    assert_int_equal(mon_pager_page(&pg, 12, 5, 5), 0);
    assert_int_equal(mon_pager_page(&pg, 12, 5, 5), 0);
    assert_int_equal(mon_pager_page(&pg, 12, 2, 2), 1);
    assert_int_equal(pg.state, MON_PAGER_COMPLETE);
    mon_pager_init(&pg, 5); /* the count moves */
    assert_int_equal(mon_pager_page(&pg, 12, 5, 5), 0);
    assert_int_equal(mon_pager_page(&pg, 11, 5, 5), 1);
    assert_int_equal(pg.state, MON_PAGER_INCOMPLETE);
    mon_pager_init(&pg, 5); /* an empty page before count */
    assert_int_equal(mon_pager_page(&pg, 12, 5, 5), 0);
    assert_int_equal(mon_pager_page(&pg, 12, 0, 0), 1);
    assert_int_equal(pg.state, MON_PAGER_INCOMPLETE);
    mon_pager_init(&pg, 5); /* fewer distinct ids than count (a duplicate) */
    assert_int_equal(mon_pager_page(&pg, 10, 5, 5), 0);
    assert_int_equal(mon_pager_page(&pg, 10, 5, 4), 1);
    assert_int_equal(pg.state, MON_PAGER_INCOMPLETE);
    mon_pager_init(&pg, 5); /* an empty portal */
    assert_int_equal(mon_pager_page(&pg, 0, 0, 0), 1);
    assert_int_equal(pg.state, MON_PAGER_COMPLETE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pager_rules),
        cmocka_unit_test(removals_match_the_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
