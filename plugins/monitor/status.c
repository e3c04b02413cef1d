/* monitor: the pure rules that turn HTTP outcomes into resource and dataset
 * statuses, and the hysteresis that decides when a dataset's status changes. */
#include <curl/curl.h>
#include <string.h>

#include "monitor.h"

static const char *const k_rnames[] = {"unknown", "up", "down", "restricted"};
static const char *const k_dnames[] = {"unknown", "up", "degraded", "down"};

const char *mon_rstatus_name(int s) { return s >= 0 && s <= 3 ? k_rnames[s] : "unknown"; }
const char *mon_dstatus_name(int s) { return s >= 0 && s <= 3 ? k_dnames[s] : "unknown"; }

int mon_dstatus_parse(const char *s)
{
    for (int i = 0; s && i < 4; i++)
        if (strcmp(s, k_dnames[i]) == 0)
            return i;
    return -1;
}

/* Errors after which a GET may still work: the server answered, badly. */
static bool misbehaved(int cc)
{
    switch (cc) {
    case CURLE_GOT_NOTHING:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING:
        return true;
    default:
        return false;
    }
}

mon_verdict mon_classify(bool is_head, int cc, long http, bool aborted_body)
{
    bool answered = cc == CURLE_OK || (!is_head && cc == CURLE_WRITE_ERROR && aborted_body);
    if (!answered)
        return is_head && misbehaved(cc) ? MON_V_RETRY_GET : MON_V_DOWN;
    if (http >= 200 && http < 400)
        return MON_V_UP;
    if (is_head && (http == 400 || http == 401 || http == 403 || http == 405 || http == 501))
        return MON_V_RETRY_GET;
    if (http == 401 || http == 403)
        return MON_V_RESTRICTED;
    return MON_V_DOWN;
}

/* up: every checked resource reachable and none slow; degraded: some down or
 * slow; down: none reachable; unknown: nothing could be checked. Restricted
 * resources are reachable (they exist, they need credentials). */
mon_dstatus mon_dataset_observe(const mon_res_outcome *res, size_t n)
{
    size_t known = 0, reachable = 0, down = 0, slow = 0;
    for (size_t i = 0; i < n; i++) {
        switch (res[i].status) {
        case MON_R_UP:
        case MON_R_RESTRICTED:
            known++;
            reachable++;
            slow += res[i].slow;
            break;
        case MON_R_DOWN:
            known++;
            down++;
            break;
        default:
            break;
        }
    }
    if (known == 0)
        return MON_D_UNKNOWN;
    if (reachable == 0)
        return MON_D_DOWN;
    if (down > 0 || slow > 0)
        return MON_D_DEGRADED;
    return MON_D_UP;
}

static bool failing(int s) { return s == MON_D_DOWN || s == MON_D_DEGRADED; }

/* A dataset that was never checked takes its first observation at once.
 * Afterwards a change needs `fail_threshold` consecutive failing sweeps
 * (degraded and down both count; the latest one wins) or `recover_threshold`
 * consecutive up sweeps. An unknown observation (nothing checkable) leaves the
 * status alone and does not break a streak. */
bool mon_hyst_feed(mon_hyst *h, int observed, int fail_threshold, int recover_threshold)
{
    if (observed == MON_D_UNKNOWN)
        return false;
    if (h->status == MON_D_UNKNOWN) {
        h->status = observed;
        h->candidate = observed;
        h->streak = 0;
        return true;
    }
    if (observed == h->status) {
        h->streak = 0;
        h->candidate = observed;
        return false;
    }
    bool same_class = h->streak > 0 && failing(h->candidate) == failing(observed);
    h->streak = same_class ? h->streak + 1 : 1;
    h->candidate = observed;
    int need = failing(observed) ? fail_threshold : recover_threshold;
    if (need < 1)
        need = 1;
    /* moving between two failing states (degraded <-> down) is also a
     * failing observation, counted the same way */
    if (h->streak >= need) {
        h->status = observed;
        h->streak = 0;
        return true;
    }
    return false;
}
