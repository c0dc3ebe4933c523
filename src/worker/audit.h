/*
 * audit: the ledger compared with a source of the same reports, TrackTik
 * itself (/rest/v1/reports, listed as a pull lists it) or an export
 * (CSV/XLSX, read by the importer's readers and mappings).  The source is
 * staged in a temporary table (COPY for a file, a page a statement for
 * the API) and compared with the ledger set-wise in the database
 * (sql/functions/audit.sql); only the reports the ledger holds unbilled
 * come back, to be tried against the contract rules here (rules.c, the
 * rules that bill a webhook's report).  Nothing is written: the
 * differences live in temporary tables until the caller ends the
 * transaction (after writing them out, or recording them).
 */

#ifndef TT_AUDIT_H
#define TT_AUDIT_H

#include <signal.h>
#include <stdio.h>
#include <libpq-fe.h>

#include "config.h"


/* the kinds of difference, in the order of the summary and the files */
#define TT_AUDIT_KINDS  5

extern const char  *tt_audit_kinds[TT_AUDIT_KINDS];


typedef struct {
    long long    from;          /* epoch seconds, UTC */
    long long    to;            /* inclusive (its last second) */
    const char  *file;          /* NULL: the API */
    const char  *mapping;       /* NULL: detected from the header */
    const char  *mapping_dir;
    const char  *default_time_zone;
    FILE        *rejects;       /* the file's bad rows; NULL */
    int          page_size;     /* the API's limit=; 0: the setting */
    int          skip_pending;  /* leave out reports whose pulled job is
                                   not recorded yet */
    long long    pull;          /* > 0: the source is what this pull
                                   listed (the schedule's audit) */
} tt_audit_spec_t;


typedef struct {
    long long    ledger_reports;    /* in the period, newest versions */
    long long    source_reports;
    long long    source_rejected;   /* file rows the importer refused */
    long long    pending;           /* skip_pending: left out */
    long long    counts[TT_AUDIT_KINDS];
    long long    differences;
    long long    requests;          /* API calls */
    long long    since;             /* the pull listed the reports updated
                                       since (epoch); 0: the whole period */
    char         mapping[128];      /* the file's mapping */
} tt_audit_result_t;


/*
 * Opens a transaction on conn, stages the source, compares, and leaves
 * the transaction open with tracktik_audit_diff filled (the caller
 * writes the files or records it, then ROLLBACK or COMMIT).  cfg: the
 * API settings and the DSN of the API's own connection (its request
 * budget is kept outside this transaction).  0, or -1 with err (the
 * transaction rolled back).
 */
int tt_audit_run(PGconn *conn, const tt_config_t *cfg,
    const tt_audit_spec_t *spec, volatile sig_atomic_t *stop,
    tt_audit_result_t *result, char *err, size_t errlen);

/*
 * audit.csv and audit.html in dir (audit_out.c), from the open
 * transaction of tt_audit_run(); title names the source.  -1 with err.
 */
int tt_audit_write(PGconn *conn, const char *dir, const char *title,
    const tt_audit_spec_t *spec, const tt_audit_result_t *result,
    char *err, size_t errlen);

/* the audit kept (tracktik_audit_runs); its id, or -1 with err */
long long tt_audit_record(PGconn *conn, long long pull_id,
    const tt_audit_spec_t *spec, const tt_audit_result_t *result,
    char *err, size_t errlen);

/*
 * The schedule's audit of a pull it ran: [from, to] compared with the
 * pages the pull listed (tt_audit_seen_page(), kept in the database by
 * the pull; no request is made), the reports whose jobs `run` has not
 * recorded yet left out, and the result recorded (tracktik_audit_runs)
 * in one transaction that also drops the kept pages; *result says what
 * was found.  The run's id, or -1 with err (also when the pull saw its
 * window only in part).
 */
long long tt_audit_scheduled(const tt_config_t *cfg, long long pull_id,
    long long from, long long to, volatile sig_atomic_t *stop,
    tt_audit_result_t *result, char *err, size_t errlen);

/*
 * A page of /rest/v1/reports read for the audit (audit_stage.c): each
 * report parsed and enriched as `run` records it, into *json, the array
 * tracktik_audit_items() reads (NULL for an empty page; malloc()ed).
 * *items: the page's reports; *last_id, unless NULL, raised to the
 * highest id.  0, or -1 with err.
 */
struct tt_enrich_s;

int tt_audit_items(struct tt_enrich_s *enrich, const char *default_time_zone,
    const char *body, char **json, int *items, long long *last_id,
    char *err, size_t errlen);

/*
 * What a scheduled pull lists, kept for its audit: the pull's page hook
 * (tt_pull_spec_t.seen, pull.h).  Enrichment of its own (the site's
 * client; posts not looked up: the pull stores the ones a page includes
 * after the page is read, and no contract is compared).
 */
typedef struct {
    const char          *default_time_zone;
    struct tt_enrich_s  *enrich;
} tt_audit_seen_t;

int tt_audit_seen_open(tt_audit_seen_t *seen, const tt_config_t *cfg);
void tt_audit_seen_close(tt_audit_seen_t *seen);
int tt_audit_seen_page(void *ctx, const char *page, char **items,
    char *err, size_t errlen);

/*
 * The lean staging of an export's rows (audit_stage.c): the importer's
 * values callback and copy_end (import.h), writing binary COPY data of
 * the COPY tt_audit_stage_copy opens.
 */
typedef struct {
    PGconn      *conn;
    char        *buf;
    size_t       len;
    size_t       size;
    int          started;       /* the header is written */
    long long    rows;
    long long    last_id;       /* the last row's report id */
    int          unsorted;      /* a report id not above the last one */
} tt_audit_stage_t;

extern const char  *tt_audit_stage_copy;

struct tt_import_values_s;

int tt_audit_stage_row(void *ctx, long long line,
    const struct tt_import_values_s *x);
int tt_audit_stage_end(void *ctx);
void tt_audit_stage_free(tt_audit_stage_t *st);

#endif /* TT_AUDIT_H */
