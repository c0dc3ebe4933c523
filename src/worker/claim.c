/*
 * claim: leasing jobs.  A claim is its own short transaction: the jobs
 * become 'running' with locked_by = this worker and locked_until = now() +
 * lease, so a worker killed at any point loses nothing: its jobs come back
 * when the lease runs out (tt_jobs_rescue, run by every worker).
 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "claim.h"
#include "db.h"
#include "log.h"


int
tt_claim_batch(PGconn *conn, const tt_config_t *cfg, tt_batch_t *b,
    char *err, size_t errlen)
{
    int          i, n;
    char         lease[16], limit[16];
    const char  *params[3];

    memset(b, 0, sizeof(*b));

    snprintf(lease, sizeof(lease), "%d", cfg->lease_seconds);
    snprintf(limit, sizeof(limit), "%d", cfg->batch_size);
    params[0] = cfg->worker_id;
    params[1] = lease;
    params[2] = limit;

    b->res = PQexecPrepared(conn, "tt_claim", 3, params, NULL, NULL, 0);

    if (PQresultStatus(b->res) != PGRES_TUPLES_OK) {
        tt_db_error(conn, b->res, "claiming jobs", err, errlen);
        PQclear(b->res);
        b->res = NULL;
        return -1;
    }

    b->renewed_at = tt_now();

    n = PQntuples(b->res);
    if (n == 0) {
        return 0;
    }

    b->jobs = calloc(n, sizeof(tt_job_t));
    if (b->jobs == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    for (i = 0; i < n; i++) {
        b->jobs[i].id = strtoll(PQgetvalue(b->res, i, 0), NULL, 10);
        b->jobs[i].attempts = atoi(PQgetvalue(b->res, i, 1));
        b->jobs[i].payload = PQgetvalue(b->res, i, 2);
        b->jobs[i].payload_len = PQgetlength(b->res, i, 2);
    }

    /* claimed in arrival order; handled in id order */
    b->njobs = n;

    return 0;
}


void
tt_batch_free(tt_batch_t *b)
{
    free(b->jobs);
    PQclear(b->res);
    memset(b, 0, sizeof(*b));
}


