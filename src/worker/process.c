/*
 * process: a batch through parse -> rules -> ledger + billing -> finish.
 *
 * The database work for the whole batch is one transaction sent as one
 * libpq pipeline: BEGIN, tracktik_record_report() per report (in report id
 * order, so concurrent workers take the per-report locks in one order),
 * with --attachment-dir the report photos queued (tracktik_photos,
 * sql/migrations/008_report_photos.sql), 'dead' for payloads that cannot
 * be parsed, DELETE of the finished jobs, COMMIT.  If anything in it
 * fails, the transaction is rolled back and every job is retried alone,
 * so one bad job only fails itself.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "billing.h"
#include "db.h"
#include "ledger.h"
#include "log.h"
#include "parse.h"
#include "process.h"
#include "tz.h"


#define TT_MAX_LINES  16

enum {
    TT_WORK_READY = 0,              /* parsed, rules applied */
    TT_WORK_INVALID,                /* permanent error: goes 'dead' */
    TT_WORK_RELEASE,                /* not started: back to the queue */
    TT_WORK_HANDLED,                /* failed alone and recorded as such */
    TT_WORK_RETRY                   /* enrichment failed: try again later */
};


typedef struct {
    tt_job_t       *job;
    int             state;
    tt_payload_t    payload;
    char          **lines_json;     /* per report */
    char          (*service_date)[48];
    size_t          nlines;         /* lines billed over all reports */
    char            error[512];
} tt_work_t;


typedef struct {
    tt_work_t      *work;
    size_t          report;
} tt_item_t;


static void tt_process_prepare(const tt_config_t *cfg,
    const tt_rulebook_t *rb, tt_enrich_t *enrich, tt_work_t *w);
static int tt_process_send(PGconn *conn, const tt_config_t *cfg,
    tt_work_t *work, size_t n, char *err, size_t errlen,
    PGresult **failed);
static void tt_process_log_done(tt_work_t *w, tt_ledger_result_t *results);
static void tt_process_log_batch(size_t njobs,
    const tt_process_stats_t *before, const tt_process_stats_t *after,
    const struct timespec *start);
static void tt_process_work_free(tt_work_t *w);
static int tt_item_cmp(const void *a, const void *b);


