/*
 * cmd_usage: the usage text (cmd_usage.c), printed by the command line
 * parser (cmd_line.c) from the tables it reads: the commands, the global
 * options and the TrackTik API group's options.
 */

#ifndef TT_CMD_USAGE_H
#define TT_CMD_USAGE_H

#include <stdio.h>

#include "cmd.h"


/* every command, its options, the global and the API options */
void tt_cmd_usage(FILE *f, const tt_command_t *table,
    const tt_option_t *global, const tt_option_t *api);

/* one command: its line, its options, the API ones if it takes them,
 * the global ones */
void tt_cmd_usage_of(FILE *f, const tt_command_t *cmd,
    const tt_option_t *global, const tt_option_t *api);

#endif /* TT_CMD_USAGE_H */
