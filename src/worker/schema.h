/*
 * schema: whether a database's schema is new enough for this build.  Its
 * version is the highest migration number recorded as applied in
 * tracktik_schema_migrations (what `migrate` keeps, see migrate.h); this
 * build needs TT_SCHEMA_VERSION (tt_version.h), the number of its newest
 * migration.  A newer schema is fine: migrations only add.
 */

#ifndef TT_SCHEMA_H
#define TT_SCHEMA_H

#include <stddef.h>
#include <libpq-fe.h>


/*
 * The schema version of the database into *version: 0 when nothing was
 * ever migrated, or only by the old sql/NNN_*.sql runner (its records
 * have no checksum; migrate upgrades them).  0, or -1 with err.
 */
int tt_schema_version(PGconn *conn, int *version, char *err, size_t errlen);

/*
 * 0 when the schema is at TT_SCHEMA_VERSION or later; else -1 with err
 * saying what it is at and to run `tracktik-worker migrate`.
 */
int tt_schema_check(PGconn *conn, char *err, size_t errlen);

#endif /* TT_SCHEMA_H */
