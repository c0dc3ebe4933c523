/*
 * enrich: what the webhook body leaves out, from the TrackTik API, with a
 * cache in memory and in the reference tables (tracktik_accounts in
 * sql/migrations/006, tracktik_positions in 005), each entry trusted for
 * TT_ENRICH_TTL seconds.
 *
 * For every report with a site (account): the site's name, type, parent
 * client and time zone, the parent client's, and the post's name and
 * contract.  The ledger's client is the site's parent client when the body
 * names none (a report's `account` is the site; TrackTik's /accounts
 * shape calls a site type CLIENT, subType SITE), or the account itself
 * when it is a client; the site's time zone is used when neither the
 * report nor the body's site has one.
 *
 * Active only when a TrackTik session exists (`auth login`); checked again
 * every minute, so logging in later enables it without a restart.
 */

#ifndef TT_ENRICH_H
#define TT_ENRICH_H

#include <stddef.h>

#include "api.h"
#include "config.h"
#include "lookup.h"
#include "parse.h"


#define TT_ENRICH_TTL  3600


typedef struct tt_enrich_s  tt_enrich_t;


/* never fails: without memory or a session it just stays inactive */
tt_enrich_t *tt_enrich_new(const tt_config_t *cfg);
void tt_enrich_free(tt_enrich_t *e);

/*
 * Fills the reports in place.  0: done (or nothing to do); -1 with err
 * when a report needs its client from TrackTik and the API cannot answer
 * now: the job should be retried later, not recorded without its client.
 */
int tt_enrich_reports(tt_enrich_t *e, tt_payload_t *p,
    const char *default_time_zone, char *err, size_t errlen);

/* a post (position) as billing needs it */
typedef struct {
    long long    contract;          /* 0: none (non billable) */
    long         status;            /* TT_ENRICH_REFUSED: TrackTik's */
    tt_api_rc_e  api_rc;            /* TT_ENRICH_FAILED: the client's */
} tt_enrich_post_t;

#define TT_ENRICH_REFUSED  1        /* TrackTik answered status */
#define TT_ENRICH_FAILED   2        /* the API or the database failed */

/*
 * Posts for tt_lookup_get() (lookup.h; its ctx is the tt_api_t whose
 * connection stores them): tracktik_positions, else GET
 * /rest/v1/positions/{id} stored there.  Billing sync uses it too.
 */
extern const tt_lookup_kind_t  tt_enrich_posts;

/* API calls made and cache hits, for the log */
/*
 * The posts left alone: only the site, client and time zone are looked
 * up (a pull's audit reads a page before the pull stores the posts the
 * page includes, and compares no contract).
 */
void tt_enrich_no_posts(tt_enrich_t *e);

void tt_enrich_counts(const tt_enrich_t *e, long long *calls,
    long long *hits);

#endif /* TT_ENRICH_H */
