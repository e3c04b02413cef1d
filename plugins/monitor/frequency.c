/* monitor: the update frequency a dataset declares, as text from the portal,
 * turned into a period. Portals write it in many ways: CKAN `frequency` /
 * `update_frequency` fields or extras, DCAT `accrualPeriodicity` (EU
 * vocabulary URIs, Dublin Core frequency URIs, ISO 8601 durations such as
 * "R/P1M"), HDX's number of days, and words in Spanish, Portuguese or
 * English, with or without accents, in any case. Pure: unit-tested and
 * fuzzed (tests/fuzz/targets/fuzz_frequency.c). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor.h"

#define H 3600LL
#define D (24 * H)
#define W (7 * D)
#define M (30 * D) /* HDX counts a month as 30 days */
#define Y (365 * D)

/* Words and vocabulary codes, already folded and normalised (norm()). A
 * period of 0 is a declared frequency with no schedule (irregular, as
 * needed, never): freshness is not judged for it. */
static const struct {
    const char *word;
    long long period;
} k_words[] = {
    /* Spanish (datos.gob.cl and other Latin-American portals) */
    {"diaria", D},
    {"diario", D},
    {"diariamente", D},
    {"cada dia", D},
    {"todos los dias", D},
    {"semanal", W},
    {"semanalmente", W},
    {"cada semana", W},
    {"quincenal", 15 * D},
    {"mensual", M},
    {"mensualmente", M},
    {"cada mes", M},
    {"bimestral", 2 * M},
    {"trimestral", 3 * M},
    {"cuatrimestral", 4 * M},
    {"semestral", 6 * M},
    {"anual", Y},
    {"anualmente", Y},
    {"cada ano", Y},
    {"bianual", 6 * M}, /* RAE: twice a year; every two years is "bienal" */
    {"bienal", 2 * Y},
    {"trienal", 3 * Y},
    {"cuatrienal", 4 * Y},
    {"quinquenal", 5 * Y},
    {"decenal", 10 * Y},
    {"por hora", H},
    {"cada hora", H},
    {"horaria", H},
    {"horario", H},
    /* continuously updated: a day without an update is late */
    {"tiempo real", D},
    {"en tiempo real", D},
    {"continua", D},
    {"continuo", D},
    {"continuamente", D},
    {"permanente", D},
    {"irregular", 0},
    {"no planificada", 0},
    {"no planificado", 0},
    {"no programada", 0},
    {"no programado", 0},
    {"a pedido", 0},
    {"a demanda", 0},
    {"bajo demanda", 0},
    {"segun demanda", 0},
    {"segun necesidad", 0},
    {"cuando sea necesario", 0},
    {"eventual", 0},
    {"esporadica", 0},
    {"esporadico", 0},
    {"ocasional", 0},
    {"sin frecuencia", 0},
    {"sin actualizacion", 0},
    {"no se actualiza", 0},
    {"no aplica", 0},
    {"unica vez", 0},
    {"una vez", 0},
    {"nunca", 0},
    {"otra", 0},
    {"otro", 0},
    {"desconocida", 0},
    {"desconocido", 0},
    {"no definida", 0},
    {"no definido", 0},
    /* Portuguese (Brazilian CKAN portals) */
    {"mensal", M},
    {"quinzenal", 15 * D},
    {"tempo real", D},
    {"sob demanda", 0},
    {"nao planejada", 0},
    /* English words and the EU vocabulary codes (lower case, '_' -> ' ') */
    {"daily", D},
    {"daily 2", 12 * H}, /* twice a day */
    {"twice a day", 12 * H},
    {"weekly", W},
    {"weekly 2", 7 * D / 2}, /* twice a week */
    {"weekly 3", 7 * D / 3}, /* three times a week */
    {"semiweekly", 7 * D / 2},
    {"threetimesaweek", 7 * D / 3},
    {"biweekly", 2 * W}, /* EU and Dublin Core: every two weeks */
    {"fortnightly", 2 * W},
    {"monthly", M},
    {"monthly 2", 15 * D}, /* twice a month */
    {"monthly 3", 10 * D}, /* three times a month */
    {"semimonthly", 15 * D},
    {"threetimesamonth", 10 * D},
    {"bimonthly", 2 * M},
    {"quarterly", 3 * M},
    {"annual 3", 4 * M}, /* three times a year */
    {"threetimesayear", 4 * M},
    {"annual 2", 6 * M}, /* twice a year */
    {"semiannual", 6 * M},
    {"semi annual", 6 * M},
    {"semi annually", 6 * M},
    {"half yearly", 6 * M},
    {"biannually", 6 * M},
    {"annual", Y},
    {"annually", Y},
    {"yearly", Y},
    {"biennial", 2 * Y},
    {"triennial", 3 * Y},
    {"quadrennial", 4 * Y},
    {"quinquennial", 5 * Y},
    {"decennial", 10 * Y},
    {"bidecennial", 20 * Y},
    {"tridecennial", 30 * Y},
    {"hourly", H},
    {"bihourly", 2 * H},
    {"trihourly", 3 * H},
    {"12hrs", 12 * H},
    {"1min", 60},
    {"5min", 300},
    {"10min", 600},
    {"15min", 900},
    {"30min", 1800},
    {"cont", D},
    {"update cont", D},
    {"continuous", D},
    {"continuously", D},
    {"live", D},
    {"realtime", D},
    {"real time", D},
    {"irreg", 0},
    {"never", 0},
    {"unknown", 0},
    {"other", 0},
    {"as needed", 0},
    {"not planned", 0},
    {"op datpro", 0}, /* provisional data */
    {"notplanned", 0},
    {"asneeded", 0},
};

