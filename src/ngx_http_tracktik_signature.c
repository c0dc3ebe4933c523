
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * Webhook signature schemes: how a delivery proves it comes from the
 * holder of a secret, what a usable secret is, and which key makes a
 * redelivery a duplicate.  One row of ngx_http_tracktik_schemes[] each.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ngx_http_tracktik_module.h"
#include "ngx_http_tracktik_hmac.h"
#include "ngx_http_tracktik_signature.h"


#define NGX_HTTP_TRACKTIK_WEBHOOK_ID_MAX     256


static ngx_int_t ngx_http_tracktik_verify_hmac_sha512(ngx_http_request_t *r,
    ngx_http_tracktik_loc_conf_t *tlcf, ngx_str_t *body);
static ngx_int_t ngx_http_tracktik_verify_hmac_sha256(ngx_http_request_t *r,
    ngx_http_tracktik_loc_conf_t *tlcf, ngx_str_t *body);
static ngx_int_t ngx_http_tracktik_verify_hmac(ngx_http_request_t *r,
    ngx_http_tracktik_loc_conf_t *tlcf, ngx_str_t *body, const char *digest,
    size_t mdlen);
static ngx_table_elt_t *ngx_http_tracktik_signature_header(
    ngx_http_request_t *r, ngx_http_tracktik_loc_conf_t *tlcf);
static ngx_int_t ngx_http_tracktik_verify_static(ngx_http_request_t *r,
    ngx_http_tracktik_loc_conf_t *tlcf, ngx_str_t *body);
static ngx_int_t ngx_http_tracktik_verify_standard(ngx_http_request_t *r,
    ngx_http_tracktik_loc_conf_t *tlcf, ngx_str_t *body);
static char *ngx_http_tracktik_check_text(ngx_conf_t *cf,
    ngx_http_tracktik_secret_t *secret);
static char *ngx_http_tracktik_check_key(ngx_conf_t *cf,
    ngx_http_tracktik_secret_t *secret);
static char *ngx_http_tracktik_check_length(ngx_conf_t *cf,
    ngx_http_tracktik_secret_t *secret, ngx_str_t *key);
static ngx_int_t ngx_http_tracktik_dedupe_body(ngx_http_request_t *r,
    ngx_str_t *body, ngx_str_t *key);
static ngx_int_t ngx_http_tracktik_dedupe_webhook_id(ngx_http_request_t *r,
    ngx_str_t *body, ngx_str_t *key);


ngx_http_tracktik_scheme_t  ngx_http_tracktik_schemes[] = {

    /* TrackTik's own: hex HMAC-SHA512 of the body in a header */
    { ngx_string("hmac_sha512"),
      ngx_http_tracktik_verify_hmac_sha512,
      ngx_http_tracktik_check_text,
      ngx_http_tracktik_dedupe_body },

    /* the same with SHA-256 (the Express integration's scheme) */
    { ngx_string("hmac_sha256"),
      ngx_http_tracktik_verify_hmac_sha256,
      ngx_http_tracktik_check_text,
      ngx_http_tracktik_dedupe_body },

    /* the header carries the secret itself */
    { ngx_string("static"),
      ngx_http_tracktik_verify_static,
      ngx_http_tracktik_check_text,
      ngx_http_tracktik_dedupe_body },

    /* Standard Webhooks v1: webhook-id, webhook-timestamp, -signature */
    { ngx_string("standard"),
      ngx_http_tracktik_verify_standard,
      ngx_http_tracktik_check_key,
      ngx_http_tracktik_dedupe_webhook_id },

    { ngx_null_string, NULL, NULL, NULL }
};


static ngx_int_t
ngx_http_tracktik_verify_hmac_sha512(ngx_http_request_t *r,
    ngx_http_tracktik_loc_conf_t *tlcf, ngx_str_t *body)
{
    return ngx_http_tracktik_verify_hmac(r, tlcf, body, "SHA512", 64);
}


static ngx_int_t
ngx_http_tracktik_verify_hmac_sha256(ngx_http_request_t *r,
    ngx_http_tracktik_loc_conf_t *tlcf, ngx_str_t *body)
{
    return ngx_http_tracktik_verify_hmac(r, tlcf, body, "SHA256", 32);
}


