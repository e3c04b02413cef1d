/* email plugin, pure parts: MIME composition and encodings, the template
 * language, the built-in templates, time zones without TZ. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "email.h"
#include "vgt_tz.h"

static char *render(const char *text, const char *schema_json, const char *ctx_json, int html,
                    char *err, size_t errn)
{
    json_t *schema = json_loads(schema_json, 0, NULL);
    json_t *ctx = json_loads(ctx_json, 0, NULL);
    assert_non_null(schema);
    assert_non_null(ctx);
    tmpl_template *t = tmpl_compile("t.txt", text, schema, html, err, errn);
    char *out = NULL;
    if (t) {
        tmpl_buf b = {0};
        tmpl_render(t, ctx, &b);
        out = tmpl_buf_take(&b, NULL);
    }
    tmpl_free(t);
    json_decref(schema);
    json_decref(ctx);
    return out;
}

static void test_tmpl_sections(void **state)
{
    (void)state;
    char err[256];
    const char *schema = "{\"name\":\"\",\"n\":0,\"items\":[{\"t\":\"\",\"d\":{\"u\":\"\"}}],"
                         "\"flag\":true}";
    char *out = render("Hi {{name}} ({{n}}):{{#items}} [{{t}} {{d.u}} {{name}}]{{/items}}"
                       "{{^items}} none{{/items}}{{#flag}} F{{/flag}}{{^flag}} nf{{/flag}}"
                       "{{! a comment }}.",
                       schema,
                       "{\"name\":\"Ana\",\"n\":3,\"items\":[{\"t\":\"a\",\"d\":{\"u\":\"x\"}},"
                       "{\"t\":\"b\",\"d\":{\"u\":\"y\"}}],\"flag\":false}",
                       0, err, sizeof err);
    assert_non_null(out);
    assert_string_equal(out, "Hi Ana (3): [a x Ana] [b y Ana] nf.");
    free(out);
    out = render("{{#items}}x{{/items}}{{^items}}none{{/items}}", schema, "{\"items\":[]}", 0, err,
                 sizeof err);
    assert_string_equal(out, "none");
    free(out);
}

static void test_tmpl_html_escape(void **state)
{
    (void)state;
    char err[256];
    char *out =
        render("<a href=\"{{u}}\">{{t}}</a>", "{\"u\":\"\",\"t\":\"\"}",
               "{\"u\":\"https://x/?a=1&b=\\\"2\",\"t\":\"<script>'\"}", 1, err, sizeof err);
    assert_string_equal(out, "<a href=\"https://x/?a=1&amp;b=&quot;2\">&lt;script&gt;&#39;</a>");
    free(out);
    out = render("{{t}}", "{\"t\":\"\"}", "{\"t\":\"<b>&\"}", 0, err, sizeof err);
    assert_string_equal(out, "<b>&"); /* plain text is not escaped */
    free(out);
}

static void test_tmpl_errors(void **state)
{
    (void)state;
    char err[256];
    const char *schema = "{\"a\":\"\",\"items\":[{\"t\":\"\"}]}";
    assert_null(render("x\n\n{{ b }}", schema, "{}", 0, err, sizeof err));
    assert_string_equal(err, "t.txt:3: unknown variable 'b'");
    /* A name of an item is unknown outside its section. */
    assert_null(render("{{#items}}{{t}}{{/items}}\n{{t}}", schema, "{}", 0, err, sizeof err));
    assert_string_equal(err, "t.txt:2: unknown variable 't'");
    assert_null(render("\n{{#items}}x", schema, "{}", 0, err, sizeof err));
    assert_string_equal(err, "t.txt:2: section 'items' is never closed");
    assert_null(render("{{#items}}{{/a}}", schema, "{}", 0, err, sizeof err));
    assert_string_equal(err, "t.txt:1: '{{/a}}' closes 'items'");
    assert_null(render("{{a", schema, "{}", 0, err, sizeof err));
    assert_string_equal(err, "t.txt:1: '{{' without '}}'");
    assert_null(render("{{A-b}}", schema, "{}", 0, err, sizeof err));
    assert_non_null(strstr(err, "t.txt:1: bad tag"));
}

