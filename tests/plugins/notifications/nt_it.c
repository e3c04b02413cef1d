/* Helpers shared by the notifications integration tests (see nt_it.h). */
#include "nt_it.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *get_json(const vgt_server *s, const char *path)
{
    vgt_response r = {0};
    if (vgt_get(s, path, &r) != 0 || r.status != 200) {
        vgt_response_free(&r);
        return NULL;
    }
    json_t *j = json_loads(r.body, 0, NULL);
    vgt_response_free(&r);
    return j;
}

json_t *post_json(const vgt_server *s, const char *path, json_t *body /* stolen */)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    vgt_response r = {0};
    json_t *j = NULL;
    if (text && vgt_post_json(s, path, text, &r) == 0 && r.status == 200)
        j = json_loads(r.body, 0, NULL);
    free(text);
    vgt_response_free(&r);
    return j;
}

/* vg_bus_call through the probe: returns {"rc", "result"} (new reference). */
json_t *call(const vgt_server *s, const char *method, json_t *params /* stolen */)
{
    return post_json(
        s, "/test/call",
        json_pack("{s:s, s:o}", "method", method, "params", params ? params : json_object()));
}

int publish(const vgt_server *s, const char *topic, json_t *payload /* stolen */)
{
    json_t *r =
        post_json(s, "/test/publish", json_pack("{s:s, s:o}", "topic", topic, "payload", payload));
    int rc = r ? (int)json_integer_value(json_object_get(r, "rc")) : -1;
    json_decref(r);
    return rc;
}

/* Waiting for a notification.created event whose title is `title`. */
typedef struct wait_title {
    const vgt_server *s;
    const char *title;
    json_t *found; /* the event payload, new reference */
} wait_title;

static int created_with_title(void *arg)
{
    wait_title *w = arg;
    json_t *ev = get_json(w->s, "/test/events");
    json_t *arr = json_object_get(ev, "events");
    size_t i;
    json_t *e;
    json_array_foreach (arr, i, e) {
        const char *topic = json_string_value(json_object_get(e, "topic"));
        json_t *p = json_object_get(e, "payload");
        const char *t =
            json_string_value(json_object_get(json_object_get(p, "notification"), "title"));
        if (topic && !strcmp(topic, "notification.created") && t && !strcmp(t, w->title)) {
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
    json_t *r = call(s, "notifications.list", json_pack("{s:i}", "limit", 1000));
    if (!r || json_integer_value(json_object_get(r, "rc")) != 0) {
        json_decref(r);
        return NULL;
    }
    json_t *res = json_incref(json_object_get(r, "result"));
    json_decref(r);
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

json_t *probe_events(const vgt_server *s, const char *topic)
{
    json_t *ev = get_json(s, "/test/events");
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach (json_object_get(ev, "events"), i, e) {
        if (!strcmp(json_string_value(json_object_get(e, "topic")), topic))
            json_array_append(out, json_object_get(e, "payload"));
    }
    json_decref(ev);
    return out;
}
