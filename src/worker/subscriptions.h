/*
 * subscriptions: the tenant's Events Subscriptions (TrackTik -> nginx
 * webhooks), through the REST API: create (EventsSubscriptionsPost, with
 * every field TrackTik requires), list, and the suspend / enable /
 * archive actions.  A library: it prints nothing; the secret it is given
 * goes into the request body only, never into a log line or an error.
 */

#ifndef TT_SUBSCRIPTIONS_H
#define TT_SUBSCRIPTIONS_H

#include <stddef.h>

#include "api.h"


typedef struct {
    const char  *custom_id;     /* required by TrackTik */
    const char  *name;          /* required */
    const char  *events;        /* required: "entity:reports:created,..." */
    const char  *url;           /* required: where TrackTik posts */
    const char  *header;        /* required: secretHeaderName */
    const char  *secret;        /* required: the HMAC key */
    const char  *include;       /* entityResponse.include, "a,b"; "": none */
    const char  *regions;       /* contextFilters: region ids "3,5";
                                   NULL: TrackTik's default */
    const char  *failure_email; /* NULL: none */
} tt_subscription_t;


typedef struct {
    char  *id;
    char  *custom_id;
    char  *name;
    char  *events;              /* comma separated */
    char  *url;
    char  *last_triggered_on;   /* "" when never */
} tt_subscription_row_t;


typedef enum {
    TT_SUB_OK = 0,
    TT_SUB_REFUSED,             /* TrackTik answered no: nothing stored */
    TT_SUB_UNKNOWN,             /* the answer was lost: it may be stored */
    TT_SUB_ERROR                /* nothing was sent, or no answer to a read */
} tt_sub_rc_e;


/* the EventsSubscriptionsPost JSON (malloc()ed; NULL: out of memory) */
char *tt_subscription_body(const tt_subscription_t *s);

/* POST /rest/v1/events-subscriptions; *id: the new one's */
tt_sub_rc_e tt_subscription_create(tt_api_t *api, const tt_subscription_t *s,
    long long *id, char *err, size_t errlen);

/* POST .../events-subscriptions/ID/actions/ACTION (suspend needs reason) */
tt_sub_rc_e tt_subscription_action(tt_api_t *api, const char *id,
    const char *action, const char *reason, char *err, size_t errlen);

/* every subscription, by id; free with tt_subscription_rows_free() */
tt_sub_rc_e tt_subscription_list(tt_api_t *api, tt_subscription_row_t **rows,
    size_t *n, char *err, size_t errlen);

void tt_subscription_rows_free(tt_subscription_row_t *rows, size_t n);

#endif /* TT_SUBSCRIPTIONS_H */
