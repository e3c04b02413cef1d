/* Unit tests of the content and schema library (plugins/monitor/sniff.h): CSV/TSV sniffing in
 * every encoding and delimiter, type inference, malformed input, the JSON sample, each kind of
 * schema change, the bounded hasher and the regenerated-file rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h needs the headers above */
#include <cmocka.h>

#include "sniff.h"

static mon_schema sniff(const char *text, int truncated)
{
    mon_schema s;
    assert_int_equal(mon_sniff_csv((const unsigned char *)text, strlen(text), truncated, &s), 0);
    return s;
}

static void assert_col(const mon_schema *s, size_t i, const char *name, mon_coltype t)
{
    assert_true(i < s->ncols);
    assert_string_equal(s->cols[i].name, name);
    if (s->cols[i].type != t)
        fail_msg("column %zu (%s): %s, expected %s", i, name, mon_coltype_name(s->cols[i].type),
                 mon_coltype_name(t));
}

static void cell_types(void **state)
{
    (void)state;
    struct {
        const char *s;
        mon_coltype t;
    } c[] = {{"", MON_COL_EMPTY},
             {"  ", MON_COL_EMPTY},
             {"42", MON_COL_INTEGER},
             {"-7", MON_COL_INTEGER},
             {"1.234.567", MON_COL_INTEGER},
             {"1,5", MON_COL_NUMBER},
             {"1.234,5", MON_COL_NUMBER},
             {"1,234.5", MON_COL_NUMBER},
             {"3.14", MON_COL_NUMBER},
             {".5", MON_COL_NUMBER},
             {"1e5", MON_COL_NUMBER},
             {"2024-03-01", MON_COL_DATE},
             {"2024-03-01T10:00:00Z", MON_COL_DATE},
             {"01-03-2024", MON_COL_DATE},
             {"01/03/2024", MON_COL_DATE},
             {"2024/03/01", MON_COL_DATE},
             {"2024-13-01", MON_COL_TEXT},
             {"si", MON_COL_BOOLEAN},
             {"S\xc3\xad", MON_COL_BOOLEAN},
             {"NO", MON_COL_BOOLEAN},
             {"true", MON_COL_BOOLEAN},
             {"Falso", MON_COL_BOOLEAN},
             {"abc", MON_COL_TEXT},
             {"12abc", MON_COL_TEXT},
             {"1.2.3", MON_COL_TEXT},
             {"-", MON_COL_TEXT}};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        mon_coltype t = mon_cell_type(c[i].s, strlen(c[i].s));
        if (t != c[i].t)
            fail_msg("'%s': %s, expected %s", c[i].s, mon_coltype_name(t),
                     mon_coltype_name(c[i].t));
    }
}

static void csv_comma_utf8(void **state)
{
    (void)state;
    mon_schema s = sniff("id,name,price,fecha,activo\r\n"
                         "1,Ana,3.5,2024-01-02,si\r\n"
                         "2,\"Pérez, Juan\",4,2024-02-03,no\r\n"
                         "3,\"dice \"\"hola\"\"\",,2024-03-04,si\r\n",
                         0);
    assert_true(s.is_table);
    assert_int_equal(s.delimiter, ',');
    assert_int_equal(s.encoding, MON_ENC_UTF8);
    assert_true(s.has_header);
    assert_int_equal(s.ncols, 5);
    assert_int_equal(s.rows_sampled, 3);
    assert_int_equal(s.ragged_rows, 0);
    assert_col(&s, 0, "id", MON_COL_INTEGER);
    assert_col(&s, 1, "name", MON_COL_TEXT);
    assert_col(&s, 2, "price", MON_COL_NUMBER); /* the empty cell is ignored */
    assert_col(&s, 3, "fecha", MON_COL_DATE);
    assert_col(&s, 4, "activo", MON_COL_BOOLEAN);
    mon_schema_free(&s);
}

