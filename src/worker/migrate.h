/*
 * migrate: the schema from an SQL directory (sql/ in the repository):
 *
 *   DIR/migrations/NNN_*.sql  tables, types, views, indexes, triggers and
 *                             grants: each applied once, in name order, in
 *                             a transaction of its own, and recorded with
 *                             its SHA-256 in tracktik_schema_migrations
 *   DIR/functions/NAME.sql    the current CREATE OR REPLACE definition of
 *                             every function, applied by every migrate:
 *                             triggers.sql before the migrations, the
 *                             others after them, in name order, in one
 *                             transaction
 *
 * How to write them: sql/README.  One migrate at a time: the runner holds
 * a session advisory lock (so not through a transaction-pooling PgBouncer);
 * a second one waits, then finds nothing pending.
 *
 * A library: it prints nothing itself.  Progress and status lines go to
 * the caller's FILE (NULL: none); errors come back in err.
 */

#ifndef TT_MIGRATE_H
#define TT_MIGRATE_H

#include <stddef.h>
#include <stdio.h>
#include <libpq-fe.h>


typedef struct {
    int  applied;       /* recorded, and the file is unchanged */
    int  pending;       /* in DIR, not recorded yet */
    int  modified;      /* recorded, but the file was edited since */
    int  unknown;       /* recorded, not in DIR (a newer DIR migrated it) */
    int  old_layout;    /* recorded by the sql/NNN_*.sql runner of old;
                           tt_migrate_apply() upgrades it */
} tt_migrate_status_t;


/*
 * Applies the pending migrations and every function file.  Refuses, with
 * nothing applied, a database whose applied migrations were edited or
 * are unknown to DIR.  A database migrated with the old layout (its
 * tracktik_schema_migrations lists all of sql/001_jobs.sql ..
 * 021_portal_pages_logins.sql) is upgraded in place: that set is the
 * schema of migrations 001..008, recorded as applied.  0, or -1 with err.
 */
int tt_migrate_apply(PGconn *conn, const char *sql_dir, FILE *out,
    char *err, size_t errlen);

/*
 * Writes one line per migration to out ("applied   001_jobs.sql", then
 * pending, modified and unknown ones) and fills st.  0, or -1 with err.
 */
int tt_migrate_status(PGconn *conn, const char *sql_dir, FILE *out,
    tt_migrate_status_t *st, char *err, size_t errlen);

#endif /* TT_MIGRATE_H */
