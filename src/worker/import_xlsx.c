/*
 * import_xlsx: the first worksheet of an XLSX export, streamed: libzip
 * inflates it (the workbook's first <sheet>, usually
 * xl/worksheets/sheet1.xml) a block at a time into expat, and a row is
 * handed on at its </row>, so memory does not grow with the sheet.
 *
 * Shared strings (xl/sharedStrings.xml) are the one part held in memory,
 * because a cell may refer to any of them: all their bytes in one buffer
 * plus one offset each, refused beyond TT_XLSX_STRINGS_MAX bytes (an
 * export written by a streaming writer uses inline strings and needs
 * none).  A formula cell (<f>) is kept as its formula text after "=",
 * never evaluated.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <expat.h>
#include <zip.h>

#include "import_read.h"


#define TT_XLSX_BLOCK        (64 * 1024)
#define TT_XLSX_STRINGS_MAX  (32 * 1024 * 1024)
#define TT_XLSX_SHEET        "xl/worksheets/sheet1.xml"
#define TT_XLSX_WORKBOOK     "xl/workbook.xml"
#define TT_XLSX_RELS         "xl/_rels/workbook.xml.rels"
#define TT_XLSX_STRINGS      "xl/sharedStrings.xml"


typedef struct {
    char      *buf;             /* every string, NUL ended */
    size_t     len;
    size_t     size;
    size_t    *offsets;
    size_t     n;
    size_t     offsets_size;
    int        in_si;
    int        in_t;            /* text of the string (not phonetic) */
    int        in_rph;
    int        too_big;
    int        nomem;
} tt_xlsx_strings_t;


/* the first sheet's part name, from the workbook and its relationships */
typedef struct {
    char       rid[64];         /* the first <sheet>'s r:id */
    char       part[256];       /* its Target, as a member name */
} tt_xlsx_first_t;


typedef struct {
    XML_Parser           parser;
    tt_xlsx_strings_t   *strings;
    tt_import_rowbuf_t   rb;
    tt_import_rowbuf_t   cell;      /* the cell's text or formula */
    tt_import_row_pt     cb;
    void                *ctx;
    long long            row;       /* this row's number */
    long long            done;
    long long            total;
    size_t               col;       /* this cell's column, 0-based */
    char                 type[12];  /* its t attribute */
    int                  in_cell;
    int                  in_value;  /* <v> or <is><t> */
    int                  in_formula;
    int                  has_formula;
    int                  stopped;
    int                  nomem;
    char                 error[200];
} tt_xlsx_sheet_t;


static int tt_xlsx_stream(zip_t *z, const char *name, XML_Parser parser,
    long long *done, long long *total, int *stop, char *err,
    size_t errlen);
static void tt_xlsx_strings_start(void *data, const XML_Char *name,
    const XML_Char **attrs);
static void tt_xlsx_strings_end(void *data, const XML_Char *name);
static void tt_xlsx_strings_text(void *data, const XML_Char *s, int len);
static void tt_xlsx_strings_put(tt_xlsx_strings_t *st, const char *s,
    size_t len);
static void tt_xlsx_sheet_start(void *data, const XML_Char *name,
    const XML_Char **attrs);
static void tt_xlsx_sheet_end(void *data, const XML_Char *name);
static void tt_xlsx_sheet_text(void *data, const XML_Char *s, int len);
static void tt_xlsx_cell_end(tt_xlsx_sheet_t *s);
static void tt_xlsx_first_sheet(zip_t *z, char *part, size_t size);
static void tt_xlsx_workbook_start(void *data, const XML_Char *name,
    const XML_Char **attrs);
static void tt_xlsx_rels_start(void *data, const XML_Char *name,
    const XML_Char **attrs);
static const char *tt_xlsx_local(const XML_Char *name);
static const char *tt_xlsx_attr(const XML_Char **attrs, const char *name);
static long long tt_xlsx_column(const char *ref);


