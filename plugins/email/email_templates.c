/* The templates of every (language, kind): subject, plain text and HTML.
 * Each file comes from the operator's templates_dir when it is there, else
 * from the copy built into the plugin (plugins/email/templates). All are
 * compiled and checked at load, so a bad file stops the start with its
 * file:line, never a mail with a hole. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "email.h"

static const char *const langs[EMAIL_LANGS] = {"es", "en"};
static const char *const kinds[EMAIL_KINDS] = {"confirm", "alert", "digest", "maintainer"};
enum { P_SUBJECT, P_TEXT, P_HTML, P_COUNT };
static const char *const parts[P_COUNT] = {"subject", "txt", "html"};

struct email_templates {
    tmpl_template *t[EMAIL_LANGS][EMAIL_KINDS][P_COUNT];
};

#define MAX_FILE (256 * 1024)

static char *read_file(const char *path, char *err, size_t errn)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(MAX_FILE + 1);
    size_t n = buf ? fread(buf, 1, MAX_FILE + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad || n > MAX_FILE) {
        snprintf(err, errn, "%s: %s", path,
                 !buf  ? "out of memory"
                 : bad ? "cannot be read"
                       : "larger than 256 KiB");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (strlen(buf) != n) {
        snprintf(err, errn, "%s: contains a NUL byte", path);
        free(buf);
        return NULL;
    }
    return buf;
}

static const char *builtin(const char *rel)
{
    for (size_t i = 0; i < email_builtin_count; i++)
        if (strcmp(email_builtin_templates[i].path, rel) == 0)
            return email_builtin_templates[i].text;
    return NULL;
}

email_templates *email_templates_load(const char *dir, char *err, size_t errn)
{
    email_templates *ts = calloc(1, sizeof *ts);
    json_t *schema = tmpl_context_schema();
    if (!ts || !schema) {
        snprintf(err, errn, "out of memory");
        goto fail;
    }
    for (int l = 0; l < EMAIL_LANGS; l++)
        for (int k = 0; k < EMAIL_KINDS; k++)
            for (int p = 0; p < P_COUNT; p++) {
                char rel[64], path[512];
                snprintf(rel, sizeof rel, "%s/%s.%s", langs[l], kinds[k], parts[p]);
                char *owned = NULL;
                const char *text = NULL, *name = rel;
                err[0] = '\0';
                if (dir && *dir) {
                    snprintf(path, sizeof path, "%s/%s", dir, rel);
                    owned = read_file(path, err, errn);
                    if (!owned && err[0])
                        goto fail;
                    text = owned;
                    name = path;
                }
                if (!text) {
                    text = builtin(rel);
                    name = rel;
                }
                if (!text) {
                    snprintf(err, errn, "template %s: not found%s%s", rel,
                             dir && *dir ? " in " : "", dir && *dir ? dir : "");
                    goto fail;
                }
                ts->t[l][k][p] = tmpl_compile(name, text, schema, p == P_HTML, err, errn);
                free(owned);
                if (!ts->t[l][k][p])
                    goto fail;
            }
    json_decref(schema);
    return ts;
fail:
    json_decref(schema);
    email_templates_free(ts);
    return NULL;
}

void email_templates_free(email_templates *ts)
{
    if (!ts)
        return;
    for (int l = 0; l < EMAIL_LANGS; l++)
        for (int k = 0; k < EMAIL_KINDS; k++)
            for (int p = 0; p < P_COUNT; p++)
                tmpl_free(ts->t[l][k][p]);
    free(ts);
}

static int index_of(const char *const *list, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (s && strcmp(list[i], s) == 0)
            return i;
    return -1;
}

int email_templates_render(const email_templates *ts, const json_t *ctx, char **subject,
                           char **text, char **html, char *err, size_t errn)
{
    const char *lang = json_string_value(json_object_get(ctx, "lang"));
    const char *kind = json_string_value(json_object_get(ctx, "kind"));
    int l = index_of(langs, EMAIL_LANGS, lang), k = index_of(kinds, EMAIL_KINDS, kind);
    if (l < 0 || k < 0) {
        snprintf(err, errn, "no template for lang '%.16s' and kind '%.32s'", lang ? lang : "",
                 kind ? kind : "");
        return -1;
    }
    char **outs[P_COUNT] = {subject, text, html};
    for (int p = 0; p < P_COUNT; p++) {
        tmpl_buf b = {0};
        tmpl_render(ts->t[l][k][p], ctx, &b);
        *outs[p] = tmpl_buf_take(&b, NULL);
    }
    if (!*subject || !*text || !*html) {
        free(*subject);
        free(*text);
        free(*html);
        *subject = *text = *html = NULL;
        snprintf(err, errn, "out of memory");
        return -1;
    }
    /* A subject is one line: newlines in the file or a value become spaces. */
    for (char *c = *subject; *c; c++)
        if (*c == '\r' || *c == '\n' || *c == '\t')
            *c = ' ';
    size_t n = strlen(*subject);
    while (n > 0 && (*subject)[n - 1] == ' ')
        (*subject)[--n] = '\0';
    return 0;
}