int
tt_process_batch(PGconn *conn, const tt_config_t *cfg,
    const tt_rulebook_t *rb, tt_enrich_t *enrich, tt_batch_t *b,
    volatile sig_atomic_t *stop, tt_process_stats_t *stats, char *err,
    size_t errlen)
{
    int                  rc, dead, permanent;
    char                 msg[1024], qerr[768];
    double               delay;
    size_t               i, nrelease;
    PGresult            *failed;
    tt_work_t           *work;
    long long           *release;
    struct timespec      start;
    tt_process_stats_t   before;

    clock_gettime(CLOCK_MONOTONIC, &start);
    before = *stats;

    work = calloc(b->njobs, sizeof(tt_work_t));
    release = calloc(b->njobs, sizeof(long long));

    if (work == NULL || release == NULL) {
        free(work);
        free(release);
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    rc = 0;
    nrelease = 0;

    /* in memory: parse and rate every job */

    for (i = 0; i < b->njobs; i++) {
        work[i].job = &b->jobs[i];

        if (*stop) {
            work[i].state = TT_WORK_RELEASE;
            release[nrelease++] = b->jobs[i].id;
            continue;
        }

        if (cfg->job_delay_ms > 0) {
            usleep(cfg->job_delay_ms * 1000);
        }

        tt_process_prepare(cfg, rb, enrich, &work[i]);

        if (tt_lease_maybe_renew(conn, cfg, b, err, errlen) != 0) {
            rc = -1;
            goto done;
        }

        /* TrackTik could not say what the job needs: a retry later */
        if (work[i].state == TT_WORK_RETRY) {
            if (tt_job_fail(conn, cfg, work[i].job, 0, work[i].error, &dead,
                            &delay, err, errlen) != 0)
            {
                rc = -1;
                goto done;
            }

            work[i].state = TT_WORK_HANDLED;

            if (dead) {
                stats->dead++;
            } else {
                stats->retried++;
            }
            tt_log(dead ? TT_LOG_ERROR : TT_LOG_WARN, "job=%lld outcome=%s "
                   "attempts=%d retry_in=%.1fs error=%s", work[i].job->id,
                   dead ? "dead" : "retry", work[i].job->attempts, delay,
                   tt_log_quote(work[i].error, msg, sizeof(msg)));
        }
    }

    /* in the database: the whole batch in one transaction */

    failed = NULL;

    if (tt_process_send(conn, cfg, work, b->njobs, qerr, sizeof(qerr),
                        &failed) == 0)
    {
        goto finished;
    }

    PQclear(failed);

    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(err, errlen, "%s", qerr);
        rc = -1;
        goto done;
    }

    tt_log(TT_LOG_WARN, "event=batch_failed jobs=%zu retrying=one_by_one "
           "error=%s", b->njobs, tt_log_quote(qerr, msg, sizeof(msg)));

    /* one job at a time: only the guilty one fails */

    for (i = 0; i < b->njobs; i++) {
        if (work[i].state == TT_WORK_RELEASE) {
            continue;
        }

        if (tt_lease_maybe_renew(conn, cfg, b, err, errlen) != 0) {
            rc = -1;
            goto done;
        }

        failed = NULL;

        if (tt_process_send(conn, cfg, &work[i], 1, qerr, sizeof(qerr),
                            &failed) == 0)
        {
            continue;
        }

        permanent = tt_db_error_is_permanent(failed);
        PQclear(failed);

        if (PQstatus(conn) != CONNECTION_OK) {
            snprintf(err, errlen, "%s", qerr);
            rc = -1;
            goto done;
        }

        if (tt_job_fail(conn, cfg, work[i].job, permanent, qerr, &dead,
                        &delay, err, errlen) != 0)
        {
            tt_log(TT_LOG_WARN, "job=%lld outcome=lost error=%s",
                   work[i].job->id, tt_log_quote(err, msg, sizeof(msg)));
            work[i].state = TT_WORK_HANDLED;
            continue;
        }

        work[i].state = TT_WORK_HANDLED;

        if (dead) {
            stats->dead++;
            tt_log(TT_LOG_ERROR, "job=%lld outcome=dead attempts=%d "
                   "error=%s", work[i].job->id, work[i].job->attempts,
                   tt_log_quote(qerr, msg, sizeof(msg)));
        } else {
            stats->retried++;
            tt_log(TT_LOG_WARN, "job=%lld outcome=retry attempts=%d "
                   "retry_in=%.1fs error=%s", work[i].job->id,
                   work[i].job->attempts, delay,
                   tt_log_quote(qerr, msg, sizeof(msg)));
        }
    }

finished:

    for (i = 0; i < b->njobs; i++) {
        if (work[i].state == TT_WORK_READY) {
            stats->done++;

        } else if (work[i].state == TT_WORK_INVALID) {
            stats->dead++;
            tt_log(TT_LOG_ERROR, "job=%lld outcome=dead attempts=%d "
                   "error=%s", work[i].job->id, work[i].job->attempts,
                   tt_log_quote(work[i].error, msg, sizeof(msg)));
        }
    }

    if (nrelease > 0) {
        if (tt_jobs_release(conn, cfg, release, nrelease, err, errlen) != 0)
        {
            rc = -1;
            goto done;
        }

        stats->released += nrelease;
        tt_log(TT_LOG_INFO, "event=released jobs=%zu reason=stopping",
               nrelease);
    }

    tt_process_log_batch(b->njobs, &before, stats, &start);

done:

    for (i = 0; i < b->njobs; i++) {
        tt_process_work_free(&work[i]);
    }

    free(work);
    free(release);

    return rc;
}