int
tt_xlsx_read(const char *file, tt_import_row_pt cb, void *ctx, char *err,
    size_t errlen)
{
    int                 rc, zerr, stop;
    char                part[256];
    zip_t              *z;
    long long           done, total;
    XML_Parser          parser;
    tt_xlsx_sheet_t     sheet;
    tt_xlsx_strings_t   strings;

    z = zip_open(file, ZIP_RDONLY, &zerr);
    if (z == NULL) {
        snprintf(err, errlen, "%s: not a readable XLSX (zip) file", file);
        return -1;
    }

    memset(&strings, 0, sizeof(strings));
    memset(&sheet, 0, sizeof(sheet));
    rc = -1;

    if (zip_name_locate(z, TT_XLSX_STRINGS, 0) >= 0) {
        parser = XML_ParserCreate("UTF-8");
        if (parser == NULL) {
            snprintf(err, errlen, "out of memory");
            goto done;
        }

        XML_SetUserData(parser, &strings);
        XML_SetElementHandler(parser, tt_xlsx_strings_start,
                              tt_xlsx_strings_end);
        XML_SetCharacterDataHandler(parser, tt_xlsx_strings_text);

        stop = 0;
        rc = tt_xlsx_stream(z, TT_XLSX_STRINGS, parser, &done, &total,
                            &stop, err, errlen);
        XML_ParserFree(parser);

        if (rc == 0 && (strings.too_big || strings.nomem)) {
            snprintf(err, errlen, "%s: %s", file, strings.too_big
                     ? "its shared strings exceed 32 MB: save the export "
                       "as CSV" : "out of memory");
            rc = -1;
        }

        if (rc != 0) {
            goto done;
        }
    }

    parser = XML_ParserCreate("UTF-8");
    if (parser == NULL) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
        goto done;
    }

    sheet.parser = parser;
    sheet.strings = &strings;
    sheet.cb = cb;
    sheet.ctx = ctx;

    XML_SetUserData(parser, &sheet);
    XML_SetElementHandler(parser, tt_xlsx_sheet_start, tt_xlsx_sheet_end);
    XML_SetCharacterDataHandler(parser, tt_xlsx_sheet_text);

    tt_xlsx_first_sheet(z, part, sizeof(part));
    rc = tt_xlsx_stream(z, part, parser, &sheet.done, &sheet.total,
                        &sheet.stopped, err, errlen);
    XML_ParserFree(parser);

    if (sheet.nomem && sheet.rb.too_big) {
        snprintf(err, errlen, "%s: row %lld " TT_IMPORT_TOO_BIG, file,
                 sheet.row);
        rc = -1;

    } else if (sheet.nomem || sheet.error[0]) {
        snprintf(err, errlen, "%s: %s", file,
                 sheet.nomem ? "out of memory" : sheet.error);
        rc = -1;

    } else if (sheet.stopped) {
        rc = -1;
    }

done:

    tt_import_rowbuf_free(&sheet.rb);
    tt_import_rowbuf_free(&sheet.cell);
    free(strings.buf);
    free(strings.offsets);
    zip_close(z);

    return rc;
}


/* inflates member name into parser a block at a time; *stop ends it */
static int
tt_xlsx_stream(zip_t *z, const char *name, XML_Parser parser,
    long long *done, long long *total, int *stop, char *err, size_t errlen)
{
    int            rc;
    char          *block;
    zip_file_t    *zf;
    zip_int64_t    n;
    zip_stat_t     st;

    if (zip_stat(z, name, 0, &st) != 0) {
        snprintf(err, errlen, "%s is missing: not an XLSX workbook", name);
        return -1;
    }

    zf = zip_fopen(z, name, 0);
    block = malloc(TT_XLSX_BLOCK);

    if (zf == NULL || block == NULL) {
        snprintf(err, errlen, "%s: %s", name,
                 zf == NULL ? zip_strerror(z) : "out of memory");
        if (zf != NULL) {
            zip_fclose(zf);
        }
        free(block);
        return -1;
    }

    *total = (st.valid & ZIP_STAT_SIZE) ? (long long) st.size : 0;
    *done = 0;
    rc = 0;

    for ( ;; ) {
        n = zip_fread(zf, block, TT_XLSX_BLOCK);

        if (n < 0) {
            snprintf(err, errlen, "%s: %s", name, zip_file_strerror(zf));
            rc = -1;
            break;
        }

        *done += n;

        if (XML_Parse(parser, block, (int) n, n == 0) == XML_STATUS_ERROR) {
            if (!*stop) {
                snprintf(err, errlen, "%s: line %lu: %s", name,
                         (unsigned long) XML_GetCurrentLineNumber(parser),
                         XML_ErrorString(XML_GetErrorCode(parser)));
            }
            rc = -1;
            break;
        }

        if (n == 0 || *stop) {
            break;
        }
    }

    zip_fclose(zf);
    free(block);

    return rc;
}