static ngx_int_t
ngx_http_tracktik_verify_hmac(ngx_http_request_t *r,
    ngx_http_tracktik_loc_conf_t *tlcf, ngx_str_t *body, const char *digest,
    size_t mdlen)
{
    size_t                       len;
    ngx_uint_t                   i;
    ngx_table_elt_t             *h;
    ngx_http_tracktik_secret_t  *secret;
    u_char                       given[EVP_MAX_MD_SIZE];
    u_char                       mac[EVP_MAX_MD_SIZE];

    h = ngx_http_tracktik_signature_header(r, tlcf);
    if (h == NULL) {
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


/* tracktik_webhook_header, for the HMAC schemes and static mode */

static ngx_table_elt_t *
ngx_http_tracktik_signature_header(ngx_http_request_t *r,
    ngx_http_tracktik_loc_conf_t *tlcf)
{
    ngx_table_elt_t  *h;

    h = ngx_http_tracktik_header(r, tlcf->header.data, tlcf->header.len);

    if (h == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "tracktik webhook: no \"%V\" header", &tlcf->header);
    }

    return h;
}


static ngx_int_t
ngx_http_tracktik_verify_static(ngx_http_request_t *r,
    ngx_http_tracktik_loc_conf_t *tlcf, ngx_str_t *body)
{
    ngx_uint_t                   i;
    unsigned int                 len;
    ngx_table_elt_t             *h;
    ngx_http_tracktik_secret_t  *secret;
    u_char                       given[EVP_MAX_MD_SIZE];
    u_char                       want[EVP_MAX_MD_SIZE];

    h = ngx_http_tracktik_signature_header(r, tlcf);
    if (h == NULL) {
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
ngx_http_tracktik_verify_standard(ngx_http_request_t *r,
    ngx_http_tracktik_loc_conf_t *tlcf, ngx_str_t *body)
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
                return NGX_OK;
            }
        }
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "tracktik webhook: no valid v1 signature");

    return NGX_DECLINED;
}


/*
 * A "whsec_" line is a Standard Webhooks secret: its key is the base64
 * after the prefix.  Any other line is its own key.
 */

ngx_int_t
ngx_http_tracktik_secret_decode(ngx_conf_t *cf,
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


/* the HMAC schemes and static mode use the line as written */

static char *
ngx_http_tracktik_check_text(ngx_conf_t *cf,
    ngx_http_tracktik_secret_t *secret)
{
    return ngx_http_tracktik_check_length(cf, secret, &secret->text);
}


/* Standard Webhooks uses the decoded key of a whsec_ line */

static char *
ngx_http_tracktik_check_key(ngx_conf_t *cf,
    ngx_http_tracktik_secret_t *secret)
{
    return ngx_http_tracktik_check_length(cf, secret, &secret->key);
}


static char *
ngx_http_tracktik_check_length(ngx_conf_t *cf,
    ngx_http_tracktik_secret_t *secret, ngx_str_t *key)
{
    if (key->len == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "line %ui of secret file \"%V\" is an empty key: "
                      "anybody could sign with it",
                      secret->line, secret->file);
        return NGX_CONF_ERROR;
    }

    if (key->len < NGX_HTTP_TRACKTIK_SECRET_MIN) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "line %ui of secret file \"%V\" is a key shorter "
                      "than %d bytes: it could be guessed",
                      secret->line, secret->file,
                      NGX_HTTP_TRACKTIK_SECRET_MIN);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* the same bytes delivered again are the same delivery */

static ngx_int_t
ngx_http_tracktik_dedupe_body(ngx_http_request_t *r, ngx_str_t *body,
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


/* Standard Webhooks: the sender's webhook-id, the same on every retry */

static ngx_int_t
ngx_http_tracktik_dedupe_webhook_id(ngx_http_request_t *r, ngx_str_t *body,
    ngx_str_t *key)
{
    ngx_table_elt_t  *id;

    id = ngx_http_tracktik_header(r, (u_char *) "webhook-id", 10);

    if (id == NULL) {
        return NGX_ERROR;
    }

    key->len = sizeof("webhook-id:") - 1 + id->value.len;
    key->data = ngx_pnalloc(r->pool, key->len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(key->data, "webhook-id:%V", &id->value);

    return NGX_OK;
}
