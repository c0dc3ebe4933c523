/*
 * process: one claimed batch from payloads to ledger rows and billing
 * lines: parse and apply the rules in memory, then one transaction (one
 * pipelined round trip) records every report and deletes the finished
 * jobs.  A job that cannot be processed never holds the others back.
 */

#ifndef TT_PROCESS_H
#define TT_PROCESS_H

#include <signal.h>
#include <libpq-fe.h>

#include "claim.h"
#include "config.h"
#include "enrich.h"
#include "rules.h"


typedef struct {
    long long  done;
    long long  retried;
    long long  dead;
    long long  released;
} tt_process_stats_t;


/*
 * Returns 0, or -1 when the connection itself failed (err says why; the
 * batch's leases then simply run out and another worker takes over).
 * *stop is polled between jobs: once set, unstarted jobs are released.
 * enrich (may be NULL) fills in what the reports leave out from TrackTik;
 * a job it cannot complete now is retried later.
 */
int tt_process_batch(PGconn *conn, const tt_config_t *cfg,
    const tt_rulebook_t *rb, tt_enrich_t *enrich, tt_batch_t *b,
    volatile sig_atomic_t *stop, tt_process_stats_t *stats, char *err,
    size_t errlen);

#endif /* TT_PROCESS_H */
