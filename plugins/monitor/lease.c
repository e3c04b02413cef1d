/* monitor: in a cluster, exactly one node sweeps a portal (docs/cluster.md).
 * Before each sweep the sweeper asks for the portal's lease (cluster.lease,
 * which the cluster plugin renews while held); right before committing a
 * sweep it asks whether it still holds it (cluster.lease_check, the fencing
 * token against Redis), so a node that was paused past the lease and
 * replaced drops its sweep instead of writing it. Without the cluster plugin
 * both methods are UNAVAILABLE and the node sweeps alone, as before. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <vigia/contract/cluster.h>

#include "monitor.h"

static json_t *lease_call(mon_plugin *m, const char *method, const char *portal, int *rc)
{
    char name[200];
    snprintf(name, sizeof name, "monitor.portal.%s", portal);
    json_t *params = json_pack("{s:s}", "name", name);
    json_t *res = NULL;
    *rc = vg_bus_call(m->host->bus, method, params, &res);
    json_decref(params);
    return res;
}

bool mon_lease_hold(mon_plugin *m, const char *portal)
{
    int rc;
    json_t *res = lease_call(m, VG_CLUSTER_M_LEASE, portal, &rc);
    bool held = rc == -ENOSYS || json_is_true(json_object_get(res, "held"));
    if (rc == 0 && !held)
        VG_INFO(m->host, "portal %s: not swept here, node '%s' holds its lease%s%s", portal,
                json_string_value(json_object_get(res, "holder")),
                json_object_get(res, "error") ? ": " : "",
                json_object_get(res, "error") ? json_string_value(json_object_get(res, "error"))
                                              : "");
    else if (rc < 0 && rc != -ENOSYS)
        VG_WARN(m->host, "portal %s: lease not taken (%d): not swept here", portal, rc);
    json_decref(res);
    return held;
}

bool mon_lease_fence(mon_plugin *m, const char *portal, char *err, size_t n)
{
    int rc;
    json_t *res = lease_call(m, VG_CLUSTER_M_LEASE_CHECK, portal, &rc);
    bool valid = rc == -ENOSYS || json_is_true(json_object_get(res, "valid"));
    if (!valid)
        snprintf(err, n, "lease of portal %s lost (%s): sweep dropped, not written", portal,
                 rc == 0 ? json_string_value(json_object_get(res, "reason"))
                         : "lease check failed");
    json_decref(res);
    return valid;
}
