
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * Directive handlers of ngx_http_tracktik_module, and the checks of a
 * merged location configuration.  The directive table itself is in
 * ngx_http_tracktik_module.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_module.h"
#include "ngx_http_tracktik_conninfo.h"
#include "ngx_http_tracktik_directives.h"
#include "ngx_http_tracktik_portal.h"
#include "ngx_http_tracktik_signature.h"
#include "ngx_http_tracktik_webhook.h"


/*
 * A key=value parameter of tracktik_postgres.  Adding one is a row of
 * ngx_http_tracktik_pg_params[] (and its default in init_main_conf).
 */

typedef struct {
    ngx_str_t                        name;
    ngx_int_t                      (*parse)(ngx_str_t *value, void *field,
                                       ngx_uint_t max);
    size_t                           offset;   /* in the main conf */
    ngx_uint_t                       max;      /* 0: no limit */
} ngx_http_tracktik_pg_param_t;


/* NULL when a line of a secret file is usable, else what is wrong */
typedef const char *(*ngx_http_tracktik_secret_check_pt)(ngx_conf_t *cf,
    ngx_http_tracktik_secret_t *secret);


static ngx_str_t *ngx_http_tracktik_pg_args(ngx_conf_t *cf,
    ngx_http_tracktik_main_conf_t *tmcf,
    ngx_http_tracktik_pg_param_t *params);
static ngx_int_t ngx_http_tracktik_param_number(ngx_str_t *value,
    void *field, ngx_uint_t max);
static ngx_int_t ngx_http_tracktik_param_msec(ngx_str_t *value, void *field,
    ngx_uint_t max);
static char *ngx_http_tracktik_secrets(ngx_conf_t *cf,
    ngx_array_t **secrets, const char *noun,
    ngx_http_tracktik_secret_check_pt check);
static const char *ngx_http_tracktik_webhook_secret(ngx_conf_t *cf,
    ngx_http_tracktik_secret_t *secret);
static const char *ngx_http_tracktik_session_secret(ngx_conf_t *cf,
    ngx_http_tracktik_secret_t *secret);


static ngx_http_tracktik_pg_param_t  ngx_http_tracktik_pg_params[] = {

    /* connections of the webhook pool, per worker */
    { ngx_string("pool"), ngx_http_tracktik_param_number,
      offsetof(ngx_http_tracktik_main_conf_t, pg.size), 0 },

    /* connections of the portal pool, per worker */
    { ngx_string("portal_pool"), ngx_http_tracktik_param_number,
      offsetof(ngx_http_tracktik_main_conf_t, portal_pg.size), 0 },

    /* deliveries waiting for a connection */
    { ngx_string("queue"), ngx_http_tracktik_param_number,
      offsetof(ngx_http_tracktik_main_conf_t, pg.queue_size), 0 },

    /* deliveries in one group commit */
    { ngx_string("batch"), ngx_http_tracktik_param_number,
      offsetof(ngx_http_tracktik_main_conf_t, batch_size), 10000 },

    /* group INSERTs in flight at once */
    { ngx_string("inflight"), ngx_http_tracktik_param_number,
      offsetof(ngx_http_tracktik_main_conf_t, inflight), 0 },

    { ngx_string("connect_timeout"), ngx_http_tracktik_param_msec,
      offsetof(ngx_http_tracktik_main_conf_t, pg.connect_timeout), 0 },

    { ngx_string("query_timeout"), ngx_http_tracktik_param_msec,
      offsetof(ngx_http_tracktik_main_conf_t, pg.query_timeout), 0 },

    /*
     * PostgreSQL's own limit on one statement of either pool (sent as
     * "-c statement_timeout" in the connection's options), so that what
     * nginx gave up on stops on the server too; default: query_timeout
     */
    { ngx_string("statement_timeout"), ngx_http_tracktik_param_msec,
      offsetof(ngx_http_tracktik_main_conf_t, statement_timeout),
      NGX_MAX_INT32_VALUE },

    { ngx_null_string, NULL, 0, 0 }
};


/*
 * The parameters of tracktik_portal_postgres: those of its own pool;
 * what is not given is tracktik_postgres's (init_main_conf).
 */