static void test_qp(void **state)
{
    (void)state;
    tmpl_buf b = {0};
    char line[300];
    memset(line, 'a', 200);
    line[200] = '\0';
    strcat(line, " = ñ \nsecond\n");
    email_qp_encode(&b, line, strlen(line));
    char *s = tmpl_buf_take(&b, NULL);
    /* Lines of at most 76 with soft breaks, '=' and UTF-8 encoded, a
     * trailing space encoded, CRLF only. */
    for (char *p = s, *nl; (nl = strstr(p, "\r\n")); p = nl + 2)
        assert_true(nl - p <= 76);
    assert_non_null(strstr(s, "=3D =C3=B1=20\r\nsecond\r\n"));
    assert_non_null(strstr(s, "=\r\n"));
    for (char *p = s; *p; p++)
        if (*p == '\n')
            assert_true(p > s && p[-1] == '\r');
    free(s);
}

static void test_header_words(void **state)
{
    (void)state;
    tmpl_buf b = {0};
    email_header_text(&b, "Plain subject", 9);
    email_header_text(&b, "|", 0);
    /* Long non-ASCII: several encoded-words of <= 75, folded, no UTF-8
     * sequence split (each word decodes on its own). */
    email_header_text(&b,
                      "Camión «Presupuesto» caído: año 2026, región de Ñuble, información "
                      "pública y más",
                      9);
    char *s = tmpl_buf_take(&b, NULL);
    assert_true(strncmp(s, "Plain subject|=?UTF-8?B?", 24) == 0);
    int words = 0;
    for (char *p = strstr(s, "=?UTF-8?B?"); p; p = strstr(p + 1, "=?UTF-8?B?")) {
        char *e = strstr(p, "?=");
        assert_non_null(e);
        assert_true(e + 2 - p <= 75);
        words++;
    }
    assert_true(words >= 2);
    assert_non_null(strstr(s, "?=\r\n =?UTF-8?B?"));
    free(s);
}

static void test_address(void **state)
{
    (void)state;
    assert_true(email_address_ok("ana@example.org"));
    assert_true(email_address_ok("a.b+tag@sub.example.cl"));
    assert_false(email_address_ok("ana"));
    assert_false(email_address_ok("ana@"));
    assert_false(email_address_ok("@x.org"));
    assert_false(email_address_ok("a b@x.org"));
    assert_false(email_address_ok("a@b@x.org"));
    assert_false(email_address_ok("ana@x.org\r\nBcc: e@vil.org"));
    assert_false(email_address_ok("<ana@x.org>"));
    assert_false(email_address_ok("añа@x.org"));
    assert_false(email_address_ok("a..b@x.org"));
}

static const email_msg base = {
    .from_name = "Vigía",
    .from_addr = "vigia@example.org",
    .to = "ana@example.org",
    .subject = "[Vigía] «Presupuesto» dejó de responder",
    .date = 1796083990, /* 2026-12-01 00:13:10 UTC, a Tuesday */
    .key = "sub42:notif.7",
    .list_id = "datos.vigia.example.org",
    .unsubscribe = "https://vigia.example.org/u/tok?x=1",
    .text = "Hola:\n\nUna línea.\n",
    .html = "<p>Hola</p>\n",
};

