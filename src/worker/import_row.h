/*
 * import_row: one export row checked and turned into a line of the COPY
 * that fills the import's staging table (columns in the order of
 * tracktik_import_staging, sql/functions/import.sql), with its billing
 * lines from the contract rules, as a webhook's report gets them.
 */

#ifndef TT_IMPORT_ROW_H
#define TT_IMPORT_ROW_H

#include <stddef.h>
#include <yajl/yajl_gen.h>

#include "import_map.h"
#include "rules.h"


#define TT_IMPORT_OFFSETS         4096
#define TT_IMPORT_OFFSET_UNKNOWN  (-1000000L)


/* a zone's offset during one civil hour (import_row.c's cache) */
typedef struct {
    char        zone[64];
    long long   hour;           /* civil time / 3600 */
    long        offset;         /* seconds east of UTC */
} tt_import_offset_t;


/* where the COPY text goes (PQputCopyData, or a test's buffer); -1 stops */
typedef int (*tt_import_put_pt)(void *ctx, const char *data, size_t len);


typedef struct {
    const tt_mapping_t       *mapping;
    const tt_map_binding_t   *binding;
    const tt_rulebook_t      *rulebook;
    const char               *default_time_zone;
    tt_import_put_pt          put;
    void                     *put_ctx;
    yajl_gen                  gen;      /* the raw record, reused */
    tt_import_offset_t        offsets[TT_IMPORT_OFFSETS];
} tt_import_rows_t;


/*
 * 0: the row was written to put (*formulas: how many cells were kept as
 * text because they begin like a formula); 1: rejected, reason says why
 * ('column "Date": not a date-time: "yesterday"'); -1: put failed or
 * out of memory (reason says which).
 */
int tt_import_row(tt_import_rows_t *ir, const tt_import_row_t *row,
    int *formulas, char *reason, size_t reasonlen);

/* 1 when s (NUL ended, len bytes) is UTF-8 without overlong forms,
 * surrogates or NUL */
int tt_import_utf8(const char *s, size_t len);

/* 1 when a spreadsheet would take v for a formula (=, +, -, @ first) and
 * it is not a plain number */
int tt_import_formula(const char *v);

void tt_import_rows_free(tt_import_rows_t *ir);

#endif /* TT_IMPORT_ROW_H */
