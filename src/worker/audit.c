/*
 * audit: the source staged, the comparison run in the database, and the
 * ledger's unbilled reports tried against the contract rules (audit.h;
 * the SQL side: sql/functions/audit.sql).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "audit.h"
#include "channel.h"
#include "claim.h"
#include "contracts.h"
#include "db.h"
#include "enrich.h"
#include "import.h"
#include "log.h"
#include "parse.h"
#include "pull.h"
#include "rules.h"
#include "tt_time.h"
#include "tz.h"


/* the unbilled reports are read this many at a time */
#define TT_AUDIT_FETCH  "10000"


const char  *tt_audit_kinds[TT_AUDIT_KINDS] = {
    "missing_from_ledger", "missing_from_source", "changed",
    "billing_without_report", "should_have_billed"
};


static int tt_audit_stage_file(PGconn *conn, const tt_audit_spec_t *spec,
    tt_audit_result_t *result, int *unique, char *err, size_t errlen);
static int tt_audit_stage_api(PGconn *conn, const tt_config_t *cfg,
    const tt_audit_spec_t *spec, volatile sig_atomic_t *stop,
    tt_audit_result_t *result, char *err, size_t errlen);
static int tt_audit_window(tt_channel_t *ch, PGconn *conn,
    tt_enrich_t *enrich, const tt_config_t *cfg, const char *from,
    const char *to, volatile sig_atomic_t *stop, tt_audit_result_t *result,
    char *err, size_t errlen);
static int tt_audit_page(PGconn *conn, tt_enrich_t *enrich,
    const tt_config_t *cfg, const char *body, long long *last_id,
    int *items, char *err, size_t errlen);
static int tt_audit_stage_pull(PGconn *conn, const tt_audit_spec_t *spec,
    tt_audit_result_t *result, char *err, size_t errlen);
static int tt_audit_compare(PGconn *conn, const tt_config_t *cfg,
    const char *const *params, tt_audit_result_t *result, double *rules,
    char *err, size_t errlen);
static int tt_audit_rules(PGconn *side, const char *const *period,
    char **data, size_t *len, char *err, size_t errlen);
static int tt_audit_unbilled(PGresult *res, int i, const tt_rulebook_t *rb,
    FILE *copy, char *err, size_t errlen);
static void tt_audit_ref(PGresult *res, int i, int id_col, int name_col,
    tt_ref_t *ref);
static void tt_audit_copy_text(FILE *f, const char *s, int last);
static int tt_audit_copy(PGconn *conn, const char *data, size_t len,
    char *err, size_t errlen);


int
tt_audit_run(PGconn *conn, const tt_config_t *cfg,
    const tt_audit_spec_t *spec, volatile sig_atomic_t *stop,
    tt_audit_result_t *result, char *err, size_t errlen)
{
    int          i, rc, unique;
    char         from[32], to[32], since[32];
    double       t0, t1, rules;
    PGresult    *res;
    const char  *params[6];

    memset(result, 0, sizeof(*result));
    unique = 0;
    t0 = tt_now();

    if (spec->file != NULL) {
        rc = tt_audit_stage_file(conn, spec, result, &unique, err, errlen);
    } else if (spec->pull > 0) {
        rc = tt_audit_stage_pull(conn, spec, result, err, errlen);
    } else {
        rc = tt_audit_stage_api(conn, cfg, spec, stop, result, err, errlen);
    }

    /* [from, to + 1 s): the whole last second */
    tt_time_format_utc(spec->from, from, sizeof(from));
    tt_time_format_utc(spec->to + 1, to, sizeof(to));
    params[0] = spec->file != NULL ? "t" : "f";
    params[1] = from;
    params[2] = to;
    params[3] = spec->skip_pending ? "t" : "f";
    params[4] = unique ? "t" : "f";
    params[5] = NULL;
    t1 = tt_now();

    if (rc == 0 && result->since != 0) {
        tt_time_format_utc(result->since, since, sizeof(since));
        params[5] = since;
    }

    if (rc == 0) {
        rules = 0;
        rc = tt_audit_compare(conn, cfg, params, result, &rules, err,
                              errlen);

        /* where the time goes (bench/audit-bench.sh prints it); the
         * rules ran while the comparison did */
        tt_log(TT_LOG_DEBUG, "event=audit_timing staged=%.2fs "
               "compared=%.2fs rules=%.2fs unique=%d", t1 - t0,
               tt_now() - t1, rules, unique);
    }

    res = rc != 0 ? NULL
          : tt_db_query(conn, "counting the differences",
                        "SELECT kind, n FROM tracktik_audit_summary()", 0,
                        NULL, err, errlen);

    for (i = 0; res != NULL && i < PQntuples(res) && i < TT_AUDIT_KINDS;
         i++)
    {
        result->counts[i] = atoll(PQgetvalue(res, i, 1));
        result->differences += result->counts[i];
    }

    if (res == NULL) {
        rc = -1;
    }
    PQclear(res);

    if (rc != 0 && PQtransactionStatus(conn) != PQTRANS_IDLE) {
        res = PQexec(conn, "ROLLBACK");
        PQclear(res);
    }

    return rc;
}