static ngx_http_tracktik_pg_param_t  ngx_http_tracktik_portal_pg_params[] = {

    /* connections of the portal pool, per worker (= portal_pool) */
    { ngx_string("pool"), ngx_http_tracktik_param_number,
      offsetof(ngx_http_tracktik_main_conf_t, portal_pg.size), 0 },

    { ngx_string("queue"), ngx_http_tracktik_param_number,
      offsetof(ngx_http_tracktik_main_conf_t, portal_pg.queue_size), 0 },

    { ngx_string("connect_timeout"), ngx_http_tracktik_param_msec,
      offsetof(ngx_http_tracktik_main_conf_t, portal_pg.connect_timeout),
      0 },

    { ngx_string("query_timeout"), ngx_http_tracktik_param_msec,
      offsetof(ngx_http_tracktik_main_conf_t, portal_pg.query_timeout), 0 },

    { ngx_string("statement_timeout"), ngx_http_tracktik_param_msec,
      offsetof(ngx_http_tracktik_main_conf_t, portal_statement_timeout),
      NGX_MAX_INT32_VALUE },

    { ngx_null_string, NULL, 0, 0 }
};


/* tracktik_postgres "conninfo" [pool=N] [queue=N] ... */

char *
ngx_http_tracktik_postgres(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tracktik_main_conf_t *tmcf = conf;

    ngx_str_t  *value, *invalid;

    if (tmcf->configured) {
        return "is duplicate";
    }

    value = cf->args->elts;

    invalid = ngx_http_tracktik_pg_args(cf, tmcf, ngx_http_tracktik_pg_params);

    if (invalid) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" (expected pool=N, "
                           "portal_pool=N, queue=N, batch=N, inflight=N, "
                           "connect_timeout=TIME, query_timeout=TIME or "
                           "statement_timeout=TIME)", invalid);
        return NGX_CONF_ERROR;
    }

    if (tmcf->statement_timeout == 0) {
        /* query_timeout, or its default (init_main_conf) */
        tmcf->statement_timeout =
                        (tmcf->pg.query_timeout != NGX_CONF_UNSET_MSEC)
                        ? tmcf->pg.query_timeout
                        : NGX_HTTP_TRACKTIK_QUERY_TIMEOUT;
    }

    if (ngx_http_tracktik_conninfo(cf, &tmcf->pg, &value[1],
                                   tmcf->statement_timeout)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    tmcf->configured = 1;

    return NGX_CONF_OK;
}


/*
 * tracktik_portal_postgres "conninfo" [pool=N] [queue=N] ...: the portal's
 * pool connects with a conninfo of its own (its own role, another host; not
 * a hot standby: logins write).  The conninfo is checked here and made
 * ready for libpq in init_main_conf, once tracktik_postgres's timeouts,
 * which it inherits, are known wherever that directive is.
 */

char *
ngx_http_tracktik_portal_postgres(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_tracktik_main_conf_t *tmcf = conf;

    char              *err;
    size_t             n;
    ngx_str_t         *value, *invalid;
    PQconninfoOption  *opts;

    if (tmcf->portal_conninfo.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    invalid = ngx_http_tracktik_pg_args(cf, tmcf,
                                        ngx_http_tracktik_portal_pg_params);

    if (invalid) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" (expected pool=N, "
                           "queue=N, connect_timeout=TIME, "
                           "query_timeout=TIME or statement_timeout=TIME)",
                           invalid);
        return NGX_CONF_ERROR;
    }

    /* a NUL-terminated copy for libpq (the value is not) */
    tmcf->portal_conninfo.len = value[1].len;
    tmcf->portal_conninfo.data = ngx_pnalloc(cf->pool, value[1].len + 1);
    if (tmcf->portal_conninfo.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_cpystrn(tmcf->portal_conninfo.data, value[1].data, value[1].len + 1);

    err = NULL;
    opts = PQconninfoParse((char *) tmcf->portal_conninfo.data, &err);

    if (opts == NULL) {
        /* libpq's message ends with a line feed */
        n = err ? ngx_strlen(err) : 0;
        while (n && (err[n - 1] == '\n' || err[n - 1] == ' ')) {
            n--;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid PostgreSQL conninfo: %*s",
                           err ? n : sizeof("out of memory") - 1,
                           err ? err : "out of memory");
        if (err) {
            PQfreemem(err);
        }

        return NGX_CONF_ERROR;
    }

    PQconninfoFree(opts);

    return NGX_CONF_OK;
}


/* the key=value arguments after the conninfo; the first bad one, or NULL */

