/*
 * worker_import: the export readers without a database.  CSV: BOM, the
 * ';' separator, quoted CR/LF and quotes, blank lines and CRLF in the
 * line numbers, a last row without a line break, over-long fields.
 * XLSX (written here with libzip): shared and inline strings, skipped
 * cells, a formula kept as text, a CR character reference, row numbers.
 * And the UTF-8 and formula checks rows go through.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>
#include <zip.h>

#include "import_read.h"
#include "import_row.h"


#define MAX_ROWS  16


/* what the readers handed over, as "line|field|field..." strings */
typedef struct {
    char    *rows[MAX_ROWS];
    size_t   n;
    int      stop_after;        /* 0: never stop */
} collected_t;


static int
collect(void *ctx, const tt_import_row_t *row)
{
    size_t        i, len;
    char         *s;
    collected_t  *c;

    c = ctx;
    assert_true(c->n < MAX_ROWS);

    len = 32;
    for (i = 0; i < row->nfields; i++) {
        len += row->fields[i].len + 16;
        assert_int_equal(strlen(row->fields[i].data), row->fields[i].len);
    }

    s = malloc(len);
    assert_non_null(s);
    snprintf(s, len, "%lld", row->line);

    for (i = 0; i < row->nfields; i++) {
        strcat(s, "|");
        strcat(s, row->fields[i].too_long ? "<too long>"
                                          : row->fields[i].data);
    }

    c->rows[c->n++] = s;

    return c->stop_after && (int) c->n == c->stop_after ? -1 : 0;
}


static void
collected_free(collected_t *c)
{
    size_t  i;

    for (i = 0; i < c->n; i++) {
        free(c->rows[i]);
    }
}


/* c holds exactly the n rows given (strings), then is freed */
static void
expect_rows(collected_t *c, size_t n, ...)
{
    size_t   i;
    va_list  ap;

    assert_int_equal(c->n, n);

    va_start(ap, n);
    for (i = 0; i < n; i++) {
        assert_string_equal(c->rows[i], va_arg(ap, const char *));
    }
    va_end(ap);

    collected_free(c);
}


static char *
temp_file(const char *suffix, const char *data, size_t len)
{
    int    fd;
    char  *path;

    path = malloc(64);
    assert_non_null(path);
    snprintf(path, 64, "/tmp/tt_import_XXXXXX%s", suffix);

    fd = mkstemps(path, strlen(suffix));
    assert_true(fd >= 0);

    if (len > 0) {
        assert_int_equal(write(fd, data, len), (ssize_t) len);
    }
    close(fd);

    return path;
}


static void
read_csv(const char *data, size_t len, collected_t *c)
{
    char  *path, err[256];

    memset(c, 0, sizeof(*c));
    path = temp_file(".csv", data, len);

    assert_int_equal(tt_csv_read(path, collect, c, err, sizeof(err)), 0);

    unlink(path);
    free(path);
}


static void
test_csv_quotes_lines_bom_semicolon(void **state)
{
    collected_t  c;
    const char   csv[] =
        "\xEF\xBB\xBF" "ID;Name;Notes\r\n"
        "1;\"a;b\";\"two\r\nlines \"\"quoted\"\"\"\r\n"
        "\r\n"
        "2; spaced ;\n"
        "3;x;\"lf\nonly\"\n"
        "4;last;no newline";

    (void) state;
    read_csv(csv, sizeof(csv) - 1, &c);

    /* line 4 is the blank one */
    expect_rows(&c, 5, "1|ID|Name|Notes", "2|1|a;b|two\r\nlines \"quoted\"",
                "5|2| spaced |", "6|3|x|lf\nonly", "8|4|last|no newline");
}


