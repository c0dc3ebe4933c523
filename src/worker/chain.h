/*
 * chain: the check of the ledger's hash chain (`audit --verify-chain`;
 * sql/functions/ledger_chain.sql, doc/ledger-chain.md).
 */

#ifndef TT_CHAIN_H
#define TT_CHAIN_H

#include <stddef.h>
#include <libpq-fe.h>


/* the columns of tt_chain_verify()'s rows */
enum {
    TT_CHAIN_SEQ = 0,
    TT_CHAIN_LEDGER_ID,
    TT_CHAIN_PROBLEM,           /* missing, hash, head; end: the last row */
    TT_CHAIN_EXPECTED,
    TT_CHAIN_FOUND,
    TT_CHAIN_TOTAL
};


/*
 * Recomputes the chain over the rows recorded from 00:00 UTC of from to
 * the end of the day to (YYYY-MM-DD, either NULL: unbounded), in the
 * database (streamed there).  The result: at most max problems in chain
 * order, then the 'end' row (chain_seq and hash of the last row checked,
 * expected = rows checked, total = problems found).  NULL with err.
 */
PGresult *tt_chain_verify(PGconn *conn, const char *from, const char *to,
    int max, char *err, size_t errlen);

#endif /* TT_CHAIN_H */
