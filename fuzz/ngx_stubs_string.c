/*
 * Stand-ins for nginx's string functions used by module code, for the
 * module-side fuzz harnesses (fuzz/ngx_stubs.c says why there are
 * stand-ins): ngx_atotm, ngx_strlcasestrn, the printf family with
 * nginx's conversions, base64 and base64url, ngx_escape_uri for
 * NGX_ESCAPE_ARGS and ngx_unescape_uri of type 0, following the
 * contracts of nginx 1.22 and written afresh.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>

#include "ngx_stubs.h"


static u_char *fuzz_ngx_number(u_char *buf, u_char *last, uint64_t n,
    ngx_uint_t negative, ngx_uint_t hex, ngx_uint_t width, u_char pad);


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
