/*
 * cmd_archive: the auditor's archive (archive.h, doc/archive.md).
 *
 *   archive create --client ID --from DATE --to DATE --out FILE
 *                  [--sites ID,...] [--attachment-dir DIR]
 *       one archive straight to FILE, for an operator at the shell
 *   archive build [--once] [--attachment-dir DIR] [--keep-days N]
 *       the portal's queue: builds each queued request into
 *       DIR/archives/, until SIGTERM/SIGINT (--once: until none is left),
 *       and removes the archives finished more than N days ago
 */

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "archive.h"
#include "cmd.h"
#include "log.h"


/* as tracktik_archives' check: at most 366 days, both ends included */
#define TT_ARCHIVE_MAX_DAYS  366

/* the photo store (run's --attachment-dir), the same setting for both */
#define TT_ARCHIVE_DIR_OPT(help)                                              \
    { "attachment-dir", "DIR", TT_OPT_TEXT_OR_OFF, TT_IN_CONFIG,              \
      offsetof(tt_config_t, attachment_dir), 0, 0, NULL,                      \
      "TRACKTIK_ATTACHMENT_DIR", NULL, help }


static int tt_cmd_check_sites(const char *value, char *err, size_t errlen);
static int tt_cmd_archive_period(const char *from, const char *to);
static void tt_cmd_archive_signal(int signo);


const tt_option_t  tt_cmd_archive_create_options[] = {
    { "client", "ID", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_archive_create_opts_t, client), 0, 0, tt_cmd_check_id,
      NULL, NULL, "the client the archive is of (required)" },
    { "from", "DATE", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_archive_create_opts_t, from), 0, 0, tt_cmd_check_day,
      NULL, NULL, "the first day (UTC) of the period (required)" },
    { "to", "DATE", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_archive_create_opts_t, to), 0, 0, tt_cmd_check_day,
      NULL, NULL, "the last day (UTC) of the period, at most 366 days on "
      "(required)" },
    { "out", "FILE", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_archive_create_opts_t, out), 0, 0, NULL, NULL, NULL,
      "the zip to write; must not exist yet (required)" },
    { "sites", "ID,...", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_archive_create_opts_t, sites), 0, 0, tt_cmd_check_sites,
      NULL, NULL, "only these sites of the client (default: all)" },
    TT_ARCHIVE_DIR_OPT("the photo store (run --attachment-dir); needed when "
                       "the period has photos"),
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};


const tt_option_t  tt_cmd_archive_build_options[] = {
    { "once", NULL, TT_OPT_FLAG, TT_IN_COMMAND,
      offsetof(tt_archive_build_opts_t, once), 0, 0, NULL, NULL, NULL,
      "build what is queued, then exit" },
    TT_ARCHIVE_DIR_OPT("the photo store nginx serves (required): archives "
                       "are written to DIR/archives/"),
    { "keep-days", "N", TT_OPT_INT, TT_IN_COMMAND,
      offsetof(tt_archive_build_opts_t, keep_days), 0, 36500, NULL, NULL,
      "90", "remove the archives finished N days ago or more, rows and "
      "files (0: keep them forever)" },
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};


static volatile sig_atomic_t  tt_archive_stop;


int
tt_cmd_archive_create(tt_cmd_args_t *args)
{
    int                        rc;
    char                       err[1024], sites[512];
    PGconn                    *conn;
    tt_archive_spec_t          spec;
    tt_archive_result_t        result;
    tt_archive_create_opts_t  *o;

    o = args->opts;

    if (o->client == NULL || o->from == NULL || o->to == NULL
        || o->out == NULL)
    {
        tt_cmd_error("usage: tracktik-worker archive create --client ID "
                     "--from DATE --to DATE --out FILE");
        return TT_EXIT_USAGE;
    }

    if (tt_cmd_archive_period(o->from, o->to) != 0) {
        return TT_EXIT_USAGE;
    }

    if (access(o->out, F_OK) == 0) {
        tt_cmd_error("archive create: %s exists already; choose another "
                     "--out", o->out);
        return TT_EXIT_USAGE;
    }

    spec.client = o->client;
    spec.sites = NULL;
    spec.from = o->from;
    spec.to = o->to;
    spec.photo_dir = args->cfg.attachment_dir;

    if (o->sites != NULL) {
        snprintf(sites, sizeof(sites), "{%s}", o->sites);
        spec.sites = sites;
    }

    conn = tt_cmd_connect(&args->cfg);
    if (conn == NULL) {
        return 1;
    }

    rc = tt_archive_write(conn, &spec, o->out, &result, err, sizeof(err));
    PQfinish(conn);

    if (rc != 0) {
        tt_cmd_error("archive create: %s", err);
        return 1;
    }

    printf("%s: %lld incidents, %lld billing lines, %lld photos, %lld "
           "bytes, sha256 %s\n", o->out, result.incidents,
           result.billing_lines, result.photos, result.size, result.sha256);

    return 0;
}


