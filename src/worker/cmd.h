/*
 * cmd: the command line.  Every command is one row of tt_commands[] in
 * main.c, {name, synopsis, summary, operands, options, main}, and one
 * function in its own src/worker/cmd_<name>.c beside its option table.
 *
 * The command layer (main.c, cmd_*.c) is the only code that prints to
 * stdout or reads stdin; the library files below it return their results
 * and put their errors in a buffer.
 *
 * Options belong to a command (its own table), to a group several
 * commands share on purpose (TT_GROUP_API: the TrackTik client
 * settings), or are global (--dsn, --dsn-file, --log-level, --help,
 * --version), which go anywhere on the line.  An option of another
 * command is a usage error naming both; every value is checked before the
 * database is touched.  Usage errors exit 2.
 */

#ifndef TT_CMD_H
#define TT_CMD_H

#include <stddef.h>
#include <stdio.h>
#include <libpq-fe.h>

#include "channel.h"
#include "config.h"


#define TT_EXIT_USAGE  2
#define TT_EXIT_SCHEMA 3        /* the schema is older than this build */


typedef enum {
    TT_OPT_FLAG = 0,            /* no value: the int becomes 1 */
    TT_OPT_INT,                 /* an int in min..max */
    TT_OPT_TEXT,                /* a const char *, passed the check */
    TT_OPT_TEXT_OR_OFF          /* as TEXT; "" stores NULL */
} tt_opt_type_e;


typedef enum {
    TT_IN_CONFIG = 0,           /* offset into tt_config_t */
    TT_IN_COMMAND,              /* offset into the command's options */
    TT_IN_GLOBAL                /* offset into the parser's own state */
} tt_opt_place_e;


/* extra check of a TEXT value: 0, or -1 with the reason in err */
typedef int (*tt_opt_check_pt)(const char *value, char *err, size_t errlen);


typedef struct {
    const char        *name;    /* without the "--"; NULL ends a table */
    const char        *arg;     /* value placeholder; NULL for a flag */
    tt_opt_type_e      type;
    tt_opt_place_e     place;
    size_t             offset;
    int                min;     /* TT_OPT_INT */
    int                max;
    tt_opt_check_pt    check;   /* TT_OPT_TEXT, may be NULL */
    const char        *env;     /* the default from the environment */
    const char        *def;     /* else this default */
    const char        *help;    /* wrapped to 80 columns by usage */
} tt_option_t;


#define TT_GROUP_API   0x01     /* the TrackTik API client options */

#define TT_CMD_NO_DB   0x01     /* runs without --dsn */


/* the parsed command line a command's main gets */
typedef struct {
    tt_config_t        cfg;     /* settings passed down to the library */
    void              *opts;    /* the command's own options struct */
    int                argc;    /* operands, after the command words */
    char             **argv;
    char              *dsn_line; /* --dsn-file's line, wiped at exit */
} tt_cmd_args_t;


typedef struct {
    const char         *name;      /* "run", "jobs list" */
    const char         *synopsis;  /* operands and options, for usage */
    const char         *summary;   /* for usage; lines separated by \n */
    int                 min_args;  /* operands */
    int                 max_args;
    const tt_option_t  *options;   /* its own; NULL: none */
    size_t              opts_size; /* sizeof its options struct */
    unsigned            groups;    /* TT_GROUP_* it accepts too */
    unsigned            flags;     /* TT_CMD_* */
    int               (*main)(tt_cmd_args_t *args);
} tt_command_t;


/*
 * Parses argv against the table (ended by a NULL name).  Returns -1 with
 * *cmd and *args filled when the command should run, else the exit
 * status (0 after --help or --version, 2 after a usage error, both
 * already printed).
 */
int tt_cmd_parse(const tt_command_t *table, int argc, char **argv,
    const tt_command_t **cmd, tt_cmd_args_t *args);


/* the commands: one function each, and the options only they take */

typedef struct {
    const char  *effective_from;
    int          if_changed;
} tt_contracts_load_opts_t;

typedef struct {
    const char  *state;
    int          limit;
} tt_jobs_list_opts_t;

typedef struct {
    int          dead;
} tt_jobs_retry_opts_t;

typedef struct {
    const char  *client;
    const char  *sites;
    int          operator;
} tt_users_add_opts_t;

