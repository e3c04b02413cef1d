/* Helpers shared by the notifications integration tests (see nt_it.h). */
#include "nt_it.h"

#include <string.h>

/* Waiting for a notification.created event whose title is `title`. */
typedef struct wait_title {
    const vgt_server *s;
    const char *title;
    json_t *found; /* the event payload, new reference */
} wait_title;

static int created_with_title(void *arg)
{
    wait_title *w = arg;
    json_t *ev = vgt_bus_events(w->s, 0, "notification.created");
    size_t i;
    json_t *e;
    json_array_foreach (ev, i, e) {
        json_t *p = json_object_get(e, "payload");
        const char *t =
            json_string_value(json_object_get(json_object_get(p, "notification"), "title"));
        if (t && !strcmp(t, w->title)) {
            w->found = json_incref(p);
            break;
        }
    }
    json_decref(ev);
    return w->found != NULL;
}

json_t *wait_created(const vgt_server *s, const char *title)
{
    wait_title w = {.s = s, .title = title};
    vgt_wait_until(created_with_title, &w, 15000);
    return w.found;
}

json_t *list_all(const vgt_server *s)
{
    int rc = 0;
    json_t *res =
        vgt_bus_call_result(s, "notifications.list", json_pack("{s:i}", "limit", 1000), &rc);
    if (rc != 0) {
        json_decref(res);
        return NULL;
    }
    return res;
}

json_t *find_by_title(json_t *list, const char *title)
{
    size_t i;
    json_t *n;
    json_array_foreach (json_object_get(list, "notifications"), i, n) {
        if (!strcmp(json_string_value(json_object_get(n, "title")), title))
            return n;
    }
    return NULL;
}
