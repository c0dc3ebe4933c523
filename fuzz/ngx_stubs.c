/*
 * Stand-ins for the nginx core functions that module code calls, for the
 * module-side fuzz harnesses (tt_fuzz_ngx in fuzz/fuzz.mk links this file
 * into each).  nginx-dev ships nginx's headers, not its sources, so the
 * core is not there to link; these do what the module relies on, simply:
 *
 *   - a pool hands out one malloc() per allocation, so AddressSanitizer
 *     sees the exact bounds of each (nginx's real pools would hide an
 *     overflow inside a larger block); ngx_destroy_pool() runs the
 *     cleanups and frees everything;
 *   - logging formats the message (nginx's conversions, the subset the
 *     module uses; an unknown one aborts, so a missing stand-in shows)
 *     into a buffer and drops it: every argument a log call names is read,
 *     so a bad %V or %s is a finding even though nothing is written;
 *   - the string, base64, URI and header helpers follow the contracts of
 *     nginx 1.22 (the version build/nginx-src has), written afresh;
 *   - timers are never run: adding and deleting one does nothing else;
 *   - a few functions no harness reaches (reading files, running phases)
 *     abort when called, so reaching one is a finding too.
 *
 * String functions are in fuzz/ngx_stubs_string.c, HTTP functions and
 * the harnesses' requests in fuzz/ngx_stubs_http.c.  A harness that needs
 * another core function adds a stand-in to the file of its kind.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>

#include "ngx_stubs.h"


volatile ngx_cycle_t  *ngx_cycle;

static ngx_time_t           fuzz_ngx_time;
volatile ngx_time_t        *ngx_cached_time = &fuzz_ngx_time;
volatile ngx_msec_t         ngx_current_msec;
ngx_rbtree_t                ngx_event_timer_rbtree;
ngx_uint_t                  ngx_http_max_module = FUZZ_NGX_MODULES;

/* the core module's conf is slot 0, the tracktik module's slot 1 */
ngx_module_t  ngx_http_core_module = { 0, 0 };
ngx_module_t  ngx_http_tracktik_module = { FUZZ_NGX_TRACKTIK_INDEX, 0 };


ngx_pool_t *
ngx_create_pool(size_t size, ngx_log_t *log)
{
    ngx_pool_t  *p;

    (void) size;

    p = calloc(1, sizeof(ngx_pool_t));
    if (p == NULL) {
        return NULL;
    }

    p->log = log;

    return p;
}


void
ngx_destroy_pool(ngx_pool_t *pool)
{
    ngx_pool_large_t    *l, *next;
    ngx_pool_cleanup_t  *c, *cn;

    for (c = pool->cleanup; c; c = cn) {
        cn = c->next;
        if (c->handler) {
            c->handler(c->data);
        }
        free(c);                /* and the data it was added with */
    }

    for (l = pool->large; l; l = next) {
        next = l->next;
        free(l->alloc);
        free(l);
    }

    free(pool);
}


void *
ngx_palloc(ngx_pool_t *pool, size_t size)
{
    ngx_pool_large_t  *l;

    l = malloc(sizeof(ngx_pool_large_t));
    if (l == NULL) {
        return NULL;
    }

    l->alloc = malloc(size ? size : 1);
    if (l->alloc == NULL) {
        free(l);
        return NULL;
    }

    l->next = pool->large;
    pool->large = l;

    return l->alloc;
}


void *
ngx_pnalloc(ngx_pool_t *pool, size_t size)
{
    return ngx_palloc(pool, size);
}


void *
ngx_pcalloc(ngx_pool_t *pool, size_t size)
{
    void  *p;

    p = ngx_palloc(pool, size);
    if (p) {
        memset(p, 0, size);
    }

    return p;
}