/* the importer's reading and checks, the rows staged lean
 * (audit_stage.c) */
static int
tt_audit_stage_file(PGconn *conn, const tt_audit_spec_t *spec,
    tt_audit_result_t *result, int *unique, char *err, size_t errlen)
{
    int                  rc;
    tt_audit_stage_t     st;
    tt_import_opts_t     o;
    tt_import_summary_t  sum;

    memset(&st, 0, sizeof(st));
    st.conn = conn;

    memset(&o, 0, sizeof(o));
    o.file = spec->file;
    o.mapping = spec->mapping;
    o.mapping_dir = spec->mapping_dir;
    o.default_time_zone = spec->default_time_zone;
    o.rejects = spec->rejects;
    o.stage_only = 1;
    o.staging_sql = "SELECT tracktik_audit_begin(true)";
    o.copy_sql = tt_audit_stage_copy;
    o.values = tt_audit_stage_row;
    o.copy_end = tt_audit_stage_end;
    o.values_ctx = &st;

    rc = tt_import_run(conn, &o, &sum, err, errlen);
    tt_audit_stage_free(&st);
    *unique = !st.unsorted;

    if (rc != 0) {
        return -1;
    }

    result->source_rejected = sum.rows_rejected;
    snprintf(result->mapping, sizeof(result->mapping), "%s", sum.mapping);

    return 0;
}


/*
 * /rest/v1/reports listed as a pull lists it (windows of at most a
 * month, sorted and paged by id, the subscription's include), each page
 * read as `run` reads a pulled report, parsed (parse.c) and enriched
 * (enrich.c: the client is the site's parent client, as the ledger has
 * it), and staged
 */
static int
tt_audit_stage_api(PGconn *conn, const tt_config_t *cfg,
    const tt_audit_spec_t *spec, volatile sig_atomic_t *stop,
    tt_audit_result_t *result, char *err, size_t errlen)
{
    int                 i, rc;
    char                from[32], to[32];
    PGresult           *res;
    tt_channel_t        ch;
    tt_enrich_t        *enrich;
    const char         *params[2];
    tt_api_settings_t   set;

    tt_api_settings_from(cfg, &set);

    if (spec->page_size > 0) {
        set.page_size = spec->page_size;
    }

    /* the API's budget is kept on its own connection, never held by the
     * audit's transaction */
    if (tt_channel_open(&ch, cfg->dsn, &set, err, errlen) != 0) {
        return -1;
    }

    ch.api.stop = (volatile int *) stop;

    if (tt_db_exec(conn, "BEGIN", PGRES_COMMAND_OK, err, errlen) != 0) {
        tt_channel_close(&ch);
        return -1;
    }

    /* its own connection and the shared budget, as `run` has it */
    enrich = tt_enrich_new(cfg);

    res = tt_db_query(conn, "staging table",
                      "SELECT tracktik_audit_begin(false)", 0, NULL, err,
                      errlen);
    PQclear(res);

    tt_time_format_utc(spec->from, from, sizeof(from));
    tt_time_format_utc(spec->to, to, sizeof(to));
    params[0] = from;
    params[1] = to;

    res = res == NULL ? NULL
          : tt_db_query(conn, "the month windows",
                        "SELECT to_char(starts_at AT TIME ZONE 'UTC',"
                        "               'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
                        "       to_char(ends_at AT TIME ZONE 'UTC',"
                        "               'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
                        "  FROM tracktik_pull_windows_of($1, $2)"
                        " ORDER BY window_no", 2, params, err, errlen);

    rc = res == NULL ? -1 : 0;

    for (i = 0; rc == 0 && i < PQntuples(res); i++) {
        rc = tt_audit_window(&ch, conn, enrich, cfg, PQgetvalue(res, i, 0),
                             PQgetvalue(res, i, 1), stop, result, err,
                             errlen);
    }

    PQclear(res);
    tt_enrich_free(enrich);
    tt_channel_close(&ch);

    return rc;
}


