/*
 * run: the worker loop, and the supervisor of --concurrency N processes.
 *
 * Each worker process owns one connection.  It claims a batch, processes
 * it, and claims again at once while there is work; when the queue is
 * empty it sleeps in poll() on the connection socket until a NOTIFY on
 * tracktik_jobs arrives or the poll interval passes (the fallback that
 * also serves --poll-only, for PgBouncer transaction pooling).  Between
 * batches it does the housekeeping every worker shares: rescuing expired
 * leases, pruning old deliveries, noticing a newly loaded rule set.
 * With --attachment-dir, an idle worker also fetches queued report photos
 * (photos.c) and, unless --no-archives, builds the auditor's archives the
 * portal queued (archive_queue.c: one request per idle pass, claimed
 * with SKIP LOCKED, so no two processes build the same one) and prunes
 * those past --archive-keep-days; --drain does what is due before it
 * exits.
 *
 * SIGTERM/SIGINT: the batch in hand is finished (unstarted jobs are
 * released), then the process exits 0.  SIGHUP is ignored: a newly
 * loaded rule set is picked up by itself (within TT_RULES_EVERY).
 */

#define _GNU_SOURCE                     /* ppoll() */

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "archive.h"
#include "claim.h"
#include "contracts.h"
#include "db.h"
#include "log.h"
#include "notify_run.h"
#include "photos.h"
#include "process.h"
#include "run.h"
#include "users.h"


#define TT_PRUNE_EVERY  3600.0          /* seconds */
#define TT_RULES_EVERY  1.0

/* the portal's archive requests are this worker's to build */
#define tt_run_archives(cfg)                                                \
    ((cfg)->attachment_dir != NULL && !(cfg)->no_archives)


typedef struct {
    PGconn              *conn;
    tt_rulebook_t        rules;
    double               rescued_at;
    double               pruned_at;
    double               rules_checked_at;
    double               archives_pruned_at;
    tt_process_stats_t   stats;
} tt_worker_t;


static int tt_run_worker(const tt_config_t *base);
static int tt_run_connect(tt_worker_t *w, const tt_config_t *cfg);
static int tt_run_housekeeping(tt_worker_t *w, const tt_config_t *cfg,
    int force);
static int tt_run_archive(tt_worker_t *w, const tt_config_t *cfg);
static int tt_run_wait(tt_worker_t *w, int timeout_ms);
static void tt_run_signal(int signo);
static void tt_run_signals(void);

static volatile sig_atomic_t  tt_run_stop;


int
tt_run(const tt_config_t *cfg)
{
    int     i, status, failed, alive, forwarded;
    pid_t   pid, *children;

    if (cfg->concurrency <= 1) {
        return tt_run_worker(cfg);
    }

    children = calloc(cfg->concurrency, sizeof(pid_t));
    if (children == NULL) {
        tt_log(TT_LOG_ERROR, "event=start_failed error=\"out of memory\"");
        return 1;
    }

    tt_run_signals();
    tt_log_set_worker(NULL);

    alive = 0;
    failed = 0;

    for (i = 0; i < cfg->concurrency; i++) {
        pid = fork();

        if (pid < 0) {
            tt_log(TT_LOG_ERROR, "event=fork_failed error=%s",
                   strerror(errno));
            failed = 1;
            break;
        }

        if (pid == 0) {
            free(children);
            _exit(tt_run_worker(cfg));
        }

        children[i] = pid;
        alive++;
    }

    tt_log(TT_LOG_INFO, "event=supervising processes=%d", alive);

    forwarded = 0;

    while (alive > 0) {
        if (tt_run_stop && !forwarded) {
            for (i = 0; i < cfg->concurrency; i++) {
                if (children[i] > 0) {
                    kill(children[i], SIGTERM);
                }
            }
            forwarded = 1;
        }

        pid = waitpid(-1, &status, WNOHANG);

        if (pid == 0 || (pid < 0 && errno == EINTR)) {
            usleep(100 * 1000);
            continue;
        }

        if (pid < 0) {
            break;
        }

        for (i = 0; i < cfg->concurrency; i++) {
            if (children[i] != pid) {
                continue;
            }

            children[i] = 0;
            alive--;

            if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
                break;
            }

            failed = 1;
            tt_log(TT_LOG_ERROR, "event=process_exited pid=%d status=%d "
                   "signal=%d", (int) pid,
                   WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                   WIFSIGNALED(status) ? WTERMSIG(status) : 0);

            /* an unexpected death in daemon mode: start a replacement */
            if (!cfg->drain && !tt_run_stop) {
                sleep(1);
                pid = fork();
                if (pid == 0) {
                    free(children);
                    _exit(tt_run_worker(cfg));
                }
                if (pid > 0) {
                    children[i] = pid;
                    alive++;
                    failed = 0;
                }
            }
            break;
        }
    }

    free(children);

    return failed ? 1 : 0;
}


