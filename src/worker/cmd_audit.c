/*
 * cmd_audit: `audit --verify-chain [--from DATE] [--to DATE]`: the
 * ledger's hash chain recomputed (chain.h, doc/ledger-chain.md).  Exit 0
 * when every link holds, 3 when one does not (the first broken link
 * named, then the others up to a limit), 1 on errors.
 *
 * `audit --source api|FILE` (the ledger against TrackTik or an export)
 * is not built yet: it is refused as a usage error, saying so.
 */

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "cmd.h"


/* problems listed one per line; the count covers the rest */
#define TT_AUDIT_SHOWN  20


const tt_option_t  tt_cmd_audit_options[] = {
    { "verify-chain", NULL, TT_OPT_FLAG, TT_IN_COMMAND,
      offsetof(tt_audit_opts_t, verify_chain), 0, 0, NULL, NULL, NULL,
      "recompute every row's hash from its content and the row before: "
      "names an altered, removed or forged row" },
    { "from", "DATE", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_audit_opts_t, from), 0, 0, tt_cmd_check_day, NULL, NULL,
      "only rows recorded on DATE (UTC) or later, linked to the stored "
      "hash of the row before them" },
    { "to", "DATE", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_audit_opts_t, to), 0, 0, tt_cmd_check_day, NULL, NULL,
      "only rows recorded on DATE (UTC) or earlier (without --to the "
      "chain's end is checked against its head too)" },
    { "source", "api|FILE", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_audit_opts_t, source), 0, 0, NULL, NULL, NULL,
      "NOT BUILT YET: compare the ledger with TrackTik or an export" },
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};


static void tt_cmd_audit_problem(PGresult *res, int i);


int
tt_cmd_audit(tt_cmd_args_t *args)
{
    int               i, n;
    char              err[1024];
    PGconn           *conn;
    PGresult         *res;
    const char       *total;
    tt_audit_opts_t  *o;

    o = args->opts;

    if (o->source != NULL) {
        tt_cmd_error("audit --source is not built yet: the comparison of "
                     "the ledger with TrackTik or an export is still to "
                     "come; only audit --verify-chain works today");
        return TT_EXIT_USAGE;
    }

    if (!o->verify_chain) {
        tt_cmd_error("usage: tracktik-worker audit --verify-chain "
                     "[--from DATE] [--to DATE]");
        return TT_EXIT_USAGE;
    }

    if (o->from != NULL && o->to != NULL && strcmp(o->from, o->to) > 0) {
        tt_cmd_error("audit: --from %s is after --to %s", o->from, o->to);
        return TT_EXIT_USAGE;
    }

    conn = tt_cmd_connect(&args->cfg);
    if (conn == NULL) {
        return 1;
    }

    res = tt_chain_verify(conn, o->from, o->to, TT_AUDIT_SHOWN, err,
                          sizeof(err));
    PQfinish(conn);

    if (res == NULL) {
        tt_cmd_error("%s", err);
        return 1;
    }

    n = PQntuples(res);
    if (n == 0 || strcmp(PQgetvalue(res, n - 1, TT_CHAIN_PROBLEM), "end")) {
        tt_cmd_error("verifying the ledger chain: no summary row");
        PQclear(res);
        return 1;
    }

    total = PQgetvalue(res, n - 1, TT_CHAIN_TOTAL);

    if (strcmp(total, "0") == 0) {
        printf("ledger chain intact: %s rows verified, up to chain_seq %s "
               "whose hash is %s\n",
               PQgetvalue(res, n - 1, TT_CHAIN_EXPECTED),
               PQgetvalue(res, n - 1, TT_CHAIN_SEQ),
               PQgetvalue(res, n - 1, TT_CHAIN_FOUND));
        PQclear(res);
        return 0;
    }

    printf("ledger chain BROKEN: %s problems in %s rows; the first broken "
           "link:\n", total, PQgetvalue(res, n - 1, TT_CHAIN_EXPECTED));

    for (i = 0; i < n - 1; i++) {
        tt_cmd_audit_problem(res, i);
    }

    if (atoll(total) > n - 1) {
        printf("  ... and %lld more\n", atoll(total) - (n - 1));
    }

    PQclear(res);
    return 3;
}


static void
tt_cmd_audit_problem(PGresult *res, int i)
{
    const char  *what, *seq, *id, *expected, *found;

    what = PQgetvalue(res, i, TT_CHAIN_PROBLEM);
    seq = PQgetvalue(res, i, TT_CHAIN_SEQ);
    id = PQgetisnull(res, i, TT_CHAIN_LEDGER_ID)
         ? "-" : PQgetvalue(res, i, TT_CHAIN_LEDGER_ID);
    expected = PQgetvalue(res, i, TT_CHAIN_EXPECTED);
    found = PQgetvalue(res, i, TT_CHAIN_FOUND);

    if (strcmp(what, "missing") == 0) {
        if (atoll(found) - atoll(expected) == 1) {
            printf("  removed rows: chain_seq %s is missing (the next row "
                   "is chain_seq %s, row id %s)\n", seq, found, id);
        } else {
            printf("  removed rows: chain_seq %s to %lld are missing (the "
                   "next row is chain_seq %s, row id %s)\n", seq,
                   atoll(found) - 1, found, id);
        }

    } else if (strcmp(what, "hash") == 0) {
        printf("  broken link at row id %s (chain_seq %s): the row or the "
               "one before it was changed; expected hash %s, found %s\n",
               id, seq, expected, found);

    } else {
        printf("  chain ends before its head: the last rows were removed "
               "(head %s, last row %s)\n", expected, found);
    }
}