static void
tt_xlsx_strings_start(void *data, const XML_Char *name,
    const XML_Char **attrs)
{
    size_t              *p;
    const char          *local;
    tt_xlsx_strings_t   *st;

    (void) attrs;
    st = data;
    local = tt_xlsx_local(name);

    if (strcmp(local, "si") == 0) {
        if (st->n == st->offsets_size) {
            st->offsets_size = st->offsets_size ? 2 * st->offsets_size
                                                : 1024;
            p = realloc(st->offsets, st->offsets_size * sizeof(size_t));
            if (p == NULL) {
                st->nomem = 1;
                return;
            }
            st->offsets = p;
        }

        st->in_si = 1;
        st->offsets[st->n++] = st->len;
        tt_xlsx_strings_put(st, "", 1);

    } else if (strcmp(local, "rPh") == 0) {
        st->in_rph = 1;

    } else if (strcmp(local, "t") == 0 && st->in_si && !st->in_rph) {
        st->in_t = 1;
    }
}


static void
tt_xlsx_strings_end(void *data, const XML_Char *name)
{
    const char          *local;
    tt_xlsx_strings_t   *st;

    st = data;
    local = tt_xlsx_local(name);

    if (strcmp(local, "si") == 0) {
        st->in_si = 0;

    } else if (strcmp(local, "rPh") == 0) {
        st->in_rph = 0;

    } else if (strcmp(local, "t") == 0) {
        st->in_t = 0;
    }
}


static void
tt_xlsx_strings_text(void *data, const XML_Char *s, int len)
{
    tt_xlsx_strings_t  *st;

    st = data;

    if (!st->in_t || st->in_rph || st->n == 0 || st->nomem
        || st->too_big)
    {
        return;
    }

    /* over the string's NUL, then a new NUL */
    st->len--;
    tt_xlsx_strings_put(st, s, len);
    tt_xlsx_strings_put(st, "", 1);
}


static void
tt_xlsx_strings_put(tt_xlsx_strings_t *st, const char *s, size_t len)
{
    char    *p;
    size_t   size;

    if (st->nomem || st->too_big) {
        return;
    }

    if (st->len + len > TT_XLSX_STRINGS_MAX) {
        st->too_big = 1;
        return;
    }

    if (st->len + len > st->size) {
        size = st->size ? st->size : 64 * 1024;
        while (size < st->len + len) {
            size *= 2;
        }

        p = realloc(st->buf, size);
        if (p == NULL) {
            st->nomem = 1;
            return;
        }

        st->buf = p;
        st->size = size;
    }

    memcpy(st->buf + st->len, s, len);
    st->len += len;
}


