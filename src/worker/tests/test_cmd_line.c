/*
 * worker_cmd_line: the command line against a command table: global
 * options anywhere, only a command's own options, values checked and
 * defaults applied, operands after the command words, usage errors 2.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cmd.h"


typedef struct {
    const char  *name;
    int          flag;
    int          count;
} test_opts_t;


static int
test_main(tt_cmd_args_t *args)
{
    (void) args;
    return 0;
}


static const tt_option_t  test_add_options[] = {
    { "name", "NAME", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(test_opts_t, name), 0, 0, NULL, NULL, "none", "a name" },
    { "flag", NULL, TT_OPT_FLAG, TT_IN_COMMAND,
      offsetof(test_opts_t, flag), 0, 0, NULL, NULL, NULL, "a flag" },
    { "count", "N", TT_OPT_INT, TT_IN_COMMAND,
      offsetof(test_opts_t, count), 1, 9, NULL, NULL, "3", "a count" },
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};


static const tt_option_t  test_run_options[] = {
    { "zone", "ZONE", TT_OPT_TEXT, TT_IN_CONFIG,
      offsetof(tt_config_t, default_time_zone), 0, 0, tt_cmd_check_zone,
      NULL, "UTC", "a zone" },
    { "dir", "DIR", TT_OPT_TEXT_OR_OFF, TT_IN_CONFIG,
      offsetof(tt_config_t, attachment_dir), 0, 0, NULL, NULL, NULL,
      "a directory" },
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};


static const tt_command_t  test_table[] = {
    { "run", "", "runs", 0, 0, test_run_options, 0, TT_GROUP_API, 0,
      test_main },
    { "things add", "WHAT [MORE]", "adds", 1, 2, test_add_options,
      sizeof(test_opts_t), 0, 0, test_main },
    { "things check", "FILE", "checks", 1, 1, NULL, 0, 0, TT_CMD_NO_DB,
      test_main },
    { "things rules load", "FILE", "loads", 1, 1, NULL, 0, 0, 0,
      test_main },
    { NULL, NULL, NULL, 0, 0, NULL, 0, 0, 0, NULL }
};


/* what successful parses allocated, freed when the group ends */
static void    *test_parsed[256];
static size_t   test_nparsed;


static int
test_free_parsed(void **state)
{
    (void) state;

    while (test_nparsed > 0) {
        free(test_parsed[--test_nparsed]);
    }

    return 0;
}


/* parses a NULL-terminated list of words after the program name */
static int
parse(tt_cmd_args_t *args, const tt_command_t **cmd, ...)
{
    int          rc;
    int          argc;
    char        *argv[32];
    va_list      ap;
    const char  *a;

    argc = 0;
    argv[argc++] = "tracktik-worker";

    va_start(ap, cmd);
    while ((a = va_arg(ap, const char *)) != NULL) {
        argv[argc++] = (char *) a;
    }
    va_end(ap);
    argv[argc] = NULL;

    *cmd = NULL;
    memset(args, 0, sizeof(*args));

    rc = tt_cmd_parse(test_table, argc, argv, cmd, args);

    if (rc == -1 && test_nparsed + 3 <= 256) {
        test_parsed[test_nparsed++] = args->opts;
        test_parsed[test_nparsed++] = args->argv;
        test_parsed[test_nparsed++] = args->dsn_line;
    }

    return rc;
}


static void
test_global_options_anywhere(void **state)
{
    tt_cmd_args_t        a, b, c;
    const tt_command_t  *cmd;

    (void) state;

    assert_int_equal(parse(&a, &cmd, "--dsn", "db=1", "things", "add", "x",
                           NULL), -1);
    assert_string_equal(cmd->name, "things add");
    assert_string_equal(a.cfg.dsn, "db=1");

    assert_int_equal(parse(&b, &cmd, "things", "--dsn", "db=2", "add", "x",
                           NULL), -1);
    assert_string_equal(cmd->name, "things add");
    assert_string_equal(b.cfg.dsn, "db=2");
    assert_int_equal(b.argc, 1);
    assert_string_equal(b.argv[0], "x");

    assert_int_equal(parse(&c, &cmd, "things", "add", "x", "--dsn=db=3",
                           NULL), -1);
    assert_string_equal(c.cfg.dsn, "db=3");
}


