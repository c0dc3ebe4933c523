/*
 * tracktik-worker: turns queued TrackTik webhook jobs into an append-only
 * incident ledger and contract-priced billing lines.
 *
 * main.c only reads the command line and dispatches to the subcommand.
 */

#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "billing_sync.h"
#include "config.h"
#include "contracts.h"
#include "db.h"
#include "jobs.h"
#include "migrate.h"
#include "oauth.h"
#include "run.h"
#include "users.h"


static const char  *tt_usage =
"usage: tracktik-worker COMMAND [OPTIONS]\n"
"\n"
"commands:\n"
"  run [--drain] [--concurrency N] [--poll-only]   process jobs until\n"
"                        SIGTERM/SIGINT (or, with --drain, until the queue\n"
"                        is empty)\n"
"  contracts load FILE [--effective-from DATE] [--if-changed]\n"
"                        store FILE as a new contract rule set version\n"
"                        (--if-changed: not when it equals the newest)\n"
"  contracts check FILE  validate FILE without a database\n"
"  contracts list        list the stored rule set versions\n"
"  jobs list [--state queued|running|dead] [--limit N]\n"
"  jobs retry ID | --dead                          replay dead jobs\n"
"  migrate [--sql-dir DIR]                         apply sql/migrations/,\n"
"                        then sql/functions/ (see sql/README)\n"
"  migrate status [--sql-dir DIR]                  applied, pending and\n"
"                        modified migrations (exit 3 unless all applied)\n"
"  users add EMAIL (--client ID [--sites ID,...] | --operator)\n"
"                        a portal user; the password is read from stdin\n"
"  users passwd EMAIL    a new password from stdin; open sessions end\n"
"  users disable EMAIL   no more logins; open sessions end\n"
"  users list\n"
"  auth login --url BASE [--client-id ID --client-secret-file FILE]\n"
"             (--username USER --password-stdin | --refresh-token-stdin)\n"
"                        log in to a TrackTik tenant (OAuth2); the session\n"
"                        is stored in the database and kept alive\n"
"  auth status [--url BASE]                        the stored session\n"
"  auth check [--url BASE]                         one API call\n"
"  billing sync [--once] [--url BASE]              post pending billing\n"
"                        lines as TrackTik billing-adhoc-items\n"
"\n"
"options (every command):\n"
"  --dsn CONNINFO        libpq connection string (default: $TRACKTIK_DSN)\n"
"  --help                this text\n"
"\n"
"run options:\n"
"  --concurrency N       worker processes (default 1)\n"
"  --drain               exit 0 once no job is runnable or leased\n"
"  --poll-only           no LISTEN (for PgBouncer transaction pooling)\n"
"  --poll-interval MS    idle poll period (default 1000)\n"
"  --batch-size N        jobs claimed per transaction (default 500)\n"
"  --lease-seconds N     job lease, renewed while working (default 30)\n"
"  --max-attempts N      attempts before a job is dead (default 10)\n"
"  --backoff-base-ms N   first retry delay (default 1000)\n"
"  --backoff-cap-s N     longest retry delay (default 3600)\n"
"  --retention-days N    keep tracktik_deliveries this long (default 30)\n"
"  --default-time-zone Z site time zone when the report has none (UTC)\n"
"  --worker-id NAME      lease owner name prefix (default: host name)\n"
"  --job-delay-ms N      slow every job down (fault-injection tests only)\n"
"  --attachment-dir DIR  fetch report photos into DIR, for the portal\n"
"                        (default: $TRACKTIK_ATTACHMENT_DIR; unset: off)\n"
"\n"
"TrackTik API options (auth, billing):\n"
"  --api-rate N          requests a minute, shared by all workers (600)\n"
"  --api-timeout-ms N    per request, below the 30 s gateway (20000)\n"
"  --api-backoff-cap-ms N  longest retry delay (30000)\n"
"  --api-refresh-hold-ms N pause between receiving a refreshed token pair\n"
"                        and storing it (fault-injection tests only)\n";


