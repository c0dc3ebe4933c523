/*
 * pull: windows of /rest/v1/reports pages into the job queue, and the
 * schedule's lease (see pull.h; the SQL side: sql/functions/pull.sql).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "channel.h"
#include "db.h"
#include "enrich.h"
#include "log.h"
#include "pull.h"
#include "tt_json.h"
#include "tt_time.h"


#define TT_PULL_MAX_SITES  100      /* TrackTik's :in takes no more */


typedef struct {
    tt_channel_t            ch;
    const tt_pull_spec_t   *spec;
    tt_pull_result_t       *result;
    char                    accounts[TT_PULL_MAX_SITES * 21];
} tt_pull_t;


static int tt_pull_reference(tt_pull_t *p, char *err, size_t errlen);
static int tt_pull_list_into(tt_pull_t *p, const char *what,
    const char *path, char *err, size_t errlen);
static int tt_pull_client_sites(tt_pull_t *p, char *err, size_t errlen);
static int tt_pull_reports(tt_pull_t *p, volatile sig_atomic_t *stop,
    char *err, size_t errlen);
static int tt_pull_page(tt_pull_t *p, const char *filter, char *err,
    size_t errlen);
static int tt_pull_get(tt_pull_t *p, const char *path,
    tt_http_answer_t *answer, char *err, size_t errlen);
static int tt_pull_includes(const char *list, const char *name);
static int tt_pull_date(const char *value, int end_of_day, long long *t);


int
tt_pull_range(const char *from, const char *to, long long *from_t,
    long long *to_t, char *err, size_t errlen)
{
    if (tt_pull_date(from, 0, from_t) != 0) {
        snprintf(err, errlen, "--from: \"%s\" is not a date (YYYY-MM-DD "
                 "or YYYY-MM-DDTHH:MM:SS[Z|+HH:MM])", from);
        return -1;
    }

    if (tt_pull_date(to, 1, to_t) != 0) {
        snprintf(err, errlen, "--to: \"%s\" is not a date (YYYY-MM-DD "
                 "or YYYY-MM-DDTHH:MM:SS[Z|+HH:MM])", to);
        return -1;
    }

    if (*to_t < *from_t) {
        snprintf(err, errlen, "--to %s is before --from %s", to, from);
        return -1;
    }

    return 0;
}


/* a bare date is the whole day (UTC): from its first or to its last
 * second */
static int
tt_pull_date(const char *value, int end_of_day, long long *t)
{
    tt_datetime_t  dt;

    if (tt_time_parse(value, strlen(value), &dt) != 0 || dt.year < 1970
        || dt.year > 9999)
    {
        return -1;
    }

    *t = tt_time_civil_to_epoch(dt.year, dt.month, dt.day, dt.hour,
                                dt.minute, dt.second);

    if (dt.has_offset) {
        *t -= dt.offset;
    }

    if (!dt.has_time && end_of_day) {
        *t += 86399;
    }

    return 0;
}