static void csv_semicolon_comma_decimal(void **state)
{
    (void)state;
    /* the Chilean way: ';' between fields, ',' as the decimal mark, '.' for thousands */
    mon_schema s = sniff("Región;Monto;Tasa;Fecha\n"
                         "Arica;1.234.567;1,5;01-02-2024\n"
                         "Tarapacá;987;12,25;15/03/2024\n"
                         "Los Ríos;12.000;0,75;31-12-2023\n",
                         0);
    assert_true(s.is_table);
    assert_int_equal(s.delimiter, ';');
    assert_col(&s, 0, "Región", MON_COL_TEXT);
    assert_col(&s, 1, "Monto", MON_COL_INTEGER);
    assert_col(&s, 2, "Tasa", MON_COL_NUMBER);
    assert_col(&s, 3, "Fecha", MON_COL_DATE);
    mon_schema_free(&s);
}

static void tsv_and_pipe(void **state)
{
    (void)state;
    mon_schema s = sniff("a\tb\tc\n1\tx, y\t2\n3\tz; w\t4\n", 0);
    assert_true(s.is_table);
    assert_int_equal(s.delimiter, '\t');
    assert_int_equal(s.ncols, 3);
    assert_col(&s, 1, "b", MON_COL_TEXT);
    mon_schema_free(&s);
    s = sniff("a|b\n1|2\n3|4\n", 0);
    assert_true(s.is_table);
    assert_int_equal(s.delimiter, '|');
    assert_col(&s, 0, "a", MON_COL_INTEGER);
    mon_schema_free(&s);
}

static void bom_and_latin1(void **state)
{
    (void)state;
    mon_schema s = sniff("\xef\xbb\xbf"
                         "código;descripción\n1;uno\n2;dos\n",
                         0);
    assert_true(s.is_table);
    assert_int_equal(s.encoding, MON_ENC_UTF8_BOM);
    assert_col(&s, 0, "código", MON_COL_INTEGER); /* the BOM is not part of the name */
    mon_schema_free(&s);
    /* Latin-1 / Windows-1252 bytes: names come out in UTF-8, the same as the UTF-8 file */
    s = sniff("c\xf3"
              "digo;descripci\xf3n;a\xf1o;\x80\n1;uno;2020;5\n2;dos;2021;6\n",
              0);
    assert_true(s.is_table);
    assert_int_equal(s.encoding, MON_ENC_LATIN1);
    assert_col(&s, 0, "código", MON_COL_INTEGER);
    assert_col(&s, 1, "descripción", MON_COL_TEXT);
    assert_col(&s, 2, "año", MON_COL_INTEGER);
    assert_col(&s, 3, "\xe2\x82\xac", MON_COL_INTEGER); /* 0x80 is the euro sign in 1252 */
    mon_schema_free(&s);
}

static void truncated_sample(void **state)
{
    (void)state;
    /* a prefix cut mid-line and mid-character: the cut line is dropped, the encoding kept */
    const char *t = "nombre,valor\nañ,1\nb,2\nc\xc3";
    mon_schema s = sniff(t, 1);
    assert_true(s.is_table);
    assert_int_equal(s.encoding, MON_ENC_UTF8);
    assert_int_equal(s.rows_sampled, 2);
    assert_col(&s, 1, "valor", MON_COL_INTEGER);
    mon_schema_free(&s);
    /* a quoted cell with a newline cut by the sample */
    s = sniff("a,b\n1,\"two\nlines\"\n2,\"cut her", 1);
    assert_true(s.is_table);
    assert_int_equal(s.rows_sampled, 1);
    assert_int_equal(s.unbalanced_quote, 0);
    mon_schema_free(&s);
}

static void no_header(void **state)
{
    (void)state;
    mon_schema s = sniff("1,2024-01-01,3.5\n2,2024-01-02,4.5\n3,2024-01-03,5\n", 0);
    assert_true(s.is_table);
    assert_false(s.has_header);
    assert_col(&s, 0, "column_1", MON_COL_INTEGER);
    assert_col(&s, 1, "column_2", MON_COL_DATE);
    assert_col(&s, 2, "column_3", MON_COL_NUMBER);
    mon_schema_free(&s);
}

