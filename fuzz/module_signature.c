/*
 * libFuzzer harness: the webhook signature schemes
 * (src/ngx_http_tracktik_signature.c): the secret lines of a secret file
 * decoded (ngx_http_tracktik_secret_decode(), "whsec_" base64) and checked
 * as the configuration checks them, then a delivery verified through the
 * scheme table ngx_http_tracktik_schemes[] with a stand-in request whose
 * headers come from the input, and its dedupe key.  The verify functions
 * are static; the table is how the module calls them, so the harness
 * does too.
 *
 * Input: one byte of flags, then fields separated by NUL bytes:
 *
 *     flags  secrets \0 signature \0 webhook-id \0 webhook-timestamp \0 body
 *
 * flags & 3 is the scheme (hmac_sha512, hmac_sha256, static, standard);
 * secrets are up to 3 lines; a missing field is a missing header.  "@@"
 * in the signature field is replaced by the right signature for the first
 * secret (hex, upper case when flags & 4; the secret itself for static;
 * base64 for standard, where the fuzzer writes "v1,@@"), so the fuzzer
 * reaches acceptance too.
 *
 * Checked, with OpenSSL directly: a delivery accepted carries a
 * signature that OpenSSL's HMAC() of the signed bytes under one of the
 * keys reproduces (static: the header is one of the secrets); a right
 * signature is accepted; a decoded whsec_ key is the base64 after the
 * prefix; the dedupe key is the one the scheme promises.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ngx_http_tracktik_module.h"
#include "ngx_http_tracktik_signature.h"
#include "ngx_stubs.h"


#define FUZZ_NOW           1700000000
#define FUZZ_TOLERANCE     300
#define FUZZ_MAX_SECRETS   3
#define FUZZ_FIELDS        5


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


/* base64 decoded with OpenSSL: the characters before the first '=',
 * padded to a whole quantum; -1 if they are not base64 */

static int
fuzz_sig_b64(const u_char *src, size_t len, u_char *dst)
{
    int      n;
    size_t   chars, pad;
    u_char  *padded;

    /* OpenSSL skips white space, base64 proper does not */

    for (chars = 0; chars < len && src[chars] != '='; chars++) {
        if (!isalnum(src[chars]) && src[chars] != '+' && src[chars] != '/') {
            return -1;
        }
    }

    if (chars % 4 == 1) {
        return -1;
    }

    pad = (4 - chars % 4) % 4;

    padded = malloc(chars + pad + 1);
    if (padded == NULL) {
        abort();
    }

    memcpy(padded, src, chars);
    memset(padded + chars, '=', pad);

    n = EVP_DecodeBlock(dst, padded, (int) (chars + pad));

    free(padded);

    return n < 0 ? -1 : n - (int) pad;
}


static void
fuzz_sig_hmac(const EVP_MD *md, ngx_str_t *key, ngx_str_t *parts,
    ngx_uint_t n, u_char *mac, unsigned int *len)
{
    size_t      total, i;
    u_char     *joined, *p;

    for (total = 0, i = 0; i < n; i++) {
        total += parts[i].len;
    }

    joined = malloc(total + 1);
    if (joined == NULL) {
        abort();
    }

    for (p = joined, i = 0; i < n; i++) {
        if (parts[i].len) {
            p = ngx_cpymem(p, parts[i].data, parts[i].len);
        }
    }

    if (HMAC(md, key->len ? key->data : (u_char *) "", (int) key->len,
             joined, total, mac, len) == NULL)
    {
        abort();
    }

    free(joined);
}


/* the whsec_ decoding, against OpenSSL's */

