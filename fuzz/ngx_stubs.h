
/*
 * Helpers for the module-side fuzz harnesses, in fuzz/ngx_stubs_http.c
 * beside the stand-ins for nginx (fuzz/ngx_stubs*.c): a request as a
 * handler sees it, built from a pool, and the header list the module's
 * lookups walk.
 */


#ifndef _FUZZ_NGX_STUBS_H_INCLUDED_
#define _FUZZ_NGX_STUBS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* a stand-in no harness should reach: reaching it is a finding */
#define fuzz_ngx_unreachable(name)                                            \
    do {                                                                      \
        fprintf(stderr, "fuzz: %s is not reachable from a harness\n", name); \
        abort();                                                              \
    } while (0)


/* the module's own ctx_index in the stand-in request (core is 0) */
#define FUZZ_NGX_TRACKTIK_INDEX  1
#define FUZZ_NGX_MODULES         2


/*
 * A request with its own pool, connection and log (every level enabled,
 * so each log call formats its arguments), an empty header list, the
 * cookie array, module contexts, and loc_conf / main_conf arrays whose
 * tracktik slot is conf.  Freed with ngx_destroy_pool(r->pool).
 */
ngx_http_request_t *fuzz_ngx_request(void *loc_conf, void *main_conf);

/* appends a request header; a Cookie header also goes to the cookies */
ngx_table_elt_t *fuzz_ngx_header(ngx_http_request_t *r, const char *key,
    u_char *value, size_t len);

/* a pool copy of bytes that the module may write into (libFuzzer's data
 * is read-only); NUL-terminated, as nginx's request buffers end */
u_char *fuzz_ngx_copy(ngx_pool_t *pool, const u_char *data, size_t len);

/*
 * The input after its flags byte as up to n fields separated by NUL bytes
 * (the last field takes the rest): a pool copy, each field NUL-terminated;
 * fields the input does not reach are null strings (data NULL).
 */
void fuzz_ngx_fields(ngx_pool_t *pool, const u_char *data, size_t size,
    ngx_str_t *f, ngx_uint_t n);

/* the length of the well-formed UTF-8 sequence at p, 0 if none */
size_t fuzz_ngx_utf8(const u_char *p, const u_char *last);

/* the clock ngx_time() reads */
void fuzz_ngx_set_time(time_t sec);


#endif /* _FUZZ_NGX_STUBS_H_INCLUDED_ */
