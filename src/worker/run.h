/*
 * run: the daemon: `run [--drain] [--concurrency N] [--poll-only]`.
 */

#ifndef TT_RUN_H
#define TT_RUN_H

#include "config.h"


/* returns the process exit status */
int tt_run(const tt_config_t *cfg);

#endif /* TT_RUN_H */