static void malformed(void **state)
{
    (void)state;
    mon_schema s = sniff("a,b,c\n1,\"open,2\n3,4,5\n", 0);
    /* the quote swallows the rest: the header stands, the flag says why rows are missing */
    assert_true(s.is_table);
    assert_true(s.unbalanced_quote);
    mon_schema_free(&s);
    s = sniff("\"a,b,c\n1,2,3\n", 0);
    assert_false(s.is_table);
    assert_string_equal(s.reason, "unbalanced quote on line 1");
    /* ragged: tolerated when few, refused when most lines disagree */
    s = sniff("a,b,c\n1,2,3\n4,5\n6,7,8\n9,10,11\n", 0);
    assert_true(s.is_table);
    assert_int_equal(s.ragged_rows, 1);
    mon_schema_free(&s);
    s = sniff("a,b,c\n1\n2,3\n4,5,6,7\n8\n9,10\n", 0);
    assert_false(s.is_table);
    assert_string_equal(s.reason, "ragged rows: only 2 of 6 lines have 2 fields");
    /* prose, HTML, JSON, empty */
    s = sniff("Hello there\nthis is text\n", 0);
    assert_false(s.is_table);
    assert_non_null(strstr(s.reason, "no delimiter"));
    s = sniff("\n  <!DOCTYPE html><html>", 0);
    assert_false(s.is_table);
    assert_non_null(strstr(s.reason, "HTML"));
    s = sniff("[{\"a\":1}]", 0);
    assert_false(s.is_table);
    assert_non_null(strstr(s.reason, "JSON"));
    s = sniff("", 0);
    assert_false(s.is_table);
    /* NUL bytes and binary */
    static const unsigned char zip[] = {'P', 'K', 3, 4, 0, 0, 'a', ',', 'b', '\n'};
    assert_int_equal(mon_sniff_csv(zip, sizeof zip, 1, &s), 0);
    assert_false(s.is_table);
    assert_non_null(strstr(s.reason, "NUL byte at offset 4"));
    static const unsigned char u16[] = {0xFF, 0xFE, 'a', 0};
    assert_int_equal(mon_sniff_csv(u16, sizeof u16, 1, &s), 0);
    assert_non_null(strstr(s.reason, "UTF-16"));
}

static void huge_inputs(void **state)
{
    (void)state;
    /* a 10 MB line: refused after 1 MiB, whether cut or whole */
    size_t n = 10u << 20;
    unsigned char *b = malloc(n + 1);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++)
        b[i] = i % 7 == 6 ? ',' : 'x';
    b[n] = '\n';
    mon_schema s;
    assert_int_equal(mon_sniff_csv(b, n, 1, &s), 0);
    assert_false(s.is_table);
    assert_non_null(strstr(s.reason, "longer than"));
    assert_int_equal(mon_sniff_csv(b, n + 1, 0, &s), 0);
    assert_false(s.is_table);
    /* a header row with 2,000 columns: refused by the column limit */
    size_t k = 0;
    for (int i = 0; i < 2000; i++)
        k += (size_t)sprintf((char *)b + k, "c%d,", i);
    b[k - 1] = '\n';
    memcpy(b + k, b, k);
    assert_int_equal(mon_sniff_csv(b, 2 * k, 0, &s), 0);
    assert_false(s.is_table);
    assert_non_null(strstr(s.reason, "more than 1000"));
    /* 1,000 columns is fine, long names are cut to MON_SNIFF_MAX_NAME bytes */
    k = 0;
    k += (size_t)sprintf((char *)b, "%0300d,", 7);
    for (int i = 1; i < 1000; i++)
        k += (size_t)sprintf((char *)b + k, "c%d,", i);
    b[k - 1] = '\n';
    assert_int_equal(mon_sniff_csv(b, k, 0, &s), 0);
    assert_true(s.is_table);
    assert_int_equal(s.ncols, 1000);
    assert_int_equal(strlen(s.cols[0].name), MON_SNIFF_MAX_NAME);
    mon_schema_free(&s);
    /* many rows: only MON_SNIFF_MAX_ROWS are read */
    k = (size_t)sprintf((char *)b, "a,b\n");
    for (int i = 0; i < 5000; i++)
        k += (size_t)sprintf((char *)b + k, "%d,x\n", i);
    assert_int_equal(mon_sniff_csv(b, k, 0, &s), 0);
    assert_int_equal(s.rows_sampled, MON_SNIFF_MAX_ROWS);
    mon_schema_free(&s);
    free(b);
}

