/* The notification texts: Spanish (default, as in the original system) and
 * English. Keep both tables in step: a missing entry falls back to Spanish. */
#include "texts.h"

#include <stdlib.h>
#include <string.h>

static const char *const texts_es[T_COUNT] = {
    [T_SYSTEM_STARTED_TITLE] = "Sistema iniciado",
    [T_SYSTEM_STARTED_MSG] = "Vigía {version} está en marcha con {plugins} plugins.",
    [T_DOWN_TITLE] = "Dataset caído: {dataset}",
    [T_DOWN_MSG] = "«{dataset}» ({organization}, portal {portal}) dejó de responder: {reason}.",
    [T_RECOVERED_TITLE] = "Dataset recuperado: {dataset}",
    [T_RECOVERED_MSG] = "«{dataset}» ({organization}, portal {portal}) vuelve a responder "
                        "(antes: {previous}).",
    [T_DEGRADED_TITLE] = "Dataset degradado: {dataset}",
    [T_DEGRADED_MSG] = "«{dataset}» ({organization}, portal {portal}) tiene recursos con fallas: "
                       "{reason}.",
    [T_ADDED_TITLE] = "Nuevo dataset: {dataset}",
    [T_ADDED_MSG] = "«{dataset}» ({organization}) apareció en el portal {portal}.",
    [T_REMOVED_TITLE] = "Dataset eliminado: {dataset}",
    [T_REMOVED_MSG] = "«{dataset}» ({organization}) ya no está disponible en el portal {portal}.",
    [T_MODIFIED_TITLE] = "Dataset modificado: {dataset}",
    [T_MODIFIED_MSG] = "«{dataset}» ({organization}, portal {portal}) cambió: {reason}.",
    [T_PORTAL_DOWN_TITLE] = "Portal sin respuesta: {portal}",
    [T_PORTAL_DOWN_MSG] = "No se pudo consultar el catálogo del portal {portal}: {reason}. Sus "
                          "datasets no se revisan hasta que vuelva.",
    [T_PORTAL_UP_TITLE] = "Portal recuperado: {portal}",
    [T_PORTAL_UP_MSG] = "El catálogo del portal {portal} vuelve a responder.",
    [T_REASON_PORTAL_UP] = "el catálogo responde",
    [T_KIND_PORTAL_DOWN] = "portales sin respuesta",
    [T_KIND_PORTAL_UP] = "portales recuperados",
    [T_PORTAL_HELD_TITLE] = "Eliminaciones retenidas: {portal}",
    [T_PORTAL_HELD_MSG] = "En el portal {portal}, {reason}. No se anuncian hasta que el próximo "
                          "barrido lo confirme.",
    [T_REASON_PORTAL_HELD] = "{candidates} de {datasets} datasets faltan a la vez en el catálogo "
                             "(más del {percent} %)",
    [T_KIND_PORTAL_HELD] = "eliminaciones retenidas",
    [T_SUPPRESSED] = " Se omitieron {count} cambios de estado desde el aviso anterior.",
    [T_REASON_FAILING_ONE] = "el recurso «{name}» falla ({reason})",
    [T_REASON_FAILING_MANY] = "{count} recursos fallan, entre ellos «{name}» ({reason})",
    [T_REASON_NONE] = "sin detalle",
    [T_REASON_HTTP] = "HTTP {status}",
    [T_REASON_ADDED] = "dataset nuevo en el portal",
    [T_REASON_REMOVED] = "el dataset ya no aparece en el portal",
    [T_REASON_RECOVERED] = "todos los recursos responden",
    [T_WHY_TIMEOUT] = "tiempo de espera agotado",
    [T_WHY_CONNECTION] = "error de conexión",
    [T_WHY_REDIRECTS] = "demasiadas redirecciones",
    [T_WHY_SERVER] = "error del servidor",
    [T_WHY_NOT_FOUND] = "no encontrado",
    [T_WHY_HTTP] = "respuesta de error",
    [T_WHY_INVALID_URL] = "URL no válida",
    [T_WHY_SLOW] = "responde con lentitud",
    [T_WHY_RESTRICTED] = "acceso restringido",
    [T_WHY_UNKNOWN] = "causa desconocida",
    [T_WHY_WITH_HTTP] = "{why}, HTTP {status}",
    [T_CHANGE_METADATA] = "metadatos actualizados",
    [T_CHANGE_RES_ADDED] = "{count} recursos añadidos",
    [T_CHANGE_RES_REMOVED] = "{count} recursos eliminados",
    [T_CHANGE_URLS] = "{count} URL cambiadas",
    [T_CHANGE_TITLE] = "título cambiado",
    [T_STATUS_UP] = "disponible",
    [T_STATUS_DOWN] = "caído",
    [T_STATUS_DEGRADED] = "degradado",
    [T_STATUS_UNKNOWN] = "desconocido",
    [T_NO_ORG] = "sin organización",
    [T_KIND_DOWN] = "caídos",
    [T_KIND_RECOVERED] = "recuperados",
    [T_KIND_DEGRADED] = "degradados",
    [T_KIND_ADDED] = "nuevos",
    [T_KIND_REMOVED] = "eliminados",
    [T_KIND_MODIFIED] = "modificados",
    [T_DIGEST_TITLE] = "Portal {portal}: {count} cambios en un barrido",
    [T_DIGEST_MSG] = "Resumen: {summary}. Por organización: {orgs}.",
    [T_DIGEST_MORE] = "y {count} organizaciones más",
    [T_LIST_SEP] = "; ",
    [T_EMPTY_TITLE] = "Dataset sin recursos: {dataset}",
    [T_EMPTY_MSG] = "«{dataset}» ({organization}, portal {portal}) ya no tiene recursos: "
                    "{reason}.",
    [T_REASON_EMPTY] = "se quitaron todos sus recursos",
    [T_STATUS_EMPTY] = "sin recursos",
    [T_KIND_EMPTY] = "sin recursos",
    [T_WHY_HTML] = "entrega una página web en vez de los datos",
    [T_WHY_LOGIN] = "pide iniciar sesión",
    [T_STALE_TITLE] = "Dataset desactualizado: {dataset}",
    [T_STALE_MSG] = "«{dataset}» ({organization}, portal {portal}) {reason}.",
    [T_REASON_STALE] = "está {state}: declara una frecuencia «{frequency}» y su última "
                       "actualización fue el {last_update}",
    [T_KIND_STALE] = "desactualizados",
    [T_FRESH_OVERDUE] = "atrasado",
    [T_FRESH_DELINQUENT] = "muy atrasado",
    [T_REFRESHED_TITLE] = "Dataset al día otra vez: {dataset}",
    [T_REFRESHED_MSG] = "«{dataset}» ({organization}, portal {portal}) se actualizó: {reason}.",
    [T_REASON_REFRESHED] = "última actualización el {last_update}",
    [T_KIND_REFRESHED] = "al día otra vez",
    [T_RECREATED_TITLE] = "Recurso recreado con otro id: {dataset}",
    [T_RECREATED_MSG] = "«{dataset}» ({organization}, portal {portal}): {reason}. Quien usa la API "
                        "con el id anterior recibe un error.",
    [T_REASON_RECREATED_ONE] = "el recurso «{name}» cambió de id ({old} → {new})",
    [T_REASON_RECREATED_MANY] = "{count} recursos cambiaron de id, entre ellos «{name}» ({old} → "
                                "{new})",
    [T_KIND_RECREATED] = "recursos recreados",
    [T_FORMAT_TITLE] = "Formato distinto al declarado: {dataset}",
    [T_FORMAT_MSG] = "«{dataset}» ({organization}, portal {portal}): {reason}.",
    [T_REASON_FORMAT_ONE] = "el recurso «{name}» se declara {format} pero entrega {served}",
    [T_REASON_FORMAT_MANY] = "{count} recursos no entregan el formato declarado, entre ellos "
                             "«{name}» ({format}, entrega {served})",
    [T_KIND_FORMAT] = "con formato distinto",
    [T_CHANGE_RES_RECREATED] = "{count} recursos recreados con otro id",
    [T_CONTENT_TITLE] = "Contenido actualizado: {dataset}",
    [T_CONTENT_MSG] = "«{dataset}» ({organization}, portal {portal}): {reason}.",
    [T_REASON_CONTENT_ONE] = "cambió el contenido del recurso «{name}» ({what})",
    [T_REASON_CONTENT_MANY] =
        "cambió el contenido de {count} recursos, entre ellos «{name}» ({what})",
    [T_KIND_CONTENT] = "con contenido nuevo",
    [T_SCHEMA_TITLE] = "Columnas cambiadas: {dataset}",
    [T_SCHEMA_MSG] = "«{dataset}» ({organization}, portal {portal}): {reason}.",
    [T_REASON_SCHEMA_ONE] = "cambiaron las columnas del recurso «{name}»: {what}",
    [T_REASON_SCHEMA_MANY] =
        "cambiaron las columnas de {count} recursos, entre ellos «{name}»: {what}",
    [T_KIND_SCHEMA] = "con columnas cambiadas",
    [T_SCHEMA_ADDED] = "columna nueva «{name}»",
    [T_SCHEMA_REMOVED] = "sin la columna «{name}»",
    [T_SCHEMA_RENAMED] = "«{from}» ahora se llama «{to}»",
    [T_SCHEMA_RETYPED] = "«{name}» pasó de {from} a {to}",
    [T_SCHEMA_REORDERED] = "columnas en otro orden",
    [T_SCHEMA_DELIMITER] = "separador «{from}» → «{to}»",
    [T_SCHEMA_ENCODING] = "codificación {from} → {to}",
    [T_SCHEMA_TABLE_LOST] = "ya no es una tabla ({reason})",
    [T_SCHEMA_TABLE_FOUND] = "vuelve a ser una tabla",
};

