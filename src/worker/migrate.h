/*
 * migrate: `migrate` applies sql/NNN_*.sql in lexical order, each file in
 * one transaction, recording applied files in tracktik_schema_migrations.
 */

#ifndef TT_MIGRATE_H
#define TT_MIGRATE_H

#include "config.h"


int tt_migrate(const tt_config_t *cfg);

#endif /* TT_MIGRATE_H */