static void
tt_xlsx_sheet_start(void *data, const XML_Char *name,
    const XML_Char **attrs)
{
    long long         col;
    const char       *local, *v;
    tt_xlsx_sheet_t  *s;

    s = data;
    local = tt_xlsx_local(name);

    if (strcmp(local, "row") == 0) {
        v = tt_xlsx_attr(attrs, "r");
        s->row = v != NULL ? atoll(v) : s->row + 1;
        tt_import_rowbuf_reset(&s->rb);

    } else if (strcmp(local, "c") == 0) {
        v = tt_xlsx_attr(attrs, "r");
        col = v != NULL ? tt_xlsx_column(v) : (long long) s->rb.nfields;

        if (col < (long long) s->rb.nfields || col > 16383) {
            snprintf(s->error, sizeof(s->error), "row %lld: cell %s is out "
                     "of order", s->row, v);
            XML_StopParser(s->parser, 0);
            return;
        }

        s->col = (size_t) col;
        v = tt_xlsx_attr(attrs, "t");
        snprintf(s->type, sizeof(s->type), "%s", v != NULL ? v : "n");

        s->in_cell = 1;
        s->has_formula = 0;
        tt_import_rowbuf_reset(&s->cell);

        if (tt_import_rowbuf_field(&s->cell) != 0) {
            s->nomem = 1;
            XML_StopParser(s->parser, 0);
        }

    } else if (s->in_cell && (strcmp(local, "v") == 0
                              || strcmp(local, "t") == 0))
    {
        s->in_value = 1;

    } else if (s->in_cell && strcmp(local, "f") == 0) {
        s->in_formula = 1;
        s->has_formula = 1;
    }
}


static void
tt_xlsx_sheet_end(void *data, const XML_Char *name)
{
    const char       *local;
    tt_xlsx_sheet_t  *s;
    tt_import_row_t   row;

    s = data;
    local = tt_xlsx_local(name);

    if (strcmp(local, "v") == 0 || strcmp(local, "t") == 0) {
        s->in_value = 0;

    } else if (strcmp(local, "f") == 0) {
        s->in_formula = 0;

    } else if (strcmp(local, "c") == 0 && s->in_cell) {
        s->in_cell = 0;
        tt_xlsx_cell_end(s);

    } else if (strcmp(local, "row") == 0 && s->rb.nfields > 0) {
        memset(&row, 0, sizeof(row));
        tt_import_rowbuf_finish(&s->rb, &row);
        row.line = s->row;
        row.done = s->done;
        row.total = s->total;

        if (s->cb(s->ctx, &row) != 0) {
            s->stopped = 1;
            XML_StopParser(s->parser, 0);
        }

        tt_import_rowbuf_reset(&s->rb);
    }
}


static void
tt_xlsx_sheet_text(void *data, const XML_Char *text, int len)
{
    tt_xlsx_sheet_t  *s;

    s = data;

    /* a formula's cached result (<v> after <f>) is never used */
    if (!s->in_cell || !(s->in_formula || (s->in_value && !s->has_formula)))
    {
        return;
    }

    if (tt_import_rowbuf_append(&s->cell, text, len) != 0) {
        s->nomem = 1;
        XML_StopParser(s->parser, 0);
    }
}


/* the cell's text into the row at its column (empty fields before it) */
static void
tt_xlsx_cell_end(tt_xlsx_sheet_t *s)
{
    size_t                    len;
    unsigned long             k;
    const char               *v;
    tt_import_row_t           cell;
    const tt_import_field_t  *f;

    memset(&cell, 0, sizeof(cell));
    tt_import_rowbuf_finish(&s->cell, &cell);
    f = &cell.fields[0];

    while (s->rb.nfields < s->col) {
        if (tt_import_rowbuf_field(&s->rb) != 0) {
            goto nomem;
        }
    }

    if (tt_import_rowbuf_field(&s->rb) != 0) {
        goto nomem;
    }

    if (f->too_long) {
        /* beyond the limit: the row's field is marked too */
        s->rb.fields[s->rb.nfields - 1].too_long = 1;
        return;
    }

    v = f->data;
    len = f->len;

    if (s->has_formula) {
        if (tt_import_rowbuf_append(&s->rb, "=", 1) != 0) {
            goto nomem;
        }

    } else if (strcmp(s->type, "s") == 0) {
        k = strtoul(v, NULL, 10);

        if (k >= s->strings->n) {
            snprintf(s->error, sizeof(s->error), "row %lld: shared string "
                     "%lu does not exist", s->row, k);
            XML_StopParser(s->parser, 0);
            return;
        }

        v = s->strings->buf + s->strings->offsets[k];
        len = strlen(v);
    }

    if (tt_import_rowbuf_append(&s->rb, v, len) != 0) {
        goto nomem;
    }

    return;

nomem:

    s->nomem = 1;
    XML_StopParser(s->parser, 0);
}


