/*
 * cmd_billing: `billing sync [--once]`: pending billing lines posted to
 * TrackTik, once or as a daemon.  SIGTERM/SIGINT end it after the line
 * in hand; SIGHUP is ignored (nothing to reload: every pass reads the
 * session and the lines afresh).
 */

#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "billing_sync.h"
#include "cmd.h"
#include "log.h"


const tt_option_t  tt_cmd_billing_sync_options[] = {
    { "once", NULL, TT_OPT_FLAG, TT_IN_COMMAND,
      offsetof(tt_billing_sync_opts_t, once), 0, 0, NULL, NULL, NULL,
      "one pass, then exit: 0 when every line was settled, 3 when some "
      "are still pending" },
    { "poll-interval", "MS", TT_OPT_INT, TT_IN_CONFIG,
      offsetof(tt_config_t, poll_interval_ms), 10, 600000, NULL, NULL,
      "1000", "pause between passes" },
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};


static volatile sig_atomic_t  tt_billing_stop;


static void tt_cmd_billing_signal(int signo);


int
tt_cmd_billing_sync(tt_cmd_args_t *args)
{
    int                      rc, stopped, poll_ms;
    char                     err[1024], q[1100];
    struct sigaction         sa;
    tt_billing_sync_t       *s;
    tt_billing_counts_t      c;
    tt_billing_sync_opts_t  *o;

    o = args->opts;
    poll_ms = args->cfg.poll_interval_ms;

    rc = tt_cmd_check_schema(&args->cfg);
    if (rc != 0) {
        return rc;                      /* TT_EXIT_SCHEMA: migrate first */
    }

    s = tt_billing_sync_open(&args->cfg, &tt_billing_stop, err,
                             sizeof(err));
    if (s == NULL) {
        tt_cmd_error("%s", err);
        return 1;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = tt_cmd_billing_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGHUP, SIG_IGN);

    tt_log(TT_LOG_INFO, "event=billing_sync_start tenant=%s once=%d",
           tt_log_quote(tt_billing_sync_tenant(s), q, sizeof(q)), o->once);

    memset(&c, 0, sizeof(c));
    stopped = 0;

    do {
        stopped = tt_billing_sync_pass(s, &c, err, sizeof(err)) != 0;

        if (stopped) {
            tt_log(TT_LOG_ERROR, "event=billing_sync_stopped error=%s",
                   tt_log_quote(err, q, sizeof(q)));
            tt_cmd_error("billing sync stopped: %s", err);

            if (o->once) {
                break;
            }

            /* the daemon waits for the operator (auth login) or for the
             * database, without asking TrackTik anything meanwhile */
            tt_billing_sync_wait(s, poll_ms < 10000 ? 10 : poll_ms / 1000.0);
            stopped = 0;
            continue;
        }

        if (o->once || c.posted + c.failed + c.later > 0) {
            tt_log(TT_LOG_INFO, "event=billing_sync_pass posted=%d failed=%d "
                   "pending=%d busy=%d", c.posted, c.failed, c.later, c.busy);
        }

        if (!o->once) {
            tt_billing_sync_wait(s, poll_ms / 1000.0);
        }

    } while (!o->once && !tt_billing_stop);

    if (o->once && !stopped) {
        printf("billing sync: %d posted, %d failed, %d still pending, "
               "%d busy elsewhere\n", c.posted, c.failed, c.later, c.busy);
    }

    tt_billing_sync_close(s);

    if (stopped) {
        return 1;
    }

    return (o->once && (c.later > 0 || c.busy > 0)) ? 3 : 0;
}


static void
tt_cmd_billing_signal(int signo)
{
    (void) signo;
    tt_billing_stop = 1;
}
