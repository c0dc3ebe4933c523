
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * The webhook endpoint: reads the delivery, verifies its signature over the
 * raw body bytes, checks that it is a JSON object and queues it as a job.
 * Deliveries that arrive while an INSERT is in flight are gathered into the
 * next statement (group commit); each is answered only after that
 * statement's transaction has committed.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <yajl/yajl_parse.h>

#include "ngx_http_tracktik_module.h"
#include "ngx_http_tracktik_hmac.h"
#include "ngx_http_tracktik_webhook.h"


#define NGX_HTTP_TRACKTIK_JSON_MAX_DEPTH     128
#define NGX_HTTP_TRACKTIK_JSON_MAX_NUMBER    256
#define NGX_HTTP_TRACKTIK_WEBHOOK_ID_MAX     256


typedef struct ngx_http_tracktik_batch_s  ngx_http_tracktik_batch_t;


typedef struct {
    ngx_http_request_t              *r;        /* NULL once answered/gone */
    ngx_str_t                        key;
    ngx_str_t                        body;
    ngx_int_t                        row;      /* statement row, from 0 */
    unsigned                         leader:1; /* first with its key */
} ngx_http_tracktik_entry_t;


struct ngx_http_tracktik_batch_s {
    ngx_http_tracktik_pg_query_t     query;    /* must be first */
    ngx_queue_t                      link;     /* batcher->waiting */
    ngx_pool_t                      *pool;
    ngx_http_tracktik_batcher_t     *batcher;
    ngx_array_t                      entries;  /* entry pointers */
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


typedef struct {
    ngx_http_tracktik_ctx_t          vars;     /* must be first */
    ngx_http_tracktik_entry_t       *entry;
    ngx_event_t                      timeout;
    time_t                           retry_after;
} ngx_http_tracktik_webhook_ctx_t;


typedef struct {
    ngx_uint_t                       depth;
    ngx_uint_t                       values;
    const char                      *error;
} ngx_http_tracktik_json_check_t;


static ngx_int_t ngx_http_tracktik_webhook_content_type(
    ngx_http_request_t *r);
static void ngx_http_tracktik_webhook_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_tracktik_webhook_read_body(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_tracktik_webhook_verify(ngx_http_request_t *r,
    ngx_http_tracktik_loc_conf_t *tlcf, ngx_str_t *body, ngx_str_t *key);
static ngx_int_t ngx_http_tracktik_webhook_verify_hmac(
    ngx_http_request_t *r, ngx_http_tracktik_loc_conf_t *tlcf,
    ngx_str_t *body);
static ngx_int_t ngx_http_tracktik_webhook_verify_static(
    ngx_http_request_t *r, ngx_http_tracktik_loc_conf_t *tlcf);
static ngx_int_t ngx_http_tracktik_webhook_verify_standard(
    ngx_http_request_t *r, ngx_http_tracktik_loc_conf_t *tlcf,
    ngx_str_t *body, ngx_str_t *key);
static const char *ngx_http_tracktik_json_check(ngx_str_t *body);
static ngx_int_t ngx_http_tracktik_webhook_dedupe_key(ngx_http_request_t *r,
    ngx_str_t *body, ngx_str_t *key);
static ngx_int_t ngx_http_tracktik_webhook_enqueue(ngx_http_request_t *r,
    ngx_http_tracktik_webhook_ctx_t *ctx, ngx_str_t *key, ngx_str_t *body);
static ngx_http_tracktik_batch_t *ngx_http_tracktik_batch_create(
    ngx_http_tracktik_batcher_t *batcher, ngx_log_t *log);
static ngx_http_tracktik_entry_t *ngx_http_tracktik_batch_add(
    ngx_http_tracktik_batch_t *batch, ngx_http_request_t *r, ngx_str_t *key,
    ngx_str_t *body);
static ngx_int_t ngx_http_tracktik_batch_prepare(
    ngx_http_tracktik_pg_query_t *q);
static void ngx_http_tracktik_batch_done(ngx_http_tracktik_pg_query_t *q,
    PGresult *res, ngx_int_t rc);
static void ngx_http_tracktik_batch_split(ngx_http_tracktik_batch_t *batch);
static ngx_int_t ngx_http_tracktik_batcher_submit(
    ngx_http_tracktik_batcher_t *batcher, ngx_http_request_t *current);
static void ngx_http_tracktik_batcher_kick(ngx_event_t *ev);
static void ngx_http_tracktik_batch_destroy(ngx_http_tracktik_batch_t *batch);
static void ngx_http_tracktik_webhook_timeout(ngx_event_t *ev);
static void ngx_http_tracktik_webhook_cleanup(void *data);
static void ngx_http_tracktik_webhook_answer(ngx_http_tracktik_entry_t *e,
    ngx_uint_t status, char *result, ngx_str_t *job, const char *error);
static ngx_int_t ngx_http_tracktik_webhook_send(ngx_http_request_t *r,
    ngx_uint_t status, char *result, ngx_str_t *job, const char *error);


static u_char  ngx_http_tracktik_insert_head[] =
    "WITH input (n, dedupe_key, payload) AS (VALUES ";

static u_char  ngx_http_tracktik_insert_tail[] =
    "), fresh AS ("
        "INSERT INTO tracktik_deliveries (dedupe_key) "
        "SELECT dedupe_key FROM input ORDER BY dedupe_key "
        "ON CONFLICT DO NOTHING RETURNING dedupe_key"
    "), job AS ("
        "INSERT INTO tracktik_jobs (dedupe_key, payload) "
        "SELECT i.dedupe_key, i.payload::jsonb "
        "FROM input i JOIN fresh f USING (dedupe_key) ORDER BY i.n "
        "ON CONFLICT DO NOTHING RETURNING id, dedupe_key"
    ") "
    "SELECT i.n, j.id FROM input i LEFT JOIN job j USING (dedupe_key) "
    "ORDER BY i.n";


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
    ngx_http_tracktik_loc_conf_t     *tlcf;
    ngx_http_tracktik_webhook_ctx_t  *ctx;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_tracktik_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_tracktik_module);

