
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * Group commit of webhook deliveries.  Deliveries that arrive while an
 * INSERT is in flight gather in the next group, which goes as one
 * statement once a connection is free; each delivery is answered only
 * after its group's transaction has committed.
 *
 * A body PostgreSQL's jsonb refuses is stored as bytes instead, on its
 * own (a dead letter): when the webhook's check finds it so, or when
 * PostgreSQL refuses it in a group (the group is split to find it).
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_tracktik_module.h"
#include "ngx_http_tracktik_batcher.h"
#include "ngx_http_tracktik_metrics.h"


typedef struct ngx_http_tracktik_batch_s  ngx_http_tracktik_batch_t;


/* one delivery in a group */
typedef struct {
    ngx_http_tracktik_delivery_t    *delivery; /* NULL once answered/gone */
    ngx_str_t                        key;
    ngx_str_t                        body;
    ngx_int_t                        row;      /* statement row, from 0 */
    unsigned                         leader:1; /* first with its key */
} ngx_http_tracktik_item_t;


struct ngx_http_tracktik_batch_s {
    ngx_http_tracktik_pg_query_t     query;    /* must be first */
    ngx_queue_t                      link;     /* batcher->waiting */
    ngx_pool_t                      *pool;
    ngx_http_tracktik_batcher_t     *batcher;
    ngx_array_t                      items;
    ngx_uint_t                       rows;
    unsigned                         waiting:1; /* not yet submitted */
    unsigned                         counted:1; /* in batcher->inflight */
};


/*
 * Per worker process: at most tmcf->inflight statements are in flight;
 * deliveries arriving meanwhile gather in the waiting batches, so the
 * busier the endpoint, the more deliveries share one commit.
 */

struct ngx_http_tracktik_batcher_s {
    ngx_http_tracktik_main_conf_t   *tmcf;
    ngx_queue_t                      waiting;  /* oldest first */
    ngx_uint_t                       nwaiting; /* deliveries in them */
    ngx_uint_t                       inflight;
    ngx_event_t                      kick;
};


static ngx_http_tracktik_batcher_t *ngx_http_tracktik_batcher(
    ngx_http_tracktik_main_conf_t *tmcf);
static ngx_int_t ngx_http_tracktik_batcher_submit(
    ngx_http_tracktik_batcher_t *batcher,
    ngx_http_tracktik_delivery_t *current);
static void ngx_http_tracktik_batcher_kick(ngx_event_t *ev);
static ngx_http_tracktik_batch_t *ngx_http_tracktik_batch_create(
    ngx_http_tracktik_batcher_t *batcher, ngx_log_t *log);
static ngx_int_t ngx_http_tracktik_batch_add(ngx_http_tracktik_batch_t *batch,
    ngx_http_tracktik_delivery_t *d, ngx_str_t *key, ngx_str_t *body);
static ngx_int_t ngx_http_tracktik_batch_single(
    ngx_http_tracktik_batcher_t *batcher, ngx_http_tracktik_delivery_t *d,
    ngx_str_t *key, ngx_str_t *body, ngx_uint_t dead_letter);
static ngx_int_t ngx_http_tracktik_batch_prepare(
    ngx_http_tracktik_pg_query_t *q);
static u_char *ngx_http_tracktik_batch_sql(ngx_pool_t *pool,
    ngx_uint_t rows);
static void ngx_http_tracktik_batch_done(ngx_http_tracktik_pg_query_t *q,
    PGresult *res, ngx_int_t rc);
static void ngx_http_tracktik_batch_failed(ngx_http_tracktik_batch_t *batch,
    ngx_uint_t data_error);
static ngx_int_t ngx_http_tracktik_dead_letter_prepare(
    ngx_http_tracktik_pg_query_t *q);
static void ngx_http_tracktik_dead_letter_done(
    ngx_http_tracktik_pg_query_t *q, PGresult *res, ngx_int_t rc);
static void ngx_http_tracktik_batch_answer(ngx_http_tracktik_item_t *it,
    ngx_uint_t status, char *result, ngx_str_t *job, const char *error);
static void ngx_http_tracktik_batch_destroy(ngx_http_tracktik_batch_t *batch);


