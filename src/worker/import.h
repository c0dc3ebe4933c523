/*
 * import: `tracktik-worker import FILE` without the command line: read
 * an export (CSV or XLSX), check each row, COPY the good ones into a
 * staging table and merge them into the ledger in one transaction
 * (sql/functions/import.sql).  Nothing is written before the header row
 * has been matched to a mapping; a rejected row is reported and skipped.
 */

#ifndef TT_IMPORT_H
#define TT_IMPORT_H

#include <stdio.h>
#include <libpq-fe.h>


struct tt_import_values_s;       /* import_row.h */


typedef struct {
    const char  *file;
    const char  *mapping;           /* NULL: detected from the header */
    const char  *mapping_dir;       /* conf/import-mappings */
    const char  *default_time_zone;
    FILE        *rejects;           /* "LINE<TAB>REASON" lines; NULL */

    /* called every few thousand rows, and once with read = 1 when the
     * file has been read (done, total: bytes of the source) */
    void       (*progress)(void *ctx, long long rows, long long done,
                           long long total, int read);
    void        *progress_ctx;

    /* audit.c: the rows only staged, not merged, and the transaction
     * left open (no contract rules: the audit does not read the lines);
     * staging_sql creates the staging table (NULL: the import's own) */
    int          stage_only;
    const char  *staging_sql;

    /* the audit's lean staging: copy_sql opens the COPY (NULL: the
     * import's), each good row's checked values go to values (with
     * values_ctx) instead of the import's COPY line, and copy_end runs
     * before the COPY ends; -1 from either stops the import */
    const char  *copy_sql;
    int        (*values)(void *ctx, long long line,
                         const struct tt_import_values_s *x);
    int        (*copy_end)(void *ctx);
    void        *values_ctx;
} tt_import_opts_t;


typedef struct {
    char         mapping[128];
    long long    rows;              /* data rows read */
    long long    rows_new;
    long long    rows_unchanged;
    long long    rows_updated;
    long long    rows_rejected;
    long long    formulas;          /* cells kept as text */
    long long    lines_charged;
    long long    lines_credited;
    long long    run_id;
} tt_import_summary_t;


/* 0 with *sum filled; -1 with err (nothing was written) */
int tt_import_run(PGconn *conn, const tt_import_opts_t *o,
    tt_import_summary_t *sum, char *err, size_t errlen);

#endif /* TT_IMPORT_H */