static ngx_str_t *
ngx_http_tracktik_pg_args(ngx_conf_t *cf, ngx_http_tracktik_main_conf_t *tmcf,
    ngx_http_tracktik_pg_param_t *params)
{
    u_char                        *p;
    ngx_str_t                     *value, name, arg;
    ngx_uint_t                     i;
    ngx_http_tracktik_pg_param_t  *param;

    value = cf->args->elts;

    for (i = 2; i < cf->args->nelts; i++) {

        p = ngx_strlchr(value[i].data, value[i].data + value[i].len, '=');

        if (p == NULL) {
            return &value[i];
        }

        name.data = value[i].data;
        name.len = p - value[i].data;
        arg.data = p + 1;
        arg.len = value[i].data + value[i].len - arg.data;

        for (param = params; param->name.len; param++) {
            if (param->name.len == name.len
                && ngx_strncmp(param->name.data, name.data, name.len) == 0)
            {
                break;
            }
        }

        if (param->name.len == 0
            || param->parse(&arg, (char *) tmcf + param->offset, param->max)
               != NGX_OK)
        {
            return &value[i];
        }
    }

    return NULL;
}


/* a positive number, at most max when max is set */

static ngx_int_t
ngx_http_tracktik_param_number(ngx_str_t *value, void *field, ngx_uint_t max)
{
    ngx_int_t  n;

    n = ngx_atoi(value->data, value->len);

    if (n == NGX_ERROR || n == 0 || (max && (ngx_uint_t) n > max)) {
        return NGX_ERROR;
    }

    *(ngx_uint_t *) field = n;

    return NGX_OK;
}


/* a positive time, "500ms", "5s", at most max milliseconds when set */

static ngx_int_t
ngx_http_tracktik_param_msec(ngx_str_t *value, void *field, ngx_uint_t max)
{
    ngx_msec_t  ms;

    ms = ngx_parse_time(value, 0);

    if (ms == (ngx_msec_t) NGX_ERROR || ms == 0 || (max && ms > max)) {
        return NGX_ERROR;
    }

    *(ngx_msec_t *) field = ms;

    return NGX_OK;
}


char *
ngx_http_tracktik_webhook(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tracktik_loc_conf_t *tlcf = conf;

    char                           *rv;
    ngx_http_tracktik_main_conf_t  *tmcf;

    rv = ngx_http_tracktik_content(cf, ngx_http_tracktik_webhook_handler,
                                   &tlcf->webhook);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_tracktik_module);

    if (tmcf->webhook.len == 0) {
        tmcf->webhook = tlcf->webhook;
    }

    return NGX_CONF_OK;
}


/* tracktik_webhook_auth NAME: a row of ngx_http_tracktik_schemes[] */

char *
ngx_http_tracktik_webhook_auth(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_tracktik_loc_conf_t *tlcf = conf;

    ngx_str_t                   *value;
    ngx_http_tracktik_scheme_t  *scheme;

    if (tlcf->auth != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (scheme = ngx_http_tracktik_schemes; scheme->name.len; scheme++) {
        if (scheme->name.len == value[1].len
            && ngx_strncasecmp(scheme->name.data, value[1].data,
                               value[1].len) == 0)
        {
            tlcf->auth = scheme - ngx_http_tracktik_schemes;
            return NGX_CONF_OK;
        }
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid value \"%V\"",
                       &value[1]);

    return NGX_CONF_ERROR;
}


/*
 * One secret per line (ngx_http_tracktik_read_secrets()); a "whsec_" line
 * is decoded now, so a bad one is refused at nginx -t.
 */

char *
ngx_http_tracktik_secret_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tracktik_loc_conf_t *tlcf = conf;

    return ngx_http_tracktik_secrets(cf, &tlcf->secrets, "secret file",
                                     ngx_http_tracktik_webhook_secret);
}


/*
 * The first line signs new session cookies; every line is accepted when
 * checking one, so the key rotates without logging everybody out.
 */

char *
ngx_http_tracktik_session_secret_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_tracktik_loc_conf_t *tlcf = conf;

    return ngx_http_tracktik_secrets(cf, &tlcf->session_secrets,
                                     "session secret file",
                                     ngx_http_tracktik_session_secret);
}


/* reads the file named by the directive and checks each of its lines */

static char *
ngx_http_tracktik_secrets(ngx_conf_t *cf, ngx_array_t **secrets,
    const char *noun, ngx_http_tracktik_secret_check_pt check)
{
    ngx_str_t                   *value;
    ngx_uint_t                   i;
    const char                  *error;
    ngx_http_tracktik_secret_t  *secret;

    if (*secrets != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_tracktik_read_secrets(cf, &value[1], secrets)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    secret = (*secrets)->elts;

    for (i = 0; i < (*secrets)->nelts; i++) {
        error = check(cf, &secret[i]);

        if (error) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "line %ui of %s \"%V\" %s",
                               secret[i].line, noun, &value[1], error);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static const char *
ngx_http_tracktik_webhook_secret(ngx_conf_t *cf,
    ngx_http_tracktik_secret_t *secret)
{
    if (ngx_http_tracktik_secret_decode(cf, secret) != NGX_OK) {
        return "starts with \"whsec_\" but is not valid base64";
    }

    return NULL;
}


static const char *
ngx_http_tracktik_session_secret(ngx_conf_t *cf,
    ngx_http_tracktik_secret_t *secret)
{
    secret->key = secret->text;

    if (secret->text.len < 32) {
        return "is shorter than 32 characters";
    }

    return NULL;
}


char *
ngx_http_tracktik_portal_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tracktik_loc_conf_t *tlcf = conf;

    ngx_http_tracktik_main_conf_t  *tmcf;

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_tracktik_module);
    tmcf->portal = 1;

    return ngx_http_tracktik_content(cf, ngx_http_tracktik_portal_handler,
                                     &tlcf->portal_api);
}


