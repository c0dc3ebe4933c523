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
 * A harness that needs another core function adds a stand-in here.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>

#include "ngx_stubs.h"


#define FUZZ_NGX_MODULES  2


volatile ngx_cycle_t  *ngx_cycle;

static ngx_time_t           fuzz_ngx_time;
volatile ngx_time_t        *ngx_cached_time = &fuzz_ngx_time;
volatile ngx_msec_t         ngx_current_msec;
ngx_rbtree_t                ngx_event_timer_rbtree;
ngx_uint_t                  ngx_http_max_module = FUZZ_NGX_MODULES;

/* the core module's conf is slot 0, the tracktik module's slot 1 */
ngx_module_t  ngx_http_core_module = { 0, 0 };
ngx_module_t  ngx_http_tracktik_module = { FUZZ_NGX_TRACKTIK_INDEX, 0 };


static u_char *fuzz_ngx_number(u_char *buf, u_char *last, uint64_t n,
    ngx_uint_t negative, ngx_uint_t hex, ngx_uint_t width, u_char pad);


#define fuzz_ngx_unreachable(name)                                            \
    do {                                                                      \
        fprintf(stderr, "fuzz: %s is not reachable from a harness\n", name); \
        abort();                                                              \
    } while (0)


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


time_t
ngx_atotm(u_char *line, size_t n)
{
    time_t  value, cutoff;

    if (n == 0) {
        return NGX_ERROR;
    }

    cutoff = NGX_MAX_TIME_T_VALUE / 10;

    for (value = 0; n--; line++) {
        if (*line < '0' || *line > '9') {
            return NGX_ERROR;
        }

        if (value > cutoff
            || value * 10 > NGX_MAX_TIME_T_VALUE - (*line - '0'))
        {
            return NGX_ERROR;
        }

        value = value * 10 + (*line - '0');
    }

    return value;
}


/* the first n bytes of s2 within [s1, last), in any case */

u_char *
ngx_strlcasestrn(u_char *s1, u_char *last, u_char *s2, size_t n)
{
    size_t  want;

    want = n + 1;               /* n is the length minus one */

    for ( /* void */ ; (size_t) (last - s1) >= want; s1++) {
        if (ngx_strncasecmp(s1, s2, want) == 0) {
            return s1;
        }
    }

    return NULL;
}


/* printf for nginx's conversions, the ones module code uses */

u_char * ngx_cdecl
ngx_sprintf(u_char *buf, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, (void *) -1, fmt, args);
    va_end(args);

    return p;
}


u_char * ngx_cdecl
ngx_snprintf(u_char *buf, size_t max, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + max, fmt, args);
    va_end(args);

    return p;
}


u_char * ngx_cdecl
ngx_slprintf(u_char *buf, u_char *last, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, last, fmt, args);
    va_end(args);

    return p;
}


