/*
 * cmd_usage: the usage text of the command line, generated from the
 * command table and the option tables (cmd.h): all commands (--help), or
 * one command with its options (COMMAND --help).
 */

#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "cmd_usage.h"


#define TT_CMD_COL    24        /* where help text starts */
#define TT_CMD_WIDTH  79


static void tt_cmd_usage_line(FILE *f, int indent, const tt_command_t *cmd);
static void tt_cmd_usage_options(FILE *f, const tt_option_t *opts);
static void tt_cmd_wrap(FILE *f, int col, const char *text);


void
tt_cmd_usage(FILE *f, const tt_command_t *table, const tt_option_t *global,
    const tt_option_t *api)
{
    const tt_command_t  *c;

    fputs("usage: tracktik-worker COMMAND [OPTIONS] [ARGUMENTS]\n"
          "       tracktik-worker COMMAND --help    that command alone\n"
          "\ncommands:\n", f);

    for (c = table; c->name != NULL; c++) {
        tt_cmd_usage_line(f, 2, c);
    }

    fputs("\nglobal options (before or after the command):\n", f);
    tt_cmd_usage_options(f, global);

    for (c = table; c->name != NULL; c++) {
        if (c->options != NULL) {
            fprintf(f, "\n%s options:\n", c->name);
            tt_cmd_usage_options(f, c->options);
        }
    }

    fputs("\nTrackTik API options (", f);
    for (c = table; c->name != NULL; c++) {
        if (c->groups & TT_GROUP_API) {
            fprintf(f, "%s%s", c == table ? "" : ", ", c->name);
        }
    }
    fputs("):\n", f);
    tt_cmd_usage_options(f, api);
}


void
tt_cmd_usage_of(FILE *f, const tt_command_t *cmd, const tt_option_t *global,
    const tt_option_t *api)
{
    fputs("usage: tracktik-worker", f);
    tt_cmd_usage_line(f, 1, cmd);

    if (cmd->options != NULL) {
        fputs("\noptions:\n", f);
        tt_cmd_usage_options(f, cmd->options);
    }

    if (cmd->groups & TT_GROUP_API) {
        fputs("\nTrackTik API options:\n", f);
        tt_cmd_usage_options(f, api);
    }

    fputs("\nglobal options:\n", f);
    tt_cmd_usage_options(f, global);
}


/* "  jobs list [--state S] [--limit N]" and the summary below it */
static void
tt_cmd_usage_line(FILE *f, int indent, const tt_command_t *cmd)
{
    int  n;

    n = fprintf(f, "%*s%s", indent, "", cmd->name);

    if (n + 1 + (int) strlen(cmd->synopsis) < TT_CMD_COL - 1) {
        n += fprintf(f, "%s%s", cmd->synopsis[0] ? " " : "", cmd->synopsis);
        fprintf(f, "%*s", TT_CMD_COL - n, "");

    } else {
        fputc(' ', f);
        tt_cmd_wrap(f, n + 1, cmd->synopsis);
        fprintf(f, "%*s", TT_CMD_COL, "");
    }

    tt_cmd_wrap(f, TT_CMD_COL, cmd->summary);
}


static void
tt_cmd_usage_options(FILE *f, const tt_option_t *o)
{
    int   n;
    char  help[1024];

    for ( /* void */ ; o->name != NULL; o++) {
        n = fprintf(f, "  --%s%s%s", o->name, o->arg ? " " : "",
                    o->arg ? o->arg : "");

        if (n >= TT_CMD_COL - 1) {
            fputc('\n', f);
            n = 0;
        }

        snprintf(help, sizeof(help), "$%s", o->env ? o->env : "");

        if (o->env != NULL && strstr(o->help, help) == NULL) {
            snprintf(help, sizeof(help), "%s (default: $%s)", o->help,
                     o->env);
        } else if (o->def != NULL) {
            snprintf(help, sizeof(help), "%s (default %s)", o->help,
                     o->def[0] ? o->def : "none");
        } else {
            snprintf(help, sizeof(help), "%s", o->help);
        }

        fprintf(f, "%*s", TT_CMD_COL - n, "");
        tt_cmd_wrap(f, TT_CMD_COL, help);
    }
}


/* text from column col (where the cursor is) to TT_CMD_WIDTH, then on
 * lines indented to col */
static void
tt_cmd_wrap(FILE *f, int col, const char *text)
{
    int          at;
    size_t       len;
    const char  *p;

    at = col;
    p = text;

    while (*p != '\0') {
        while (*p == ' ') {
            p++;
        }
        len = strcspn(p, " ");

        if (len == 0) {
            break;
        }

        if (at > col && at + 1 + (int) len > TT_CMD_WIDTH) {
            fprintf(f, "\n%*s", col, "");
            at = col;
        }

        if (at > col) {
            fputc(' ', f);
            at++;
        }

        fwrite(p, 1, len, f);
        at += (int) len;
        p += len;
    }

    fputc('\n', f);
}
