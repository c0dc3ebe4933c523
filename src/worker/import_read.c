/*
 * import_read: the row buffer both export readers fill.  One buffer holds
 * the fields' bytes back to back, so a row costs no allocation once the
 * buffer has grown to the widest row; a field stops growing at
 * TT_IMPORT_FIELD_MAX and is only marked.
 */

#include <stdlib.h>
#include <string.h>

#include "import_read.h"


static int tt_import_grow(void **p, size_t *size, size_t need, size_t unit);


int
tt_import_rowbuf_field(tt_import_rowbuf_t *rb)
{
    size_t  need;

    need = rb->nfields + 1;

    if (need > TT_IMPORT_FIELDS_MAX) {
        rb->too_big = 1;
        return -1;
    }

    if (tt_import_grow((void **) &rb->fields, &rb->fields_size, need,
                       sizeof(tt_import_field_t)) != 0
        || tt_import_grow((void **) &rb->offsets, &rb->offsets_size, need,
                          sizeof(size_t)) != 0
        || tt_import_grow((void **) &rb->buf, &rb->size, rb->len + 1, 1)
           != 0)
    {
        return -1;
    }

    rb->offsets[rb->nfields] = rb->len;
    rb->fields[rb->nfields].len = 0;
    rb->fields[rb->nfields].too_long = 0;
    rb->buf[rb->len++] = '\0';
    rb->nfields++;

    return 0;
}


int
tt_import_rowbuf_append(tt_import_rowbuf_t *rb, const char *data,
    size_t len)
{
    tt_import_field_t  *f;

    if (rb->nfields == 0 && tt_import_rowbuf_field(rb) != 0) {
        return -1;
    }

    f = &rb->fields[rb->nfields - 1];

    if (f->too_long) {
        return 0;
    }

    if (f->len + len > TT_IMPORT_FIELD_MAX) {
        /* drop what was kept: the row is rejected, its bytes unused */
        rb->len -= f->len;
        rb->buf[rb->len - 1] = '\0';
        f->len = 0;
        f->too_long = 1;
        return 0;
    }

    if (rb->len + len > TT_IMPORT_ROW_MAX) {
        rb->too_big = 1;
        return -1;
    }

    if (tt_import_grow((void **) &rb->buf, &rb->size, rb->len + len, 1)
        != 0)
    {
        return -1;
    }

    /* the field's NUL moves to its new end */
    memcpy(rb->buf + rb->len - 1, data, len);
    rb->len += len;
    rb->buf[rb->len - 1] = '\0';
    f->len += len;

    return 0;
}


void
tt_import_rowbuf_finish(tt_import_rowbuf_t *rb, tt_import_row_t *row)
{
    size_t  i;

    for (i = 0; i < rb->nfields; i++) {
        rb->fields[i].data = rb->buf + rb->offsets[i];
    }

    row->fields = rb->fields;
    row->nfields = rb->nfields;
}


void
tt_import_rowbuf_reset(tt_import_rowbuf_t *rb)
{
    rb->nfields = 0;
    rb->len = 0;
    rb->too_big = 0;
}


void
tt_import_rowbuf_free(tt_import_rowbuf_t *rb)
{
    free(rb->fields);
    free(rb->offsets);
    free(rb->buf);
    memset(rb, 0, sizeof(*rb));
}


/* *p holds at least need units (doubling) */
static int
tt_import_grow(void **p, size_t *size, size_t need, size_t unit)
{
    void    *q;
    size_t   n;

    if (need <= *size) {
        return 0;
    }

    n = *size ? *size : 64;
    while (n < need) {
        n *= 2;
    }

    q = realloc(*p, n * unit);
    if (q == NULL) {
        return -1;
    }

    *p = q;
    *size = n;

    return 0;
}