int
tt_pull_run(const tt_config_t *cfg, const tt_pull_spec_t *spec,
    volatile sig_atomic_t *stop, tt_pull_result_t *result, char *err,
    size_t errlen)
{
    int                 rc;
    char                from[32], to[32], since[32], site[24], client[24];
    char                msg[1200];
    PGresult           *res;
    tt_pull_t           p;
    const char         *params[7];
    tt_api_settings_t   set;

    memset(result, 0, sizeof(*result));
    result->from = spec->from;
    result->to = spec->to;
    memset(&p, 0, sizeof(p));
    p.spec = spec;
    p.result = result;

    tt_api_settings_from(cfg, &set);

    if (tt_channel_open(&p.ch, cfg->dsn, &set, err, errlen) != 0) {
        return -1;
    }

    p.ch.api.stop = (volatile int *) stop;

    if (spec->page_size > 0) {
        p.ch.api.set.page_size = spec->page_size;
    }

    tt_time_format_utc(spec->from, from, sizeof(from));
    tt_time_format_utc(spec->to, to, sizeof(to));
    tt_time_format_utc(spec->since, since, sizeof(since));
    snprintf(site, sizeof(site), "%lld", spec->site);
    snprintf(client, sizeof(client), "%lld", spec->client);

    params[0] = spec->scheduled ? "scheduled" : "manual";
    params[1] = from;
    params[2] = to;
    params[3] = spec->since ? since : NULL;
    params[4] = spec->site ? site : NULL;
    params[5] = spec->client ? client : NULL;
    params[6] = cfg->worker_id;

    res = tt_db_query(p.ch.conn, "opening the pull",
                      "SELECT pull_id, resumed FROM tracktik_pull_open($1,"
                      " $2, $3, $4, $5, $6, $7)", 7, params, err, errlen);
    if (res == NULL) {
        tt_channel_close(&p.ch);
        return -1;
    }

    result->pull_id = atoll(PQgetvalue(res, 0, 0));
    result->resumed = PQgetvalue(res, 0, 1)[0] == 't';
    PQclear(res);

    tt_log(TT_LOG_INFO, "event=pull_start pull=%lld kind=%s from=%s to=%s "
           "resumed=%d", result->pull_id, params[0], from, to,
           result->resumed);

    rc = tt_pull_reference(&p, err, errlen);

    if (rc == 0 && spec->client != 0) {
        rc = tt_pull_client_sites(&p, err, errlen);
    } else if (spec->site != 0) {
        snprintf(p.accounts, sizeof(p.accounts), "%lld", spec->site);
    }

    if (rc == 0) {
        rc = tt_pull_reports(&p, stop, err, errlen);
    }

    snprintf(msg, sizeof(msg), "%lld", result->pull_id);

    params[0] = msg;
    params[1] = rc == 0 ? "t" : "f";
    params[2] = rc == 0 ? NULL : err;

    /* a failure here must not hide the pull's own error */
    res = tt_db_query(p.ch.conn, "recording the pull",
                      "SELECT tracktik_pull_finish($1, $2, $3)", 3, params,
                      rc == 0 ? err : from, rc == 0 ? errlen : sizeof(from));
    if (res == NULL) {
        rc = -1;
    }
    PQclear(res);

    tt_log(rc == 0 ? TT_LOG_INFO : TT_LOG_ERROR, "event=pull_%s pull=%lld "
           "pages=%lld reports=%lld queued=%lld restarts=%lld requests=%lld "
           "page_requests=%lld reference_requests=%lld%s%s",
           rc == 0 ? "done" : "failed", result->pull_id, result->pages,
           result->reports, result->queued, result->restarts,
           result->requests, result->page_requests,
           result->reference_requests, rc == 0 ? "" : " error=",
           rc == 0 ? "" : tt_log_quote(err, msg, sizeof(msg)));

    tt_channel_close(&p.ch);

    return rc;
}


/*
 * Sites and clients into the reference table, unless they were listed
 * within half the enrichment TTL: one request (per 1,000).  A report's
 * included account is an /accounts item, which names no parent client,
 * so the clients' listing stays.  Posts likewise, unless the reports
 * include theirs: tracktik_pull_page() stores those.
 */
static int
tt_pull_reference(tt_pull_t *p, char *err, size_t errlen)
{
    int          fresh_accounts, fresh_posts;
    char         ttl[24];
    PGresult    *res;
    const char  *params[1];

    snprintf(ttl, sizeof(ttl), "%d", TT_ENRICH_TTL / 2);
    params[0] = ttl;

    res = tt_db_query(p->ch.conn, "reading the reference tables",
              "SELECT coalesce((SELECT max(fetched_at)"
              "                   FROM tracktik_accounts)"
              "                > now() - make_interval(secs => $1), false),"
              "       coalesce((SELECT max(fetched_at)"
              "                   FROM tracktik_positions)"
              "                > now() - make_interval(secs => $1), false)",
              1, params, err, errlen);
    if (res == NULL) {
        return -1;
    }

    fresh_accounts = PQgetvalue(res, 0, 0)[0] == 't';
    fresh_posts = PQgetvalue(res, 0, 1)[0] == 't'
                  || tt_pull_includes(p->spec->include, "position");
    PQclear(res);

    if (!fresh_accounts
        && tt_pull_list_into(p, "clients", "/rest/v1/clients?include=name,"
                             "timeZone&includeInactive=true&sort=id", err,
                             errlen) != 0)
    {
        return -1;
    }

    if (!fresh_posts
        && tt_pull_list_into(p, "positions", "/rest/v1/positions?"
                             "includeInactive=true&sort=id", err, errlen)
           != 0)
    {
        return -1;
    }

    return 0;
}


