/*
 * audit_out: an audit's differences as files (audit.csv, every one;
 * audit.html, the counts and the first rows of each kind) and as the
 * schedule's record (audit.h).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "db.h"
#include "tt_time.h"


/* the HTML shows this many rows of a kind; the CSV has them all */
#define TT_AUDIT_HTML_ROWS  1000


static const char  *tt_audit_titles[TT_AUDIT_KINDS] = {
    "Missing from the ledger", "Missing from the source", "Changed",
    "Billing lines without a report", "Reports that should have billed"
};


static int tt_audit_csv(PGconn *conn, const char *path, char *err,
    size_t errlen);
static int tt_audit_html(PGconn *conn, const char *path, const char *title,
    const tt_audit_spec_t *spec, const tt_audit_result_t *result,
    char *err, size_t errlen);
static int tt_audit_html_kind(PGconn *conn, FILE *f, int k, long long n,
    char *err, size_t errlen);
static void tt_audit_escape(FILE *f, const char *s);
static int tt_audit_close(FILE *f, const char *path, char *err,
    size_t errlen);


int
tt_audit_write(PGconn *conn, const char *dir, const char *title,
    const tt_audit_spec_t *spec, const tt_audit_result_t *result,
    char *err, size_t errlen)
{
    char  path[4096];

    snprintf(path, sizeof(path), "%s/audit.csv", dir);

    if (tt_audit_csv(conn, path, err, errlen) != 0) {
        return -1;
    }

    snprintf(path, sizeof(path), "%s/audit.html", dir);

    return tt_audit_html(conn, path, title, spec, result, err, errlen);
}


