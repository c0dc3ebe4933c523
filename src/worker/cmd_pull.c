/*
 * cmd_pull: `pull --from DATE --to DATE [--site ID] [--client ID]`: the
 * reports of a date range listed from TrackTik and queued as jobs, then
 * processed like webhook jobs (unless --no-process leaves them to the
 * `run` daemon); and `schedule`: the scheduled pull of the recent window,
 * one schedule across every process and host (pull.c).
 *
 * A pull stopped (SIGTERM, kill -9, an outage) continues where it
 * stopped when the same command runs again.
 */

#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "cmd.h"
#include "log.h"
#include "pull.h"
#include "run.h"


const tt_option_t  tt_cmd_pull_options[] = {
    { "from", "DATE", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_pull_opts_t, from), 0, 0, NULL, NULL, NULL,
      "first day (YYYY-MM-DD, UTC) or date-time of reportDateTime" },
    { "to", "DATE", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_pull_opts_t, to), 0, 0, NULL, NULL, NULL,
      "last day (inclusive) or date-time" },
    { "site", "ID", TT_OPT_INT, TT_IN_COMMAND,
      offsetof(tt_pull_opts_t, site), 1, 2147483647, NULL, NULL, NULL,
      "only this site's reports" },
    { "client", "ID", TT_OPT_INT, TT_IN_COMMAND,
      offsetof(tt_pull_opts_t, client), 1, 2147483647, NULL, NULL, NULL,
      "only the reports of this client's sites" },
    { "include", "LIST", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_pull_opts_t, include), 0, 0, NULL, NULL, TT_PULL_INCLUDE,
      "the relations asked for: the webhook subscription's include, so a "
      "pulled report equals its delivery" },
    { "page-size", "N", TT_OPT_INT, TT_IN_COMMAND,
      offsetof(tt_pull_opts_t, page_size), 2, 1000, NULL, NULL, "1000",
      "reports a request (TrackTik's maximum is 1000; fewer when pages "
      "meet the 30 s gateway timeout; at least 2: a page after a full "
      "one repeats its last report)" },
    { "no-process", NULL, TT_OPT_FLAG, TT_IN_COMMAND,
      offsetof(tt_pull_opts_t, no_process), 0, 0, NULL, NULL, NULL,
      "queue the jobs only; the run daemon processes them" },
    { "default-time-zone", "ZONE", TT_OPT_TEXT, TT_IN_CONFIG,
      offsetof(tt_config_t, default_time_zone), 0, 0, tt_cmd_check_zone,
      NULL, "UTC", "as for run" },
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};


const tt_option_t  tt_cmd_schedule_options[] = {
    { "pull-interval", "SECONDS", TT_OPT_INT, TT_IN_COMMAND,
      offsetof(tt_schedule_opts_t, interval), 1, 86400, NULL, NULL, "900",
      "between scheduled pulls (all processes together)" },
    { "pull-margin", "SECONDS", TT_OPT_INT, TT_IN_COMMAND,
      offsetof(tt_schedule_opts_t, margin), 0, 86400, NULL, NULL, "300",
      "reports updated this long before the last pull are pulled again" },
    { "pull-lookback", "DAYS", TT_OPT_INT, TT_IN_COMMAND,
      offsetof(tt_schedule_opts_t, lookback), 1, 366, NULL, NULL, "31",
      "reportDateTime window a scheduled pull looks at" },
    { "pull-lease", "SECONDS", TT_OPT_INT, TT_IN_COMMAND,
      offsetof(tt_schedule_opts_t, lease), 1, 86400, NULL, NULL, NULL,
      "how long the schedule's lease outlives a holder that stopped "
      "renewing it (default: 60 s beyond three looks)" },
    { "no-audit", NULL, TT_OPT_FLAG, TT_IN_COMMAND,
      offsetof(tt_schedule_opts_t, no_audit), 0, 0, NULL, NULL, NULL,
      "do not audit each pull (the audit compares the pages the pull "
      "listed with the ledger, asking TrackTik nothing more; "
      "doc/audit.md)" },
    { "once", NULL, TT_OPT_FLAG, TT_IN_COMMAND,
      offsetof(tt_schedule_opts_t, once), 0, 0, NULL, NULL, NULL,
      "one step: pull if this process holds the lease and a pull is due" },
    { "worker-id", "NAME", TT_OPT_TEXT, TT_IN_CONFIG,
      offsetof(tt_config_t, worker_id), 0, 0, NULL, NULL, NULL,
      "lease holder name prefix (default: the host name)" },
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};


