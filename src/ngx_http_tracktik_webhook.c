
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * The webhook endpoint: reads the delivery, verifies its signature over the
 * raw body bytes (ngx_http_tracktik_signature.c), checks that it is a JSON
 * object (ngx_http_tracktik_json.c) and hands it to the group commit
 * (ngx_http_tracktik_batcher.c), which answers it once it is stored: as
 * a job, or, when PostgreSQL's jsonb refuses the body, as bytes (a dead
 * letter, 202 "stored").
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_module.h"
#include "ngx_http_tracktik_batcher.h"
#include "ngx_http_tracktik_json.h"
#include "ngx_http_tracktik_metrics.h"
#include "ngx_http_tracktik_signature.h"
#include "ngx_http_tracktik_webhook.h"


typedef struct {
    ngx_http_tracktik_ctx_t          vars;     /* must be first */
    ngx_http_request_t              *request;
    ngx_http_tracktik_delivery_t     delivery;
    ngx_event_t                      timeout;
    time_t                           retry_after;
    ngx_str_t                        key;
    const char                      *refused;  /* why jsonb refuses it */
} ngx_http_tracktik_webhook_ctx_t;


static ngx_int_t ngx_http_tracktik_webhook_content_type(
    ngx_http_request_t *r);
static void ngx_http_tracktik_webhook_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_tracktik_webhook_read_body(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_tracktik_webhook_enqueue(ngx_http_request_t *r,
    ngx_http_tracktik_webhook_ctx_t *ctx, ngx_str_t *key, ngx_str_t *body);
static void ngx_http_tracktik_webhook_timeout(ngx_event_t *ev);
static void ngx_http_tracktik_webhook_cleanup(void *data);
static void ngx_http_tracktik_webhook_answer(ngx_http_tracktik_delivery_t *d,
    ngx_uint_t status, char *result, ngx_str_t *id, const char *error);
static ngx_int_t ngx_http_tracktik_webhook_send(ngx_http_request_t *r,
    ngx_uint_t status, char *result, ngx_str_t *id, const char *error);


ngx_int_t
ngx_http_tracktik_webhook_handler(ngx_http_request_t *r)
{
    ngx_int_t                         rc;
    ngx_table_elt_t                  *h;
    ngx_http_tracktik_loc_conf_t     *tlcf;
    ngx_http_tracktik_webhook_ctx_t  *ctx;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_tracktik_module);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_tracktik_webhook_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->retry_after = tlcf->retry_after;

    ngx_http_set_ctx(r, ctx, ngx_http_tracktik_module);

    if (r->method != NGX_HTTP_POST) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        ngx_str_set(&h->value, "POST");

        return ngx_http_tracktik_webhook_send(r, NGX_HTTP_NOT_ALLOWED,
                                              "rejected", NULL,
                                              "only POST is allowed");
    }

    if (ngx_http_tracktik_webhook_content_type(r) != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "tracktik webhook: content type is not JSON");

        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_tracktik_webhook_send(r,
                                    NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                    "rejected", NULL,
                                    "Content-Type must be application/json");
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r,
                                       ngx_http_tracktik_webhook_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_http_tracktik_webhook_content_type(ngx_http_request_t *r)
{
    u_char  *p, *end;
    size_t   len;

    if (r->headers_in.content_type == NULL) {
        return NGX_DECLINED;
    }

    p = r->headers_in.content_type->value.data;
    end = p + r->headers_in.content_type->value.len;

    while (p < end && *p == ' ') {
        p++;
    }

    len = 0;

    while (p + len < end && p[len] != ';' && p[len] != ' ') {
        len++;
    }

    if (len == sizeof("application/json") - 1
        && ngx_strncasecmp(p, (u_char *) "application/json", len) == 0)
    {
        return NGX_OK;
    }

    /* structured syntax suffix, e.g. application/vnd.tracktik+json */

    if (len > sizeof("application/+json") - 1
        && ngx_strncasecmp(p, (u_char *) "application/", 12) == 0
        && ngx_strncasecmp(p + len - 5, (u_char *) "+json", 5) == 0)
    {
        return NGX_OK;
    }

    return NGX_DECLINED;
}


