/*
 * tt_version: the one version string of the module, the worker and the
 * schema they expect.  Change it here only.
 */

#ifndef TT_VERSION_H
#define TT_VERSION_H

#define TT_VERSION  "0.9.0"

/*
 * The schema this build needs: the number of the highest migration in
 * sql/migrations/ that the module and the worker rely on.  The database
 * answers its own with tracktik_schema_version() (sql/functions/
 * metrics.sql); an older one is refused with "run tracktik-worker
 * migrate"; the worker compares it with the highest migration recorded
 * in tracktik_schema_migrations.  Raise it with every migration.
 */
#define TT_SCHEMA_VERSION  24

#endif /* TT_VERSION_H */
