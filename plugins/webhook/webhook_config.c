/* [webhook]: reading and checking the keys (config/vigia.ini.sample documents
 * them). */
#include "webhook_plugin.h"

#define SEC 1000LL
#define DAY (86400 * SEC)

int webhook_config_read(const vg_host *host, const vg_config *cfg, webhook_settings *s)
{
    int rc = host->config_bool(host, cfg, "allow_private_webhooks", false, &s->allow_private);
    if (rc == 0)
        rc = host->config_bool(host, cfg, "public_webhooks", false, &s->public_webhooks);
    if (rc == 0)
        rc = host->config_duration(host, cfg, "disable_after", 3 * DAY, 1 * SEC, 365 * DAY,
                                   &s->disable_after);
    if (rc == 0)
        rc = host->config_duration(host, cfg, "connect_timeout", 5 * SEC, 100, 60 * SEC,
                                   &s->connect_timeout);
    if (rc == 0)
        rc = host->config_duration(host, cfg, "timeout", 10 * SEC, 100, 120 * SEC, &s->timeout);
    if (rc == 0)
        rc = host->config_duration(host, cfg, "rotate_grace", DAY, 0, 30 * DAY, &s->rotate_grace);
    if (rc == 0)
        rc = host->config_int(host, cfg, "threads", 4, 1, 64, &s->threads);
    if (rc == 0)
        rc = host->config_int(host, cfg, "queue", 10000, 1, 1000000, &s->queue);
    if (rc == 0)
        rc = host->config_int(host, cfg, "max_items", 20, 1, 500, &s->max_items);
    if (rc == 0)
        rc = host->config_int(host, cfg, "max_endpoints", 1000, 1, 1000000, &s->max_endpoints);
    if (rc == 0 && s->connect_timeout > s->timeout)
        s->connect_timeout = s->timeout; /* the whole try never outlasts timeout */
    return rc;
}
