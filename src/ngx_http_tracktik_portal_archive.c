
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * The download of an auditor's archive (doc/archive.md).  The worker
 * wrote the zip into the attachment store's archives/ directory;
 * portal_api_archive() (sql/functions/portal_archive.sql) answers 200
 * with the download's file name and the zip's key in the store once the
 * user may have it, and nginx sends the file itself through the store's
 * internal location, as it sends photos: the key never reaches the
 * client, and no byte of the zip passes through this module.  Any other
 * answer (409 while it is being built, 404) goes out as JSON.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_portal_archive.h"
#include "ngx_http_tracktik_portal_response.h"


void
ngx_http_tracktik_portal_archive(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc)
{
    u_char      *disposition, ch;
    ngx_uint_t   i;

    if (rc != NGX_OK || ctx->status != NGX_HTTP_OK || ctx->next.len == 0) {
        ngx_http_tracktik_portal_answered(r, ctx, rc);
        return;
    }

    /* the name is the database's (digits, '-', ".zip"); checked anyway,
     * it goes into a header */

    for (i = 0; i < ctx->body.len; i++) {
        ch = ctx->body.data[i];

        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z')
              || ch == '-' || ch == '.'))
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    disposition = ngx_pnalloc(r->pool, sizeof("attachment; filename=\"\"")
                                       + ctx->body.len);
    if (disposition == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_sprintf(disposition, "attachment; filename=\"%V\"%Z", &ctx->body);

    /* the static handler keeps a type already set */
    ngx_str_set(&r->headers_out.content_type, "application/zip");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    if (ngx_http_tracktik_portal_header(r, "Content-Disposition",
                                        (char *) disposition)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* then as a photo: the store's internal location sends the file */
    ngx_http_tracktik_portal_attachment(r, ctx, rc);
}
