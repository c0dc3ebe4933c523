/*
 * contracts: rule set files validated and stored as versions (the
 * `contracts` commands), and every stored rule set read into a rulebook
 * for the run loop.
 */

#ifndef TT_CONTRACTS_H
#define TT_CONTRACTS_H

#include <stddef.h>
#include <libpq-fe.h>

#include "rules.h"


/*
 * Reads and validates a rule set file.  0 with *text (malloc()ed, the
 * file's bytes) and *set filled; -1 with err ("FILE: what is wrong").
 * The caller frees both either way (tt_rule_set_free, free).
 */
int tt_contracts_read(const char *file, char **text, size_t *len,
    tt_rule_set_t *set, char *err, size_t errlen);

/* a file's bytes, NUL terminated, malloc()ed (at most 16 MB); NULL with
 * err */
char *tt_contracts_slurp(const char *file, size_t *len, char *err,
    size_t errlen);

/* a date YYYY-MM-DD or an ISO 8601 date-time as an instant; -1: not one */
int tt_contracts_date(const char *text, long long *out);

/*
 * Stores a validated rule set as a new version (name from set, file's
 * base name as source_file); version gets its number.  With if_changed,
 * a document equal to the newest version's (and as of the same date)
 * stores nothing: *unchanged = 1 and version is that newest one.  -1 with
 * err.
 */
int tt_contracts_store(PGconn *conn, const char *file, const char *text,
    const tt_rule_set_t *set, int if_changed, char *version,
    size_t versionlen, int *unchanged, char *err, size_t errlen);

/* version, effective_from, rules, file, name; NULL with err */
PGresult *tt_contracts_list(PGconn *conn, char *err, size_t errlen);

/* replaces *rb with every stored rule set; -1 with err */
int tt_rulebook_load(PGconn *conn, tt_rulebook_t *rb, char *err,
    size_t errlen);

#endif /* TT_CONTRACTS_H */