    r->connection->log->action = "verifying a TrackTik webhook";

    if (ngx_http_tracktik_webhook_read_body(r, &body) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_str_null(&key);

    rc = ngx_http_tracktik_webhook_verify(r, tlcf, &body, &key);

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

    if (key.len == 0
        && ngx_http_tracktik_webhook_dedupe_key(r, &body, &key) != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

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

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "tracktik webhook: %s",
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
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
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


/*
 * NGX_OK when a configured secret signs the delivery, NGX_DECLINED when
 * none does; key is set in standard mode (the webhook-id).
 */

static ngx_int_t
ngx_http_tracktik_webhook_verify(ngx_http_request_t *r,
    ngx_http_tracktik_loc_conf_t *tlcf, ngx_str_t *body, ngx_str_t *key)
{
    if (tlcf->secrets == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "tracktik webhook: no tracktik_webhook_secret_file "
                      "is configured");
        return NGX_DECLINED;
    }

    switch (tlcf->auth) {

    case NGX_HTTP_TRACKTIK_AUTH_STATIC:
        return ngx_http_tracktik_webhook_verify_static(r, tlcf);

    case NGX_HTTP_TRACKTIK_AUTH_STANDARD:
        return ngx_http_tracktik_webhook_verify_standard(r, tlcf, body, key);

    default:
        return ngx_http_tracktik_webhook_verify_hmac(r, tlcf, body);
    }
}


static ngx_int_t
ngx_http_tracktik_webhook_verify_hmac(ngx_http_request_t *r,
    ngx_http_tracktik_loc_conf_t *tlcf, ngx_str_t *body)
{
    size_t                       len, mdlen;
    ngx_uint_t                   i;
    const char                  *digest;
    ngx_table_elt_t             *h;
    ngx_http_tracktik_secret_t  *secret;
    u_char                       given[EVP_MAX_MD_SIZE];
    u_char                       mac[EVP_MAX_MD_SIZE];

    if (tlcf->auth == NGX_HTTP_TRACKTIK_AUTH_HMAC_SHA256) {
        digest = "SHA256";
        mdlen = 32;

    } else {
        digest = "SHA512";
        mdlen = 64;
    }

    h = ngx_http_tracktik_header(r, tlcf->header.data, tlcf->header.len);

    if (h == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "tracktik webhook: no \"%V\" header", &tlcf->header);
        return NGX_DECLINED;
    }

    if (h->value.len != 2 * mdlen
        || ngx_http_tracktik_hex_decode(given, &h->value) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "tracktik webhook: \"%V\" header is not a hex "
                      "HMAC-%s", &tlcf->header, digest);
        return NGX_DECLINED;
    }