static volatile sig_atomic_t  tt_pull_stop;
/* the stop flag a scheduled pull gets: never set (see tt_cmd_schedule) */
static volatile sig_atomic_t  tt_schedule_never;


static void tt_cmd_pull_signals(void);
static void tt_cmd_pull_signal(int signo);
static void tt_cmd_pull_holder(const tt_config_t *cfg, char *buf,
    size_t size);
static void tt_cmd_schedule_audit(const tt_config_t *cfg,
    const tt_pull_result_t *r);


int
tt_cmd_pull(tt_cmd_args_t *args)
{
    char              err[1024], holder[160];
    tt_config_t       cfg;
    tt_pull_spec_t    spec;
    tt_pull_opts_t   *o;
    tt_pull_result_t  r;

    o = args->opts;

    if (o->from == NULL || o->to == NULL) {
        tt_cmd_error("pull needs --from DATE and --to DATE");
        return TT_EXIT_USAGE;
    }

    memset(&spec, 0, sizeof(spec));

    if (tt_pull_range(o->from, o->to, &spec.from, &spec.to, err,
                      sizeof(err)) != 0)
    {
        tt_cmd_error("%s", err);
        return TT_EXIT_USAGE;
    }

    if (o->site != 0 && o->client != 0) {
        tt_cmd_error("--site and --client exclude each other");
        return TT_EXIT_USAGE;
    }

    spec.site = o->site;
    spec.client = o->client;
    spec.include = o->include;
    spec.page_size = o->page_size;

    cfg = args->cfg;
    tt_cmd_pull_holder(&cfg, holder, sizeof(holder));
    cfg.worker_id = holder;

    tt_cmd_pull_signals();

    if (tt_pull_run(&cfg, &spec, &tt_pull_stop, &r, err, sizeof(err)) != 0)
    {
        tt_cmd_error("pull failed: %s%s", err, r.pull_id == 0 ? ""
                     : " (run the same command again to continue)");
        return 1;
    }

    printf("pull %lld%s: %lld pages, %lld reports listed, %lld queued, "
           "%lld requests (%lld for reports, %lld for clients, sites and "
           "posts)\n", r.pull_id, r.resumed ? " (resumed)" : "", r.pages,
           r.reports, r.queued, r.requests, r.page_requests,
           r.reference_requests);
    fflush(stdout);

    if (o->no_process) {
        return 0;
    }

    /* the jobs (and any others queued) the way `run --drain` does */
    cfg.worker_id = args->cfg.worker_id;
    cfg.drain = 1;
    cfg.concurrency = 1;
    cfg.poll_interval_ms = 1000;
    cfg.batch_size = 500;
    cfg.lease_seconds = 60;
    cfg.max_attempts = 10;
    cfg.backoff_base_ms = 1000;
    cfg.backoff_cap_s = 3600;
    cfg.retention_days = 30;

    return tt_run(&cfg);
}


