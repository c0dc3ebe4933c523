/*
 * import_csv: an export in CSV (RFC 4180) read with libcsv, a block at a
 * time: quoted fields with embedded CR/LF, a UTF-8 byte order mark, and
 * the ';' separator European Excel writes (chosen from the header line:
 * whichever of ',' and ';' it has more of outside quotes).  Line numbers
 * are physical lines: a row with a quoted line break spans several, and
 * blank lines count.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <csv.h>

#include "import_read.h"


#define TT_CSV_BLOCK  (256 * 1024)

/* libcsv keeps a field whole until it ends: a file that has not ended one
 * for this many blocks (8 MB: an unterminated quote, most likely) is
 * refused, so its memory stays bounded */
#define TT_CSV_BLOCKS_PER_FIELD  32


typedef struct {
    tt_import_rowbuf_t   rb;
    tt_import_row_pt     cb;
    void                *ctx;
    long long            line;          /* where the next row starts */
    long long            breaks;        /* line breaks inside this row */
    long long            done;
    long long            total;
    int                  blocks;        /* read since the last field */
    int                  last_end;      /* what ended the last row */
    int                  stopped;       /* cb said stop */
    int                  nomem;
} tt_csv_state_t;


static void tt_csv_field(void *data, size_t len, void *arg);
static void tt_csv_row(int c, void *arg);
static unsigned char tt_csv_delimiter(const char *p, size_t len);
static int tt_csv_no_space(unsigned char c);


int
tt_csv_read(const char *file, tt_import_row_pt cb, void *ctx, char *err,
    size_t errlen)
{
    int                rc;
    FILE              *f;
    char              *block;
    size_t             n, skip;
    struct stat        st;
    struct csv_parser  p;
    tt_csv_state_t     s;

    f = fopen(file, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", file, strerror(errno));
        return -1;
    }

    block = malloc(TT_CSV_BLOCK);
    if (block == NULL || csv_init(&p, CSV_REPALL_NL) != 0) {
        snprintf(err, errlen, "out of memory");
        free(block);
        fclose(f);
        return -1;
    }

    memset(&s, 0, sizeof(s));
    s.cb = cb;
    s.ctx = ctx;
    s.line = 1;
    s.total = fstat(fileno(f), &st) == 0 ? (long long) st.st_size : 0;

    rc = 0;
    skip = 0;

    n = fread(block, 1, TT_CSV_BLOCK, f);

    if (n >= 3 && memcmp(block, "\xEF\xBB\xBF", 3) == 0) {
        skip = 3;
    }

    csv_set_delim(&p, tt_csv_delimiter(block + skip, n - skip));
    csv_set_space_func(&p, tt_csv_no_space);

    /* libcsv grows a field's buffer by this much at a time (128 bytes by
     * default: a 1 MB field was thousands of reallocations) */
    csv_set_blk_size(&p, TT_CSV_BLOCK);

    while (n > 0 && !s.stopped && !s.nomem) {
        s.done += n;

        if (csv_parse(&p, block + skip, n - skip, tt_csv_field, tt_csv_row,
                      &s) != n - skip)
        {
            snprintf(err, errlen, "%s: %s", file,
                     csv_strerror(csv_error(&p)));
            rc = -1;
            break;
        }

        if (++s.blocks > TT_CSV_BLOCKS_PER_FIELD) {
            snprintf(err, errlen, "%s: line %lld: a field runs on for more "
                     "than %d MB (a quote never closed?)", file, s.line,
                     TT_CSV_BLOCKS_PER_FIELD * TT_CSV_BLOCK / 1048576);
            rc = -1;
            break;
        }

        skip = 0;
        n = fread(block, 1, TT_CSV_BLOCK, f);
    }

    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "%s: read error", file);
        rc = -1;
    }

    if (rc == 0 && !s.stopped && !s.nomem) {
        /* a last row without a line break */
        csv_fini(&p, tt_csv_field, tt_csv_row, &s);
    }

    if (rc == 0 && s.nomem && s.rb.too_big) {
        snprintf(err, errlen, "%s: line %lld: the row " TT_IMPORT_TOO_BIG,
                 file, s.line);
        rc = -1;

    } else if (rc == 0 && s.nomem) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }

    if (rc == 0 && s.stopped) {
        rc = -1;
    }

    csv_free(&p);
    tt_import_rowbuf_free(&s.rb);
    free(block);
    fclose(f);

    return rc;
}


static void
tt_csv_field(void *data, size_t len, void *arg)
{
    size_t           i;
    const char      *d;
    tt_csv_state_t  *s;

    s = arg;
    d = data;

    if (s->stopped || s->nomem) {
        return;
    }

    s->blocks = 0;

    /* CRLF, lone CR and lone LF each end one physical line */
    for (i = 0; i < len; i++) {
        if (d[i] == '\n' || (d[i] == '\r' && (i + 1 == len
                                               || d[i + 1] != '\n')))
        {
            s->breaks++;
        }
    }

    if (tt_import_rowbuf_field(&s->rb) != 0
        || tt_import_rowbuf_append(&s->rb, d, len) != 0)
    {
        s->nomem = 1;
    }
}


static void
tt_csv_row(int c, void *arg)
{
    tt_csv_state_t   *s;
    tt_import_row_t   row;

    s = arg;

    if (s->stopped || s->nomem) {
        return;
    }

    if (s->rb.nfields == 0) {
        /* the LF of a CRLF that ended a row, or a blank line */
        if (c == '\n' && s->last_end == '\r') {
            s->last_end = -1;
            return;
        }

        s->line++;
        s->last_end = c;
        return;
    }

    memset(&row, 0, sizeof(row));
    tt_import_rowbuf_finish(&s->rb, &row);
    row.line = s->line;
    row.done = s->done;
    row.total = s->total;

    if (s->cb(s->ctx, &row) != 0) {
        s->stopped = 1;
    }

    s->line += 1 + s->breaks;
    s->breaks = 0;
    s->last_end = c;
    tt_import_rowbuf_reset(&s->rb);
}


/* ';' when the first line has more of them than ',' outside quotes */
static unsigned char
tt_csv_delimiter(const char *p, size_t len)
{
    int     quoted;
    size_t  i, commas, semicolons;

    quoted = 0;
    commas = 0;
    semicolons = 0;

    for (i = 0; i < len; i++) {
        if (p[i] == '"') {
            quoted = !quoted;

        } else if (!quoted && (p[i] == '\n' || p[i] == '\r')) {
            break;

        } else if (!quoted && p[i] == ',') {
            commas++;

        } else if (!quoted && p[i] == ';') {
            semicolons++;
        }
    }

    return semicolons > commas ? ';' : ',';
}


/* spaces around an unquoted field are part of it (RFC 4180), as in the
 * XLSX of the same export */
static int
tt_csv_no_space(unsigned char c)
{
    (void) c;
    return 0;
}