static mon_schema jsample(const char *text)
{
    mon_schema s;
    assert_int_equal(mon_json_sample((const unsigned char *)text, strlen(text), &s), 0);
    return s;
}

static void json_sample(void **state)
{
    (void)state;
    mon_schema s = jsample(" [ {\"id\": 1, \"nombre\": \"a\", \"monto\": 2.5, \"ok\": true},\n"
                           "{\"id\": 2, \"nombre\": null, \"monto\": 3, \"fecha\": \"2024-01-02\","
                           " \"ok\": false, \"tags\": [1, \"}\"]},\n"
                           "{\"id\": 3, \"nombre\": \"c\\\"}\", \"mon");
    assert_true(s.is_table);
    assert_string_equal(s.format, "json");
    assert_int_equal(s.rows_sampled, 2); /* the third object is cut */
    assert_int_equal(s.ncols, 6);
    assert_col(&s, 0, "id", MON_COL_INTEGER);
    assert_col(&s, 1, "nombre", MON_COL_TEXT);
    assert_col(&s, 2, "monto", MON_COL_NUMBER);
    assert_col(&s, 3, "ok", MON_COL_BOOLEAN);
    assert_col(&s, 4, "fecha", MON_COL_DATE);
    assert_col(&s, 5, "tags", MON_COL_TEXT);
    mon_schema_free(&s);

    s = jsample("{\"result\": []}");
    assert_false(s.is_table);
    assert_non_null(strstr(s.reason, "not a JSON array"));
    s = jsample("[1, 2, 3]");
    assert_false(s.is_table);
    assert_non_null(strstr(s.reason, "not an object"));
    s = jsample("[{\"a\": 1");
    assert_false(s.is_table);
    assert_non_null(strstr(s.reason, "no complete object"));
    s = jsample("[{\"a\": tru}]");
    assert_false(s.is_table);
    assert_non_null(strstr(s.reason, "element 1"));
    /* a long key is cut to MON_SNIFF_MAX_NAME and stays one column across objects */
    char longk[1000];
    char key[301];
    memset(key, 'k', 300);
    key[300] = 0;
    snprintf(longk, sizeof longk, "[{\"%s\": 1}, {\"%s\": 2}]", key, key);
    s = jsample(longk);
    assert_true(s.is_table);
    assert_int_equal(s.ncols, 1);
    assert_int_equal(strlen(s.cols[0].name), MON_SNIFF_MAX_NAME);
    mon_schema_free(&s);
    char deep[200] = "[{\"a\":";
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    s = jsample(deep);
    assert_false(s.is_table);
    assert_non_null(strstr(s.reason, "deeper"));
}

/* ---- diff ---- */

static mon_schema mk(char delim, mon_encoding enc, const char *spec)
{
    /* spec: "name:t name:t ..." with t one of i n d b s e */
    mon_schema s;
    memset(&s, 0, sizeof s);
    s.is_table = 1;
    strcpy(s.format, "csv");
    s.delimiter = delim;
    s.encoding = enc;
    s.has_header = 1;
    s.cols = calloc(32, sizeof *s.cols);
    char buf[256];
    strcpy(buf, spec);
    for (char *tok = strtok(buf, " "); tok; tok = strtok(NULL, " ")) {
        char *c = strchr(tok, ':');
        *c = 0;
        mon_coltype t = c[1] == 'i'   ? MON_COL_INTEGER
                        : c[1] == 'n' ? MON_COL_NUMBER
                        : c[1] == 'd' ? MON_COL_DATE
                        : c[1] == 'b' ? MON_COL_BOOLEAN
                        : c[1] == 'e' ? MON_COL_EMPTY
                                      : MON_COL_TEXT;
        s.cols[s.ncols].name = strdup(tok);
        s.cols[s.ncols++].type = t;
    }
    return s;
}

