/* The built-in texts of chat messages, per language and kind: a title and a
 * plain-text body, in the e-mail plugin's template language and checked at
 * load against its context (the same labels, times in the subscriber's
 * zone). Plain text, no markup: each format escapes for its own syntax. */
#include "webhook_texts.h"

#define EN_ITEMS                                                                                   \
    "{{#items}}• {{title}} ({{org}}, {{portal}}) {{kind_label}}, {{at}}\n"                       \
    "{{#has_change}}  {{previous_label}} → {{current_label}}\n{{/has_change}}"                   \
    "{{#reason}}  Reason: {{reason}}\n{{/reason}}"                                                 \
    "{{#changes}}  Changes: {{changes}}\n{{/changes}}"                                             \
    "{{#dataset.vigia_url}}  {{dataset.vigia_url}}\n{{/dataset.vigia_url}}"                        \
    "{{^dataset.vigia_url}}{{#dataset.url}}  {{dataset.url}}\n{{/dataset.url}}"                    \
    "{{/dataset.vigia_url}}{{/items}}"                                                             \
    "{{#more}}And {{more}} more changes.\n{{/more}}"

#define ES_ITEMS                                                                                   \
    "{{#items}}• {{title}} ({{org}}, {{portal}}) {{kind_label}}, {{at}}\n"                       \
    "{{#has_change}}  {{previous_label}} → {{current_label}}\n{{/has_change}}"                   \
    "{{#reason}}  Motivo: {{reason}}\n{{/reason}}"                                                 \
    "{{#changes}}  Cambios: {{changes}}\n{{/changes}}"                                             \
    "{{#dataset.vigia_url}}  {{dataset.vigia_url}}\n{{/dataset.vigia_url}}"                        \
    "{{^dataset.vigia_url}}{{#dataset.url}}  {{dataset.url}}\n{{/dataset.url}}"                    \
    "{{/dataset.vigia_url}}{{/items}}"                                                             \
    "{{#more}}Y {{more}} cambios más.\n{{/more}}"

const webhook_text webhook_builtin_texts[] = {
    {"en", "alert",
     "Vigía: {{first.title}} {{first.kind_label}}{{#more}} (and {{more}} more)"
     "{{/more}}",
     EN_ITEMS},
    {"en", "digest", "Vigía digest: {{count}} changes in what you follow", EN_ITEMS},
    {"en", "maintainer", "Vigía: your dataset {{first.title}} {{first.kind_label}}",
     EN_ITEMS "You get this because the operator of this Vigía turned on maintainer notices.\n"},
    {"en", "test", "Vigía: test delivery",
     "This is a sample sent from the webhook's test button; real messages look like "
     "it.\n" EN_ITEMS},
    {"es", "alert",
     "Vigía: {{first.title}} {{first.kind_label}}{{#more}} (y {{more}} más)"
     "{{/more}}",
     ES_ITEMS},
    {"es", "digest", "Resumen de Vigía: {{count}} cambios en lo que sigues", ES_ITEMS},
    {"es", "maintainer", "Vigía: su dataset {{first.title}} {{first.kind_label}}",
     ES_ITEMS "Recibe esto porque el operador de este Vigía activó los avisos a mantenedores.\n"},
    {"es", "test", "Vigía: entrega de prueba",
     "Esta es una muestra enviada con el botón de prueba del webhook; los mensajes reales se ven "
     "así.\n" ES_ITEMS},
};

const size_t webhook_builtin_text_count =
    sizeof webhook_builtin_texts / sizeof webhook_builtin_texts[0];
