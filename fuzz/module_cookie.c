/*
 * libFuzzer harness: the portal's session cookie
 * (src/ngx_http_tracktik_session.c): ngx_http_tracktik_session_token()
 * on Cookie headers from the input, the access-phase handler that uses
 * it (a refusal's 401, or the redirect to the login page whose Location
 * escapes the request's URI and arguments), and Set-Cookie read back.
 *
 * Input: one byte of flags, then fields separated by NUL bytes:
 *
 *     flags  secrets \0 cookie \0 cookie \0 uri \0 args \0 accept
 *
 * secrets are up to 3 lines (none configured when flags & 1); each cookie
 * field is one Cookie header; a missing field is a missing header.  "@@"
 * in a cookie is replaced by a right "token.signature" for the first
 * secret, so the fuzzer reaches acceptance.  The name/value splitting of
 * Cookie headers is nginx's (ngx_http_parse_multi_header_lines(), a
 * stand-in in fuzz/ngx_stubs.c); what the module does with the value is
 * under test.
 *
 * Checked, with OpenSSL directly: an accepted cookie is 64 lower-case
 * hex digits, '.', and the unpadded base64url HMAC-SHA256 of those
 * digits under one of the secrets; a right cookie first in the first
 * header is accepted; the access handler lets exactly those through and
 * otherwise answers 401 (Accept names json) or 302 to the login page with
 * a Location free of control bytes; a Set-Cookie made for an accepted
 * token reads back as that token.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ngx_http_tracktik_module.h"
#include "ngx_http_tracktik_portal_call.h"
#include "ngx_http_tracktik_session.h"
#include "ngx_stubs.h"


#define FUZZ_FIELDS       6
#define FUZZ_MAX_SECRETS  3
#define FUZZ_TOKEN        \
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static ngx_uint_t  fuzz_cookie_calls;


/*
 * The session check in PostgreSQL is portal_call.c's: stand-ins that
 * record the call (the access handler then waits, NGX_AGAIN).
 */

ngx_http_tracktik_portal_ctx_t *
ngx_http_tracktik_portal_ctx(ngx_http_request_t *r)
{
    ngx_http_tracktik_portal_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tracktik_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_tracktik_portal_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ctx->r = r;
        ngx_http_set_ctx(r, ctx, ngx_http_tracktik_module);
    }

    return ctx;
}


ngx_int_t
ngx_http_tracktik_portal_call(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, const char *function,
    ngx_http_tracktik_portal_done_pt done)
{
    if (strcmp(function, "portal_api_session") != 0 || ctx->token.len != 64)
    {
        abort();
    }

    fuzz_cookie_calls++;
    ctx->pending = 1;

    return NGX_OK;
}


/* the signature OpenSSL makes: unpadded base64url of the HMAC-SHA256 */

static void
fuzz_cookie_sign(ngx_str_t *key, u_char *token, u_char *sig)
{
    size_t        i;
    u_char        mac[EVP_MAX_MD_SIZE], b64[64];
    unsigned int  len;

    if (HMAC(EVP_sha256(), key->len ? key->data : (u_char *) "",
             (int) key->len, token, 64, mac, &len) == NULL
        || len != 32 || EVP_EncodeBlock(b64, mac, 32) != 44)
    {
        abort();
    }

    for (i = 0; i < 43; i++) {
        sig[i] = (b64[i] == '+') ? '-' : (b64[i] == '/') ? '_' : b64[i];
    }
}


static ngx_http_request_t *
fuzz_cookie_request(ngx_http_tracktik_loc_conf_t *tlcf, ngx_str_t *f,
    ngx_str_t *right)
{
    u_char              *p, *at, *v;
    size_t               len;
    ngx_uint_t           i;
    ngx_http_request_t  *r;

    r = fuzz_ngx_request(tlcf, NULL);

    for (i = 1; i <= 2; i++) {
        if (f[i].data == NULL) {
            continue;
        }

        at = ngx_strlcasestrn(f[i].data, f[i].data + f[i].len,
                              (u_char *) "@@", 1);
        len = f[i].len + (at ? right->len - 2 : 0);

        v = ngx_pnalloc(r->pool, len + 1);
        if (v == NULL) {
            abort();
        }

        if (at) {
            p = ngx_cpymem(v, f[i].data, at - f[i].data);
            p = ngx_cpymem(p, right->data, right->len);
            p = ngx_cpymem(p, at + 2, f[i].data + f[i].len - at - 2);
        } else {
            p = ngx_cpymem(v, f[i].data, f[i].len);
        }

        *p = '\0';

        fuzz_ngx_header(r, "Cookie", v, len);
    }

    if (f[5].data) {
        fuzz_ngx_header(r, "Accept", f[5].data, f[5].len);
    }

    if (f[3].data) {
        r->uri = f[3];
    } else {
        ngx_str_set(&r->uri, "/portal/");
    }

    if (f[4].data) {
        r->args = f[4];
    }

    return r;
}