static ngx_int_t
fuzz_sig_decode(ngx_conf_t *cf, ngx_http_tracktik_secret_t *secret)
{
    int         n;
    u_char     *want;
    ngx_int_t   rc;
    ngx_uint_t  whsec;

    whsec = secret->text.len >= 6
            && ngx_strncmp(secret->text.data, "whsec_", 6) == 0;

    rc = ngx_http_tracktik_secret_decode(cf, secret);

    if (!whsec) {
        if (rc != NGX_OK || secret->key.data != secret->text.data
            || secret->key.len != secret->text.len)
        {
            abort();                    /* a plain line is its own key */
        }

        return NGX_OK;
    }

    want = malloc(secret->text.len);
    if (want == NULL) {
        abort();
    }

    n = fuzz_sig_b64(secret->text.data + 6, secret->text.len - 6, want);

    if (rc == NGX_OK
        && (n < 0 || secret->text.len == 6 || (size_t) n != secret->key.len
            || memcmp(want, secret->key.data, n) != 0))
    {
        abort();                        /* a key OpenSSL decodes otherwise */
    }

    if (rc != NGX_OK && n >= 0 && secret->text.len > 6) {
        abort();                        /* refused what OpenSSL decodes */
    }

    free(want);

    return rc;
}


/* the MAC a scheme signs with: the body (HMAC schemes, the line as
 * written) or "id.timestamp.body" (standard, the decoded key) */

static void
fuzz_sig_mac(ngx_uint_t scheme, ngx_http_tracktik_secret_t *secret,
    ngx_str_t *f, u_char *mac, unsigned int *len)
{
    ngx_str_t  parts[5];

    if (scheme < 2) {
        fuzz_sig_hmac(scheme ? EVP_sha256() : EVP_sha512(), &secret->text,
                      &f[4], 1, mac, len);
        return;
    }

    parts[0] = f[2];
    ngx_str_set(&parts[1], ".");
    parts[2] = f[3];
    ngx_str_set(&parts[3], ".");
    parts[4] = f[4];
    fuzz_sig_hmac(EVP_sha256(), &secret->key, parts, 5, mac, len);
}


/* the signature the fuzzer asked for with "@@" */

static size_t
fuzz_sig_right(ngx_uint_t scheme, ngx_uint_t upper,
    ngx_http_tracktik_secret_t *secret, ngx_str_t *f, u_char *out)
{
    u_char        mac[EVP_MAX_MD_SIZE];
    size_t        i;
    unsigned int  len;

    switch (scheme) {

    case 0:
    case 1:
        fuzz_sig_mac(scheme, secret, f, mac, &len);
        ngx_hex_dump(out, mac, len);

        for (i = 0; upper && i < 2 * len; i++) {
            out[i] = ngx_toupper(out[i]);
        }

        return 2 * len;

    case 2:
        ngx_memcpy(out, secret->text.data, secret->text.len);
        return secret->text.len;

    default:
        fuzz_sig_mac(scheme, secret, f, mac, &len);
        return EVP_EncodeBlock(out, mac, (int) len);
    }
}


/* one secret's signature found in the header, by OpenSSL */

