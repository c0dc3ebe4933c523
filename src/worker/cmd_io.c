/*
 * cmd_io: what the commands share for talking to the operator: error
 * lines, listings, secrets from stdin or a file.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cmd.h"
#include "db.h"
#include "schema.h"


static int tt_cmd_schema_ok(PGconn *conn);
static char *tt_cmd_line(FILE *f, size_t max, int *too_long);


void
tt_cmd_error(const char *fmt, ...)
{
    char     line[2048];
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);

    fprintf(stderr, "tracktik-worker: %s\n", line);
}


PGconn *
tt_cmd_connect(const tt_config_t *cfg)
{
    PGconn  *conn;

    conn = tt_cmd_connect_any(cfg);

    if (conn != NULL && tt_cmd_schema_ok(conn) != 0) {
        PQfinish(conn);
        return NULL;
    }

    return conn;
}


PGconn *
tt_cmd_connect_any(const tt_config_t *cfg)
{
    char     err[1024];
    PGconn  *conn;

    conn = tt_db_connect(cfg->dsn, err, sizeof(err));
    if (conn == NULL) {
        tt_cmd_error("%s", err);
    }

    return conn;
}


int
tt_cmd_check_schema(const tt_config_t *cfg)
{
    int      rc;
    PGconn  *conn;

    conn = tt_cmd_connect_any(cfg);
    if (conn == NULL) {
        return 1;
    }

    rc = tt_cmd_schema_ok(conn);
    PQfinish(conn);

    return rc;
}


int
tt_cmd_open_tenant(tt_cmd_args_t *args, tt_channel_t *ch)
{
    char               err[1024];
    tt_api_settings_t  set;

    if (tt_cmd_check_schema(&args->cfg) != 0) {
        return -1;
    }

    tt_api_settings_from(&args->cfg, &set);

    if (tt_channel_open(ch, args->cfg.dsn, &set, err, sizeof(err)) != 0) {
        tt_cmd_error("%s", err);
        return -1;
    }

    return 0;
}


/* 0 when the schema is new enough, else the exit status, printed */
static int
tt_cmd_schema_ok(PGconn *conn)
{
    char  err[1024];

    if (tt_schema_check(conn, err, sizeof(err)) == 0) {
        return 0;
    }

    tt_cmd_error("%s", err);

    return PQstatus(conn) == CONNECTION_OK ? TT_EXIT_SCHEMA : 1;
}


int
tt_cmd_listing(PGconn *conn, PGresult *res, const char *header,
    const char *err)
{
    int  i, j;

    if (res == NULL) {
        tt_cmd_error("%s", err);
        PQfinish(conn);
        return 1;
    }

    printf("%s\n", header);

    for (i = 0; i < PQntuples(res); i++) {
        for (j = 0; j < PQnfields(res); j++) {
            printf("%s%s", j ? "\t" : "", PQgetvalue(res, i, j));
        }

        putchar('\n');
    }

    PQclear(res);
    PQfinish(conn);

    return 0;
}


char *
tt_cmd_read_secret(const char *what, size_t max)
{
    int             tty, too_long;
    char           *line;
    struct termios  old, quiet;

    tty = isatty(STDIN_FILENO);

    if (tty) {
        fprintf(stderr, "%s: ", what);
        fflush(stderr);

        if (tcgetattr(STDIN_FILENO, &old) == 0) {
            quiet = old;
            quiet.c_lflag &= ~ECHO;
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);

        } else {
            tty = 0;
        }
    }

    line = tt_cmd_line(stdin, max, &too_long);

    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }

    if (too_long) {
        tt_cmd_error("the %s is too long", what);
        return NULL;
    }

    if (line == NULL) {
        tt_cmd_error("no %s on standard input", what);
        return NULL;
    }

    return line;
}


char *
tt_cmd_read_file_line(const char *file, const char *what)
{
    int    too_long;
    FILE  *f;
    char  *line;

    f = fopen(file, "r");
    if (f == NULL) {
        tt_cmd_error("cannot read %s %s: %s", what, file, strerror(errno));
        return NULL;
    }

    line = tt_cmd_line(f, 64 * 1024, &too_long);
    fclose(f);

    if (line == NULL) {
        tt_cmd_error("%s: %s %s", file, what,
                     too_long ? "has a first line over 64 KB" : "is empty");
    }

    return line;
}


void
tt_cmd_wipe_free(char *s)
{
    if (s != NULL) {
        memset(s, 0, strlen(s));
        free(s);
    }
}


/* the first line of f without its line ending; NULL when empty or over
 * max bytes (then *too_long) */
static char *
tt_cmd_line(FILE *f, size_t max, int *too_long)
{
    char    *line;
    size_t   cap;
    ssize_t  n;

    line = NULL;
    cap = 0;
    n = getline(&line, &cap, f);

    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
        line[--n] = '\0';
    }

    *too_long = n > 0 && (size_t) n >= max;

    if (n <= 0 || *too_long) {
        if (line != NULL) {
            memset(line, 0, cap);
        }
        free(line);
        return NULL;
    }

    return line;
}
