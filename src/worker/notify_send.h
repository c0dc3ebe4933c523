/*
 * notify_send: the two channels, one delivery each, over libcurl.
 *
 *   email:   SMTP (smtp://, STARTTLS required unless the relay is on
 *            loopback; smtps:// is TLS from the start), AUTH from a file.
 *   webhook: POST signed per Standard Webhooks: webhook-id,
 *            webhook-timestamp, webhook-signature "v1,<base64 HMAC-SHA256
 *            of id.timestamp.body>" once per secret (rotation).
 *
 * The outcome is what the log shows: ok, status (SMTP reply code, HTTP
 * status, or "timeout", "connect", "error") and a detail line.
 */

#ifndef TT_NOTIFY_SEND_H
#define TT_NOTIFY_SEND_H

#include <stddef.h>


typedef struct {
    const char  *smtp_url;
    const char  *smtp_from;
    const char  *smtp_user;     /* NULL: no AUTH */
    const char  *smtp_password;
    long         timeout_s;
    void        *smtp_handle;   /* the CURL handle mails reuse (one
                                 * connection to the relay); NULL at first */
} tt_notify_channel_t;


typedef struct {
    int          ok;
    char         status[24];
    char         detail[256];
    int          duration_ms;
} tt_notify_outcome_t;


/* the message (headers and body, CRLF lines) to one address, over the
 * channel's connection to the relay (opened or reopened as needed) */
void tt_notify_smtp_send(tt_notify_channel_t *ch, const char *to,
    const char *message, tt_notify_outcome_t *out);

/* closes the relay connection */
void tt_notify_channel_close(tt_notify_channel_t *ch);

/*
 * POSTs body to url, signed with every secret ("whsec_..."); id is the
 * webhook-id, the same for every attempt of one notification.
 */
void tt_notify_webhook_send(const tt_notify_channel_t *ch, const char *url,
    const char *id, const char *body, char **secrets, size_t nsecrets,
    tt_notify_outcome_t *out);

/* "v1,<base64>" of one secret over id.timestamp.body; -1 on a bad
 * secret */
int tt_notify_webhook_signature(const char *secret, const char *id,
    long long timestamp, const char *body, char *sig, size_t siglen);

/* 1 when the URL's host is 127.0.0.0/8, ::1 or localhost */
int tt_notify_url_loopback(const char *url);

#endif /* TT_NOTIFY_SEND_H */
