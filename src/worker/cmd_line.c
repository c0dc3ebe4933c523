/*
 * cmd_line: the command line against the command table: which command,
 * which of its options, every value checked (see cmd.h); the usage text
 * generated from the same tables is cmd_usage.c.
 *
 * Two passes: the first finds the command words (skipping options and
 * their values, so `--dsn X run` works), the second reads the options the
 * command accepts, in any order, and collects its operands.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tt_version.h"
#include "cmd.h"
#include "cmd_usage.h"
#include "log.h"
#include "tz.h"


#define TT_CMD_WORDS  3         /* "notify rules load" */


typedef struct {
    int          help;
    int          version;
    const char  *dsn_file;
    const char  *log_level;
} tt_cmd_global_t;


static int tt_cmd_check_level(const char *value, char *err, size_t errlen);

static const tt_option_t  tt_cmd_global_options[] = {
    { "dsn", "CONNINFO", TT_OPT_TEXT, TT_IN_CONFIG,
      offsetof(tt_config_t, dsn), 0, 0, NULL, "TRACKTIK_DSN", NULL,
      "libpq connection string" },
    { "dsn-file", "FILE", TT_OPT_TEXT, TT_IN_GLOBAL,
      offsetof(tt_cmd_global_t, dsn_file), 0, 0, NULL, NULL, NULL,
      "the connection string from the first line of FILE, so that no "
      "password shows in ps (or use a passfile, ~/.pgpass)" },
    { "log-level", "LEVEL", TT_OPT_TEXT, TT_IN_GLOBAL,
      offsetof(tt_cmd_global_t, log_level), 0, 0, tt_cmd_check_level,
      NULL, "info", "the least important log lines written: debug (a "
      "line per job), info (a line per batch), warn or error" },
    { "help", NULL, TT_OPT_FLAG, TT_IN_GLOBAL,
      offsetof(tt_cmd_global_t, help), 0, 0, NULL, NULL, NULL,
      "this text; after a command, that command's" },
    { "version", NULL, TT_OPT_FLAG, TT_IN_GLOBAL,
      offsetof(tt_cmd_global_t, version), 0, 0, NULL, NULL, NULL,
      "print \"tracktik-worker " TT_VERSION "\"" },
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};


/* TT_GROUP_API: the TrackTik client of run (enrichment, photos), auth
 * and billing sync */
static const tt_option_t  tt_cmd_api_options[] = {
    { "url", "BASE", TT_OPT_TEXT, TT_IN_CONFIG,
      offsetof(tt_config_t, api_url), 0, 0, NULL, NULL, NULL,
      "the tenant's base URL (default: the only tenant logged in)" },
    { "api-rate", "N", TT_OPT_INT, TT_IN_CONFIG,
      offsetof(tt_config_t, api_per_minute), 1, 100000, NULL, NULL, NULL,
      "requests a minute, shared by all workers (600)" },
    { "api-timeout-ms", "N", TT_OPT_INT, TT_IN_CONFIG,
      offsetof(tt_config_t, api_timeout_ms), 100, 29000, NULL, NULL, NULL,
      "per request, below the 30 s gateway (20000)" },
    { "api-backoff-cap-ms", "N", TT_OPT_INT, TT_IN_CONFIG,
      offsetof(tt_config_t, api_backoff_cap_ms), 1, 3600000, NULL, NULL,
      NULL, "longest retry delay (30000)" },
    { "api-refresh-hold-ms", "N", TT_OPT_INT, TT_IN_CONFIG,
      offsetof(tt_config_t, api_refresh_hold_ms), 0, 600000, NULL, NULL,
      NULL, "pause between receiving a refreshed token pair and storing "
      "it (fault-injection tests only)" },
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};


static int tt_cmd_words(const tt_command_t *table, int argc, char **argv,
    char **words, int *help, int *version);
static int tt_cmd_options(const tt_command_t *table,
    const tt_command_t *cmd, int nwords, int argc, char **argv,
    tt_cmd_args_t *args);
