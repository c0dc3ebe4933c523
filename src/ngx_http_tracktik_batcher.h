
/*
 * Copyright (C) ngx_http_tracktik authors
 */


#ifndef _NGX_HTTP_TRACKTIK_BATCHER_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_BATCHER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_tracktik_module.h"


typedef struct ngx_http_tracktik_delivery_s  ngx_http_tracktik_delivery_t;

/*
 * The batcher has let go of the delivery before it calls this.  result
 * "stored": the body was stored as bytes, id is the dead letter's; else
 * id is the job's, or NULL.
 */
typedef void (*ngx_http_tracktik_answer_pt)(ngx_http_tracktik_delivery_t *d,
    ngx_uint_t status, char *result, ngx_str_t *id, const char *error);


/*
 * A delivery waiting for its group's commit.  Its owner (the webhook
 * request) keeps it and calls ngx_http_tracktik_batcher_forget() if it
 * goes away first; the group keeps its own copy of the key and the body.
 */

struct ngx_http_tracktik_delivery_s {
    void                            *batch;   /* NULL: in no group */
    ngx_uint_t                       slot;
    ngx_http_tracktik_answer_pt      answer;
    void                            *data;
};


/*
 * NGX_OK: the delivery is in a group and will be answered; otherwise it
 * is not queued and the caller answers: NGX_BUSY (queue full),
 * NGX_DECLINED (PostgreSQL unavailable) or NGX_ERROR.
 */
ngx_int_t ngx_http_tracktik_batcher_add(ngx_http_tracktik_main_conf_t *tmcf,
    ngx_http_tracktik_delivery_t *d, ngx_str_t *key, ngx_str_t *body);
void ngx_http_tracktik_batcher_forget(ngx_http_tracktik_delivery_t *d);

/*
 * A body PostgreSQL's jsonb refuses: stored on its own, as bytes, in
 * tracktik_dead_letters; the same return codes as _add().
 */
ngx_int_t ngx_http_tracktik_batcher_dead_letter(
    ngx_http_tracktik_main_conf_t *tmcf, ngx_http_tracktik_delivery_t *d,
    ngx_str_t *key, ngx_str_t *body);


#endif /* _NGX_HTTP_TRACKTIK_BATCHER_H_INCLUDED_ */