int
tt_cmd_schedule(tt_cmd_args_t *args)
{
    int                  rc, tick_ms;
    char                 err[1024], holder[160], q[1100];
    tt_audit_seen_t      seen;
    tt_pull_result_t     r;
    tt_schedule_spec_t   s;
    tt_schedule_opts_t  *o;

    o = args->opts;

    s.interval_s = o->interval;
    s.margin_s = o->margin;
    s.lookback_days = o->lookback;
    s.seen = NULL;
    s.seen_ctx = NULL;

    /* each pull keeps what it lists for its audit */
    if (!o->no_audit) {
        if (tt_audit_seen_open(&seen, &args->cfg) != 0) {
            tt_cmd_error("out of memory");
            return 1;
        }
        s.seen = tt_audit_seen_page;
        s.seen_ctx = &seen;
    }

    /* look often enough to keep the lease, never more than every 30 s */
    tick_ms = o->interval * 1000 / 4;
    tick_ms = tick_ms < 250 ? 250 : tick_ms > 30000 ? 30000 : tick_ms;
    s.lease_s = o->lease > 0 ? o->lease : 3 * tick_ms / 1000 + 60;

    /* a holder renews its lease every look: look more often than it
     * expires */
    if (tick_ms > s.lease_s * 1000 / 3) {
        tick_ms = s.lease_s * 1000 / 3;
    }

    tt_cmd_pull_holder(&args->cfg, holder, sizeof(holder));
    tt_cmd_pull_signals();

    tt_log(TT_LOG_INFO, "event=schedule_start holder=%s interval=%ds "
           "margin=%ds lookback=%dd", tt_log_quote(holder, q, sizeof(q)),
           s.interval_s, s.margin_s, s.lookback_days);

    rc = 0;

    while (!tt_pull_stop) {
        /*
         * SIGTERM is looked at between pulls: the scheduled pull in hand
         * (the little that changed since the last one) is finished and
         * recorded first, so a stop leaves no pull half done
         */
        rc = tt_schedule_tick(&args->cfg, &s, holder, &tt_schedule_never, &r,
                              err, sizeof(err));

        if (rc < 0) {
            tt_log(TT_LOG_ERROR, "event=schedule_failed error=%s",
                   tt_log_quote(err, q, sizeof(q)));
        }

        if (rc == 1 && !o->no_audit) {
            tt_cmd_schedule_audit(&args->cfg, &r);
        }

        if (o->once) {
            break;
        }

        usleep(tick_ms * 1000);
    }

    tt_schedule_release(&args->cfg, holder);

    if (!o->no_audit) {
        tt_audit_seen_close(&seen);
    }

    if (o->once && rc >= 0) {
        printf("schedule: %s\n", rc == 1 ? "pulled" : "nothing due");
    }

    return rc < 0 ? 1 : 0;
}


/*
 * After a scheduled pull: what it listed compared with the ledger (no
 * second listing), the result kept for the portal (the reports `run` has
 * not recorded yet are counted as pending, not as differences).  A
 * failed audit is logged; the schedule goes on.
 */
static void
tt_cmd_schedule_audit(const tt_config_t *cfg, const tt_pull_result_t *r)
{
    char               err[1024], q[1100];
    long long          id;
    tt_audit_result_t  a;

    id = tt_audit_scheduled(cfg, r->pull_id, r->from, r->to, &tt_pull_stop,
                            &a, err, sizeof(err));

    if (id < 0) {
        tt_log(TT_LOG_ERROR, "event=audit_failed pull=%lld error=%s",
               r->pull_id, tt_log_quote(err, q, sizeof(q)));
        return;
    }

    tt_log(a.differences ? TT_LOG_WARN : TT_LOG_INFO, "event=audit_done "
           "audit=%lld pull=%lld ledger=%lld source=%lld "
           "missing_from_ledger=%lld missing_from_source=%lld changed=%lld "
           "billing_without_report=%lld should_have_billed=%lld "
           "pending=%lld requests=%lld", id, r->pull_id, a.ledger_reports,
           a.source_reports, a.counts[0], a.counts[1], a.counts[2],
           a.counts[3], a.counts[4], a.pending, a.requests);
}


/* "<name>:<pid>", as run names its processes */
static void
tt_cmd_pull_holder(const tt_config_t *cfg, char *buf, size_t size)
{
    char  host[64];

    if (cfg->worker_id != NULL) {
        snprintf(buf, size, "%s:%d", cfg->worker_id, (int) getpid());
        return;
    }

    if (gethostname(host, sizeof(host)) != 0) {
        snprintf(host, sizeof(host), "worker");
    }
    host[sizeof(host) - 1] = '\0';
    snprintf(buf, size, "%s:%d", host, (int) getpid());
}


static void
tt_cmd_pull_signals(void)
{
    struct sigaction  sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = tt_cmd_pull_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
}


static void
tt_cmd_pull_signal(int signo)
{
    (void) signo;
    tt_pull_stop = 1;
}
