/* A small mustache-like template language (mails, chat messages):
 *   {{name}}, {{a.b}}        a value (HTML-escaped in .html templates)
 *   {{#name}}..{{/name}}     a section: once per element of an array, once
 *                            (inside the object) for an object, once for any
 *                            other truthy value, never for a falsy one
 *   {{^name}}..{{/name}}     inverted: once when the value is falsy
 *   {{! comment }}
 * Every name is checked at compile time against a schema (a JSON sample of
 * the context), so a typo is an error at load with file:line, never an empty
 * hole in a mail. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmpl.h"

#define MAX_DEPTH 16

enum { N_TEXT, N_VAR, N_SECTION, N_INVERTED };

typedef struct node {
    int type;
    const char *text; /* N_TEXT: into t->src; others: the name (owned) */
    size_t len;
    size_t end; /* sections: index of the first node after the section */
    int line;
} node;

struct tmpl_template {
    char *src;
    node *nodes;
    size_t n, cap;
    int html;
};

static int push_node(tmpl_template *t, node nd)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 32;
        node *p = realloc(t->nodes, cap * sizeof *p);
        if (!p)
            return -1;
        t->nodes = p;
        t->cap = cap;
    }
    t->nodes[t->n++] = nd;
    return 0;
}

/* Resolve a dotted name against a stack of scopes, innermost first. */
static const json_t *lookup(const json_t *const *stack, int depth, const char *name)
{
    if (strcmp(name, ".") == 0)
        return stack[depth - 1];
    for (int i = depth - 1; i >= 0; i--) {
        const json_t *v = stack[i];
        const char *p = name;
        while (v && json_is_object(v)) {
            const char *dot = strchr(p, '.');
            size_t l = dot ? (size_t)(dot - p) : strlen(p);
            char part[64];
            if (l == 0 || l >= sizeof part) {
                v = NULL;
                break;
            }
            memcpy(part, p, l);
            part[l] = '\0';
            v = json_object_get(v, part);
            if (!dot) {
                if (v)
                    return v;
                break; /* not here: try the outer scope */
            }
            p = dot + 1;
        }
        if (v && !json_is_object(v))
            continue;
    }
    return NULL;
}

static int line_of(const char *src, const char *at)
{
    int line = 1;
    for (const char *p = src; p < at; p++)
        line += *p == '\n';
    return line;
}

static int name_ok(const char *s, size_t n)
{
    if (n == 1 && s[0] == '.')
        return 1;
    if (n == 0 || n >= 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              (s[i] == '.' && i > 0 && i + 1 < n)))
            return 0;
    return 1;
}

/* The compiler's state: the template so far and the open sections. */
typedef struct compiler {
    tmpl_template *t;
    const char *name;
    char *err;
    size_t errn;
    const json_t *scope[MAX_DEPTH + 1];
    size_t open[MAX_DEPTH];
    int depth;
} compiler;

/* {{/nm}}: closes the innermost section, which must be nm. 0 or -1. */
static int close_section(compiler *c, const char *nm, int line)
{
    tmpl_template *t = c->t;
    if (c->depth == 1 || strcmp(t->nodes[c->open[c->depth - 2]].text, nm) != 0) {
        snprintf(c->err, c->errn, "%s:%d: '{{/%s}}' closes %s%s%s", c->name, line, nm,
                 c->depth == 1 ? "no section" : "'",
                 c->depth == 1 ? "" : t->nodes[c->open[c->depth - 2]].text,
                 c->depth == 1 ? "" : "'");
        return -1;
    }
    c->depth--;
    t->nodes[c->open[c->depth - 1]].end = t->n;
    return 0;
}

/* {{nm}}, {{#nm}} or {{^nm}}: a node; a section also opens a scope (the
 * sample element of an array, or the object). Takes nm. 0, -1, or -2 when
 * out of memory. */
static int add_tag(compiler *c, char kind, char *nm, size_t nl, int line)
{
    const json_t *v = lookup(c->scope, c->depth, nm);
    if (!v) {
        snprintf(c->err, c->errn, "%s:%d: unknown variable '%s'", c->name, line, nm);
        free(nm);
        return -1;
    }
    int type = kind == '#' ? N_SECTION : kind == '^' ? N_INVERTED : N_VAR;
    if (push_node(c->t, (node){type, nm, nl, 0, line}) < 0) {
        free(nm);
        return -2;
    }
    if (type == N_VAR)
        return 0;
    if (c->depth > MAX_DEPTH) {
        snprintf(c->err, c->errn, "%s:%d: sections nested deeper than %d", c->name, line,
                 MAX_DEPTH);
        return -1;
    }
    c->open[c->depth - 1] = c->t->n - 1;
    const json_t *inner = c->scope[c->depth - 1];
    if (type == N_SECTION && json_is_array(v) && json_array_size(v) > 0)
        inner = json_array_get(v, 0);
    else if (type == N_SECTION && json_is_object(v))
        inner = v;
    c->scope[c->depth++] = inner;
    return 0;
}

