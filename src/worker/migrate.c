/*
 * migrate: the one schema runner (layout and rules: migrate.h, sql/README).
 *
 * What a database holds is read from tracktik_schema_migrations (file
 * name and SHA-256, computed by PostgreSQL over the bytes that ran), never
 * guessed from errors.  Before the first migrate it is fresh (no table,
 * no tracktik_jobs), old (the sql/NNN_*.sql runner's table, no checksum:
 * upgraded when it lists every old file, see tt_migrate_upgrade()) or
 * unrecorded (tracktik tables made by psql, no record: refused).
 */

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "migrate.h"
#include "migrate_files.h"


#define TT_MIGRATE_LOCK  "hashtext('tracktik_schema_migrations')"
#define TT_MIGRATE_PRE   "triggers.sql"


typedef enum {
    TT_LAYOUT_FRESH,
    TT_LAYOUT_CURRENT,
    TT_LAYOUT_OLD,
    TT_LAYOUT_UNRECORDED
} tt_layout_e;


/* the files of the old layout, and the migrations that replace them */
static const char  *tt_old_layout[] = {
    "001_jobs.sql", "002_incidents_ledger.sql",
    "003_contract_rules_billing.sql", "004_worker_record.sql",
    "005_worker_record_batch.sql", "006_tracktik_api.sql",
    "007_tracktik_reference.sql", "008_report_photos.sql",
    "020_portal.sql", "021_portal_pages_logins.sql", NULL
};

static const char  *tt_old_layout_baseline = "008_report_photos.sql";


static const char  tt_migrate_table[] =
    "CREATE TABLE tracktik_schema_migrations ("
    "    filename    text PRIMARY KEY,"
    "    checksum    text NOT NULL,"
    "    applied_at  timestamptz NOT NULL DEFAULT now())";


static const char  tt_migrate_unrecorded[] =
    "the database has tracktik tables but no tracktik_schema_migrations: "
    "it was built by running the old sql/*.sql files with psql, and which "
    "of them ran is not recorded.  Record them (CREATE TABLE "
    "tracktik_schema_migrations (filename text PRIMARY KEY) and one row "
    "per file name, as scripts/pg.sh does for its clusters), then migrate "
    "again";


static int tt_migrate_sum(PGconn *conn, tt_sql_file_t *f, char *err,
    size_t errlen);
static int tt_migrate_layout(PGconn *conn, tt_layout_e *layout, char *err,
    size_t errlen);
static int tt_migrate_upgrade(PGconn *conn, tt_sql_dir_t *mig, FILE *out,
    char *err, size_t errlen);
static int tt_migrate_compare(PGconn *conn, tt_sql_dir_t *mig,
    tt_migrate_status_t *st, FILE *out, char *err, size_t errlen);
static int tt_migrate_run(PGconn *conn, const char *what, tt_sql_file_t *f,
    int nfiles, int record, char *err, size_t errlen);
static PGresult *tt_migrate_records(PGconn *conn, const char *columns,
    char *err, size_t errlen);
static int tt_migrate_record(PGconn *conn, tt_sql_file_t *f, char *err,
    size_t errlen);
static void tt_migrate_list(char *list, size_t size, const char *name);


