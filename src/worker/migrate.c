/*
 * migrate: the schema, from sql/.
 *
 * Each file runs as one simple-protocol query inside BEGIN/COMMIT, so it
 * has the effect `psql -v ON_ERROR_STOP=1 -f` has on success, and none on
 * failure.  Files must hold plain SQL (no psql backslash commands).
 *
 * A database created by running the files with psql (as the test harness
 * does) has no record of them: the first migrate "adopts" it, recording a
 * file as applied when running it fails only because its objects already
 * exist.
 */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "migrate.h"


static int tt_migrate_filter(const struct dirent *d);
static int tt_migrate_sort(const struct dirent **a, const struct dirent **b);
static char *tt_migrate_read(const char *path);
static int tt_migrate_exists_error(PGresult *res);


int
tt_migrate(const tt_config_t *cfg)
{
    int              i, n, adopt, applied, rc;
    char             err[1024], path[4096], *sql;
    PGconn          *conn;
    PGresult        *res;
    const char      *params[1];
    struct dirent  **files;

    n = scandir(cfg->sql_dir, &files, tt_migrate_filter, tt_migrate_sort);
    if (n < 0) {
        fprintf(stderr, "tracktik-worker: cannot read migrations in %s: "
                "%s\n", cfg->sql_dir, strerror(errno));
        return 1;
    }

    conn = tt_db_connect(cfg->dsn, err, sizeof(err));
    if (conn == NULL) {
        fprintf(stderr, "tracktik-worker: %s\n", err);
        for (i = 0; i < n; i++) {
            free(files[i]);
        }
        free(files);
        return 1;
    }

    res = PQexec(conn,
              "SELECT to_regclass('tracktik_schema_migrations') IS NULL"
              "   AND to_regclass('tracktik_jobs') IS NOT NULL");
    adopt = PQresultStatus(res) == PGRES_TUPLES_OK
            && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);

    rc = 1;
    applied = 0;

    if (tt_db_exec(conn,
            "SET client_min_messages = warning;"
            "CREATE TABLE IF NOT EXISTS tracktik_schema_migrations ("
            "    filename    text PRIMARY KEY,"
            "    applied_at  timestamptz NOT NULL DEFAULT now())",
            PGRES_COMMAND_OK, err, sizeof(err)) != 0)
    {
        fprintf(stderr, "tracktik-worker: %s\n", err);
        goto done;
    }

    for (i = 0; i < n; i++) {
        params[0] = files[i]->d_name;

        res = PQexecParams(conn,
                  "SELECT 1 FROM tracktik_schema_migrations"
                  " WHERE filename = $1", 1, NULL, params, NULL, NULL, 0);

        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            tt_db_error(conn, res, "reading applied migrations", err,
                        sizeof(err));
            fprintf(stderr, "tracktik-worker: %s\n", err);
            PQclear(res);
            goto done;
        }

        if (PQntuples(res) == 1) {
            PQclear(res);
            continue;
        }
        PQclear(res);

        snprintf(path, sizeof(path), "%s/%s", cfg->sql_dir,
                 files[i]->d_name);

        sql = tt_migrate_read(path);
        if (sql == NULL) {
            goto done;
        }

        if (tt_db_exec(conn, "BEGIN", PGRES_COMMAND_OK, err, sizeof(err))
            != 0)
        {
            fprintf(stderr, "tracktik-worker: %s\n", err);
            free(sql);
            goto done;
        }

        res = PQexec(conn, sql);
        free(sql);

        if (PQresultStatus(res) != PGRES_COMMAND_OK
            && PQresultStatus(res) != PGRES_TUPLES_OK
            && PQresultStatus(res) != PGRES_EMPTY_QUERY)
        {
            tt_db_error(conn, res, files[i]->d_name, err, sizeof(err));
            tt_db_exec(conn, "ROLLBACK", PGRES_COMMAND_OK, path,
                       sizeof(path));

            if (!(adopt && tt_migrate_exists_error(res))) {
                fprintf(stderr, "tracktik-worker: migration failed, "
                        "nothing of it applied: %s\n", err);
                PQclear(res);
                goto done;
            }

            printf("%s: already present, recorded as applied\n",
                   files[i]->d_name);

        } else {
            printf("%s: applied\n", files[i]->d_name);
            applied++;
        }

        PQclear(res);

        if (PQtransactionStatus(conn) == PQTRANS_IDLE
            && tt_db_exec(conn, "BEGIN", PGRES_COMMAND_OK, err, sizeof(err))
               != 0)
        {
            fprintf(stderr, "tracktik-worker: %s\n", err);
            goto done;
        }

        res = PQexecParams(conn,
                  "INSERT INTO tracktik_schema_migrations (filename)"
                  " VALUES ($1)", 1, NULL, params, NULL, NULL, 0);

        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            tt_db_error(conn, res, "recording the migration", err,
                        sizeof(err));
            fprintf(stderr, "tracktik-worker: %s\n", err);
            PQclear(res);
            goto done;
        }
        PQclear(res);

        if (tt_db_exec(conn, "COMMIT", PGRES_COMMAND_OK, err, sizeof(err))
            != 0)
        {
            fprintf(stderr, "tracktik-worker: %s: %s\n", files[i]->d_name,
                    err);
            goto done;
        }
    }

    if (applied == 0) {
        printf("schema up to date (%d migrations)\n", n);
    }

    rc = 0;

done:

    for (i = 0; i < n; i++) {
        free(files[i]);
    }
    free(files);
    PQfinish(conn);

    return rc;
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


static char *
tt_migrate_read(const char *path)
{
    FILE    *f;
    char    *text;
    long     size;

    f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "tracktik-worker: cannot open %s: %s\n", path,
                strerror(errno));
        return NULL;
    }

    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);

    text = size >= 0 ? malloc(size + 1) : NULL;
    if (text == NULL || fread(text, 1, size, f) != (size_t) size) {
        fprintf(stderr, "tracktik-worker: cannot read %s\n", path);
        free(text);
        fclose(f);
        return NULL;
    }

    text[size] = '\0';
    fclose(f);

    return text;
}


/*
 * duplicate table/object/function/column/schema: the file's objects exist;
 * undefined function/object: it drops what an earlier file made, and did
 */
static int
tt_migrate_exists_error(PGresult *res)
{
    const char  *state;

    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

    return state != NULL
           && (strcmp(state, "42P07") == 0 || strcmp(state, "42710") == 0
               || strcmp(state, "42723") == 0 || strcmp(state, "42701") == 0
               || strcmp(state, "42P06") == 0 || strcmp(state, "42883") == 0
               || strcmp(state, "42704") == 0);
}