ngx_int_t
ngx_pfree(ngx_pool_t *pool, void *p)
{
    ngx_pool_large_t  *l;

    for (l = pool->large; l; l = l->next) {
        if (l->alloc == p) {
            free(l->alloc);
            l->alloc = NULL;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


ngx_pool_cleanup_t *
ngx_pool_cleanup_add(ngx_pool_t *p, size_t size)
{
    ngx_pool_cleanup_t  *c;

    c = calloc(1, sizeof(ngx_pool_cleanup_t) + size);
    if (c == NULL) {
        return NULL;
    }

    c->data = size ? (void *) (c + 1) : NULL;

    c->next = p->cleanup;
    p->cleanup = c;

    return c;
}


void
ngx_log_error_core(ngx_uint_t level, ngx_log_t *log, ngx_err_t err,
    const char *fmt, ...)
{
    va_list  args;
    u_char   errstr[NGX_MAX_ERROR_STR];

    (void) level;
    (void) log;
    (void) err;

    va_start(args, fmt);
    (void) ngx_vslprintf(errstr, errstr + sizeof(errstr), fmt, args);
    va_end(args);
}


void ngx_cdecl
ngx_conf_log_error(ngx_uint_t level, ngx_conf_t *cf, ngx_err_t err,
    const char *fmt, ...)
{
    va_list  args;
    u_char   errstr[NGX_MAX_CONF_ERRSTR];

    (void) level;
    (void) cf;
    (void) err;

    va_start(args, fmt);
    (void) ngx_vslprintf(errstr, errstr + sizeof(errstr), fmt, args);
    va_end(args);
}


ngx_int_t
ngx_strncasecmp(u_char *s1, u_char *s2, size_t n)
{
    ngx_uint_t  c1, c2;

    while (n--) {
        c1 = *s1++;             /* ngx_tolower() evaluates its argument */
        c2 = *s2++;             /* more than once */
        c1 = ngx_tolower(c1);
        c2 = ngx_tolower(c2);

        if (c1 != c2) {
            return c1 - c2;
        }

        if (c1 == 0) {
            return 0;
        }
    }

    return 0;
}


ngx_int_t
ngx_strcasecmp(u_char *s1, u_char *s2)
{
    return ngx_strncasecmp(s1, s2, (size_t) -1);
}


ngx_int_t
ngx_atoi(u_char *line, size_t n)
{
    ngx_int_t  value;

    if (n == 0) {
        return NGX_ERROR;
    }

    for (value = 0; n--; line++) {
        if (*line < '0' || *line > '9') {
            return NGX_ERROR;
        }

        if (value > (NGX_MAX_INT_T_VALUE - (*line - '0')) / 10) {
            return NGX_ERROR;
        }

        value = value * 10 + (*line - '0');
    }

    return value;
}


ngx_int_t
ngx_hextoi(u_char *line, size_t n)
{
    u_char     c, ch;
    ngx_int_t  value;

    if (n == 0) {
        return NGX_ERROR;
    }

    for (value = 0; n--; line++) {
        if (value > NGX_MAX_INT_T_VALUE / 16) {
            return NGX_ERROR;
        }

        ch = *line;

        if (ch >= '0' && ch <= '9') {
            value = value * 16 + (ch - '0');
            continue;
        }

        c = (u_char) (ch | 0x20);

        if (c >= 'a' && c <= 'f') {
            value = value * 16 + (c - 'a' + 10);
            continue;
        }

        return NGX_ERROR;
    }

    return value;
}


u_char *
ngx_hex_dump(u_char *dst, u_char *src, size_t len)
{
    static const u_char  hex[] = "0123456789abcdef";

    while (len--) {
        *dst++ = hex[*src >> 4];
        *dst++ = hex[*src++ & 0xf];
    }

    return dst;
}


/* lists and arrays grow as nginx's do: a new part, a bigger copy */

ngx_array_t *
ngx_array_create(ngx_pool_t *p, ngx_uint_t n, size_t size)
{
    ngx_array_t  *a;

    a = ngx_palloc(p, sizeof(ngx_array_t));
    if (a == NULL || ngx_array_init(a, p, n, size) != NGX_OK) {
        return NULL;
    }

    return a;
}


void *
ngx_array_push(ngx_array_t *a)
{
    void  *elts;

    if (a->nelts == a->nalloc) {
        elts = ngx_palloc(a->pool, 2 * a->nalloc * a->size);
        if (elts == NULL) {
            return NULL;
        }

        ngx_memcpy(elts, a->elts, a->nelts * a->size);
        a->elts = elts;
        a->nalloc *= 2;
    }

    return (u_char *) a->elts + a->size * a->nelts++;
}


void *
ngx_list_push(ngx_list_t *l)
{
    ngx_list_part_t  *last;

    last = l->last;

    if (last->nelts == l->nalloc) {
        last = ngx_palloc(l->pool, sizeof(ngx_list_part_t));
        if (last == NULL) {
            return NULL;
        }

        last->elts = ngx_palloc(l->pool, l->nalloc * l->size);
        if (last->elts == NULL) {
            return NULL;
        }

        last->nelts = 0;
        last->next = NULL;

        l->last->next = last;
        l->last = last;
    }

    return (u_char *) last->elts + l->size * last->nelts++;
}


/* timers are never run in a harness */

void
ngx_rbtree_insert(ngx_rbtree_t *tree, ngx_rbtree_node_t *node)
{
    (void) tree;
    (void) node;
}


void
ngx_rbtree_delete(ngx_rbtree_t *tree, ngx_rbtree_node_t *node)
{
    (void) tree;
    (void) node;
}


/* not reachable from a harness: each aborts */

ngx_int_t
ngx_conf_full_name(ngx_cycle_t *cycle, ngx_str_t *name, ngx_uint_t conf_prefix)
{
    fuzz_ngx_unreachable("ngx_conf_full_name()");
}


ssize_t
ngx_read_file(ngx_file_t *file, u_char *buf, size_t size, off_t offset)
{
    fuzz_ngx_unreachable("ngx_read_file()");
}


/* the clock ngx_time() reads, set by a harness */

void
fuzz_ngx_set_time(time_t sec)
{
    fuzz_ngx_time.sec = sec;
    fuzz_ngx_time.msec = 0;
}