int
tt_migrate_apply(PGconn *conn, const char *sql_dir, FILE *out, char *err,
    size_t errlen)
{
    int                   i, rc, applied, pre;
    PGresult             *res;
    tt_layout_e           layout;
    tt_sql_dir_t          mig, fun;
    tt_migrate_status_t   st;

    memset(&mig, 0, sizeof(mig));
    memset(&fun, 0, sizeof(fun));

    if (tt_migrate_load(sql_dir, "migrations", &mig, err, errlen) != 0
        || tt_migrate_load(sql_dir, "functions", &fun, err, errlen) != 0
        || tt_db_exec(conn, "SET client_min_messages = warning",
                      PGRES_COMMAND_OK, err, errlen) != 0)
    {
        tt_migrate_free(&mig);
        tt_migrate_free(&fun);
        return -1;
    }

    rc = -1;

    res = PQexec(conn, "SELECT pg_try_advisory_lock(" TT_MIGRATE_LOCK ")");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        tt_db_error(conn, res, "taking the migration lock", err, errlen);
        PQclear(res);
        goto done;
    }

    if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        if (out != NULL) {
            fprintf(out, "another migrate is running: waiting for it\n");
            fflush(out);
        }

        if (tt_db_exec(conn, "SELECT pg_advisory_lock(" TT_MIGRATE_LOCK ")",
                       PGRES_TUPLES_OK, err, errlen) != 0)
        {
            PQclear(res);
            goto done;
        }
    }
    PQclear(res);

    if (tt_migrate_layout(conn, &layout, err, errlen) != 0) {
        goto unlock;
    }

    switch (layout) {

    case TT_LAYOUT_FRESH:
        if (tt_db_exec(conn, tt_migrate_table, PGRES_COMMAND_OK, err,
                       errlen) != 0)
        {
            goto unlock;
        }
        break;

    case TT_LAYOUT_OLD:
        if (tt_migrate_upgrade(conn, &mig, out, err, errlen) != 0) {
            goto unlock;
        }
        break;

    case TT_LAYOUT_UNRECORDED:
        snprintf(err, errlen, "%s", tt_migrate_unrecorded);
        goto unlock;

    case TT_LAYOUT_CURRENT:
        break;
    }

    memset(&st, 0, sizeof(st));

    /* edited or unknown applied migrations: refused, nothing applied */
    if (tt_migrate_compare(conn, &mig, &st, NULL, err, errlen) != 0) {
        goto unlock;
    }

    for (i = 0, pre = -1; i < fun.n; i++) {
        if (strcmp(fun.files[i].name, TT_MIGRATE_PRE) == 0) {
            pre = i;
        }
    }

    if (pre >= 0
        && tt_migrate_run(conn, "functions failed, none applied",
                          &fun.files[pre], 1, 0, err, errlen) != 0)
    {
        goto unlock;
    }

    applied = 0;

    for (i = 0; i < mig.n; i++) {
        if (mig.files[i].recorded[0] != '\0') {
            continue;
        }

        if (tt_migrate_run(conn, "migration failed, nothing of it applied",
                           &mig.files[i], 1, 1, err, errlen) != 0)
        {
            goto unlock;
        }

        if (out != NULL) {
            fprintf(out, "%s: applied\n", mig.files[i].name);
        }
        applied++;
    }

    /* triggers.sql ran before the migrations: the others now */
    if (pre >= 0) {
        fun.files[pre].text[0] = '\0';
    }

    if (tt_migrate_run(conn, "functions failed, none applied", fun.files,
                       fun.n, 0, err, errlen) != 0)
    {
        goto unlock;
    }

    if (out != NULL) {
        if (applied == 0) {
            fprintf(out, "schema up to date (%d migrations)\n", mig.n);
        }
        fprintf(out, "functions: %d files applied\n", fun.n);
    }

    rc = 0;

unlock:

    if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
        res = PQexec(conn, "ROLLBACK");
        PQclear(res);
    }

    res = PQexec(conn, "SELECT pg_advisory_unlock(" TT_MIGRATE_LOCK ")");
    PQclear(res);

done:

    tt_migrate_free(&mig);
    tt_migrate_free(&fun);

    return rc;
}