static void
test_csv_comma_wins_without_semicolons(void **state)
{
    collected_t  c;
    const char   csv[] = "ID,Note;with;semicolons\r\n1,\"x,y\"\r\n";

    (void) state;
    /* two ';' against one ',': the header decides ';' ... */
    read_csv(csv, sizeof(csv) - 1, &c);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.rows[0], "1|ID,Note|with|semicolons");
    collected_free(&c);

    /* ... and a header with more commas stays with ',' */
    read_csv("A,B,C;D\n1,2,3;4\n", 16, &c);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.rows[1], "2|1|2|3;4");
    collected_free(&c);
}


static void
test_csv_over_long_field(void **state)
{
    char         *csv;
    size_t        len, big;
    collected_t   c;

    (void) state;
    big = TT_IMPORT_FIELD_MAX + 1;
    len = big + 64;
    csv = malloc(len);
    assert_non_null(csv);

    strcpy(csv, "ID,Notes\n1,");
    len = strlen(csv);
    memset(csv + len, 'x', big);
    len += big;
    memcpy(csv + len, "\n2,ok\n", 6);
    len += 6;

    read_csv(csv, len, &c);
    expect_rows(&c, 3, "1|ID|Notes", "2|1|<too long>", "3|2|ok");
    free(csv);
}


/* a CSV of len bytes is refused with an error containing what, after
 * rows rows were handed over */
static void
csv_refused(const char *csv, size_t len, const char *what, size_t rows)
{
    char         *path, err[256];
    collected_t   c;

    memset(&c, 0, sizeof(c));
    path = temp_file(".csv", csv, len);

    assert_int_equal(tt_csv_read(path, collect, &c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, what));
    assert_int_equal(c.n, rows);

    collected_free(&c);
    unlink(path);
    free(path);
}


static void
test_csv_unclosed_quote(void **state)
{
    char    *csv;
    size_t   len;

    (void) state;
    len = 9 * 1024 * 1024;
    csv = malloc(len);
    assert_non_null(csv);
    memcpy(csv, "ID,Notes\n1,\"", 12);
    memset(csv + 12, 'x', len - 12);

    csv_refused(csv, len, ": line 2: a field runs on for more than 8 MB "
                "(a quote never closed?)", 1);
    free(csv);
}


static void
test_csv_stop_and_missing_file(void **state)
{
    char         err[256], *path;
    collected_t  c;

    (void) state;
    memset(&c, 0, sizeof(c));
    c.stop_after = 2;
    path = temp_file(".csv", "a\n1\n2\n3\n", 8);

    assert_int_equal(tt_csv_read(path, collect, &c, err, sizeof(err)), -1);
    assert_int_equal(c.n, 2);

    collected_free(&c);
    unlink(path);
    free(path);

    assert_int_equal(tt_csv_read("/nonexistent/x.csv", collect, &c, err,
                                 sizeof(err)), -1);
    assert_string_equal(err, "/nonexistent/x.csv: No such file or "
                        "directory");
}


/* an XLSX of the given members (name, text pairs, NULL ended) */
static char *
write_xlsx(const char *const *members)
{
    int           zerr;
    char         *path;
    zip_t        *z;
    zip_source_t *src;

    path = temp_file(".xlsx", NULL, 0);
    z = zip_open(path, ZIP_TRUNCATE, &zerr);
    assert_non_null(z);

    for ( ; members[0] != NULL; members += 2) {
        src = zip_source_buffer(z, members[1], strlen(members[1]), 0);
        assert_non_null(src);
        assert_true(zip_file_add(z, members[0], src, 0) >= 0);
    }

    assert_int_equal(zip_close(z), 0);

    return path;
}


/* every row of an XLSX of members into c */
static void
read_xlsx(const char *const *members, collected_t *c)
{
    char  *path, err[256];

    memset(c, 0, sizeof(*c));
    path = write_xlsx(members);

    assert_int_equal(tt_xlsx_read(path, collect, c, err, sizeof(err)), 0);

    unlink(path);
    free(path);
}