enum {
    TT_OPT_DSN = 256,
    TT_OPT_HELP,
    TT_OPT_DRAIN,
    TT_OPT_CONCURRENCY,
    TT_OPT_POLL_ONLY,
    TT_OPT_POLL_INTERVAL,
    TT_OPT_BATCH_SIZE,
    TT_OPT_LEASE,
    TT_OPT_MAX_ATTEMPTS,
    TT_OPT_BACKOFF_BASE,
    TT_OPT_BACKOFF_CAP,
    TT_OPT_RETENTION,
    TT_OPT_TIME_ZONE,
    TT_OPT_WORKER_ID,
    TT_OPT_JOB_DELAY,
    TT_OPT_STATE,
    TT_OPT_LIMIT,
    TT_OPT_DEAD,
    TT_OPT_EFFECTIVE_FROM,
    TT_OPT_SQL_DIR,
    TT_OPT_IF_CHANGED,
    TT_OPT_CLIENT,
    TT_OPT_OPERATOR,
    TT_OPT_SITES,
    TT_OPT_URL,
    TT_OPT_CLIENT_ID,
    TT_OPT_CLIENT_SECRET_FILE,
    TT_OPT_USERNAME,
    TT_OPT_PASSWORD_STDIN,
    TT_OPT_REFRESH_TOKEN_STDIN,
    TT_OPT_ONCE,
    TT_OPT_API_RATE,
    TT_OPT_API_TIMEOUT,
    TT_OPT_API_BACKOFF_CAP,
    TT_OPT_API_REFRESH_HOLD,
    TT_OPT_ATTACHMENT_DIR
};


static const struct option  tt_options[] = {
    { "dsn",               required_argument, NULL, TT_OPT_DSN },
    { "help",              no_argument,       NULL, TT_OPT_HELP },
    { "drain",             no_argument,       NULL, TT_OPT_DRAIN },
    { "concurrency",       required_argument, NULL, TT_OPT_CONCURRENCY },
    { "poll-only",         no_argument,       NULL, TT_OPT_POLL_ONLY },
    { "poll-interval",     required_argument, NULL, TT_OPT_POLL_INTERVAL },
    { "batch-size",        required_argument, NULL, TT_OPT_BATCH_SIZE },
    { "lease-seconds",     required_argument, NULL, TT_OPT_LEASE },
    { "max-attempts",      required_argument, NULL, TT_OPT_MAX_ATTEMPTS },
    { "backoff-base-ms",   required_argument, NULL, TT_OPT_BACKOFF_BASE },
    { "backoff-cap-s",     required_argument, NULL, TT_OPT_BACKOFF_CAP },
    { "retention-days",    required_argument, NULL, TT_OPT_RETENTION },
    { "default-time-zone", required_argument, NULL, TT_OPT_TIME_ZONE },
    { "worker-id",         required_argument, NULL, TT_OPT_WORKER_ID },
    { "job-delay-ms",      required_argument, NULL, TT_OPT_JOB_DELAY },
    { "state",             required_argument, NULL, TT_OPT_STATE },
    { "limit",             required_argument, NULL, TT_OPT_LIMIT },
    { "dead",              no_argument,       NULL, TT_OPT_DEAD },
    { "effective-from",    required_argument, NULL, TT_OPT_EFFECTIVE_FROM },
    { "sql-dir",           required_argument, NULL, TT_OPT_SQL_DIR },
    { "if-changed",        no_argument,       NULL, TT_OPT_IF_CHANGED },
    { "client",            required_argument, NULL, TT_OPT_CLIENT },
    { "operator",          no_argument,       NULL, TT_OPT_OPERATOR },
    { "sites",             required_argument, NULL, TT_OPT_SITES },
    { "url",               required_argument, NULL, TT_OPT_URL },
    { "client-id",         required_argument, NULL, TT_OPT_CLIENT_ID },
    { "client-secret-file", required_argument, NULL,
                                              TT_OPT_CLIENT_SECRET_FILE },
    { "username",          required_argument, NULL, TT_OPT_USERNAME },
    { "password-stdin",    no_argument,       NULL, TT_OPT_PASSWORD_STDIN },
    { "refresh-token-stdin", no_argument,     NULL,
                                              TT_OPT_REFRESH_TOKEN_STDIN },
    { "once",              no_argument,       NULL, TT_OPT_ONCE },
    { "api-rate",          required_argument, NULL, TT_OPT_API_RATE },
    { "api-timeout-ms",    required_argument, NULL, TT_OPT_API_TIMEOUT },
    { "api-backoff-cap-ms", required_argument, NULL,
                                              TT_OPT_API_BACKOFF_CAP },
    { "api-refresh-hold-ms", required_argument, NULL,
                                              TT_OPT_API_REFRESH_HOLD },
    { "attachment-dir",    required_argument, NULL,
                                              TT_OPT_ATTACHMENT_DIR },
    { NULL, 0, NULL, 0 }
};