static void test_compose(void **state)
{
    (void)state;
    char err[256];
    size_t len;
    char *m = email_compose(&base, &len, err, sizeof err);
    assert_non_null(m);
    assert_int_equal(strlen(m), len);
    assert_non_null(strstr(m, "\r\nDate: Tue, 01 Dec 2026 00:13:10 +0000\r\n"));
    assert_non_null(strstr(m, "\r\nMessage-ID: <sub42=3Anotif=2E7@example.org>\r\n"));
    assert_non_null(strstr(m, "\r\nList-Id: <datos.vigia.example.org>\r\n"));
    assert_non_null(strstr(m, "\r\nList-Unsubscribe: <https://vigia.example.org/u/tok?x=1>\r\n"));
    assert_non_null(strstr(m, "\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"));
    assert_non_null(strstr(m, "\r\nAuto-Submitted: auto-generated\r\n"));
    assert_non_null(strstr(m, "\r\nSubject: =?UTF-8?B?"));
    assert_non_null(strstr(m, "From: =?UTF-8?B?Vmlnw61h?= <vigia@example.org>\r\n"));
    assert_non_null(strstr(m, "Content-Type: multipart/alternative; boundary=\"=_vigia_"));
    assert_non_null(strstr(m, "Content-Type: text/plain; charset=UTF-8\r\n"
                              "Content-Transfer-Encoding: quoted-printable\r\n\r\nHola:\r\n\r\n"
                              "Una l=C3=ADnea.\r\n"));
    assert_non_null(strstr(m, "Content-Type: text/html; charset=UTF-8\r\n"));
    /* CRLF only, lines <= 998 */
    for (char *p = m, *nl; (nl = strstr(p, "\r\n")); p = nl + 2)
        assert_true(nl - p <= 998);
    for (char *p = m; *p; p++)
        if (*p == '\n')
            assert_true(p > m && p[-1] == '\r');
    /* Same key, same Message-ID and boundary: a retry is the same message. */
    char *again = email_compose(&base, &len, err, sizeof err);
    assert_string_equal(m, again);
    free(again);
    free(m);
}

static void test_compose_refuses(void **state)
{
    (void)state;
    char err[256];
    size_t len;
    email_msg m = base;
    m.to = "ana@example.org\r\nBcc: all@example.org";
    assert_null(email_compose(&m, &len, err, sizeof err));
    assert_non_null(strstr(err, "invalid address"));
    m = base;
    m.unsubscribe = "https://x/a b";
    assert_null(email_compose(&m, &len, err, sizeof err));
    assert_non_null(strstr(err, "unsubscribe"));
    /* A subject with CR/LF cannot add a header. */
    m = base;
    m.subject = "hi\r\nBcc: all@example.org";
    char *s = email_compose(&m, &len, err, sizeof err);
    assert_non_null(s);
    assert_null(strstr(s, "\r\nBcc:"));
    free(s);
}

static const char *payload_json =
    "{\"v\":1,\"key\":\"s1:n9\",\"channel\":\"email\",\"to\":\"ana@example.org\","
    "\"lang\":\"es\",\"tz\":\"America/Santiago\",\"kind\":\"alert\",\"count\":3,"
    "\"items\":[{\"topic\":\"dataset.status_changed\",\"kind\":\"down\",\"portal\":\"datos\","
    "\"at\":\"2026-12-01T00:13:10Z\",\"previous\":\"up\",\"current\":\"down\","
    "\"reason\":\"HTTP 500 <x>\",\"dataset\":{\"id\":\"d1\",\"name\":\"presupuesto\","
    "\"title\":\"Presupuesto & gasto\",\"organization\":\"dipres\",\"organization_title\":"
    "\"Dipres\",\"url\":\"https://datos.gob.cl/dataset/presupuesto\",\"vigia_url\":"
    "\"https://vigia.example.org/#/datasets/d1\"}}],"
    "\"links\":{\"manage\":\"https://vigia.example.org/#/manage/t\",\"unsubscribe\":"
    "\"https://vigia.example.org/api/unsubscribe/t\"},\"list_id\":\"datos.vigia.example.org\"}";

