/*
 * archive_write: CSV and XLSX rows and hashed files for the auditor's
 * archive (archive_write.h).
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "archive_write.h"


/* PostgreSQL's type oids of the numbers a sheet keeps as numbers */
#define TT_OID_INT8     20
#define TT_OID_INT4     23
#define TT_OID_NUMERIC  1700


static void tt_csv_cell(tt_hashed_t *h, const char *v);
static int tt_csv_formula(const char *v);
static int tt_csv_plain_negative(const char *v);
static lxw_error tt_xlsx_long(lxw_worksheet *ws, lxw_row_t row, int col,
    const char *v);


int
tt_hashed_open(tt_hashed_t *h, const char *path, char *err, size_t errlen)
{
    memset(h, 0, sizeof(*h));

    h->f = fopen(path, "wb");
    if (h->f == NULL) {
        snprintf(err, errlen, "creating %s: %s", path, strerror(errno));
        return -1;
    }

    h->md = EVP_MD_CTX_new();
    if (h->md == NULL || EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1) {
        snprintf(err, errlen, "SHA-256: out of memory");
        EVP_MD_CTX_free(h->md);
        fclose(h->f);
        h->f = NULL;
        return -1;
    }

    return 0;
}


void
tt_hashed_write(tt_hashed_t *h, const void *data, size_t len)
{
    if (h->failed || len == 0) {
        return;
    }

    if (fwrite(data, 1, len, h->f) != len
        || EVP_DigestUpdate(h->md, data, len) != 1)
    {
        h->failed = errno ? errno : EIO;
        return;
    }

    h->size += len;
}


static void
tt_sha_hex(EVP_MD_CTX *md, char *sha)
{
    unsigned       i, n;
    unsigned char  d[EVP_MAX_MD_SIZE];

    n = 0;
    EVP_DigestFinal_ex(md, d, &n);

    for (i = 0; i < n; i++) {
        sprintf(sha + 2 * i, "%02x", d[i]);
    }
    sha[2 * n] = '\0';
}


int
tt_hashed_close(tt_hashed_t *h, char *sha, char *err, size_t errlen)
{
    int  rc;

    rc = fclose(h->f);
    h->f = NULL;

    if (rc != 0 && !h->failed) {
        h->failed = errno ? errno : EIO;
    }

    tt_sha_hex(h->md, sha);
    EVP_MD_CTX_free(h->md);
    h->md = NULL;

    if (h->failed) {
        snprintf(err, errlen, "writing the archive's files: %s",
                 strerror(h->failed));
        return -1;
    }

    return 0;
}


void
tt_hashed_abort(tt_hashed_t *h)
{
    if (h->f != NULL) {
        fclose(h->f);
        h->f = NULL;
    }

    EVP_MD_CTX_free(h->md);
    h->md = NULL;
}


int
tt_hash_file(const char *path, char *sha, long long *size, char *err,
    size_t errlen)
{
    int          rc;
    FILE        *f;
    size_t       n;
    EVP_MD_CTX  *md;
    char         buf[65536];

    f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "reading %s: %s", path, strerror(errno));
        return -1;
    }

    md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        snprintf(err, errlen, "SHA-256: out of memory");
        EVP_MD_CTX_free(md);
        fclose(f);
        return -1;
    }

    *size = 0;

    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        EVP_DigestUpdate(md, buf, n);
        *size += n;
    }

    rc = ferror(f) ? -1 : 0;
    if (rc != 0) {
        snprintf(err, errlen, "reading %s: %s", path, strerror(errno));
    }

    fclose(f);
    tt_sha_hex(md, sha);
    EVP_MD_CTX_free(md);

    return rc;
}


void
tt_csv_row(tt_hashed_t *h, const PGresult *res, int i)
{
    int  c, n;

    n = PQnfields(res);

    for (c = 0; c < n; c++) {
        if (c > 0) {
            tt_hashed_write(h, ",", 1);
        }

        if (i < 0) {
            tt_csv_cell(h, PQfname(res, c));

        } else if (!PQgetisnull(res, i, c)) {
            tt_csv_cell(h, PQgetvalue(res, i, c));
        }
    }

    tt_hashed_write(h, "\r\n", 2);
}


