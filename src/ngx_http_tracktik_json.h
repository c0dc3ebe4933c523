
/*
 * Copyright (C) ngx_http_tracktik authors
 */


#ifndef _NGX_HTTP_TRACKTIK_JSON_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_JSON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * NULL when body is a JSON object, else why it is not (the client's
 * error: 400).  Strings are not checked here.
 */
const char *ngx_http_tracktik_json_check(ngx_str_t *body);

/*
 * For a body that passed the check: NULL when PostgreSQL's jsonb takes
 * its strings, else what it would refuse (invalid UTF-8, a \u0000 escape,
 * a lone UTF-16 surrogate escape).  Such a body is still a delivery: it
 * is stored as bytes (a dead letter).
 */
const char *ngx_http_tracktik_json_jsonb_refuses(ngx_str_t *body);

/*
 * NGX_OK when PostgreSQL takes the bytes as text: strict UTF-8 without
 * NUL (used for the portal's arguments too).
 */
ngx_int_t ngx_http_tracktik_text_valid(u_char *p, size_t len);


#endif /* _NGX_HTTP_TRACKTIK_JSON_H_INCLUDED_ */