static void
test_own_options_defaults_and_operands(void **state)
{
    test_opts_t         *o;
    tt_cmd_args_t        a;
    const tt_command_t  *cmd;

    (void) state;

    assert_int_equal(parse(&a, &cmd, "things", "add", "x", "--dsn", "d",
                           NULL), -1);
    o = a.opts;
    assert_string_equal(o->name, "none");
    assert_int_equal(o->count, 3);
    assert_int_equal(o->flag, 0);

    assert_int_equal(parse(&a, &cmd, "things", "add", "--count", "9", "x",
                           "y", "--flag", "--name", "n", "--dsn", "d",
                           NULL), -1);
    o = a.opts;
    assert_string_equal(o->name, "n");
    assert_int_equal(o->count, 9);
    assert_int_equal(o->flag, 1);
    assert_int_equal(a.argc, 2);
    assert_string_equal(a.argv[1], "y");

    /* after "--" a word that looks like an option is an operand */
    assert_int_equal(parse(&a, &cmd, "things", "add", "--dsn", "d", "--",
                           "--flag", NULL), -1);
    assert_int_equal(a.argc, 1);
    assert_string_equal(a.argv[0], "--flag");
}


static void
test_usage_errors_exit_2(void **state)
{
    tt_cmd_args_t        a;
    const tt_command_t  *cmd;

    (void) state;

    /* another command's option, an unknown one, a bad value */
    assert_int_equal(parse(&a, &cmd, "run", "--count", "3", "--dsn", "d",
                           NULL), TT_EXIT_USAGE);
    assert_int_equal(parse(&a, &cmd, "things", "add", "x", "--zone", "UTC",
                           "--dsn", "d", NULL), TT_EXIT_USAGE);
    assert_int_equal(parse(&a, &cmd, "run", "--nope", "--dsn", "d", NULL),
                     TT_EXIT_USAGE);
    assert_int_equal(parse(&a, &cmd, "things", "add", "x", "--count", "10",
                           "--dsn", "d", NULL), TT_EXIT_USAGE);
    assert_int_equal(parse(&a, &cmd, "things", "add", "x", "--count", "",
                           "--dsn", "d", NULL), TT_EXIT_USAGE);
    assert_int_equal(parse(&a, &cmd, "run", "--zone", "Mars/Olympus",
                           "--dsn", "d", NULL), TT_EXIT_USAGE);
    assert_int_equal(parse(&a, &cmd, "run", "--zone", "", "--dsn", "d",
                           NULL), TT_EXIT_USAGE);
    assert_int_equal(parse(&a, &cmd, "run", "--flag=1", "--dsn", "d", NULL),
                     TT_EXIT_USAGE);
    assert_int_equal(parse(&a, &cmd, "things", "add", "x", "--name", NULL),
                     TT_EXIT_USAGE);

    /* operands: too few, too many */
    assert_int_equal(parse(&a, &cmd, "things", "add", "--dsn", "d", NULL),
                     TT_EXIT_USAGE);
    assert_int_equal(parse(&a, &cmd, "things", "add", "1", "2", "3",
                           "--dsn", "d", NULL), TT_EXIT_USAGE);

    /* unknown commands, with or without a database */
    assert_int_equal(parse(&a, &cmd, "bogus", NULL), TT_EXIT_USAGE);
    assert_int_equal(parse(&a, &cmd, "things", NULL), TT_EXIT_USAGE);
    assert_int_equal(parse(&a, &cmd, "things", "frob", NULL),
                     TT_EXIT_USAGE);
    assert_int_equal(parse(&a, &cmd, NULL), TT_EXIT_USAGE);
}


static void
test_database_only_when_needed(void **state)
{
    tt_cmd_args_t        a;
    const tt_command_t  *cmd;

    (void) state;

    unsetenv("TRACKTIK_DSN");

    assert_int_equal(parse(&a, &cmd, "things", "add", "x", NULL),
                     TT_EXIT_USAGE);
    assert_int_equal(parse(&a, &cmd, "things", "check", "f", NULL), -1);

    setenv("TRACKTIK_DSN", "from=env", 1);
    assert_int_equal(parse(&a, &cmd, "things", "add", "x", NULL), -1);
    assert_string_equal(a.cfg.dsn, "from=env");
    assert_int_equal(parse(&a, &cmd, "things", "add", "x", "--dsn", "d",
                           NULL), -1);
    assert_string_equal(a.cfg.dsn, "d");
    unsetenv("TRACKTIK_DSN");
}


static void
test_values_stored_where_they_belong(void **state)
{
    tt_cmd_args_t        a;
    const tt_command_t  *cmd;

    (void) state;

    assert_int_equal(parse(&a, &cmd, "run", "--dsn", "d", NULL), -1);
    assert_string_equal(a.cfg.default_time_zone, "UTC");
    assert_null(a.cfg.attachment_dir);

    assert_int_equal(parse(&a, &cmd, "run", "--zone", "Europe/Paris",
                           "--dir", "/tmp", "--api-rate", "60", "--dsn",
                           "d", NULL), -1);
    assert_string_equal(a.cfg.default_time_zone, "Europe/Paris");
    assert_string_equal(a.cfg.attachment_dir, "/tmp");
    assert_int_equal(a.cfg.api_per_minute, 60);

    /* "" switches a TEXT_OR_OFF option off */
    assert_int_equal(parse(&a, &cmd, "run", "--dir", "", "--dsn", "d",
                           NULL), -1);
    assert_null(a.cfg.attachment_dir);
}