int
tt_cmd_archive_build(tt_cmd_args_t *args)
{
    int                       rc, waited;
    char                      err[1024];
    time_t                    pruned;
    PGconn                   *conn;
    struct sigaction          sa;
    tt_archive_build_opts_t  *o;

    o = args->opts;

    if (args->cfg.attachment_dir == NULL) {
        tt_cmd_error("archive build: --attachment-dir (or "
                     "TRACKTIK_ATTACHMENT_DIR) is required: the archives "
                     "go to its archives/ directory");
        return TT_EXIT_USAGE;
    }

    conn = tt_cmd_connect(&args->cfg);
    if (conn == NULL) {
        return 1;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = tt_cmd_archive_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGHUP, SIG_IGN);

    waited = 0;
    pruned = 0;

    while (!tt_archive_stop) {
        if (o->keep_days > 0
            && time(NULL) - pruned >= TT_ARCHIVE_PRUNE_EVERY)
        {
            if (tt_archive_prune_all(conn, args->cfg.attachment_dir,
                                     o->keep_days, &tt_archive_stop, err,
                                     sizeof(err)) != 0)
            {
                tt_cmd_error("archive build: %s", err);
                PQfinish(conn);
                return 1;
            }

            pruned = time(NULL);
        }

        rc = tt_archive_build_next(conn, args->cfg.attachment_dir, err,
                                   sizeof(err));
        if (rc < 0) {
            tt_cmd_error("archive build: %s", err);
            PQfinish(conn);
            return 1;
        }

        if (rc > 0) {
            waited = 0;
            continue;
        }

        if (o->once) {
            break;
        }

        /* nothing queued: look again each second (a request is rare) */
        sleep(1);

        if (++waited % 60 == 0 && PQstatus(conn) != CONNECTION_OK) {
            PQreset(conn);
        }
    }

    PQfinish(conn);

    return 0;
}


static int
tt_cmd_check_sites(const char *value, char *err, size_t errlen)
{
    const char  *p;

    for (p = value; *p; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p == ',' && p > value
                                            && p[1] != '\0' && p[1] != ',')))
        {
            break;
        }
    }

    if (*value == '\0' || *p != '\0' || strlen(value) > 400) {
        snprintf(err, errlen, "\"%s\" is not a list of site ids (1,2,3)",
                 value);
        return -1;
    }

    return 0;
}


static int
tt_cmd_archive_period(const char *from, const char *to)
{
    double     days;
    struct tm  a, b;

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));

    /* both passed tt_cmd_check_day() */
    sscanf(from, "%4d-%2d-%2d", &a.tm_year, &a.tm_mon, &a.tm_mday);
    sscanf(to, "%4d-%2d-%2d", &b.tm_year, &b.tm_mon, &b.tm_mday);
    a.tm_year -= 1900;
    b.tm_year -= 1900;
    a.tm_mon--;
    b.tm_mon--;

    days = difftime(timegm(&b), timegm(&a)) / 86400;

    if (days < 0) {
        tt_cmd_error("archive: --from %s is after --to %s", from, to);
        return -1;
    }

    if (days >= TT_ARCHIVE_MAX_DAYS) {
        tt_cmd_error("archive: %s to %s is more than %d days; ask for "
                     "one archive per year", from, to, TT_ARCHIVE_MAX_DAYS);
        return -1;
    }

    return 0;
}


static void
tt_cmd_archive_signal(int signo)
{
    (void) signo;
    tt_archive_stop = 1;
}
