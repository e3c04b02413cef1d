/* libFuzzer target: the CKAN listing parser (plugins/monitor/listing.c:
 * mon_parse_page, mon_utf8_sanitize) and the dataset diff of a sweep
 * (diff_dataset in plugins/monitor/sweep.c, static there: this file compiles
 * sweep.c itself so the real function is fuzzed without moving it).
 *
 * Input: one package_search page, or two joined by a \x1e byte: the previous
 * sweep's page and the current one. The previous listing becomes the "what
 * the database knows" side of the diff (same fields the store keeps).
 * Checks, beyond "no crash": sanitized text is valid UTF-8; a listing never
 * holds an id twice; a page parsed again adds nothing new; every diff
 * serializes. */
#include "../../../plugins/monitor/sweep.c"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mon_portal_cfg cfg_all, cfg_filtered;

static void init_cfgs(void)
{
    if (cfg_all.base_url)
        return;
    cfg_all.name = "fuzz";
    cfg_all.base_url = "https://portal.example";
    cfg_all.include_orgs = json_array();
    cfg_all.exclude_orgs = json_array();
    cfg_filtered = cfg_all;
    cfg_filtered.include_orgs = json_pack("[s, s]", "org-a", "ministerio-de-salud");
    cfg_filtered.exclude_orgs = json_pack("[s]", "org-b");
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

/* What the store would give back for a listing (mon_store_load_prev's shape). */
static void listing_to_prev(const mon_listing *l, mon_prev *p)
{
    p->n = l->n;
    p->ds = calloc(l->n ? l->n : 1, sizeof *p->ds);
    if (!p->ds)
        abort();
    for (size_t i = 0; i < l->n; i++) {
        const mon_ds *d = &l->ds[i];
        mon_prev_ds *o = &p->ds[i];
        o->id = strdup(d->id);
        o->name = dup_or_null(d->name);
        o->title = dup_or_null(d->title);
        o->org = dup_or_null(d->org);
        o->org_title = dup_or_null(d->org_title);
        o->url = dup_or_null(d->url);
        o->modified = dup_or_null(d->modified);
        o->nres = d->nres;
        o->res = calloc(d->nres ? d->nres : 1, sizeof *o->res);
        if (!o->res)
            abort();
        for (size_t k = 0; k < d->nres; k++) {
            o->res[k].id = strdup(d->res[k].id);
            o->res[k].url = dup_or_null(d->res[k].url);
            o->res[k].name = dup_or_null(d->res[k].name); /* identity.c pairs by name too */
        }
    }
    if (p->n > 1)
        qsort(p->ds, p->n, sizeof *p->ds, cmp_prev);
}

static void check_unique(mon_listing *l)
{
    if (l->n > 1)
        qsort(l->ds, l->n, sizeof *l->ds, cmp_ds);
    for (size_t i = 1; i < l->n; i++)
        if (strcmp(l->ds[i - 1].id, l->ds[i].id) == 0)
            abort(); /* de-duplication failed */
}

static void parse(const char *page, size_t len, const mon_portal_cfg *cfg, mon_listing *l)
{
    char err[300];
    size_t fresh = 0;
    int got = mon_parse_page(page, len, cfg, l, &fresh, err, sizeof err);
    if (got >= 0) {
        size_t again = 0;
        if (mon_parse_page(page, len, cfg, l, &again, err, sizeof err) != got)
            abort();
        /* filtered-out datasets count as progress, so only a filter-free page must add 0 */
        if (!json_array_size(cfg->include_orgs) && !json_array_size(cfg->exclude_orgs) &&
            again != 0)
            abort();
    }
    check_unique(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_cfgs();
    /* The sanitizer alone: what comes out must be valid UTF-8. */
    char *copy = malloc(size + 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    mon_utf8_sanitize(copy, size);
    json_t *s = json_stringn(copy, size); /* NULL when not valid UTF-8 */
    if (!s)
        abort();
    json_decref(s);
    free(copy);

    const uint8_t *sep = memchr(data, 0x1e, size);
    const char *prev_page = sep ? (const char *)data : NULL;
    size_t prev_len = sep ? (size_t)(sep - data) : 0;
    const char *cur_page = sep ? (const char *)sep + 1 : (const char *)data;
    size_t cur_len = sep ? size - prev_len - 1 : size;

    mon_listing before = {0}, now = {0}, filtered = {0};
    if (prev_page)
        parse(prev_page, prev_len, &cfg_all, &before);
    parse(cur_page, cur_len, &cfg_all, &now);
    parse(cur_page, cur_len, &cfg_filtered, &filtered);
    if (filtered.n > now.n)
        abort(); /* a filter never adds datasets */

    mon_prev prev = {0};
    listing_to_prev(&before, &prev);
    for (size_t i = 0; i < now.n; i++) {
        mon_prev_ds key = {.id = now.ds[i].id};
        mon_prev_ds *pd = prev.n ? bsearch(&key, prev.ds, prev.n, sizeof *prev.ds, cmp_prev) : NULL;
        if (!pd)
            continue;
        json_t *ch = diff_dataset(pd, &now.ds[i]);
        if (ch) {
            char *text = json_dumps(ch, JSON_COMPACT);
            if (!text)
                abort();
            free(text);
            json_decref(ch);
        }
    }
    mon_prev_free(&prev);
    /* A dataset compared with itself as the store would keep it has no changes. */
    listing_to_prev(&now, &prev);
    for (size_t i = 0; i < now.n; i++) {
        mon_prev_ds key = {.id = now.ds[i].id};
        mon_prev_ds *pd = bsearch(&key, prev.ds, prev.n, sizeof *prev.ds, cmp_prev);
        json_t *ch = pd ? diff_dataset(pd, &now.ds[i]) : NULL;
        if (!pd || ch)
            abort();
    }
    mon_prev_free(&prev);
    mon_listing_free(&before);
    mon_listing_free(&now);
    mon_listing_free(&filtered);
    return 0;
}