/* an accepted token: its signature follows it in a Cookie header */

static void
fuzz_cookie_accepted(ngx_http_request_t *r,
    ngx_http_tracktik_loc_conf_t *tlcf, ngx_str_t *token)
{
    u_char                       sig[43];
    ngx_uint_t                   i, k;
    ngx_table_elt_t            **h;
    ngx_http_tracktik_secret_t  *secret;

    if (token->len != 64) {
        abort();
    }

    for (i = 0; i < 64; i++) {
        if (!((token->data[i] >= '0' && token->data[i] <= '9')
              || (token->data[i] >= 'a' && token->data[i] <= 'f')))
        {
            abort();                    /* not the token's alphabet */
        }
    }

    h = r->headers_in.cookies.elts;

    for (i = 0; i < r->headers_in.cookies.nelts; i++) {
        if (token->data >= h[i]->value.data
            && token->data + 64 + 1 + 43
               <= h[i]->value.data + h[i]->value.len)
        {
            break;
        }
    }

    if (i == r->headers_in.cookies.nelts || token->data[64] != '.') {
        abort();                        /* not a cookie's bytes */
    }

    secret = tlcf->session_secrets->elts;

    for (k = 0; k < tlcf->session_secrets->nelts; k++) {
        fuzz_cookie_sign(&secret[k].key, token->data, sig);

        if (memcmp(sig, token->data + 65, 43) == 0) {
            return;
        }
    }

    fprintf(stderr, "accepted a cookie no secret signs\n");
    abort();
}


/* Set-Cookie for the token, read back as a Cookie */

