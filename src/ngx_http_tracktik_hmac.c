
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * HMAC over a list of byte strings (OpenSSL 3 EVP_MAC), shared by the
 * webhook signature check and the session cookie signature.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <openssl/evp.h>
#include <openssl/params.h>

#include "ngx_http_tracktik_hmac.h"


ngx_int_t
ngx_http_tracktik_hmac(const char *digest, ngx_str_t *key, ngx_str_t *parts,
    ngx_uint_t n, u_char *out, size_t *len)
{
    ngx_int_t        rc;
    ngx_uint_t       i;
    EVP_MAC_CTX     *ctx;
    OSSL_PARAM       params[2];

    static EVP_MAC  *mac;

    if (mac == NULL) {
        mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        if (mac == NULL) {
            return NGX_ERROR;
        }
    }

    ctx = EVP_MAC_CTX_new(mac);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    params[0] = OSSL_PARAM_construct_utf8_string("digest", (char *) digest, 0);
    params[1] = OSSL_PARAM_construct_end();

    rc = NGX_ERROR;

    if (!EVP_MAC_init(ctx, key->len ? key->data : (u_char *) "", key->len,
                      params))
    {
        goto done;
    }

    for (i = 0; i < n; i++) {
        if (parts[i].len && !EVP_MAC_update(ctx, parts[i].data, parts[i].len))
        {
            goto done;
        }
    }

    if (!EVP_MAC_final(ctx, out, len, EVP_MAX_MD_SIZE)) {
        goto done;
    }

    rc = NGX_OK;

done:

    EVP_MAC_CTX_free(ctx);

    return rc;
}


ngx_int_t
ngx_http_tracktik_hex_decode(u_char *dst, ngx_str_t *src)
{
    u_char      c, v;
    ngx_uint_t  i;

    for (i = 0; i < src->len; i++) {
        c = src->data[i];

        if (c >= '0' && c <= '9') {
            v = c - '0';

        } else {
            c |= 0x20;

            if (c >= 'a' && c <= 'f') {
                v = c - 'a' + 10;

            } else {
                return NGX_ERROR;
            }
        }

        if (i % 2) {
            dst[i / 2] |= v;

        } else {
            dst[i / 2] = (u_char) (v << 4);
        }
    }

    return NGX_OK;
}
