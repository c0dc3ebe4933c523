/*
 * archive: the auditor's archive, assembled (archive.h).  The rows come
 * from sql/functions/portal_archive.sql, one at a time; archive_write.c writes
 * them; libzip puts the files together when the zip is closed.
 */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

#include "archive.h"
#include "archive_write.h"
#include "db.h"
#include "log.h"


#define TT_ARCHIVE_ARGS  "($1::bigint, $2::bigint[], $3::date, $4::date)"


/* the temporary files, in the order they are added to the zip */
static const char  *tt_archive_tmp[] = {
    "incidents.csv", "billing_lines.csv", "billing_totals.csv",
    "workbook.xlsx", "manifest.json", "manifest.files", NULL
};


typedef struct {
    const tt_archive_spec_t  *spec;
    tt_archive_result_t      *result;
    const char               *params[4];
    char                      tmp[PATH_MAX - 64];   /* temporary dir */
    char                      head_seq[24];
    char                      head_hash[65];
    char                      generated_at[32];
    long long                 first_seq;        /* of the rows: -1 none */
    long long                 last_seq;
    tt_hashed_t               csv;
    lxw_workbook             *wb;
    lxw_worksheet            *ws;
    lxw_format               *bold;
    lxw_row_t                 row;
    int                       sheet_cut;        /* a sheet was too long */
    int                       totals;           /* writing the totals */
    FILE                     *files;            /* manifest.files */
    int                       nfiles;
    zip_t                    *zip;
    char                     *err;
    size_t                    errlen;
} tt_archive_t;


typedef int (*tt_archive_row_pt)(tt_archive_t *a, const PGresult *res,
    int i);


static int tt_archive_build(tt_archive_t *a, PGconn *conn, const char *path);
static int tt_archive_head(tt_archive_t *a, PGconn *conn);
static int tt_archive_stream(tt_archive_t *a, PGconn *conn, const char *what,
    const char *sql, tt_archive_row_pt row);
static int tt_archive_sheet_rows(tt_archive_t *a, PGconn *conn,
    const char *file, const char *sheet, const char *what, const char *sql);
static int tt_archive_incident(tt_archive_t *a, const PGresult *res, int i);
static int tt_archive_line(tt_archive_t *a, const PGresult *res, int i);
static int tt_archive_row(tt_archive_t *a, const PGresult *res, int i);
static int tt_archive_totals(tt_archive_t *a, PGconn *conn);
static int tt_archive_photo(tt_archive_t *a, const PGresult *res, int i);
static int tt_archive_add(tt_archive_t *a, const char *name,
    const char *path, const char *sha, long long size, int store);
static int tt_archive_add_tmp(tt_archive_t *a, const char *name,
    const char *sha, long long size, int store);
static int tt_archive_csv_done(tt_archive_t *a, const char *file);
static int tt_archive_manifest(tt_archive_t *a);
static void tt_archive_tmp_path(tt_archive_t *a, const char *name,
    char *path, size_t size);
static void tt_archive_cleanup(tt_archive_t *a);


int
tt_archive_write(PGconn *conn, const tt_archive_spec_t *spec,
    const char *path, tt_archive_result_t *result, char *err, size_t errlen)
{
    int            rc;
    char          *slash;
    tt_archive_t   a;

    memset(&a, 0, sizeof(a));
    memset(result, 0, sizeof(*result));
    a.spec = spec;
    a.result = result;
    a.err = err;
    a.errlen = errlen;
    a.first_seq = -1;
    a.last_seq = -1;
    a.params[0] = spec->client;
    a.params[1] = spec->sites;
    a.params[2] = spec->from;
    a.params[3] = spec->to;

    /* the temporary files beside the zip: the same file system */
    slash = strrchr(path, '/');
    rc = snprintf(a.tmp, sizeof(a.tmp), "%.*s.tt-archive-XXXXXX",
                  slash ? (int) (slash - path + 1) : 0, path);
    if (rc < 0 || (size_t) rc >= sizeof(a.tmp) || mkdtemp(a.tmp) == NULL) {
        snprintf(err, errlen, "a temporary directory beside %s: %s", path,
                 rc < 0 || (size_t) rc >= sizeof(a.tmp) ? "path too long"
                                                        : strerror(errno));
        return -1;
    }

    if (tt_db_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                   PGRES_COMMAND_OK, err, errlen) != 0)
    {
        tt_archive_cleanup(&a);
        return -1;
    }

    rc = tt_archive_build(&a, conn, path);

    /* read only: nothing to keep, whatever happened */
    if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
        PQclear(PQexec(conn, "ROLLBACK"));
    }

    if (a.zip != NULL) {
        zip_discard(a.zip);
    }

    if (a.wb != NULL) {
        workbook_close(a.wb);
    }

    if (a.files != NULL) {
        fclose(a.files);
    }

    tt_hashed_abort(&a.csv);

    tt_archive_cleanup(&a);

    if (rc == 0
        && tt_hash_file(path, result->sha256, &result->size, err, errlen)
           != 0)
    {
        rc = -1;
    }

    return rc;
}