    secret = tlcf->secrets->elts;

    for (i = 0; i < tlcf->secrets->nelts; i++) {

        if (ngx_http_tracktik_hmac(digest, &secret[i].text, body, 1, mac, &len)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (len == mdlen && CRYPTO_memcmp(mac, given, mdlen) == 0) {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "tracktik webhook: signed by secret #%ui", i + 1);
            return NGX_OK;
        }
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "tracktik webhook: signature mismatch");

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_tracktik_webhook_verify_static(ngx_http_request_t *r,
    ngx_http_tracktik_loc_conf_t *tlcf)
{
    ngx_uint_t                   i;
    unsigned int                 len;
    ngx_table_elt_t             *h;
    ngx_http_tracktik_secret_t  *secret;
    u_char                       given[EVP_MAX_MD_SIZE];
    u_char                       want[EVP_MAX_MD_SIZE];

    h = ngx_http_tracktik_header(r, tlcf->header.data, tlcf->header.len);

    if (h == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "tracktik webhook: no \"%V\" header", &tlcf->header);
        return NGX_DECLINED;
    }

    /* comparing digests keeps the time independent of the secret length */

    if (!EVP_Digest(h->value.data, h->value.len, given, &len, EVP_sha256(),
                    NULL))
    {
        return NGX_ERROR;
    }

    secret = tlcf->secrets->elts;

    for (i = 0; i < tlcf->secrets->nelts; i++) {

        if (!EVP_Digest(secret[i].text.data, secret[i].text.len, want, &len,
                        EVP_sha256(), NULL))
        {
            return NGX_ERROR;
        }

        if (CRYPTO_memcmp(want, given, 32) == 0) {
            return NGX_OK;
        }
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "tracktik webhook: secret header mismatch");

    return NGX_DECLINED;
}


/*
 * Standard Webhooks v1: webhook-signature is a space separated list of
 * "v1,<base64 HMAC-SHA256 of id.timestamp.body>"; the timestamp must be
 * within the tolerance either way, which bounds replays.
 */

static ngx_int_t
ngx_http_tracktik_webhook_verify_standard(ngx_http_request_t *r,
    ngx_http_tracktik_loc_conf_t *tlcf, ngx_str_t *body, ngx_str_t *key)
{
    u_char                      *p, *last, *sig, *end;
    size_t                       len;
    time_t                       ts, now;
    ngx_str_t                    parts[5], encoded, decoded;
    ngx_uint_t                   i;
    ngx_table_elt_t             *id, *timestamp, *signature;
    ngx_http_tracktik_secret_t  *secret;
    u_char                       mac[EVP_MAX_MD_SIZE];
    u_char                       given[64];

    id = ngx_http_tracktik_header(r, (u_char *) "webhook-id", 10);
    timestamp = ngx_http_tracktik_header(r, (u_char *) "webhook-timestamp", 17);
    signature = ngx_http_tracktik_header(r, (u_char *) "webhook-signature", 17);

    if (id == NULL || timestamp == NULL || signature == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "tracktik webhook: webhook-id, webhook-timestamp or "
                      "webhook-signature header is missing");
        return NGX_DECLINED;
    }

    if (id->value.len == 0
        || id->value.len > NGX_HTTP_TRACKTIK_WEBHOOK_ID_MAX)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "tracktik webhook: invalid webhook-id");
        return NGX_DECLINED;
    }

    ts = ngx_atotm(timestamp->value.data, timestamp->value.len);
    now = ngx_time();

    if (ts == NGX_ERROR || ts > now + tlcf->tolerance
        || ts < now - tlcf->tolerance)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "tracktik webhook: webhook-timestamp is not within "
                      "%T s of the current time", tlcf->tolerance);
        return NGX_DECLINED;
    }

    parts[0] = id->value;
    ngx_str_set(&parts[1], ".");
    parts[2] = timestamp->value;
    ngx_str_set(&parts[3], ".");
    parts[4] = *body;

    secret = tlcf->secrets->elts;

    for (i = 0; i < tlcf->secrets->nelts; i++) {

        if (ngx_http_tracktik_hmac("SHA256", &secret[i].key, parts, 5, mac,
                                   &len)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        p = signature->value.data;
        last = p + signature->value.len;

        while (p < last) {

            while (p < last && *p == ' ') {
                p++;
            }

            sig = p;

            while (p < last && *p != ' ') {
                p++;
            }

            end = p;

            if (end - sig < 3 || ngx_strncmp(sig, "v1,", 3) != 0) {
                continue;
            }

            encoded.data = sig + 3;
            encoded.len = end - sig - 3;

            if (ngx_base64_decoded_length(encoded.len) > sizeof(given)) {
                continue;
            }

            decoded.data = given;

            if (ngx_decode_base64(&decoded, &encoded) != NGX_OK) {
                continue;
            }

            if (decoded.len == len && CRYPTO_memcmp(given, mac, len) == 0) {
                key->len = sizeof("webhook-id:") - 1 + id->value.len;
                key->data = ngx_pnalloc(r->pool, key->len);
                if (key->data == NULL) {
                    return NGX_ERROR;
                }

                ngx_sprintf(key->data, "webhook-id:%V", &id->value);

                return NGX_OK;
            }
        }
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "tracktik webhook: no valid v1 signature");

    return NGX_DECLINED;
}