static int
tt_audit_window(tt_channel_t *ch, PGconn *conn, tt_enrich_t *enrich,
    const tt_config_t *cfg, const char *from, const char *to,
    volatile sig_atomic_t *stop, tt_audit_result_t *result, char *err,
    size_t errlen)
{
    int                items;
    char               path[1024], reason[400];
    long long          last_id;
    tt_api_rc_e        rc;
    tt_http_answer_t   answer;

    last_id = 0;

    do {
        if (*stop) {
            snprintf(err, errlen, "stopped by a signal");
            return -1;
        }

        snprintf(path, sizeof(path), "/rest/v1/reports?reportDateTime"
                 ":between=%s%%7C%s&id:gt=%lld&sort=id&limit=%d&include=%s",
                 from, to, last_id, ch->api.set.page_size, TT_PULL_INCLUDE);

        result->requests++;
        rc = tt_api_request(&ch->api, "GET", path, NULL, &answer, err,
                            errlen);
        if (rc != TT_API_OK) {
            return -1;
        }

        if (answer.status != 200) {
            snprintf(err, errlen, "GET /rest/v1/reports: TrackTik answered "
                     "%s", tt_api_error_text(&answer, reason,
                                             sizeof(reason)));
            tt_http_answer_free(&answer);
            return -1;
        }

        rc = tt_audit_page(conn, enrich, cfg, answer.body, &last_id, &items,
                           err, errlen);
        tt_http_answer_free(&answer);

        if (rc != 0) {
            return -1;
        }

    } while (items >= ch->api.set.page_size);

    return 0;
}


/* a page's reports, read as `run` reads a job's (audit_stage.c), into
 * the staging */
static int
tt_audit_page(PGconn *conn, tt_enrich_t *enrich, const tt_config_t *cfg,
    const char *body, long long *last_id, int *items, char *err,
    size_t errlen)
{
    char         *json;
    PGresult     *res;
    const char   *params[1];

    if (tt_audit_items(enrich, cfg->default_time_zone, body, &json, items,
                       last_id, err, errlen) != 0)
    {
        return -1;
    }

    if (json == NULL) {
        return 0;
    }

    params[0] = json;
    res = tt_db_query(conn, "staging a page",
                      "SELECT tracktik_audit_stage_page($1::jsonb)", 1,
                      params, err, errlen);
    free(json);
    PQclear(res);

    return res == NULL ? -1 : 0;
}


/*
 * The schedule's audit: the pages its pull kept (tracktik_pull_seen,
 * pull.sql) staged as the source, no request made; refused when the
 * pull saw its window only in part (tracktik_audit_stage_pull(),
 * audit.sql).  result->since: the pull's updatedOn:gte, 0: none.
 */
static int
tt_audit_stage_pull(PGconn *conn, const tt_audit_spec_t *spec,
    tt_audit_result_t *result, char *err, size_t errlen)
{
    char         pull[24];
    PGresult    *res;
    const char  *params[1];

    if (tt_db_exec(conn, "BEGIN", PGRES_COMMAND_OK, err, errlen) != 0) {
        return -1;
    }

    res = tt_db_query(conn, "staging table",
                      "SELECT tracktik_audit_begin(false)", 0, NULL, err,
                      errlen);
    PQclear(res);

    snprintf(pull, sizeof(pull), "%lld", spec->pull);
    params[0] = pull;

    res = res == NULL ? NULL
          : tt_db_query(conn, "staging the pull's pages",
                        "SELECT coalesce(floor(extract(epoch FROM"
                        " updated_since)), 0) FROM"
                        " tracktik_audit_stage_pull($1)", 1, params, err,
                        errlen);
    if (res == NULL) {
        return -1;
    }

    result->since = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);

    return 0;
}