typedef struct {
    const char  *client_id;
    const char  *client_secret_file;
    const char  *username;
    int          password_stdin;
    int          refresh_token_stdin;
} tt_auth_login_opts_t;

typedef struct {
    int          once;
} tt_billing_sync_opts_t;

typedef struct {
    const char  *webhook_url;
    const char  *secret_file;
    const char  *custom_id;
    const char  *name;
    const char  *events;
    const char  *secret_header;
    const char  *include;
    const char  *regions;
    const char  *failure_email;
} tt_subscription_create_opts_t;

typedef struct {
    const char  *reason;
} tt_subscription_suspend_opts_t;

typedef struct {
    const char  *from;
    const char  *to;
    int          site;
    int          client;
    const char  *include;
    int          no_process;
    int          page_size;
} tt_pull_opts_t;

typedef struct {
    int          interval;
    int          margin;
    int          lookback;
    int          once;
    int          lease;
    int          no_audit;
} tt_schedule_opts_t;

typedef struct {
    const char  *from;
    const char  *to;
    const char  *client;
    const char  *site;
    const char  *code;
    const char  *state;
    const char  *format;
} tt_billing_list_opts_t;

typedef struct {
    int          failed;
} tt_billing_retry_opts_t;

typedef struct {
    int          verify_chain;
    const char  *from;
    const char  *to;
    const char  *source;
    const char  *mapping;
    const char  *mapping_dir;
    const char  *out;
    int          page_size;
} tt_audit_opts_t;

typedef struct {
    int          drain;
    const char  *smtp_url;
    const char  *smtp_from;
    const char  *smtp_auth_file;
    const char  *portal_url;
    int          batch;
    int          lease_s;
    int          max_attempts;
    int          backoff_base_s;
    int          backoff_cap_s;
    int          pause_after;
    int          timeout_s;
    int          poll_ms;
    int          record_delay_ms;
    const char  *now;
} tt_notify_run_opts_t;

typedef struct {
    int          limit;
} tt_notify_log_opts_t;

typedef struct {
    const char  *mapping;
    const char  *mapping_dir;
    const char  *rejects;
    int          progress_interval;
} tt_import_cmd_opts_t;

typedef struct {
    const char  *client;
    const char  *from;
    const char  *to;
    const char  *out;
    const char  *sites;
} tt_archive_create_opts_t;

typedef struct {
    int          once;
    int          keep_days;     /* 0: keep archives forever */
} tt_archive_build_opts_t;


int tt_cmd_run(tt_cmd_args_t *args);
int tt_cmd_migrate(tt_cmd_args_t *args);
int tt_cmd_migrate_status(tt_cmd_args_t *args);
int tt_cmd_contracts_load(tt_cmd_args_t *args);
int tt_cmd_contracts_check(tt_cmd_args_t *args);
int tt_cmd_contracts_list(tt_cmd_args_t *args);
int tt_cmd_jobs_list(tt_cmd_args_t *args);
int tt_cmd_jobs_retry(tt_cmd_args_t *args);
int tt_cmd_users_add(tt_cmd_args_t *args);
int tt_cmd_users_passwd(tt_cmd_args_t *args);
int tt_cmd_users_disable(tt_cmd_args_t *args);
int tt_cmd_users_list(tt_cmd_args_t *args);
int tt_cmd_auth_login(tt_cmd_args_t *args);
int tt_cmd_auth_status(tt_cmd_args_t *args);
int tt_cmd_auth_check(tt_cmd_args_t *args);
int tt_cmd_billing_sync(tt_cmd_args_t *args);
int tt_cmd_subscription_create(tt_cmd_args_t *args);
int tt_cmd_subscription_list(tt_cmd_args_t *args);
int tt_cmd_subscription_suspend(tt_cmd_args_t *args);
int tt_cmd_subscription_enable(tt_cmd_args_t *args);
int tt_cmd_subscription_archive(tt_cmd_args_t *args);
int tt_cmd_pull(tt_cmd_args_t *args);
int tt_cmd_schedule(tt_cmd_args_t *args);
int tt_cmd_billing_list(tt_cmd_args_t *args);
int tt_cmd_billing_retry(tt_cmd_args_t *args);
int tt_cmd_audit(tt_cmd_args_t *args);
int tt_cmd_notify_rules_load(tt_cmd_args_t *args);
int tt_cmd_notify_rules_check(tt_cmd_args_t *args);
int tt_cmd_notify_run(tt_cmd_args_t *args);
int tt_cmd_notify_log(tt_cmd_args_t *args);
int tt_cmd_notify_replay(tt_cmd_args_t *args);
int tt_cmd_notify_resume(tt_cmd_args_t *args);
int tt_cmd_import(tt_cmd_args_t *args);
int tt_cmd_archive_create(tt_cmd_args_t *args);
int tt_cmd_archive_build(tt_cmd_args_t *args);