/* One tag from `tag` ("{{") to `close` ("}}"). 0, -1, or -2 (out of memory). */
static int compile_tag(compiler *c, const char *tag, const char *close, int line)
{
    const char *in = tag + 2;
    char kind = *in;
    if (kind == '!')
        return 0;
    if (kind == '#' || kind == '^' || kind == '/')
        in++;
    while (*in == ' ')
        in++;
    const char *e = close;
    while (e > in && e[-1] == ' ')
        e--;
    size_t nl = (size_t)(e - in);
    if (!name_ok(in, nl)) {
        snprintf(c->err, c->errn, "%s:%d: bad tag '%.*s' (names are [a-z0-9_.])", c->name, line,
                 (int)(close + 2 - tag), tag);
        return -1;
    }
    char *nm = strndup(in, nl);
    if (!nm)
        return -2;
    if (kind != '/')
        return add_tag(c, kind, nm, nl, line);
    int rc = close_section(c, nm, line);
    free(nm);
    return rc;
}

tmpl_template *tmpl_compile(const char *name, const char *text, const json_t *schema, int html,
                            char *err, size_t errn)
{
    tmpl_template *t = calloc(1, sizeof *t);
    if (!t || !(t->src = strdup(text))) {
        free(t);
        snprintf(err, errn, "%s: out of memory", name);
        return NULL;
    }
    t->html = html;
    compiler c = {.t = t, .name = name, .err = err, .errn = errn, .scope = {schema}, .depth = 1};
    int rc = 0;
    for (const char *p = t->src; *p && rc == 0;) {
        const char *tag = strstr(p, "{{");
        if (!tag)
            tag = p + strlen(p);
        if (tag > p && push_node(t, (node){N_TEXT, p, (size_t)(tag - p), 0, 0}) < 0)
            rc = -2;
        if (rc || !*tag)
            break;
        int line = line_of(t->src, tag);
        const char *close = strstr(tag + 2, "}}");
        if (!close) {
            snprintf(err, errn, "%s:%d: '{{' without '}}'", name, line);
            rc = -1;
            break;
        }
        rc = compile_tag(&c, tag, close, line);
        p = close + 2;
    }
    if (rc == 0 && c.depth > 1) {
        const node *o = &t->nodes[c.open[c.depth - 2]];
        snprintf(err, errn, "%s:%d: section '%s' is never closed", name, o->line, o->text);
        rc = -1;
    }
    if (rc == -2)
        snprintf(err, errn, "%s: out of memory", name);
    if (rc == 0)
        return t;
    tmpl_free(t);
    return NULL;
}

static int truthy(const json_t *v)
{
    if (!v || json_is_null(v) || json_is_false(v))
        return 0;
    if (json_is_array(v))
        return json_array_size(v) > 0;
    if (json_is_string(v))
        return json_string_length(v) > 0;
    if (json_is_integer(v))
        return json_integer_value(v) != 0;
    return 1;
}

static void put_value(const tmpl_template *t, const json_t *v, tmpl_buf *out)
{
    char num[64];
    const char *s = "";
    if (json_is_string(v))
        s = json_string_value(v);
    else if (json_is_integer(v)) {
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
        s = num;
    } else if (json_is_real(v)) {
        snprintf(num, sizeof num, "%g", json_real_value(v));
        s = num;
    }
    if (!t->html) {
        tmpl_buf_adds(out, s);
        return;
    }
    for (; *s; s++) {
        switch (*s) {
        case '&':
            tmpl_buf_adds(out, "&amp;");
            break;
        case '<':
            tmpl_buf_adds(out, "&lt;");
            break;
        case '>':
            tmpl_buf_adds(out, "&gt;");
            break;
        case '"':
            tmpl_buf_adds(out, "&quot;");
            break;
        case '\'':
            tmpl_buf_adds(out, "&#39;");
            break;
        default:
            tmpl_buf_add(out, s, 1);
        }
    }
}

static void render(const tmpl_template *t, size_t from, size_t to, const json_t **stack, int depth,
                   tmpl_buf *out)
{
    for (size_t i = from; i < to; i++) {
        const node *nd = &t->nodes[i];
        if (nd->type == N_TEXT) {
            tmpl_buf_add(out, nd->text, nd->len);
            continue;
        }
        const json_t *v = lookup(stack, depth, nd->text);
        if (nd->type == N_VAR) {
            put_value(t, v, out);
            continue;
        }
        size_t end = nd->end;
        if (nd->type == N_INVERTED) {
            if (!truthy(v))
                render(t, i + 1, end, stack, depth, out);
        } else if (truthy(v) && depth < MAX_DEPTH) {
            if (json_is_array(v)) {
                for (size_t k = 0; k < json_array_size(v); k++) {
                    stack[depth] = json_array_get(v, k);
                    render(t, i + 1, end, stack, depth + 1, out);
                }
            } else {
                stack[depth] = json_is_object(v) ? v : stack[depth - 1];
                render(t, i + 1, end, stack, depth + 1, out);
            }
        }
        i = end - 1;
    }
}

void tmpl_render(const tmpl_template *t, const json_t *ctx, tmpl_buf *out)
{
    const json_t *stack[MAX_DEPTH + 1] = {ctx};
    render(t, 0, t->n, stack, 1, out);
}

void tmpl_free(tmpl_template *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        if (t->nodes[i].type != N_TEXT)
            free((char *)t->nodes[i].text);
    free(t->nodes);
    free(t->src);
    free(t);
}