static int tt_cmd_kind(const char *a, int *dashdash);
static const tt_command_t *tt_cmd_find(const tt_command_t *table,
    char **words, int nwords, int *used);
static const tt_option_t *tt_cmd_option(const tt_command_t *cmd,
    const char *name, size_t len);
static const tt_option_t *tt_cmd_option_anywhere(const tt_command_t *table,
    const char *name, size_t len, const tt_command_t **owner);
static const tt_option_t *tt_cmd_option_in(const tt_option_t *opts,
    const char *name, size_t len);
static int tt_cmd_set(const tt_option_t *o, const char *value,
    const char *source, tt_cmd_args_t *args, tt_cmd_global_t *g);
static int tt_cmd_defaults(const tt_command_t *cmd, tt_cmd_args_t *args,
    tt_cmd_global_t *g);
static int tt_cmd_globals(const tt_command_t *cmd, tt_cmd_args_t *args,
    tt_cmd_global_t *g);


int
tt_cmd_parse(const tt_command_t *table, int argc, char **argv,
    const tt_command_t **cmdp, tt_cmd_args_t *args)
{
    int                  rc, nwords, used, help, version;
    char                *words[TT_CMD_WORDS];
    const tt_command_t  *cmd;

    /* pass 1: which command */
    nwords = tt_cmd_words(table, argc, argv, words, &help, &version);

    if (version) {
        printf("tracktik-worker %s\n", TT_VERSION);
        return 0;
    }

    if (nwords == 0 || strcmp(words[0], "help") == 0) {
        if (nwords == 0 && !help) {
            tt_cmd_usage(stderr, table, tt_cmd_global_options,
                         tt_cmd_api_options);
            return TT_EXIT_USAGE;
        }
        tt_cmd_usage(stdout, table, tt_cmd_global_options,
                     tt_cmd_api_options);
        return 0;
    }

    cmd = tt_cmd_find(table, words, nwords, &used);

    if (cmd == NULL) {
        tt_cmd_error("unknown command or wrong arguments: %s%s%s%s%s (see "
                     "tracktik-worker --help)", words[0],
                     used > 1 ? " " : "", used > 1 ? words[1] : "",
                     used > 2 ? " " : "", used > 2 ? words[2] : "");
        return TT_EXIT_USAGE;
    }

    if (help) {
        tt_cmd_usage_of(stdout, cmd, tt_cmd_global_options,
                        tt_cmd_api_options);
        return 0;
    }

    /* pass 2: its options and operands */
    rc = tt_cmd_options(table, cmd, used, argc, argv, args);
    if (rc >= 0) {
        free(args->opts);
        free(args->argv);
        tt_cmd_wipe_free(args->dsn_line);
        args->opts = NULL;
        args->argv = NULL;
        args->dsn_line = NULL;
        return rc;
    }

    *cmdp = cmd;
    return -1;
}


/*
 * The first TT_CMD_WORDS words that are neither options nor their values
 * (into words; how many); *help and *version: whether those were asked.
 */
static int
tt_cmd_words(const tt_command_t *table, int argc, char **argv, char **words,
    int *help, int *version)
{
    int                  i, n, dashdash, kind;
    char                *a;
    const tt_option_t   *o;
    const tt_command_t  *owner;

    n = 0;
    *help = 0;
    *version = 0;
    dashdash = 0;

    for (i = 1; i < argc; i++) {
        a = argv[i];
        kind = tt_cmd_kind(a, &dashdash);

        if (kind < 0) {
            continue;
        }

        if (kind > 0) {
            *help |= strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
            *version |= strcmp(a, "--version") == 0;

            if (a[1] == '-' && strchr(a, '=') == NULL) {
                o = tt_cmd_option_anywhere(table, a + 2, strlen(a + 2),
                                           &owner);
                if (o != NULL && o->arg != NULL) {
                    i++;
                }
            }
            continue;
        }

        if (n < TT_CMD_WORDS) {
            words[n++] = a;
        }
    }

    return n;
}


/*
 * Fills args: defaults, then the options cmd takes, the operands after
 * its nwords command words, then what the global options mean.  -1 when
 * the command can run, else the exit status (after saying why).
 */
