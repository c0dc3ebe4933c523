/*
 * migrate_files: the SQL directory as the runner reads it (migrate.c):
 * the *.sql files of one subdirectory, in name order, each read whole.
 */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrate_files.h"


static int tt_migrate_filter(const struct dirent *d);
static int tt_migrate_sort(const struct dirent **a, const struct dirent **b);


/* DIR/sub/ *.sql in name order, each file read whole */
int
tt_migrate_load(const char *sql_dir, const char *sub, tt_sql_dir_t *dir,
    char *err, size_t errlen)
{
    int              i, n, rc;
    long             size;
    FILE            *f;
    char             path[4096];
    tt_sql_file_t   *file;
    struct dirent  **names;

    snprintf(path, sizeof(path), "%s/%s", sql_dir, sub);

    n = scandir(path, &names, tt_migrate_filter, tt_migrate_sort);
    if (n < 0) {
        snprintf(err, errlen, "cannot read %s: %s (the SQL directory holds "
                 "migrations/ and functions/)", path, strerror(errno));
        return -1;
    }

    rc = -1;

    dir->files = calloc(n > 0 ? n : 1, sizeof(tt_sql_file_t));
    if (dir->files == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }

    for (i = 0; i < n; i++) {
        file = &dir->files[i];
        dir->n = i + 1;

        file->name = strdup(names[i]->d_name);
        snprintf(path, sizeof(path), "%s/%s/%s", sql_dir, sub,
                 names[i]->d_name);

        if (file->name == NULL || (f = fopen(path, "r")) == NULL) {
            snprintf(err, errlen, "cannot open %s: %s", path,
                     strerror(errno));
            goto done;
        }

        size = (fseek(f, 0, SEEK_END) == 0) ? ftell(f) : -1;
        file->text = (size >= 0 && fseek(f, 0, SEEK_SET) == 0)
                     ? malloc(size + 1) : NULL;

        if (file->text == NULL
            || fread(file->text, 1, size, f) != (size_t) size)
        {
            snprintf(err, errlen, "cannot read %s", path);
            fclose(f);
            goto done;
        }

        fclose(f);
        file->text[size] = '\0';
        file->len = size;

        if (strlen(file->text) != file->len) {
            snprintf(err, errlen, "%s: a NUL byte in an SQL file", path);
            goto done;
        }
    }

    rc = 0;

done:

    for (i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);

    if (rc != 0) {
        tt_migrate_free(dir);
    }

    return rc;
}


void
tt_migrate_free(tt_sql_dir_t *dir)
{
    int  i;

    for (i = 0; i < dir->n; i++) {
        free(dir->files[i].name);
        free(dir->files[i].text);
    }

    free(dir->files);
    dir->files = NULL;
    dir->n = 0;
}


static int
tt_migrate_filter(const struct dirent *d)
{
    size_t  len;

    len = strlen(d->d_name);

    return d->d_name[0] != '.' && len > 4
           && strcmp(d->d_name + len - 4, ".sql") == 0;
}


static int
tt_migrate_sort(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}
