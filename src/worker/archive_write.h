/*
 * archive_write: the files of an auditor's archive as they are written,
 * row by row: a file whose SHA-256 and size are counted on the way
 * (tt_hashed_t), RFC 4180 CSV with the portal's rule against formula
 * injection, and the workbook's sheets (libxlsxwriter, constant memory:
 * each row goes to disk as it is written).  Used by archive.c.
 */

#ifndef TT_ARCHIVE_WRITE_H
#define TT_ARCHIVE_WRITE_H

#include <stddef.h>
#include <stdio.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <xlsxwriter.h>


/* a file being written, its digest and size counted as it goes */
typedef struct {
    FILE         *f;
    EVP_MD_CTX   *md;
    long long     size;
    int           failed;       /* a write failed: errno was set */
} tt_hashed_t;


/* creates path; -1 with err */
int tt_hashed_open(tt_hashed_t *h, const char *path, char *err,
    size_t errlen);

void tt_hashed_write(tt_hashed_t *h, const void *data, size_t len);

/* closes the file, hex into sha (65 bytes); -1 with err (a failed write) */
int tt_hashed_close(tt_hashed_t *h, char *sha, char *err, size_t errlen);

/* closes a file given up on (nothing reported) */
void tt_hashed_abort(tt_hashed_t *h);

/* the SHA-256 (hex) and size of an existing file; -1 with err */
int tt_hash_file(const char *path, char *sha, long long *size, char *err,
    size_t errlen);


/*
 * One CSV line of row i of res (every column; NULL: empty), ended by
 * CRLF; the header line from the column names when i < 0.
 */
void tt_csv_row(tt_hashed_t *h, const PGresult *res, int i);

/*
 * Row `row` of the sheet from row i of res (numbers as numbers, NULL
 * left empty), or the column names in bold when i < 0.  0, or -1.
 */
int tt_xlsx_row(lxw_worksheet *ws, lxw_format *bold, lxw_row_t row,
    const PGresult *res, int i);

#endif /* TT_ARCHIVE_WRITE_H */