static int
tt_cmd_options(const tt_command_t *table, const tt_command_t *cmd,
    int nwords, int argc, char **argv, tt_cmd_args_t *args)
{
    int                  i, dashdash, kind;
    char                *a, *eq;
    size_t               len;
    const char          *value;
    tt_cmd_global_t      g;
    const tt_option_t   *o;
    const tt_command_t  *owner;

    memset(args, 0, sizeof(*args));
    memset(&g, 0, sizeof(g));

    args->opts = calloc(1, cmd->opts_size ? cmd->opts_size : 1);
    args->argv = calloc(argc, sizeof(char *));
    if (args->opts == NULL || args->argv == NULL) {
        tt_cmd_error("out of memory");
        return 1;
    }

    if (tt_cmd_defaults(cmd, args, &g) != 0) {
        return TT_EXIT_USAGE;
    }

    dashdash = 0;

    for (i = 1; i < argc; i++) {
        a = argv[i];
        kind = tt_cmd_kind(a, &dashdash);

        if (kind < 0) {
            continue;
        }

        if (kind == 0) {
            if (nwords > 0) {
                nwords--;               /* the command words */
            } else {
                args->argv[args->argc++] = a;
            }
            continue;
        }

        if (a[1] != '-') {
            tt_cmd_error("%s: unknown option (options are spelt --name; "
                         "see tracktik-worker %s --help)", a, cmd->name);
            return TT_EXIT_USAGE;
        }

        eq = strchr(a + 2, '=');
        len = eq ? (size_t) (eq - (a + 2)) : strlen(a + 2);

        o = tt_cmd_option(cmd, a + 2, len);

        if (o == NULL) {
            if (tt_cmd_option_anywhere(table, a + 2, len, &owner) != NULL) {
                tt_cmd_error("--%.*s is not an option of %s (%s%s%ssee "
                             "tracktik-worker %s --help)", (int) len, a + 2,
                             cmd->name, owner ? "it belongs to " : "",
                             owner ? owner->name : "", owner ? "; " : "",
                             cmd->name);
            } else {
                tt_cmd_error("--%.*s: unknown option (see tracktik-worker "
                             "%s --help)", (int) len, a + 2, cmd->name);
            }
            return TT_EXIT_USAGE;
        }

        if (o->arg == NULL) {
            if (eq != NULL) {
                tt_cmd_error("--%s takes no value", o->name);
                return TT_EXIT_USAGE;
            }
            value = "";

        } else if (eq != NULL) {
            value = eq + 1;

        } else if (i + 1 < argc) {
            value = argv[++i];

        } else {
            tt_cmd_error("--%s needs a value: --%s %s", o->name, o->name,
                         o->arg);
            return TT_EXIT_USAGE;
        }

        if (tt_cmd_set(o, value, NULL, args, &g) != 0) {
            return TT_EXIT_USAGE;
        }
    }

    if (args->argc < cmd->min_args || args->argc > cmd->max_args) {
        tt_cmd_error("%s: usage: tracktik-worker %s %s",
                     args->argc > cmd->max_args ? "too many arguments"
                                                : "missing arguments",
                     cmd->name, cmd->synopsis);
        return TT_EXIT_USAGE;
    }

    if (tt_cmd_globals(cmd, args, &g) != 0) {
        return TT_EXIT_USAGE;
    }

    return -1;
}


/* 1: a is an option, 0: a word, -1: the "--" after which all are words */
static int
tt_cmd_kind(const char *a, int *dashdash)
{
    if (*dashdash) {
        return 0;
    }

    if (strcmp(a, "--") == 0) {
        *dashdash = 1;
        return -1;
    }

    return a[0] == '-' && a[1] != '\0';
}


