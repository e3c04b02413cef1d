/* JSON over HTTP for the integration tests (on top of vgt.h). */
#ifndef VGT_JSON_H
#define VGT_JSON_H

#include <jansson.h>

#include "vgt.h"

/* The body of `r` as JSON (new reference), or NULL when empty or not JSON. */
json_t *vgt_response_json(const vgt_response *r);
/* GET `path`; the body as JSON when the status is 200, else NULL. */
json_t *vgt_get_json(const vgt_server *s, const char *path);
/* POST `body` (stolen) as JSON; the reply as JSON when the status is 200, else NULL. */
json_t *vgt_post_json_value(const vgt_server *s, const char *path, json_t *body);

#endif /* VGT_JSON_H */