/* parse the payload and apply the rules: memory only */
static void
tt_process_prepare(const tt_config_t *cfg, const tt_rulebook_t *rb,
    tt_enrich_t *enrich, tt_work_t *w)
{
    size_t                i, n;
    struct tm             local;
    tt_line_t             lines[TT_MAX_LINES];
    tt_report_t          *r;
    const tt_rule_set_t  *set;

    if (tt_payload_parse(w->job->payload, w->job->payload_len,
                         cfg->default_time_zone, &w->payload, w->error,
                         sizeof(w->error)) != 0)
    {
        w->state = TT_WORK_INVALID;
        return;
    }

    if (tt_enrich_reports(enrich, &w->payload, cfg->default_time_zone,
                          w->error, sizeof(w->error)) != 0)
    {
        w->state = TT_WORK_RETRY;
        return;
    }

    w->lines_json = calloc(w->payload.nreports, sizeof(char *));
    w->service_date = calloc(w->payload.nreports, sizeof(*w->service_date));

    if (w->lines_json == NULL || w->service_date == NULL) {
        snprintf(w->error, sizeof(w->error), "out of memory");
        w->state = TT_WORK_INVALID;
        return;
    }

    for (i = 0; i < w->payload.nreports; i++) {
        r = &w->payload.reports[i];

        if (tt_tz_local(r->occurred_at, r->time_zone, &local) != 0) {
            snprintf(w->error, sizeof(w->error), "report %lld: time zone "
                     "%s is not usable", r->report_id, r->time_zone);
            w->state = TT_WORK_INVALID;
            return;
        }

        snprintf(w->service_date[i], sizeof(w->service_date[i]),
                 "%04d-%02d-%02d", local.tm_year + 1900, local.tm_mon + 1,
                 local.tm_mday);

        n = 0;
        set = tt_rulebook_pick(rb, r->occurred_at);

        if (set != NULL
            && tt_rules_bill(set, r, &local, lines, TT_MAX_LINES, &n,
                             w->error, sizeof(w->error)) != 0)
        {
            w->state = TT_WORK_INVALID;
            return;
        }

        w->lines_json[i] = tt_billing_lines_json(lines, n);
        if (w->lines_json[i] == NULL) {
            snprintf(w->error, sizeof(w->error), "out of memory");
            w->state = TT_WORK_INVALID;
            return;
        }

        w->nlines += n;
    }

    w->state = TT_WORK_READY;
}


/*
 * One transaction for n jobs.  Returns 0 when committed; -1 with the
 * first error in err (and its result in *failed) after rolling back.
 */