/*
 * As portal_csv() (sql/functions/portal.sql) writes a cell: one a
 * spreadsheet would take for a formula gets a leading single quote and
 * quotes (OWASP's rule), one with a quote, comma, line break or
 * surrounding space is quoted, quotes doubled.
 */

static void
tt_csv_cell(tt_hashed_t *h, const char *v)
{
    const char  *p;
    int          quote, formula;

    formula = tt_csv_formula(v);
    quote = formula || strpbrk(v, "\",\r\n") != NULL
            || (*v != '\0' && (strchr(" \t\r\n\v\f", *v) != NULL
                               || strchr(" \t\r\n\v\f", v[strlen(v) - 1])
                                  != NULL));

    if (!quote) {
        tt_hashed_write(h, v, strlen(v));
        return;
    }

    tt_hashed_write(h, formula ? "\"'" : "\"", formula ? 2 : 1);

    for (p = v; *p; p++) {
        tt_hashed_write(h, p, 1);
        if (*p == '"') {
            tt_hashed_write(h, "\"", 1);
        }
    }

    tt_hashed_write(h, "\"", 1);
}


static int
tt_csv_formula(const char *v)
{
    const char  *p;

    if (*v == '\t' || *v == '\r') {
        return 1;
    }

    for (p = v; *p && strchr(" \t\r\n\v\f", *p) != NULL; p++) {
        /* void */
    }

    if (*p == '\0' || strchr("-=+@", *p) == NULL) {
        return 0;
    }

    return !tt_csv_plain_negative(v);
}


/* -12 or -12.5: a number, not a formula */

static int
tt_csv_plain_negative(const char *v)
{
    const char  *p;

    if (v[0] != '-' || v[1] < '0' || v[1] > '9') {
        return 0;
    }

    for (p = v + 1; *p >= '0' && *p <= '9'; p++) {
        /* void */
    }

    if (*p == '.') {
        if (p[1] < '0' || p[1] > '9') {
            return 0;
        }
        for (p++; *p >= '0' && *p <= '9'; p++) {
            /* void */
        }
    }

    return *p == '\0';
}


int
tt_xlsx_row(lxw_worksheet *ws, lxw_format *bold, lxw_row_t row,
    const PGresult *res, int i)
{
    int          c, n;
    Oid          type;
    lxw_error    rc;
    const char  *v;

    n = PQnfields(res);

    for (c = 0; c < n; c++) {
        if (i < 0) {
            rc = worksheet_write_string(ws, row, c, PQfname(res, c), bold);

        } else if (PQgetisnull(res, i, c)) {
            continue;

        } else {
            v = PQgetvalue(res, i, c);
            type = PQftype(res, c);

            if (type == TT_OID_INT8 || type == TT_OID_INT4
                || type == TT_OID_NUMERIC)
            {
                rc = worksheet_write_number(ws, row, c, strtod(v, NULL),
                                            NULL);
            } else {
                rc = worksheet_write_string(ws, row, c, v, NULL);

                if (rc == LXW_ERROR_MAX_STRING_LENGTH_EXCEEDED) {
                    rc = tt_xlsx_long(ws, row, c, v);
                }
            }
        }

        if (rc != LXW_NO_ERROR) {
            return -1;
        }
    }

    return 0;
}


/*
 * A cell holds at most 32,767 characters: a longer value is cut (on a
 * character boundary) and says so; the CSV has it whole.
 */

static lxw_error
tt_xlsx_long(lxw_worksheet *ws, lxw_row_t row, int col, const char *v)
{
    size_t        n;
    char         *cut;
    lxw_error     rc;
    static const char  more[] = " [cut: the CSV has all of it]";

    n = 30000;
    while (n > 0 && ((unsigned char) v[n] & 0xc0) == 0x80) {
        n--;
    }

    cut = malloc(n + sizeof(more));
    if (cut == NULL) {
        return LXW_ERROR_MEMORY_MALLOC_FAILED;
    }

    memcpy(cut, v, n);
    memcpy(cut + n, more, sizeof(more));

    rc = worksheet_write_string(ws, row, col, cut, NULL);
    free(cut);

    return rc;
}