u_char *
ngx_vslprintf(u_char *buf, u_char *last, const char *fmt, va_list args)
{
    u_char                *s;
    size_t                 len, slen;
    int64_t                i64;
    uint64_t               u64;
    ngx_str_t             *v;
    ngx_uint_t             width, hex, sign, star;
    u_char                 pad;

    while (*fmt && buf < last) {

        if (*fmt != '%') {
            *buf++ = *fmt++;
            continue;
        }

        fmt++;

        pad = (*fmt == '0') ? '0' : ' ';
        width = 0;
        hex = 0;
        sign = 1;
        star = 0;
        slen = (size_t) -1;

        while (*fmt >= '0' && *fmt <= '9') {
            width = width * 10 + (*fmt++ - '0');
        }

        for ( ;; ) {
            if (*fmt == 'u') {
                sign = 0;
            } else if (*fmt == 'x') {
                hex = 1;
                sign = 0;
            } else if (*fmt == 'X') {
                hex = 2;
                sign = 0;
            } else if (*fmt == '*') {
                star = 1;
                slen = va_arg(args, size_t);
            } else {
                break;
            }

            fmt++;
        }

        switch (*fmt) {

        case 'V':
            v = va_arg(args, ngx_str_t *);
            len = ngx_min((size_t) (last - buf), v->len);
            buf = ngx_cpymem(buf, v->data, len);
            fmt++;
            continue;

        case 's':
            s = va_arg(args, u_char *);
            if (star) {
                len = ngx_min((size_t) (last - buf), slen);
                buf = ngx_cpymem(buf, s, len);
            } else {
                while (*s && buf < last) {
                    *buf++ = *s++;
                }
            }
            fmt++;
            continue;

        case 'c':
            *buf++ = (u_char) va_arg(args, int);
            fmt++;
            continue;

        case 'Z':
            *buf++ = '\0';
            fmt++;
            continue;

        case 'N':
            *buf++ = LF;
            fmt++;
            continue;

        case '%':
            *buf++ = '%';
            fmt++;
            continue;

        case 'p':
            u64 = (uintptr_t) va_arg(args, void *);
            buf = fuzz_ngx_number(buf, last, u64, 0, 1, 0, ' ');
            fmt++;
            continue;

        case 'O':
            i64 = va_arg(args, off_t);
            sign = 1;
            break;

        case 'T':
            i64 = va_arg(args, time_t);
            sign = 1;
            break;

        case 'M':
            i64 = (int64_t) va_arg(args, ngx_msec_t);
            sign = 0;
            break;

        case 'z':
            if (sign) {
                i64 = va_arg(args, ssize_t);
            } else {
                i64 = (int64_t) va_arg(args, size_t);
            }
            break;

        case 'i':
            if (sign) {
                i64 = va_arg(args, ngx_int_t);
            } else {
                i64 = (int64_t) va_arg(args, ngx_uint_t);
            }
            break;

        case 'd':
            if (sign) {
                i64 = va_arg(args, int);
            } else {
                i64 = va_arg(args, u_int);
            }
            break;

        case 'l':
            if (sign) {
                i64 = va_arg(args, long);
            } else {
                i64 = (int64_t) va_arg(args, u_long);
            }
            break;

        case 'L':
            i64 = va_arg(args, int64_t);
            break;

        default:
            fprintf(stderr, "fuzz: no stand-in for the conversion %%%c\n",
                    *fmt);
            abort();
        }

        fmt++;

        if (sign && i64 < 0) {
            u64 = (uint64_t) -(i64 + 1) + 1;
            buf = fuzz_ngx_number(buf, last, u64, 1, hex, width, pad);
        } else {
            buf = fuzz_ngx_number(buf, last, (uint64_t) i64, 0, hex, width,
                                  pad);
        }
    }

    return buf;
}


static u_char *
fuzz_ngx_number(u_char *buf, u_char *last, uint64_t n, ngx_uint_t negative,
    ngx_uint_t hex, ngx_uint_t width, u_char pad)
{
    u_char       digits[NGX_INT64_LEN + 2];
    size_t       len;
    const char  *set;

    set = (hex == 2) ? "0123456789ABCDEF" : "0123456789abcdef";
    len = 0;

    do {
        digits[len++] = set[n % (hex ? 16 : 10)];
        n /= hex ? 16 : 10;
    } while (n);

    if (negative) {
        digits[len++] = '-';
    }

    while (width > len && buf < last) {
        *buf++ = pad;
        width--;
    }

    while (len && buf < last) {
        *buf++ = digits[--len];
    }

    return buf;
}


/* base64: nginx's decoder stops at the first '=', refuses any byte
 * outside the alphabet before it and a length that leaves 6 bits */

static const u_char  fuzz_ngx_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const u_char  fuzz_ngx_b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


static void
fuzz_ngx_encode(ngx_str_t *dst, ngx_str_t *src, const u_char *set,
    ngx_uint_t padding)
{
    u_char      *d, *s;
    size_t       left;
    uint32_t     bits;

    s = src->data;
    d = dst->data;

    for (left = src->len; left >= 3; left -= 3, s += 3) {
        bits = (uint32_t) s[0] << 16 | (uint32_t) s[1] << 8 | s[2];
        *d++ = set[bits >> 18];
        *d++ = set[(bits >> 12) & 0x3f];
        *d++ = set[(bits >> 6) & 0x3f];
        *d++ = set[bits & 0x3f];
    }

    if (left) {
        bits = (uint32_t) s[0] << 16 | (left == 2 ? (uint32_t) s[1] << 8 : 0);
        *d++ = set[bits >> 18];
        *d++ = set[(bits >> 12) & 0x3f];

        if (left == 2) {
            *d++ = set[(bits >> 6) & 0x3f];
        } else if (padding) {
            *d++ = '=';
        }

        if (padding) {
            *d++ = '=';
        }
    }

    dst->len = d - dst->data;
}


