/*
 * cmd_notify: `notify rules load FILE`, `notify rules check FILE` (no
 * database), `notify run [--drain]`, `notify log [--limit N]`,
 * `notify replay ID` and `notify resume ADDRESS`.
 */

#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "contracts.h"
#include "notify.h"
#include "notify_run.h"


#define TT_NOTIFY_OPT(name, arg, field, min, max, def, help)                \
    { name, arg, TT_OPT_INT, TT_IN_COMMAND,                                 \
      offsetof(tt_notify_run_opts_t, field), min, max, NULL, NULL, def,     \
      help }


static int tt_cmd_notify_check_now(const char *value, char *err,
    size_t errlen);
static void tt_cmd_notify_stop(int signo);
static void tt_cmd_notify_print(long long id, const char *channel,
    const char *address, const tt_notify_outcome_t *out);
static int tt_cmd_notify_yes(tt_cmd_args_t *args, const char *sql,
    const char *yes, const char *no);
static PGresult *tt_cmd_notify_exec(PGconn *conn, const char *sql,
    const char *arg, char *err, size_t errlen);


static volatile sig_atomic_t  tt_cmd_notify_stopping;


const tt_option_t  tt_cmd_notify_run_options[] = {
    { "drain", NULL, TT_OPT_FLAG, TT_IN_COMMAND,
      offsetof(tt_notify_run_opts_t, drain), 0, 0, NULL, NULL, NULL,
      "exit 0 once nothing is due" },
    { "smtp-url", "URL", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_notify_run_opts_t, smtp_url), 0, 0,
      tt_cmd_check_smtp_url, "TRACKTIK_SMTP_URL", NULL,
      "the relay, smtp://HOST:PORT (STARTTLS unless on loopback) or "
      "smtps://HOST:PORT" },
    { "smtp-from", "ADDRESS", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_notify_run_opts_t, smtp_from), 0, 0,
      tt_cmd_check_address, "TRACKTIK_SMTP_FROM", NULL,
      "the sender address" },
    { "smtp-auth-file", "FILE", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_notify_run_opts_t, smtp_auth_file), 0, 0, NULL, NULL,
      NULL, "AUTH with the one line USER:PASSWORD of FILE" },
    { "portal-url", "URL", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_notify_run_opts_t, portal_url), 0, 0, NULL,
      "TRACKTIK_PORTAL_URL", "http://localhost/portal/",
      "the portal's address, for the links in mails" },
    TT_NOTIFY_OPT("batch", "N", batch, 1, 1000, "20",
                  "notifications claimed at a time"),
    TT_NOTIFY_OPT("lease-seconds", "N", lease_s, 5, 86400, "300",
                  "a claim lasts this long (a dead sender's comes back)"),
    TT_NOTIFY_OPT("max-attempts", "N", max_attempts, 1, 100, "8",
                  "attempts before a notification is dead"),
    TT_NOTIFY_OPT("backoff-base-s", "N", backoff_base_s, 0, 86400, "30",
                  "first retry delay (doubling, with jitter)"),
    TT_NOTIFY_OPT("backoff-cap-s", "N", backoff_cap_s, 0, 604800, "3600",
                  "longest retry delay"),
    TT_NOTIFY_OPT("pause-after", "N", pause_after, 1, 100000, "20",
                  "pause a recipient after N failed attempts in a row"),
    TT_NOTIFY_OPT("timeout-s", "N", timeout_s, 1, 600, "30",
                  "one SMTP or webhook delivery at most"),
    TT_NOTIFY_OPT("poll-interval-ms", "N", poll_ms, 10, 600000, "500",
                  "idle poll period"),
    { "now", "TIME", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_notify_run_opts_t, now), 0, 0, tt_cmd_notify_check_now,
      NULL, NULL, "the clock that decides which digests are due, an ISO "
      "8601 date-time (tests)" },
    TT_NOTIFY_OPT("record-delay-ms", "N", record_delay_ms, 0, 600000, NULL,
                  "wait between a delivery and its record (fault-injection "
                  "tests only)"),
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};


const tt_option_t  tt_cmd_notify_log_options[] = {
    { "limit", "N", TT_OPT_INT, TT_IN_COMMAND,
      offsetof(tt_notify_log_opts_t, limit), 1, 1000000, NULL, NULL, "50",
      "the newest N attempts" },
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};


