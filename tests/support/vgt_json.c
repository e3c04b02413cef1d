/* JSON over HTTP for the integration tests (see vgt_json.h). */
#include "vgt_json.h"

#include <stdlib.h>

json_t *vgt_response_json(const vgt_response *r)
{
    return r->body ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
}

json_t *vgt_get_json(const vgt_server *s, const char *path)
{
    vgt_response r = {0};
    json_t *j = NULL;
    if (vgt_get(s, path, &r) == 0 && r.status == 200)
        j = vgt_response_json(&r);
    vgt_response_free(&r);
    return j;
}

json_t *vgt_post_json_value(const vgt_server *s, const char *path, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(body);
    vgt_response r = {0};
    json_t *j = NULL;
    if (text && vgt_post_json(s, path, text, &r) == 0 && r.status == 200)
        j = vgt_response_json(&r);
    free(text);
    vgt_response_free(&r);
    return j;
}
