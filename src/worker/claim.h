/*
 * claim: the job queue side of the worker: claiming batches under a
 * lease, renewing and releasing it, failing jobs with backoff, rescuing
 * jobs whose worker vanished, and pruning the delivery memory.
 */

#ifndef TT_CLAIM_H
#define TT_CLAIM_H

#include <stddef.h>
#include <libpq-fe.h>

#include "config.h"


typedef struct {
    long long    id;
    int          attempts;          /* including this one */
    const char  *payload;           /* points into the batch's result */
    size_t       payload_len;
} tt_job_t;


typedef struct {
    PGresult    *res;
    tt_job_t    *jobs;
    size_t       njobs;
    double       renewed_at;        /* monotonic seconds */
} tt_batch_t;


/* claims up to cfg->batch_size runnable jobs; 0 jobs is not an error */
int tt_claim_batch(PGconn *conn, const tt_config_t *cfg, tt_batch_t *b,
    char *err, size_t errlen);

void tt_batch_free(tt_batch_t *b);

/* renews the lease of the batch when a third of it has run out */
int tt_lease_maybe_renew(PGconn *conn, const tt_config_t *cfg,
    tt_batch_t *b, char *err, size_t errlen);

/* gives jobs back to the queue untouched (graceful stop) */
int tt_jobs_release(PGconn *conn, const tt_config_t *cfg,
    const long long *ids, size_t n, char *err, size_t errlen);

/*
 * Records a failed attempt: queued again after a backoff, or 'dead' when
 * permanent or out of attempts.  *dead and *delay say which.
 */
int tt_job_fail(PGconn *conn, const tt_config_t *cfg, const tt_job_t *job,
    int permanent, const char *error, int *dead, double *delay, char *err,
    size_t errlen);

/* the retry delay in seconds after attempt n (1 = first), jitter in
 * [0, 1): exponential from backoff_base_ms, capped at backoff_cap_s, then
 * scaled into [delay/2, delay) */
double tt_backoff_delay(const tt_config_t *cfg, int attempts, double jitter);

/* requeues (or buries) jobs whose lease expired; returns how many */
int tt_jobs_rescue(PGconn *conn, const tt_config_t *cfg, char *err,
    size_t errlen);

/* jobs runnable now, and jobs leased by anyone */
int tt_jobs_pending(PGconn *conn, long long *runnable, long long *running,
    char *err, size_t errlen);

/* deletes tracktik_deliveries older than the retention; returns rows */
long long tt_deliveries_prune(PGconn *conn, const tt_config_t *cfg,
    char *err, size_t errlen);

/* "{1,2,3}" for a bigint[] parameter; caller frees */
char *tt_ids_array(const long long *ids, size_t n);

/* monotonic clock in seconds */
double tt_now(void);

#endif /* TT_CLAIM_H */