static ngx_int_t
fuzz_ngx_decode(ngx_str_t *dst, ngx_str_t *src, const u_char *set)
{
    u_char      *d, *hit;
    size_t       len, i;
    uint32_t     bits;
    ngx_uint_t   n;

    for (len = 0; len < src->len && src->data[len] != '='; len++) {
        if (src->data[len] == '\0'
            || (hit = (u_char *) strchr((char *) set, src->data[len]))
               == NULL)
        {
            return NGX_ERROR;
        }
    }

    if (len % 4 == 1) {
        return NGX_ERROR;
    }

    d = dst->data;
    bits = 0;
    n = 0;

    for (i = 0; i < len; i++) {
        hit = (u_char *) strchr((char *) set, src->data[i]);
        bits = bits << 6 | (uint32_t) (hit - set);

        if (++n == 4) {
            *d++ = (u_char) (bits >> 16);
            *d++ = (u_char) (bits >> 8);
            *d++ = (u_char) bits;
            bits = 0;
            n = 0;
        }
    }

    if (n == 2) {
        *d++ = (u_char) (bits >> 4);

    } else if (n == 3) {
        *d++ = (u_char) (bits >> 10);
        *d++ = (u_char) (bits >> 2);
    }

    dst->len = d - dst->data;

    return NGX_OK;
}


void
ngx_encode_base64(ngx_str_t *dst, ngx_str_t *src)
{
    fuzz_ngx_encode(dst, src, fuzz_ngx_b64, 1);
}


void
ngx_encode_base64url(ngx_str_t *dst, ngx_str_t *src)
{
    fuzz_ngx_encode(dst, src, fuzz_ngx_b64url, 0);
}


ngx_int_t
ngx_decode_base64(ngx_str_t *dst, ngx_str_t *src)
{
    return fuzz_ngx_decode(dst, src, fuzz_ngx_b64);
}


ngx_int_t
ngx_decode_base64url(ngx_str_t *dst, ngx_str_t *src)
{
    return fuzz_ngx_decode(dst, src, fuzz_ngx_b64url);
}


/*
 * URIs.  Only NGX_ESCAPE_ARGS is needed: controls, space, '"', '#', '%',
 * '&', '\'', '+', '?', DEL and every byte above it become %XX (nginx's
 * args table).  With dst NULL the count of bytes to escape is returned.
 */

static ngx_uint_t
fuzz_ngx_escape_arg(u_char c)
{
    return c <= 0x20 || c >= 0x7f || c == '"' || c == '#' || c == '%'
           || c == '&' || c == '\'' || c == '+' || c == '?';
}


uintptr_t
ngx_escape_uri(u_char *dst, u_char *src, size_t size, ngx_uint_t type)
{
    static const u_char  hex[] = "0123456789ABCDEF";

    ngx_uint_t  n;

    if (type != NGX_ESCAPE_ARGS) {
        fuzz_ngx_unreachable("ngx_escape_uri() but for NGX_ESCAPE_ARGS");
    }

    if (dst == NULL) {
        for (n = 0; size--; src++) {
            n += fuzz_ngx_escape_arg(*src);
        }

        return n;
    }

    while (size--) {
        if (fuzz_ngx_escape_arg(*src)) {
            *dst++ = '%';
            *dst++ = hex[*src >> 4];
            *dst++ = hex[*src & 0xf];
            src++;

        } else {
            *dst++ = *src++;
        }
    }

    return (uintptr_t) dst;
}