static void
test_xlsx_strings_gaps_formula(void **state)
{
    collected_t   c;
    const char   *members[] = {
        "xl/sharedStrings.xml",
        "<?xml version=\"1.0\"?><sst xmlns=\"urn:x\"><si><t>ID</t></si>"
        "<si><r><t>No</t></r><r><t>tes</t></r><rPh><t>phonetic</t></rPh>"
        "</si><si><t>a &amp; b</t></si></sst>",
        "xl/worksheets/sheet1.xml",
        "<?xml version=\"1.0\"?><worksheet xmlns=\"urn:x\"><sheetData>"
        "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c>"
        "<c r=\"B1\" t=\"s\"><v>1</v></c>"
        "<c r=\"D1\" t=\"inlineStr\"><is><t>Extra</t></is></c></row>"
        "<row r=\"3\"><c r=\"A3\"><v>42</v></c>"
        "<c r=\"C3\" t=\"s\"><v>2</v></c>"
        "<c r=\"D3\" t=\"str\"><f>SUM(A1:A2)</f><v>7</v></c></row>"
        "<row r=\"4\"><c r=\"B4\" t=\"inlineStr\"><is><t>cr&#13;\nlf</t>"
        "</is></c></row>"
        "</sheetData></worksheet>",
        NULL
    };

    (void) state;
    read_xlsx(members, &c);

    expect_rows(&c, 3, "1|ID|Notes||Extra", "3|42||a & b|=SUM(A1:A2)",
                "4||cr\r\nlf");
}


static void
test_xlsx_first_sheet_by_relationship(void **state)
{
    collected_t   c;
    const char   *members[] = {
        "xl/workbook.xml",
        "<workbook xmlns:r=\"urn:r\"><sheets><sheet name=\"Reports\" "
        "sheetId=\"7\" r:id=\"rId3\"/><sheet name=\"Other\" sheetId=\"1\" "
        "r:id=\"rId1\"/></sheets></workbook>",
        "xl/_rels/workbook.xml.rels",
        "<Relationships><Relationship Id=\"rId1\" "
        "Target=\"worksheets/sheet1.xml\"/><Relationship Id=\"rId3\" "
        "Target=\"worksheets/sheet3.xml\"/></Relationships>",
        "xl/worksheets/sheet1.xml",
        "<worksheet><sheetData><row r=\"1\"><c t=\"inlineStr\"><is><t>"
        "wrong</t></is></c></row></sheetData></worksheet>",
        "xl/worksheets/sheet3.xml",
        "<worksheet><sheetData><row r=\"1\"><c t=\"inlineStr\"><is><t>"
        "first</t></is></c></row></sheetData></worksheet>",
        NULL
    };

    (void) state;
    read_xlsx(members, &c);

    expect_rows(&c, 1, "1|first");
}


/* an XLSX of members (or, members NULL, a file of text) is refused with
 * an error containing what */
static void
xlsx_refused(const char *const *members, const char *text,
    const char *what)
{
    char         *path, err[256];
    collected_t   c;

    memset(&c, 0, sizeof(c));
    path = members != NULL ? write_xlsx(members)
                           : temp_file(".xlsx", text, strlen(text));

    assert_int_equal(tt_xlsx_read(path, collect, &c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, what));
    assert_int_equal(c.n, 0);

    unlink(path);
    free(path);
}


static void
test_xlsx_bad_files(void **state)
{
    const char  *no_sheet[] = { "xl/workbook.xml", "<workbook/>", NULL };
    const char  *bad_ref[] = {
        "xl/worksheets/sheet1.xml",
        "<worksheet><sheetData><row r=\"1\"><c r=\"A1\" t=\"s\"><v>9</v>"
        "</c></row></sheetData></worksheet>",
        NULL
    };

    (void) state;

    xlsx_refused(no_sheet, NULL, "xl/worksheets/sheet1.xml is missing: "
                 "not an XLSX workbook");
    xlsx_refused(bad_ref, NULL, "row 1: shared string 9 does not exist");
    xlsx_refused(NULL, "not a zip", "not a readable XLSX (zip) file");
}