int
tt_cmd_notify_rules_check(tt_cmd_args_t *args)
{
    int                rc;
    char              *text, err[1024];
    tt_notify_rules_t  nr;

    text = NULL;
    rc = tt_notify_rules_read(args->argv[0], &text, &nr, err, sizeof(err));

    if (rc != 0) {
        tt_cmd_error("%s", err);
    } else {
        printf("%s: %zu rules, %zu recipients, valid\n", args->argv[0],
               nr.nrules, nr.nrecipients);
    }

    tt_notify_rules_free(&nr);
    free(text);

    return rc == 0 ? 0 : 1;
}


int
tt_cmd_notify_rules_load(tt_cmd_args_t *args)
{
    int                rc, version;
    char              *text, err[1024];
    PGconn            *conn;
    tt_notify_rules_t  nr;

    text = NULL;
    conn = NULL;
    rc = 1;

    if (tt_notify_rules_read(args->argv[0], &text, &nr, err, sizeof(err))
        != 0)
    {
        tt_cmd_error("%s", err);
        goto done;
    }

    conn = tt_cmd_connect(&args->cfg);
    if (conn == NULL) {
        goto done;
    }

    if (tt_notify_rules_store(conn, args->argv[0], text, &nr, &version, err,
                              sizeof(err)) != 0)
    {
        tt_cmd_error("%s", err);
        goto done;
    }

    printf("loaded %s as notification rule set version %d: %zu rules, %zu "
           "recipients\n", args->argv[0], version, nr.nrules,
           nr.nrecipients);
    rc = 0;

done:

    if (conn != NULL) {
        PQfinish(conn);
    }
    tt_notify_rules_free(&nr);
    free(text);

    return rc;
}


int
tt_cmd_notify_run(tt_cmd_args_t *args)
{
    int                    n, sent, failed, rc;
    char                   err[1024], *auth, *nl, portal[1024];
    PGconn                *conn;
    tt_notify_cfg_t        cfg;
    struct timespec        nap;
    tt_notify_run_opts_t  *o;

    o = args->opts;
    auth = NULL;
    memset(&cfg, 0, sizeof(cfg));

    if (o->smtp_auth_file != NULL) {
        auth = tt_cmd_read_file_line(o->smtp_auth_file, "SMTP AUTH");
        if (auth == NULL) {
            return 1;
        }
        nl = strchr(auth, ':');
        if (nl == NULL) {
            tt_cmd_error("%s: expected one line USER:PASSWORD",
                         o->smtp_auth_file);
            tt_cmd_wipe_free(auth);
            return 1;
        }
        *nl = '\0';
        cfg.channel.smtp_user = auth;
        cfg.channel.smtp_password = nl + 1;
    }

    snprintf(portal, sizeof(portal), "%s%s", o->portal_url,
             o->portal_url[0] && o->portal_url[strlen(o->portal_url) - 1]
             == '/' ? "" : "/");

    cfg.channel.smtp_url = o->smtp_url;
    cfg.channel.smtp_from = o->smtp_from;
    cfg.channel.timeout_s = o->timeout_s;
    cfg.portal_url = portal;
    cfg.batch = o->batch;
    cfg.lease_s = o->lease_s;
    cfg.max_attempts = o->max_attempts;
    cfg.backoff_base_s = o->backoff_base_s;
    cfg.backoff_cap_s = o->backoff_cap_s;
    cfg.pause_after = o->pause_after;
    cfg.record_delay_ms = o->record_delay_ms;
    cfg.now = o->now;
    cfg.log = tt_cmd_notify_print;

    conn = tt_cmd_connect(&args->cfg);
    if (conn == NULL) {
        tt_cmd_wipe_free(auth);
        return 1;
    }

    signal(SIGTERM, tt_cmd_notify_stop);
    signal(SIGINT, tt_cmd_notify_stop);
    /* nothing to reload: every pass reads the queue and the rules afresh
     * (systemd's ExecReload must not kill the sender) */
    signal(SIGHUP, SIG_IGN);

    sent = 0;
    failed = 0;
    rc = 0;

    while (!tt_cmd_notify_stopping) {
        n = tt_notify_pass(conn, &cfg, &sent, &failed, err, sizeof(err));

        if (n < 0) {
            tt_cmd_error("%s", err);
            rc = 1;
            break;
        }

        if (n > 0) {
            continue;
        }

        if (o->drain) {
            break;
        }

        nap.tv_sec = o->poll_ms / 1000;
        nap.tv_nsec = (long) (o->poll_ms % 1000) * 1000000;
        nanosleep(&nap, NULL);
    }

    printf("notify: %d sent, %d failed attempts\n", sent, failed);

    tt_notify_channel_close(&cfg.channel);
    PQfinish(conn);
    tt_cmd_wipe_free(auth);

    return rc;
}