/*
 * tracktik_audit_compare() on conn, and meanwhile the rules over the
 * ledger's unbilled reports on a second connection (the worker and that
 * connection's backend work while conn's backend compares); what should
 * have billed is COPYed into tracktik_audit_diff once both are done.
 * params: p_file, from, to, p_pending, p_unique, p_since; *rules: the
 * seconds the rules took.
 */
static int
tt_audit_compare(PGconn *conn, const tt_config_t *cfg,
    const char *const *params, tt_audit_result_t *result, double *rules,
    char *err, size_t errlen)
{
    int          rc;
    char        *data, why[512];
    size_t       len;
    double       t0;
    PGconn      *side;
    PGresult    *res, *next;

    side = tt_db_connect(cfg->dsn, err, errlen);
    if (side == NULL) {
        return -1;
    }

    if (PQsendQueryParams(conn, "SELECT * FROM tracktik_audit_compare($1,"
                          " $2, $3, $4, $5, $6)", 6, NULL, params, NULL,
                          NULL, 0) != 1)
    {
        tt_db_error(conn, NULL, "comparing the ledger with the source", err,
                    errlen);
        PQfinish(side);
        return -1;
    }

    data = NULL;
    len = 0;
    t0 = tt_now();
    rc = tt_audit_rules(side, params + 1, &data, &len, why, sizeof(why));
    PQfinish(side);
    *rules = tt_now() - t0;

    /* the comparison's answer, waited for even when the rules failed */
    res = PQgetResult(conn);
    while ((next = PQgetResult(conn)) != NULL) {
        PQclear(next);
    }

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        tt_db_error(conn, res, "comparing the ledger with the source", err,
                    errlen);
        rc = -1;

    } else if (rc != 0) {
        snprintf(err, errlen, "%s", why);

    } else {
        result->ledger_reports = atoll(PQgetvalue(res, 0, 0));
        result->source_reports = atoll(PQgetvalue(res, 0, 1));
        result->pending = atoll(PQgetvalue(res, 0, 2));

        if (len > 0) {
            rc = tt_audit_copy(conn, data, len, err, errlen);
        }
    }

    PQclear(res);
    free(data);

    return rc;
}


/*
 * The ledger's reports of the period without an open charge
 * (tracktik_audit_unbilled()), each tried against the rule set in force
 * when it occurred; the first rule that matches makes a report that
 * should have billed.  Read a batch at a time (a cursor on side); the
 * matches become COPY lines for tracktik_audit_diff in *data.  period:
 * from, to, p_pending.
 */
static int
tt_audit_rules(PGconn *side, const char *const *period, char **data,
    size_t *len, char *err, size_t errlen)
{
    int             i, n, rc;
    FILE           *copy;
    PGresult       *res;
    tt_rulebook_t   rb;

    memset(&rb, 0, sizeof(rb));

    if (tt_rulebook_load(side, &rb, err, errlen) != 0) {
        return -1;
    }

    if (rb.nsets == 0) {
        tt_rulebook_free(&rb);
        return 0;
    }

    copy = open_memstream(data, len);
    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        tt_rulebook_free(&rb);
        return -1;
    }

    /* plans that run once; the open charges kept as one hashed set */
    rc = tt_db_exec(side, "BEGIN", PGRES_COMMAND_OK, err, errlen) != 0
         || tt_db_exec(side, "SET LOCAL jit = off", PGRES_COMMAND_OK, err,
                       errlen) != 0
         || tt_db_exec(side, "SET LOCAL work_mem = '256MB'",
                       PGRES_COMMAND_OK, err, errlen) != 0
         ? -1 : 0;

    if (rc == 0) {
        res = PQexecParams(side, "DECLARE tt_audit_unbilled NO SCROLL CURSOR"
                           " FOR SELECT * FROM tracktik_audit_unbilled($1,"
                           " $2, $3)", 3, NULL, period, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            tt_db_error(side, res, "the unbilled reports", err, errlen);
            rc = -1;
        }
        PQclear(res);
    }

    while (rc == 0) {
        res = tt_db_query(side, "reading the unbilled reports",
                          "FETCH " TT_AUDIT_FETCH " FROM tt_audit_unbilled",
                          0, NULL, err, errlen);
        if (res == NULL) {
            rc = -1;
            break;
        }

        n = PQntuples(res);

        for (i = 0; rc == 0 && i < n; i++) {
            rc = tt_audit_unbilled(res, i, &rb, copy, err, errlen);
        }

        PQclear(res);

        if (n == 0) {
            break;
        }
    }

    if (fclose(copy) != 0 && rc == 0) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }

    tt_rulebook_free(&rb);
    return rc;
}


