/* The built-in chat texts (webhook_texts.c). */
#ifndef WEBHOOK_TEXTS_H
#define WEBHOOK_TEXTS_H

#include <stddef.h>

typedef struct webhook_text {
    const char *lang, *kind, *title, *text;
} webhook_text;

extern const webhook_text webhook_builtin_texts[];
extern const size_t webhook_builtin_text_count;

#endif
