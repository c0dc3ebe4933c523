/*
 * The parts of the module_args harness shared by its two files:
 * fuzz/module_args.c (the harness: the request, and the checks of what
 * the portal did) and fuzz/module_args_routes.c (the independent route
 * model, and the stand-ins that record what the portal did).
 */

#ifndef FUZZ_MODULE_ARGS_H
#define FUZZ_MODULE_ARGS_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_pg.h"


/* what the handler did, recorded by the stand-ins */

typedef struct {
    ngx_uint_t                      status;     /* portal_error() */
    char                           *error;
    const char                     *started;    /* login / logout */
    ngx_http_tracktik_pg_query_t   *query;      /* pg_submit() */
    char                           *allow;      /* the Allow header */
    ngx_uint_t                      metrics;    /* the route counted */
    ngx_uint_t                      counted;
} fuzz_args_t;

extern fuzz_args_t  fuzz_args;


/*
 * A restatement of the route table: method, path, whose authority the
 * route takes, function, arguments.
 */

#define FUZZ_SESSION   0        /* the session's: p_token is the cookie's */
#define FUZZ_OPEN      1        /* a link's: ?token= is p_token */
#define FUZZ_LOGIN     2        /* portal_login.c's */
#define FUZZ_LOGOUT    3

typedef struct {
    ngx_uint_t     method;
    const char    *path;
    ngx_uint_t     kind;
    const char    *function;
    const char    *args[10];      /* "q:" a query argument, "id", "" */
} fuzz_route_t;


/* the methods a harness sends, as r->method and r->method_name */

typedef struct {
    ngx_uint_t     method;
    const char    *name;
} fuzz_method_t;

#define FUZZ_METHODS  8

extern fuzz_method_t  fuzz_methods[FUZZ_METHODS];


fuzz_route_t *fuzz_args_route(ngx_str_t *path, ngx_uint_t method,
    ngx_str_t *id, ngx_uint_t *allow, const char **name);
void fuzz_args_allow(ngx_uint_t want);

#endif /* FUZZ_MODULE_ARGS_H */
