/*
 * jobs: the operator's view of the queue: `jobs list` and `jobs retry`.
 */

#ifndef TT_JOBS_H
#define TT_JOBS_H

#include "config.h"


/* `jobs list [--state S] [--limit N]` */
int tt_jobs_list(const tt_config_t *cfg, const char *state, int limit);

/* `jobs retry ID` (id != NULL) or `jobs retry --dead` */
int tt_jobs_retry(const tt_config_t *cfg, const char *id);

#endif /* TT_JOBS_H */