/* the lines audit.sql writes, through a cursor */
static int
tt_audit_csv(PGconn *conn, const char *path, char *err, size_t errlen)
{
    int        i, n;
    FILE      *f;
    PGresult  *res;

    f = fopen(path, "wb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }

    if (tt_db_exec(conn, "DECLARE tt_audit_csv NO SCROLL CURSOR FOR"
                   " SELECT line FROM tracktik_audit_csv_lines()",
                   PGRES_COMMAND_OK, err, errlen) != 0)
    {
        fclose(f);
        return -1;
    }

    do {
        res = tt_db_query(conn, "reading the differences",
                          "FETCH 10000 FROM tt_audit_csv", 0, NULL, err,
                          errlen);
        if (res == NULL) {
            fclose(f);
            return -1;
        }

        n = PQntuples(res);
        for (i = 0; i < n; i++) {
            fputs(PQgetvalue(res, i, 0), f);
        }
        PQclear(res);

    } while (n > 0);

    return tt_audit_close(f, path, err, errlen);
}


static int
tt_audit_html(PGconn *conn, const char *path, const char *title,
    const tt_audit_spec_t *spec, const tt_audit_result_t *result,
    char *err, size_t errlen)
{
    int    k;
    char   from[32], to[32];
    FILE  *f;

    f = fopen(path, "wb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }

    tt_time_format_utc(spec->from, from, sizeof(from));
    tt_time_format_utc(spec->to, to, sizeof(to));

    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
          "<meta charset=\"utf-8\">\n<title>Ledger audit</title>\n"
          "<style>body{font-family:sans-serif;margin:2em}"
          "table{border-collapse:collapse;margin-bottom:2em}"
          "td,th{border:1px solid #999;padding:.2em .5em;text-align:left;"
          "vertical-align:top}.agree{color:#060}.differ{color:#a00}"
          "</style>\n</head>\n<body>\n<h1>Ledger audit</h1>\n<p>Source: ",
          f);
    tt_audit_escape(f, title);
    fprintf(f, "<br>Period: %s to %s (UTC)<br>Reports of the period: "
            "%lld in the ledger, %lld in the source", from, to,
            result->ledger_reports, result->source_reports);

    if (result->source_rejected > 0) {
        fprintf(f, "<br>Source rows refused as unreadable: %lld",
                result->source_rejected);
    }

    fprintf(f, "</p>\n<p class=\"%s\"><strong>%s</strong></p>\n"
            "<table>\n<tr><th>Difference</th><th>Count</th></tr>\n",
            result->differences ? "differ" : "agree",
            result->differences ? "The ledger and the source differ."
                                : "The ledger and the source agree.");

    for (k = 0; k < TT_AUDIT_KINDS; k++) {
        fprintf(f, "<tr><td>%s</td><td>%lld</td></tr>\n",
                tt_audit_titles[k], result->counts[k]);
    }

    fputs("</table>\n", f);

    for (k = 0; k < TT_AUDIT_KINDS; k++) {
        if (result->counts[k] > 0
            && tt_audit_html_kind(conn, f, k, result->counts[k], err,
                                  errlen) != 0)
        {
            fclose(f);
            return -1;
        }
    }

    fputs("</body>\n</html>\n", f);

    return tt_audit_close(f, path, err, errlen);
}


static int
tt_audit_html_kind(PGconn *conn, FILE *f, int k, long long n, char *err,
    size_t errlen)
{
    int          i, c;
    char         limit[16];
    PGresult    *res;
    const char  *params[2];

    snprintf(limit, sizeof(limit), "%d", TT_AUDIT_HTML_ROWS);
    params[0] = tt_audit_kinds[k];
    params[1] = limit;

    res = tt_db_query(conn, "reading the differences",
                      "SELECT report_id, field, ledger_value, source_value"
                      "  FROM tracktik_audit_diff WHERE kind = $1"
                      " ORDER BY report_id, field LIMIT $2", 2, params, err,
                      errlen);
    if (res == NULL) {
        return -1;
    }

    fprintf(f, "<h2 id=\"%s\">%s (%lld)</h2>\n", tt_audit_kinds[k],
            tt_audit_titles[k], n);

    if (n > TT_AUDIT_HTML_ROWS) {
        fprintf(f, "<p>The first %d; audit.csv has every one.</p>\n",
                TT_AUDIT_HTML_ROWS);
    }

    fputs("<table>\n<tr><th>Report</th><th>Field</th><th>Ledger</th>"
          "<th>Source</th></tr>\n", f);

    for (i = 0; i < PQntuples(res); i++) {
        fputs("<tr>", f);
        for (c = 0; c < 4; c++) {
            fputs("<td>", f);
            tt_audit_escape(f, PQgetvalue(res, i, c));
            fputs("</td>", f);
        }
        fputs("</tr>\n", f);
    }

    fputs("</table>\n", f);
    PQclear(res);

    return 0;
}


/* text as HTML: the five characters that could end it escaped */
static void
tt_audit_escape(FILE *f, const char *s)
{
    for ( /* void */ ; *s != '\0'; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}


static int
tt_audit_close(FILE *f, const char *path, char *err, size_t errlen)
{
    if (ferror(f) | (fclose(f) != 0)) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }

    return 0;
}


long long
tt_audit_record(PGconn *conn, long long pull_id,
    const tt_audit_spec_t *spec, const tt_audit_result_t *result,
    char *err, size_t errlen)
{
    char          pull[24], from[32], to[32], ledger[24], source[24];
    char          pending[24], since[32];
    long long     id;
    PGresult     *res;
    const char   *params[8];

    snprintf(pull, sizeof(pull), "%lld", pull_id);
    tt_time_format_utc(spec->from, from, sizeof(from));
    tt_time_format_utc(spec->to, to, sizeof(to));
    snprintf(ledger, sizeof(ledger), "%lld", result->ledger_reports);
    snprintf(source, sizeof(source), "%lld", result->source_reports);
    snprintf(pending, sizeof(pending), "%lld", result->pending);
    tt_time_format_utc(result->since, since, sizeof(since));

    params[0] = pull_id > 0 ? pull : NULL;
    params[1] = spec->file != NULL ? spec->file : "api";
    params[2] = from;
    params[3] = to;
    params[4] = ledger;
    params[5] = source;
    params[6] = pending;
    params[7] = result->since != 0 ? since : NULL;

    res = tt_db_query(conn, "recording the audit",
                      "SELECT tracktik_audit_record($1, $2, $3, $4, $5, $6,"
                      " $7, $8)", 8, params, err, errlen);
    if (res == NULL) {
        return -1;
    }

    id = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);

    return id;
}


long long
tt_audit_scheduled(const tt_config_t *cfg, long long pull_id,
    long long from, long long to, volatile sig_atomic_t *stop,
    tt_audit_result_t *result, char *err, size_t errlen)
{
    PGconn          *conn;
    long long        id;
    tt_audit_spec_t  spec;

    conn = tt_db_connect(cfg->dsn, err, errlen);
    if (conn == NULL) {
        return -1;
    }

    memset(&spec, 0, sizeof(spec));
    spec.from = from;
    spec.to = to;
    spec.skip_pending = 1;
    spec.pull = pull_id;

    id = -1;

    if (tt_audit_run(conn, cfg, &spec, stop, result, err, errlen) == 0) {
        id = tt_audit_record(conn, pull_id, &spec, result, err, errlen);

        if (id >= 0
            && tt_db_exec(conn, "COMMIT", PGRES_COMMAND_OK, err, errlen)
               != 0)
        {
            id = -1;
        }
    }

    PQfinish(conn);
    return id;
}
