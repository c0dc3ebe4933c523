/*
 * config: the worker's settings, filled from the command line by
 * cmd_line.c (the option tables of cmd_*.c) and passed down read-only.
 * The only process-wide state besides it is the log's worker name and
 * level, and the time zone cache.
 */

#ifndef TT_CONFIG_H
#define TT_CONFIG_H

typedef struct {
    const char  *dsn;               /* libpq conninfo; never logged */
    const char  *worker_id;         /* locked_by value, "host:pid" */
    const char  *default_time_zone; /* when neither report nor site has one */
    const char  *sql_dir;           /* migrate: holds migrations/, functions/ */

    int          drain;             /* run: exit once the queue is empty */
    int          poll_only;         /* run: no LISTEN (PgBouncer) */
    int          concurrency;       /* run: worker processes */
    int          poll_interval_ms;  /* run: fallback poll period */
    int          batch_size;        /* jobs claimed per transaction */
    int          lease_seconds;     /* locked_until = now() + this */
    int          max_attempts;      /* then state 'dead' */
    int          backoff_base_ms;   /* first retry delay */
    int          backoff_cap_s;     /* longest retry delay */
    int          retention_days;    /* tracktik_deliveries kept this long */
    int          job_delay_ms;      /* fault-injection tests only */
    const char  *attachment_dir;    /* run: report photos go here; NULL:
                                       photos are not fetched */
    int          notify;            /* run: send notifications when idle */
    const char  *smtp_url;          /* run --notify: the SMTP relay */
    const char  *smtp_from;         /* run --notify: the sender */
    const char  *portal_url;        /* run --notify: for links in mails */
    int          no_archives;       /* run: leave the archive queue alone */
    int          archive_keep_days; /* run: archive retention; 0: forever */

    /* TrackTik API client (api.c): 0 / NULL = the default */
    const char  *api_url;           /* tenant base URL */
    int          api_per_minute;    /* request budget shared by all */
    int          api_timeout_ms;    /* per request */
    int          api_backoff_cap_ms; /* longest retry delay */
    int          api_refresh_hold_ms; /* fault-injection tests only */
} tt_config_t;

#endif /* TT_CONFIG_H */
