/*
 * tt_version: the one version string of the module, the worker and the
 * schema they expect.  Change it here only.
 */

#ifndef TT_VERSION_H
#define TT_VERSION_H

#define TT_VERSION  "0.9.0"

/*
 * The schema this build needs: the number of its newest migration
 * (sql/migrations/NNN_*.sql).  The worker refuses a database whose
 * highest applied migration is lower.  Bump it with every migration.
 */
#define TT_SCHEMA_VERSION  14

#endif /* TT_VERSION_H */