static ngx_uint_t
fuzz_sig_signed(ngx_uint_t scheme, ngx_http_tracktik_secret_t *secret,
    ngx_str_t *f, ngx_table_elt_t *sig)
{
    int            n;
    u_char        *p, *last, *tok;
    unsigned int   len;
    u_char         mac[EVP_MAX_MD_SIZE], hex[2 * EVP_MAX_MD_SIZE];
    u_char         given[4096];

    switch (scheme) {

    case 0:
    case 1:
        fuzz_sig_mac(scheme, secret, f, mac, &len);
        ngx_hex_dump(hex, mac, len);

        return sig->value.len == 2 * len
               && ngx_strncasecmp(sig->value.data, hex, 2 * len) == 0;

    case 2:
        return sig->value.len == secret->text.len
               && ngx_memcmp(sig->value.data, secret->text.data,
                             sig->value.len) == 0;
    }

    fuzz_sig_mac(scheme, secret, f, mac, &len);

    p = sig->value.data;
    last = p + sig->value.len;

    while (p < last) {
        tok = p;

        while (p < last && *p != ' ') {
            p++;
        }

        if (p - tok > 3 && ngx_strncmp(tok, "v1,", 3) == 0
            && (size_t) (p - tok) < sizeof(given))
        {
            n = fuzz_sig_b64(tok + 3, p - tok - 3, given);

            if (n == (int) len && memcmp(given, mac, len) == 0) {
                return 1;
            }
        }

        while (p < last && *p == ' ') {
            p++;
        }
    }

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                        *p, *last, *nul, *at, *sigval;
    size_t                         n, len;
    time_t                         ts;
    ngx_int_t                      rc;
    ngx_str_t                      f[FUZZ_FIELDS], key, want;
    ngx_uint_t                     i, flags, scheme, usable, right;
    ngx_conf_t                     cf;
    ngx_array_t                    secrets;
    ngx_table_elt_t               *sig;
    ngx_http_request_t            *r;
    ngx_http_tracktik_loc_conf_t   tlcf;
    ngx_http_tracktik_secret_t    *secret, *s;
    u_char                         right_sig[2 * EVP_MAX_MD_SIZE + 4096];

    if (size < 1) {
        return 0;
    }

    flags = data[0];
    scheme = flags & 3;

    fuzz_ngx_set_time(FUZZ_NOW);

    ngx_memzero(&tlcf, sizeof(ngx_http_tracktik_loc_conf_t));
    r = fuzz_ngx_request(&tlcf, NULL);

    /* the fields, in a pool copy the module may not write past */

    fuzz_ngx_fields(r->pool, data + 1, size - 1, f, FUZZ_FIELDS);

    if (f[4].data == NULL) {
        ngx_str_set(&f[4], "");         /* no body is an empty one */
    }

    /* the secret file: up to three lines, decoded and checked */

    ngx_memzero(&cf, sizeof(ngx_conf_t));
    cf.pool = r->pool;
    cf.log = r->connection->log;

    if (ngx_array_init(&secrets, r->pool, 1,
                       sizeof(ngx_http_tracktik_secret_t))
        != NGX_OK)
    {
        abort();
    }

    usable = 1;
    p = f[0].data;
    last = f[0].data + f[0].len;

    for (i = 0; i < FUZZ_MAX_SECRETS && p && p < last; i++) {
        nul = memchr(p, '\n', last - p);

        secret = ngx_array_push(&secrets);
        if (secret == NULL) {
            abort();
        }

        ngx_memzero(secret, sizeof(ngx_http_tracktik_secret_t));
        secret->text.data = fuzz_ngx_copy(r->pool, p, (nul ? nul : last) - p);
        secret->text.len = (nul ? nul : last) - p;
        secret->line = i + 1;
        secret->file = &f[0];
        p = nul ? nul + 1 : last;

        if (fuzz_sig_decode(&cf, secret) != NGX_OK
            || ngx_http_tracktik_schemes[scheme].check_secret(&cf, secret)
               != NGX_CONF_OK)
        {
            usable = 0;                 /* nginx -t would refuse it */

        } else if ((scheme == 3 ? secret->key.len : secret->text.len) == 0) {
            abort();                    /* an empty key passed the check */
        }
    }

    if (!usable || secrets.nelts == 0) {
        goto done;
    }

    secret = secrets.elts;

    tlcf.secrets = &secrets;
    tlcf.auth = scheme;
    ngx_str_set(&tlcf.header, "X-TrackTik-Signature");
    tlcf.tolerance = FUZZ_TOLERANCE;

    /* the headers, "@@" in the signature replaced by the right one */

    right = 0;
    sig = NULL;

    if (f[1].data) {
        at = ngx_strlcasestrn(f[1].data, f[1].data + f[1].len,
                              (u_char *) "@@", 1);
        sigval = f[1].data;
        len = f[1].len;

        if (at) {
            n = fuzz_sig_right(scheme, flags & 4, &secret[0], f, right_sig);

            if (n > 4096) {
                goto done;
            }

            sigval = ngx_pnalloc(r->pool, f[1].len - 2 + n + 1);
            if (sigval == NULL) {
                abort();
            }

            p = ngx_cpymem(sigval, f[1].data, at - f[1].data);
            p = ngx_cpymem(p, right_sig, n);
            p = ngx_cpymem(p, at + 2, f[1].data + f[1].len - at - 2);
            *p = '\0';
            len = p - sigval;

            /* the whole value, or (standard) a "v1," entry of the list */

            right = (scheme < 3) ? (len == n)
                    : (at - f[1].data >= 3 && ngx_strncmp(at - 3, "v1,", 3) == 0
                       && (at - 3 == f[1].data || at[-4] == ' ')
                       && (at + 2 == f[1].data + f[1].len || at[2] == ' '));
        }

        sig = fuzz_ngx_header(r, scheme == 3 ? "webhook-signature"
                                             : "X-TrackTik-Signature",
                              sigval, len);
    }

    if (f[2].data) {
        fuzz_ngx_header(r, "Webhook-Id", f[2].data, f[2].len);
    }

    if (f[3].data) {
        fuzz_ngx_header(r, "webhook-timestamp", f[3].data, f[3].len);
    }

    rc = ngx_http_tracktik_schemes[scheme].verify(r, &tlcf, &f[4]);

    if (rc != NGX_OK && rc != NGX_DECLINED) {
        abort();                        /* NGX_ERROR: OpenSSL failed */
    }

    /* what makes a delivery acceptable, said again */

    if (scheme == 3) {
        ts = f[3].data ? ngx_atotm(f[3].data, f[3].len) : NGX_ERROR;

        if (f[2].data == NULL || f[2].len == 0 || f[2].len > 256
            || ts == NGX_ERROR || ts > FUZZ_NOW + FUZZ_TOLERANCE
            || ts < FUZZ_NOW - FUZZ_TOLERANCE)
        {
            right = 0;

            if (rc == NGX_OK) {
                abort();                /* accepted without its headers */
            }
        }
    }

    if (right && rc != NGX_OK) {
        fprintf(stderr, "refused the right signature\n");
        abort();
    }

    if (rc == NGX_OK) {

        if (sig == NULL) {
            abort();                    /* accepted with no signature */
        }

        for (s = secret, i = 0; i < secrets.nelts; i++, s++) {
            if (fuzz_sig_signed(scheme, s, f, sig)) {
                break;
            }
        }

        if (i == secrets.nelts) {
            fprintf(stderr, "accepted a signature no secret makes\n");
            abort();
        }

        /* the dedupe key: the webhook-id, or the body's SHA-256 */

        if (ngx_http_tracktik_schemes[scheme].dedupe_key(r, &f[4], &key)
            != NGX_OK)
        {
            abort();
        }

        if (scheme == 3) {
            want.len = sizeof("webhook-id:") - 1 + f[2].len;
            want.data = ngx_pnalloc(r->pool, want.len);
            ngx_sprintf(want.data, "webhook-id:%V", &f[2]);

        } else {
            u_char        md[EVP_MAX_MD_SIZE];
            unsigned int  mdlen;

            if (!EVP_Digest(f[4].data, f[4].len, md, &mdlen, EVP_sha256(),
                            NULL))
            {
                abort();
            }

            want.len = sizeof("sha256:") - 1 + 2 * mdlen;
            want.data = ngx_pnalloc(r->pool, want.len);
            ngx_hex_dump(ngx_cpymem(want.data, "sha256:", 7), md, mdlen);
        }

        if (key.len != want.len || memcmp(key.data, want.data, key.len)) {
            abort();                    /* another dedupe key */
        }
    }

done:

    ngx_destroy_pool(r->pool);

    return 0;
}