static void
ngx_http_tracktik_webhook_body_handler(ngx_http_request_t *r)
{
    ngx_int_t                         rc;
    ngx_str_t                         body, key;
    const char                       *error;
    ngx_http_tracktik_scheme_t       *scheme;
    ngx_http_tracktik_loc_conf_t     *tlcf;
    ngx_http_tracktik_webhook_ctx_t  *ctx;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_tracktik_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_tracktik_module);
    scheme = &ngx_http_tracktik_schemes[tlcf->auth];

    r->connection->log->action = "verifying a TrackTik webhook";

    if (ngx_http_tracktik_webhook_read_body(r, &body) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (tlcf->secrets == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "tracktik webhook: no tracktik_webhook_secret_file "
                      "is configured");
        rc = NGX_DECLINED;

    } else {
        rc = scheme->verify(r, tlcf, &body);
    }

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r,
            ngx_http_tracktik_webhook_send(r, NGX_HTTP_UNAUTHORIZED,
                                           "unauthorized", NULL,
                                           "signature verification failed"));
        return;
    }

    error = ngx_http_tracktik_json_check(&body);

    if (error) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "tracktik webhook: rejected body: %s", error);

        ngx_http_finalize_request(r,
            ngx_http_tracktik_webhook_send(r, NGX_HTTP_BAD_REQUEST,
                                           "rejected", NULL, error));
        return;
    }

    if (scheme->dedupe_key(r, &body, &key) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* signed and an object, yet jsonb refuses it: kept as bytes */

    ctx->refused = ngx_http_tracktik_json_jsonb_refuses(&body);

    r->connection->log->action = "queueing a TrackTik webhook";

    rc = ngx_http_tracktik_webhook_enqueue(r, ctx, &key, &body);

    if (rc == NGX_OK) {
        /* answered once the batch commits; ngx_http_test_reading() notices
         * a client that goes away meanwhile */
        r->read_event_handler = ngx_http_test_reading;
        return;
    }

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* backpressure is a warning; PostgreSQL out of reach an error */

    ngx_log_error((rc == NGX_BUSY ? NGX_LOG_WARN : NGX_LOG_ERR),
                  r->connection->log, 0, "tracktik webhook: %s",
                  rc == NGX_BUSY ? "PostgreSQL queue is full"
                                 : "PostgreSQL is unavailable");

    ngx_http_finalize_request(r,
        ngx_http_tracktik_webhook_send(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "unavailable", NULL,
                                       rc == NGX_BUSY
                                       ? "too many deliveries in flight"
                                       : "the job queue is unavailable"));
}


/*
 * The exact bytes as received: one contiguous buffer, read back from the
 * temporary file when the body was larger than client_body_buffer_size.
 */

static ngx_int_t
ngx_http_tracktik_webhook_read_body(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char       *p;
    off_t         len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        ngx_str_set(body, "");
        return NGX_OK;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && !cl->buf->in_file) {
        body->data = cl->buf->pos;
        body->len = cl->buf->last - cl->buf->pos;
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;
        len += b->in_file ? b->file_last - b->file_pos : b->last - b->pos;
    }

    p = ngx_pnalloc(r->pool, len ? len : 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;
    body->len = len;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {

            /* a chunked body ends with an empty buffer, pos NULL */

            if (b->last != b->pos) {
                p = ngx_cpymem(p, b->pos, b->last - b->pos);
            }

            continue;
        }

        len = b->file_last - b->file_pos;

        n = ngx_read_file(b->file, p, len, b->file_pos);

        if (n != len) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "could not read the request body back from \"%V\"",
                          &b->file->name);
            return NGX_ERROR;
        }

        p += len;
    }

    return NGX_OK;
}

static ngx_int_t
ngx_http_tracktik_webhook_enqueue(ngx_http_request_t *r,
    ngx_http_tracktik_webhook_ctx_t *ctx, ngx_str_t *key, ngx_str_t *body)
{
    ngx_int_t                       rc;
    ngx_pool_cleanup_t             *cln;
    ngx_http_tracktik_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_tracktik_module);

    /* the request's cleanup is set up before the batch can complete */

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_tracktik_webhook_cleanup;
    cln->data = ctx;

    ctx->request = r;
    ctx->delivery.answer = ngx_http_tracktik_webhook_answer;
    ctx->delivery.data = ctx;

    ctx->key = *key;

    if (ctx->refused) {
        rc = ngx_http_tracktik_batcher_dead_letter(tmcf, &ctx->delivery, key,
                                                   body);

    } else {
        rc = ngx_http_tracktik_batcher_add(tmcf, &ctx->delivery, key, body);
    }

    if (rc != NGX_OK) {
        /* not queued: this delivery is answered now */
        return rc;
    }

    ctx->timeout.handler = ngx_http_tracktik_webhook_timeout;
    ctx->timeout.data = ctx;
    ctx->timeout.log = r->connection->log;

    ngx_add_timer(&ctx->timeout, tmcf->pg.query_timeout);

    return NGX_OK;
}


