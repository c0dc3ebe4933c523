/*
 * import: the reading loop and its one transaction.  The first row of the
 * file is the header: it picks and binds the mapping, and only then does
 * the transaction begin and the COPY open.  Every later row is checked by
 * import_row.c and either streamed into the COPY or written to the
 * rejects with its line number; the merge runs once the file is read.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "contracts.h"
#include "db.h"
#include "import_map.h"
#include "import_row.h"
#include "import.h"


#define TT_IMPORT_PROGRESS_ROWS  4096


typedef struct {
    PGconn               *conn;
    const tt_import_opts_t *o;
    tt_import_summary_t  *sum;
    tt_mapping_t          mapping;
    tt_map_binding_t      binding;
    tt_rulebook_t         rulebook;
    tt_import_rows_t      rows;
    int                   copying;      /* the COPY is open */
    int                   failed;
    long long             last_done;
    long long             last_total;
    char                 *err;
    size_t                errlen;
} tt_import_t;


static int tt_import_on_row(void *ctx, const tt_import_row_t *row);
static int tt_import_header(tt_import_t *im, const tt_import_row_t *row);
static int tt_import_put(void *ctx, const char *data, size_t len);
static int tt_import_finish(tt_import_t *im);
static int tt_import_is(const char *file, const char *ext);


int
tt_import_run(PGconn *conn, const tt_import_opts_t *o,
    tt_import_summary_t *sum, char *err, size_t errlen)
{
    int          rc;
    PGresult    *res;
    tt_import_t  im;

    memset(sum, 0, sizeof(*sum));
    memset(&im, 0, sizeof(im));
    im.conn = conn;
    im.o = o;
    im.sum = sum;
    im.err = err;
    im.errlen = errlen;
    err[0] = '\0';

    if (!tt_import_is(o->file, ".csv") && !tt_import_is(o->file, ".xlsx")) {
        snprintf(err, errlen, "%s: not a .csv or .xlsx file", o->file);
        return -1;
    }

    /* the contract rules bill an imported report as they bill a webhook's */
    if (!o->stage_only
        && tt_rulebook_load(conn, &im.rulebook, err, errlen) != 0)
    {
        return -1;
    }

    if (tt_import_is(o->file, ".csv")) {
        rc = tt_csv_read(o->file, tt_import_on_row, &im, err, errlen);
    } else {
        rc = tt_xlsx_read(o->file, tt_import_on_row, &im, err, errlen);
    }

    if (rc == 0 && im.binding.headers == NULL) {
        snprintf(err, errlen, "%s: no header row: the file is empty",
                 o->file);
        rc = -1;
    }

    if (rc == 0 && o->progress != NULL) {
        o->progress(o->progress_ctx, sum->rows, im.last_total,
                    im.last_total, 1);
    }

    if (rc == 0) {
        rc = tt_import_finish(&im);
    }

    if (rc != 0 && im.copying) {
        /* ends the COPY with an error: the transaction is aborted */
        PQputCopyEnd(conn, "import failed");
        while ((res = PQgetResult(conn)) != NULL) {
            PQclear(res);
        }
    }

    if (rc != 0 && PQtransactionStatus(conn) != PQTRANS_IDLE) {
        res = PQexec(conn, "ROLLBACK");
        PQclear(res);
    }

    tt_import_rows_free(&im.rows);
    tt_map_binding_free(&im.binding);
    tt_mapping_free(&im.mapping);
    tt_rulebook_free(&im.rulebook);

    return rc;
}


static int
tt_import_on_row(void *ctx, const tt_import_row_t *row)
{
    int           rc, formulas;
    char          reason[512];
    tt_import_t  *im;

    im = ctx;

    if (im->binding.headers == NULL) {
        return tt_import_header(im, row);
    }

    im->sum->rows++;
    im->last_done = row->done;
    im->last_total = row->total;

    rc = tt_import_row(&im->rows, row, &formulas, reason, sizeof(reason));

    if (rc < 0) {
        if (im->err[0] == '\0') {
            snprintf(im->err, im->errlen, "line %lld: %s", row->line,
                     reason);
        }
        return -1;
    }

    if (rc > 0) {
        im->sum->rows_rejected++;

        if (im->o->rejects != NULL) {
            fprintf(im->o->rejects, "%lld\t%s\n", row->line, reason);
        }

    } else {
        im->sum->formulas += formulas;
    }

    if (im->o->progress != NULL
        && im->sum->rows % TT_IMPORT_PROGRESS_ROWS == 0)
    {
        im->o->progress(im->o->progress_ctx, im->sum->rows, row->done,
                        row->total, 0);
    }

    return 0;
}