/* whether the comma-separated list names name (a relation, not a nested
 * one: "position.account" is not "position") */
static int
tt_pull_includes(const char *list, const char *name)
{
    size_t       n, len;
    const char  *s;

    len = strlen(name);

    for (s = list; s != NULL && *s != '\0'; s += n + (s[n] == ',')) {
        n = strcspn(s, ",");

        if (n == len && strncmp(s, name, len) == 0) {
            return 1;
        }
    }

    return 0;
}


/* every page of a listing into tracktik_pull_reference(what, page) */
static int
tt_pull_list_into(tt_pull_t *p, const char *what, const char *path,
    char *err, size_t errlen)
{
    int                offset, items;
    char               url[512];
    PGresult          *res;
    const char        *params[2];
    tt_http_answer_t   answer;

    for (offset = 0; ; offset += p->ch.api.set.page_size) {
        snprintf(url, sizeof(url), "%s&limit=%d&offset=%d", path,
                 p->ch.api.set.page_size, offset);

        p->result->reference_requests++;

        if (tt_pull_get(p, url, &answer, err, errlen) != 0) {
            return -1;
        }

        params[0] = what;
        params[1] = answer.body;

        res = tt_db_query(p->ch.conn, "storing the reference",
                          "SELECT tracktik_pull_reference($1, $2)", 2,
                          params, err, errlen);
        tt_http_answer_free(&answer);

        if (res == NULL) {
            return -1;
        }

        items = atoi(PQgetvalue(res, 0, 0));
        PQclear(res);

        if (items < p->ch.api.set.page_size) {
            return 0;
        }
    }
}


/*
 * --client: the reports' account is a site, so the client's sites (and
 * the client itself, a single-site client's reports name it) become an
 * account:in filter
 */
static int
tt_pull_client_sites(tt_pull_t *p, char *err, size_t errlen)
{
    char              path[256], msg[256], *out;
    size_t            i, used;
    yajl_val          tree, data, id;
    tt_http_answer_t  answer;
    const char       *idpath[] = { "id", NULL }, *datapath[] = { "data",
                                                                 NULL };

    snprintf(path, sizeof(path), "/rest/v1/clients?parentClient=%lld"
             "&fields=id&includeInactive=true&limit=%d",
             p->spec->client, TT_PULL_MAX_SITES);

    p->result->reference_requests++;

    if (tt_pull_get(p, path, &answer, err, errlen) != 0) {
        return -1;
    }

    msg[0] = '\0';
    tree = tt_json_tree(answer.body, TT_JSON_MAX_DEPTH, msg, sizeof(msg));
    tt_http_answer_free(&answer);
    data = tree ? yajl_tree_get(tree, datapath, yajl_t_array) : NULL;

    if (data == NULL) {
        snprintf(err, errlen, "the sites of client %lld: the answer is not "
                 "a list%s%s", p->spec->client, msg[0] ? ": " : "", msg);
        yajl_tree_free(tree);
        return -1;
    }

    if (data->u.array.len >= TT_PULL_MAX_SITES) {
        snprintf(err, errlen, "client %lld has %d sites or more: pull them "
                 "with --site", p->spec->client, TT_PULL_MAX_SITES - 1);
        yajl_tree_free(tree);
        return -1;
    }

    out = p->accounts;
    used = snprintf(out, sizeof(p->accounts), "%lld", p->spec->client);

    for (i = 0; i < data->u.array.len; i++) {
        id = yajl_tree_get(data->u.array.values[i], idpath, yajl_t_number);
        if (id != NULL && YAJL_IS_INTEGER(id)) {
            used += snprintf(out + used, sizeof(p->accounts) - used,
                             ",%lld", YAJL_GET_INTEGER(id));
        }
    }

    yajl_tree_free(tree);
    return 0;
}


