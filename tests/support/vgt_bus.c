/* Client of the busbridge test plugin (see vgt_bus.h). */
#include "vgt_bus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vgt_json.h"

json_t *vgt_bus_call(const vgt_server *s, const char *method, json_t *params)
{
    return vgt_post_json_value(
        s, "/test/call",
        json_pack("{s:s, s:o}", "method", method, "params", params ? params : json_object()));
}

json_t *vgt_bus_call_result(const vgt_server *s, const char *method, json_t *params, int *rc)
{
    json_t *r = vgt_bus_call(s, method, params);
    if (rc)
        *rc = r ? (int)json_integer_value(json_object_get(r, "rc")) : -999;
    json_t *res = r ? json_incref(json_object_get(r, "result")) : NULL;
    json_decref(r);
    return res;
}

int vgt_bus_publish(const vgt_server *s, const char *topic, json_t *payload)
{
    json_t *body = json_pack("{s:s, s:o}", "topic", topic, "payload", payload);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    vgt_response r = {0};
    int rc = -999;
    /* 503 carries the bus's refusal as {"rc"}: read the body whatever the status */
    if (text && vgt_post_json(s, "/test/publish", text, &r) == 0 && r.status) {
        json_t *j = vgt_response_json(&r);
        if (json_is_integer(json_object_get(j, "rc")))
            rc = (int)json_integer_value(json_object_get(j, "rc"));
        json_decref(j);
    }
    free(text);
    vgt_response_free(&r);
    return rc;
}

json_t *vgt_bus_events(const vgt_server *s, long long since, const char *topic)
{
    char path[64];
    snprintf(path, sizeof path, "/test/events?since=%lld", since);
    json_t *j = vgt_get_json(s, path);
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach (json_object_get(j, "events"), i, e)
        if (!topic || !strcmp(json_string_value(json_object_get(e, "topic")), topic))
            json_array_append(out, e);
    json_decref(j);
    return out;
}

long long vgt_bus_last_seq(const vgt_server *s)
{
    json_t *j = vgt_get_json(s, "/test/events?since=9223372036854775807");
    long long n = json_integer_value(json_object_get(j, "next"));
    json_decref(j);
    return n;
}
