/*
 * cmd_run: `run [--drain] [--concurrency N] [--poll-only] ...`: the
 * daemon (run.c) with the settings below.
 */

#include <stddef.h>

#include "cmd.h"
#include "run.h"


#define TT_RUN_OPT(name, arg, field, min, max, def, help)                   \
    { name, arg, TT_OPT_INT, TT_IN_CONFIG, offsetof(tt_config_t, field),    \
      min, max, NULL, NULL, def, help }


const tt_option_t  tt_cmd_run_options[] = {
    { "drain", NULL, TT_OPT_FLAG, TT_IN_CONFIG,
      offsetof(tt_config_t, drain), 0, 0, NULL, NULL, NULL,
      "exit 0 once no job is runnable or leased" },
    TT_RUN_OPT("concurrency", "N", concurrency, 1, 64, "1",
               "worker processes"),
    { "poll-only", NULL, TT_OPT_FLAG, TT_IN_CONFIG,
      offsetof(tt_config_t, poll_only), 0, 0, NULL, NULL, NULL,
      "no LISTEN (for PgBouncer transaction pooling)" },
    TT_RUN_OPT("poll-interval", "MS", poll_interval_ms, 10, 600000, "1000",
               "idle poll period"),
    TT_RUN_OPT("batch-size", "N", batch_size, 1, 1000, "500",
               "jobs claimed per transaction"),
    TT_RUN_OPT("lease-seconds", "N", lease_seconds, 1, 86400, "30",
               "job lease, renewed while working"),
    TT_RUN_OPT("max-attempts", "N", max_attempts, 1, 1000, "10",
               "attempts before a job is dead"),
    TT_RUN_OPT("backoff-base-ms", "N", backoff_base_ms, 1, 3600000, "1000",
               "first retry delay"),
    TT_RUN_OPT("backoff-cap-s", "N", backoff_cap_s, 1, 604800, "3600",
               "longest retry delay"),
    TT_RUN_OPT("retention-days", "N", retention_days, 1, 36500, "30",
               "keep tracktik_deliveries this long"),
    { "default-time-zone", "ZONE", TT_OPT_TEXT, TT_IN_CONFIG,
      offsetof(tt_config_t, default_time_zone), 0, 0, tt_cmd_check_zone,
      NULL, "UTC", "a site's time zone when neither the report nor "
      "TrackTik names one; checked against the zone database" },
    { "worker-id", "NAME", TT_OPT_TEXT, TT_IN_CONFIG,
      offsetof(tt_config_t, worker_id), 0, 0, NULL, NULL, NULL,
      "lease owner name prefix (default: the host name)" },
    TT_RUN_OPT("job-delay-ms", "N", job_delay_ms, 0, 60000, NULL,
               "slow every job down (fault-injection tests only)"),
    { "attachment-dir", "DIR", TT_OPT_TEXT_OR_OFF, TT_IN_CONFIG,
      offsetof(tt_config_t, attachment_dir), 0, 0, NULL,
      "TRACKTIK_ATTACHMENT_DIR", NULL,
      "fetch report photos into DIR, for the portal (\"\": off)" },
    { "notify", NULL, TT_OPT_FLAG, TT_IN_CONFIG,
      offsetof(tt_config_t, notify), 0, 0, NULL, NULL, NULL,
      "also send due notifications when idle (as `notify run` does, with "
      "its default retry settings)" },
    { "smtp-url", "URL", TT_OPT_TEXT, TT_IN_CONFIG,
      offsetof(tt_config_t, smtp_url), 0, 0, tt_cmd_check_smtp_url,
      "TRACKTIK_SMTP_URL", NULL, "--notify: the relay, smtp://HOST:PORT "
      "or smtps://HOST:PORT" },
    { "smtp-from", "ADDRESS", TT_OPT_TEXT, TT_IN_CONFIG,
      offsetof(tt_config_t, smtp_from), 0, 0, tt_cmd_check_address,
      "TRACKTIK_SMTP_FROM", NULL, "--notify: the sender address" },
    { "portal-url", "URL", TT_OPT_TEXT, TT_IN_CONFIG,
      offsetof(tt_config_t, portal_url), 0, 0, NULL, "TRACKTIK_PORTAL_URL",
      "http://localhost/portal/", "--notify: the portal, for mail links" },
    { "no-archives", NULL, TT_OPT_FLAG, TT_IN_CONFIG,
      offsetof(tt_config_t, no_archives), 0, 0, NULL, NULL, NULL,
      "leave the portal's archive requests to `archive build` (run "
      "elsewhere); without it an idle worker with --attachment-dir builds "
      "them into DIR/archives/" },
    TT_RUN_OPT("archive-keep-days", "N", archive_keep_days, 0, 36500, "90",
               "remove the archives finished N days ago or more, as "
               "`archive build --keep-days` (0: keep them forever)"),
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};


int
tt_cmd_run(tt_cmd_args_t *args)
{
    int  rc;

    /* exit 3 (TT_EXIT_SCHEMA) on an old schema: RestartPreventExitStatus */
    rc = tt_cmd_check_schema(&args->cfg);
    if (rc != 0) {
        return rc;
    }

    return tt_run(&args->cfg);
}