/*
 * The reports, page after page from the pull's cursor (where a killed
 * pull stopped, when it is resumed) until tracktik_pull_page() says all
 * is listed.
 */
static int
tt_pull_reports(tt_pull_t *p, volatile sig_atomic_t *stop, char *err,
    size_t errlen)
{
    int   rc;
    char  filter[2400], since[32];

    filter[0] = '\0';

    if (p->accounts[0] != '\0') {
        snprintf(filter, sizeof(filter), "&account%s=%s",
                 strchr(p->accounts, ',') ? ":in" : "", p->accounts);
    }

    if (p->spec->since != 0) {
        tt_time_format_utc(p->spec->since, since, sizeof(since));
        snprintf(filter + strlen(filter), sizeof(filter) - strlen(filter),
                 "&updatedOn:gte=%s", since);
    }

    do {
        if (*stop) {
            snprintf(err, errlen, "stopped by a signal");
            return -1;
        }

        rc = tt_pull_page(p, filter, err, errlen);

    } while (rc == 0);

    return rc < 0 ? -1 : 0;
}


/* the next page: 0 (more to list), 1 (all listed) or -1 with err */
static int
tt_pull_page(tt_pull_t *p, const char *filter, char *err, size_t errlen)
{
    int                listed;
    char               path[4096], pull[24], from[32], offset[16];
    char               limit[16], *seen, why[512], q[600];
    PGresult          *res;
    const char        *params[6];
    tt_http_answer_t   answer;

    snprintf(pull, sizeof(pull), "%lld", p->result->pull_id);
    params[0] = pull;

    res = tt_db_query(p->ch.conn, "reading the cursor",
                      "SELECT starts_at, ends_at, page_offset, listed"
                      "  FROM tracktik_pull_next($1)", 1, params, err,
                      errlen);
    if (res == NULL) {
        return -1;
    }

    if (PQgetvalue(res, 0, 3)[0] == 't') {
        PQclear(res);
        return 1;
    }

    snprintf(from, sizeof(from), "%s", PQgetvalue(res, 0, 0));
    snprintf(offset, sizeof(offset), "%s", PQgetvalue(res, 0, 2));
    snprintf(limit, sizeof(limit), "%d", p->ch.api.set.page_size);

    /* sorted by reportDateTime then id: a full page's last second is
     * where the next window starts (pull.sql) */
    snprintf(path, sizeof(path), "/rest/v1/reports?reportDateTime"
             ":between=%s%%7C%s&sort=reportDateTime,id&limit=%s"
             "&offset=%s&include=%s%s", from, PQgetvalue(res, 0, 1),
             limit, offset, p->spec->include, filter);
    PQclear(res);

    p->result->page_requests++;

    if (tt_pull_get(p, path, &answer, err, errlen) != 0) {
        return -1;
    }

    /* what the pull's audit will compare: read from this very page */
    seen = NULL;

    if (p->spec->seen != NULL
        && p->spec->seen(p->spec->seen_ctx, answer.body, &seen, why,
                         sizeof(why)) != 0)
    {
        tt_log(TT_LOG_WARN, "event=pull_page_unseen pull=%s from=%s "
               "offset=%s error=%s", pull, from, offset,
               tt_log_quote(why, q, sizeof(q)));
    }

    params[1] = from;
    params[2] = offset;
    params[3] = limit;
    params[4] = answer.body;
    params[5] = seen;

    res = tt_db_query(p->ch.conn, "queueing a page",
                      "SELECT items, queued, restarted, listed"
                      "  FROM tracktik_pull_page($1, $2, $3, $4, $5, $6)",
                      6, params, err, errlen);
    tt_http_answer_free(&answer);
    free(seen);

    if (res == NULL) {
        return -1;
    }

    p->result->pages++;
    p->result->reports += atoll(PQgetvalue(res, 0, 0));
    p->result->queued += atoll(PQgetvalue(res, 0, 1));
    p->result->restarts += PQgetvalue(res, 0, 2)[0] == 't';
    listed = PQgetvalue(res, 0, 3)[0] == 't';

    tt_log(TT_LOG_DEBUG, "event=pull_page pull=%s from=%s offset=%s "
           "items=%s queued=%s restarted=%s", pull, from, offset,
           PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
           PQgetvalue(res, 0, 2));
    PQclear(res);

    return listed;
}


