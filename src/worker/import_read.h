/*
 * import_read: what the export readers (import_csv.c, import_xlsx.c)
 * hand to the importer, one row at a time.  A reader keeps at most one
 * row in memory; a row's fields live until the callback returns.
 */

#ifndef TT_IMPORT_READ_H
#define TT_IMPORT_READ_H

#include <stddef.h>


/* a field longer than this is not kept: its row is rejected */
#define TT_IMPORT_FIELD_MAX  (1024 * 1024)

/* a row over either is refused, the file with it: each field below the
 * limit above still made a row of any size (an XLSX of 2 kB repeating a
 * shared string of 1 MB in 16384 cells asked for 16 GB) */
#define TT_IMPORT_ROW_MAX     (64 * 1024 * 1024)
#define TT_IMPORT_FIELDS_MAX  16384


typedef struct {
    const char  *data;          /* NUL terminated; "" when over-long */
    size_t       len;
    int          too_long;      /* longer than TT_IMPORT_FIELD_MAX */
} tt_import_field_t;


typedef struct {
    tt_import_field_t  *fields;
    size_t              nfields;
    long long           line;   /* CSV: the physical line the row starts
                                   on; XLSX: the sheet's row number */
    long long           done;   /* bytes of the source read so far */
    long long           total;  /* its size (0: unknown) */
} tt_import_row_t;


/* 0: go on; -1: stop reading (the reader returns -1, err untouched) */
typedef int (*tt_import_row_pt)(void *ctx, const tt_import_row_t *row);


/*
 * The readers: every row (the header first) to cb.  0 at the end of the
 * file; -1 with err when the file cannot be read ("FILE: not a zip
 * archive"), or -1 when cb asked to stop.
 */
int tt_csv_read(const char *file, tt_import_row_pt cb, void *ctx,
    char *err, size_t errlen);

int tt_xlsx_read(const char *file, tt_import_row_pt cb, void *ctx,
    char *err, size_t errlen);


/* the row being assembled by a reader (import_csv.c keeps it) */
typedef struct {
    tt_import_field_t  *fields;
    size_t              nfields;
    size_t              fields_size;
    char               *buf;        /* every field's bytes, NUL ended */
    size_t              len;
    size_t              size;
    size_t             *offsets;    /* fields[i].data = buf + offsets[i] */
    size_t              offsets_size;
    int                 too_big;    /* over TT_IMPORT_ROW_MAX bytes or
                                       TT_IMPORT_FIELDS_MAX fields */
} tt_import_rowbuf_t;


/* the reader's error for a row that is too_big */
#define TT_IMPORT_TOO_BIG  "is over 64 MB or 16384 columns: not an export"


/* starts the row's next field, empty; -1: no memory, or too_big */
int tt_import_rowbuf_field(tt_import_rowbuf_t *rb);

/* appends to the current field (beyond TT_IMPORT_FIELD_MAX nothing is
 * kept and the field is marked too_long); -1: no memory, or too_big */
int tt_import_rowbuf_append(tt_import_rowbuf_t *rb, const char *data,
    size_t len);

/* fills row->fields/nfields from rb (pointers valid until the next
 * change) */
void tt_import_rowbuf_finish(tt_import_rowbuf_t *rb, tt_import_row_t *row);

void tt_import_rowbuf_reset(tt_import_rowbuf_t *rb);
void tt_import_rowbuf_free(tt_import_rowbuf_t *rb);

#endif /* TT_IMPORT_READ_H */
