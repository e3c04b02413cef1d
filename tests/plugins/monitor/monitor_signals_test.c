/* Unit tests of the open-data signals' pure logic: the update-frequency
 * parser (every vocabulary form), CKAN timestamps, freshness states on a
 * fake clock, format drift, resource identity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h needs the headers above */
#include <cmocka.h>
#include <vigia/contract/monitor.h>

#include "monitor.h"
#include "store.h"

#define DAY 86400LL

static long long period(const char *s)
{
    long long p = -7;
    int rc = mon_freq_parse(s, &p);
    if (rc < 0)
        return -1;
    return rc == 0 ? 0 : p;
}

/* Spanish words as Latin-American portals write them: any case, with or
 * without accents, around blanks. */
static void frequency_spanish(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        long long days;
    } cases[] = {
        {"mensual", 30},        {"Mensual", 30},    {"MENSUAL", 30},    {" mensual ", 30},
        {"Mensualmente", 30},   {"anual", 365},     {"Anual", 365},     {"ANUAL", 365},
        {"diaria", 1},          {"Diaria", 1},      {"diario", 1},      {"semanal", 7},
        {"Semanal", 7},         {"quincenal", 15},  {"Quincenal", 15},  {"bimestral", 60},
        {"Bimestral", 60},      {"trimestral", 90}, {"Trimestral", 90}, {"cuatrimestral", 120},
        {"Cuatrimestral", 120}, {"semestral", 180}, {"Semestral", 180}, {"bienal", 730},
        {"Cada día", 1},        {"cada dia", 1},    {"Cada año", 365},  {"cada 3 meses", 90},
        {"Cada 2 semanas", 14}, {"tiempo real", 1}, {"Tiempo Real", 1}, {"mensal", 30},
        {"Quinzenal", 15}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        long long p = period(cases[i].text);
        if (p != cases[i].days * DAY)
            fail_msg("'%s': got %lld s, expected %lld days", cases[i].text, p, cases[i].days);
    }
    /* declared, without a schedule: not judged */
    static const char *const none[] = {
        "irregular", "Irregular", "no planificada", "No planificada",  "No Planificado",
        "A pedido",  "a pedido",  "A demanda",      "Según necesidad", "Eventual",
        "Única vez", "nunca",     "Sin frecuencia", "No aplica",       "Desconocida"};
    for (size_t i = 0; i < sizeof none / sizeof *none; i++)
        if (period(none[i]) != 0)
            fail_msg("'%s' should be declared without a schedule", none[i]);
}