int
tt_cmd_notify_log(tt_cmd_args_t *args)
{
    char                   err[1024], limit[16];
    PGconn                *conn;
    tt_notify_log_opts_t  *o;

    o = args->opts;
    snprintf(limit, sizeof(limit), "%d", o->limit);

    conn = tt_cmd_connect(&args->cfg);
    if (conn == NULL) {
        return 1;
    }

    return tt_cmd_listing(conn, tt_cmd_notify_exec(conn,
        "SELECT a.at, n.id, a.channel, r.address, n.report_id, n.announce, "
        "CASE WHEN a.ok THEN 'ok' ELSE 'failed' END, a.status, a.detail, "
        "n.state || CASE WHEN r.paused_at IS NOT NULL "
        "THEN ' (recipient paused: ' || r.paused_reason || ')' ELSE '' END "
        "FROM notify_attempts a JOIN notifications n "
        "ON n.id = a.notification_id JOIN notify_recipients r "
        "ON r.id = n.recipient_id ORDER BY a.id DESC LIMIT $1::integer",
        limit, err, sizeof(err)),
        "at\tnotification\tchannel\trecipient\treport\tannounce\tresult\t"
        "status\tdetail\tstate", err);
}


int
tt_cmd_notify_replay(tt_cmd_args_t *args)
{
    if (strspn(args->argv[0], "0123456789") != strlen(args->argv[0])
        || strlen(args->argv[0]) > 18 || args->argv[0][0] == '\0')
    {
        tt_cmd_error("replay: \"%s\" is not a notification id",
                     args->argv[0]);
        return TT_EXIT_USAGE;
    }

    return tt_cmd_notify_yes(args, "SELECT notify_replay($1::bigint)",
                             "notification %s is due again\n",
                             "notification %s is not dead (nothing to "
                             "replay)");
}


int
tt_cmd_notify_resume(tt_cmd_args_t *args)
{
    return tt_cmd_notify_yes(args, "SELECT notify_resume($1)",
                             "recipient %s is sent to again\n",
                             "no recipient \"%s\"");
}


/* a function of the operand that answers true (printing yes) or false
 * (saying no); the exit status */
static int
tt_cmd_notify_yes(tt_cmd_args_t *args, const char *sql, const char *yes,
    const char *no)
{
    int        ok;
    char       err[1024];
    PGconn    *conn;
    PGresult  *res;

    conn = tt_cmd_connect(&args->cfg);
    if (conn == NULL) {
        return 1;
    }

    res = tt_cmd_notify_exec(conn, sql, args->argv[0], err, sizeof(err));
    ok = res != NULL && PQgetvalue(res, 0, 0)[0] == 't';

    if (res == NULL) {
        tt_cmd_error("%s", err);
    } else if (!ok) {
        tt_cmd_error(no, args->argv[0]);
    } else {
        printf(yes, args->argv[0]);
    }

    PQclear(res);
    PQfinish(conn);

    return ok ? 0 : 1;
}


int
tt_cmd_check_smtp_url(const char *value, char *err, size_t errlen)
{
    if (strncmp(value, "smtp://", 7) != 0
        && strncmp(value, "smtps://", 8) != 0)
    {
        snprintf(err, errlen, "expected smtp://HOST:PORT or "
                 "smtps://HOST:PORT");
        return -1;
    }

    return 0;
}


int
tt_cmd_check_address(const char *value, char *err, size_t errlen)
{
    if (!tt_notify_email_valid(value)) {
        snprintf(err, errlen, "\"%s\" is not a mail address", value);
        return -1;
    }

    return 0;
}


static int
tt_cmd_notify_check_now(const char *value, char *err, size_t errlen)
{
    long long  t;

    if (strchr(value, 'T') == NULL || tt_contracts_date(value, &t) != 0) {
        snprintf(err, errlen, "\"%s\" is not an ISO 8601 date-time", value);
        return -1;
    }

    return 0;
}


static void
tt_cmd_notify_stop(int signo)
{
    (void) signo;
    tt_cmd_notify_stopping = 1;
}


static void
tt_cmd_notify_print(long long id, const char *channel, const char *address,
    const tt_notify_outcome_t *out)
{
    printf("notification %lld %s %s: %s %s\n", id, channel, address,
           out->ok ? "ok" : "failed", out->status);
    fflush(stdout);
}


/* one statement with one parameter; NULL with err */
static PGresult *
tt_cmd_notify_exec(PGconn *conn, const char *sql, const char *arg,
    char *err, size_t errlen)
{
    PGresult  *res;

    res = PQexecParams(conn, sql, 1, NULL, &arg, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s",
                 PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
        PQclear(res);
        return NULL;
    }

    return res;
}
