/*
 * The part of the export reader harnesses (worker_csv.c, worker_xlsx.c)
 * they share: the input becomes a file (the readers take a path), the
 * reader hands every row to a callback that checks the row's contract
 * (import_read.h) and reads every byte of it, the header row is matched
 * to the project's mappings (conf/import-mappings, as the importer does)
 * and, when one binds, every later row goes through the importer's row
 * check and its COPY text (import_row.c) into a sink.
 *
 * The file is a memfd reached through /proc/self/fd/N: the reader opens
 * its own description of it, at offset 0, and nothing touches the disk.
 */

#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "import_map.h"
#include "import_row.h"
#include "worker_import.h"


#define FUZZ_MAPPINGS  "conf/import-mappings"


typedef struct {
    tt_mapping_t       mapping;
    tt_map_binding_t   binding;
    tt_import_rows_t   rows;
    int                header_seen;
    int                bound;
    int                stop_at;     /* stop after this many rows (0: no) */
    long long          nrows;
    size_t             copy_bytes;
    unsigned           sum;
} fuzz_import_t;


static int fuzz_import_row(void *ctx, const tt_import_row_t *row);
static int fuzz_import_put(void *ctx, const char *data, size_t len);


int
fuzz_import(const uint8_t *data, size_t size, fuzz_import_read_pt reader)
{
    int             rc;
    char            path[64], err[512];
    static int      fd = -1;
    fuzz_import_t   im;

    if (size > FUZZ_IMPORT_MAX) {
        return -1;              /* not kept in the corpus */
    }

    if (fd < 0) {
        fd = memfd_create("fuzz_import", 0);
        if (fd < 0) {
            perror("memfd_create");
            abort();
        }
    }

    if (ftruncate(fd, 0) != 0
        || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t) size))
    {
        perror("memfd");
        abort();
    }

    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);

    memset(&im, 0, sizeof(im));

    /* an input ending in '!' has its reader stopped by the callback after
     * its second row: the path where a reader unwinds early */
    if (size > 0 && data[size - 1] == '!') {
        im.stop_at = 2;
    }

    err[0] = '\0';
    rc = reader(path, fuzz_import_row, &im, err, sizeof(err));

    if (memchr(err, '\0', sizeof(err)) == NULL) {
        abort();                /* the message must be terminated */
    }

    if (rc == 0 && err[0] != '\0') {
        abort();                /* success says nothing */
    }

    if (rc != 0 && err[0] == '\0'
        && !(im.stop_at > 0 && im.nrows == im.stop_at))
    {
        abort();                /* a failure the reader did not explain */
    }

    if (rc == 0 && im.stop_at > 0 && im.nrows == im.stop_at) {
        abort();                /* a stop the reader did not report */
    }

    tt_import_rows_free(&im.rows);
    tt_map_binding_free(&im.binding);
    tt_mapping_free(&im.mapping);

    return 0;
}


static int
fuzz_import_row(void *ctx, const tt_import_row_t *row)
{
    int                       formulas;
    char                      reason[512];
    size_t                    i, j;
    fuzz_import_t            *im;
    const tt_import_field_t  *f;

    im = ctx;

    if (im->stop_at > 0 && im->nrows >= im->stop_at) {
        abort();                /* called again after it said stop */
    }

    im->nrows++;

    if (row->nfields == 0 || row->fields == NULL) {
        abort();                /* a reader hands on no empty row */
    }

    if (row->done < 0 || row->total < 0) {
        abort();
    }

    /* every byte, so the sanitizer sees each field's bounds */
    for (i = 0; i < row->nfields; i++) {
        f = &row->fields[i];

        if (f->data == NULL || f->data[f->len] != '\0'
            || f->len > TT_IMPORT_FIELD_MAX || (f->too_long && f->len != 0))
        {
            abort();
        }

        for (j = 0; j < f->len; j++) {
            im->sum += (unsigned char) f->data[j];
        }
    }

    if (!im->header_seen) {
        im->header_seen = 1;

        for (i = 0; i < row->nfields; i++) {
            if (row->fields[i].too_long
                || !tt_import_utf8(row->fields[i].data,
                                   row->fields[i].len))
            {
                goto done;      /* the importer refuses such a header */
            }
        }

        if (tt_mapping_detect(FUZZ_MAPPINGS, row, &im->mapping, reason,
                              sizeof(reason)) != 0
            || tt_mapping_bind(&im->mapping, row, &im->binding, reason,
                               sizeof(reason)) != 0)
        {
            goto done;
        }

        im->bound = 1;
        im->rows.mapping = &im->mapping;
        im->rows.binding = &im->binding;
        im->rows.rulebook = NULL;
        im->rows.default_time_zone = "Europe/Paris";
        im->rows.put = fuzz_import_put;
        im->rows.put_ctx = im;

    } else if (im->bound) {
        reason[0] = '\0';

        if (tt_import_row(&im->rows, row, &formulas, reason,
                          sizeof(reason)) != 0
            && reason[0] == '\0')
        {
            abort();            /* a reject names its reason */
        }
    }

done:

    return im->stop_at > 0 && im->nrows == im->stop_at ? -1 : 0;
}


/* the COPY's sink: its bytes counted */
static int
fuzz_import_put(void *ctx, const char *data, size_t len)
{
    fuzz_import_t  *im;

    im = ctx;
    im->copy_bytes += len;
    (void) data;

    return 0;
}