static int
tt_archive_build(tt_archive_t *a, PGconn *conn, const char *path)
{
    int                     zerr;
    char                    tmp[PATH_MAX];
    zip_error_t             ze;
    lxw_workbook_options    options;

    if (tt_archive_head(a, conn) != 0) {
        return -1;
    }

    tt_archive_tmp_path(a, "manifest.files", tmp, sizeof(tmp));
    a->files = fopen(tmp, "w");
    if (a->files == NULL) {
        snprintf(a->err, a->errlen, "creating %s: %s", tmp, strerror(errno));
        return -1;
    }

    /* the files are read when the zip is closed, each added once done */
    a->zip = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    if (a->zip == NULL) {
        zip_error_init_with_code(&ze, zerr);
        snprintf(a->err, a->errlen, "creating %s: %s", path,
                 zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return -1;
    }

    /* constant memory: each row is on disk once the next one starts */
    memset(&options, 0, sizeof(options));
    options.constant_memory = LXW_TRUE;
    options.tmpdir = a->tmp;

    tt_archive_tmp_path(a, "workbook.xlsx", tmp, sizeof(tmp));
    a->wb = workbook_new_opt(tmp, &options);
    a->bold = a->wb ? workbook_add_format(a->wb) : NULL;
    if (a->bold == NULL) {
        snprintf(a->err, a->errlen, "creating the workbook: out of memory");
        return -1;
    }
    format_set_bold(a->bold);

    if (tt_archive_sheet_rows(a, conn, "incidents.csv", "incidents",
            "reading the incidents",
            "SELECT * FROM tracktik_archive_incidents" TT_ARCHIVE_ARGS)
        != 0
        || tt_archive_sheet_rows(a, conn, "billing_lines.csv", "billing",
            "reading the billing lines",
            "SELECT * FROM tracktik_archive_billing" TT_ARCHIVE_ARGS)
           != 0
        || tt_archive_totals(a, conn) != 0)
    {
        return -1;
    }

    if (workbook_close(a->wb) != LXW_NO_ERROR) {
        a->wb = NULL;
        snprintf(a->err, a->errlen, "writing the workbook failed");
        return -1;
    }
    a->wb = NULL;

    if (tt_archive_add_tmp(a, "workbook.xlsx", NULL, 0, 1) != 0
        || tt_archive_stream(a, conn, "reading the photos",
               "SELECT * FROM tracktik_archive_photos" TT_ARCHIVE_ARGS,
               tt_archive_photo)
           != 0)
    {
        return -1;
    }

    if (tt_db_exec(conn, "COMMIT", PGRES_COMMAND_OK, a->err, a->errlen)
        != 0
        || tt_archive_manifest(a) != 0)
    {
        return -1;
    }

    /* every source is read now, and the zip renamed into place */
    if (zip_close(a->zip) != 0) {
        snprintf(a->err, a->errlen, "writing %s: %s", path,
                 zip_strerror(a->zip));
        return -1;
    }
    a->zip = NULL;

    return 0;
}


static int
tt_archive_head(tt_archive_t *a, PGconn *conn)
{
    PGresult  *res;

    res = tt_db_query(conn, "reading the ledger chain's head",
                      "SELECT * FROM tracktik_archive_chain_head()", 0, NULL,
                      a->err, a->errlen);
    if (res == NULL) {
        return -1;
    }

    if (PQntuples(res) != 1) {
        PQclear(res);
        snprintf(a->err, a->errlen, "the ledger chain has no head row "
                 "(migration 018)");
        return -1;
    }

    snprintf(a->head_seq, sizeof(a->head_seq), "%s", PQgetvalue(res, 0, 0));
    snprintf(a->head_hash, sizeof(a->head_hash), "%s", PQgetvalue(res, 0, 1));
    snprintf(a->generated_at, sizeof(a->generated_at), "%s",
             PQgetvalue(res, 0, 2));
    PQclear(res);

    return 0;
}


/*
 * The rows of sql one at a time (single-row mode): row(a, res, -1) with
 * the first result for the column names, then row(a, res, 0) for each
 * row.  Every result is read, whatever row() answers.
 */

static int
tt_archive_stream(tt_archive_t *a, PGconn *conn, const char *what,
    const char *sql, tt_archive_row_pt row)
{
    int                 rc, first;
    PGresult           *res;
    ExecStatusType      st;

    if (!PQsendQueryParams(conn, sql, 4, NULL, a->params, NULL, NULL, 0)
        || !PQsetSingleRowMode(conn))
    {
        tt_db_error(conn, NULL, what, a->err, a->errlen);
        while ((res = PQgetResult(conn)) != NULL) {
            PQclear(res);
        }
        return -1;
    }

    rc = 0;
    first = 1;

    while ((res = PQgetResult(conn)) != NULL) {
        st = PQresultStatus(res);

        if (rc == 0 && st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK) {
            tt_db_error(conn, res, what, a->err, a->errlen);
            rc = -1;
        }

        if (rc == 0 && first) {
            first = 0;
            rc = row(a, res, -1);
        }

        if (rc == 0 && st == PGRES_SINGLE_TUPLE) {
            rc = row(a, res, 0);
        }

        PQclear(res);
    }

    return rc;
}


/* file and a sheet of the workbook from the rows of sql */

static int
tt_archive_sheet_rows(tt_archive_t *a, PGconn *conn, const char *file,
    const char *sheet, const char *what, const char *sql)
{
    char  path[PATH_MAX];

    tt_archive_tmp_path(a, file, path, sizeof(path));

    if (tt_hashed_open(&a->csv, path, a->err, a->errlen) != 0) {
        return -1;
    }

    a->ws = workbook_add_worksheet(a->wb, sheet);
    a->row = 0;

    if (a->ws == NULL) {
        snprintf(a->err, a->errlen, "adding the %s sheet failed", sheet);
        return -1;
    }

    if (tt_archive_stream(a, conn, what, sql,
                          strcmp(sheet, "incidents") == 0
                          ? tt_archive_incident : tt_archive_line)
        != 0)
    {
        return -1;
    }

    return tt_archive_csv_done(a, file);
}


static int
tt_archive_incident(tt_archive_t *a, const PGresult *res, int i)
{
    int        c;
    long long  seq;

    if (i >= 0) {
        c = PQfnumber(res, "chain_seq");
        seq = c >= 0 ? atoll(PQgetvalue(res, i, c)) : -1;

        if (a->first_seq < 0 || seq < a->first_seq) {
            a->first_seq = seq;
        }
        if (seq > a->last_seq) {
            a->last_seq = seq;
        }

        a->result->incidents++;
    }

    return tt_archive_row(a, res, i);
}


static int
tt_archive_line(tt_archive_t *a, const PGresult *res, int i)
{
    if (i >= 0) {
        a->result->billing_lines++;
    }

    return tt_archive_row(a, res, i);
}


/* one row (or the header) into the CSV and the sheet */

static int
tt_archive_row(tt_archive_t *a, const PGresult *res, int i)
{
    tt_csv_row(&a->csv, res, i);

    /* a sheet ends at 1,048,576 rows: the CSV goes on, the manifest says
     * the workbook is cut (the last rows are kept for the totals) */
    if (!a->totals && a->row >= LXW_ROW_MAX - 64) {
        a->sheet_cut = 1;
        return 0;
    }

    if (tt_xlsx_row(a->ws, a->bold, a->row++, res, i) != 0) {
        snprintf(a->err, a->errlen, "writing row %u of the workbook failed",
                 (unsigned) a->row);
        return -1;
    }

    return 0;
}


/* the CSV being written is complete: closed, and into the zip */

static int
tt_archive_csv_done(tt_archive_t *a, const char *file)
{
    char  sha[65];

    if (tt_hashed_close(&a->csv, sha, a->err, a->errlen) != 0) {
        return -1;
    }

    return tt_archive_add_tmp(a, file, sha, a->csv.size, 0);
}


/* billing_totals.csv, and the same rows under the billing sheet's lines */

static int
tt_archive_totals(tt_archive_t *a, PGconn *conn)
{
    int        i, n;
    char       path[PATH_MAX];
    PGresult  *res;

    res = tt_db_query(conn, "totalling the billing lines",
                      "SELECT * FROM tracktik_archive_billing_totals"
                      TT_ARCHIVE_ARGS, 4, a->params, a->err, a->errlen);
    if (res == NULL) {
        return -1;
    }

    tt_archive_tmp_path(a, "billing_totals.csv", path, sizeof(path));

    if (tt_hashed_open(&a->csv, path, a->err, a->errlen) != 0) {
        PQclear(res);
        return -1;
    }

    n = PQntuples(res);
    a->row++;                   /* a blank row between lines and totals */
    a->totals = 1;

    for (i = -1; i < n; i++) {
        if (tt_archive_row(a, res, i) != 0) {
            PQclear(res);
            return -1;
        }
    }

    PQclear(res);

    return tt_archive_csv_done(a, "billing_totals.csv");
}


static int
tt_archive_photo(tt_archive_t *a, const PGresult *res, int i)
{
    char       sha[65], path[PATH_MAX];
    long long  size;

    if (i < 0) {
        return 0;
    }

    if (a->spec->photo_dir == NULL) {
        snprintf(a->err, a->errlen, "the period has photos: the attachment "
                 "directory is needed (--attachment-dir)");
        return -1;
    }

    /* storage keys are digits, letters, '.', '/', never ".." (007) */
    if (snprintf(path, sizeof(path), "%s/%s", a->spec->photo_dir,
                 PQgetvalue(res, i, 3))
        >= (int) sizeof(path))
    {
        snprintf(a->err, a->errlen, "photo %s: path too long",
                 PQgetvalue(res, i, 0));
        return -1;
    }

    if (tt_hash_file(path, sha, &size, a->err, a->errlen) != 0
        || tt_archive_add(a, PQgetvalue(res, i, 2), path, sha, size, 1) != 0)
    {
        return -1;
    }

    a->result->photos++;

    return 0;
}


/* path into the zip as name, and into the manifest unless sha is NULL */

static int
tt_archive_add(tt_archive_t *a, const char *name, const char *path,
    const char *sha, long long size, int store)
{
    zip_int64_t    idx;
    zip_source_t  *src;

    src = zip_source_file(a->zip, path, 0, -1);
    idx = src ? zip_file_add(a->zip, name, src, ZIP_FL_ENC_UTF_8) : -1;

    if (idx < 0) {
        snprintf(a->err, a->errlen, "adding %s to the zip: %s", name,
                 zip_strerror(a->zip));
        if (src != NULL) {
            zip_source_free(src);
        }
        return -1;
    }

    /* already compressed: stored as they are */
    if (store && zip_set_file_compression(a->zip, idx, ZIP_CM_STORE, 0) != 0) {
        snprintf(a->err, a->errlen, "adding %s to the zip: %s", name,
                 zip_strerror(a->zip));
        return -1;
    }

    if (sha == NULL) {
        return 0;
    }

    if (fprintf(a->files, "%s    {\"name\": \"%s\", \"size\": %lld, "
                "\"sha256\": \"%s\"}", a->nfiles ? ",\n" : "", name, size,
                sha)
        < 0)
    {
        snprintf(a->err, a->errlen, "writing the manifest: %s",
                 strerror(errno));
        return -1;
    }

    a->nfiles++;

    return 0;
}


/* a temporary file into the zip; hashed here when sha is NULL */

static int
tt_archive_add_tmp(tt_archive_t *a, const char *name, const char *sha,
    long long size, int store)
{
    char  path[PATH_MAX], own[65];

    tt_archive_tmp_path(a, name, path, sizeof(path));

    if (sha == NULL) {
        if (tt_hash_file(path, own, &size, a->err, a->errlen) != 0) {
            return -1;
        }
        sha = own;
    }

    return tt_archive_add(a, name, path, sha, size, store);
}


/*
 * manifest.json: what the archive is of, the chain's head in the same
 * snapshot as the rows, the rows' chain range, and every other file
 */

static int
tt_archive_manifest(tt_archive_t *a)
{
    int                       c;
    char                      path[PATH_MAX], files[PATH_MAX], seq[64];
    FILE                     *src;
    FILE                     *m;
    const char               *s;
    const tt_archive_spec_t  *spec;

    spec = a->spec;

    if (fflush(a->files) != 0) {
        snprintf(a->err, a->errlen, "writing the manifest: %s",
                 strerror(errno));
        return -1;
    }

    tt_archive_tmp_path(a, "manifest.json", path, sizeof(path));
    m = fopen(path, "w");
    if (m == NULL) {
        snprintf(a->err, a->errlen, "creating %s: %s", path, strerror(errno));
        return -1;
    }

    fprintf(m, "{\n  \"format\": \"tracktik-archive/1\",\n"
            "  \"client_id\": %s,\n  \"sites\": ", spec->client);

    if (spec->sites == NULL) {
        fputs("null", m);
    } else {
        /* {1,2} -> [1,2]: digits and commas only (bigint[]) */
        for (s = spec->sites; *s; s++) {
            fputc(*s == '{' ? '[' : *s == '}' ? ']' : *s, m);
        }
    }

    fprintf(m, ",\n  \"from\": \"%s\",\n  \"to\": \"%s\",\n"
            "  \"generated_at\": \"%s\",\n"
            "  \"counts\": {\"incidents\": %lld, \"billing_lines\": %lld, "
            "\"photos\": %lld},\n  \"workbook_complete\": %s,\n",
            spec->from, spec->to, a->generated_at, a->result->incidents,
            a->result->billing_lines, a->result->photos,
            a->sheet_cut ? "false" : "true");

    if (a->first_seq < 0) {
        snprintf(seq, sizeof(seq), "null, \"last_seq\": null");
    } else {
        snprintf(seq, sizeof(seq), "%lld, \"last_seq\": %lld", a->first_seq,
                 a->last_seq);
    }

    fprintf(m, "  \"ledger_chain\": {\"head_seq\": %s, \"head_hash\": "
            "\"%s\", \"first_seq\": %s},\n  \"files\": [\n",
            a->head_seq, a->head_hash, seq);

    tt_archive_tmp_path(a, "manifest.files", files, sizeof(files));
    src = fopen(files, "r");
    if (src == NULL) {
        snprintf(a->err, a->errlen, "reading %s: %s", files, strerror(errno));
        fclose(m);
        return -1;
    }

    while ((c = fgetc(src)) != EOF) {
        fputc(c, m);
    }
    fclose(src);

    fputs("\n  ]\n}\n", m);

    if (ferror(m) | fclose(m)) {
        snprintf(a->err, a->errlen, "writing %s: %s", path, strerror(errno));
        return -1;
    }

    /* the one file the manifest does not name: itself */
    return tt_archive_add(a, "manifest.json", path, NULL, 0, 0);
}


/* the temporary directory's path is checked short enough in
 * tt_archive_write() for any of tt_archive_tmp[] */

static void
tt_archive_tmp_path(tt_archive_t *a, const char *name, char *path,
    size_t size)
{
    size_t  n;

    n = strlen(a->tmp);

    if (n + 1 + strlen(name) >= size) {
        path[0] = '\0';
        return;
    }

    memcpy(path, a->tmp, n);
    path[n] = '/';
    memcpy(path + n + 1, name, strlen(name) + 1);
}


static void
tt_archive_cleanup(tt_archive_t *a)
{
    int          i;
    char         path[PATH_MAX];

    for (i = 0; tt_archive_tmp[i] != NULL; i++) {
        tt_archive_tmp_path(a, tt_archive_tmp[i], path, sizeof(path));
        (void) unlink(path);
    }

    if (rmdir(a->tmp) != 0) {
        char  q1[PATH_MAX + 64], q2[256];

        tt_log(TT_LOG_WARN, "event=archive_tmp_left dir=%s error=%s",
               tt_log_quote(a->tmp, q1, sizeof(q1)),
               tt_log_quote(strerror(errno), q2, sizeof(q2)));
    }
}