static void frequency_vocabularies(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        long long secs;
    } cases[] = {
        /* EU frequency vocabulary (DCAT-AP accrualPeriodicity) */
        {"http://publications.europa.eu/resource/authority/frequency/MONTHLY", 30 * DAY},
        {"http://publications.europa.eu/resource/authority/frequency/ANNUAL", 365 * DAY},
        {"http://publications.europa.eu/resource/authority/frequency/ANNUAL_2", 180 * DAY},
        {"http://publications.europa.eu/resource/authority/frequency/ANNUAL_3", 120 * DAY},
        {"http://publications.europa.eu/resource/authority/frequency/QUARTERLY", 90 * DAY},
        {"http://publications.europa.eu/resource/authority/frequency/WEEKLY", 7 * DAY},
        {"http://publications.europa.eu/resource/authority/frequency/BIWEEKLY", 14 * DAY},
        {"http://publications.europa.eu/resource/authority/frequency/DAILY", DAY},
        {"http://publications.europa.eu/resource/authority/frequency/DAILY_2", DAY / 2},
        {"http://publications.europa.eu/resource/authority/frequency/MONTHLY_2", 15 * DAY},
        {"http://publications.europa.eu/resource/authority/frequency/MONTHLY_3", 10 * DAY},
        {"http://publications.europa.eu/resource/authority/frequency/BIMONTHLY", 60 * DAY},
        {"http://publications.europa.eu/resource/authority/frequency/BIENNIAL", 730 * DAY},
        {"http://publications.europa.eu/resource/authority/frequency/TRIENNIAL", 1095 * DAY},
        {"http://publications.europa.eu/resource/authority/frequency/DECENNIAL", 3650 * DAY},
        {"http://publications.europa.eu/resource/authority/frequency/HOURLY", 3600},
        {"http://publications.europa.eu/resource/authority/frequency/12HRS", 12 * 3600},
        {"http://publications.europa.eu/resource/authority/frequency/15MIN", 900},
        {"http://publications.europa.eu/resource/authority/frequency/UPDATE_CONT", DAY},
        {"MONTHLY", 30 * DAY},
        /* Dublin Core frequency vocabulary */
        {"http://purl.org/cld/freq/monthly", 30 * DAY},
        {"http://purl.org/cld/freq/quarterly", 90 * DAY},
        {"http://purl.org/cld/freq/semiannual", 180 * DAY},
        {"http://purl.org/cld/freq/threeTimesAYear", 120 * DAY},
        /* ISO 8601 durations and repeating intervals */
        {"P1M", 30 * DAY},
        {"R/P1M", 30 * DAY},
        {"R/P1Y", 365 * DAY},
        {"P1Y", 365 * DAY},
        {"P3M", 90 * DAY},
        {"P1W", 7 * DAY},
        {"P1D", DAY},
        {"R/P1D", DAY},
        {"PT1H", 3600},
        {"P1DT12H", DAY + 12 * 3600},
        {"R/2020-01-01T00:00:00Z/P1W", 7 * DAY},
        /* HDX data_update_frequency: days; 0 live */
        {"30", 30 * DAY},
        {"7", 7 * DAY},
        {"365", 365 * DAY},
        {"0", DAY},
        /* English words */
        {"monthly", 30 * DAY},
        {"Weekly", 7 * DAY},
        {"daily", DAY},
        {"Annually", 365 * DAY},
        {"yearly", 365 * DAY},
        {"Quarterly", 90 * DAY},
        {"half-yearly", 180 * DAY},
        {"fortnightly", 14 * DAY},
        {"every 2 weeks", 14 * DAY},
        {"real-time", DAY}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        long long p = period(cases[i].text);
        if (p != cases[i].secs)
            fail_msg("'%s': got %lld s, expected %lld s", cases[i].text, p, cases[i].secs);
    }
    static const char *const none[] = {
        "http://publications.europa.eu/resource/authority/frequency/IRREG",
        "http://publications.europa.eu/resource/authority/frequency/NEVER",
        "http://publications.europa.eu/resource/authority/frequency/UNKNOWN",
        "http://publications.europa.eu/resource/authority/frequency/AS_NEEDED",
        "http://publications.europa.eu/resource/authority/frequency/NOT_PLANNED",
        "http://publications.europa.eu/resource/authority/frequency/OTHER",
        "http://purl.org/cld/freq/irregular",
        "-1",
        "-2",
        "as needed",
        "never"};
    for (size_t i = 0; i < sizeof none / sizeof *none; i++)
        if (period(none[i]) != 0)
            fail_msg("'%s' should be declared without a schedule", none[i]);
    static const char *const bad[] = {"", "   ", "sometimes", "P", "PXM", "P0D", "PT", "mensuales",
                                      "-3", "99999999", "R/", "http://x/", "P1H", "cada 0 dias",
                                      "P-1D", "P0DT1S",
                                      /* past a century: found by fuzz_frequency */
                                      "202 anos", "cada 101 años", "every 1000 years"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (period(bad[i]) != -1)
            fail_msg("'%s' should not be recognised (got %lld)", bad[i], period(bad[i]));
    assert_int_equal(period(NULL), -1);
    char huge[600];
    memset(huge, 'a', sizeof huge - 1);
    huge[sizeof huge - 1] = 0;
    assert_int_equal(period(huge), -1);
}

/* Where a package dict declares it: fields, then extras; keys in any case
 * or spelling of the known names. */
