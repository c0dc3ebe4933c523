/*
 * notify_mail: the mail (headers, plain text and HTML parts) and the
 * webhook body of one claimed notification.
 */

#ifndef TT_NOTIFY_MAIL_H
#define TT_NOTIFY_MAIL_H

#include <stddef.h>


/* one claimed notification (notify_claim(), sql/functions/notify.sql) */
typedef struct {
    long long    id;
    const char  *channel;       /* "email" or "webhook" */
    const char  *address;
    const char  *announce;      /* "new", "severity_raised:HIGH" */
    long long    report_id;
    int          attempt;
    const char  *item;          /* JSON: only what a client may see */
    const char  *secrets;       /* "{whsec_a,whsec_b}" */
    const char  *unsubscribe;   /* signed token */
} tt_notify_note_t;


/* the whole message, CRLF lines, malloc()ed; NULL with err */
char *tt_notify_mail(const tt_notify_note_t *note, const char *from,
    const char *portal_url, char *err, size_t errlen);

/* {"type":"incident.new"|"incident.severity_raised","announce",
 * "timestamp","data":item}, malloc()ed; NULL when out of memory */
char *tt_notify_webhook_body(const tt_notify_note_t *note);

#endif /* TT_NOTIFY_MAIL_H */