static void
test_help_and_version_exit_0(void **state)
{
    tt_cmd_args_t        a;
    const tt_command_t  *cmd;

    (void) state;

    /* the text itself is t/worker/cli_options.t's business */
    assert_int_equal(parse(&a, &cmd, "--help", NULL), 0);
    assert_int_equal(parse(&a, &cmd, "things", "add", "--help", NULL), 0);
    assert_int_equal(parse(&a, &cmd, "help", NULL), 0);
    assert_int_equal(parse(&a, &cmd, "run", "--nope", "--version", NULL), 0);
    assert_null(cmd);
}


static void
test_day_and_id_checks(void **state)
{
    char  err[256];

    (void) state;

    assert_int_equal(tt_cmd_check_day("2026-03-01", err, sizeof(err)), 0);
    assert_int_equal(tt_cmd_check_day("2024-02-29", err, sizeof(err)), 0);
    assert_int_equal(tt_cmd_check_day("2000-02-29", err, sizeof(err)), 0);
    assert_int_equal(tt_cmd_check_day("2026-12-31", err, sizeof(err)), 0);

    assert_int_equal(tt_cmd_check_day("2026-02-29", err, sizeof(err)), -1);
    assert_string_equal(err, "\"2026-02-29\" is not a date (YYYY-MM-DD, "
                        "like 2026-03-01)");
    assert_int_equal(tt_cmd_check_day("1900-02-29", err, sizeof(err)), -1);
    assert_int_equal(tt_cmd_check_day("2026-04-31", err, sizeof(err)), -1);
    assert_int_equal(tt_cmd_check_day("2026-13-01", err, sizeof(err)), -1);
    assert_int_equal(tt_cmd_check_day("2026-00-10", err, sizeof(err)), -1);
    assert_int_equal(tt_cmd_check_day("2026-3-1", err, sizeof(err)), -1);
    assert_int_equal(tt_cmd_check_day("2026-03-01T00:00", err,
                                      sizeof(err)), -1);
    assert_int_equal(tt_cmd_check_day("20260301xx", err, sizeof(err)), -1);
    assert_int_equal(tt_cmd_check_day("", err, sizeof(err)), -1);

    assert_int_equal(tt_cmd_check_id("1", err, sizeof(err)), 0);
    assert_int_equal(tt_cmd_check_id("9223372036854775807", err,
                                     sizeof(err)), 0);
    assert_int_equal(tt_cmd_check_id("0", err, sizeof(err)), -1);
    assert_string_equal(err, "\"0\" is not an id (a positive integer)");
    assert_int_equal(tt_cmd_check_id("-5", err, sizeof(err)), -1);
    assert_int_equal(tt_cmd_check_id("+5", err, sizeof(err)), -1);
    assert_int_equal(tt_cmd_check_id(" 5", err, sizeof(err)), -1);
    assert_int_equal(tt_cmd_check_id("\t5", err, sizeof(err)), -1);
    assert_int_equal(tt_cmd_check_id("5x", err, sizeof(err)), -1);
    assert_int_equal(tt_cmd_check_id("9223372036854775808", err,
                                     sizeof(err)), -1);
    assert_int_equal(tt_cmd_check_id("", err, sizeof(err)), -1);
}


/* "notify rules load FILE": three command words, then the operand */
static void
test_three_words(void **state)
{
    tt_cmd_args_t        a;
    const tt_command_t  *cmd;

    (void) state;

    assert_int_equal(parse(&a, &cmd, "things", "rules", "load", "f.json",
                           "--dsn", "db=1", NULL), -1);
    assert_string_equal(cmd->name, "things rules load");
    assert_int_equal(a.argc, 1);
    assert_string_equal(a.argv[0], "f.json");

    assert_int_equal(parse(&a, &cmd, "things", "rules", "frob", "f.json",
                           NULL), TT_EXIT_USAGE);
    assert_int_equal(parse(&a, &cmd, "things", "check", "rules", NULL), -1);
    assert_string_equal(cmd->name, "things check");
    assert_string_equal(a.argv[0], "rules");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_global_options_anywhere),
        cmocka_unit_test(test_own_options_defaults_and_operands),
        cmocka_unit_test(test_usage_errors_exit_2),
        cmocka_unit_test(test_database_only_when_needed),
        cmocka_unit_test(test_values_stored_where_they_belong),
        cmocka_unit_test(test_help_and_version_exit_0),
        cmocka_unit_test(test_day_and_id_checks),
        cmocka_unit_test(test_three_words),
    };

    return cmocka_run_group_tests(tests, NULL, test_free_parsed);
}