ngx_int_t
ngx_http_tracktik_webhook_check_secret(ngx_conf_t *cf,
    ngx_http_tracktik_secret_t *secret)
{
    ngx_str_t  encoded;

    secret->key = secret->text;

    if (secret->text.len < 6
        || ngx_strncmp(secret->text.data, "whsec_", 6) != 0)
    {
        return NGX_OK;
    }

    encoded.data = secret->text.data + 6;
    encoded.len = secret->text.len - 6;

    secret->key.data = ngx_pnalloc(cf->pool,
                                   ngx_base64_decoded_length(encoded.len) + 1);
    if (secret->key.data == NULL) {
        return NGX_ERROR;
    }

    if (encoded.len == 0
        || ngx_decode_base64(&secret->key, &encoded) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* JSON validation with yajl: a JSON object PostgreSQL's jsonb will take */

static int
ngx_http_tracktik_json_value(ngx_http_tracktik_json_check_t *jc)
{
    if (jc->depth == 0) {
        jc->error = "body is not a JSON object";
        return 0;
    }

    return 1;
}


static int
ngx_http_tracktik_json_null(void *ctx)
{
    return ngx_http_tracktik_json_value(ctx);
}


static int
ngx_http_tracktik_json_boolean(void *ctx, int value)
{
    return ngx_http_tracktik_json_value(ctx);
}


static int
ngx_http_tracktik_json_number(void *ctx, const char *s, size_t len)
{
    size_t                           i;
    ngx_int_t                        exp;
    ngx_http_tracktik_json_check_t  *jc = ctx;

    if (len > NGX_HTTP_TRACKTIK_JSON_MAX_NUMBER) {
        jc->error = "a number in the body is too long";
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (s[i] == 'e' || s[i] == 'E') {
            i++;

            if (i < len && (s[i] == '+' || s[i] == '-')) {
                i++;
            }

            exp = ngx_atoi((u_char *) s + i, len - i);

            if (exp == NGX_ERROR || exp > 1000) {
                jc->error = "a number in the body is out of range";
                return 0;
            }

            break;
        }
    }

    return ngx_http_tracktik_json_value(jc);
}


static int
ngx_http_tracktik_json_string(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_tracktik_json_check_t  *jc = ctx;

    /* jsonb has no room for \u0000 */

    if (ngx_strlchr((u_char *) s, (u_char *) s + len, '\0') != NULL) {
        jc->error = "the body contains a \\u0000 escape";
        return 0;
    }

    return ngx_http_tracktik_json_value(jc);
}


static int
ngx_http_tracktik_json_key(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_tracktik_json_check_t  *jc = ctx;

    if (ngx_strlchr((u_char *) s, (u_char *) s + len, '\0') != NULL) {
        jc->error = "the body contains a \\u0000 escape";
        return 0;
    }

    return 1;
}


static int
ngx_http_tracktik_json_start(void *ctx)
{
    ngx_http_tracktik_json_check_t  *jc = ctx;

    if (++jc->depth > NGX_HTTP_TRACKTIK_JSON_MAX_DEPTH) {
        jc->error = "the body is nested too deeply";
        return 0;
    }

    return 1;
}


static int
ngx_http_tracktik_json_start_array(void *ctx)
{
    ngx_http_tracktik_json_check_t  *jc = ctx;

    if (jc->depth == 0) {
        jc->error = "body is not a JSON object";
        return 0;
    }

    return ngx_http_tracktik_json_start(ctx);
}


static int
ngx_http_tracktik_json_end(void *ctx)
{
    ngx_http_tracktik_json_check_t  *jc = ctx;

    jc->depth--;

    return 1;
}


static yajl_callbacks  ngx_http_tracktik_json_callbacks = {
    ngx_http_tracktik_json_null,
    ngx_http_tracktik_json_boolean,
    NULL,
    NULL,
    ngx_http_tracktik_json_number,
    ngx_http_tracktik_json_string,
    ngx_http_tracktik_json_start,
    ngx_http_tracktik_json_key,
    ngx_http_tracktik_json_end,
    ngx_http_tracktik_json_start_array,
    ngx_http_tracktik_json_end
};


static const char *
ngx_http_tracktik_json_check(ngx_str_t *body)
{
    yajl_status                      st;
    yajl_handle                      h;
    ngx_http_tracktik_json_check_t   jc;

    if (body->len == 0) {
        return "the body is empty";
    }

    ngx_memzero(&jc, sizeof(ngx_http_tracktik_json_check_t));

    h = yajl_alloc(&ngx_http_tracktik_json_callbacks, NULL, &jc);
    if (h == NULL) {
        return "out of memory";
    }

    st = yajl_parse(h, body->data, body->len);

    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
    }

    yajl_free(h);

    if (st == yajl_status_ok) {
        return NULL;
    }

    if (jc.error) {
        return jc.error;
    }

    return "the body is not valid JSON";
}


static ngx_int_t
ngx_http_tracktik_webhook_dedupe_key(ngx_http_request_t *r, ngx_str_t *body,
    ngx_str_t *key)
{
    u_char        *p;
    unsigned int   len;
    u_char         md[EVP_MAX_MD_SIZE];

    if (!EVP_Digest(body->data, body->len, md, &len, EVP_sha256(), NULL)) {
        return NGX_ERROR;
    }

    key->len = sizeof("sha256:") - 1 + 2 * len;
    key->data = ngx_pnalloc(r->pool, key->len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(key->data, "sha256:", sizeof("sha256:") - 1);
    ngx_hex_dump(p, md, len);

    return NGX_OK;
}


/* group commit */

static ngx_int_t
ngx_http_tracktik_webhook_enqueue(ngx_http_request_t *r,
    ngx_http_tracktik_webhook_ctx_t *ctx, ngx_str_t *key, ngx_str_t *body)
{
    ngx_int_t                        rc;
    ngx_pool_cleanup_t              *cln;
    ngx_http_tracktik_batch_t       *batch;
    ngx_http_tracktik_entry_t       *entry;
    ngx_http_tracktik_batcher_t     *batcher;
    ngx_http_tracktik_pg_pool_t     *pool;
    ngx_http_tracktik_main_conf_t   *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_tracktik_module);

    pool = ngx_http_tracktik_pool(tmcf);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    batcher = tmcf->batcher;

    if (batcher == NULL) {
        batcher = ngx_pcalloc(ngx_cycle->pool,
                              sizeof(ngx_http_tracktik_batcher_t));
        if (batcher == NULL) {
            return NGX_ERROR;
        }

        batcher->tmcf = tmcf;
        ngx_queue_init(&batcher->waiting);

        batcher->kick.handler = ngx_http_tracktik_batcher_kick;
        batcher->kick.data = batcher;
        batcher->kick.log = ngx_cycle->log;
        batcher->kick.cancelable = 1;

        tmcf->batcher = batcher;
    }

    if (batcher->nwaiting >= tmcf->pg.queue_size) {
        return NGX_BUSY;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    batch = NULL;

    if (!ngx_queue_empty(&batcher->waiting)) {
        batch = ngx_queue_data(ngx_queue_last(&batcher->waiting),
                               ngx_http_tracktik_batch_t, link);

        if (batch->entries.nelts >= tmcf->batch_size) {
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

    entry = ngx_http_tracktik_batch_add(batch, r, key, body);
    if (entry == NULL) {
        return NGX_ERROR;
    }

    batcher->nwaiting++;

    /* the request's cleanup is set up before the batch can complete */

    ctx->entry = entry;
    cln->handler = ngx_http_tracktik_webhook_cleanup;
    cln->data = r;

    rc = ngx_http_tracktik_batcher_submit(batcher, r);

    if (rc != NGX_OK) {
        /* this delivery's batch could not be sent: it is answered 503 */
        return rc;
    }

    ctx->timeout.handler = ngx_http_tracktik_webhook_timeout;
    ctx->timeout.data = r;
    ctx->timeout.log = r->connection->log;

    ngx_add_timer(&ctx->timeout, tmcf->pg.query_timeout);

    return NGX_OK;
}


/*
 * Sends waiting batches while fewer than tmcf->inflight are in flight.
 * A batch PostgreSQL cannot take now has its deliveries answered 503; for
 * the current request (still in its body handler) the status is returned
 * instead.
 */

static ngx_int_t
ngx_http_tracktik_batcher_submit(ngx_http_tracktik_batcher_t *batcher,
    ngx_http_request_t *current)
{
    ngx_int_t                          rc, result;
    ngx_uint_t                         i;
    ngx_queue_t                       *q;
    ngx_http_tracktik_batch_t         *batch;
    ngx_http_tracktik_entry_t        **entries, *e;
    ngx_http_tracktik_pg_pool_t       *pool;
    ngx_http_tracktik_webhook_ctx_t   *ctx;

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
        batcher->nwaiting -= batch->entries.nelts;

        batch->counted = 1;
        batcher->inflight++;

        rc = ngx_http_tracktik_pg_submit(pool, &batch->query);

        if (rc == NGX_OK) {
            continue;
        }

        entries = batch->entries.elts;

        for (i = 0; i < batch->entries.nelts; i++) {
            e = entries[i];

            if (e->r == NULL) {
                continue;
            }

            if (e->r == current) {
                ctx = ngx_http_get_module_ctx(current,
                                              ngx_http_tracktik_module);
                ctx->entry = NULL;
                e->r = NULL;
                result = rc;
                continue;
            }

            ngx_http_tracktik_webhook_answer(e, NGX_HTTP_SERVICE_UNAVAILABLE,
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

    if (ngx_array_init(&batch->entries, pool, 16,
                       sizeof(ngx_http_tracktik_entry_t *))
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


static ngx_http_tracktik_entry_t *
ngx_http_tracktik_batch_add(ngx_http_tracktik_batch_t *batch,
    ngx_http_request_t *r, ngx_str_t *key, ngx_str_t *body)
{
    ngx_http_tracktik_entry_t  *entry, **slot;

    entry = ngx_pcalloc(batch->pool, sizeof(ngx_http_tracktik_entry_t));
    if (entry == NULL) {
        return NULL;
    }

    slot = ngx_array_push(&batch->entries);
    if (slot == NULL) {
        return NULL;
    }

    entry->r = r;
    entry->key = *key;
    entry->body = *body;
    entry->row = -1;

    *slot = entry;

    return entry;
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

    u_char                      *p;
    size_t                       len;
    ngx_uint_t                   i, j, rows;
    ngx_http_tracktik_entry_t  **entries, *e;

    entries = batch->entries.elts;
    rows = 0;

    for (i = 0; i < batch->entries.nelts; i++) {
        e = entries[i];
        e->row = -1;
        e->leader = 0;

        if (e->r == NULL) {
            continue;
        }

        for (j = 0; j < i; j++) {
            if (entries[j]->leader
                && entries[j]->key.len == e->key.len
                && ngx_memcmp(entries[j]->key.data, e->key.data, e->key.len)
                   == 0)
            {
                e->row = entries[j]->row;
                break;
            }
        }

        if (e->row == -1) {
            e->row = rows++;
            e->leader = 1;
        }
    }

    if (rows == 0) {
        ngx_http_tracktik_batch_destroy(batch);
        return NGX_DONE;
    }

    batch->rows = rows;

    q->nparams = 2 * rows;
    q->values = ngx_palloc(batch->pool, q->nparams * sizeof(char *));
    q->lengths = ngx_palloc(batch->pool, q->nparams * sizeof(int));
    q->formats = ngx_palloc(batch->pool, q->nparams * sizeof(int));

    len = sizeof(ngx_http_tracktik_insert_head) - 1
          + rows * sizeof("(100000, $20000::text, $20000::text), ") - 1
          + sizeof(ngx_http_tracktik_insert_tail);

    p = ngx_pnalloc(batch->pool, len);

    if (q->values == NULL || q->lengths == NULL || q->formats == NULL
        || p == NULL)
    {
        return NGX_ERROR;
    }

    q->command = (const char *) p;

    /* the text depends on the number of rows alone: one prepared
     * statement per group size on each connection */
    q->statement = rows;

    p = ngx_cpymem(p, ngx_http_tracktik_insert_head,
                   sizeof(ngx_http_tracktik_insert_head) - 1);

    for (i = 0; i < batch->entries.nelts; i++) {
        e = entries[i];

        if (!e->leader) {
            continue;
        }

        j = 2 * e->row;

        /*
         * binary format: text's binary form is its bytes, so the raw
         * body goes over as it is, with a length and no terminating NUL
         */

        q->values[j] = (const char *) e->key.data;
        q->lengths[j] = e->key.len;
        q->formats[j] = 1;
        q->values[j + 1] = (const char *) e->body.data;
        q->lengths[j + 1] = e->body.len;
        q->formats[j + 1] = 1;

        p = ngx_sprintf(p, "%s(%ui, $%ui::text, $%ui::text)",
                        e->row ? ", " : "", e->row, j + 1, j + 2);
    }

    p = ngx_cpymem(p, ngx_http_tracktik_insert_tail,
                   sizeof(ngx_http_tracktik_insert_tail));

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, q->log, 0,
                   "tracktik webhook: group commit of %ui deliveries", rows);

    return NGX_OK;
}


static void
ngx_http_tracktik_batch_done(ngx_http_tracktik_pg_query_t *q, PGresult *res,
    ngx_int_t rc)
{
    ngx_http_tracktik_batch_t *batch = q->data;

    char                        *state, *result;
    ngx_str_t                    job;
    ngx_uint_t                   i, n, status, data_error;
    ngx_http_tracktik_entry_t  **entries, *e;

    entries = batch->entries.elts;

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

        if (data_error && batch->rows > 1) {

            /* one payload PostgreSQL refuses must not fail the others */

            ngx_http_tracktik_batch_split(batch);
            return;
        }

        for (i = 0; i < batch->entries.nelts; i++) {
            e = entries[i];

            if (e->r == NULL) {
                continue;
            }

            if (data_error) {
                ngx_http_tracktik_webhook_answer(e, NGX_HTTP_BAD_REQUEST,
                    "rejected", NULL,
                    "the payload was rejected by PostgreSQL");

            } else {
                ngx_http_tracktik_webhook_answer(e,
                    NGX_HTTP_SERVICE_UNAVAILABLE, "unavailable", NULL,
                    "the job could not be committed");
            }
        }

        ngx_http_tracktik_batch_destroy(batch);
        return;
    }

    for (i = 0; i < batch->entries.nelts; i++) {
        e = entries[i];

        if (e->r == NULL || e->row < 0) {
            continue;
        }

        n = e->row;

        if (e->leader && !PQgetisnull(res, n, 1)) {
            job.data = (u_char *) PQgetvalue(res, n, 1);
            job.len = PQgetlength(res, n, 1);
            status = NGX_HTTP_ACCEPTED;
            result = "queued";

        } else {
            ngx_str_null(&job);
            status = NGX_HTTP_OK;
            result = "duplicate";
        }

        ngx_http_tracktik_webhook_answer(e, status, result,
                                         job.len ? &job : NULL, NULL);
    }

    ngx_http_tracktik_batch_destroy(batch);
}


static void
ngx_http_tracktik_batch_split(ngx_http_tracktik_batch_t *batch)
{
    ngx_uint_t                         i;
    ngx_http_request_t                *r;
    ngx_http_tracktik_batch_t         *single;
    ngx_http_tracktik_entry_t        **entries, *e, *moved;
    ngx_http_tracktik_pg_pool_t       *pool;
    ngx_http_tracktik_webhook_ctx_t   *ctx;

    pool = ngx_http_tracktik_pool(batch->batcher->tmcf);
    entries = batch->entries.elts;

    ngx_log_error(NGX_LOG_WARN, batch->query.log, 0,
                  "tracktik webhook: PostgreSQL refused a payload in a "
                  "group of %ui, retrying them one by one", batch->rows);

    for (i = 0; i < batch->entries.nelts; i++) {
        e = entries[i];
        r = e->r;

        if (r == NULL) {
            continue;
        }

        ctx = ngx_http_get_module_ctx(r, ngx_http_tracktik_module);

        single = ngx_http_tracktik_batch_create(batch->batcher,
                                                batch->query.log);
        moved = single ? ngx_http_tracktik_batch_add(single, r, &e->key,
                                                     &e->body)
                       : NULL;

        if (moved == NULL
            || ngx_http_tracktik_pg_submit(pool, &single->query) != NGX_OK)
        {
            if (single) {
                if (moved) {
                    moved->r = NULL;
                }

                ngx_http_tracktik_batch_destroy(single);
            }

            ngx_http_tracktik_webhook_answer(e, NGX_HTTP_SERVICE_UNAVAILABLE,
                                             "unavailable", NULL,
                                             "the job could not be committed");
            continue;
        }

        /* a single is never in the waiting list: nobody joins it */

        e->r = NULL;
        ctx->entry = moved;
    }

    ngx_http_tracktik_batch_destroy(batch);
}


static void
ngx_http_tracktik_batch_destroy(ngx_http_tracktik_batch_t *batch)
{
    ngx_http_tracktik_batcher_t  *batcher;

    batcher = batch->batcher;

    if (batch->waiting) {
        ngx_queue_remove(&batch->link);
        batcher->nwaiting -= batch->entries.nelts;
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


static void
ngx_http_tracktik_webhook_timeout(ngx_event_t *ev)
{
    ngx_http_request_t               *r;
    ngx_http_tracktik_webhook_ctx_t  *ctx;

    r = ev->data;
    ctx = ngx_http_get_module_ctx(r, ngx_http_tracktik_module);

    ngx_log_error(NGX_LOG_ERR, r->connection->log, NGX_ETIMEDOUT,
                  "tracktik webhook: the job was not committed in time");

    if (ctx->entry) {
        ngx_http_tracktik_webhook_answer(ctx->entry,
                                         NGX_HTTP_SERVICE_UNAVAILABLE,
                                         "unavailable", NULL,
                                         "the job queue did not answer "
                                         "in time");
    }
}


static void
ngx_http_tracktik_webhook_cleanup(void *data)
{
    ngx_http_request_t *r = data;

    ngx_http_tracktik_webhook_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tracktik_module);

    if (ctx == NULL) {
        return;
    }

    if (ctx->timeout.timer_set) {
        ngx_del_timer(&ctx->timeout);
    }

    if (ctx->entry) {
        ctx->entry->r = NULL;
        ctx->entry = NULL;
    }
}


static void
ngx_http_tracktik_webhook_answer(ngx_http_tracktik_entry_t *e,
    ngx_uint_t status, char *result, ngx_str_t *job, const char *error)
{
    ngx_connection_t                 *c;
    ngx_http_request_t               *r;
    ngx_http_tracktik_webhook_ctx_t  *ctx;

    r = e->r;
    c = r->connection;

    e->r = NULL;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tracktik_module);
    ctx->entry = NULL;

    if (ctx->timeout.timer_set) {
        ngx_del_timer(&ctx->timeout);
    }

    r->read_event_handler = ngx_http_block_reading;

    ngx_http_finalize_request(r,
        ngx_http_tracktik_webhook_send(r, status, result, job, error));

    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_tracktik_webhook_send(ngx_http_request_t *r, ngx_uint_t status,
    char *result, ngx_str_t *job, const char *error)
{
    size_t                            len;
    ngx_int_t                         rc;
    ngx_buf_t                        *b;
    ngx_chain_t                       out;
    ngx_table_elt_t                  *h;
    ngx_http_tracktik_webhook_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tracktik_module);

    ctx->vars.result.data = (u_char *) result;
    ctx->vars.result.len = ngx_strlen(result);

    len = sizeof("{\"status\":\"\",\"job\":}\n") + ctx->vars.result.len;

    if (job) {
        ctx->vars.job_id.data = ngx_pstrdup(r->pool, job);
        if (ctx->vars.job_id.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->vars.job_id.len = job->len;
        len += job->len;
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

    if (job) {
        b->last = ngx_sprintf(b->last, ",\"job\":%V", job);
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
