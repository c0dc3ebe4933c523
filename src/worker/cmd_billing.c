/*
 * cmd_billing: `billing sync [--once]`: pending billing lines posted to
 * TrackTik, once or as a daemon.  SIGTERM/SIGINT end it after the line
 * in hand; SIGHUP is ignored (nothing to reload: every pass reads the
 * session and the lines afresh).
 *
 * `billing list [filters] [--format table|csv]` and `billing retry ID |
 * --failed`: the billing staff's view (billing_view.h).
 */

#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "billing_sync.h"
#include "billing_view.h"
#include "cmd.h"
#include "db.h"
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


static int tt_cmd_check_billing_state(const char *value, char *err,
    size_t errlen);
static int tt_cmd_check_billing_format(const char *value, char *err,
    size_t errlen);


const tt_option_t  tt_cmd_billing_list_options[] = {
    { "from", "DATE", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_billing_list_opts_t, from), 0, 0, tt_cmd_check_day,
      NULL, NULL, "lines whose service date is DATE or later" },
    { "to", "DATE", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_billing_list_opts_t, to), 0, 0, tt_cmd_check_day,
      NULL, NULL, "lines whose service date is DATE or earlier" },
    { "client", "ID", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_billing_list_opts_t, client), 0, 0, tt_cmd_check_id,
      NULL, NULL, "one client's lines" },
    { "site", "ID", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_billing_list_opts_t, site), 0, 0, tt_cmd_check_id,
      NULL, NULL, "one site's lines" },
    { "code", "CODE", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_billing_list_opts_t, code), 0, 0, NULL, NULL, NULL,
      "one bill code's lines" },
    { "state", "STATE", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_billing_list_opts_t, state), 0, 0,
      tt_cmd_check_billing_state, NULL, NULL,
      "pending, posted, failed or in_doubt (posted once without an "
      "answer: the next sync looks it up in TrackTik first)" },
    { "format", "FORMAT", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_billing_list_opts_t, format), 0, 0,
      tt_cmd_check_billing_format, NULL, "table",
      "table (aligned, the totals after the lines) or csv (the lines, "
      "then the totals, each with its header row)" },
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};


const tt_option_t  tt_cmd_billing_retry_options[] = {
    { "failed", NULL, TT_OPT_FLAG, TT_IN_COMMAND,
      offsetof(tt_billing_retry_opts_t, failed), 0, 0, NULL, NULL, NULL,
      "every failed line instead of one ID" },
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


int
tt_cmd_billing_list(tt_cmd_args_t *args)
{
    int                      csv;
    char                     err[1024];
    PGconn                  *conn;
    PGresult                *lines, *totals;
    tt_billing_filter_t      f;
    tt_billing_list_opts_t  *o;

    o = args->opts;
    csv = strcmp(o->format, "csv") == 0;

    f.from = o->from;
    f.to = o->to;
    f.client = o->client;
    f.site = o->site;
    f.code = o->code;
    f.state = o->state;

    conn = tt_cmd_connect(&args->cfg);
    if (conn == NULL) {
        return 1;
    }

    /* one snapshot for both, so the totals add up to the lines */
    lines = NULL;
    totals = NULL;
    if (tt_db_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                   PGRES_COMMAND_OK, err, sizeof(err)) == 0)
    {
        lines = tt_billing_view_lines(conn, &f, err, sizeof(err));
        if (lines != NULL) {
            totals = tt_billing_view_totals(conn, &f, err, sizeof(err));
        }
    }

    if (totals == NULL) {
        tt_cmd_error("%s", err);
        PQclear(lines);
        PQfinish(conn);
        return 1;
    }

    tt_cmd_table(stdout, lines, csv);
    fputs(csv ? "\r\n" : "\ntotals (per client and bill code, per "
          "client, overall; amount leaves out unpriced lines):\n", stdout);
    tt_cmd_table(stdout, totals, csv);

    PQclear(lines);
    PQclear(totals);
    PQfinish(conn);

    return 0;
}


int
tt_cmd_billing_retry(tt_cmd_args_t *args)
{
    int                       n, rc;
    char                      err[1024];
    PGconn                   *conn;
    const char               *id;
    tt_billing_retry_opts_t  *o;

    o = args->opts;
    id = args->argc == 1 ? args->argv[0] : NULL;

    if ((id == NULL) == (o->failed == 0)) {
        tt_cmd_error("usage: tracktik-worker billing retry ID | --failed");
        return TT_EXIT_USAGE;
    }

    if (id != NULL && tt_cmd_check_id(id, err, sizeof(err)) != 0) {
        tt_cmd_error("billing retry: %s", err);
        return TT_EXIT_USAGE;
    }

    conn = tt_cmd_connect(&args->cfg);
    if (conn == NULL) {
        return 1;
    }

    rc = tt_billing_view_retry(conn, id, &n, err, sizeof(err));

    if (rc != 0) {
        tt_cmd_error("%s", err);
    } else if (id == NULL) {
        printf("requeued %d failed billing lines for billing sync\n", n);
    } else {
        printf("requeued billing line %s for billing sync\n", id);
    }

    PQfinish(conn);

    return rc == 0 ? 0 : 1;
}


static int
tt_cmd_check_billing_state(const char *value, char *err, size_t errlen)
{
    if (!tt_billing_view_state_valid(value)) {
        snprintf(err, errlen, "\"%s\" is not a billing line state "
                 "(pending, posted, failed, in_doubt)", value);
        return -1;
    }

    return 0;
}


static int
tt_cmd_check_billing_format(const char *value, char *err, size_t errlen)
{
    if (strcmp(value, "table") != 0 && strcmp(value, "csv") != 0) {
        snprintf(err, errlen, "\"%s\" is not a format (table, csv)",
                 value);
        return -1;
    }

    return 0;
}
