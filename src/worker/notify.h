/*
 * notify: stakeholder notifications (issue 12).  A rule file (format in
 * doc/notifications.md, "Rule files"; conf/notify.example.json) names its
 * recipients and the rules that tell them; it is validated here and
 * stored as a new version (sql/functions/notify.sql matches it against
 * every ledger version in the inserting transaction).
 */

#ifndef TT_NOTIFY_H
#define TT_NOTIFY_H

#include <stddef.h>
#include <libpq-fe.h>
#include <yajl/yajl_tree.h>


typedef struct {
    yajl_val   tree;
    size_t     nrules;
    size_t     nrecipients;
    char      *secrets_json;    /* {"recipient": ["whsec_...", ...]} */
} tt_notify_rules_t;


/*
 * Validates a rule document (json NUL terminated); a webhook's
 * secret_file is read relative to dir.  Errors name the rule or the
 * recipient and the field: 'rule "x" (rules[0]): notify: "ops" is not a
 * recipient'.  The caller frees nr either way.
 */
int tt_notify_rules_parse(const char *json, size_t len, const char *dir,
    tt_notify_rules_t *nr, char *err, size_t errlen);

/* the file read and validated: 0 with *text (malloc()ed); -1 with err
 * "FILE: what is wrong" */
int tt_notify_rules_read(const char *file, char **text,
    tt_notify_rules_t *nr, char *err, size_t errlen);

void tt_notify_rules_free(tt_notify_rules_t *nr);

/* stores a validated document as a new version; -1 with err */
int tt_notify_rules_store(PGconn *conn, const char *file, const char *text,
    const tt_notify_rules_t *nr, int *version, char *err, size_t errlen);

/*
 * The "recipients" object (notify_recipients.c): every recipient checked,
 * each webhook's secret_file (relative to dir) read into *secrets_json,
 * {"recipient": ["whsec_...", ...]} (malloc()ed).  -1 with err naming the
 * recipient and the field.
 */
int tt_notify_recipients_parse(yajl_val recipients, const char *dir,
    char **secrets_json, char *err, size_t errlen);

/* 1 when s is an address a mail can go to (local@domain.tld, nothing a
 * header could be split on) */
int tt_notify_email_valid(const char *s);

#endif /* TT_NOTIFY_H */