static const char *const texts_en[T_COUNT] = {
    [T_SYSTEM_STARTED_TITLE] = "System started",
    [T_SYSTEM_STARTED_MSG] = "Vigía {version} is running with {plugins} plugins.",
    [T_DOWN_TITLE] = "Dataset down: {dataset}",
    [T_DOWN_MSG] = "“{dataset}” ({organization}, portal {portal}) stopped responding: {reason}.",
    [T_RECOVERED_TITLE] = "Dataset recovered: {dataset}",
    [T_RECOVERED_MSG] = "“{dataset}” ({organization}, portal {portal}) responds again "
                        "(was: {previous}).",
    [T_DEGRADED_TITLE] = "Dataset degraded: {dataset}",
    [T_DEGRADED_MSG] = "“{dataset}” ({organization}, portal {portal}) has failing resources: "
                       "{reason}.",
    [T_ADDED_TITLE] = "New dataset: {dataset}",
    [T_ADDED_MSG] = "“{dataset}” ({organization}) appeared on portal {portal}.",
    [T_REMOVED_TITLE] = "Dataset removed: {dataset}",
    [T_REMOVED_MSG] = "“{dataset}” ({organization}) is no longer available on portal {portal}.",
    [T_MODIFIED_TITLE] = "Dataset modified: {dataset}",
    [T_MODIFIED_MSG] = "“{dataset}” ({organization}, portal {portal}) changed: {reason}.",
    [T_PORTAL_DOWN_TITLE] = "Portal unreachable: {portal}",
    [T_PORTAL_DOWN_MSG] = "The catalogue of portal {portal} could not be read: {reason}. Its "
                          "datasets are not checked until it is back.",
    [T_PORTAL_UP_TITLE] = "Portal recovered: {portal}",
    [T_PORTAL_UP_MSG] = "The catalogue of portal {portal} responds again.",
    [T_REASON_PORTAL_UP] = "the catalogue responds",
    [T_KIND_PORTAL_DOWN] = "portals unreachable",
    [T_KIND_PORTAL_UP] = "portals recovered",
    [T_PORTAL_HELD_TITLE] = "Removals held: {portal}",
    [T_PORTAL_HELD_MSG] = "On portal {portal}, {reason}. They are not announced until the next "
                          "sweep confirms it.",
    [T_REASON_PORTAL_HELD] = "{candidates} of {datasets} datasets are missing from the catalogue "
                             "at once (over {percent} %)",
    [T_KIND_PORTAL_HELD] = "removals held",
    [T_SUPPRESSED] = " {count} status changes since the previous notice were held back.",
    [T_REASON_FAILING_ONE] = "resource “{name}” fails ({reason})",
    [T_REASON_FAILING_MANY] = "{count} resources fail, including “{name}” ({reason})",
    [T_REASON_NONE] = "no detail",
    [T_REASON_HTTP] = "HTTP {status}",
    [T_REASON_ADDED] = "new dataset on the portal",
    [T_REASON_REMOVED] = "the dataset is no longer listed on the portal",
    [T_REASON_RECOVERED] = "every resource responds",
    [T_WHY_TIMEOUT] = "timed out",
    [T_WHY_CONNECTION] = "connection error",
    [T_WHY_REDIRECTS] = "too many redirects",
    [T_WHY_SERVER] = "server error",
    [T_WHY_NOT_FOUND] = "not found",
    [T_WHY_HTTP] = "error response",
    [T_WHY_INVALID_URL] = "invalid URL",
    [T_WHY_SLOW] = "slow to respond",
    [T_WHY_RESTRICTED] = "restricted access",
    [T_WHY_UNKNOWN] = "unknown cause",
    [T_WHY_WITH_HTTP] = "{why}, HTTP {status}",
    [T_CHANGE_METADATA] = "metadata updated",
    [T_CHANGE_RES_ADDED] = "{count} resources added",
    [T_CHANGE_RES_REMOVED] = "{count} resources removed",
    [T_CHANGE_URLS] = "{count} URLs changed",
    [T_CHANGE_TITLE] = "title changed",
    [T_STATUS_UP] = "up",
    [T_STATUS_DOWN] = "down",
    [T_STATUS_DEGRADED] = "degraded",
    [T_STATUS_UNKNOWN] = "unknown",
    [T_NO_ORG] = "no organisation",
    [T_KIND_DOWN] = "down",
    [T_KIND_RECOVERED] = "recovered",
    [T_KIND_DEGRADED] = "degraded",
    [T_KIND_ADDED] = "added",
    [T_KIND_REMOVED] = "removed",
    [T_KIND_MODIFIED] = "modified",
    [T_DIGEST_TITLE] = "Portal {portal}: {count} changes in one sweep",
    [T_DIGEST_MSG] = "Summary: {summary}. By organisation: {orgs}.",
    [T_DIGEST_MORE] = "and {count} more organisations",
    [T_LIST_SEP] = "; ",
    [T_EMPTY_TITLE] = "Dataset empty: {dataset}",
    [T_EMPTY_MSG] = "“{dataset}” ({organization}, portal {portal}) has no resources any more: "
                    "{reason}.",
    [T_REASON_EMPTY] = "all its resources were removed",
    [T_STATUS_EMPTY] = "empty",
    [T_KIND_EMPTY] = "empty",
    [T_WHY_HTML] = "serves a web page instead of the data",
    [T_WHY_LOGIN] = "asks to log in",
    [T_STALE_TITLE] = "Dataset out of date: {dataset}",
    [T_STALE_MSG] = "“{dataset}” ({organization}, portal {portal}) {reason}.",
    [T_REASON_STALE] = "is {state}: it declares the frequency “{frequency}” and was last updated "
                       "on {last_update}",
    [T_KIND_STALE] = "out of date",
    [T_FRESH_OVERDUE] = "overdue",
    [T_FRESH_DELINQUENT] = "delinquent",
    [T_REFRESHED_TITLE] = "Dataset up to date again: {dataset}",
    [T_REFRESHED_MSG] = "“{dataset}” ({organization}, portal {portal}) was updated: {reason}.",
    [T_REASON_REFRESHED] = "last update on {last_update}",
    [T_KIND_REFRESHED] = "up to date again",
    [T_RECREATED_TITLE] = "Resource re-created under a new id: {dataset}",
    [T_RECREATED_MSG] = "“{dataset}” ({organization}, portal {portal}): {reason}. API clients "
                        "using the old id get an error.",
    [T_REASON_RECREATED_ONE] = "resource “{name}” changed id ({old} → {new})",
    [T_REASON_RECREATED_MANY] = "{count} resources changed id, “{name}” among them ({old} → "
                                "{new})",
    [T_KIND_RECREATED] = "re-created resources",
    [T_FORMAT_TITLE] = "Format differs from the declared one: {dataset}",
    [T_FORMAT_MSG] = "“{dataset}” ({organization}, portal {portal}): {reason}.",
    [T_REASON_FORMAT_ONE] = "resource “{name}” is declared {format} but serves {served}",
    [T_REASON_FORMAT_MANY] = "{count} resources do not serve their declared format, “{name}” "
                             "among them ({format}, serves {served})",
    [T_KIND_FORMAT] = "with a different format",
    [T_CHANGE_RES_RECREATED] = "{count} resources re-created under new ids",
    [T_CONTENT_TITLE] = "Content updated: {dataset}",
    [T_CONTENT_MSG] = "“{dataset}” ({organization}, portal {portal}): {reason}.",
    [T_REASON_CONTENT_ONE] = "the content of resource “{name}” changed ({what})",
    [T_REASON_CONTENT_MANY] =
        "the content of {count} resources changed, “{name}” among them ({what})",
    [T_KIND_CONTENT] = "with new content",
    [T_SCHEMA_TITLE] = "Columns changed: {dataset}",
    [T_SCHEMA_MSG] = "“{dataset}” ({organization}, portal {portal}): {reason}.",
    [T_REASON_SCHEMA_ONE] = "the columns of resource “{name}” changed: {what}",
    [T_REASON_SCHEMA_MANY] =
        "the columns of {count} resources changed, “{name}” among them: {what}",
    [T_KIND_SCHEMA] = "with changed columns",
    [T_SCHEMA_ADDED] = "new column “{name}”",
    [T_SCHEMA_REMOVED] = "column “{name}” removed",
    [T_SCHEMA_RENAMED] = "“{from}” renamed “{to}”",
    [T_SCHEMA_RETYPED] = "“{name}” went from {from} to {to}",
    [T_SCHEMA_REORDERED] = "columns reordered",
    [T_SCHEMA_DELIMITER] = "delimiter “{from}” → “{to}”",
    [T_SCHEMA_ENCODING] = "encoding {from} → {to}",
    [T_SCHEMA_TABLE_LOST] = "no longer a table ({reason})",
    [T_SCHEMA_TABLE_FOUND] = "a table again",
};

