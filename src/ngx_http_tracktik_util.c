
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * Small helpers shared by the directives and the handlers: secret files
 * and request header lookups.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_util.h"


/*
 * One secret per line; any of them may sign a delivery, so a new secret is
 * added beside the old one, nginx reloaded, and the old line removed once
 * TrackTik signs with the new one.  Blank lines are ignored and surrounding
 * whitespace is trimmed.  The file is read when the configuration is loaded
 * (nginx -t, start, reload); its contents never reach a log.
 */

char *
ngx_http_tracktik_read_secrets(ngx_conf_t *cf, ngx_str_t *file,
    ngx_array_t **secrets)
{
    u_char                      *p, *last, *eol, *start, *end;
    size_t                       size;
    ssize_t                      n;
    ngx_fd_t                     fd;
    ngx_str_t                    name, *full;
    ngx_file_t                   f;
    ngx_uint_t                   line;
    ngx_file_info_t              fi;
    ngx_http_tracktik_secret_t  *secret;

    name = *file;

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &name);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", &name);
        ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    size = ngx_file_size(&fi);

    if (size > 65536) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "secret file \"%V\" is too large", &name);
        ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&f, sizeof(ngx_file_t));
    f.fd = fd;
    f.name = name;
    f.log = cf->log;

    p = ngx_pnalloc(cf->pool, size + 1);
    if (p == NULL) {
        ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_file(&f, p, size, 0);

    ngx_close_file(fd);

    if (n == NGX_ERROR || (size_t) n != size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "could not read secret file \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    *secrets = ngx_array_create(cf->pool, 2,
                                sizeof(ngx_http_tracktik_secret_t));
    full = ngx_palloc(cf->pool, sizeof(ngx_str_t));

    if (*secrets == NULL || full == NULL) {
        return NGX_CONF_ERROR;
    }

    *full = name;

    last = p + size;
    line = 0;

    for ( /* void */ ; p < last; p = eol + 1) {

        line++;

        eol = ngx_strlchr(p, last, LF);
        if (eol == NULL) {
            eol = last;
        }

        start = p;
        end = eol;

        while (start < end && (*start == ' ' || *start == '\t')) {
            start++;
        }

        while (end > start
               && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == CR))
        {
            end--;
        }

        if (start == end) {
            continue;
        }

        secret = ngx_array_push(*secrets);
        if (secret == NULL) {
            return NGX_CONF_ERROR;
        }

        secret->text.data = start;
        secret->text.len = end - start;
        secret->key = secret->text;
        secret->line = line;
        secret->file = full;
    }

    if ((*secrets)->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "secret file \"%V\" has no secrets", &name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* the first request header with this name, in any case */

ngx_table_elt_t *
ngx_http_tracktik_header(ngx_http_request_t *r, u_char *name, size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, name, len) == 0)
        {
            return &h[i];
        }
    }
}