static int
tt_run_worker(const tt_config_t *base)
{
    int            rc, batch_full, timeout;
    char           err[1024], msg[1200], host[64], id[160];
    long long      runnable, running;
    tt_batch_t     batch;
    tt_config_t    cfg;
    tt_worker_t    w;
    tt_enrich_t   *enrich;
    tt_photos_t   *photos;
    tt_notify_cfg_t  notify;

    /* locked_by must be unique per process: "<name>:<pid>" */
    cfg = *base;
    if (cfg.worker_id == NULL) {
        if (gethostname(host, sizeof(host)) != 0) {
            snprintf(host, sizeof(host), "worker");
        }
        host[sizeof(host) - 1] = '\0';
        snprintf(id, sizeof(id), "%s:%d", host, (int) getpid());
    } else {
        snprintf(id, sizeof(id), "%s:%d", cfg.worker_id, (int) getpid());
    }
    cfg.worker_id = id;

    srandom((unsigned) getpid() ^ (unsigned) time(NULL));
    tt_log_set_worker(id);
    tt_run_signals();

    memset(&w, 0, sizeof(w));
    rc = 0;

    /* TrackTik enrichment, when a session exists (auth login) */
    enrich = tt_enrich_new(&cfg);

    /* report photos into the attachment store, when configured */
    photos = NULL;
    if (cfg.attachment_dir != NULL) {
        photos = tt_photos_new(&cfg, err, sizeof(err));
        if (photos == NULL) {
            tt_log(TT_LOG_ERROR, "event=photos_failed error=%s",
                   tt_log_quote(err, msg, sizeof(msg)));
            tt_enrich_free(enrich);
            return 1;
        }
    }

    /* stakeholder notifications, when asked (run --notify) */
    tt_notify_cfg_from(&notify, &cfg);

    tt_log(TT_LOG_INFO, "event=started mode=%s wakeup=%s batch=%d "
           "lease=%ds max_attempts=%d archives=%s",
           cfg.drain ? "drain" : "daemon",
           cfg.poll_only ? "poll" : "listen", cfg.batch_size,
           cfg.lease_seconds, cfg.max_attempts,
           tt_run_archives(&cfg) ? "on" : "off");

    while (!tt_run_stop) {

        if (w.conn == NULL || PQstatus(w.conn) != CONNECTION_OK) {
            if (tt_run_connect(&w, &cfg) != 0) {
                if (cfg.drain) {
                    rc = 1;
                    break;
                }
                sleep(2);
                continue;
            }
        }

        if (tt_run_housekeeping(&w, &cfg, 0) != 0) {
            continue;
        }

        if (tt_claim_batch(w.conn, &cfg, &batch, err, sizeof(err)) != 0) {
            tt_log(TT_LOG_ERROR, "event=claim_failed error=%s",
                   tt_log_quote(err, msg, sizeof(msg)));
            tt_batch_free(&batch);
            if (PQstatus(w.conn) == CONNECTION_OK) {
                sleep(1);
            }
            continue;
        }

        if (batch.njobs > 0) {
            batch_full = (int) batch.njobs == cfg.batch_size;

            if (tt_process_batch(w.conn, &cfg, &w.rules, enrich, &batch,
                                 &tt_run_stop, &w.stats, err, sizeof(err))
                != 0)
            {
                tt_log(TT_LOG_ERROR, "event=batch_abandoned jobs=%zu "
                       "error=%s", batch.njobs,
                       tt_log_quote(err, msg, sizeof(msg)));
            }

            tt_batch_free(&batch);

            if (batch_full) {
                continue;
            }
        } else {
            tt_batch_free(&batch);
        }

        if (cfg.drain) {
            if (tt_jobs_pending(w.conn, &runnable, &running, err,
                                sizeof(err)) != 0)
            {
                tt_log(TT_LOG_ERROR, "event=count_failed error=%s",
                       tt_log_quote(err, msg, sizeof(msg)));
                continue;
            }

            if (runnable == 0 && running == 0) {
                /* the photos due now, then out */
                while (!tt_run_stop && tt_photos_pass(photos, &tt_run_stop)
                       > 0)
                {
                    /* next pass */
                }
                /* and the notifications due now */
                while (cfg.notify && !tt_run_stop
                       && tt_notify_idle(w.conn, &notify) > 0)
                {
                    /* next pass */
                }
                /* and the archives queued now */
                while (!tt_run_stop && tt_run_archive(&w, &cfg) > 0) {
                    /* next request */
                }
                break;
            }

            if (runnable > 0) {
                continue;
            }

            /* others hold leases: wait for them, or for them to expire */
            timeout = 200;

        } else {
            timeout = cfg.poll_interval_ms;

            /* idle: photos; a pass that did something looks for jobs
             * again before sleeping */
            if (tt_photos_pass(photos, &tt_run_stop) > 0) {
                continue;
            }

            if (cfg.notify && tt_notify_idle(w.conn, &notify) > 0) {
                continue;
            }

            if (tt_run_archive(&w, &cfg) > 0) {
                continue;
            }
        }

        tt_run_wait(&w, timeout);
    }

    tt_log(TT_LOG_INFO, "event=stopped done=%lld retried=%lld dead=%lld "
           "released=%lld", w.stats.done, w.stats.retried, w.stats.dead,
           w.stats.released);

    tt_rulebook_free(&w.rules);
    tt_enrich_free(enrich);
    tt_photos_free(photos);
    tt_notify_channel_close(&notify.channel);
    if (w.conn != NULL) {
        PQfinish(w.conn);
    }

    return rc;
}


