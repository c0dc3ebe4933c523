/*
 * ledger: the parameters of tracktik_record_report() for one report.
 * The database decides duplicate / stale / new version (sql/004).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tt_time.h"
#include "ledger.h"


static const char *tt_ledger_id(const tt_ref_t *ref, char *buf,
    size_t size);


int
tt_ledger_send(PGconn *conn, long long job_id, const tt_report_t *r,
    const char *service_date, const char *lines_json)
{
    char         job[24], report[24], occurred[32], client[24], site[24];
    char         category[24], template[24], updated[32];
    const char  *params[16];

    snprintf(job, sizeof(job), "%lld", job_id);
    snprintf(report, sizeof(report), "%lld", r->report_id);
    tt_time_format_utc(r->occurred_at, occurred, sizeof(occurred));

    params[0] = job;
    params[1] = report;
    params[2] = occurred;
    params[3] = tt_ledger_id(&r->client, client, sizeof(client));
    params[4] = tt_ledger_id(&r->site, site, sizeof(site));
    params[5] = r->severity;
    params[6] = r->flag.name;
    params[7] = tt_ledger_id(&r->flag, category, sizeof(category));
    params[8] = r->template.name;
    params[9] = tt_ledger_id(&r->template, template, sizeof(template));
    params[10] = r->status;
    params[11] = r->time_zone;

    if (r->has_updated_on) {
        tt_time_format_utc(r->updated_on, updated, sizeof(updated));
        params[12] = updated;
    } else {
        params[12] = NULL;
    }

    params[13] = r->raw;
    params[14] = service_date;
    params[15] = lines_json;

    return PQsendQueryPrepared(conn, "tt_record", 16, params, NULL, NULL, 0)
           ? 0 : -1;
}


int
tt_ledger_read(PGresult *res, tt_ledger_result_t *out)
{
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        return -1;
    }

    snprintf(out->outcome, sizeof(out->outcome), "%s",
             PQgetvalue(res, 0, 0));
    out->version = atoi(PQgetvalue(res, 0, 1));
    out->lines_charged = atoi(PQgetvalue(res, 0, 2));
    out->lines_credited = atoi(PQgetvalue(res, 0, 3));

    return 0;
}


static const char *
tt_ledger_id(const tt_ref_t *ref, char *buf, size_t size)
{
    if (!ref->has_id) {
        return NULL;
    }

    snprintf(buf, size, "%lld", ref->id);
    return buf;
}
