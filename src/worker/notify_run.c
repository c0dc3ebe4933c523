/*
 * notify_run: one sending pass: claim due notifications (SKIP LOCKED, so
 * any number of senders share the queue), send each, record the attempt
 * (notify_record() decides sent, retry after backoff, or dead, and
 * pauses a recipient that keeps failing).
 *
 * Exactly once, and its floor with SMTP: a sender killed after the relay
 * accepted a mail but before notify_record() committed leaves the claim
 * to run out, and the next sender sends it again (with the same
 * Message-ID, so a mail client can drop the copy).  SMTP has no way to
 * ask a relay whether it already took a message, so one duplicate per
 * such crash is the least any SMTP sender can promise.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "notify_run.h"


static void tt_notify_one(tt_notify_cfg_t *cfg, const tt_notify_note_t *note,
    tt_notify_outcome_t *out);
static size_t tt_notify_split(char *list, char **items, size_t max);
static void tt_notify_log(long long id, const char *channel,
    const char *address, const tt_notify_outcome_t *out);


int
tt_notify_pass(PGconn *conn, tt_notify_cfg_t *cfg, int *sent,
    int *failed, char *err, size_t errlen)
{
    int                  i, n;
    char                 limit[16], lease[16], max[16], base[16], cap[16];
    char                 pause[16], ms[16];
    const char          *params[9];
    PGresult            *res, *rec;
    tt_notify_note_t     note;
    tt_notify_outcome_t  out;
    struct timespec      nap;

    /* the digests whose period ended are queued like any notification */
    params[0] = cfg->now;
    res = PQexecParams(conn, "SELECT notify_digests_make(coalesce("
                       "$1::timestamptz, now()))", 1, NULL, params, NULL,
                       NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "making digests failed: %s",
                 PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
        PQclear(res);
        return -1;
    }

    PQclear(res);

    snprintf(limit, sizeof(limit), "%d", cfg->batch);
    snprintf(lease, sizeof(lease), "%d", cfg->lease_s);
    params[0] = limit;
    params[1] = lease;

    res = PQexecParams(conn, "SELECT id, channel, address, announce, "
                       "report_id, attempts, item, secrets, unsubscribe "
                       "FROM notify_claim($1::integer, $2::integer)", 2,
                       NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "claiming notifications failed: %s",
                 PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
        PQclear(res);
        return -1;
    }

    n = PQntuples(res);

    for (i = 0; i < n; i++) {
        note.id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        note.channel = PQgetvalue(res, i, 1);
        note.address = PQgetvalue(res, i, 2);
        note.announce = PQgetvalue(res, i, 3);
        note.report_id = strtoll(PQgetvalue(res, i, 4), NULL, 10);
        note.attempt = atoi(PQgetvalue(res, i, 5));
        note.item = PQgetvalue(res, i, 6);
        note.secrets = PQgetvalue(res, i, 7);
        note.unsubscribe = PQgetvalue(res, i, 8);

        tt_notify_one(cfg, &note, &out);

        if (cfg->record_delay_ms > 0) {
            nap.tv_sec = cfg->record_delay_ms / 1000;
            nap.tv_nsec = (long) (cfg->record_delay_ms % 1000) * 1000000;
            nanosleep(&nap, NULL);
        }

        snprintf(max, sizeof(max), "%d", cfg->max_attempts);
        snprintf(base, sizeof(base), "%d", cfg->backoff_base_s);
        snprintf(cap, sizeof(cap), "%d", cfg->backoff_cap_s);
        snprintf(pause, sizeof(pause), "%d", cfg->pause_after);
        snprintf(ms, sizeof(ms), "%d", out.duration_ms);

        params[0] = PQgetvalue(res, i, 0);
        params[1] = out.ok ? "true" : "false";
        params[2] = out.status;
        params[3] = out.detail;
        params[4] = ms;
        params[5] = max;
        params[6] = base;
        params[7] = cap;
        params[8] = pause;

        rec = PQexecParams(conn, "SELECT notify_record($1::bigint, "
                           "$2::boolean, $3, $4, $5::integer, $6::integer, "
                           "$7::float8, $8::float8, $9::integer)", 9, NULL,
                           params, NULL, NULL, 0);

        if (PQresultStatus(rec) != PGRES_TUPLES_OK) {
            snprintf(err, errlen, "recording notification %lld failed: %s",
                     note.id,
                     PQresultErrorField(rec, PG_DIAG_MESSAGE_PRIMARY));
            PQclear(rec);
            PQclear(res);
            return -1;
        }

        PQclear(rec);

        if (out.ok) {
            (*sent)++;
        } else {
            (*failed)++;
        }

        if (cfg->log != NULL) {
            cfg->log(note.id, note.channel, note.address, &out);
        }
    }

    PQclear(res);

    return n;
}


