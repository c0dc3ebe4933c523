/*
 * contracts: the `contracts` subcommands (load, check, list) and reading
 * every stored rule set into a rulebook for the run loop.
 */

#ifndef TT_CONTRACTS_H
#define TT_CONTRACTS_H

#include <libpq-fe.h>

#include "config.h"
#include "rules.h"


/*
 * the exit status of `contracts load FILE [--effective-from DATE]
 * [--if-changed]`; with if_changed, a file identical to the newest stored
 * rule set (and as of the same date) loads nothing
 */
int tt_contracts_load(const tt_config_t *cfg, const char *file,
    const char *effective_from, int if_changed);

/* `contracts check FILE`: validation only, no database */
int tt_contracts_check(const char *file);

/* `contracts list` */
int tt_contracts_list(const tt_config_t *cfg);

/* replaces *rb with every stored rule set; -1 with err */
int tt_rulebook_load(PGconn *conn, tt_rulebook_t *rb, char *err,
    size_t errlen);

#endif /* TT_CONTRACTS_H */