static int
tt_process_send(PGconn *conn, const tt_config_t *cfg, tt_work_t *work,
    size_t n, char *err, size_t errlen, PGresult **failed)
{
    int                  ok, sync_seen, record_sent, photos_sent;
    char                *ids, *batch, buf[512], idtext[24], msg[600];
    size_t               i, j, k, nitems, nfinish, query;
    PGresult            *res;
    tt_item_t           *items;
    long long           *finish;
    tt_ledger_item_t    *ledger;
    tt_ledger_result_t  *results;
    const char          *params[6];

    err[0] = '\0';
    *failed = NULL;
    nitems = 0;
    nfinish = 0;

    for (i = 0; i < n; i++) {
        if (work[i].state == TT_WORK_READY) {
            nitems += work[i].payload.nreports;
        }
        if (work[i].state == TT_WORK_READY
            || work[i].state == TT_WORK_INVALID)
        {
            nfinish++;
        }
    }

    if (nfinish == 0) {
        return 0;
    }

    items = calloc(nitems + 1, sizeof(tt_item_t));
    ledger = calloc(nitems + 1, sizeof(tt_ledger_item_t));
    finish = calloc(nfinish, sizeof(long long));
    results = calloc(nitems + 1, sizeof(tt_ledger_result_t));
    ids = NULL;
    batch = NULL;

    if (items == NULL || ledger == NULL || finish == NULL
        || results == NULL)
    {
        snprintf(err, errlen, "out of memory");
        goto failed;
    }

    k = 0;
    nfinish = 0;

    for (i = 0; i < n; i++) {
        if (work[i].state != TT_WORK_READY
            && work[i].state != TT_WORK_INVALID)
        {
            continue;
        }

        finish[nfinish++] = work[i].job->id;

        if (work[i].state != TT_WORK_READY) {
            continue;
        }

        for (j = 0; j < work[i].payload.nreports; j++) {
            items[k].work = &work[i];
            items[k].report = j;
            k++;
        }
    }

    /* report id order: concurrent batches take index locks in one order */
    qsort(items, nitems, sizeof(tt_item_t), tt_item_cmp);

    for (k = 0; k < nitems; k++) {
        ledger[k].job_id = items[k].work->job->id;
        ledger[k].report = &items[k].work->payload.reports[items[k].report];
        ledger[k].service_date = items[k].work->service_date[items[k].report];
        ledger[k].lines_json = items[k].work->lines_json[items[k].report];
    }

    ids = tt_ids_array(finish, nfinish);
    batch = nitems > 0 ? tt_ledger_batch_json(ledger, nitems) : NULL;

    if (ids == NULL || (nitems > 0 && batch == NULL)) {
        snprintf(err, errlen, "out of memory");
        goto failed;
    }

    record_sent = 0;
    photos_sent = 0;

    ok = PQenterPipelineMode(conn);
    ok = ok && PQsendQueryParams(conn, "BEGIN", 0, NULL, NULL, NULL, NULL,
                                 0);

    if (ok && nitems > 0) {
        ok = tt_ledger_send(conn, batch) == 0;
        record_sent = 1;
    }

    /* the photos of these reports, fetched later by the photo pass */
    if (ok && nitems > 0 && cfg->attachment_dir != NULL) {
        params[0] = batch;
        ok = PQsendQueryParams(conn, "SELECT tracktik_photos_enqueue($1)",
                               1, NULL, params, NULL, NULL, 0);
        photos_sent = 1;
    }

    snprintf(buf, sizeof(buf), "%d", cfg->max_attempts);

    for (i = 0; ok && i < n; i++) {
        if (work[i].state != TT_WORK_INVALID) {
            continue;
        }

        snprintf(idtext, sizeof(idtext), "%lld", work[i].job->id);
        params[0] = idtext;
        params[1] = cfg->worker_id;
        params[2] = "true";
        params[3] = buf;
        params[4] = "0";
        params[5] = work[i].error;

        ok = PQsendQueryPrepared(conn, "tt_fail", 6, params, NULL, NULL, 0);
    }

    params[0] = ids;
    params[1] = cfg->worker_id;

    ok = ok && PQsendQueryPrepared(conn, "tt_finish", 2, params, NULL, NULL,
                                   0);
    ok = ok && PQsendQueryParams(conn, "COMMIT", 0, NULL, NULL, NULL, NULL,
                                 0);
    ok = ok && PQpipelineSync(conn);

    if (!ok) {
        tt_db_error(conn, NULL, "sending the batch", err, errlen);
        PQexitPipelineMode(conn);
        goto failed;
    }

    /*
     * Results arrive in the order sent: BEGIN, the batch record, the
     * dead jobs, the finish, COMMIT, then the sync point.  Each query's
     * results end with a NULL.
     */

    sync_seen = 0;
    query = 0;

    while (!sync_seen) {
        res = PQgetResult(conn);

        if (res == NULL) {
            query++;
            if (PQstatus(conn) != CONNECTION_OK) {
                if (err[0] == '\0') {
                    tt_db_error(conn, NULL, "the batch", err, errlen);
                }
                break;
            }
            continue;
        }

        switch (PQresultStatus(res)) {

        case PGRES_PIPELINE_SYNC:
            sync_seen = 1;
            break;

        case PGRES_PIPELINE_ABORTED:
        case PGRES_COMMAND_OK:
            break;

        case PGRES_TUPLES_OK:
            if (record_sent && query == 1
                && tt_ledger_read(res, results, nitems) != 0
                && err[0] == '\0')
            {
                snprintf(err, errlen, "tracktik_record_batch() returned "
                         "%d rows for %zu reports", PQntuples(res), nitems);
            }
            break;

        default:
            if (err[0] == '\0') {
                if (record_sent && query == 1 && n == 1) {
                    snprintf(buf, sizeof(buf), "recording report %lld",
                             items[0].work->payload.reports[0].report_id);
                } else if (record_sent && query == 1) {
                    snprintf(buf, sizeof(buf), "recording %zu reports",
                             nitems);
                } else if (photos_sent && query == 2) {
                    snprintf(buf, sizeof(buf), "queueing report photos");
                } else {
                    snprintf(buf, sizeof(buf), "the batch transaction");
                }
                tt_db_error(conn, res, buf, err, errlen);
                *failed = res;
                res = NULL;
            }
            break;
        }

        PQclear(res);
    }

    PQexitPipelineMode(conn);

    if (err[0] == '\0' && PQtransactionStatus(conn) != PQTRANS_IDLE) {
        snprintf(err, errlen, "the batch transaction did not commit");
    }

    if (err[0] != '\0') {
        if (PQstatus(conn) == CONNECTION_OK
            && PQtransactionStatus(conn) != PQTRANS_IDLE)
        {
            tt_db_exec(conn, "ROLLBACK", PGRES_COMMAND_OK, msg,
                       sizeof(msg));
        }
        goto failed;
    }

    /* committed: one log line per job */

    for (i = 0; i < n; i++) {
        tt_ledger_result_t  *mine;

        if (work[i].state != TT_WORK_READY) {
            continue;
        }

        mine = calloc(work[i].payload.nreports, sizeof(tt_ledger_result_t));
        if (mine == NULL) {
            continue;
        }

        for (k = 0; k < nitems; k++) {
            if (items[k].work == &work[i]) {
                mine[items[k].report] = results[k];
            }
        }

        tt_process_log_done(&work[i], mine);
        free(mine);
    }

    free(items);
    free(ledger);
    free(finish);
    free(results);
    free(ids);
    free(batch);

    return 0;

failed:

    free(items);
    free(ledger);
    free(finish);
    free(results);
    free(ids);
    free(batch);

    return -1;
}