static void
ngx_http_tracktik_webhook_timeout(ngx_event_t *ev)
{
    ngx_http_tracktik_webhook_ctx_t *ctx = ev->data;

    ngx_log_error(NGX_LOG_ERR, ev->log, NGX_ETIMEDOUT,
                  "tracktik webhook: the job was not committed in time");

    if (ctx->delivery.batch) {
        ngx_http_tracktik_batcher_forget(&ctx->delivery);
        ngx_http_tracktik_webhook_answer(&ctx->delivery,
                                         NGX_HTTP_SERVICE_UNAVAILABLE,
                                         "unavailable", NULL,
                                         "the job queue did not answer "
                                         "in time");
    }
}


static void
ngx_http_tracktik_webhook_cleanup(void *data)
{
    ngx_http_tracktik_webhook_ctx_t *ctx = data;

    if (ctx->timeout.timer_set) {
        ngx_del_timer(&ctx->timeout);
    }

    ngx_http_tracktik_batcher_forget(&ctx->delivery);
}


static void
ngx_http_tracktik_webhook_answer(ngx_http_tracktik_delivery_t *d,
    ngx_uint_t status, char *result, ngx_str_t *id, const char *error)
{
    ngx_http_tracktik_webhook_ctx_t *ctx = d->data;

    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->request;
    c = r->connection;

    if (ctx->timeout.timer_set) {
        ngx_del_timer(&ctx->timeout);
    }

    if (ngx_strcmp(result, "stored") == 0) {
        /* the key, never the body: it is the operator's to read */
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "tracktik webhook: PostgreSQL's jsonb refuses a "
                      "signed delivery (%s), stored as dead letter %V, "
                      "key \"%V\"",
                      ctx->refused ? ctx->refused
                                   : "a data error in tracktik_ingest()",
                      id, &ctx->key);
    }

    r->read_event_handler = ngx_http_block_reading;

    ngx_http_finalize_request(r,
        ngx_http_tracktik_webhook_send(r, status, result, id, error));

    ngx_http_run_posted_requests(c);
}


/*
 * {"status":result} plus "job":id, or "dead_letter":id for "stored" (no
 * job then: $tracktik_job_id stays empty), plus "error".
 */

static ngx_int_t
ngx_http_tracktik_webhook_send(ngx_http_request_t *r, ngx_uint_t status,
    char *result, ngx_str_t *id, const char *error)
{
    size_t                            len;
    ngx_int_t                         rc;
    ngx_buf_t                        *b;
    ngx_chain_t                       out;
    ngx_table_elt_t                  *h;
    ngx_http_tracktik_webhook_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tracktik_module);

    ngx_http_tracktik_metrics_delivery(r, status, result, error);

    ctx->vars.result.data = (u_char *) result;
    ctx->vars.result.len = ngx_strlen(result);

    len = sizeof("{\"status\":\"\",\"dead_letter\":}\n")
          + ctx->vars.result.len;

    if (id) {
        len += id->len;
    }

    if (id && ngx_strcmp(result, "stored") != 0) {
        ctx->vars.job_id.data = ngx_pstrdup(r->pool, id);
        if (ctx->vars.job_id.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->vars.job_id.len = id->len;
    }

    if (error) {
        /* our own messages: plain ASCII without quotes or backslashes */
        len += sizeof(",\"error\":\"\"") + ngx_strlen(error);
    }

    if (status == NGX_HTTP_SERVICE_UNAVAILABLE) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Retry-After");

        h->value.data = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
        if (h->value.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->value.len = ngx_sprintf(h->value.data, "%T", ctx->retry_after)
                       - h->value.data;

        r->keepalive = 0;
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_sprintf(b->last, "{\"status\":\"%s\"", result);

    if (id) {
        b->last = ngx_sprintf(b->last, ",\"%s\":%V",
                              ctx->vars.job_id.len ? "job" : "dead_letter",
                              id);
    }

    if (error) {
        b->last = ngx_sprintf(b->last, ",\"error\":\"%s\"", error);
    }

    b->last = ngx_cpymem(b->last, "}\n", sizeof("}\n") - 1);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