static void frequency_declared(void **state)
{
    (void)state;
    static const struct {
        const char *json, *expect;
    } cases[] = {
        {"{\"frequency\": \"monthly\"}", "monthly"},
        {"{\"update_frequency\": \"Anual\"}", "Anual"},
        {"{\"accrualPeriodicity\": \"R/P1M\"}", "R/P1M"},
        {"{\"accrual_periodicity\": \"P1Y\"}", "P1Y"},
        {"{\"data_update_frequency\": \"30\"}", "30"},
        {"{\"extras\": [{\"key\": \"frecuencia\", \"value\": \"mensual\"}]}", "mensual"},
        {"{\"extras\": [{\"key\": \"Frecuencia de actualización\", \"value\": \"Trimestral\"}]}",
         "Trimestral"},
        {"{\"extras\": [{\"key\": \"dct:accrualPeriodicity\", \"value\": \"x\"}]}", "x"},
        {"{\"extras\": [{\"key\": \"otra\", \"value\": \"mensual\"}]}", NULL},
        {"{\"frequency\": \"\", \"extras\": [{\"key\": \"frequency\", \"value\": \"P1D\"}]}",
         "P1D"},
        {"{\"frequency\": 30}", NULL},
        {"{\"extras\": \"not an array\"}", NULL},
        {"{}", NULL}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *o = json_loads(cases[i].json, 0, NULL);
        assert_non_null(o);
        const char *got = mon_freq_declared(o);
        if ((got == NULL) != (cases[i].expect == NULL) ||
            (got && strcmp(got, cases[i].expect) != 0))
            fail_msg("%s: got %s", cases[i].json, got ? got : "NULL");
        json_decref(o);
    }
}

static void iso_timestamps(void **state)
{
    (void)state;
    assert_int_equal(mon_iso_parse_ms("1970-01-01T00:00:00"), 0);
    assert_int_equal(mon_iso_parse_ms("2026-09-30T02:00:08.746809"), 1790733608746LL);
    assert_int_equal(mon_iso_parse_ms("2026-09-30T02:00:08.746Z"), 1790733608746LL);
    assert_int_equal(mon_iso_parse_ms("2026-09-30T05:00:08.746+03:00"), 1790733608746LL);
    assert_int_equal(mon_iso_parse_ms("2026-09-30"), 1790726400000LL);
    assert_int_equal(mon_iso_parse_ms("2024-02-29T00:00:00"), 1709164800000LL);
    assert_int_equal(mon_iso_parse_ms(NULL), -1);
    assert_int_equal(mon_iso_parse_ms(""), -1);
    assert_int_equal(mon_iso_parse_ms("2026-13-01"), -1);
    assert_int_equal(mon_iso_parse_ms("2026-09-30T25:00:00"), -1);
    assert_int_equal(mon_iso_parse_ms("2026-09-30Tgarbage"), -1);
    assert_int_equal(mon_iso_parse_ms("2026-09-30T02:00:08 trailing"), -1);
}

static int64_t fake_now;
static int64_t fake_clock(void) { return fake_now; }

/* HDX's model on the monitor's injectable clock: a monthly dataset updated
 * on day 0 is fresh until day 30, due until 45, overdue until 60. */
