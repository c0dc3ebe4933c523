/*
 * notify_run: a sending pass over the notification outbox.
 */

#ifndef TT_NOTIFY_RUN_H
#define TT_NOTIFY_RUN_H

#include <libpq-fe.h>

#include "config.h"
#include "notify_send.h"
#include "notify_mail.h"


typedef struct {
    tt_notify_channel_t  channel;
    const char          *portal_url;     /* ends with "/" */
    int                  batch;
    int                  lease_s;
    int                  max_attempts;
    int                  backoff_base_s;
    int                  backoff_cap_s;
    int                  pause_after;
    int                  record_delay_ms;  /* fault injection (tests) */
    const char          *now;     /* the digests' clock; NULL: now() */
    char                 portal_buf[512];
    /* called after each attempt (the command prints it), may be NULL */
    void               (*log)(long long id, const char *channel,
                              const char *address,
                              const tt_notify_outcome_t *out);
} tt_notify_cfg_t;


/*
 * Claims up to cfg->batch due notifications and delivers them, counting
 * into *sent and *failed.  Returns how many it claimed (0: nothing due),
 * or -1 with err on a database error.
 */
int tt_notify_pass(PGconn *conn, tt_notify_cfg_t *cfg, int *sent,
    int *failed, char *err, size_t errlen);

/*
 * For `run --notify`: the sender's settings from the worker's (the
 * defaults of `notify run` otherwise; attempts are logged), and one pass
 * that logs its own errors.  Returns what tt_notify_pass() does.
 */
void tt_notify_cfg_from(tt_notify_cfg_t *n, const tt_config_t *cfg);
int tt_notify_idle(PGconn *conn, tt_notify_cfg_t *n);

#endif /* TT_NOTIFY_RUN_H */