static int tt_int_option(const char *name, const char *value, int min,
    int max, int *out);
static const char *tt_default_sql_dir(const char *argv0);
static int tt_migrate_command(const char *dsn, const char *sql_dir,
    int status);


int
main(int argc, char **argv)
{
    int           opt, dead, limit, bad, nargs, if_changed, operator;
    const char   *command, *sub, *state, *effective_from, *args[4];
    const char   *client, *sites;
    int           once;
    tt_config_t   cfg;
    tt_auth_login_t  login;

    memset(&cfg, 0, sizeof(cfg));
    memset(&login, 0, sizeof(login));
    once = 0;
    cfg.dsn = getenv("TRACKTIK_DSN");
    cfg.default_time_zone = "UTC";
    cfg.concurrency = 1;
    cfg.poll_interval_ms = 1000;
    cfg.batch_size = 500;
    cfg.lease_seconds = 30;
    cfg.max_attempts = 10;
    cfg.backoff_base_ms = 1000;
    cfg.backoff_cap_s = 3600;
    cfg.retention_days = 30;
    cfg.attachment_dir = getenv("TRACKTIK_ATTACHMENT_DIR");
    if (cfg.attachment_dir != NULL && cfg.attachment_dir[0] == '\0') {
        cfg.attachment_dir = NULL;
    }

    dead = 0;
    if_changed = 0;
    operator = 0;
    client = NULL;
    sites = NULL;
    limit = 100;
    bad = 0;
    state = NULL;
    effective_from = NULL;
    nargs = 0;

    if (argc < 2 || strcmp(argv[1], "--help") == 0
        || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "-h") == 0)
    {
        fputs(tt_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }

    command = argv[1];
    sub = NULL;

    optind = 2;

    if ((strcmp(command, "contracts") == 0 || strcmp(command, "jobs") == 0
         || strcmp(command, "users") == 0 || strcmp(command, "auth") == 0
         || strcmp(command, "billing") == 0
         || strcmp(command, "migrate") == 0)
        && argc > 2 && argv[2][0] != '-')
    {
        sub = argv[2];
        optind = 3;
    }

    /* getopt_long permutes: options and operands in any order */
    while ((opt = getopt_long(argc, argv, "h", tt_options, NULL)) != -1) {
        switch (opt) {
        case TT_OPT_DSN:
            cfg.dsn = optarg;
            break;
        case 'h':
        case TT_OPT_HELP:
            fputs(tt_usage, stdout);
            return 0;
        case TT_OPT_DRAIN:
            cfg.drain = 1;
            break;
        case TT_OPT_POLL_ONLY:
            cfg.poll_only = 1;
            break;
        case TT_OPT_CONCURRENCY:
            bad |= tt_int_option("--concurrency", optarg, 1, 64,
                                 &cfg.concurrency);
            break;
        case TT_OPT_POLL_INTERVAL:
            bad |= tt_int_option("--poll-interval", optarg, 10, 600000,
                                 &cfg.poll_interval_ms);
            break;
        case TT_OPT_BATCH_SIZE:
            bad |= tt_int_option("--batch-size", optarg, 1, 1000,
                                 &cfg.batch_size);
            break;
        case TT_OPT_LEASE:
            bad |= tt_int_option("--lease-seconds", optarg, 1, 86400,
                                 &cfg.lease_seconds);
            break;
        case TT_OPT_MAX_ATTEMPTS:
            bad |= tt_int_option("--max-attempts", optarg, 1, 1000,
                                 &cfg.max_attempts);
            break;
        case TT_OPT_BACKOFF_BASE:
            bad |= tt_int_option("--backoff-base-ms", optarg, 1, 3600000,
                                 &cfg.backoff_base_ms);
            break;
        case TT_OPT_BACKOFF_CAP:
            bad |= tt_int_option("--backoff-cap-s", optarg, 1, 604800,
                                 &cfg.backoff_cap_s);
            break;
        case TT_OPT_RETENTION:
            bad |= tt_int_option("--retention-days", optarg, 1, 36500,
                                 &cfg.retention_days);
            break;
        case TT_OPT_TIME_ZONE:
            cfg.default_time_zone = optarg;
            break;
        case TT_OPT_WORKER_ID:
            cfg.worker_id = optarg;
            break;
        case TT_OPT_JOB_DELAY:
            bad |= tt_int_option("--job-delay-ms", optarg, 0, 60000,
                                 &cfg.job_delay_ms);
            break;
        case TT_OPT_STATE:
            state = optarg;
            break;
        case TT_OPT_LIMIT:
            bad |= tt_int_option("--limit", optarg, 1, 1000000, &limit);
            break;
        case TT_OPT_DEAD:
            dead = 1;
            break;
        case TT_OPT_EFFECTIVE_FROM:
            effective_from = optarg;
            break;
        case TT_OPT_SQL_DIR:
            cfg.sql_dir = optarg;
            break;
        case TT_OPT_IF_CHANGED:
            if_changed = 1;
            break;
        case TT_OPT_CLIENT:
            client = optarg;
            break;
        case TT_OPT_OPERATOR:
            operator = 1;
            break;
        case TT_OPT_SITES:
            sites = optarg;
            break;
        case TT_OPT_URL:
            cfg.api_url = optarg;
            break;
        case TT_OPT_CLIENT_ID:
            login.client_id = optarg;
            break;
        case TT_OPT_CLIENT_SECRET_FILE:
            login.client_secret_file = optarg;
            break;
        case TT_OPT_USERNAME:
            login.username = optarg;
            break;
        case TT_OPT_PASSWORD_STDIN:
            login.password_stdin = 1;
            break;
        case TT_OPT_REFRESH_TOKEN_STDIN:
            login.refresh_token_stdin = 1;
            break;
        case TT_OPT_ONCE:
            once = 1;
            break;
        case TT_OPT_API_RATE:
            bad |= tt_int_option("--api-rate", optarg, 1, 100000,
                                 &cfg.api_per_minute);
            break;
        case TT_OPT_API_TIMEOUT:
            bad |= tt_int_option("--api-timeout-ms", optarg, 100, 29000,
                                 &cfg.api_timeout_ms);
            break;
        case TT_OPT_API_BACKOFF_CAP:
            bad |= tt_int_option("--api-backoff-cap-ms", optarg, 1, 3600000,
                                 &cfg.api_backoff_cap_ms);
            break;
        case TT_OPT_API_REFRESH_HOLD:
            bad |= tt_int_option("--api-refresh-hold-ms", optarg, 0, 600000,
                                 &cfg.api_refresh_hold_ms);
            break;
        case TT_OPT_ATTACHMENT_DIR:
            cfg.attachment_dir = optarg[0] != '\0' ? optarg : NULL;
            break;
        default:
            bad = 1;
        }
    }

    if (bad) {
        fprintf(stderr, "tracktik-worker: see tracktik-worker --help\n");
        return 2;
    }

    while (optind < argc && nargs < 4) {
        args[nargs++] = argv[optind++];
    }

    if (optind < argc) {
        fprintf(stderr, "tracktik-worker: too many arguments\n");
        return 2;
    }

    if (strcmp(command, "contracts") == 0 && sub != NULL
        && strcmp(sub, "check") == 0)
    {
        if (nargs != 1) {
            fprintf(stderr, "tracktik-worker: usage: contracts check FILE\n");
            return 2;
        }
        return tt_contracts_check(args[0]);
    }

    if (cfg.dsn == NULL || cfg.dsn[0] == '\0') {
        fprintf(stderr, "tracktik-worker: no database: pass --dsn CONNINFO "
                "or set TRACKTIK_DSN\n");
        return 2;
    }

    if (strcmp(command, "run") == 0 && nargs == 0) {
        return tt_run(&cfg);
    }

    if (strcmp(command, "migrate") == 0 && nargs == 0
        && (sub == NULL || strcmp(sub, "status") == 0))
    {
        if (cfg.sql_dir == NULL) {
            cfg.sql_dir = getenv("TRACKTIK_SQL_DIR");
        }
        if (cfg.sql_dir == NULL) {
            cfg.sql_dir = tt_default_sql_dir(argv[0]);
        }
        return tt_migrate_command(cfg.dsn, cfg.sql_dir, sub != NULL);
    }

    if (strcmp(command, "contracts") == 0 && sub != NULL) {
        if (strcmp(sub, "load") == 0 && nargs == 1) {
            return tt_contracts_load(&cfg, args[0], effective_from,
                                     if_changed);
        }
        if (strcmp(sub, "list") == 0 && nargs == 0) {
            return tt_contracts_list(&cfg);
        }
    }

    if (strcmp(command, "users") == 0 && sub != NULL) {
        if (strcmp(sub, "add") == 0 && nargs == 1) {
            return tt_users_add(&cfg, args[0], client, operator, sites);
        }
        if (strcmp(sub, "passwd") == 0 && nargs == 1) {
            return tt_users_passwd(&cfg, args[0]);
        }
        if (strcmp(sub, "disable") == 0 && nargs == 1) {
            return tt_users_disable(&cfg, args[0]);
        }
        if (strcmp(sub, "list") == 0 && nargs == 0) {
            return tt_users_list(&cfg);
        }
    }

    if (strcmp(command, "auth") == 0 && sub != NULL && nargs == 0) {
        if (strcmp(sub, "login") == 0) {
            login.url = cfg.api_url;
            return tt_auth_login(&cfg, &login);
        }
        if (strcmp(sub, "status") == 0) {
            return tt_auth_status(&cfg, cfg.api_url);
        }
        if (strcmp(sub, "check") == 0) {
            return tt_auth_check(&cfg, cfg.api_url);
        }
    }

    if (strcmp(command, "billing") == 0 && sub != NULL && nargs == 0
        && strcmp(sub, "sync") == 0)
    {
        return tt_billing_sync(&cfg, once);
    }

    if (strcmp(command, "jobs") == 0 && sub != NULL) {
        if (strcmp(sub, "list") == 0 && nargs == 0) {
            return tt_jobs_list(&cfg, state, limit);
        }
        if (strcmp(sub, "retry") == 0 && nargs == 1 && !dead) {
            return tt_jobs_retry(&cfg, args[0]);
        }
        if (strcmp(sub, "retry") == 0 && nargs == 0 && dead) {
            return tt_jobs_retry(&cfg, NULL);
        }
    }

    fprintf(stderr, "tracktik-worker: unknown command or wrong arguments: "
            "%s%s%s\n%s", command, sub ? " " : "", sub ? sub : "", tt_usage);

    return 2;
}