int
tt_migrate_status(PGconn *conn, const char *sql_dir, FILE *out,
    tt_migrate_status_t *st, char *err, size_t errlen)
{
    int           i, rc;
    tt_layout_e   layout;
    tt_sql_dir_t  mig;

    memset(st, 0, sizeof(*st));
    memset(&mig, 0, sizeof(mig));

    if (tt_migrate_load(sql_dir, "migrations", &mig, err, errlen) != 0) {
        return -1;
    }

    rc = -1;

    if (tt_migrate_layout(conn, &layout, err, errlen) != 0) {
        goto done;
    }

    switch (layout) {

    case TT_LAYOUT_UNRECORDED:
        snprintf(err, errlen, "%s", tt_migrate_unrecorded);
        goto done;

    case TT_LAYOUT_OLD:
        st->old_layout = 1;
        if (out != NULL) {
            fprintf(out, "old layout: tracktik_schema_migrations lists the "
                    "old sql/NNN_*.sql files; migrate upgrades it\n");
        }
        rc = 0;
        goto done;

    case TT_LAYOUT_FRESH:
        st->pending = mig.n;
        for (i = 0; out != NULL && i < mig.n; i++) {
            fprintf(out, "pending   %s\n", mig.files[i].name);
        }
        rc = 0;
        goto done;

    case TT_LAYOUT_CURRENT:
        break;
    }

    if (tt_migrate_compare(conn, &mig, st, out, err, errlen) != 0
        && st->modified == 0 && st->unknown == 0)
    {
        goto done;
    }

    rc = 0;

done:

    tt_migrate_free(&mig);

    return rc;
}


/* the file's SHA-256, as PostgreSQL computes it over the bytes */
static int
tt_migrate_sum(PGconn *conn, tt_sql_file_t *f, char *err, size_t errlen)
{
    int          len, format;
    Oid          type;
    PGresult    *res;
    const char  *value;

    type = 17;          /* bytea */
    value = f->text;
    len = (int) f->len;
    format = 1;

    res = PQexecParams(conn, "SELECT encode(sha256($1), 'hex')", 1, &type,
                       &value, &len, &format, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        tt_db_error(conn, res, f->name, err, errlen);
        PQclear(res);
        return -1;
    }

    snprintf(f->sum, sizeof(f->sum), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);

    return 0;
}


static int
tt_migrate_layout(PGconn *conn, tt_layout_e *layout, char *err,
    size_t errlen)
{
    PGresult  *res;

    res = PQexec(conn,
              "SELECT to_regclass('tracktik_schema_migrations') IS NOT NULL,"
              "       EXISTS (SELECT 1 FROM pg_attribute"
              "                WHERE attrelid = to_regclass("
              "                          'tracktik_schema_migrations')"
              "                  AND attname = 'checksum'"
              "                  AND NOT attisdropped),"
              "       to_regclass('tracktik_jobs') IS NOT NULL");

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        tt_db_error(conn, res, "reading the schema", err, errlen);
        PQclear(res);
        return -1;
    }

    if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        *layout = strcmp(PQgetvalue(res, 0, 2), "t") == 0
                  ? TT_LAYOUT_UNRECORDED : TT_LAYOUT_FRESH;

    } else {
        *layout = strcmp(PQgetvalue(res, 0, 1), "t") == 0
                  ? TT_LAYOUT_CURRENT : TT_LAYOUT_OLD;
    }

    PQclear(res);

    return 0;
}


/*
 * The old runner's table: every file of the old layout recorded means the
 * schema of migrations 001..baseline; none recorded and no tables, a
 * fresh database.  The table is made anew and the baseline recorded, in
 * one transaction.
 */