static int
tt_run_connect(tt_worker_t *w, const tt_config_t *cfg)
{
    char  err[1024], msg[1200];

    if (w->conn != NULL) {
        PQfinish(w->conn);
        w->conn = NULL;
    }

    w->conn = tt_db_connect(cfg->dsn, err, sizeof(err));

    if (w->conn == NULL
        || tt_db_prepare(w->conn, err, sizeof(err)) != 0
        || (!cfg->poll_only
            && tt_db_exec(w->conn, "LISTEN tracktik_jobs", PGRES_COMMAND_OK,
                          err, sizeof(err)) != 0))
    {
        tt_log(TT_LOG_ERROR, "event=connect_failed error=%s",
               tt_log_quote(err, msg, sizeof(msg)));
        goto failed;
    }

    /* connected, but the stored contract rules cannot be used: that is
     * what the operator must fix, not the connection */

    if (tt_rulebook_load(w->conn, &w->rules, err, sizeof(err)) != 0) {
        tt_log(TT_LOG_ERROR, "event=rule_set_unusable error=%s hint=%s",
               tt_log_quote(err, msg, sizeof(msg)),
               "\"store a valid rule set: tracktik-worker contracts load "
               "FILE\"");
        goto failed;
    }

    tt_log(TT_LOG_INFO, "event=connected rule_sets=%zu rule_set_version=%d",
           w->rules.nsets, w->rules.max_version);

    return tt_run_housekeeping(w, cfg, 1);

failed:

    if (w->conn != NULL) {
        PQfinish(w->conn);
        w->conn = NULL;
    }

    return -1;
}


