/*
 * ledger: the batch document for tracktik_record_batch()
 * (sql/functions/worker.sql).
 * The database decides duplicate / stale / new version; this file only
 * says what each report is.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tt_time.h"
#include "ledger.h"


typedef struct {
    char    *data;
    size_t   len;
    size_t   size;
    int      failed;
} tt_buf_t;


static void tt_buf_raw(tt_buf_t *b, const char *s, size_t len);
static void tt_buf_printf(tt_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void tt_buf_string(tt_buf_t *b, const char *key, const char *s);
static void tt_buf_id(tt_buf_t *b, const char *key, const tt_ref_t *ref);


char *
tt_ledger_batch_json(const tt_ledger_item_t *items, size_t n)
{
    char                occurred[32], updated[32];
    size_t              i;
    tt_buf_t            b;
    const tt_report_t  *r;

    memset(&b, 0, sizeof(b));
    tt_buf_raw(&b, "[", 1);

    for (i = 0; i < n; i++) {
        r = items[i].report;

        tt_time_format_utc(r->occurred_at, occurred, sizeof(occurred));

        tt_buf_printf(&b, "%s{\"ord\":%zu,\"job_id\":%lld,\"report_id\":%lld",
                      i ? "," : "", i, items[i].job_id, r->report_id);
        tt_buf_string(&b, "occurred_at", occurred);
        tt_buf_id(&b, "client_id", &r->client);
        tt_buf_id(&b, "site_id", &r->site);
        tt_buf_string(&b, "severity", r->severity);
        tt_buf_string(&b, "category", r->flag.name);
        tt_buf_id(&b, "category_id", &r->flag);
        tt_buf_string(&b, "report_template", r->template.name);
        tt_buf_id(&b, "report_template_id", &r->template);
        tt_buf_string(&b, "status", r->status);
        tt_buf_string(&b, "time_zone", r->time_zone);

        if (r->has_updated_on) {
            tt_time_format_utc(r->updated_on, updated, sizeof(updated));
            tt_buf_string(&b, "updated_on", updated);
        }

        tt_buf_string(&b, "service_date", items[i].service_date);

        /* the database takes the entity from the job's payload itself */
        tt_buf_printf(&b, ",\"data_index\":%d", r->data_index);

        /* the lines are JSON already */
        tt_buf_raw(&b, ",\"lines\":", 9);
        tt_buf_raw(&b, items[i].lines_json, strlen(items[i].lines_json));
        tt_buf_raw(&b, "}", 1);
    }

    tt_buf_raw(&b, "]", 1);

    if (b.failed) {
        free(b.data);
        return NULL;
    }

    return b.data;
}


int
tt_ledger_send(PGconn *conn, const char *batch_json)
{
    const char  *params[1];

    params[0] = batch_json;

    return PQsendQueryPrepared(conn, "tt_record", 1, params, NULL, NULL, 0)
           ? 0 : -1;
}


int
tt_ledger_read(PGresult *res, tt_ledger_result_t *results, size_t n)
{
    int     i;
    size_t  ord;

    /* a job whose row is gone (lease lost) returns no rows: "gone" */
    for (ord = 0; ord < n; ord++) {
        snprintf(results[ord].outcome, sizeof(results[ord].outcome), "gone");
    }

    if (PQresultStatus(res) != PGRES_TUPLES_OK
        || (size_t) PQntuples(res) > n)
    {
        return -1;
    }

    for (i = 0; i < PQntuples(res); i++) {
        ord = strtoul(PQgetvalue(res, i, 0), NULL, 10);
        if (ord >= n) {
            return -1;
        }

        snprintf(results[ord].outcome, sizeof(results[ord].outcome), "%s",
                 PQgetvalue(res, i, 1));
        results[ord].version = atoi(PQgetvalue(res, i, 2));
        results[ord].lines_charged = atoi(PQgetvalue(res, i, 3));
        results[ord].lines_credited = atoi(PQgetvalue(res, i, 4));
    }

    return 0;
}


static void
tt_buf_raw(tt_buf_t *b, const char *s, size_t len)
{
    char    *p;
    size_t   size;

    if (b->failed) {
        return;
    }

    if (b->len + len + 1 > b->size) {
        size = b->size ? b->size : 4096;
        while (b->len + len + 1 > size) {
            size *= 2;
        }

        p = realloc(b->data, size);
        if (p == NULL) {
            b->failed = 1;
            return;
        }

        b->data = p;
        b->size = size;
    }

    memcpy(b->data + b->len, s, len);
    b->len += len;
    b->data[b->len] = '\0';
}


static void
tt_buf_printf(tt_buf_t *b, const char *fmt, ...)
{
    int      n;
    char     tmp[256];
    va_list  ap;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);

    if (n < 0 || (size_t) n >= sizeof(tmp)) {
        b->failed = 1;
        return;
    }

    tt_buf_raw(b, tmp, n);
}


/* ,"key":"escaped" -- nothing at all for NULL (the column reads NULL) */
static void
tt_buf_string(tt_buf_t *b, const char *key, const char *s)
{
    char                  esc[8];
    const unsigned char  *p;

    if (s == NULL) {
        return;
    }

    tt_buf_printf(b, ",\"%s\":\"", key);

    for (p = (const unsigned char *) s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char) *p;
            tt_buf_raw(b, esc, 2);

        } else if (*p < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", *p);
            tt_buf_raw(b, esc, 6);

        } else {
            tt_buf_raw(b, (const char *) p, 1);
        }
    }

    tt_buf_raw(b, "\"", 1);
}


static void
tt_buf_id(tt_buf_t *b, const char *key, const tt_ref_t *ref)
{
    if (ref->has_id) {
        tt_buf_printf(b, ",\"%s\":%lld", key, ref->id);
    }
}