void
tt_notify_cfg_from(tt_notify_cfg_t *n, const tt_config_t *cfg)
{
    size_t       len;
    const char  *url;

    memset(n, 0, sizeof(*n));

    url = cfg->portal_url != NULL ? cfg->portal_url : "http://localhost/";
    len = strlen(url);
    snprintf(n->portal_buf, sizeof(n->portal_buf), "%s%s", url,
             len > 0 && url[len - 1] == '/' ? "" : "/");

    n->channel.smtp_url = cfg->smtp_url;
    n->channel.smtp_from = cfg->smtp_from;
    n->channel.timeout_s = 30;
    n->portal_url = n->portal_buf;
    n->batch = 20;
    n->lease_s = 300;
    n->max_attempts = 8;
    n->backoff_base_s = 30;
    n->backoff_cap_s = 3600;
    n->pause_after = 20;
    n->log = tt_notify_log;
}


int
tt_notify_idle(PGconn *conn, tt_notify_cfg_t *n)
{
    int   claimed, sent, failed;
    char  err[512], msg[600];

    sent = 0;
    failed = 0;

    claimed = tt_notify_pass(conn, n, &sent, &failed, err, sizeof(err));
    if (claimed < 0) {
        tt_log(TT_LOG_ERROR, "event=notify_failed error=%s",
               tt_log_quote(err, msg, sizeof(msg)));
    }

    return claimed;
}


static void
tt_notify_log(long long id, const char *channel, const char *address,
    const tt_notify_outcome_t *out)
{
    char  a[300], d[300];

    tt_log(out->ok ? TT_LOG_INFO : TT_LOG_WARN, "event=notification id=%lld "
           "channel=%s recipient=%s ok=%d status=%s detail=%s", id, channel,
           tt_log_quote(address, a, sizeof(a)), out->ok, out->status,
           tt_log_quote(out->detail, d, sizeof(d)));
}


static void
tt_notify_one(tt_notify_cfg_t *cfg, const tt_notify_note_t *note,
    tt_notify_outcome_t *out)
{
    char    *msg, err[256], id[32], *secrets[8], list[2048];
    size_t   n;

    memset(out, 0, sizeof(*out));

    if (strcmp(note->channel, "webhook") == 0) {
        snprintf(list, sizeof(list), "%s", note->secrets);
        n = tt_notify_split(list, secrets, 8);

        if (n == 0) {
            snprintf(out->status, sizeof(out->status), "error");
            snprintf(out->detail, sizeof(out->detail), "the endpoint has "
                     "no secret: load its rule file again");
            return;
        }

        msg = tt_notify_webhook_body(note);
        if (msg == NULL) {
            snprintf(out->status, sizeof(out->status), "error");
            snprintf(out->detail, sizeof(out->detail), "out of memory");
            return;
        }

        /* the same webhook-id for every attempt: receivers deduplicate */
        snprintf(id, sizeof(id), "msg_tracktik_%lld", note->id);
        tt_notify_webhook_send(&cfg->channel, note->address, id, msg,
                               secrets, n, out);
        memset(list, 0, sizeof(list));
        free(msg);
        return;
    }

    if (cfg->channel.smtp_url == NULL || cfg->channel.smtp_from == NULL) {
        snprintf(out->status, sizeof(out->status), "error");
        snprintf(out->detail, sizeof(out->detail), "no SMTP relay: set "
                 "--smtp-url and --smtp-from");
        return;
    }

    msg = tt_notify_mail(note, cfg->channel.smtp_from, cfg->portal_url, err,
                         sizeof(err));
    if (msg == NULL) {
        snprintf(out->status, sizeof(out->status), "error");
        snprintf(out->detail, sizeof(out->detail), "%s", err);
        return;
    }

    tt_notify_smtp_send(&cfg->channel, note->address, msg, out);
    free(msg);
}


/* a text[] as PostgreSQL prints it, "{a,b}" (elements need no quoting:
 * secrets are "whsec_" and base64) */
static size_t
tt_notify_split(char *list, char **items, size_t max)
{
    char    *p, *save;
    size_t   n;

    n = 0;

    if (list[0] != '{') {
        return 0;
    }

    list[strcspn(list, "}")] = '\0';

    for (p = strtok_r(list + 1, ",", &save); p != NULL && n < max;
         p = strtok_r(NULL, ",", &save))
    {
        items[n++] = p;
    }

    return n;
}