ngx_int_t
ngx_http_tracktik_batcher_add(ngx_http_tracktik_main_conf_t *tmcf,
    ngx_http_tracktik_delivery_t *d, ngx_str_t *key, ngx_str_t *body)
{
    ngx_http_tracktik_batch_t    *batch;
    ngx_http_tracktik_batcher_t  *batcher;

    batcher = ngx_http_tracktik_batcher(tmcf);
    if (batcher == NULL) {
        return NGX_ERROR;
    }

    if (batcher->nwaiting >= tmcf->pg.queue_size) {
        return NGX_BUSY;
    }

    batch = NULL;

    if (!ngx_queue_empty(&batcher->waiting)) {
        batch = ngx_queue_data(ngx_queue_last(&batcher->waiting),
                               ngx_http_tracktik_batch_t, link);

        if (batch->items.nelts >= tmcf->batch_size) {
            batch = NULL;
        }
    }

    if (batch == NULL) {
        batch = ngx_http_tracktik_batch_create(batcher, ngx_cycle->log);
        if (batch == NULL) {
            return NGX_ERROR;
        }

        ngx_queue_insert_tail(&batcher->waiting, &batch->link);
        batch->waiting = 1;
    }

    if (ngx_http_tracktik_batch_add(batch, d, key, body) != NGX_OK) {
        return NGX_ERROR;
    }

    batcher->nwaiting++;

    return ngx_http_tracktik_batcher_submit(batcher, d);
}


/* the delivery's owner goes away: its group no longer answers it */

void
ngx_http_tracktik_batcher_forget(ngx_http_tracktik_delivery_t *d)
{
    ngx_http_tracktik_item_t   *items;
    ngx_http_tracktik_batch_t  *batch;

    batch = d->batch;

    if (batch == NULL) {
        return;
    }

    items = batch->items.elts;
    items[d->slot].delivery = NULL;

    d->batch = NULL;
}


/* a body jsonb refuses: stored on its own, as bytes; codes as for add() */