static int
tt_int_option(const char *name, const char *value, int min, int max,
    int *out)
{
    char  *end;
    long   n;

    n = strtol(value, &end, 10);

    if (*value == '\0' || *end != '\0' || n < min || n > max) {
        fprintf(stderr, "tracktik-worker: %s: \"%s\" is not a number in "
                "%d..%d\n", name, value, min, max);
        return 1;
    }

    *out = (int) n;
    return 0;
}


/* <dir of the binary>/../sql when it exists (build/ in the repo), else
 * ./sql */
static const char *
tt_default_sql_dir(const char *argv0)
{
    char         exe[PATH_MAX], *dir;
    static char  path[PATH_MAX + 8];
    ssize_t      n;

    (void) argv0;

    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

    if (n > 0) {
        exe[n] = '\0';
        dir = dirname(exe);
        snprintf(path, sizeof(path), "%s/../sql", dir);

        if (access(path, R_OK) == 0) {
            return path;
        }
    }

    return "sql";
}


/* migrate: 0 done; status: 0 all applied, 3 something else; 1 errors */
static int
tt_migrate_command(const char *dsn, const char *sql_dir, int status)
{
    int                   rc;
    char                  err[2048];
    PGconn               *conn;
    tt_migrate_status_t   st;

    conn = tt_db_connect(dsn, err, sizeof(err));
    if (conn == NULL) {
        fprintf(stderr, "tracktik-worker: %s\n", err);
        return 1;
    }

    if (!status) {
        rc = tt_migrate_apply(conn, sql_dir, stdout, err, sizeof(err));

    } else {
        rc = tt_migrate_status(conn, sql_dir, stdout, &st, err, sizeof(err));
        if (rc == 0 && (st.pending || st.modified || st.unknown
                        || st.old_layout))
        {
            rc = 3;
        }
    }

    PQfinish(conn);

    if (rc == -1) {
        fprintf(stderr, "tracktik-worker: %s\n", err);
        return 1;
    }

    return rc;
}