static void freshness_states(void **state)
{
    (void)state;
    mon_clock_set(fake_clock, fake_clock);
    mon_fresh_opts o = {1.5, 2.0};
    mon_ds d = {.modified = "2026-01-01T00:00:00"};
    int64_t t0 = mon_iso_parse_ms(d.modified);
    long long month = 30 * DAY;
    static const struct {
        double day;
        int state;
    } steps[] = {{0, MON_F_FRESH},       {29.9, MON_F_FRESH},     {30, MON_F_DUE},
                 {44.9, MON_F_DUE},      {45, MON_F_OVERDUE},     {59.9, MON_F_OVERDUE},
                 {60, MON_F_DELINQUENT}, {400, MON_F_DELINQUENT}, {-3, MON_F_FRESH}};
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        fake_now = t0 + (int64_t)(steps[i].day * 86400000.0);
        int s = mon_fresh_state(month, mon_last_update_ms(&d, 0), mon_wall_ms(), &o);
        if (s != steps[i].state)
            fail_msg("day %.1f: %s, expected %s", steps[i].day, mon_fstate_name(s),
                     mon_fstate_name(steps[i].state));
    }
    /* the last real update is the newest of metadata, files and content */
    fake_now = t0 + 50 * 86400000LL;
    d.res_modified_ms = t0 + 40 * 86400000LL;
    assert_int_equal(mon_fresh_state(month, mon_last_update_ms(&d, 0), mon_wall_ms(), &o),
                     MON_F_FRESH);
    assert_int_equal(
        mon_fresh_state(month, mon_last_update_ms(&d, t0 + 49 * 86400000LL), mon_wall_ms(), &o),
        MON_F_FRESH);
    assert_int_equal(mon_last_update_ms(&d, t0 + 49 * 86400000LL), t0 + 49 * 86400000LL);
    /* nothing declared, no schedule, no date: unknown */
    assert_int_equal(mon_fresh_state(0, t0, mon_wall_ms(), &o), MON_F_UNKNOWN);
    assert_int_equal(mon_fresh_state(month, 0, mon_wall_ms(), &o), MON_F_UNKNOWN);
    /* other grace periods */
    mon_fresh_opts tight = {1.0, 1.0};
    fake_now = t0 + 31 * 86400000LL;
    assert_int_equal(mon_fresh_state(month, t0, mon_wall_ms(), &tight), MON_F_DELINQUENT);
    mon_clock_set(NULL, NULL);
    for (int s = 0; s < MON_F_COUNT; s++)
        assert_int_equal(mon_fstate_parse(mon_fstate_name(s)), s);
    assert_int_equal(mon_fstate_parse("stale"), -1);
}

static void format_drift(void **state)
{
    (void)state;
    const unsigned char zip[] = "PK\x03\x04\x14\x00", pdf[] = "%PDF-1.7\n", gz[] = "\x1f\x8b\x08",
                        ole[] = "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", html[] = "<!DOCTYPE html>",
                        csv[] = "id,name\n1,a\n";
    assert_string_equal(mon_served_kind("text/csv", zip, 6), VG_MONITOR_SERVED_ZIP);
    assert_string_equal(mon_served_kind(NULL, pdf, 9), VG_MONITOR_SERVED_PDF);
    assert_string_equal(mon_served_kind(NULL, gz, 3), VG_MONITOR_SERVED_GZIP);
    assert_string_equal(mon_served_kind(NULL, ole, 8), VG_MONITOR_SERVED_OLE2);
    assert_string_equal(mon_served_kind("text/csv", html, 15), VG_MONITOR_SERVED_HTML);
    assert_null(mon_served_kind("application/zip", csv, 12)); /* the bytes win */
    /* a HEAD: only the unmistakable types */
    assert_string_equal(mon_served_kind("application/zip", NULL, 0), VG_MONITOR_SERVED_ZIP);
    assert_string_equal(mon_served_kind("application/PDF", NULL, 0), VG_MONITOR_SERVED_PDF);
    assert_string_equal(mon_served_kind("text/html; charset=utf-8", NULL, 0),
                        VG_MONITOR_SERVED_HTML);
    assert_null(mon_served_kind("application/vnd.ms-excel", NULL, 0));
    assert_null(mon_served_kind("application/octet-stream", NULL, 0));
    assert_null(mon_served_kind(NULL, NULL, 0));
    /* declared vs served */
    assert_true(mon_format_drifts("CSV", NULL, VG_MONITOR_SERVED_ZIP));
    assert_true(mon_format_drifts(" .csv", NULL, VG_MONITOR_SERVED_PDF));
    assert_true(mon_format_drifts("CSV", NULL, VG_MONITOR_SERVED_HTML));
    assert_true(mon_format_drifts("JSON", NULL, VG_MONITOR_SERVED_ZIP));
    assert_true(mon_format_drifts(NULL, "text/csv", VG_MONITOR_SERVED_ZIP));
    assert_true(mon_format_drifts("PDF", NULL, VG_MONITOR_SERVED_HTML));
    assert_true(mon_format_drifts("XLSX", NULL, VG_MONITOR_SERVED_PDF));
    assert_false(mon_format_drifts("XLSX", NULL, VG_MONITOR_SERVED_ZIP)); /* XLSX is a ZIP */
    assert_false(mon_format_drifts("XLSX", NULL, VG_MONITOR_SERVED_OLE2));
    assert_false(mon_format_drifts("XLS", NULL, VG_MONITOR_SERVED_OLE2));
    assert_false(mon_format_drifts("ZIP", NULL, VG_MONITOR_SERVED_ZIP));
    assert_false(mon_format_drifts("SHP", NULL, VG_MONITOR_SERVED_ZIP));
    assert_false(mon_format_drifts("PDF", NULL, VG_MONITOR_SERVED_PDF));
    assert_false(mon_format_drifts("HTML", NULL, VG_MONITOR_SERVED_HTML));
    assert_false(mon_format_drifts("CSV", NULL, NULL));
    assert_false(mon_format_drifts(NULL, NULL, VG_MONITOR_SERVED_ZIP)); /* nothing declared */
    assert_false(mon_format_drifts("Otro", NULL, VG_MONITOR_SERVED_ZIP));
}

