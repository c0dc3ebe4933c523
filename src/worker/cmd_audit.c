/*
 * cmd_audit: `audit --verify-chain [--from DATE] [--to DATE]`: the
 * ledger's hash chain recomputed (chain.h, doc/ledger-chain.md).  Exit 0
 * when every link holds, 3 when one does not (the first broken link
 * named, then the others up to a limit), 1 on errors.
 *
 * `audit --from DATE --to DATE --source api|FILE [--mapping NAME]
 * [--out DIR]`: the ledger against TrackTik or an export (audit.h,
 * doc/audit.md): audit.csv and audit.html in DIR, a summary on stdout;
 * exit 0 when they agree, 1 when they differ (or on errors), 2 on usage.
 */

#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "chain.h"
#include "cmd.h"
#include "pull.h"


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
      "compare the ledger's reports of --from to --to with TrackTik's "
      "(api) or an export's (FILE.csv, FILE.xlsx)" },
    { "mapping", "NAME", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_audit_opts_t, mapping), 0, 0, NULL, NULL, NULL,
      "the export's mapping, as for import (default: detected)" },
    { "mapping-dir", "DIR", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_audit_opts_t, mapping_dir), 0, 0, NULL,
      "TRACKTIK_IMPORT_MAPPINGS", NULL, "as for import" },
    { "out", "DIR", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_audit_opts_t, out), 0, 0, NULL, NULL, ".",
      "where audit.csv and audit.html are written" },
    { "page-size", "N", TT_OPT_INT, TT_IN_COMMAND,
      offsetof(tt_audit_opts_t, page_size), 1, 1000, NULL, NULL, "1000",
      "--source api: reports a request" },
    { "default-time-zone", "ZONE", TT_OPT_TEXT, TT_IN_CONFIG,
      offsetof(tt_config_t, default_time_zone), 0, 0, tt_cmd_check_zone,
      NULL, "UTC", "as for import" },
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};


static void tt_cmd_audit_problem(PGresult *res, int i);
static int tt_cmd_audit_source(tt_cmd_args_t *args);
static void tt_cmd_audit_signal(int signo);


static volatile sig_atomic_t  tt_audit_stop;


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

    if (o->source != NULL && o->verify_chain) {
        tt_cmd_error("audit: --source and --verify-chain are two audits: "
                     "run them one at a time");
        return TT_EXIT_USAGE;
    }

    if (o->source != NULL) {
        return tt_cmd_audit_source(args);
    }

    if (!o->verify_chain) {
        tt_cmd_error("usage: tracktik-worker audit --verify-chain "
                     "[--from DATE] [--to DATE], or audit --from DATE "
                     "--to DATE --source api|FILE");
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


/* the ledger against TrackTik or an export: 0 agree, 1 differ, 2 usage */
static int
tt_cmd_audit_source(tt_cmd_args_t *args)
{
    int                 k, rc;
    char                err[1024];
    PGconn             *conn;
    tt_audit_opts_t    *o;
    tt_audit_spec_t     spec;
    tt_audit_result_t   r;
    struct sigaction    sa;

    o = args->opts;

    if (o->from == NULL || o->to == NULL) {
        tt_cmd_error("audit --source needs --from DATE and --to DATE");
        return TT_EXIT_USAGE;
    }

    memset(&spec, 0, sizeof(spec));

    if (tt_pull_range(o->from, o->to, &spec.from, &spec.to, err,
                      sizeof(err)) != 0)
    {
        tt_cmd_error("audit: %s", err);
        return TT_EXIT_USAGE;
    }

    if (strcmp(o->source, "api") != 0) {
        spec.file = o->source;
    } else if (o->mapping != NULL) {
        tt_cmd_error("audit: --mapping is for --source FILE");
        return TT_EXIT_USAGE;
    }

    spec.mapping = o->mapping;
    spec.mapping_dir = o->mapping_dir != NULL ? o->mapping_dir
                                              : tt_cmd_default_mapping_dir();
    spec.default_time_zone = args->cfg.default_time_zone;
    spec.page_size = o->page_size;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = tt_cmd_audit_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    conn = tt_cmd_connect(&args->cfg);
    if (conn == NULL) {
        return 1;
    }

    rc = tt_audit_run(conn, &args->cfg, &spec, &tt_audit_stop, &r, err,
                      sizeof(err));

    if (rc == 0) {
        rc = tt_audit_write(conn, o->out, o->source, &spec, &r, err,
                            sizeof(err));
    }

    PQclear(PQexec(conn, "ROLLBACK"));
    PQfinish(conn);

    if (rc != 0) {
        tt_cmd_error("audit failed: %s", err);
        return 1;
    }

    printf("audit of %s to %s against %s%s%s%s: %lld reports in the "
           "ledger, %lld in the source\n", o->from, o->to, o->source,
           r.mapping[0] ? " (mapping " : "", r.mapping,
           r.mapping[0] ? ")" : "", r.ledger_reports, r.source_reports);

    for (k = 0; k < TT_AUDIT_KINDS; k++) {
        printf("  %-24s %lld\n", tt_audit_kinds[k], r.counts[k]);
    }

    if (r.source_rejected > 0) {
        printf("  %lld source rows were unreadable and left out (run "
               "import --rejects FILE on the export to list them)\n",
               r.source_rejected);
    }

    printf("%s; written: %s/audit.csv, %s/audit.html\n",
           r.differences ? "the ledger and the source DIFFER"
                         : "the ledger and the source agree",
           o->out, o->out);

    return r.differences ? 1 : 0;
}


static void
tt_cmd_audit_signal(int signo)
{
    (void) signo;
    tt_audit_stop = 1;
}