/* Folded copy with separators ('_', '-', '.', ',' and runs of blanks) made
 * single spaces and trimmed. NULL when out of memory. */
static char *norm(const char *s)
{
    char *f = mon_fold(s);
    if (!f)
        return NULL;
    size_t j = 0;
    bool space = true; /* drops leading blanks */
    for (size_t i = 0; f[i]; i++) {
        char c = f[i];
        if (c == '_' || c == '-' || c == '.' || c == ',' || c == ';' || isspace((unsigned char)c)) {
            if (!space)
                f[j++] = ' ';
            space = true;
            continue;
        }
        f[j++] = c;
        space = false;
    }
    while (j > 0 && f[j - 1] == ' ')
        j--;
    f[j] = 0;
    return f;
}

/* ISO 8601 duration "P1Y2M3W4DT5H6M7S" (integers or decimals per part) ->
 * seconds; -1 when malformed or zero. */
static long long iso_duration(const char *s)
{
    if (*s != 'p')
        return -1;
    s++;
    bool time = false, any = false;
    double total = 0;
    while (*s) {
        if (*s == 't') {
            if (time)
                return -1;
            time = true;
            s++;
            continue;
        }
        if (!isdigit((unsigned char)*s)) /* strtod would skip blanks and signs */
            return -1;
        char *end;
        double v = strtod(s, &end);
        if (end == s || v < 0 || v > 1e6 || !*end)
            return -1;
        double unit;
        switch (*end) {
        case 'y':
            unit = time ? -1 : (double)Y;
            break;
        case 'm':
            unit = time ? 60 : (double)M;
            break;
        case 'w':
            unit = time ? -1 : (double)W;
            break;
        case 'd':
            unit = time ? -1 : (double)D;
            break;
        case 'h':
            unit = time ? (double)H : -1;
            break;
        case 's':
            unit = time ? 1 : -1;
            break;
        default:
            unit = -1;
        }
        if (unit < 0)
            return -1;
        total += v * unit;
        any = true;
        s = end + 1;
    }
    if (!any || total < 60 || total > 100.0 * Y) /* under a minute is no schedule */
        return -1;
    return (long long)total;
}

/* "cada 3 meses", "every 2 weeks", "3 months" -> seconds; -1 otherwise. */
static long long every_n(const char *s)
{
    if (strncmp(s, "cada ", 5) == 0)
        s += 5;
    else if (strncmp(s, "every ", 6) == 0)
        s += 6;
    char *end;
    long n = strtol(s, &end, 10);
    if (end == s || n < 1 || n > 1000 || *end != ' ')
        return -1;
    const char *u = end + 1;
    static const struct {
        const char *unit;
        long long s;
    } units[] = {{"hora", H},   {"horas", H}, {"hour", H}, {"hours", H},  {"dia", D},
                 {"dias", D},   {"day", D},   {"days", D}, {"semana", W}, {"semanas", W},
                 {"week", W},   {"weeks", W}, {"mes", M},  {"meses", M},  {"month", M},
                 {"months", M}, {"ano", Y},   {"anos", Y}, {"year", Y},   {"years", Y}};
    for (size_t i = 0; i < sizeof units / sizeof *units; i++)
        if (strcmp(u, units[i].unit) == 0) /* a century at most, as for ISO durations */
            return n * units[i].s <= 100LL * Y ? n * units[i].s : -1;
    return -1;
}