/*
 * The member holding the workbook's first sheet: the first <sheet> of
 * xl/workbook.xml, through its relationship in workbook.xml.rels (Excel
 * renumbers nothing when sheets are moved or deleted); sheet1.xml when
 * either is missing or says nothing usable.
 */
static void
tt_xlsx_first_sheet(zip_t *z, char *part, size_t size)
{
    int                      i, stop;
    char                     err[256];
    long long                done, total;
    XML_Parser               parser;
    tt_xlsx_first_t          first;
    const char              *member[2] = { TT_XLSX_WORKBOOK,
                                           TT_XLSX_RELS };
    XML_StartElementHandler  handler[2] = { tt_xlsx_workbook_start,
                                            tt_xlsx_rels_start };

    memset(&first, 0, sizeof(first));

    for (i = 0; i < 2; i++) {
        parser = XML_ParserCreate("UTF-8");
        if (parser == NULL) {
            break;
        }

        XML_SetUserData(parser, &first);
        XML_SetStartElementHandler(parser, handler[i]);
        stop = 0;

        if (zip_name_locate(z, member[i], 0) < 0
            || tt_xlsx_stream(z, member[i], parser, &done, &total, &stop,
                              err, sizeof(err)) != 0)
        {
            first.part[0] = '\0';
        }

        XML_ParserFree(parser);

        if (first.rid[0] == '\0') {
            break;
        }
    }

    if (first.part[0] == '\0' || strstr(first.part, "..") != NULL) {
        snprintf(part, size, "%s", TT_XLSX_SHEET);
        return;
    }

    /* a Target is relative to xl/, or absolute in the package */
    if (first.part[0] == '/') {
        snprintf(part, size, "%s", first.part + 1);
    } else {
        snprintf(part, size, "xl/%s", first.part);
    }
}


static void
tt_xlsx_workbook_start(void *data, const XML_Char *name,
    const XML_Char **attrs)
{
    const char       *v;
    tt_xlsx_first_t  *first;

    first = data;

    if (first->rid[0] == '\0' && strcmp(tt_xlsx_local(name), "sheet") == 0)
    {
        v = tt_xlsx_attr(attrs, "id");
        if (v != NULL && strlen(v) < sizeof(first->rid)) {
            snprintf(first->rid, sizeof(first->rid), "%s", v);
        }
    }
}


static void
tt_xlsx_rels_start(void *data, const XML_Char *name,
    const XML_Char **attrs)
{
    const char       *id, *target;
    tt_xlsx_first_t  *first;

    first = data;

    if (strcmp(tt_xlsx_local(name), "Relationship") != 0) {
        return;
    }

    id = tt_xlsx_attr(attrs, "Id");
    target = tt_xlsx_attr(attrs, "Target");

    if (id != NULL && target != NULL && strcmp(id, first->rid) == 0
        && strlen(target) < sizeof(first->part) - 4)
    {
        snprintf(first->part, sizeof(first->part), "%s", target);
    }
}


/* the element name without a namespace prefix */
static const char *
tt_xlsx_local(const XML_Char *name)
{
    const char  *p;

    p = strrchr(name, ':');

    return p != NULL ? p + 1 : name;
}


static const char *
tt_xlsx_attr(const XML_Char **attrs, const char *name)
{
    size_t  i;

    for (i = 0; attrs[i] != NULL; i += 2) {
        if (strcmp(tt_xlsx_local(attrs[i]), name) == 0) {
            return attrs[i + 1];
        }
    }

    return NULL;
}


/* "AB12" -> 27; -1 without letters */
static long long
tt_xlsx_column(const char *ref)
{
    long long  col;

    col = 0;

    while (*ref >= 'A' && *ref <= 'Z' && col <= 16384) {
        col = col * 26 + (*ref - 'A' + 1);
        ref++;
    }

    return col - 1;
}