ngx_int_t
ngx_http_tracktik_batcher_dead_letter(ngx_http_tracktik_main_conf_t *tmcf,
    ngx_http_tracktik_delivery_t *d, ngx_str_t *key, ngx_str_t *body)
{
    ngx_http_tracktik_batcher_t  *batcher;

    batcher = ngx_http_tracktik_batcher(tmcf);
    if (batcher == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_tracktik_batch_single(batcher, d, key, body, 1);
}


/* the worker's batcher, made on first use; NULL without a pool */

static ngx_http_tracktik_batcher_t *
ngx_http_tracktik_batcher(ngx_http_tracktik_main_conf_t *tmcf)
{
    ngx_http_tracktik_batcher_t  *batcher;

    if (ngx_http_tracktik_pool(tmcf) == NULL) {
        return NULL;
    }

    if (tmcf->batcher) {
        return tmcf->batcher;
    }

    batcher = ngx_pcalloc(ngx_cycle->pool, sizeof(ngx_http_tracktik_batcher_t));
    if (batcher == NULL) {
        return NULL;
    }

    batcher->tmcf = tmcf;
    ngx_queue_init(&batcher->waiting);

    batcher->kick.handler = ngx_http_tracktik_batcher_kick;
    batcher->kick.data = batcher;
    batcher->kick.log = ngx_cycle->log;
    batcher->kick.cancelable = 1;

    tmcf->batcher = batcher;

    return batcher;
}


/*
 * Sends waiting batches while fewer than tmcf->inflight are in flight.
 * A batch PostgreSQL cannot take now has its deliveries answered 503; for
 * the current delivery (its request still in its body handler) the
 * status is returned instead.
 */

static ngx_int_t
ngx_http_tracktik_batcher_submit(ngx_http_tracktik_batcher_t *batcher,
    ngx_http_tracktik_delivery_t *current)
{
    ngx_int_t                     rc, result;
    ngx_uint_t                    i;
    ngx_queue_t                  *q;
    ngx_http_tracktik_item_t     *items;
    ngx_http_tracktik_batch_t    *batch;
    ngx_http_tracktik_pg_pool_t  *pool;

    pool = ngx_http_tracktik_pool(batcher->tmcf);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    result = NGX_OK;

    while (batcher->inflight < batcher->tmcf->inflight
           && !ngx_queue_empty(&batcher->waiting))
    {
        q = ngx_queue_head(&batcher->waiting);
        batch = ngx_queue_data(q, ngx_http_tracktik_batch_t, link);

        ngx_queue_remove(q);
        batch->waiting = 0;
        batcher->nwaiting -= batch->items.nelts;

        batch->counted = 1;
        batcher->inflight++;

        rc = ngx_http_tracktik_pg_submit(pool, &batch->query);

        if (rc == NGX_OK) {
            continue;
        }

        items = batch->items.elts;

        for (i = 0; i < batch->items.nelts; i++) {

            if (items[i].delivery == NULL) {
                continue;
            }

            if (items[i].delivery == current) {
                ngx_http_tracktik_batcher_forget(current);
                result = rc;
                continue;
            }

            ngx_http_tracktik_batch_answer(&items[i],
                                           NGX_HTTP_SERVICE_UNAVAILABLE,
                                           "unavailable", NULL,
                                           rc == NGX_BUSY
                                           ? "too many deliveries in flight"
                                           : "the job queue is unavailable");
        }

        ngx_http_tracktik_batch_destroy(batch);
    }

    return result;
}


static void
ngx_http_tracktik_batcher_kick(ngx_event_t *ev)
{
    (void) ngx_http_tracktik_batcher_submit(ev->data, NULL);
}


static ngx_http_tracktik_batch_t *
ngx_http_tracktik_batch_create(ngx_http_tracktik_batcher_t *batcher,
    ngx_log_t *log)
{
    ngx_pool_t                 *pool;
    ngx_http_tracktik_batch_t  *batch;

    pool = ngx_create_pool(4096, log);
    if (pool == NULL) {
        return NULL;
    }

    batch = ngx_pcalloc(pool, sizeof(ngx_http_tracktik_batch_t));
    if (batch == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    if (ngx_array_init(&batch->items, pool, 16,
                       sizeof(ngx_http_tracktik_item_t))
        != NGX_OK)
    {
        ngx_destroy_pool(pool);
        return NULL;
    }

    batch->pool = pool;
    batch->batcher = batcher;

    batch->query.prepare = ngx_http_tracktik_batch_prepare;
    batch->query.handler = ngx_http_tracktik_batch_done;
    batch->query.data = batch;
    batch->query.log = log;

    return batch;
}


static ngx_int_t
ngx_http_tracktik_batch_add(ngx_http_tracktik_batch_t *batch,
    ngx_http_tracktik_delivery_t *d, ngx_str_t *key, ngx_str_t *body)
{
    ngx_http_tracktik_item_t  *it;

    it = ngx_array_push(&batch->items);
    if (it == NULL) {
        return NGX_ERROR;
    }

    /*
     * The group's own copies: its statement may outlive the request (a
     * client that gives up, a timeout), and the parameters are sent only
     * after the Prepare when a connection meets this group size first.
     */

    it->key.data = ngx_pstrdup(batch->pool, key);
    it->key.len = key->len;
    it->body.data = ngx_pstrdup(batch->pool, body);
    it->body.len = body->len;

    if (it->key.data == NULL || it->body.data == NULL) {
        batch->items.nelts--;
        return NGX_ERROR;
    }

    it->delivery = d;
    it->row = -1;
    it->leader = 0;

    d->batch = batch;
    d->slot = batch->items.nelts - 1;

    return NGX_OK;
}


/*
 * A group of one delivery, submitted at once (never in the waiting list:
 * nobody joins it).  NGX_OK, or the delivery is in no group and the
 * caller answers it.
 */

static ngx_int_t
ngx_http_tracktik_batch_single(ngx_http_tracktik_batcher_t *batcher,
    ngx_http_tracktik_delivery_t *d, ngx_str_t *key, ngx_str_t *body,
    ngx_uint_t dead_letter)
{
    ngx_int_t                   rc;
    ngx_http_tracktik_batch_t  *single;

    single = ngx_http_tracktik_batch_create(batcher, ngx_cycle->log);
    if (single == NULL) {
        return NGX_ERROR;
    }

    if (dead_letter) {
        single->query.prepare = ngx_http_tracktik_dead_letter_prepare;
        single->query.handler = ngx_http_tracktik_dead_letter_done;
    }

    if (ngx_http_tracktik_batch_add(single, d, key, body) != NGX_OK) {
        ngx_http_tracktik_batch_destroy(single);
        return NGX_ERROR;
    }

    rc = ngx_http_tracktik_pg_submit(ngx_http_tracktik_pool(batcher->tmcf),
                                     &single->query);

    if (rc != NGX_OK) {
        d->batch = NULL;
        ngx_http_tracktik_batch_destroy(single);
    }

    return rc;
}


/*
 * Runs when a connection is free: seals the batch and writes one statement
 * for every delivery still waiting.  Deliveries with the same key share
 * one row.
 */

static ngx_int_t
ngx_http_tracktik_batch_prepare(ngx_http_tracktik_pg_query_t *q)
{
    ngx_http_tracktik_batch_t *batch = q->data;

    ngx_uint_t                 i, j, rows;
    ngx_http_tracktik_item_t  *items, *it;

    items = batch->items.elts;
    rows = 0;

    for (i = 0; i < batch->items.nelts; i++) {
        it = &items[i];
        it->row = -1;
        it->leader = 0;

        if (it->delivery == NULL) {
            continue;
        }

        for (j = 0; j < i; j++) {
            if (items[j].leader
                && items[j].key.len == it->key.len
                && ngx_memcmp(items[j].key.data, it->key.data, it->key.len)
                   == 0)
            {
                it->row = items[j].row;
                break;
            }
        }

        if (it->row == -1) {
            it->row = rows++;
            it->leader = 1;
        }
    }

    if (rows == 0) {
        ngx_http_tracktik_batch_destroy(batch);
        return NGX_DONE;
    }

    batch->rows = rows;
    ngx_http_tracktik_metrics_batch(rows);

    q->nparams = 2 * rows;
    q->values = ngx_palloc(batch->pool, q->nparams * sizeof(char *));
    q->lengths = ngx_palloc(batch->pool, q->nparams * sizeof(int));
    q->formats = ngx_palloc(batch->pool, q->nparams * sizeof(int));
    q->command = (const char *) ngx_http_tracktik_batch_sql(batch->pool, rows);

    if (q->values == NULL || q->lengths == NULL || q->formats == NULL
        || q->command == NULL)
    {
        return NGX_ERROR;
    }

    /* the text depends on the number of rows alone: one prepared
     * statement per group size on each connection */
    q->statement = rows;

    for (i = 0; i < batch->items.nelts; i++) {
        it = &items[i];

        if (!it->leader) {
            continue;
        }

        j = 2 * it->row;

        /*
         * binary format: text's binary form is its bytes, so the raw
         * body goes over as it is, with a length and no terminating NUL
         */

        q->values[j] = (const char *) it->key.data;
        q->lengths[j] = it->key.len;
        q->formats[j] = 1;
        q->values[j + 1] = (const char *) it->body.data;
        q->lengths[j + 1] = it->body.len;
        q->formats[j + 1] = 1;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, q->log, 0,
                   "tracktik webhook: group commit of %ui deliveries", rows);

    return NGX_OK;
}


/*
 * The statement for a group of rows: a call of tracktik_ingest()
 * (sql/functions/ingest.sql) with the keys $1, $3, ... and the payloads
 * $2, $4, ...  It answers one row (n from 1, job id) per input row, the
 * job id NULL for a key already delivered.
 */

static u_char *
ngx_http_tracktik_batch_sql(ngx_pool_t *pool, ngx_uint_t rows)
{
    u_char      *sql, *p;
    size_t       len;
    ngx_uint_t   n, i;

    static u_char  head[] = "SELECT n, job_id FROM tracktik_ingest(ARRAY[";
    static u_char  middle[] = "]::text[], ARRAY[";
    static u_char  tail[] = "]::text[])";

    len = sizeof(head) - 1 + sizeof(middle) - 1 + sizeof(tail)
          + 2 * rows * sizeof("$20000, ") - 1;

    sql = ngx_pnalloc(pool, len);
    if (sql == NULL) {
        return NULL;
    }

    p = ngx_cpymem(sql, head, sizeof(head) - 1);

    for (i = 1; i <= 2; i++) {

        for (n = 0; n < rows; n++) {
            p = ngx_sprintf(p, "%s$%ui", n ? ", " : "", 2 * n + i);
        }

        p = (i == 1) ? ngx_cpymem(p, middle, sizeof(middle) - 1)
                     : ngx_cpymem(p, tail, sizeof(tail));
    }

    return sql;
}


static void
ngx_http_tracktik_batch_done(ngx_http_tracktik_pg_query_t *q, PGresult *res,
    ngx_int_t rc)
{
    ngx_http_tracktik_batch_t *batch = q->data;

    char                      *state, *result;
    ngx_str_t                  job;
    ngx_uint_t                 i, n, status, data_error;
    ngx_http_tracktik_item_t  *items, *it;

    items = batch->items.elts;

    if (rc == NGX_OK
        && ((ngx_uint_t) PQntuples(res) != batch->rows || PQnfields(res) != 2))
    {
        ngx_log_error(NGX_LOG_ALERT, q->log, 0,
                      "tracktik webhook: the job insert returned %d rows "
                      "for %ui deliveries", PQntuples(res), batch->rows);
        rc = NGX_ERROR;
        res = NULL;
    }

    if (rc != NGX_OK) {
        state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        data_error = state && state[0] == '2' && state[1] == '2';

        ngx_http_tracktik_batch_failed(batch, data_error);
        return;
    }

    for (i = 0; i < batch->items.nelts; i++) {
        it = &items[i];

        if (it->delivery == NULL || it->row < 0) {
            continue;
        }

        n = it->row;

        if (it->leader && !PQgetisnull(res, n, 1)) {
            job.data = (u_char *) PQgetvalue(res, n, 1);
            job.len = PQgetlength(res, n, 1);
            status = NGX_HTTP_ACCEPTED;
            result = "queued";

        } else {
            ngx_str_null(&job);
            status = NGX_HTTP_OK;
            result = "duplicate";
        }

        ngx_http_tracktik_batch_answer(it, status, result,
                                       job.len ? &job : NULL, NULL);
    }

    ngx_http_tracktik_batch_destroy(batch);
}


/*
 * The group's statement failed.  A data error (SQLSTATE class 22) is a
 * payload PostgreSQL refuses, which must not fail the others: a group is
 * split into groups of one, and a group of one is stored as bytes (a
 * dead letter).  Any other error: 503 for each delivery.
 */

static void
ngx_http_tracktik_batch_failed(ngx_http_tracktik_batch_t *batch,
    ngx_uint_t data_error)
{
    ngx_uint_t                     i, dead_letter;
    ngx_http_tracktik_item_t      *items, *it;
    ngx_http_tracktik_delivery_t  *d;

    items = batch->items.elts;
    dead_letter = (batch->rows == 1);

    if (data_error && !dead_letter) {
        ngx_log_error(NGX_LOG_WARN, batch->query.log, 0,
                      "tracktik webhook: PostgreSQL refused a payload in a "
                      "group of %ui, retrying them one by one", batch->rows);
    }

    for (i = 0; i < batch->items.nelts; i++) {
        it = &items[i];
        d = it->delivery;

        if (d == NULL) {
            continue;
        }

        if (data_error
            && ngx_http_tracktik_batch_single(batch->batcher, d, &it->key,
                                              &it->body, dead_letter)
               == NGX_OK)
        {
            it->delivery = NULL;
            continue;
        }

        d->batch = batch;
        d->slot = i;

        ngx_http_tracktik_batch_answer(it, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "unavailable", NULL,
                                       "the job could not be committed");
    }

    ngx_http_tracktik_batch_destroy(batch);
}


/*
 * The one delivery of a dead-letter group, unless it went away: the key
 * as text, the body as bytea in binary format (its bytes as they are).
 * Not a prepared statement: dead letters are rare.
 */

static ngx_int_t
ngx_http_tracktik_dead_letter_prepare(ngx_http_tracktik_pg_query_t *q)
{
    ngx_http_tracktik_batch_t *batch = q->data;

    ngx_http_tracktik_item_t  *it;

    it = batch->items.elts;

    if (it->delivery == NULL) {
        ngx_http_tracktik_batch_destroy(batch);
        return NGX_DONE;
    }

    it->row = 0;
    it->leader = 1;
    batch->rows = 1;

    q->nparams = 2;
    q->values = ngx_palloc(batch->pool, 2 * sizeof(char *));
    q->lengths = ngx_palloc(batch->pool, 2 * sizeof(int));
    q->formats = ngx_palloc(batch->pool, 2 * sizeof(int));

    if (q->values == NULL || q->lengths == NULL || q->formats == NULL) {
        return NGX_ERROR;
    }

    q->command = "SELECT job_id, dead_letter_id "
                 "FROM tracktik_dead_letter_store($1::text, $2::bytea)";
    q->statement = 0;

    q->values[0] = (const char *) it->key.data;
    q->lengths[0] = it->key.len;
    q->formats[0] = 1;
    q->values[1] = (const char *) it->body.data;
    q->lengths[1] = it->body.len;
    q->formats[1] = 1;

    return NGX_OK;
}


/* answers 202 "stored" with the dead letter's id (or "queued", "duplicate") */

static void
ngx_http_tracktik_dead_letter_done(ngx_http_tracktik_pg_query_t *q,
    PGresult *res, ngx_int_t rc)
{
    ngx_http_tracktik_batch_t *batch = q->data;

    ngx_str_t                  id;
    ngx_http_tracktik_item_t  *it;

    it = batch->items.elts;

    if (it->delivery == NULL) {
        ngx_http_tracktik_batch_destroy(batch);
        return;
    }

    if (rc == NGX_OK && (PQntuples(res) != 1 || PQnfields(res) != 2)) {
        ngx_log_error(NGX_LOG_ALERT, q->log, 0,
                      "tracktik webhook: the dead letter insert returned "
                      "%d rows", PQntuples(res));
        rc = NGX_ERROR;
    }

    if (rc != NGX_OK) {
        ngx_http_tracktik_batch_answer(it, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "unavailable", NULL,
                                       "the delivery could not be stored");

    } else if (!PQgetisnull(res, 0, 1)) {
        id.data = (u_char *) PQgetvalue(res, 0, 1);
        id.len = PQgetlength(res, 0, 1);
        ngx_http_tracktik_batch_answer(it, NGX_HTTP_ACCEPTED, "stored", &id,
                                       NULL);

    } else if (!PQgetisnull(res, 0, 0)) {
        /* jsonb took it after all */
        id.data = (u_char *) PQgetvalue(res, 0, 0);
        id.len = PQgetlength(res, 0, 0);
        ngx_http_tracktik_batch_answer(it, NGX_HTTP_ACCEPTED, "queued", &id,
                                       NULL);

    } else {
        ngx_http_tracktik_batch_answer(it, NGX_HTTP_OK, "duplicate", NULL,
                                       NULL);
    }

    ngx_http_tracktik_batch_destroy(batch);
}


static void
ngx_http_tracktik_batch_answer(ngx_http_tracktik_item_t *it,
    ngx_uint_t status, char *result, ngx_str_t *job, const char *error)
{
    ngx_http_tracktik_delivery_t  *d;

    d = it->delivery;

    it->delivery = NULL;
    d->batch = NULL;

    d->answer(d, status, result, job, error);
}


static void
ngx_http_tracktik_batch_destroy(ngx_http_tracktik_batch_t *batch)
{
    ngx_http_tracktik_batcher_t  *batcher;

    batcher = batch->batcher;

    if (batch->waiting) {
        ngx_queue_remove(&batch->link);
        batcher->nwaiting -= batch->items.nelts;
    }

    if (batch->counted) {
        batcher->inflight--;

        /* the next waiting batch goes once this event is handled */

        if (!ngx_queue_empty(&batcher->waiting) && !batcher->kick.posted) {
            ngx_post_event(&batcher->kick, &ngx_posted_events);
        }
    }

    ngx_destroy_pool(batch->pool);
}