int mon_freq_parse(const char *text, long long *period_s)
{
    *period_s = 0;
    if (!text)
        return -1;
    size_t len = strlen(text);
    if (len == 0 || len > 512) /* a frequency is a word, not an essay */
        return -1;
    { /* HDX: days as a number; -1 never, -2 as needed, 0 live */
        while (isspace((unsigned char)*text))
            text++;
        char *end;
        long n = strtol(text, &end, 10);
        while (end != text && isspace((unsigned char)*end))
            end++;
        if (end != text && !*end) {
            if (n < -2 || n > 36500)
                return -1;
            *period_s = n > 0 ? n * D : n == 0 ? D : 0;
            return *period_s > 0;
        }
    }
    char *s = norm(text);
    if (!s)
        return -1;
    int rc = -1;
    /* a URI: the vocabulary code is its last segment (…/frequency/MONTHLY,
     * …/cld/freq/monthly, …#monthly) */
    const char *code = s;
    if (strstr(s, "://")) {
        const char *slash = strrchr(s, '/'), *hash = strrchr(s, '#');
        code = hash && (!slash || hash > slash) ? hash + 1 : slash ? slash + 1 : s;
    }
    /* ISO 8601: "p1m", "r/p1m", "r/2020 01 01/p1d" (the last '/' part) */
    const char *dur = strrchr(code, '/');
    dur = dur ? dur + 1 : code;
    long long v;
    for (size_t i = 0; rc < 0 && i < sizeof k_words / sizeof *k_words; i++)
        if (strcmp(code, k_words[i].word) == 0) {
            *period_s = k_words[i].period;
            rc = *period_s > 0;
        }
    if (rc < 0 && (v = iso_duration(dur)) > 0) {
        *period_s = v;
        rc = 1;
    }
    if (rc < 0 && (v = every_n(code)) > 0) {
        *period_s = v;
        rc = 1;
    }
    free(s);
    return rc;
}

/* Keys that hold a frequency, normalised like norm() then without spaces. */
static const char *const k_keys[] = {"frequency",
                                     "updatefrequency",
                                     "accrualperiodicity",
                                     "dctaccrualperiodicity",
                                     "dataupdatefrequency",
                                     "frecuencia",
                                     "frecuenciadeactualizacion",
                                     "frecuenciaactualizacion",
                                     "periodicidad",
                                     "periodicidaddeactualizacion",
                                     "frequenciadeatualizacao",
                                     "periodicidade"};

static bool key_is_frequency(const char *key)
{
    if (!key || strlen(key) > 64)
        return false;
    char *f = mon_fold(key);
    if (!f)
        return false;
    size_t j = 0;
    for (size_t i = 0; f[i]; i++)
        if (isalnum((unsigned char)f[i]))
            f[j++] = f[i];
    f[j] = 0;
    bool yes = false;
    for (size_t i = 0; !yes && i < sizeof k_keys / sizeof *k_keys; i++)
        yes = strcmp(f, k_keys[i]) == 0;
    free(f);
    return yes;
}

const char *mon_freq_declared(const json_t *pkg)
{
    const char *key;
    json_t *v;
    /* a field of the dataset first, then its extras; the first non-empty wins */
    json_object_foreach ((json_t *)pkg, key, v) {
        const char *s = json_string_value(v);
        if (s && *s && key_is_frequency(key))
            return s;
    }
    const json_t *extras = json_object_get(pkg, "extras");
    size_t i;
    json_array_foreach (extras, i, v) {
        const char *s = json_string_value(json_object_get(v, "value"));
        if (s && *s && key_is_frequency(json_string_value(json_object_get(v, "key"))))
            return s;
    }
    return NULL;
}
