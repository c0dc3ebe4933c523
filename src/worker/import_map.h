/*
 * import_map: export mappings, the versioned files in
 * conf/import-mappings/ that say which header names an export version
 * uses for each ledger column, which are required, and which are report
 * fields.  A mapping is chosen by name or detected from the header row.
 */

#ifndef TT_IMPORT_MAP_H
#define TT_IMPORT_MAP_H

#include <stddef.h>
#include <yajl/yajl_tree.h>

#include "import_read.h"


typedef enum {
    TT_MAP_REPORT_ID = 0,
    TT_MAP_OCCURRED_AT,
    TT_MAP_UPDATED_ON,
    TT_MAP_CLIENT,
    TT_MAP_CLIENT_ID,
    TT_MAP_SITE,
    TT_MAP_SITE_ID,
    TT_MAP_SEVERITY,
    TT_MAP_CATEGORY,
    TT_MAP_TEMPLATE,
    TT_MAP_STATUS,
    TT_MAP_TIME_ZONE,
    TT_MAP_POSITION,
    TT_MAP_FIELD,                   /* a report field (reportFields) */
    TT_MAP_TARGETS
} tt_map_target_e;


typedef struct {
    const char       *header;
    tt_map_target_e   target;
    const char       *tag;          /* TT_MAP_FIELD: its fieldTag */
    int               required;
} tt_map_column_t;


typedef struct {
    const char       *name;         /* "operation-reports-v1" */
    tt_map_column_t  *columns;
    size_t            ncolumns;
    yajl_val          tree;
} tt_mapping_t;


/* the header row bound to a mapping */
typedef struct {
    char     **headers;             /* the file's header names */
    size_t     nheaders;
    int       *column;              /* per header: index in
                                       mapping->columns, -1: extra */
    int        target[TT_MAP_TARGETS];  /* header index, -1: absent
                                           (not for TT_MAP_FIELD) */
} tt_map_binding_t;


/* dir/NAME.json; -1 with err */
int tt_mapping_load(const char *dir, const char *name, tt_mapping_t *m,
    char *err, size_t errlen);

/*
 * The mapping of dir whose required columns the header row has all of
 * (most matched columns wins, then the name sorting last: the newest
 * version).  -1 with err naming the columns the closest one misses.
 */
int tt_mapping_detect(const char *dir, const tt_import_row_t *header,
    tt_mapping_t *m, char *err, size_t errlen);

/*
 * Binds a header row: -1 with err ('column "Severity", required by
 * mapping operation-reports-v1, is missing'; a repeated header name).
 */
int tt_mapping_bind(const tt_mapping_t *m, const tt_import_row_t *header,
    tt_map_binding_t *b, char *err, size_t errlen);

void tt_mapping_free(tt_mapping_t *m);
void tt_map_binding_free(tt_map_binding_t *b);

#endif /* TT_IMPORT_MAP_H */