static mon_res res(const char *id, const char *name, const char *url)
{
    return (mon_res){.id = (char *)id, .name = (char *)name, .url = (char *)url};
}

static void identity(void **state)
{
    (void)state;
    mon_prev_res prev[] = {{.id = "a", .url = "http://x/1.csv", .name = "uno"},
                           {.id = "b", .url = "http://x/2.csv", .name = "dos"},
                           {.id = "c", .url = "http://x/3.csv", .name = "tres"},
                           {.id = "d", .url = "http://x/4.csv", .name = "cuatro"}};
    /* a kept; b re-created with its URL; c re-created with its name (new URL);
     * d gone; e new and unrelated */
    mon_res cur[] = {res("a", "uno", "http://x/1.csv"), res("B", "otro", "http://x/2.csv"),
                     res("C", "tres", "http://x/3-v2.csv"), res("e", "cinco", "http://x/5.csv")};
    mon_recreated out[4];
    size_t n = mon_identity_match(prev, 4, cur, 4, out);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].prev, 1);
    assert_int_equal(out[0].cur, 1);
    assert_string_equal(out[0].matched_by, VG_MONITOR_MATCHED_URL);
    assert_int_equal(out[1].prev, 2);
    assert_int_equal(out[1].cur, 2);
    assert_string_equal(out[1].matched_by, VG_MONITOR_MATCHED_NAME);
    /* ambiguous: two gone resources share the name: no pairing by guess */
    mon_prev_res twins[] = {{.id = "a", .url = "http://x/1", .name = "datos"},
                            {.id = "b", .url = "http://x/2", .name = "datos"}};
    mon_res one[] = {res("z", "datos", "http://x/9")};
    assert_int_equal(mon_identity_match(twins, 2, one, 1, out), 0);
    /* an empty URL or name is no identity */
    mon_prev_res blank[] = {{.id = "a", .url = "", .name = NULL}};
    mon_res blank_now[] = {res("b", NULL, "")};
    assert_int_equal(mon_identity_match(blank, 1, blank_now, 1, out), 0);
    assert_int_equal(mon_identity_match(prev, 0, cur, 4, out), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(frequency_spanish),
                                       cmocka_unit_test(frequency_vocabularies),
                                       cmocka_unit_test(frequency_declared),
                                       cmocka_unit_test(iso_timestamps),
                                       cmocka_unit_test(freshness_states),
                                       cmocka_unit_test(format_drift),
                                       cmocka_unit_test(identity)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