static int
tt_migrate_upgrade(PGconn *conn, tt_sql_dir_t *mig, FILE *out, char *err,
    size_t errlen)
{
    int          i, j, rows, found, baseline;
    char         missing[1024];
    PGresult    *res;

    res = tt_migrate_records(conn, "filename", err, errlen);
    if (res == NULL) {
        return -1;
    }

    rows = PQntuples(res);
    missing[0] = '\0';

    for (i = 0; tt_old_layout[i] != NULL; i++) {
        for (j = 0, found = 0; j < rows && !found; j++) {
            found = strcmp(PQgetvalue(res, j, 0), tt_old_layout[i]) == 0;
        }

        if (!found) {
            tt_migrate_list(missing, sizeof(missing), tt_old_layout[i]);
        }
    }

    PQclear(res);

    baseline = rows > 0;

    if (baseline && missing[0] != '\0') {
        snprintf(err, errlen, "the database was migrated with the old "
                 "sql/NNN_*.sql layout but lacks %s: migrate it with the "
                 "release those files came with first (or recreate it), "
                 "then migrate again", missing);
        return -1;
    }

    if (!baseline) {
        res = PQexec(conn, "SELECT to_regclass('tracktik_jobs') IS NULL");
        found = PQresultStatus(res) == PGRES_TUPLES_OK
                && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);

        if (!found) {
            snprintf(err, errlen, "tracktik_schema_migrations of the old "
                     "layout is empty, but the database has tracktik "
                     "tables: which files ran is not recorded");
            return -1;
        }
    }

    if (tt_db_exec(conn, "BEGIN", PGRES_COMMAND_OK, err, errlen) != 0
        || tt_db_exec(conn, "DROP TABLE tracktik_schema_migrations",
                      PGRES_COMMAND_OK, err, errlen) != 0
        || tt_db_exec(conn, tt_migrate_table, PGRES_COMMAND_OK, err,
                      errlen) != 0)
    {
        return -1;
    }

    for (i = 0; baseline && i < mig->n; i++) {
        if (strcmp(mig->files[i].name, tt_old_layout_baseline) > 0) {
            break;
        }

        if (tt_migrate_sum(conn, &mig->files[i], err, errlen) != 0
            || tt_migrate_record(conn, &mig->files[i], err, errlen) != 0)
        {
            return -1;
        }

        if (out != NULL) {
            fprintf(out, "%s: already applied (old layout)\n",
                    mig->files[i].name);
        }
    }

    if (baseline && (i == 0 || strcmp(mig->files[i - 1].name,
                                      tt_old_layout_baseline) != 0))
    {
        snprintf(err, errlen, "upgrading the old layout needs migrations "
                 "001 to %s in the SQL directory", tt_old_layout_baseline);
        return -1;
    }

    return tt_db_exec(conn, "COMMIT", PGRES_COMMAND_OK, err, errlen);
}


/*
 * Sets each file's recorded checksum, counts the states into st and,
 * with out, lists them.  Edited or unknown migrations: -1 with err naming
 * them.
 */
static int
tt_migrate_compare(PGconn *conn, tt_sql_dir_t *mig, tt_migrate_status_t *st,
    FILE *out, char *err, size_t errlen)
{
    int          i, j, rows, *seen;
    char         names[2][1024];
    PGresult    *res;
    const char  *name, *sum;

    res = tt_migrate_records(conn, "filename, checksum", err, errlen);
    if (res == NULL) {
        return -1;
    }

    rows = PQntuples(res);
    seen = calloc(rows + 1, sizeof(int));
    if (seen == NULL) {
        snprintf(err, errlen, "out of memory");
        PQclear(res);
        return -1;
    }

    names[0][0] = names[1][0] = '\0';

    for (i = 0; i < mig->n; i++) {
        if (tt_migrate_sum(conn, &mig->files[i], err, errlen) != 0) {
            free(seen);
            PQclear(res);
            return -1;
        }

        mig->files[i].recorded[0] = '\0';

        for (j = 0; j < rows; j++) {
            if (strcmp(PQgetvalue(res, j, 0), mig->files[i].name) == 0) {
                seen[j] = 1;
                snprintf(mig->files[i].recorded, 65, "%s",
                         PQgetvalue(res, j, 1));
            }
        }

        name = mig->files[i].name;

        if (mig->files[i].recorded[0] == '\0') {
            st->pending++;
            sum = "pending ";

        } else if (strcmp(mig->files[i].recorded, mig->files[i].sum) == 0) {
            st->applied++;
            sum = "applied ";

        } else {
            st->modified++;
            sum = "modified";
            tt_migrate_list(names[0], sizeof(names[0]), name);
        }

        if (out != NULL) {
            fprintf(out, "%s  %s\n", sum, name);
        }
    }

    for (j = 0; j < rows; j++) {
        if (seen[j]) {
            continue;
        }

        st->unknown++;
        name = PQgetvalue(res, j, 0);

        if (out != NULL) {
            fprintf(out, "unknown   %s (recorded, not in the SQL "
                    "directory)\n", name);
        }

        tt_migrate_list(names[1], sizeof(names[1]), name);
    }

    free(seen);
    PQclear(res);

    if (st->modified) {
        snprintf(err, errlen, "applied migrations were edited since: %s "
                 "(a migration never changes once applied: restore it "
                 "and add a new one)", names[0]);
        return -1;
    }

    if (st->unknown) {
        snprintf(err, errlen, "the database has migrations the SQL "
                 "directory lacks: %s (migrated by a newer release?): "
                 "refusing to apply older functions over it", names[1]);
        return -1;
    }

    return 0;
}


