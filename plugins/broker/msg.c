/* Refcounted outgoing message: the WebSocket frame is built once and shared
 * by every recipient; long-polls use the text inside it. */
#include <stdlib.h>

#include "broker.h"

brk_msg *brk_msg_new(const char *text, size_t len)
{
    brk_msg *m = malloc(sizeof *m + len + 11);
    if (!m)
        return NULL;
    atomic_init(&m->refs, 1);
    m->binary = 0;
    m->frame_len = vg_ws_build_frame(m->frame, VG_WS_TEXT, text, len);
    m->text_len = len;
    m->text = (const char *)m->frame + (m->frame_len - len);
    m->frame[m->frame_len] = '\0';
    return m;
}

brk_msg *brk_msg_new_binary(const void *data, size_t len)
{
    brk_msg *m = brk_msg_new(data, len);
    if (m) {
        m->binary = 1;
        m->frame_len = vg_ws_build_frame(m->frame, VG_WS_BINARY, data, len);
    }
    return m;
}

brk_msg *brk_msg_ref(brk_msg *m)
{
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

void brk_msg_unref(brk_msg *m)
{
    if (m && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
        free(m);
}