static ngx_int_t
fuzz_ngx_hex_value(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


/*
 * Type 0 only (what the module passes): %XX becomes its byte; a '%' not
 * followed by a hex digit is dropped, and so are a '%' and its one hex
 * digit when the next byte is not one (the byte itself is kept), as
 * nginx's state machine does.  The output is never longer than the input.
 */

void
ngx_unescape_uri(u_char **dst, u_char **src, size_t size, ngx_uint_t type)
{
    u_char     *d, *s, *last;
    ngx_int_t   hi, lo;

    if (type != 0) {
        fuzz_ngx_unreachable("ngx_unescape_uri() with a type");
    }

    d = *dst;
    s = *src;
    last = s + size;

    while (s < last) {

        if (*s != '%') {
            *d++ = *s++;
            continue;
        }

        s++;

        if (s == last) {
            break;
        }

        hi = fuzz_ngx_hex_value(*s);
        if (hi < 0) {
            *d++ = *s++;
            continue;
        }

        s++;

        if (s == last) {
            break;
        }

        lo = fuzz_ngx_hex_value(*s);
        if (lo < 0) {
            *d++ = *s++;
            continue;
        }

        *d++ = (u_char) (hi << 4 | lo);
        s++;
    }

    *dst = d;
    *src = s;
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


/*
 * "name=value" pairs separated by ';' (or ',') in the Cookie headers: the
 * first whose name matches in any case; the value runs to the next ';'.
 * The header's index, or NGX_DECLINED.
 */

ngx_int_t
ngx_http_parse_multi_header_lines(ngx_array_t *headers, ngx_str_t *name,
    ngx_str_t *value)
{
    u_char            *p, *end, *v;
    ngx_uint_t         i;
    ngx_table_elt_t  **h;

    h = headers->elts;

    for (i = 0; i < headers->nelts; i++) {

        p = h[i]->value.data;
        end = p + h[i]->value.len;

        while (p < end) {

            if ((size_t) (end - p) >= name->len
                && ngx_strncasecmp(p, name->data, name->len) == 0)
            {
                v = p + name->len;

                while (v < end && *v == ' ') {
                    v++;
                }

                if (v < end && *v == '=') {
                    v++;

                    while (v < end && *v == ' ') {
                        v++;
                    }

                    value->data = v;

                    while (v < end && *v != ';') {
                        v++;
                    }

                    value->len = v - value->data;

                    return i;
                }
            }

            while (p < end && *p != ';' && *p != ',') {
                p++;
            }

            if (p < end) {
                p++;
            }

            while (p < end && *p == ' ') {
                p++;
            }
        }
    }

    return NGX_DECLINED;
}


/* ?name=value: the first pair whose name matches in any case */

ngx_int_t
ngx_http_arg(ngx_http_request_t *r, u_char *name, size_t len,
    ngx_str_t *value)
{
    u_char  *p, *last, *v;

    if (r->args.len == 0 || len == 0) {
        return NGX_DECLINED;
    }

    p = r->args.data;
    last = p + r->args.len;

    for ( /* void */ ; p < last; p++) {

        p = ngx_strlcasestrn(p, last - 1, name, len - 1);

        if (p == NULL) {
            return NGX_DECLINED;
        }

        if ((p == r->args.data || p[-1] == '&') && p + len < last
            && p[len] == '=')
        {
            v = p + len + 1;
            value->data = v;

            while (v < last && *v != '&') {
                v++;
            }

            value->len = v - value->data;

            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/* a harness's request has no body to read */

ngx_int_t
ngx_http_discard_request_body(ngx_http_request_t *r)
{
    (void) r;

    return NGX_OK;
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


void
ngx_http_core_run_phases(ngx_http_request_t *r)
{
    fuzz_ngx_unreachable("ngx_http_core_run_phases()");
}


void
ngx_http_run_posted_requests(ngx_connection_t *c)
{
    fuzz_ngx_unreachable("ngx_http_run_posted_requests()");
}


/*
 * A reference for the harnesses: the length of the well-formed UTF-8
 * sequence at p by Unicode's table 3-7 (the allowed byte ranges), 0 when
 * the bytes there are not one.
 */

size_t
fuzz_ngx_utf8(const u_char *p, const u_char *last)
{
    size_t   n, i;
    u_char   lo, hi;

    lo = 0x80;
    hi = 0xbf;

    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;
    } else if (p[0] == 0xe0) {
        n = 3;
        lo = 0xa0;
    } else if (p[0] >= 0xe1 && p[0] <= 0xef && p[0] != 0xed) {
        n = 3;
    } else if (p[0] == 0xed) {
        n = 3;
        hi = 0x9f;
    } else if (p[0] == 0xf0) {
        n = 4;
        lo = 0x90;
    } else if (p[0] >= 0xf1 && p[0] <= 0xf3) {
        n = 4;
    } else if (p[0] == 0xf4) {
        n = 4;
        hi = 0x8f;
    } else {
        return 0;
    }

    if ((size_t) (last - p) < n || p[1] < lo || p[1] > hi) {
        return 0;
    }

    for (i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return 0;
        }
    }

    return n;
}


/* the harnesses' requests */

void
fuzz_ngx_set_time(time_t sec)
{
    fuzz_ngx_time.sec = sec;
    fuzz_ngx_time.msec = 0;
}


u_char *
fuzz_ngx_copy(ngx_pool_t *pool, const u_char *data, size_t len)
{
    u_char  *p;

    p = ngx_pnalloc(pool, len + 1);
    if (p == NULL) {
        abort();
    }

    if (len) {
        ngx_memcpy(p, data, len);
    }

    p[len] = '\0';

    return p;
}


void
fuzz_ngx_fields(ngx_pool_t *pool, const u_char *data, size_t size,
    ngx_str_t *f, ngx_uint_t n)
{
    u_char      *p, *last, *end;
    ngx_uint_t   i;

    p = fuzz_ngx_copy(pool, data, size);
    last = p + size;

    for (i = 0; i < n; i++) {

        if (p > last) {
            ngx_str_null(&f[i]);
            continue;
        }

        end = (i < n - 1) ? memchr(p, '\0', last - p) : NULL;
        end = end ? end : last;

        *end = '\0';
        f[i].data = p;
        f[i].len = end - p;
        p = end + 1;
    }
}


ngx_http_request_t *
fuzz_ngx_request(void *loc_conf, void *main_conf)
{
    ngx_log_t           *log;
    ngx_pool_t          *pool;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    pool = ngx_create_pool(4096, NULL);
    if (pool == NULL) {
        abort();
    }

    log = ngx_pcalloc(pool, sizeof(ngx_log_t));
    if (log == NULL) {
        abort();
    }

    log->log_level = NGX_LOG_DEBUG | NGX_LOG_DEBUG_ALL;
    pool->log = log;

    r = ngx_pcalloc(pool, sizeof(ngx_http_request_t));
    c = ngx_pcalloc(pool, sizeof(ngx_connection_t));
    r->ctx = ngx_pcalloc(pool, FUZZ_NGX_MODULES * sizeof(void *));
    r->loc_conf = ngx_pcalloc(pool, FUZZ_NGX_MODULES * sizeof(void *));
    r->main_conf = ngx_pcalloc(pool, FUZZ_NGX_MODULES * sizeof(void *));

    if (r == NULL || c == NULL || r->ctx == NULL || r->loc_conf == NULL
        || r->main_conf == NULL
        || ngx_list_init(&r->headers_in.headers, pool, 4,
                         sizeof(ngx_table_elt_t)) != NGX_OK
        || ngx_list_init(&r->headers_out.headers, pool, 4,
                         sizeof(ngx_table_elt_t)) != NGX_OK
        || ngx_array_init(&r->headers_in.cookies, pool, 2,
                          sizeof(ngx_table_elt_t *)) != NGX_OK)
    {
        abort();
    }

    c->log = log;
    c->pool = pool;
    c->fd = -1;

    r->connection = c;
    r->pool = pool;
    r->main = r;
    r->count = 1;
    r->loc_conf[FUZZ_NGX_TRACKTIK_INDEX] = loc_conf;
    r->main_conf[FUZZ_NGX_TRACKTIK_INDEX] = main_conf;

    return r;
}


ngx_table_elt_t *
fuzz_ngx_header(ngx_http_request_t *r, const char *key, u_char *value,
    size_t len)
{
    ngx_table_elt_t   *h, **cookie;

    h = ngx_list_push(&r->headers_in.headers);
    if (h == NULL) {
        abort();
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value.data = value;
    h->value.len = len;
    h->lowcase_key = (u_char *) key;

    if (ngx_strcasecmp(h->key.data, (u_char *) "Cookie") == 0) {
        cookie = ngx_array_push(&r->headers_in.cookies);
        if (cookie == NULL) {
            abort();
        }

        *cookie = h;

    } else if (ngx_strcasecmp(h->key.data, (u_char *) "Host") == 0) {
        r->headers_in.host = h;

    } else if (ngx_strcasecmp(h->key.data, (u_char *) "Accept") == 0) {
        r->headers_in.accept = h;
    }

    return h;
}