/* row i of the cursor: a COPY line when a rule bills it */
static int
tt_audit_unbilled(PGresult *res, int i, const tt_rulebook_t *rb,
    FILE *copy, char *err, size_t errlen)
{
    size_t                k;
    char                  rule[160];
    struct tm             local;
    tt_report_t           r;
    const tt_rule_t      *rule_p;
    const tt_rule_set_t  *set;

    memset(&r, 0, sizeof(r));
    r.report_id = atoll(PQgetvalue(res, i, 0));
    r.occurred_at = atoll(PQgetvalue(res, i, 1));
    tt_audit_ref(res, i, 2, -1, &r.client);
    tt_audit_ref(res, i, 3, -1, &r.site);
    tt_audit_ref(res, i, 4, 5, &r.flag);
    tt_audit_ref(res, i, 6, 7, &r.template);
    r.severity = PQgetisnull(res, i, 8) ? NULL : PQgetvalue(res, i, 8);
    r.status = PQgetisnull(res, i, 9) ? NULL : PQgetvalue(res, i, 9);
    r.time_zone = PQgetvalue(res, i, 10);

    set = tt_rulebook_pick(rb, r.occurred_at);
    if (set == NULL) {
        return 0;
    }

    if (tt_tz_local(r.occurred_at, r.time_zone, &local) != 0) {
        snprintf(err, errlen, "report %lld: time zone %s is not usable",
                 r.report_id, r.time_zone);
        return -1;
    }

    for (k = 0; k < set->nrules; k++) {
        rule_p = &set->rules[k];

        if (tt_rule_matches(rule_p, &r, &local)) {
            snprintf(rule, sizeof(rule), "rule %s (rule set %d)",
                     rule_p->id, set->version);
            fprintf(copy, "should_have_billed\t%lld\t", r.report_id);
            tt_audit_copy_text(copy, rule_p->bill_code, 0);
            fputs("\\N\t", copy);
            tt_audit_copy_text(copy, rule, 1);
            break;
        }
    }

    return 0;
}


/* a relation from an id column and an optional name column */
static void
tt_audit_ref(PGresult *res, int i, int id_col, int name_col, tt_ref_t *ref)
{
    ref->has_id = !PQgetisnull(res, i, id_col);
    ref->id = ref->has_id ? atoll(PQgetvalue(res, i, id_col)) : 0;
    ref->name = name_col < 0 || PQgetisnull(res, i, name_col)
                ? NULL : PQgetvalue(res, i, name_col);
    ref->present = ref->has_id || ref->name != NULL;
}


/* one COPY text column, then a tab or (last) a newline */
static void
tt_audit_copy_text(FILE *f, const char *s, int last)
{
    for ( /* void */ ; *s != '\0'; s++) {
        switch (*s) {
        case '\\': fputs("\\\\", f); break;
        case '\t': fputs("\\t", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        default: fputc(*s, f);
        }
    }

    fputc(last ? '\n' : '\t', f);
}


static int
tt_audit_copy(PGconn *conn, const char *data, size_t len, char *err,
    size_t errlen)
{
    PGresult  *res;

    res = PQexec(conn, "COPY tracktik_audit_diff (kind, report_id, field,"
                 " ledger_value, source_value) FROM STDIN");

    if (PQresultStatus(res) != PGRES_COPY_IN) {
        tt_db_error(conn, res, "COPY", err, errlen);
        PQclear(res);
        return -1;
    }

    PQclear(res);

    if (PQputCopyData(conn, data, (int) len) != 1
        || PQputCopyEnd(conn, NULL) != 1)
    {
        tt_db_error(conn, NULL, "COPY", err, errlen);
        return -1;
    }

    res = PQgetResult(conn);

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        tt_db_error(conn, res, "COPY", err, errlen);
        PQclear(res);
        while ((res = PQgetResult(conn)) != NULL) {
            PQclear(res);
        }
        return -1;
    }

    PQclear(res);
    while ((res = PQgetResult(conn)) != NULL) {
        PQclear(res);
    }

    return 0;
}

