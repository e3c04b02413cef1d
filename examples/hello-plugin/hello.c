/* hello: the smallest useful Vigía plugin, built out-of-tree against the
 * installed SDK. It registers GET /hello (greeting from its INI section) and
 * counts the bus events it sees. */
#include <stdatomic.h>
#include <stdlib.h>
#include <vigia/vigia.h>

typedef struct hello {
    const vg_host *host;
    const char *greeting;
    atomic_long events;
} hello;

static int hello_route(vg_http_request *req, void *user)
{
    hello *h = user;
    return vg_http_reply_json(req, 200,
                              json_pack("{s:s, s:I}", "greeting", h->greeting, "events_seen",
                                        (json_int_t)atomic_load(&h->events)));
}

static void on_event(const char *topic, const json_t *payload, void *user)
{
    (void)topic;
    (void)payload;
    atomic_fetch_add(&((hello *)user)->events, 1);
}

static int read_config(const vg_host *host, const vg_config *cfg, const char **greeting)
{
    return host->config_string(host, cfg, "greeting", "hola", greeting);
}

static int hello_check_config(const vg_host *host, const vg_config *cfg)
{
    const char *g;
    return read_config(host, cfg, &g);
}

static int hello_init(const vg_host *host, const vg_config *cfg, void **state)
{
    hello *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    h->host = host;
    int rc = read_config(host, cfg, &h->greeting);
    if (rc == 0)
        rc = host->http_route(host, "GET", "/hello", hello_route, h, NULL);
    if (rc == 0)
        rc = vg_bus_subscribe(host->bus, "", on_event, h, NULL, NULL);
    if (rc != 0) {
        free(h);
        return rc;
    }
    VG_INFO(host, "ready: GET /hello says '%s'", h->greeting);
    *state = h;
    return 0;
}

static void hello_destroy(void *state) { free(state); }

VG_PLUGIN_DEFINE(hello, "1.0.0", "Example plugin: GET /hello", .check_config = hello_check_config,
                 .init = hello_init, .destroy = hello_destroy);