/* a GET that must answer 200 */
static int
tt_pull_get(tt_pull_t *p, const char *path, tt_http_answer_t *answer,
    char *err, size_t errlen)
{
    char         reason[400];
    tt_api_rc_e  rc;

    p->result->requests++;

    rc = tt_api_request(&p->ch.api, "GET", path, NULL, answer, err, errlen);
    if (rc != TT_API_OK) {
        return -1;
    }

    if (answer->status != 200) {
        snprintf(err, errlen, "GET %.*s: TrackTik answered %s",
                 (int) strcspn(path, "?"), path,
                 tt_api_error_text(answer, reason, sizeof(reason)));
        tt_http_answer_free(answer);
        return -1;
    }

    return 0;
}


int
tt_schedule_tick(const tt_config_t *cfg, const tt_schedule_spec_t *s,
    const char *holder, volatile sig_atomic_t *stop,
    tt_pull_result_t *result, char *err, size_t errlen)
{
    int             held, due;
    char            lease[24], interval[24], margin[24];
    time_t          now;
    PGconn         *conn;
    tt_config_t     mine;
    PGresult       *res;
    tt_pull_spec_t  spec;
    const char     *params[2];

    conn = tt_db_connect(cfg->dsn, err, errlen);
    if (conn == NULL) {
        return -1;
    }

    snprintf(lease, sizeof(lease), "%d", s->lease_s);
    params[0] = holder;
    params[1] = lease;

    res = PQexecParams(conn, "SELECT tracktik_pull_lease_take($1, $2)", 2,
                       NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        tt_db_error(conn, res, "taking the schedule's lease", err, errlen);
        PQclear(res);
        PQfinish(conn);
        return -1;
    }

    held = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);

    if (!held) {
        PQfinish(conn);
        return 0;
    }

    snprintf(interval, sizeof(interval), "%d", s->interval_s);
    snprintf(margin, sizeof(margin), "%d", s->margin_s);
    params[0] = interval;
    params[1] = margin;

    /* whole seconds, rounded down: never later than the margin says */
    res = tt_db_query(conn, "reading the schedule",
                      "SELECT due, floor(extract(epoch FROM since))"
                      "  FROM tracktik_pull_due($1, $2)", 2, params, err,
                      errlen);
    if (res == NULL) {
        PQfinish(conn);
        return -1;
    }

    due = PQgetvalue(res, 0, 0)[0] == 't';

    memset(&spec, 0, sizeof(spec));
    spec.scheduled = 1;
    spec.include = TT_PULL_INCLUDE;
    now = time(NULL);
    spec.to = now;
    spec.from = now - (long long) s->lookback_days * 86400;
    spec.since = PQgetisnull(res, 0, 1) ? 0 : atoll(PQgetvalue(res, 0, 1));
    spec.seen = s->seen;
    spec.seen_ctx = s->seen_ctx;

    PQclear(res);
    PQfinish(conn);

    if (!due) {
        return 0;
    }

    /* the pull is recorded under the lease holder's name */
    mine = *cfg;
    mine.worker_id = holder;

    return tt_pull_run(&mine, &spec, stop, result, err, errlen) == 0
           ? 1 : -1;
}


void
tt_schedule_release(const tt_config_t *cfg, const char *holder)
{
    char         err[512];
    PGconn      *conn;
    PGresult    *res;
    const char  *params[1];

    conn = tt_db_connect(cfg->dsn, err, sizeof(err));
    if (conn == NULL) {
        return;
    }

    params[0] = holder;
    res = PQexecParams(conn, "SELECT tracktik_pull_lease_drop($1)", 1, NULL,
                       params, NULL, NULL, 0);
    PQclear(res);
    PQfinish(conn);
}