static int
tt_run_housekeeping(tt_worker_t *w, const tt_config_t *cfg, int force)
{
    int        n, version;
    char       err[1024], msg[1200];
    double     now;
    PGresult  *res;
    long long  pruned, sessions, failures;

    now = tt_now();

    if (force || now - w->rescued_at >= cfg->lease_seconds / 2.0) {
        n = tt_jobs_rescue(w->conn, cfg, err, sizeof(err));
        if (n < 0) {
            goto failed;
        }
        w->rescued_at = now;
    }

    if (force || now - w->pruned_at >= TT_PRUNE_EVERY) {
        pruned = tt_deliveries_prune(w->conn, cfg, err, sizeof(err));
        if (pruned < 0) {
            goto failed;
        }
        if (pruned > 0) {
            tt_log(TT_LOG_INFO, "event=deliveries_pruned rows=%lld "
                   "older_than_days=%d", pruned, cfg->retention_days);
        }

        if (tt_users_prune(w->conn, &sessions, &failures, err, sizeof(err))
            != 0)
        {
            goto failed;
        }
        if (sessions + failures > 0) {
            tt_log(TT_LOG_INFO, "event=portal_pruned sessions=%lld "
                   "login_attempts=%lld", sessions, failures);
        }

        w->pruned_at = now;
    }

    if (tt_run_archives(cfg) && cfg->archive_keep_days > 0
        && (force || now - w->archives_pruned_at >= TT_ARCHIVE_PRUNE_EVERY))
    {
        /* the archives' retention; a failure there keeps no job waiting */
        if (tt_archive_prune_all(w->conn, cfg->attachment_dir,
                                 cfg->archive_keep_days, &tt_run_stop, err,
                                 sizeof(err)) != 0)
        {
            tt_log(TT_LOG_ERROR, "event=archive_prune_failed error=%s",
                   tt_log_quote(err, msg, sizeof(msg)));
        }
        w->archives_pruned_at = now;
    }

    if (now - w->rules_checked_at >= TT_RULES_EVERY) {
        res = PQexecPrepared(w->conn, "tt_rules_version", 0, NULL, NULL,
                             NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            tt_db_error(w->conn, res, "checking rule sets", err,
                        sizeof(err));
            PQclear(res);
            goto failed;
        }
        version = atoi(PQgetvalue(res, 0, 0));
        PQclear(res);

        if (version != w->rules.max_version) {
            if (tt_rulebook_load(w->conn, &w->rules, err, sizeof(err)) != 0)
            {
                goto failed;
            }
            tt_log(TT_LOG_INFO, "event=rules_loaded rule_sets=%zu "
                   "rule_set_version=%d", w->rules.nsets,
                   w->rules.max_version);
        }
        w->rules_checked_at = now;
    }

    return 0;

failed:

    tt_log(TT_LOG_ERROR, "event=housekeeping_failed error=%s",
           tt_log_quote(err, msg, sizeof(msg)));
    if (PQstatus(w->conn) == CONNECTION_OK) {
        sleep(1);
    }
    return -1;
}


/*
 * builds the oldest queued archive request, if this worker builds them:
 * 1 when it took one (ready or failed, as archive build records it), 0
 * when none was queued or the database failed (logged)
 */
static int
tt_run_archive(tt_worker_t *w, const tt_config_t *cfg)
{
    int   rc;
    char  err[1024], msg[1200];

    if (!tt_run_archives(cfg)) {
        return 0;
    }

    rc = tt_archive_build_next(w->conn, cfg->attachment_dir, err,
                               sizeof(err));
    if (rc < 0) {
        tt_log(TT_LOG_ERROR, "event=archive_build_failed error=%s",
               tt_log_quote(err, msg, sizeof(msg)));
        return 0;
    }

    return rc;
}


/*
 * sleeps until a NOTIFY, a signal or the timeout.  The stop flag is
 * checked with SIGTERM/SIGINT blocked and ppoll() unblocks them
 * atomically, so a signal that arrives just before the sleep still ends
 * it at once.
 */
static int
tt_run_wait(tt_worker_t *w, int timeout_ms)
{
    int              woke, n;
    sigset_t         block, old;
    PGnotify        *note;
    struct pollfd    pfd;
    struct timespec  ts;

    woke = 0;

    /* a notification may already be buffered */
    PQconsumeInput(w->conn);
    while ((note = PQnotifies(w->conn)) != NULL) {
        PQfreemem(note);
        woke = 1;
    }
    if (woke) {
        return 1;
    }

    pfd.fd = PQsocket(w->conn);
    pfd.events = POLLIN;
    pfd.revents = 0;

    if (pfd.fd < 0) {
        return 0;
    }

    ts.tv_sec = timeout_ms / 1000;
    ts.tv_nsec = (long) (timeout_ms % 1000) * 1000000;

    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &old);

    n = tt_run_stop ? 0 : ppoll(&pfd, 1, &ts, &old);

    sigprocmask(SIG_SETMASK, &old, NULL);

    if (n > 0) {
        PQconsumeInput(w->conn);
        while ((note = PQnotifies(w->conn)) != NULL) {
            PQfreemem(note);
            woke = 1;
        }
    }

    return woke;
}


static void
tt_run_signal(int signo)
{
    (void) signo;
    tt_run_stop = 1;
}


static void
tt_run_signals(void)
{
    struct sigaction  sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = tt_run_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;                    /* no SA_RESTART: wake poll() */

    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
}