extern const tt_option_t  tt_cmd_run_options[];
extern const tt_option_t  tt_cmd_migrate_options[];
extern const tt_option_t  tt_cmd_contracts_load_options[];
extern const tt_option_t  tt_cmd_jobs_list_options[];
extern const tt_option_t  tt_cmd_jobs_retry_options[];
extern const tt_option_t  tt_cmd_users_add_options[];
extern const tt_option_t  tt_cmd_auth_login_options[];
extern const tt_option_t  tt_cmd_billing_sync_options[];
extern const tt_option_t  tt_cmd_subscription_create_options[];
extern const tt_option_t  tt_cmd_subscription_suspend_options[];
extern const tt_option_t  tt_cmd_pull_options[];
extern const tt_option_t  tt_cmd_schedule_options[];
extern const tt_option_t  tt_cmd_billing_list_options[];
extern const tt_option_t  tt_cmd_billing_retry_options[];
extern const tt_option_t  tt_cmd_audit_options[];
extern const tt_option_t  tt_cmd_notify_run_options[];
extern const tt_option_t  tt_cmd_notify_log_options[];
extern const tt_option_t  tt_cmd_import_options[];
extern const tt_option_t  tt_cmd_archive_create_options[];
extern const tt_option_t  tt_cmd_archive_build_options[];


/* TT_OPT_TEXT checks (cmd_line.c) */
int tt_cmd_check_zone(const char *value, char *err, size_t errlen);
int tt_cmd_check_day(const char *value, char *err, size_t errlen);
int tt_cmd_check_id(const char *value, char *err, size_t errlen);

/* conf/import-mappings beside the build, else in the current directory
 * (cmd_import.c) */
const char *tt_cmd_default_mapping_dir(void);

/* (cmd_notify.c) */
int tt_cmd_check_smtp_url(const char *value, char *err, size_t errlen);
int tt_cmd_check_address(const char *value, char *err, size_t errlen);


/* helpers the commands share (cmd_io.c) */

/* "tracktik-worker: <message>" on stderr */
void tt_cmd_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/*
 * Connects to cfg->dsn and checks that the schema is not older than this
 * build (schema.h); NULL after printing why (run migrate, or no
 * database).  migrate itself uses tt_cmd_connect_any(), which does not
 * check.
 */
PGconn *tt_cmd_connect(const tt_config_t *cfg);
PGconn *tt_cmd_connect_any(const tt_config_t *cfg);

/*
 * The same check for the commands that open their own connections (the
 * daemons, the API commands): 0, or the exit status after printing why
 * (TT_EXIT_SCHEMA: run migrate; 1: no database).
 */
int tt_cmd_check_schema(const tt_config_t *cfg);

/*
 * For the commands that talk to the tenant: the schema checked, then the
 * database and the API client of --url (or of the only tenant logged
 * in).  0, or -1 after printing why.
 */
int tt_cmd_open_tenant(tt_cmd_args_t *args, tt_channel_t *ch);

/*
 * A listing (res from a library call, NULL after err): the header line
 * and one tab-separated line per row, or the error.  Frees res, closes
 * conn; the exit status.
 */
int tt_cmd_listing(PGconn *conn, PGresult *res, const char *header,
    const char *err);

/*
 * One line of stdin without its line ending ("password", "refresh
 * token"), malloc()ed: the caller wipes it with tt_cmd_wipe_free().  Echo
 * is off while a terminal is read.  NULL after printing why (none, or
 * max bytes or longer).
 */
char *tt_cmd_read_secret(const char *what, size_t max);

/* the first line of file, as tt_cmd_read_secret(); NULL after printing */
char *tt_cmd_read_file_line(const char *file, const char *what);

void tt_cmd_wipe_free(char *s);

/* res's header and rows, as aligned columns (NULL: -) or as CSV
 * (cmd_table.c) */
void tt_cmd_table(FILE *f, PGresult *res, int csv);

#endif /* TT_CMD_H */