static void test_builtin_templates(void **state)
{
    (void)state;
    char err[512];
    email_templates *ts = email_templates_load(NULL, err, sizeof err);
    assert_non_null(ts);
    json_t *p = json_loads(payload_json, 0, NULL);
    json_t *ctx = tmpl_context_build(&vgt_tz_host, p, 1796083990, 50, err, sizeof err);
    assert_non_null(ctx);
    char *subject, *text, *html;
    assert_int_equal(email_templates_render(ts, ctx, &subject, &text, &html, err, sizeof err), 0);
    assert_string_equal(subject,
                        "[Vigía] «Presupuesto & gasto» dejó de responder (y 2 cambios más)");
    assert_non_null(
        strstr(text, "«Presupuesto & gasto» (Dipres, portal datos) dejó de responder."));
    assert_non_null(strstr(text, "Cuándo: 2026-11-30 21:13 UTC-03:00\n"));
    assert_non_null(strstr(text, "Estado: disponible → caído\n"));
    assert_non_null(strstr(text, "Motivo: HTTP 500 <x>\n"));
    assert_non_null(strstr(text, "En el portal: https://datos.gob.cl/dataset/presupuesto\n"));
    assert_non_null(strstr(text, "En Vigía: https://vigia.example.org/#/datasets/d1\n"));
    assert_non_null(strstr(text, "Gestionar lo que sigues: https://vigia.example.org/#/manage/t"));
    assert_non_null(strstr(html, "Presupuesto &amp; gasto"));
    assert_non_null(strstr(html, "HTTP 500 &lt;x&gt;"));
    free(subject);
    free(text);
    free(html);
    /* English, confirm: the link and the promise. */
    json_object_set_new(p, "lang", json_string("en"));
    json_object_set_new(p, "kind", json_string("confirm"));
    json_object_set_new(json_object_get(p, "links"), "confirm",
                        json_string("https://vigia.example.org/api/confirm/c"));
    json_decref(ctx);
    ctx = tmpl_context_build(&vgt_tz_host, p, 1796083990, 50, err, sizeof err);
    assert_int_equal(email_templates_render(ts, ctx, &subject, &text, &html, err, sizeof err), 0);
    assert_string_equal(subject, "[Vigía] Confirm your subscription");
    assert_non_null(strstr(text, "https://vigia.example.org/api/confirm/c"));
    assert_non_null(strstr(text, "Nothing else will be sent until you confirm"));
    free(subject);
    free(text);
    free(html);
    json_decref(ctx);
    json_decref(p);
    email_templates_free(ts);
}

static void test_templates_dir(void **state)
{
    (void)state;
    char dir[] = "/tmp/email-tpl-XXXXXX", path[300], err[512];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/en", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/en/digest.txt", dir);
    FILE *f = fopen(path, "w");
    fputs("Digest\n{{#items}}{{title}}\n{{dataset.titel}}{{/items}}\n", f);
    fclose(f);
    email_templates *ts = email_templates_load(dir, err, sizeof err);
    assert_null(ts);
    char want[400];
    snprintf(want, sizeof want, "%s/en/digest.txt:3: unknown variable 'dataset.titel'", dir);
    assert_string_equal(err, want);
    /* Fixed, it overrides the built-in copy; the other files stay built in. */
    f = fopen(path, "w");
    fputs("Mine: {{count}}\n", f);
    fclose(f);
    ts = email_templates_load(dir, err, sizeof err);
    assert_non_null(ts);
    json_t *p = json_loads(payload_json, 0, NULL);
    json_object_set_new(p, "lang", json_string("en"));
    json_object_set_new(p, "kind", json_string("digest"));
    json_t *ctx = tmpl_context_build(&vgt_tz_host, p, 1796083990, 50, err, sizeof err);
    char *subject, *text, *html;
    assert_int_equal(email_templates_render(ts, ctx, &subject, &text, &html, err, sizeof err), 0);
    assert_string_equal(text, "Mine: 3\n");
    assert_string_equal(subject, "[Vigía] Digest: 3 changes in what you follow");
    free(subject);
    free(text);
    free(html);
    json_decref(ctx);
    json_decref(p);
    email_templates_free(ts);
    unlink(path);
    snprintf(path, sizeof path, "%s/en", dir);
    rmdir(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tmpl_sections),     cmocka_unit_test(test_tmpl_html_escape),
        cmocka_unit_test(test_tmpl_errors),       cmocka_unit_test(test_qp),
        cmocka_unit_test(test_header_words),      cmocka_unit_test(test_address),
        cmocka_unit_test(test_compose),           cmocka_unit_test(test_compose_refuses),
        cmocka_unit_test(test_builtin_templates), cmocka_unit_test(test_templates_dir),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    core_tz_cleanup();
    return rc;
}
