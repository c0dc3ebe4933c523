/*
 * import_row: one export row checked and turned into a line of the COPY
 * that fills the import's staging table (columns in the order of
 * tracktik_import_staging, sql/functions/import.sql), with its billing
 * lines from the contract rules, as a webhook's report gets them.
 */

#ifndef TT_IMPORT_ROW_H
#define TT_IMPORT_ROW_H

#include <stddef.h>
#include <time.h>
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


/* a row's checked values (v: the non-empty mapped cells; times in
 * seconds since the epoch; occurred, updated: the same as UTC text) */
typedef struct tt_import_values_s {
    const char  *v[TT_MAP_TARGETS];     /* non-empty mapped values */
    long long    report_id;
    long long    occurred_at;
    long long    updated_on;
    int          has_updated_on;
    long long    client_id;
    long long    site_id;
    int          has_client_id;
    int          has_site_id;
    const char  *zone;
    char         occurred[32];
    char         updated[32];
    char         service_date[40];
    struct tm    local;
} tt_import_values_t;


/* where the COPY text goes (PQputCopyData, or a test's buffer); -1 stops */
typedef int (*tt_import_put_pt)(void *ctx, const char *data, size_t len);

/* a good row's values, instead of the COPY text; -1 stops */
typedef int (*tt_import_values_pt)(void *ctx, long long line,
    const tt_import_values_t *x);


typedef struct {
    const tt_mapping_t       *mapping;
    const tt_map_binding_t   *binding;
    const tt_rulebook_t      *rulebook;
    const char               *default_time_zone;
    tt_import_put_pt          put;
    void                     *put_ctx;
    /* when set, each good row's values go here (with put_ctx) instead
     * of the import's COPY line: the audit's lean staging */
    tt_import_values_pt       values;
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
