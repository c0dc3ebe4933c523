/*
 * cmd_import: `import FILE.csv|FILE.xlsx [--mapping NAME] [--rejects
 * FILE] [--progress-interval SECONDS]`.  Progress goes to stderr (a bar
 * redrawn in place on a terminal, a plain line every --progress-interval
 * seconds otherwise), the summary to stdout.  Exit 0: every row
 * imported; 3: imported, but some rows were rejected (listed in the
 * rejects file); 1: nothing was written.
 */

#include <limits.h>
#include <libgen.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "import.h"


#define TT_IMPORT_EXIT_REJECTS  3


typedef struct {
    int        tty;
    double     every;           /* seconds between two lines or redraws */
    double     start;
    double     last;
} tt_cmd_progress_t;


static void tt_cmd_import_progress(void *ctx, long long rows,
    long long done, long long total, int read);
static double tt_cmd_now(void);


const tt_option_t  tt_cmd_import_options[] = {
    { "mapping", "NAME", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_import_cmd_opts_t, mapping), 0, 0, NULL, NULL, NULL,
      "the export's mapping (default: detected from the header row)" },
    { "mapping-dir", "DIR", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_import_cmd_opts_t, mapping_dir), 0, 0, NULL,
      "TRACKTIK_IMPORT_MAPPINGS", NULL,
      "where the mappings are (default: conf/import-mappings beside the "
      "build, else in the current directory)" },
    { "rejects", "FILE", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_import_cmd_opts_t, rejects), 0, 0, NULL, NULL, NULL,
      "write every rejected row's line number and reason to FILE" },
    { "progress-interval", "SECONDS", TT_OPT_INT, TT_IN_COMMAND,
      offsetof(tt_import_cmd_opts_t, progress_interval), 1, 3600, NULL,
      NULL, "5", "seconds between two progress lines when stderr is not a "
      "terminal (a log); on a terminal the bar is redrawn 5 times a "
      "second" },
    { "default-time-zone", "ZONE", TT_OPT_TEXT, TT_IN_CONFIG,
      offsetof(tt_config_t, default_time_zone), 0, 0, tt_cmd_check_zone,
      NULL, "UTC", "the zone of dates without an offset when a row names "
      "none" },
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};


int
tt_cmd_import(tt_cmd_args_t *args)
{
    int                    rc;
    char                   err[1024];
    FILE                  *rejects;
    PGconn                *conn;
    tt_import_opts_t       o;
    tt_cmd_progress_t      p;
    tt_import_summary_t    sum;
    tt_import_cmd_opts_t  *co;

    co = args->opts;

    memset(&o, 0, sizeof(o));
    o.file = args->argv[0];
    o.mapping = co->mapping;
    o.mapping_dir = co->mapping_dir != NULL ? co->mapping_dir
                                            : tt_cmd_default_mapping_dir();
    o.default_time_zone = args->cfg.default_time_zone;

    rejects = NULL;
    if (co->rejects != NULL) {
        rejects = fopen(co->rejects, "w");
        if (rejects == NULL) {
            tt_cmd_error("%s: cannot be written", co->rejects);
            return 1;
        }
        fprintf(rejects, "line\treason\n");
    }

    o.rejects = rejects;

    memset(&p, 0, sizeof(p));
    p.tty = isatty(STDERR_FILENO);
    p.every = p.tty ? 0.2 : co->progress_interval;
    p.start = tt_cmd_now();
    p.last = p.start;
    o.progress = tt_cmd_import_progress;
    o.progress_ctx = &p;

    conn = tt_cmd_connect(&args->cfg);
    if (conn == NULL) {
        if (rejects != NULL) {
            fclose(rejects);
        }
        return 1;
    }

    rc = tt_import_run(conn, &o, &sum, err, sizeof(err));
    PQfinish(conn);

    if (p.tty) {
        fputc('\n', stderr);
    }

    if (rejects != NULL && fclose(rejects) != 0 && rc == 0) {
        tt_cmd_error("%s: write error", co->rejects);
    }

    if (rc != 0) {
        tt_cmd_error("import: %s", err);
        return 1;
    }

    printf("%s (mapping %s): %lld rows: %lld new, %lld unchanged, "
           "%lld updated, %lld rejected; %lld formula cells kept as text; "
           "billing lines: %lld charged, %lld credited\n",
           o.file, sum.mapping, sum.rows, sum.rows_new, sum.rows_unchanged,
           sum.rows_updated, sum.rows_rejected, sum.formulas,
           sum.lines_charged, sum.lines_credited);

    if (sum.rows_rejected > 0) {
        tt_cmd_error("import: %lld rows rejected%s%s", sum.rows_rejected,
                     co->rejects != NULL ? ", listed in " : " (--rejects "
                     "FILE lists them)", co->rejects != NULL
                     ? co->rejects : "");
        return TT_IMPORT_EXIT_REJECTS;
    }

    return 0;
}


/* a bar on a terminal (5 times a second), else a line every
 * --progress-interval seconds; always the last one, when the file is read */
static void
tt_cmd_import_progress(void *ctx, long long rows, long long done,
    long long total, int read)
{
    int                 i, width;
    char                bar[41], eta[32];
    double              now, rate, frac;
    tt_cmd_progress_t  *p;

    p = ctx;
    now = tt_cmd_now();

    if (now - p->last < p->every && !read) {
        return;
    }

    p->last = now;
    rate = now > p->start ? rows / (now - p->start) : 0;
    frac = total > 0 ? (double) done / total : 0;

    if (frac > 0.001 && frac < 1) {
        snprintf(eta, sizeof(eta), "ETA %.0f s",
                 (now - p->start) * (1 - frac) / frac);
    } else {
        snprintf(eta, sizeof(eta), "ETA -");
    }

    if (!p->tty) {
        fprintf(stderr, "import: %lld rows, %.0f rows/s, %.0f%%, %s\n",
                rows, rate, frac * 100, eta);
        if (read) {
            fprintf(stderr, "import: merging into the ledger\n");
        }
        return;
    }

    width = (int) (frac * 40);
    for (i = 0; i < 40; i++) {
        bar[i] = i < width ? '#' : '.';
    }
    bar[40] = '\0';

    fprintf(stderr, "\r[%s] %3.0f%% %lld rows %.0f rows/s %s   ", bar,
            frac * 100, rows, rate, eta);

    if (read) {
        /* the file is read: the merge is one statement, without steps */
        fprintf(stderr, "\nimport: merging into the ledger ...");
    }
}


static double
tt_cmd_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


/* the installed mappings (`make install` builds with -DTT_MAPPING_DIR),
 * else conf/import-mappings of the repository the binary was built in
 * (build/tracktik-worker), else of the current directory */
const char *
tt_cmd_default_mapping_dir(void)
{
#ifdef TT_MAPPING_DIR
    return TT_MAPPING_DIR;
#else
    char         exe[PATH_MAX];
    ssize_t      n;
    static char  beside[PATH_MAX + 32];

    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) {
        return "conf/import-mappings";
    }

    exe[n] = '\0';
    snprintf(beside, sizeof(beside), "%s/../conf/import-mappings",
             dirname(exe));

    return access(beside, R_OK) == 0 ? beside : "conf/import-mappings";
#endif
}
