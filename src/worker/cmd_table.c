/*
 * cmd_table: a query result for people: aligned columns for a terminal,
 * or CSV (RFC 4180) for a spreadsheet.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"


/* PostgreSQL's type oids of the numbers (pg_type.h is server-side) */
#define TT_OID_INT8     20
#define TT_OID_INT2     21
#define TT_OID_INT4     23
#define TT_OID_NUMERIC  1700


static int tt_cmd_table_numeric(PGresult *res, int col);
static void tt_cmd_csv_field(FILE *f, const char *v, int numeric);


void
tt_cmd_table(FILE *f, PGresult *res, int csv)
{
    int          i, j, n, cols, num, *width;
    const char  *v;

    cols = PQnfields(res);
    width = calloc(cols > 0 ? cols : 1, sizeof(int));
    if (width == NULL) {
        return;
    }

    for (j = 0; j < cols; j++) {
        width[j] = strlen(PQfname(res, j));
        for (i = 0; i < PQntuples(res); i++) {
            n = PQgetisnull(res, i, j) ? 1 : PQgetlength(res, i, j);
            width[j] = n > width[j] ? n : width[j];
        }
    }

    for (i = -1; i < PQntuples(res); i++) {
        for (j = 0; j < cols; j++) {
            num = i >= 0 && tt_cmd_table_numeric(res, j);

            if (i < 0) {
                v = PQfname(res, j);
            } else if (PQgetisnull(res, i, j)) {
                v = csv ? "" : "-";
            } else {
                v = PQgetvalue(res, i, j);
            }

            if (csv) {
                if (j > 0) {
                    fputc(',', f);
                }
                tt_cmd_csv_field(f, v, num);
            } else if (num) {
                fprintf(f, "%s%*s", j ? "  " : "", width[j], v);
            } else {
                fprintf(f, "%s%-*s", j ? "  " : "",
                        j == cols - 1 ? 0 : width[j], v);
            }
        }

        fputs(csv ? "\r\n" : "\n", f);
    }

    free(width);
}


static int
tt_cmd_table_numeric(PGresult *res, int col)
{
    Oid  t;

    t = PQftype(res, col);

    return t == TT_OID_INT8 || t == TT_OID_INT2 || t == TT_OID_INT4
           || t == TT_OID_NUMERIC;
}


/*
 * Quoted when it holds a separator, a quote or a line break.  A text
 * that a spreadsheet would take for a formula (=, +, -, @ first) gets a
 * leading ' so that opening the file runs nothing; numbers are left as
 * they are (a credit's quantity is negative).
 */
static void
tt_cmd_csv_field(FILE *f, const char *v, int numeric)
{
    const char  *p;

    if (!numeric && strchr("=+-@\t\r", v[0]) != NULL && v[0] != '\0') {
        fputc('\'', f);
    }

    if (strpbrk(v, ",\"\r\n") == NULL) {
        fputs(v, f);
        return;
    }

    fputc('"', f);
    for (p = v; *p != '\0'; p++) {
        if (*p == '"') {
            fputc('"', f);
        }
        fputc(*p, f);
    }
    fputc('"', f);
}