/* The changes as "kind" strings joined by spaces, for short assertions. */
static char *kinds(const mon_schema *a, const mon_schema *b)
{
    static char out[512];
    out[0] = 0;
    json_t *d = mon_schema_diff(a, b);
    if (!d)
        return strcpy(out, "none");
    assert_int_equal(json_integer_value(json_object_get(d, "v")), 1);
    assert_non_null(json_object_get(d, "before"));
    assert_non_null(json_object_get(d, "after"));
    size_t i;
    json_t *c;
    json_array_foreach (json_object_get(d, "changes"), i, c) {
        char *one = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
        if (out[0])
            strcat(out, " ");
        strncat(out, one, sizeof out - strlen(out) - 1);
        free(one);
    }
    json_decref(d);
    return out;
}

static void diff_kinds(void **state)
{
    (void)state;
    mon_schema a = mk(',', MON_ENC_UTF8, "id:i name:s amount:n");
    mon_schema same = mk(',', MON_ENC_UTF8, "id:i name:s amount:n");
    assert_string_equal(kinds(&a, &same), "none");

    mon_schema add = mk(',', MON_ENC_UTF8, "id:i name:s amount:n region:s");
    assert_string_equal(
        kinds(&a, &add),
        "{\"kind\":\"added\",\"name\":\"region\",\"position\":4,\"type\":\"text\"}");
    assert_string_equal(
        kinds(&add, &a),
        "{\"kind\":\"removed\",\"name\":\"region\",\"position\":4,\"type\":\"text\"}");

    mon_schema ren = mk(',', MON_ENC_UTF8, "id:i nombre:s amount:n");
    assert_string_equal(kinds(&a, &ren), "{\"from\":\"name\",\"kind\":\"renamed\",\"position\":2,"
                                         "\"to\":\"nombre\",\"type\":\"text\"}");
    /* same position but another type: not a rename, a removal and an addition */
    mon_schema notren = mk(',', MON_ENC_UTF8, "id:i other:i amount:n");
    assert_string_equal(
        kinds(&a, &notren),
        "{\"kind\":\"removed\",\"name\":\"name\",\"position\":2,\"type\":\"text\"} "
        "{\"kind\":\"added\",\"name\":\"other\",\"position\":2,\"type\":\"integer\"}");

    mon_schema ret = mk(',', MON_ENC_UTF8, "id:s name:s amount:e");
    /* amount went all-empty in the sample: no claim about its type */
    assert_string_equal(
        kinds(&a, &ret),
        "{\"from\":\"integer\",\"kind\":\"retyped\",\"name\":\"id\",\"to\":\"text\"}");

    mon_schema ord = mk(',', MON_ENC_UTF8, "name:s id:i amount:n");
    assert_string_equal(kinds(&a, &ord), "{\"after\":[\"name\",\"id\",\"amount\"],\"before\":"
                                         "[\"id\",\"name\",\"amount\"],\"kind\":\"reordered\"}");

    mon_schema del = mk(';', MON_ENC_LATIN1, "id:i name:s amount:n");
    assert_string_equal(kinds(&a, &del),
                        "{\"from\":\",\",\"kind\":\"delimiter\",\"to\":\";\"} "
                        "{\"from\":\"utf-8\",\"kind\":\"encoding\",\"to\":\"latin-1\"}");

    mon_schema lost;
    memset(&lost, 0, sizeof lost);
    strcpy(lost.reason, "starts with '<': HTML or XML, not a table");
    assert_string_equal(kinds(&a, &lost), "{\"kind\":\"table_lost\",\"reason\":\"starts with '<': "
                                          "HTML or XML, not a table\"}");
    assert_string_equal(kinds(&lost, &a), "{\"kind\":\"table_found\"}");
    assert_string_equal(kinds(&lost, &lost), "none");

    /* the summary round-trips through the stored form */
    json_t *j = mon_schema_to_json(&add, 0);
    mon_schema back;
    assert_int_equal(mon_schema_from_json(j, &back), 0);
    assert_string_equal(kinds(&add, &back), "none");
    assert_int_equal(back.delimiter, ',');
    json_decref(j);
    mon_schema_free(&back);
    j = json_pack("{s:b}", "table", 1);
    assert_int_equal(mon_schema_from_json(j, &back), -1);
    json_decref(j);

    mon_schema *all[] = {&a, &same, &add, &ren, &notren, &ret, &ord, &del};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        mon_schema_free(all[i]);
}