/* the row named by up to TT_CMD_WORDS words; *used: the words it took */
static const tt_command_t *
tt_cmd_find(const tt_command_t *table, char **words, int nwords, int *used)
{
    int                  n, full, best_n, shared;
    size_t               len;
    const char          *p;
    const tt_command_t  *c, *best;

    /* the command with the most words, all on the line: "migrate status"
     * before "migrate".  None: *used is how many words of the line a
     * command family has, and one more (for the message). */

    best = NULL;
    best_n = 0;
    shared = 0;

    for (c = table; c->name != NULL; c++) {
        p = c->name;
        n = 0;
        full = 0;

        while (n < nwords) {
            len = strlen(words[n]);
            if (strncmp(p, words[n], len) != 0
                || (p[len] != ' ' && p[len] != '\0'))
            {
                break;
            }

            n++;

            if (p[len] == '\0') {
                full = 1;
                break;
            }

            p += len + 1;
        }

        if (full && n > best_n) {
            best = c;
            best_n = n;

        } else if (!full && n > shared) {
            shared = n;
        }
    }

    if (best != NULL) {
        *used = best_n;
        return best;
    }

    *used = shared + 1 < nwords ? shared + 1 : nwords;
    return NULL;
}


static const tt_option_t *
tt_cmd_option(const tt_command_t *cmd, const char *name, size_t len)
{
    const tt_option_t  *o;

    o = tt_cmd_option_in(tt_cmd_global_options, name, len);

    if (o == NULL && cmd->options != NULL) {
        o = tt_cmd_option_in(cmd->options, name, len);
    }

    if (o == NULL && (cmd->groups & TT_GROUP_API)) {
        o = tt_cmd_option_in(tt_cmd_api_options, name, len);
    }

    return o;
}


/* an option of any command (*owner: the first command with it in its
 * own table; NULL for a global or group option) */
static const tt_option_t *
tt_cmd_option_anywhere(const tt_command_t *table, const char *name,
    size_t len, const tt_command_t **owner)
{
    const tt_option_t   *o;
    const tt_command_t  *c;

    *owner = NULL;

    o = tt_cmd_option_in(tt_cmd_global_options, name, len);
    if (o == NULL) {
        o = tt_cmd_option_in(tt_cmd_api_options, name, len);
    }

    for (c = table; o == NULL && c->name != NULL; c++) {
        if (c->options != NULL) {
            o = tt_cmd_option_in(c->options, name, len);
            *owner = c;
        }
    }

    return o;
}


static const tt_option_t *
tt_cmd_option_in(const tt_option_t *opts, const char *name, size_t len)
{
    for ( /* void */ ; opts->name != NULL; opts++) {
        if (strlen(opts->name) == len && strncmp(opts->name, name, len) == 0)
        {
            return opts;
        }
    }

    return NULL;
}


/* source: where the value came from when not the command line */
static int
tt_cmd_set(const tt_option_t *o, const char *value, const char *source,
    tt_cmd_args_t *args, tt_cmd_global_t *g)
{
    long    n;
    char   *base, *end, err[512];

    switch (o->place) {
    case TT_IN_CONFIG:
        base = (char *) &args->cfg;
        break;
    case TT_IN_COMMAND:
        base = args->opts;
        break;
    default:
        base = (char *) g;
    }

    switch (o->type) {

    case TT_OPT_FLAG:
        *(int *) (base + o->offset) = 1;
        return 0;

    case TT_OPT_INT:
        errno = 0;
        n = strtol(value, &end, 10);

        if (*value == '\0' || *end != '\0' || errno != 0 || n < o->min
            || n > o->max)
        {
            tt_cmd_error("--%s%s%s: \"%s\" is not a number in %d..%d",
                         o->name, source ? " from " : "",
                         source ? source : "", value, o->min, o->max);
            return -1;
        }

        *(int *) (base + o->offset) = (int) n;
        return 0;

    default:
        if (o->check != NULL
            && !(o->type == TT_OPT_TEXT_OR_OFF && value[0] == '\0')
            && o->check(value, err, sizeof(err)) != 0)
        {
            tt_cmd_error("--%s%s%s: %s", o->name, source ? " from " : "",
                         source ? source : "", err);
            return -1;
        }

        *(const char **) (base + o->offset) =
            (o->type == TT_OPT_TEXT_OR_OFF && value[0] == '\0') ? NULL
                                                                : value;
        return 0;
    }
}


