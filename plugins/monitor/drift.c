/* monitor: format drift, from what the checks already fetch: the declared
 * format (CKAN `format`, `mimetype`) against what is served (the first bytes
 * of a GET, else the Content-Type). Only unmistakable kinds count (ZIP, PDF,
 * gzip, legacy Office, HTML): text formats are too loosely labelled on real
 * portals (CSV as text/plain, application/octet-stream, even
 * application/vnd.ms-excel) to call those drift. Pure, unit-tested. */
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <vigia/contract/monitor.h>

#include "monitor.h"

const char *mon_served_kind(const char *ctype, const unsigned char *m, size_t n)
{
    if (n >= 4 && m[0] == 'P' && m[1] == 'K' && (m[2] == 3 || m[2] == 5 || m[2] == 7) &&
        (m[3] == 4 || m[3] == 6 || m[3] == 8))
        return VG_MONITOR_SERVED_ZIP;
    if (n >= 5 && memcmp(m, "%PDF-", 5) == 0)
        return VG_MONITOR_SERVED_PDF;
    if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b)
        return VG_MONITOR_SERVED_GZIP;
    if (n >= 8 && memcmp(m, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8) == 0)
        return VG_MONITOR_SERVED_OLE2;
    if (n > 0)
        return mon_body_is_html(m, n) ? VG_MONITOR_SERVED_HTML : NULL;
    /* no body (a HEAD): only the types no server sends by mistake for data */
    if (!ctype)
        return NULL;
    if (mon_ctype_is_html(ctype))
        return VG_MONITOR_SERVED_HTML;
    if (strncasecmp(ctype, "application/pdf", 15) == 0)
        return VG_MONITOR_SERVED_PDF;
    if (strncasecmp(ctype, "application/zip", 15) == 0 ||
        strncasecmp(ctype, "application/x-zip", 17) == 0)
        return VG_MONITOR_SERVED_ZIP;
    return NULL;
}

/* The declared format, lower case, dots and blanks dropped ("  .CSV" ->
 * "csv"); the mimetype's subtype when no format is declared. */
static void declared(const char *format, const char *mimetype, char *out, size_t size)
{
    const char *s = format && *format ? format : NULL;
    if (!s && mimetype) {
        const char *slash = strchr(mimetype, '/');
        s = slash ? slash + 1 : mimetype;
    }
    size_t j = 0;
    for (; s && *s && j + 1 < size; s++)
        if (isalnum((unsigned char)*s))
            out[j++] = (char)tolower((unsigned char)*s);
    out[j] = 0;
}

static bool in(const char *w, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(w, *list) == 0)
            return true;
    return false;
}

bool mon_format_drifts(const char *format, const char *mimetype, const char *served)
{
    if (!served)
        return false;
    char f[32];
    declared(format, mimetype, f, sizeof f);
    if (!f[0])
        return false;
    /* declared formats each served kind is fine for */
    static const char *const zip_ok[] = {"zip",
                                         "xlsx",
                                         "docx",
                                         "pptx",
                                         "ods",
                                         "odt",
                                         "odp",
                                         "kmz",
                                         "shp",
                                         "shapefile",
                                         "gtfs",
                                         "xlsm",
                                         "xzip",
                                         "xzipcompressed",
                                         "vndopenxmlformatsofficedocumentspreadsheetmlsheet",
                                         "epub",
                                         NULL};
    static const char *const ole2_ok[] = {"xls", "doc", "ppt", "msg", "vndmsexcel", "msword", NULL};
    static const char *const pdf_ok[] = {"pdf", NULL};
    static const char *const gzip_ok[] = {"gz", "gzip", "tgz", "targz", "xgzip", NULL};
    static const char *const html_ok[] = {
        "html", "htm", "web",    "url",      "link",   "website",   "xhtml",    "api",
        "wms",  "wfs", "arcgis", "esrirest", "pagina", "paginaweb", "sitioweb", NULL};
    /* formats that name data: a drift is only called against these */
    static const char *const data[] = {
        "csv",    "tsv",  "txt",    "json",    "geojson", "xml",        "rdf",       "kml",
        "xlsx",   "xls",  "ods",    "zip",     "pdf",     "docx",       "doc",       "shp",
        "kmz",    "gz",   "gzip",   "parquet", "sav",     "dta",        "dbf",       "jsonld",
        "ndjson", "gpkg", "csvzip", "textcsv", "plain",   "vndmsexcel", "shapefile", NULL};
    if (!in(f, data) && !in(f, zip_ok) && !in(f, ole2_ok))
        return false;
    if (strcmp(served, VG_MONITOR_SERVED_ZIP) == 0)
        return !in(f, zip_ok);
    if (strcmp(served, VG_MONITOR_SERVED_OLE2) == 0)
        return !in(f, ole2_ok) && !in(f, zip_ok); /* an old XLS labelled XLSX is no news */
    if (strcmp(served, VG_MONITOR_SERVED_PDF) == 0)
        return !in(f, pdf_ok);
    if (strcmp(served, VG_MONITOR_SERVED_GZIP) == 0)
        return !in(f, gzip_ok);
    if (strcmp(served, VG_MONITOR_SERVED_HTML) == 0)
        return !in(f, html_ok);
    return false;
}
