/*
 * schema: the schema version check every command but migrate makes
 * before it starts (cmd_io.c), so that a worker upgraded without
 * `migrate` stops with a clear error instead of failing on a missing
 * table or column in the middle of a batch.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "schema.h"
#include "tt_version.h"


int
tt_schema_version(PGconn *conn, int *version, char *err, size_t errlen)
{
    PGresult  *res;

    /* the current layout has a checksum column; the old one did not */
    res = tt_db_query(conn, "reading the schema version",
              "SELECT EXISTS (SELECT 1 FROM pg_attribute"
              "                WHERE attrelid = to_regclass("
              "                          'tracktik_schema_migrations')"
              "                  AND attname = 'checksum'"
              "                  AND NOT attisdropped)",
              0, NULL, err, errlen);
    if (res == NULL) {
        return -1;
    }

    if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        PQclear(res);
        *version = 0;
        return 0;
    }

    PQclear(res);

    res = tt_db_query(conn, "reading the schema version",
              "SELECT coalesce(max(substring(filename FROM '^([0-9]+)_')"
              "                    ::int), 0)"
              "  FROM tracktik_schema_migrations",
              0, NULL, err, errlen);
    if (res == NULL) {
        return -1;
    }

    *version = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);

    return 0;
}


int
tt_schema_check(PGconn *conn, char *err, size_t errlen)
{
    int  version;

    if (tt_schema_version(conn, &version, err, errlen) != 0) {
        return -1;
    }

    if (version < TT_SCHEMA_VERSION) {
        snprintf(err, errlen, "the database schema is at version %d, this "
                 "tracktik-worker (%s) needs version %d: run "
                 "`tracktik-worker migrate` with this version's SQL first",
                 version, TT_VERSION, TT_SCHEMA_VERSION);
        return -1;
    }

    return 0;
}
