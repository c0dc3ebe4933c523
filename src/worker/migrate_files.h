/*
 * migrate_files: the files of the SQL directory (migrate_files.c), read
 * for the runner (migrate.c).
 */

#ifndef TT_MIGRATE_FILES_H
#define TT_MIGRATE_FILES_H

#include <stddef.h>


typedef struct {
    char    *name;
    char    *text;
    size_t   len;
    char     sum[65];          /* sha-256 hex of the file */
    char     recorded[65];     /* its checksum in the table, "" if none */
} tt_sql_file_t;


typedef struct {
    tt_sql_file_t  *files;
    int             n;
} tt_sql_dir_t;


/* DIR/sub/ *.sql in name order, each file read whole; sums are left
 * empty.  0, or -1 with err (nothing kept) */
int tt_migrate_load(const char *sql_dir, const char *sub, tt_sql_dir_t *dir,
    char *err, size_t errlen);

void tt_migrate_free(tt_sql_dir_t *dir);

#endif /* TT_MIGRATE_FILES_H */
