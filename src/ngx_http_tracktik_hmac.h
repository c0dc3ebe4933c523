
/*
 * Copyright (C) ngx_http_tracktik authors
 */


#ifndef _NGX_HTTP_TRACKTIK_HMAC_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_HMAC_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* digest is an OpenSSL name ("SHA256", "SHA512"); out has EVP_MAX_MD_SIZE */
ngx_int_t ngx_http_tracktik_hmac(const char *digest, ngx_str_t *key,
    ngx_str_t *parts, ngx_uint_t n, u_char *out, size_t *len);

/* hex (either case) to bytes; dst has src->len / 2 bytes */
ngx_int_t ngx_http_tracktik_hex_decode(u_char *dst, ngx_str_t *src);


#endif /* _NGX_HTTP_TRACKTIK_HMAC_H_INCLUDED_ */