static const char *const lang_names[NT_LANG_COUNT] = {"es", "en"};

int nt_lang_parse(const char *name)
{
    for (int i = 0; name && i < NT_LANG_COUNT; i++)
        if (strcmp(name, lang_names[i]) == 0)
            return i;
    return -1;
}

const char *nt_lang_name(nt_lang lang)
{
    return lang < NT_LANG_COUNT ? lang_names[lang] : lang_names[NT_LANG_ES];
}

const char *nt_text(nt_lang lang, nt_text_id id)
{
    if (id >= T_COUNT)
        return "";
    const char *t = lang == NT_LANG_EN ? texts_en[id] : texts_es[id];
    if (!t)
        t = texts_es[id];
    return t ? t : "";
}

void nt_sb_addn(nt_sb *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

void nt_sb_add(nt_sb *b, const char *s) { nt_sb_addn(b, s ? s : "", strlen(s ? s : "")); }

char *nt_sb_take(nt_sb *b)
{
    char *s = b->failed ? NULL : b->s;
    if (b->failed)
        free(b->s);
    else if (!s)
        s = calloc(1, 1);
    b->s = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
    return s;
}

void nt_sb_free(nt_sb *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}

char *nt_text_render(nt_lang lang, nt_text_id id, const char *const *vars)
{
    const char *t = nt_text(lang, id);
    nt_sb b = {0};
    while (*t) {
        const char *open = strchr(t, '{');
        const char *close = open ? strchr(open, '}') : NULL;
        if (!open || !close) {
            nt_sb_add(&b, t);
            break;
        }
        nt_sb_addn(&b, t, (size_t)(open - t));
        size_t klen = (size_t)(close - open - 1);
        const char *val = NULL;
        for (int i = 0; vars && vars[i] && vars[i + 1]; i += 2)
            if (strlen(vars[i]) == klen && strncmp(vars[i], open + 1, klen) == 0) {
                val = vars[i + 1];
                break;
            }
        if (val)
            nt_sb_add(&b, val);
        else
            nt_sb_addn(&b, open, klen + 2);
        t = close + 1;
    }
    return nt_sb_take(&b);
}