static void
tt_process_log_done(tt_work_t *w, tt_ledger_result_t *results)
{
    int     appended, duplicate, stale, charged, credited, version;
    size_t  i;

    appended = duplicate = stale = charged = credited = version = 0;

    for (i = 0; i < w->payload.nreports; i++) {
        if (strcmp(results[i].outcome, "appended") == 0) {
            appended++;
        } else if (strcmp(results[i].outcome, "duplicate") == 0) {
            duplicate++;
        } else if (strcmp(results[i].outcome, "stale") == 0) {
            stale++;
        }

        charged += results[i].lines_charged;
        credited += results[i].lines_credited;
        version = results[i].version;
    }

    tt_log(TT_LOG_DEBUG, "job=%lld outcome=done attempts=%d reports=%zu "
           "report=%lld version=%d appended=%d duplicate=%d stale=%d "
           "charged=%d credited=%d", w->job->id, w->job->attempts,
           w->payload.nreports, w->payload.reports[0].report_id, version,
           appended, duplicate, stale, charged, credited);
}


/*
 * One info line per batch: at thousands of jobs a second a line per job
 * would be thinned out by journald's rate limit, errors included.  The
 * per-job lines of done jobs are debug; failed ones keep their own line.
 */
static void
tt_process_log_batch(size_t njobs, const tt_process_stats_t *before,
    const tt_process_stats_t *after, const struct timespec *start)
{
    double           ms;
    struct timespec  now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (now.tv_sec - start->tv_sec) * 1000.0
         + (now.tv_nsec - start->tv_nsec) / 1e6;

    tt_log(TT_LOG_INFO, "event=batch jobs=%zu done=%lld retried=%lld "
           "dead=%lld released=%lld ms=%.1f", njobs,
           after->done - before->done, after->retried - before->retried,
           after->dead - before->dead, after->released - before->released,
           ms);
}


static void
tt_process_work_free(tt_work_t *w)
{
    size_t  i;

    if (w->lines_json != NULL) {
        for (i = 0; i < w->payload.nreports; i++) {
            free(w->lines_json[i]);
        }
    }

    free(w->lines_json);
    free(w->service_date);
    tt_payload_free(&w->payload);
}


static int
tt_item_cmp(const void *a, const void *b)
{
    const tt_item_t  *ia = a, *ib = b;
    long long         ra, rb;

    ra = ia->work->payload.reports[ia->report].report_id;
    rb = ib->work->payload.reports[ib->report].report_id;

    if (ra != rb) {
        return ra < rb ? -1 : 1;
    }

    /* one report twice in a batch: keep arrival order */
    if (ia->work->job->id != ib->work->job->id) {
        return ia->work->job->id < ib->work->job->id ? -1 : 1;
    }

    return (int) ia->report - (int) ib->report;
}