/* the mapping, then the transaction and the COPY */
static int
tt_import_header(tt_import_t *im, const tt_import_row_t *row)
{
    int          rc;
    char         msg[1024];
    size_t       i;
    PGresult    *res;

    /* a header name is text: checked as a data row's fields are */
    for (i = 0; i < row->nfields; i++) {
        if (row->fields[i].too_long
            || !tt_import_utf8(row->fields[i].data, row->fields[i].len))
        {
            snprintf(im->err, im->errlen, "%s: line %lld: the header row's "
                     "column %zu is not UTF-8 text", im->o->file, row->line,
                     i + 1);
            return -1;
        }
    }

    if (im->o->mapping != NULL) {
        rc = tt_mapping_load(im->o->mapping_dir, im->o->mapping,
                             &im->mapping, msg, sizeof(msg));
    } else {
        rc = tt_mapping_detect(im->o->mapping_dir, row, &im->mapping, msg,
                               sizeof(msg));
    }

    if (rc != 0
        || tt_mapping_bind(&im->mapping, row, &im->binding, msg,
                           sizeof(msg)) != 0)
    {
        /* before the transaction: nothing was written */
        tt_map_binding_free(&im->binding);
        snprintf(im->err, im->errlen, "%s: %s", im->o->file, msg);
        return -1;
    }

    snprintf(im->sum->mapping, sizeof(im->sum->mapping), "%s",
             im->mapping.name);

    im->rows.mapping = &im->mapping;
    im->rows.binding = &im->binding;
    im->rows.rulebook = im->o->stage_only ? NULL : &im->rulebook;
    im->rows.default_time_zone = im->o->default_time_zone;
    im->rows.put = tt_import_put;
    im->rows.put_ctx = im;

    if (im->o->values != NULL) {
        im->rows.values = im->o->values;
        im->rows.put_ctx = im->o->values_ctx;
    }

    if (tt_db_exec(im->conn, "BEGIN", PGRES_COMMAND_OK, im->err,
                   im->errlen) != 0)
    {
        return -1;
    }

    res = tt_db_query(im->conn, "staging table",
                      im->o->staging_sql != NULL ? im->o->staging_sql
                      : "SELECT tracktik_import_begin()", 0, NULL, im->err,
                      im->errlen);
    if (res == NULL) {
        return -1;
    }
    PQclear(res);

    res = PQexec(im->conn, im->o->copy_sql != NULL ? im->o->copy_sql
                 : "COPY tracktik_import_staging FROM STDIN");

    if (PQresultStatus(res) != PGRES_COPY_IN) {
        tt_db_error(im->conn, res, "COPY", im->err, im->errlen);
        PQclear(res);
        return -1;
    }

    PQclear(res);
    im->copying = 1;

    return 0;
}


static int
tt_import_put(void *ctx, const char *data, size_t len)
{
    tt_import_t  *im;

    im = ctx;

    return PQputCopyData(im->conn, data, (int) len) == 1 ? 0 : -1;
}


/* ends the COPY, merges, commits */
static int
tt_import_finish(tt_import_t *im)
{
    char                 rejected[32];
    PGresult            *res;
    const char          *params[3];
    tt_import_summary_t *s;

    s = im->sum;

    if (im->o->copy_end != NULL && im->o->copy_end(im->o->values_ctx) != 0) {
        tt_db_error(im->conn, NULL, "COPY", im->err, im->errlen);
        return -1;
    }

    if (PQputCopyEnd(im->conn, NULL) != 1) {
        tt_db_error(im->conn, NULL, "COPY", im->err, im->errlen);
        return -1;
    }

    im->copying = 0;
    res = PQgetResult(im->conn);

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        tt_db_error(im->conn, res, "COPY", im->err, im->errlen);
        PQclear(res);
        while ((res = PQgetResult(im->conn)) != NULL) {
            PQclear(res);
        }
        return -1;
    }

    PQclear(res);
    while ((res = PQgetResult(im->conn)) != NULL) {
        PQclear(res);
    }

    if (im->o->stage_only) {
        return 0;
    }

    snprintf(rejected, sizeof(rejected), "%lld", s->rows_rejected);
    params[0] = im->o->file;
    params[1] = im->mapping.name;
    params[2] = rejected;

    res = tt_db_query(im->conn, "merge",
                      "SELECT * FROM tracktik_import_merge($1, $2, $3)",
                      3, params, im->err, im->errlen);
    if (res == NULL) {
        return -1;
    }

    if (PQntuples(res) != 1) {
        snprintf(im->err, im->errlen, "merge: no result");
        PQclear(res);
        return -1;
    }

    s->run_id = atoll(PQgetvalue(res, 0, 0));
    s->rows_new = atoll(PQgetvalue(res, 0, 1));
    s->rows_unchanged = atoll(PQgetvalue(res, 0, 2));
    s->rows_updated = atoll(PQgetvalue(res, 0, 3));
    s->lines_charged = atoll(PQgetvalue(res, 0, 4));
    s->lines_credited = atoll(PQgetvalue(res, 0, 5));
    PQclear(res);

    return tt_db_exec(im->conn, "COMMIT", PGRES_COMMAND_OK, im->err,
                      im->errlen);
}


/* file ends in ext, any case */
static int
tt_import_is(const char *file, const char *ext)
{
    size_t  len, elen;

    len = strlen(file);
    elen = strlen(ext);

    return len > elen && strcasecmp(file + len - elen, ext) == 0;
}