/*
 * Runs the files in one transaction (simple protocol: several statements
 * a file, no psql backslash commands), recording each when asked.
 */
static int
tt_migrate_run(PGconn *conn, const char *what, tt_sql_file_t *f,
    int nfiles, int record, char *err, size_t errlen)
{
    int              i;
    char             msg[1024];
    PGresult        *res;
    ExecStatusType   status;

    if (tt_db_exec(conn, "BEGIN", PGRES_COMMAND_OK, err, errlen) != 0) {
        return -1;
    }

    for (i = 0; i < nfiles; i++) {
        res = PQexec(conn, f[i].text);
        status = PQresultStatus(res);

        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK
            && status != PGRES_EMPTY_QUERY)
        {
            tt_db_error(conn, res, f[i].name, msg, sizeof(msg));
            snprintf(err, errlen, "%s: %s", what, msg);
            PQclear(res);
            return -1;
        }
        PQclear(res);

        if (record && tt_migrate_record(conn, &f[i], err, errlen) != 0) {
            return -1;
        }
    }

    if (PQtransactionStatus(conn) != PQTRANS_INTRANS) {
        snprintf(err, errlen, "%s: %s ends the transaction it runs in "
                 "(no BEGIN/COMMIT in SQL files)", what, f[nfiles - 1].name);
        return -1;
    }

    return tt_db_exec(conn, "COMMIT", PGRES_COMMAND_OK, err, errlen);
}


/* the columns of tracktik_schema_migrations, by file name; NULL with err */
static PGresult *
tt_migrate_records(PGconn *conn, const char *columns, char *err,
    size_t errlen)
{
    char       sql[128];
    PGresult  *res;

    snprintf(sql, sizeof(sql), "SELECT %s FROM tracktik_schema_migrations"
             " ORDER BY filename", columns);

    res = PQexec(conn, sql);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        tt_db_error(conn, res, "reading tracktik_schema_migrations", err,
                    errlen);
        PQclear(res);
        return NULL;
    }

    return res;
}


static int
tt_migrate_record(PGconn *conn, tt_sql_file_t *f, char *err, size_t errlen)
{
    PGresult    *res;
    const char  *params[2];

    params[0] = f->name;
    params[1] = f->sum;

    res = PQexecParams(conn,
              "INSERT INTO tracktik_schema_migrations (filename, checksum)"
              " VALUES ($1, $2)", 2, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        tt_db_error(conn, res, "recording a migration", err, errlen);
        PQclear(res);
        return -1;
    }

    PQclear(res);

    return 0;
}


/* appends ", name" to the list */
static void
tt_migrate_list(char *list, size_t size, const char *name)
{
    size_t  len;

    len = strlen(list);

    if (len + 1 < size) {
        snprintf(list + len, size - len, "%s%s", len ? ", " : "", name);
    }
}
