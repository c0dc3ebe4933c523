/*
 * ratelimit: the request budget all worker processes and hosts share, a
 * token bucket row per tenant in PostgreSQL (tracktik_api_take() in
 * sql/functions/api.sql), plus the "not before" time a 429's Retry-After
 * sets for all.
 */

#ifndef TT_RATELIMIT_H
#define TT_RATELIMIT_H

#include "api.h"


/* waits until the budget grants one request (TT_API_OK), or the process
 * is told to stop (TT_API_RETRY), or the database fails (TT_API_ERROR) */
tt_api_rc_e tt_ratelimit_take(tt_api_t *api, char *err, size_t errlen);

/* every worker waits seconds before its next request to this tenant */
void tt_ratelimit_defer(tt_api_t *api, double seconds);

#endif /* TT_RATELIMIT_H */