static void
test_utf8(void **state)
{
    (void) state;

    assert_true(tt_import_utf8("plain", 5));
    assert_true(tt_import_utf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80",
                               14));
    assert_false(tt_import_utf8("caf\xE9", 4));             /* Latin-1 */
    assert_false(tt_import_utf8("\xC0\xAF", 2));            /* overlong */
    assert_false(tt_import_utf8("\xE0\x80\xAF", 3));        /* overlong */
    assert_false(tt_import_utf8("\xED\xA0\x80", 3));        /* surrogate */
    assert_false(tt_import_utf8("\xF4\x90\x80\x80", 4));    /* > U+10FFFF */
    assert_false(tt_import_utf8("\xE2\x82", 2));            /* truncated */
    assert_false(tt_import_utf8("a\0b", 3));                /* NUL */
}


static void
test_formula(void **state)
{
    (void) state;

    assert_true(tt_import_formula("=1+1"));
    assert_true(tt_import_formula("@SUM(A1)"));
    assert_true(tt_import_formula("+cmd"));
    assert_true(tt_import_formula("-2+3"));
    assert_true(tt_import_formula("-"));
    assert_false(tt_import_formula("-12.5"));
    assert_false(tt_import_formula("+3e2"));
    assert_false(tt_import_formula("a=b"));
    assert_false(tt_import_formula(""));
}


/* a row is bounded as a whole, not only field by field */
static void
test_row_bounds(void **state)
{
    char         *csv, *sst, *sheet, *p;
    size_t        i, len;
    const char   *members[5];

    (void) state;

    /* CSV: one field more than TT_IMPORT_FIELDS_MAX */
    len = 2 + TT_IMPORT_FIELDS_MAX + 1;
    csv = malloc(len);
    assert_non_null(csv);
    memcpy(csv, "a\n", 2);
    memset(csv + 2, ',', TT_IMPORT_FIELDS_MAX);
    csv[len - 1] = '\n';

    csv_refused(csv, len, ": line 2: the row is over 64 MB or 16384 "
                "columns: not an export", 1);
    free(csv);

    /* XLSX: a shared string just under the field limit, in more cells
     * than TT_IMPORT_ROW_MAX holds (a few kB once deflated) */
    len = TT_IMPORT_FIELD_MAX - 1;
    sst = malloc(len + 64);
    assert_non_null(sst);
    p = sst + sprintf(sst, "<sst><si><t>");
    memset(p, 'x', len);
    strcpy(p + len, "</t></si></sst>");

    len = TT_IMPORT_ROW_MAX / TT_IMPORT_FIELD_MAX + 1;
    sheet = malloc(len * 32 + 128);
    assert_non_null(sheet);
    p = sheet + sprintf(sheet, "<worksheet><sheetData><row r=\"1\">");
    for (i = 0; i < len; i++) {
        p += sprintf(p, "<c t=\"s\"><v>0</v></c>");
    }
    strcpy(p, "</row></sheetData></worksheet>");

    members[0] = "xl/sharedStrings.xml";
    members[1] = sst;
    members[2] = "xl/worksheets/sheet1.xml";
    members[3] = sheet;
    members[4] = NULL;
    xlsx_refused(members, NULL, ": row 1 is over 64 MB or 16384 columns: "
                 "not an export");

    free(sst);
    free(sheet);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_quotes_lines_bom_semicolon),
        cmocka_unit_test(test_csv_comma_wins_without_semicolons),
        cmocka_unit_test(test_csv_over_long_field),
        cmocka_unit_test(test_csv_unclosed_quote),
        cmocka_unit_test(test_csv_stop_and_missing_file),
        cmocka_unit_test(test_xlsx_strings_gaps_formula),
        cmocka_unit_test(test_xlsx_first_sheet_by_relationship),
        cmocka_unit_test(test_xlsx_bad_files),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_formula),
        cmocka_unit_test(test_row_bounds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