/* the environment's and the tables' defaults, before the command line */
static int
tt_cmd_defaults(const tt_command_t *cmd, tt_cmd_args_t *args,
    tt_cmd_global_t *g)
{
    int                 i;
    const char         *env;
    const tt_option_t  *o, *tables[3];

    tables[0] = tt_cmd_global_options;
    tables[1] = cmd->options;
    tables[2] = (cmd->groups & TT_GROUP_API) ? tt_cmd_api_options : NULL;

    for (i = 0; i < 3; i++) {
        for (o = tables[i]; o != NULL && o->name != NULL; o++) {
            env = o->env ? getenv(o->env) : NULL;

            if (env != NULL
                && (env[0] != '\0' || o->type == TT_OPT_TEXT_OR_OFF))
            {
                if (tt_cmd_set(o, env, o->env, args, g) != 0) {
                    return -1;
                }

            } else if (o->def != NULL) {
                if (tt_cmd_set(o, o->def, "the default", args, g) != 0) {
                    return -1;
                }
            }
        }
    }

    return 0;
}


/* what the global options mean once all are read */
static int
tt_cmd_globals(const tt_command_t *cmd, tt_cmd_args_t *args,
    tt_cmd_global_t *g)
{
    char  *line;

    tt_log_set_level(tt_log_level_parse(g->log_level));

    if (g->dsn_file != NULL) {
        line = tt_cmd_read_file_line(g->dsn_file, "--dsn-file");
        if (line == NULL) {
            return -1;
        }
        args->cfg.dsn = line;           /* lives as long as the command */
        args->dsn_line = line;
    }

    if (!(cmd->flags & TT_CMD_NO_DB)
        && (args->cfg.dsn == NULL || args->cfg.dsn[0] == '\0'))
    {
        tt_cmd_error("no database: pass --dsn CONNINFO or set TRACKTIK_DSN "
                     "(or --dsn-file FILE)");
        return -1;
    }

    return 0;
}


static int
tt_cmd_check_level(const char *value, char *err, size_t errlen)
{
    if (tt_log_level_parse(value) < 0) {
        snprintf(err, errlen, "\"%s\" is not a log level (debug, info, "
                 "warn, error)", value);
        return -1;
    }

    return 0;
}


/* for --default-time-zone (cmd_run.c) */
int
tt_cmd_check_zone(const char *value, char *err, size_t errlen)
{
    if (!tt_tz_valid(value)) {
        snprintf(err, errlen, "\"%s\" is not a time zone the zone database "
                 "knows (like UTC or Europe/Paris)", value);
        return -1;
    }

    return 0;
}


/* for --from and --to: a calendar date, YYYY-MM-DD */
int
tt_cmd_check_day(const char *value, char *err, size_t errlen)
{
    int         y, m, d, days;
    static const int  month_days[12] = { 31, 29, 31, 30, 31, 30, 31, 31,
                                         30, 31, 30, 31 };

    if (strlen(value) != 10 || value[4] != '-' || value[7] != '-'
        || strspn(value, "0123456789-") != 10
        || sscanf(value, "%4d-%2d-%2d", &y, &m, &d) != 3
        || y < 1 || m < 1 || m > 12 || d < 1)
    {
        goto bad;
    }

    days = month_days[m - 1];
    if (m == 2 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) {
        days = 28;
    }

    if (d <= days) {
        return 0;
    }

bad:

    snprintf(err, errlen, "\"%s\" is not a date (YYYY-MM-DD, like "
             "2026-03-01)", value);
    return -1;
}


/* for ids of TrackTik objects (--client, --site): a positive integer */
int
tt_cmd_check_id(const char *value, char *err, size_t errlen)
{
    char       *end;
    long long   v;

    errno = 0;
    v = strtoll(value, &end, 10);

    /* strtoll() would take a sign or leading blanks too */
    if (errno != 0 || end == value || *end != '\0' || v <= 0
        || value[0] < '0' || value[0] > '9')
    {
        snprintf(err, errlen, "\"%s\" is not an id (a positive integer)",
                 value);
        return -1;
    }

    return 0;
}