static void diff_sniffed_latin1_equals_utf8(void **state)
{
    (void)state;
    /* the same table re-saved in Latin-1: an encoding change only, names equal */
    mon_schema u = sniff("código;año\n1;2020\n", 0);
    mon_schema l = sniff("c\xf3"
                         "digo;a\xf1o\n1;2020\n",
                         0);
    assert_string_equal(kinds(&u, &l),
                        "{\"from\":\"utf-8\",\"kind\":\"encoding\",\"to\":\"latin-1\"}");
    mon_schema_free(&u);
    mon_schema_free(&l);
}

/* ---- hashing ---- */

static void hasher(void **state)
{
    (void)state;
    mon_hasher h;
    char hex[65];
    assert_int_equal(mon_hasher_init(&h, 0), 0);
    assert_int_equal(mon_hasher_feed(&h, "ab", 2), 0);
    assert_int_equal(mon_hasher_feed(&h, "c", 1), 0);
    assert_int_equal(mon_hasher_final(&h, hex), MON_HASH_OK);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

    /* exactly at the limit is hashed, one byte over is not */
    assert_int_equal(mon_hasher_init(&h, 3), 0);
    assert_int_equal(mon_hasher_curl_write("abc", 1, 3, &h), 3);
    assert_int_equal(mon_hasher_final(&h, hex), MON_HASH_OK);
    assert_int_equal(mon_hasher_init(&h, 3), 0);
    assert_int_equal(mon_hasher_curl_write("ab", 1, 2, &h), 2);
    assert_int_equal(mon_hasher_curl_write("cd", 1, 2, &h), 0); /* curl stops the transfer */
    assert_int_equal(mon_hasher_feed(&h, "x", 1), 1);
    assert_int_equal(mon_hasher_final(&h, hex), MON_HASH_TOO_LARGE);
    assert_string_equal(hex, "");

    /* streamed in odd chunks = hashed whole; 3 MB through a 64 KiB window */
    size_t n = 3u << 20;
    unsigned char *b = malloc(n);
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(i * 31 + 7);
    char whole[65];
    assert_int_equal(mon_hasher_init(&h, n), 0);
    mon_hasher_feed(&h, b, n);
    assert_int_equal(mon_hasher_final(&h, whole), MON_HASH_OK);
    assert_int_equal(mon_hasher_init(&h, n), 0);
    for (size_t off = 0, step = 1; off < n; off += step, step = step * 3 % 65536 + 1)
        assert_int_equal(mon_hasher_feed(&h, b + off, off + step > n ? n - off : step), 0);
    assert_int_equal(mon_hasher_final(&h, hex), MON_HASH_OK);
    assert_string_equal(hex, whole);
    free(b);
    mon_hasher_init(&h, 10);
    mon_hasher_free(&h); /* abandoned transfer: no leak */
}

static mon_content_state cs(const char *etag, const char *lm, int64_t len, const char *sha)
{
    mon_content_state s;
    memset(&s, 0, sizeof s);
    strcpy(s.etag, etag);
    strcpy(s.last_modified, lm);
    s.length = len;
    strcpy(s.sha256, sha);
    return s;
}