static void
fuzz_cookie_round_trip(ngx_http_tracktik_loc_conf_t *tlcf, ngx_str_t *token)
{
    u_char              *semi;
    ngx_str_t            f[FUZZ_FIELDS], back, right;
    ngx_uint_t           i;
    ngx_list_part_t     *part;
    ngx_table_elt_t     *h;
    ngx_http_request_t  *r;

    ngx_memzero(f, sizeof(f));
    ngx_str_null(&right);

    r = fuzz_cookie_request(tlcf, f, &right);

    if (ngx_http_tracktik_session_set_cookie(r, tlcf, token) != NGX_OK) {
        abort();
    }

    part = &r->headers_out.headers.part;
    h = part->elts;

    if (part->nelts != 1 || h[0].key.len != 10
        || ngx_strncmp(h[0].key.data, "Set-Cookie", 10) != 0)
    {
        abort();
    }

    for (i = 0; i < h[0].value.len; i++) {
        if (h[0].value.data[i] < 0x20 || h[0].value.data[i] >= 0x7f) {
            abort();                    /* a header no browser reads */
        }
    }

    semi = memchr(h[0].value.data, ';', h[0].value.len);
    if (semi == NULL) {
        abort();
    }

    fuzz_ngx_header(r, "Cookie", h[0].value.data, semi - h[0].value.data);

    if (ngx_http_tracktik_session_token(r, tlcf, &back) != NGX_OK
        || back.len != token->len
        || memcmp(back.data, token->data, back.len) != 0)
    {
        fprintf(stderr, "Set-Cookie does not read back\n");
        abort();
    }

    ngx_destroy_pool(r->pool);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                        *p, *last, *nul;
    ngx_str_t                      f[FUZZ_FIELDS], token, right, *loc;
    ngx_int_t                      rc, rc2;
    ngx_uint_t                     i, flags, first_right, calls;
    ngx_pool_t                    *pool;
    ngx_array_t                   *secrets;
    ngx_list_part_t               *part;
    ngx_table_elt_t               *h;
    ngx_http_request_t            *r;
    ngx_http_tracktik_loc_conf_t   tlcf;
    ngx_http_tracktik_secret_t    *secret;
    u_char                         right_buf[64 + 1 + 43];

    if (size < 1) {
        return 0;
    }

    flags = data[0];

    fuzz_ngx_set_time(1700000000);

    pool = ngx_create_pool(4096, NULL);
    if (pool == NULL) {
        abort();
    }

    fuzz_ngx_fields(pool, data + 1, size - 1, f, FUZZ_FIELDS);

    /* the session secrets: lines as the secret file gives them */

    ngx_memzero(&tlcf, sizeof(ngx_http_tracktik_loc_conf_t));
    tlcf.session_timeout = 43200;
    tlcf.cookie_secure = flags & 2;
    ngx_str_set(&tlcf.login_page, "/login.html");

    secrets = ngx_array_create(pool, 1, sizeof(ngx_http_tracktik_secret_t));
    if (secrets == NULL) {
        abort();
    }

    p = f[0].data;
    last = f[0].data ? f[0].data + f[0].len : NULL;

    for (i = 0; i < FUZZ_MAX_SECRETS && p && p < last; i++) {
        nul = memchr(p, '\n', last - p);

        secret = ngx_array_push(secrets);
        if (secret == NULL) {
            abort();
        }

        ngx_memzero(secret, sizeof(ngx_http_tracktik_secret_t));
        secret->text.data = p;
        secret->text.len = (nul ? nul : last) - p;
        secret->key = secret->text;
        secret->line = i + 1;
        p = nul ? nul + 1 : last;
    }

    if (!(flags & 1) && secrets->nelts) {
        tlcf.session_secrets = secrets;
    }

    /* the right cookie value for "@@" */

    right.data = right_buf;
    right.len = sizeof(right_buf);
    ngx_memcpy(right_buf, FUZZ_TOKEN, 64);
    right_buf[64] = '.';

    if (secrets->nelts) {
        secret = secrets->elts;
        fuzz_cookie_sign(&secret[0].key, right_buf, right_buf + 65);
    } else {
        ngx_memset(right_buf + 65, 'A', 43);
    }

    first_right = tlcf.session_secrets && f[1].len >= 13
                  && ngx_strncmp(f[1].data, "tt_session=@@", 13) == 0
                  && (f[1].len == 13 || f[1].data[13] == ';');

    /* the cookie */

    r = fuzz_cookie_request(&tlcf, f, &right);

    rc = ngx_http_tracktik_session_token(r, &tlcf, &token);

    if (rc == NGX_OK) {
        if (tlcf.session_secrets == NULL) {
            abort();                    /* accepted with no secret */
        }

        fuzz_cookie_accepted(r, &tlcf, &token);
        fuzz_cookie_round_trip(&tlcf, &token);

    } else if (rc != NGX_DECLINED) {
        abort();

    } else if (first_right) {
        fprintf(stderr, "refused the right cookie\n");
        abort();
    }

    ngx_destroy_pool(r->pool);

    /* the access phase, on a fresh request with the same headers */

    tlcf.portal_auth = 1;
    calls = fuzz_cookie_calls;

    r = fuzz_cookie_request(&tlcf, f, &right);

    rc2 = ngx_http_tracktik_session_access_handler(r);

    if (rc == NGX_OK) {
        if (rc2 != NGX_AGAIN || fuzz_cookie_calls != calls + 1) {
            abort();                    /* a valid cookie not checked */
        }

    } else if (rc2 == NGX_HTTP_UNAUTHORIZED) {
        if (f[5].data == NULL
            || ngx_strlcasestrn(f[5].data, f[5].data + f[5].len,
                                (u_char *) "json", 3) == NULL)
        {
            abort();                    /* 401 for a page */
        }

    } else if (rc2 == NGX_HTTP_MOVED_TEMPORARILY) {
        if (r->headers_out.location == NULL) {
            abort();
        }

        loc = &r->headers_out.location->value;

        if (loc->len < 17
            || ngx_strncmp(loc->data, "/login.html?next=", 17) != 0)
        {
            abort();
        }

        for (i = 0; i < loc->len; i++) {
            if (loc->data[i] <= 0x20 || loc->data[i] >= 0x7f) {
                fprintf(stderr, "an unescaped byte in Location\n");
                abort();
            }
        }

        part = &r->headers_out.headers.part;
        h = part->elts;

        if (part->nelts != 1 || &h[0] != r->headers_out.location) {
            abort();
        }

    } else {
        abort();
    }

    ngx_destroy_pool(r->pool);
    ngx_destroy_pool(pool);

    return 0;
}
