/*
 * jobs: the operator's view of the queue (`jobs list`, `jobs retry`).
 */

#ifndef TT_JOBS_H
#define TT_JOBS_H

#include <stddef.h>
#include <libpq-fe.h>


/* 1 when state is one a job can be in (queued, running, dead) */
int tt_jobs_state_valid(const char *state);

/*
 * The queue, oldest first: id, state, attempts, received_at, run_after,
 * locked_by, last_error (one line).  NULL with err.
 */
PGresult *tt_jobs_list(PGconn *conn, const char *state, int limit,
    char *err, size_t errlen);

/*
 * Requeues job id (a dead or queued one), or every dead job (id NULL),
 * with zero attempts.  *requeued: how many; -1 with err (a database
 * error, or job id is running or gone).
 */
int tt_jobs_retry(PGconn *conn, const char *id, int *requeued, char *err,
    size_t errlen);

#endif /* TT_JOBS_H */