int
tt_lease_maybe_renew(PGconn *conn, const tt_config_t *cfg, tt_batch_t *b,
    char *err, size_t errlen)
{
    int          rc;
    char        *ids, lease[16];
    size_t       i;
    long long   *list;
    PGresult    *res;
    const char  *params[3];

    if (b->njobs == 0 || tt_now() - b->renewed_at < cfg->lease_seconds / 3.0)
    {
        return 0;
    }

    list = calloc(b->njobs, sizeof(long long));
    if (list == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (i = 0; i < b->njobs; i++) {
        list[i] = b->jobs[i].id;
    }
    ids = tt_ids_array(list, b->njobs);
    free(list);

    if (ids == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    snprintf(lease, sizeof(lease), "%d", cfg->lease_seconds);
    params[0] = ids;
    params[1] = cfg->worker_id;
    params[2] = lease;

    res = PQexecPrepared(conn, "tt_renew", 3, params, NULL, NULL, 0);
    rc = 0;

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        tt_db_error(conn, res, "renewing the lease", err, errlen);
        rc = -1;

    } else {
        b->renewed_at = tt_now();
        tt_log(TT_LOG_DEBUG, "event=lease_renewed jobs=%s",
               PQcmdTuples(res));
    }

    PQclear(res);
    free(ids);

    return rc;
}


int
tt_jobs_release(PGconn *conn, const tt_config_t *cfg, const long long *ids,
    size_t n, char *err, size_t errlen)
{
    int          rc;
    char        *list;
    PGresult    *res;
    const char  *params[2];

    if (n == 0) {
        return 0;
    }

    list = tt_ids_array(ids, n);
    if (list == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    params[0] = list;
    params[1] = cfg->worker_id;

    res = PQexecPrepared(conn, "tt_release", 2, params, NULL, NULL, 0);
    rc = 0;

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        tt_db_error(conn, res, "releasing jobs", err, errlen);
        rc = -1;
    }

    PQclear(res);
    free(list);

    return rc;
}


int
tt_job_fail(PGconn *conn, const tt_config_t *cfg, const tt_job_t *job,
    int permanent, const char *error, int *dead, double *delay, char *err,
    size_t errlen)
{
    char         id[24], max[16], secs[32];
    PGresult    *res;
    const char  *params[6];

    *delay = tt_backoff_delay(cfg, job->attempts,
                              (double) random() / ((double) RAND_MAX + 1));

    snprintf(id, sizeof(id), "%lld", job->id);
    snprintf(max, sizeof(max), "%d", cfg->max_attempts);
    snprintf(secs, sizeof(secs), "%.3f", *delay);

    params[0] = id;
    params[1] = cfg->worker_id;
    params[2] = permanent ? "true" : "false";
    params[3] = max;
    params[4] = secs;
    params[5] = error;

    res = PQexecPrepared(conn, "tt_fail", 6, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        tt_db_error(conn, res, "recording a failed job", err, errlen);
        PQclear(res);
        return -1;
    }

    if (PQntuples(res) == 0) {
        snprintf(err, errlen, "job %lld is no longer leased to this worker",
                 job->id);
        PQclear(res);
        return -1;
    }

    *dead = strcmp(PQgetvalue(res, 0, 0), "dead") == 0;

    PQclear(res);
    return 0;
}


double
tt_backoff_delay(const tt_config_t *cfg, int attempts, double jitter)
{
    double  delay;

    if (attempts < 1) {
        attempts = 1;
    }

    delay = cfg->backoff_base_ms / 1000.0 * pow(2.0, attempts - 1);

    if (delay > cfg->backoff_cap_s || attempts > 60) {
        delay = cfg->backoff_cap_s;
    }

    return delay / 2 + delay / 2 * jitter;
}


int
tt_jobs_rescue(PGconn *conn, const tt_config_t *cfg, char *err,
    size_t errlen)
{
    int          i, n;
    char         max[16], who[160];
    PGresult    *res;
    const char  *params[1];

    snprintf(max, sizeof(max), "%d", cfg->max_attempts);
    params[0] = max;

    res = PQexecPrepared(conn, "tt_rescue", 1, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        tt_db_error(conn, res, "rescuing expired leases", err, errlen);
        PQclear(res);
        return -1;
    }

    n = PQntuples(res);

    for (i = 0; i < n; i++) {
        tt_log(strcmp(PQgetvalue(res, i, 1), "dead") == 0 ? TT_LOG_ERROR
                                                           : TT_LOG_WARN,
               "job=%s outcome=rescued state=%s lost_worker=%s",
               PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
               tt_log_quote(PQgetvalue(res, i, 2), who, sizeof(who)));
    }

    PQclear(res);
    return n;
}


int
tt_jobs_pending(PGconn *conn, long long *runnable, long long *running,
    char *err, size_t errlen)
{
    PGresult  *res;

    res = PQexecPrepared(conn, "tt_pending", 0, NULL, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        tt_db_error(conn, res, "counting jobs", err, errlen);
        PQclear(res);
        return -1;
    }

    *runnable = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    *running = strtoll(PQgetvalue(res, 0, 1), NULL, 10);

    PQclear(res);
    return 0;
}


long long
tt_deliveries_prune(PGconn *conn, const tt_config_t *cfg, char *err,
    size_t errlen)
{
    char         days[16];
    long long    total, n;
    PGresult    *res;
    const char  *params[1];

    snprintf(days, sizeof(days), "%d", cfg->retention_days);
    params[0] = days;
    total = 0;

    /* in slices of 10000 rows, so no long lock on the delivery table */
    do {
        res = PQexecPrepared(conn, "tt_prune", 1, params, NULL, NULL, 0);

        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            tt_db_error(conn, res, "pruning tracktik_deliveries", err,
                        errlen);
            PQclear(res);
            return -1;
        }

        n = strtoll(PQcmdTuples(res), NULL, 10);
        total += n;
        PQclear(res);

    } while (n == 10000);

    return total;
}


char *
tt_ids_array(const long long *ids, size_t n)
{
    char    *s;
    size_t   i, len;

    s = malloc(n * 21 + 3);
    if (s == NULL) {
        return NULL;
    }

    len = 0;
    s[len++] = '{';

    for (i = 0; i < n; i++) {
        len += sprintf(s + len, i ? ",%lld" : "%lld", ids[i]);
    }

    s[len++] = '}';
    s[len] = '\0';

    return s;
}


double
tt_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}