static void content_compare(void **state)
{
    (void)state;
    mon_content_state a = cs("\"e1\"", "Mon, 01 Jan 2024 00:00:00 GMT", 10, "aa");
    mon_content_state b = a;
    assert_int_equal(mon_content_compare(&a, &b), 0);
    /* a new ETag on the same bytes: what moved is said, but it is no change */
    b = cs("\"e2\"", "Mon, 01 Jan 2024 00:00:00 GMT", 10, "aa");
    assert_int_equal(mon_content_compare(&a, &b), MON_MOVED_ETAG);
    b = cs("\"e1\"", "Mon, 01 Jan 2024 00:00:00 GMT", 10, "bb");
    assert_int_equal(mon_content_compare(&a, &b), MON_MOVED_HASH | MON_MOVED_CHANGED);
    /* no hash on one side: the validators decide */
    b = cs("\"e1\"", "Tue, 02 Jan 2024 00:00:00 GMT", 12, "");
    unsigned m = mon_content_compare(&a, &b);
    assert_int_equal(m, MON_MOVED_LAST_MODIFIED | MON_MOVED_LENGTH | MON_MOVED_CHANGED);
    json_t *j = mon_content_moved_json(&a, &b, m);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "length"), "new")), 12);
    assert_null(json_object_get(j, "etag"));
    json_decref(j);
    /* unknowns never count */
    b = cs("", "", -1, "");
    assert_int_equal(mon_content_compare(&a, &b), 0);
}

static void regeneration(void **state)
{
    (void)state;
    mon_regen_state s;
    memset(&s, 0, sizeof s);
    const int64_t week = 7 * 86400;
    assert_int_equal(mon_regen_decide(&s, "h1", NULL, 1000, week, &s), MON_REGEN_FIRST);
    assert_string_equal(s.sha256, "h1");
    assert_int_equal(mon_regen_decide(&s, "h1", NULL, 2000, week, &s), MON_REGEN_SAME);
    /* differs: ask for a second fetch, then it agrees: a real change */
    assert_int_equal(mon_regen_decide(&s, "h2", NULL, 3000, week, &s), MON_REGEN_NEED_RECHECK);
    assert_string_equal(s.sha256, "h1");
    assert_int_equal(mon_regen_decide(&s, "h2", "h2", 3005, week, &s), MON_REGEN_CHANGED);
    assert_string_equal(s.sha256, "h2");
    /* differs and the second fetch differs again: made per request */
    assert_int_equal(mon_regen_decide(&s, "h3", "h4", 4000, week, &s), MON_REGEN_VOLATILE);
    assert_true(s.is_volatile);
    assert_int_equal(s.volatile_checked, 4000);
    /* while marked, nothing announced and no second fetch */
    assert_int_equal(mon_regen_decide(&s, "h5", NULL, 4000 + week - 1, week, &s),
                     MON_REGEN_VOLATILE);
    /* mark expired: fetch twice again */
    assert_int_equal(mon_regen_decide(&s, "h6", NULL, 4000 + week, week, &s),
                     MON_REGEN_NEED_RECHECK);
    assert_int_equal(mon_regen_decide(&s, "h6", "h7", 4000 + week, week, &s), MON_REGEN_VOLATILE);
    assert_int_equal(s.volatile_checked, 4000 + week);
    assert_int_equal(mon_regen_decide(&s, "h8", "h8", 4000 + 2 * week, week, &s),
                     MON_REGEN_SETTLED);
    assert_false(s.is_volatile);
    assert_string_equal(s.sha256, "h8");
    assert_int_equal(mon_regen_decide(&s, "h8", NULL, 4000 + 2 * week + 1, week, &s),
                     MON_REGEN_SAME);
    assert_string_equal(mon_regen_verdict_name(MON_REGEN_NEED_RECHECK), "need_recheck");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cell_types),
        cmocka_unit_test(csv_comma_utf8),
        cmocka_unit_test(csv_semicolon_comma_decimal),
        cmocka_unit_test(tsv_and_pipe),
        cmocka_unit_test(bom_and_latin1),
        cmocka_unit_test(truncated_sample),
        cmocka_unit_test(no_header),
        cmocka_unit_test(malformed),
        cmocka_unit_test(huge_inputs),
        cmocka_unit_test(json_sample),
        cmocka_unit_test(diff_kinds),
        cmocka_unit_test(diff_sniffed_latin1_equals_utf8),
        cmocka_unit_test(hasher),
        cmocka_unit_test(content_compare),
        cmocka_unit_test(regeneration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