/* tracktik_portal_auth on|off: "on" needs the access phase handler */

char *
ngx_http_tracktik_portal_auth(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tracktik_loc_conf_t *tlcf = conf;

    char                           *rv;
    ngx_http_tracktik_main_conf_t  *tmcf;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (tlcf->portal_auth) {
        tmcf = ngx_http_conf_get_module_main_conf(cf,
                                                  ngx_http_tracktik_module);
        tmcf->portal = 1;
        tmcf->access = 1;
    }

    return NGX_CONF_OK;
}


/* tracktik_portal_password_cpu 10%;  the share of one core per worker */

char *
ngx_http_tracktik_password_cpu(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_tracktik_main_conf_t *tmcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (tmcf->password_cpu != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = NGX_ERROR;

    if (value[1].len > 1 && value[1].data[value[1].len - 1] == '%') {
        n = ngx_atoi(value[1].data, value[1].len - 1);
    }

    if (n < 1 || n > 100) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\": a share of "
                           "one core from 1%% to 100%%",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    tmcf->password_cpu = n;

    return NGX_CONF_OK;
}


/*
 * The location's content handler; where, unless NULL, is set to
 * "file:line" of the directive, for later error messages.
 */

char *
ngx_http_tracktik_content(ngx_conf_t *cf, ngx_http_handler_pt handler,
    ngx_str_t *where)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "is duplicate or conflicts with another content handler";
    }

    clcf->handler = handler;

    if (where == NULL) {
        return NGX_CONF_OK;
    }

    where->data = ngx_pnalloc(cf->pool,
                              cf->conf_file->file.name.len + NGX_INT_T_LEN + 2);
    if (where->data == NULL) {
        return NGX_CONF_ERROR;
    }

    where->len = ngx_sprintf(where->data, "%V:%ui", &cf->conf_file->file.name,
                             cf->conf_file->line)
                 - where->data;

    return NGX_CONF_OK;
}


/* what a merged location needs, said at nginx -t */

char *
ngx_http_tracktik_check_loc_conf(ngx_conf_t *cf,
    ngx_http_tracktik_loc_conf_t *conf)
{
    ngx_uint_t                   i;
    ngx_http_tracktik_secret_t  *secret;
    ngx_http_tracktik_scheme_t  *scheme;

    if ((conf->portal_api.len || conf->portal_auth)
        && conf->session_secrets == NULL)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "the tracktik portal needs "
                      "\"tracktik_session_secret_file\"%s%V",
                      conf->portal_api.len ? " for the API in " : "",
                      &conf->portal_api);
        return NGX_CONF_ERROR;
    }

    if (conf->session_timeout == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tracktik_session_timeout\" must be positive");
        return NGX_CONF_ERROR;
    }

    if (conf->header.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tracktik_webhook_header\" must not be empty");
        return NGX_CONF_ERROR;
    }

    if (conf->webhook.len && conf->secrets == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"tracktik_webhook\" in %V has no "
                      "\"tracktik_webhook_secret_file\"", &conf->webhook);
        return NGX_CONF_ERROR;
    }

    if (conf->webhook.len) {
        scheme = &ngx_http_tracktik_schemes[conf->auth];
        secret = conf->secrets->elts;

        for (i = 0; i < conf->secrets->nelts; i++) {
            if (scheme->check_secret(cf, &secret[i]) != NGX_CONF_OK) {
                return NGX_CONF_ERROR;
            }
        }
    }

    if (conf->tolerance == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tracktik_webhook_tolerance\" must be positive");
        return NGX_CONF_ERROR;
    }

    /* a stream's place in PostgreSQL lasts ten minutes at most
     * (portal_api_events()): a longer stream would need a second one */

    if (conf->events_lifetime == 0
        || conf->events_lifetime > 10 * 60 * 1000)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"tracktik_portal_events_"
                           "lifetime\" must be more than 0 and at most 10m");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
